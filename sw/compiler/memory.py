"""MEM placement: which slice and words hold every tensor, in the one layout all layers share.

A tensor of int8 is stored as *rows* of vectors: a (rows, C) tensor (a (H, W, C) image has
H*W rows) is cut into ceil(C / L) channel tiles, and word ``base + tile * rows + row`` of its
slice holds lanes ``tile*L .. tile*L + L-1`` of that row (zero beyond C). An int32 tensor is
four such byte planes in four slices (byte k in ``slices[k]``). This layout is at once the
output of a matmul (rows = M, tiles = output columns / L) and the input of the next one (tiles
= K tiles), so layers chain without moving data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...hw.machine.config import GROUP, CoreConfig
from ...hw.machine.program import DataBlock
from .errors import CompileError

__all__ = ["Allocator", "Placed", "from_words", "to_words"]


@dataclass(frozen=True)
class Placed:
    """Where a tensor lives: for each channel tile, the (slice, first word) of its ``rows``
    words, one pair for int8 and four byte planes (byte 0 first) for int32."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    rows: int
    tiles: tuple[tuple[tuple[str, int], ...], ...]

    def word(self, row: int, tile: int, plane: int = 0) -> int:
        return self.tiles[tile][plane][1] + row

    def slice_of(self, tile: int, plane: int = 0) -> str:
        return self.tiles[tile][plane][0]

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "rows": self.rows, "tiles": [[list(p) for p in t] for t in self.tiles]}

    @classmethod
    def from_json(cls, d: dict) -> Placed:
        return cls(d["name"], tuple(d["shape"]), d["dtype"], d["rows"],
                   tuple(tuple((s, b) for s, b in t) for t in d["tiles"]))

    def read(self, mem: dict[str, np.ndarray], lanes: int) -> np.ndarray:
        """The tensor's value from final MEM contents."""
        words = []
        for tile in self.tiles:
            parts = [mem[s][b:b + self.rows] for s, b in tile]
            if self.dtype == "i32":
                parts = [p.astype(np.uint8).astype(np.uint32) << (8 * k)
                         for k, p in enumerate(parts)]
                words.append(sum(parts).astype(np.int32))
            else:
                words.append(parts[0])
        return from_words(np.concatenate(words), self.shape, lanes)


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
    """Bump allocation of words in every MEM slice, and the data blocks preloaded there."""

    def __init__(self, config: CoreConfig):
        self.config = config
        self.next = {s.name: 0 for s in config.mem_slices}
        self.held: dict[str, dict[str, int]] = {s.name: {} for s in config.mem_slices}
        self.data: list[DataBlock] = []

    def _take(self, slice_name: str, words: int, what: str) -> int:
        base = self.next[slice_name]
        depth = self.config.mem_depth
        if base + words > depth:
            used = sum(self.next.values())
            held = sorted(self.held[slice_name].items(), key=lambda kv: -kv[1])[:3]
            holders = ", ".join(f"{name!r} {n:,}" for name, n in held) or "nothing"
            why = (f"a tensor's channel tile is {words:,} words, more than a slice's "
                   f"{depth:,}" if words > depth else
                   f"{slice_name} has {depth - base:,} of {depth:,} left (it holds {holders})")
            raise CompileError(
                f"tensor {what!r} needs {words:,} word{'s' * (words != 1)} in one MEM slice: "
                f"{why}; the model "
                f"uses {used + words:,} of {depth * len(self.next):,} words on config "
                f"{self.config.name!r}, and a tensor's channel tile (a layer's weights, a "
                f"per-channel constant) does not spread over slices")
        self.next[slice_name] = base + words
        self.held[slice_name][what] = self.held[slice_name].get(what, 0) + words
        return base

    def roomiest(self, among=None, avoid=(), need: int = 0) -> str:
        """The slice with the most free words, preferring those with ``need`` words free,
        then those not in ``avoid``."""
        names = list(among or self.next)
        depth = self.config.mem_depth
        return min(names, key=lambda n: (self.next[n] + need > depth, n in avoid,
                                         self.next[n], n))

    def place(self, name: str, shape: tuple[int, ...], dtype: str, *, avoid=(),
              values: np.ndarray | None = None) -> Placed:
        """Words for a tensor, with its data if given: each channel tile (each byte plane of
        an int32 tile) in the roomiest slice, away from ``avoid`` where possible; the four
        planes of an int32 tile in four different slices."""
        rows, cols = _rows_cols(shape)
        tiles = []
        for _ in range(-(-cols // self.config.lanes)):
            parts, used = [], set()
            for _ in range(GROUP if dtype == "i32" else 1):
                free = [n for n in self.next if n not in used]
                s = self.roomiest(free, avoid=avoid, need=rows) if free else None
                if s is None:
                    raise CompileError(f"tensor {name!r}: an int32 tile needs {GROUP} MEM "
                                       f"slices, config {self.config.name!r} has fewer")
                used.add(s)
                parts.append((s, self._take(s, rows, name)))
            tiles.append(tuple(parts))
        placed = Placed(name, tuple(shape), dtype, rows, tuple(tiles))
        if values is not None:
            self.fill(placed, values)
        return placed

    def place_planes(self, name: str, values: np.ndarray, slices: tuple[str, ...]) -> Placed:
        """A per-channel int32 vector (tiles * L values) as one row per tile, its four byte
        planes in ``slices`` (read together as a stream group)."""
        ntiles = len(values) // self.config.lanes
        tiles = []
        try:
            for _ in range(ntiles):
                tiles.append(tuple((s, self._take(s, 1, name)) for s in slices))
        except CompileError as e:
            raise CompileError(f"{e} (per-channel constants must be in {', '.join(slices)}, "
                               f"the MEM slices next to the VXM)") from None
        placed = Placed(name, (1, len(values)), "i32", 1, tuple(tiles))
        self.fill(placed, values.reshape(1, -1))
        return placed

    def fill(self, placed: Placed, values: np.ndarray) -> None:
        words = to_words(np.asarray(values), self.config.lanes)
        for t, tile in enumerate(placed.tiles):
            part = words[t * placed.rows:(t + 1) * placed.rows]
            planes = [part.astype(np.int8)] if placed.dtype == "i8" else _planes(part)
            for (s, b), plane in zip(tile, planes):
                self.data.append(DataBlock(s, b, plane))

    def block(self, slice_name: str, words: np.ndarray, what: str) -> int:
        """Preload raw words (n, lanes) int8 into a slice; returns their first address."""
        base = self._take(slice_name, len(words), what)
        self.data.append(DataBlock(slice_name, base, np.asarray(words, np.int8)))
        return base
