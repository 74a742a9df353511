"""Stream cells: where a value on a stream is in every cycle, the one model of the conveyor
that the golden model, the assembler's check, the scheduler, the schedule verifier, the random
programs and the schedule chart share (docs/architecture.md, "Streams").

A *cell* is (direction, stream, position, cycle). A value that the slice at position p writes
to a stream in cycle t holds the cell (d, s, p, t) and moves one position downstream every
:data:`~conveyor.hw.machine.timing.STREAM_HOP` cycles (east to p + 1, west to p - 1) until a
slice writes that stream there or it falls off the edge.

Measure how far downstream a position is by its *reach*: +p eastward, -p westward. Then every
cell a value passes lies on one *track* ``(d, s, t - STREAM_HOP * reach)``, and the value a cell
holds is the write on its track with the largest reach not beyond the cell's: the nearest writer
upstream, which replaced everything that came before it. A write further downstream on the same
track is in a later cycle, so writes can be recorded as soon as they are known.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

from .isa import Instr, Stream
from .timing import STREAM_HOP, Timing

__all__ = ["DIRECTIONS", "Cell", "Tracks", "operand_cells", "reach", "result_cells", "track",
           "travel"]

#: Stream directions: eastward, westward.
DIRECTIONS = ("e", "w")

Track = tuple[str, int, int]


class Cell(NamedTuple):
    """One stream at one position in one cycle."""

    dir: str
    stream: int
    position: int
    cycle: int

    def moved(self, hops: int) -> Cell:
        """The cell a value here is in ``hops`` positions further downstream (negative:
        where it was, upstream)."""
        step = hops if self.dir == "e" else -hops
        return Cell(self.dir, self.stream, self.position + step, self.cycle + STREAM_HOP * hops)


def reach(direction: str, position: int) -> int:
    """How far downstream ``position`` is: +position eastward, -position westward."""
    return position if direction == "e" else -position


def track(cell: Cell) -> Track:
    """The track of ``cell``: every cell a value passes has the same one."""
    return cell.dir, cell.stream, cell.cycle - STREAM_HOP * reach(cell.dir, cell.position)


def travel(src: int, dst: int) -> int:
    """Cycles a value takes from position ``src`` to position ``dst``."""
    return STREAM_HOP * abs(dst - src)


def operand_cells(stream: Stream, position: int, cycle: int) -> tuple[Cell, ...]:
    """The cells a stream operand (a stream, a group, a window) names at ``position`` in
    ``cycle``, lowest stream first."""
    return tuple(Cell(stream.dir, s, position, cycle) for s in stream.lanes_of())


def result_cells(instr: Instr, position: int, cycle: int, timing: Timing) -> tuple[Cell, ...]:
    """The cells that ``instr``, issued at ``position`` in ``cycle``, writes its result to: its
    destination, its latency (on ``timing``) later at its own position (none if it has no
    result)."""
    op = instr.op
    if not op.writes:
        return ()
    return operand_cells(instr[op.writes[0]], position, cycle + timing.latency(op))


class Tracks:
    """Writes to stream cells, indexed by track: which write a cell holds, and the one check
    that no two writes share a cell.

    Each write is kept with a ``writer`` (whatever names it to the caller) and an optional
    ``value``.
    """

    def __init__(self) -> None:
        # track -> [(reach, writer, value)], in the order written
        self._writes: dict[Track, list[tuple[int, Hashable, object]]] = {}

    def __len__(self) -> int:
        return len(self._writes)

    @staticmethod
    def _place(cell: Cell) -> tuple[Track, int]:
        """The track and reach of ``cell`` (any 4-tuple in Cell's order): :func:`track` and
        :func:`reach` in one step."""
        d, s, p, c = cell
        r = p if d == "e" else -p
        return (d, s, c - STREAM_HOP * r), r

    def write(self, cell: Cell, writer: Hashable, value: object = None) -> Hashable | None:
        """Record a write of ``cell``; returns the writer that wrote it before (a collision,
        which is not recorded), or None."""
        d, s, p, c = cell  # _place, inlined: the golden model's hot path
        r = p if d == "e" else -p
        key = (d, s, c - STREAM_HOP * r)
        entries = self._writes.get(key)
        if entries is None:
            self._writes[key] = [(r, writer, value)]
            return None
        for other, who, _ in entries:
            if other == r:
                return who
        entries.append((r, writer, value))
        return None

    def writer(self, cell: Cell) -> Hashable | None:
        """Who wrote exactly this cell, or None."""
        key, r = self._place(cell)
        for other, who, _ in self._writes.get(key, ()):
            if other == r:
                return who
        return None

    def source(self, cell: Cell) -> tuple[Hashable, object] | None:
        """``(writer, value)`` of the write that ``cell`` holds, or None if it is empty."""
        d, s, p, c = cell  # _place, inlined
        r = p if d == "e" else -p
        key = (d, s, c - STREAM_HOP * r)
        best = None
        for entry in self._writes.get(key, ()):
            if entry[0] <= r and (best is None or entry[0] > best[0]):
                best = entry
        return None if best is None else best[1:]

    def prune(self, cycle: int, positions: int) -> None:
        """Forget the tracks that no cell of ``cycle`` or later lies on, in a core of
        ``positions`` positions."""
        far = STREAM_HOP * (positions - 1)  # an eastward track k holds cycles k .. k + far

        def alive(key: Track) -> bool:
            return key[2] + (far if key[0] == "e" else 0) >= cycle
        self._writes = {key: w for key, w in self._writes.items() if alive(key)}
