"""Reservation tables of the scheduler: queue slots and stream cells in space and time.

A queue issues at most one instruction per cycle. A value on a stream occupies the cells of
its path, from the cell its producer writes (position p, cycle t) to the cell its last consumer
reads (p ± k, cycle t + k); another value may use the same stream anywhere off that path. Both
tables answer "is this free?" and "reserve it", which is all list scheduling in space and time
needs; the schedule verifier and the golden model re-check the result independently.
"""

from __future__ import annotations

from collections import defaultdict

from ...hw.machine.cells import Cell, reach, track, travel
from ...hw.machine.config import GROUP, CoreConfig
from ...hw.machine.isa import Stream

__all__ = ["Path", "QueueSlots", "StreamCells"]


class QueueSlots:
    """Which cycles each queue already issues in.

    Per queue, ``skip[c]`` points at a cycle >= c that was free when last looked at (c itself
    when c is free): following the pointers, with path compression, finds the next free cycle in
    nearly constant time even behind thousands of back-to-back instructions.
    """

    def __init__(self):
        self.skip: dict[str, list[int]] = defaultdict(list)

    def _grow(self, row: list[int], cycle: int) -> None:
        if cycle >= len(row):
            row.extend(range(len(row), max(cycle + 1, 2 * len(row))))

    def free(self, queue: str, cycle: int) -> bool:
        row = self.skip[queue]
        return cycle >= len(row) or row[cycle] == cycle

    def reserve(self, queue: str, cycle: int) -> None:
        row = self.skip[queue]
        self._grow(row, cycle + 1)
        assert row[cycle] == cycle, f"{queue} already issues in cycle {cycle}"
        row[cycle] = cycle + 1

    def next_free(self, queue: str, cycle: int) -> int:
        """The first cycle >= ``cycle`` in which ``queue`` is free."""
        row = self.skip[queue]
        path = []
        while cycle < len(row) and row[cycle] != cycle:
            path.append(cycle)
            cycle = row[cycle]
        for c in path:
            row[c] = cycle
        return cycle


class Path:
    """The cells a value occupies: direction, first stream, width, from position ``src`` in
    cycle ``start`` to position ``dst`` (``dst`` downstream of or equal to ``src``)."""

    __slots__ = ("dir", "dst", "index", "src", "start", "width")

    def __init__(self, direction: str, index: int, width: int, src: int, dst: int, start: int):
        self.dir, self.index, self.width = direction, index, width
        self.src, self.dst, self.start = src, dst, start

    @property
    def stream(self) -> Stream:
        return Stream(self.dir, self.index, self.width)

    @property
    def arrive(self) -> int:
        """The cycle the value is at ``dst``."""
        return self.start + travel(self.dst, self.src)


class StreamCells:
    """Reserved stream paths, indexed by track (:mod:`conveyor.hw.machine.cells`) so that a
    check only looks at the values on the new one's track: a path is an interval of reach on
    it, and two paths collide when their intervals meet."""

    def __init__(self, config: CoreConfig):
        self.config = config
        # (dir, stream, track) -> list of (reach_lo, reach_hi)
        self.taken: dict[tuple[str, int, int], list[tuple[int, int]]] = defaultdict(list)

    @staticmethod
    def _span(direction: str, src: int, dst: int, start: int) -> tuple[int, int, int]:
        """A value written at ``src`` in cycle ``start`` and read up to ``dst``: its track
        (less direction and stream) and the reach of its two ends."""
        line = track(Cell(direction, 0, src, start))[2]
        return line, reach(direction, src), reach(direction, dst)

    def free(self, direction: str, index: int, width: int, src: int, dst: int,
             start: int) -> bool:
        diag, lo, hi = self._span(direction, src, dst, start)
        for s in range(index, index + width):
            for a, b in self.taken.get((direction, s, diag), ()):
                if a <= hi and lo <= b:
                    return False
        return True

    def reserve(self, path: Path) -> None:
        diag, lo, hi = self._span(path.dir, path.src, path.dst, path.start)
        for s in range(path.index, path.index + path.width):
            self.taken[path.dir, s, diag].append((lo, hi))

    def release(self, path: Path) -> None:
        diag, lo, hi = self._span(path.dir, path.src, path.dst, path.start)
        for s in range(path.index, path.index + path.width):
            self.taken[path.dir, s, diag].remove((lo, hi))

    def find_planes(self, srcs: tuple[int, ...], dst: int, arrive: int) -> list[Path] | None:
        """Consecutive streams s, s+1, .. (s aligned to a group when there are 4) carrying
        one value each from ``srcs[k]`` to ``dst``, all arriving in cycle ``arrive``: an int32
        group from four byte planes, or an ``lw`` window."""
        direction = "e" if all(dst >= s for s in srcs) else "w"
        assert all((dst >= s) == (direction == "e") or dst == s for s in srcs)
        step = GROUP if len(srcs) == GROUP else 1
        for index in range(0, self.config.streams - len(srcs) + 1, step):
            paths = [Path(direction, index + k, 1, src, dst, arrive - travel(dst, src))
                     for k, src in enumerate(srcs)]
            if all(self.free(p.dir, p.index, 1, p.src, p.dst, p.start) for p in paths):
                return paths
        return None

    def find(self, src: int, dst: int, start: int, width: int = 1) -> Path | None:
        """A free stream (or aligned group of ``width``) carrying a value written at ``src`` in
        cycle ``start`` to ``dst``; None if every stream of that direction is taken there."""
        directions = ("e", "w") if dst == src else ("e" if dst > src else "w",)
        step = GROUP if width > 1 else 1
        for direction in directions:  # a value read where it is written may use either
            for index in range(0, self.config.streams - width + 1, step):
                if self.free(direction, index, width, src, dst, start):
                    return Path(direction, index, width, src, dst, start)
        return None
