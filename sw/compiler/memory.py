"""MEM placement: which slice and words hold every tensor, in the one layout all layers share.

A tensor of int8 is stored as *rows* of vectors: a (rows, C) tensor (a (H, W, C) image has
H*W rows) is cut into ceil(C / L) channel tiles, and word ``base + tile * rows + row`` of its
slice holds lanes ``tile*L .. tile*L + L-1`` of that row (zero beyond C). An int32 tensor is
four such byte planes in four slices (byte k in ``slices[k]``). This layout is at once the
output of a matmul (rows = M, tiles = output columns / L) and the input of the next one (tiles
= K tiles), so layers chain without moving data.

A tensor whose tiles do not fit in one slice *spreads*: its rows are cut into blocks (at the
same rows in every tile and plane), each block laid out as above in a slice of its own. Every
consumer addresses a tensor word by word (:meth:`Placed.at`), so a spread tensor costs no
extra cycles to read; a matrix product writing one is scheduled block by block.

Words are handed out by a bump :class:`Allocator`. The per-channel constants of every layer
must sit in the four slices next to the VXM, so their words are reserved there before anything
else is placed. A tensor goes to the roomiest slice that has room for it (which spreads the work
over the slices' ports); when that leaves no slice empty enough for a later layer's weights,
:func:`~.lower.lower_to_tile` places the model again *packed* (each tensor in the fullest slice
that has room), which keeps whole slices free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...hw.machine.config import GROUP, CoreConfig
from ...hw.machine.program import DataBlock
from .errors import TooBig

__all__ = ["Allocator", "OutOfMemory", "Placed", "from_words", "to_words"]

#: Per channel tile, per byte plane: (slice, first word).
Tiles = tuple[tuple[tuple[str, int], ...], ...]


class OutOfMemory(TooBig):
    """A tensor that does not fit in MEM: the message names it, the slice and what it needs."""


@dataclass(frozen=True)
class Placed:
    """Where a tensor lives: for each channel tile, the (slice, first word) of its ``rows``
    words, one pair for int8 and four byte planes (byte 0 first) for int32.

    A spread tensor's ``tiles`` hold its first block of rows; ``more`` holds (first row,
    tiles) of each further block, in row order."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    rows: int
    tiles: Tiles
    more: tuple[tuple[int, Tiles], ...] = ()

    def at(self, row: int, tile: int, plane: int = 0) -> tuple[str, int]:
        """The (slice, word) of one row of one tile (of one byte plane)."""
        first, tiles = 0, self.tiles
        for start, block in self.more:
            if row < start:
                break
            first, tiles = start, block
        s, base = tiles[tile][plane]
        return s, base + row - first

    def word(self, row: int, tile: int, plane: int = 0) -> int:
        return self.at(row, tile, plane)[1]

    def slice_of(self, tile: int, plane: int = 0, row: int = 0) -> str:
        return self.at(row, tile, plane)[0]

    def blocks(self) -> list[tuple[int, Placed]]:
        """(first row, its block as a tensor of its own) for each block of rows; one block,
        the tensor itself, if it does not spread."""
        if not self.more:
            return [(0, self)]
        starts = [0] + [r for r, _ in self.more]
        ends = starts[1:] + [self.rows]
        tiles = [self.tiles] + [t for _, t in self.more]
        return [(a, Placed(self.name, (b - a, self.shape[-1]), self.dtype, b - a, t))
                for a, b, t in zip(starts, ends, tiles)]

    def to_json(self) -> dict:
        d = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
             "rows": self.rows, "tiles": _tiles_json(self.tiles)}
        if self.more:
            d["more"] = [[r, _tiles_json(t)] for r, t in self.more]
        return d

    @classmethod
    def from_json(cls, d: dict) -> Placed:
        return cls(d["name"], tuple(d["shape"]), d["dtype"], d["rows"],
                   _tiles_from(d["tiles"]),
                   tuple((r, _tiles_from(t)) for r, t in d.get("more", [])))

    def read(self, mem: dict[str, np.ndarray], lanes: int) -> np.ndarray:
        """The tensor's value from final MEM contents."""
        words = []
        for t in range(len(self.tiles)):
            for _, block in self.blocks():
                parts = [mem[s][b:b + block.rows] for s, b in block.tiles[t]]
                if self.dtype == "i32":
                    parts = [p.astype(np.uint8).astype(np.uint32) << (8 * k)
                             for k, p in enumerate(parts)]
                    words.append(sum(parts).astype(np.int32))
                else:
                    words.append(parts[0])
        return from_words(np.concatenate(words), self.shape, lanes)


def _tiles_json(tiles: Tiles) -> list:
    return [[list(p) for p in t] for t in tiles]


def _tiles_from(data) -> Tiles:
    return tuple(tuple((s, b) for s, b in t) for t in data)


def _rows_cols(shape: tuple[int, ...]) -> tuple[int, int]:
    cols = shape[-1]
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return rows, cols


def to_words(values: np.ndarray, lanes: int) -> np.ndarray:
    """A tensor (.., C) -> its words in layout order, (tiles * rows, lanes) of its dtype."""
    rows, cols = _rows_cols(values.shape)
    tiles = -(-cols // lanes)
    flat = np.zeros((rows, tiles * lanes), values.dtype)
    flat[:, :cols] = values.reshape(rows, cols)
    return flat.reshape(rows, tiles, lanes).transpose(1, 0, 2).reshape(tiles * rows, lanes)


def from_words(words: np.ndarray, shape: tuple[int, ...], lanes: int) -> np.ndarray:
    """The inverse of :func:`to_words`."""
    rows, cols = _rows_cols(shape)
    tiles = -(-cols // lanes)
    flat = words[:tiles * rows].reshape(tiles, rows, lanes).transpose(1, 0, 2)
    return flat.reshape(rows, tiles * lanes)[:, :cols].reshape(shape)


def _planes(values: np.ndarray) -> list[np.ndarray]:
    """int32 words (n, lanes) -> four int8 planes, byte 0 first."""
    b = values.astype("<i4").view(np.int8).reshape(values.shape + (GROUP,))
    return [b[..., k].copy() for k in range(GROUP)]


class Allocator:
    """Bump allocation of words in every MEM slice, and the data blocks preloaded there.

    ``pack`` names what goes to the fullest slice with room for it instead of the roomiest:
    ``"blocks"`` (raw words in one slice: a layer's weights, its padding word), ``"tensors"``;
    ``"spread"`` lets a layer's weights spread over slices when no one slice holds them.
    """

    def __init__(self, config: CoreConfig, pack: tuple[str, ...] = ()):
        self.config, self.pack = config, pack
        self.next = {s.name: 0 for s in config.mem_slices}
        self.reserved = {s.name: 0 for s in config.mem_slices}
        self.held: dict[str, dict[str, int]] = {s.name: {} for s in config.mem_slices}
        self.data: list[DataBlock] = []

    def free(self, slice_name: str) -> int:
        """Words of a slice that a tensor may still take (not taken, not reserved)."""
        return self.config.mem_depth - self.next[slice_name] - self.reserved[slice_name]

    def reserve(self, slices, words: int) -> None:
        """Set ``words`` aside in each of ``slices`` for :meth:`place_planes`."""
        for s in slices:
            self.reserved[s] += words

    def _holders(self, slice_name: str) -> str:
        held = sorted(self.held[slice_name].items(), key=lambda kv: -kv[1])[:3]
        return ", ".join(f"{name!r} {n:,}" for name, n in held) or "nothing"

    def _usage(self) -> str:
        depth = self.config.mem_depth
        return (f"the model uses {sum(self.next.values()):,} of {depth * len(self.next):,} "
                f"words on config {self.config.name!r}")

    def _take(self, slice_name: str, words: int, what: str, why: str = "",
              reserved: bool = False) -> int:
        """``words`` consecutive words of one slice (``reserved``: out of its reserve)."""
        base = self.next[slice_name]
        depth = self.config.mem_depth
        room = depth - base - (0 if reserved else self.reserved[slice_name])
        if words > room:
            best = slice_name if reserved else max(self.next, key=self.free)
            left = depth - self.next[best] - (0 if reserved else self.reserved[best])
            kept = (f"; {self.reserved[best]:,} more are kept for per-channel constants"
                    if self.reserved[best] and not reserved else "")
            raise OutOfMemory(
                f"tensor {what!r} needs {words:,} word{'s' * (words != 1)} in one MEM slice"
                f"{why}: {'' if reserved else 'the roomiest, '}{best}{',' * (not reserved)} "
                f"has {max(left, 0):,} of {depth:,} left (it holds {self._holders(best)}"
                f"{kept}); {self._usage()}")
        self.next[slice_name] = base + words
        if reserved:
            self.reserved[slice_name] = max(0, self.reserved[slice_name] - words)
        self.held[slice_name][what] = self.held[slice_name].get(what, 0) + words
        return base

    def slice_for(self, need: int, among=None, avoid=(), kind: str = "tensors") -> str:
        """The slice for ``need`` words of ``kind``: one with room, away from ``avoid`` if
        possible, the roomiest (or, packing that kind, the fullest) of those."""
        names = list(among or self.next)
        pack = kind in self.pack
        return min(names, key=lambda n: (self.free(n) < need, n in avoid,
                                         self.free(n) if pack else self.next[n], n))

    def place(self, name: str, shape: tuple[int, ...], dtype: str, *, avoid=(),
              values: np.ndarray | None = None) -> Placed:
        """Words for a tensor, with its data if given: each channel tile (each byte plane of
        an int32 tile) in one slice (:meth:`slice_for`), the four planes of an int32 tile in
        four different slices; a tensor whose tiles do not fit so spreads over the fewest
        blocks of rows that do."""
        rows, cols = _rows_cols(shape)
        ntiles = -(-cols // self.config.lanes)
        planes = GROUP if dtype == "i32" else 1
        if planes > len(self.next):
            raise OutOfMemory(f"tensor {name!r}: an int32 tile needs {GROUP} MEM slices, "
                              f"config {self.config.name!r} has fewer")
        need = rows * ntiles * planes
        left = sum(max(self.free(s), 0) for s in self.next)
        if need > left:
            fullest = min(self.next, key=self.free)
            holds = (f"; the fullest, {fullest}, holds {self._holders(fullest)}"
                     if self.held[fullest] else "")
            raise OutOfMemory(
                f"tensor {name!r} needs {need:,} words of MEM ({rows:,} rows x {ntiles} "
                f"tile{'s' * (ntiles != 1)}{' x 4 planes' * (planes > 1)}), and only {left:,} "
                f"are left, even spread over slices{holds}; {self._usage()}")
        first_error = None
        for n in range(1, rows + 1):
            per = -(-rows // n)
            if -(-rows // per) < n:  # the same blocks as fewer: tried
                continue
            saved = dict(self.next), dict(self.reserved), {k: dict(v) for k, v in
                                                          self.held.items()}
            try:
                blocks = tuple((r0, self._block(name, min(per, rows - r0), ntiles, planes,
                                                avoid)) for r0 in range(0, rows, per))
            except OutOfMemory as e:
                self.next, self.reserved, self.held = saved
                first_error = first_error or e
                continue
            placed = Placed(name, tuple(shape), dtype, rows, blocks[0][1], blocks[1:])
            if values is not None:
                self.fill(placed, values)
            return placed
        raise first_error

    def _block(self, name: str, rows: int, ntiles: int, planes: int, avoid) -> Tiles:
        """Every tile's words for ``rows`` rows of a tensor."""
        tiles = []
        for _ in range(ntiles):
            parts: list[tuple[str, int]] = []
            for _ in range(planes):
                free = [n for n in self.next if n not in {s for s, _ in parts}]
                s = self.slice_for(rows, free, avoid=avoid)
                parts.append((s, self._take(s, rows, name)))
            tiles.append(tuple(parts))
        return tuple(tiles)

    def place_planes(self, name: str, values: np.ndarray, slices: tuple[str, ...]) -> Placed:
        """A per-channel int32 vector (tiles * L values) as one row per tile, its four byte
        planes in ``slices`` (read together as a stream group), out of their reserve."""
        ntiles = len(values) // self.config.lanes
        why = (f" (per-channel constants must be in {', '.join(slices)}, the MEM slices next "
               f"to the VXM)")
        tiles = tuple(tuple((s, self._take(s, 1, name, why, reserved=True)) for s in slices)
                      for _ in range(ntiles))
        placed = Placed(name, (1, len(values)), "i32", 1, tiles)
        self.fill(placed, values.reshape(1, -1))
        return placed

    def fill(self, placed: Placed, values: np.ndarray) -> None:
        words = to_words(np.asarray(values), self.config.lanes)
        for t in range(len(placed.tiles)):
            for first, block in placed.blocks():
                at = t * placed.rows + first
                part = words[at:at + block.rows]
                planes = [part.astype(np.int8)] if placed.dtype == "i8" else _planes(part)
                for (s, b), plane in zip(block.tiles[t], planes):
                    self.data.append(DataBlock(s, b, plane))

    def tile_planes(self, words: np.ndarray, what: str, planes: int, among,
                    avoid=()) -> list[tuple[str, int]] | None:
        """Preload whole tiles of raw words ((T*L, L) int8) as ``planes`` planes in as many
        slices of ``among``, plane g holding rows g, g + planes, .. of every tile (so that one
        ``lw`` of a window of ``planes`` streams loads ``planes`` rows at once, one read from
        each slice); the roomiest slices away from ``avoid``. None (nothing taken) if too few
        have room."""
        lanes = self.config.lanes
        if planes < 2 or lanes % planes or len(words) % lanes:
            return None
        per = len(words) // planes
        order = sorted(among, key=lambda n: (n in avoid, -self.free(n), n))
        chosen = [n for n in order if self.free(n) >= per][:planes]
        if len(chosen) < planes:
            return None
        tiles = words.reshape(-1, lanes // planes, planes, lanes)
        return [(n, self.block(n, tiles[:, :, g].reshape(per, lanes), what))
                for g, n in enumerate(chosen)]

    def tiles_spread(self, words: np.ndarray, what: str, avoid=()) -> list[tuple[str, int, int]]:
        """Preload whole tiles of raw words ((T*L, L) int8) in one slice if one has room
        (:meth:`slice_for` blocks), else, when ``pack`` has ``"spread"``, in runs of
        consecutive tiles over the roomiest slices (an ``lw`` reads one tile from one slice, any
        slice; but reads from slices that hold activations too meet theirs, so this is the last
        resort). Returns (slice, first word, tiles) per run."""
        L = self.config.lanes
        count = len(words) // L
        first = self.slice_for(len(words), kind="blocks", avoid=avoid if "blocks" in self.pack
                               else ())
        if self.free(first) >= len(words) or count <= 1 or "spread" not in self.pack:
            return [(first, self.block(first, words, what,
                                       " (a layer's weight tile is read from one slice)"), count)]
        order = sorted(self.next, key=lambda n: (n in avoid, -self.free(n), n))
        if sum(max(self.free(n), 0) // L for n in order) < count:
            raise OutOfMemory(
                f"tensor {what!r} needs {len(words):,} words of MEM ({count} tiles of {L}), "
                f"and only {sum(max(self.free(n), 0) // L for n in order) * L:,} are left in "
                f"whole tiles, even spread over slices; {self._usage()}")
        runs, done = [], 0
        for n in order:
            take = min(count - done, max(self.free(n), 0) // L)
            if take:
                runs.append((n, self.block(n, words[done * L:(done + take) * L], what), take))
                done += take
            if done == count:
                break
        return runs

    def block(self, slice_name: str, words: np.ndarray, what: str, why: str = "") -> int:
        """Preload raw words (n, lanes) int8 into a slice; returns their first address."""
        base = self._take(slice_name, len(words), what, why)
        self.data.append(DataBlock(slice_name, base, np.asarray(words, np.int8)))
        return base
