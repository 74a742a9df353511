"""The schedule level: list scheduling of slice instructions in space and time.

Every piece of work is a *chain* of instructions whose relative timing the machine fixes: a MEM
read whose word an ``mm`` multiplies ``latency(read) + distance`` cycles later, an ``accrd``
whose row the VXM adds a bias to and requantises on its way to a MEM write. A chain is placed
at the earliest cycle (not before its dependencies) at which every queue slot it needs is free
and a stream is free along every path it needs; then those are reserved. Because every
latency and every distance is known, nothing is left to chance at run time, and the cycle
count is known the moment the last chain is placed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from ...hw.machine.cells import travel
from ...hw.machine.config import CoreConfig
from ...hw.machine.isa import Instr, Stream
from ...hw.machine.timing import HALT_LATENCY
from .errors import CompileError
from .resources import Path, QueueSlots, StreamCells

__all__ = ["Chain", "Part", "PathSpec", "Scheduler"]

#: How far past its earliest cycle a chain is tried before the scheduler gives up (a bug).
_SEARCH = 1 << 20


@dataclass
class Part:
    """One instruction of a chain, ``offset`` cycles after the chain's start.

    ``make(streams)`` builds the instruction once the chain's paths have streams: ``streams``
    maps each path's key to its stream (or group, or window).
    """

    queue: str
    offset: int
    make: Callable[[dict[str, Stream]], Instr]


@dataclass(frozen=True)
class PathSpec:
    """A value (or group, or window) a chain moves: written at position ``srcs[0]`` (or, for
    values from several slices, stream k at ``srcs[k]``), at position ``dst`` in the cycle
    ``arrive`` after the chain's start."""

    srcs: tuple[int, ...]
    dst: int
    arrive: int
    width: int = 1


@dataclass
class Chain:
    parts: list[Part] = field(default_factory=list)
    paths: dict[str, PathSpec] = field(default_factory=dict)

    def path(self, key: str, src, dst: int, arrive: int, width: int = 1) -> None:
        """Declare a value moved from ``src`` (a position, or a tuple of them) to ``dst``."""
        srcs = tuple(src) if isinstance(src, (tuple, list)) else (src,)
        self.paths[key] = PathSpec(srcs, dst, arrive, width)

    def add(self, queue: str, offset: int, make) -> None:
        self.parts.append(Part(queue, offset, make))


class Scheduler:
    """Reservation tables and the scheduled instructions of one program."""

    def __init__(self, config: CoreConfig):
        self.config = config
        self.timing = config.timing
        self.slots = QueueSlots()
        self.cells = StreamCells(config)
        self.timed: dict[str, list[tuple[int, Instr]]] = defaultdict(list)
        # the cycle count so far (C of docs/architecture.md): a program that only halts
        self.end = HALT_LATENCY
        self.position = {s.name: s.position for s in config.slices}
        # Per MXM, carried from one product to the next: the cycle of the last iw and of the
        # last mm, which half of the accumulator rows is next, and when each accumulator row
        # was last read (a later mm may not land on it before that).
        self.mxm: dict[str, dict] = defaultdict(
            lambda: {"iw": -1, "mm": -1, "half": 0, "read": {}})

    def queue_position(self, queue: str) -> int:
        return self.position[queue.split(".")[0]]

    # --- placing chains ------------------------------------------------------------------

    def place(self, chain: Chain, earliest: int) -> int:
        """Put ``chain`` at its earliest feasible start >= ``earliest``; returns the start."""
        first = min(p.offset for p in chain.parts)
        start = max(earliest, -first)
        for _ in range(_SEARCH):
            bump = self._blocked(chain, start)
            if bump is None:
                self._commit(chain, start)
                return start
            if start + first > self.end + 1:  # past everything placed: it can never fit
                what = ", ".join(sorted({p.queue for p in chain.parts}))
                raise CompileError(f"config {self.config.name!r} has too few streams per "
                                   f"direction ({self.config.streams}) for the values "
                                   f"moving between {what} in one cycle")
            start = bump
        raise AssertionError("no room for a chain: the scheduler is stuck")

    def _blocked(self, chain: Chain, start: int) -> int | None:
        """None if ``chain`` fits at ``start``, else a later start worth trying."""
        for part in chain.parts:
            cycle = start + part.offset
            if not self.slots.free(part.queue, cycle):
                return self.slots.next_free(part.queue, cycle) - part.offset
        paths = self._paths(chain, start)
        if paths is None:
            return start + 1
        for found in paths.values():
            for p in found:
                self.cells.release(p)
        return None

    def _paths(self, chain: Chain, start: int) -> dict[str, Path] | None:
        """Streams for every path of ``chain`` at ``start``, reserved; None (and nothing
        reserved) if one does not fit."""
        paths: dict[str, list[Path]] = {}
        for key, spec in chain.paths.items():
            arrive = start + spec.arrive
            if len(spec.srcs) == 1:
                src = spec.srcs[0]
                one = self.cells.find(src, spec.dst, arrive - travel(spec.dst, src), spec.width)
                found = None if one is None else [one]
            else:
                found = self.cells.find_planes(spec.srcs, spec.dst, arrive)
            if found is None:
                for taken in paths.values():
                    for p in taken:
                        self.cells.release(p)
                return None
            for p in found:
                self.cells.reserve(p)
            paths[key] = found
        return paths

    def _built(self, instr: Instr) -> Instr:
        """``instr``, if this core builds its op (a config may build only some VXM ops)."""
        if not self.config.builds(instr.op):
            raise CompileError(f"the model needs {instr.op.mnemonic}, which config "
                               f"{self.config.name!r} does not build (its vxm_ops: "
                               f"{', '.join(self.config.vxm_ops)})")
        return instr

    def _commit(self, chain: Chain, start: int) -> None:
        streams = {key: Stream(found[0].dir, found[0].index, len(found) * found[0].width)
                   for key, found in self._paths(chain, start).items()}
        for part in chain.parts:
            cycle = start + part.offset
            instr = self._built(part.make(streams))
            self.slots.reserve(part.queue, cycle)
            self.timed[part.queue].append((cycle, instr))
            self.end = max(self.end, self.timing.run_end(cycle, instr.op))

    def place_transfer(self, src_queue: str, dst_queue: str, earliest: int, make) -> int:
        """The commonest chain, fast: a MEM read whose word another slice's instruction takes
        on arrival. ``make(stream)`` gives the two instructions; returns the read's cycle."""
        src, dst = self.queue_position(src_queue), self.queue_position(dst_queue)
        lat = self.timing.latency("read")  # the source is a MEM read
        offset = lat + travel(src, dst)
        slots, cells = self.slots, self.cells
        start = max(earliest, 0)
        while True:
            c1 = slots.next_free(src_queue, start)
            c2 = slots.next_free(dst_queue, c1 + offset) - offset
            if c2 != c1:
                start = c2
                continue
            path = cells.find(src, dst, c1 + lat)
            if path is None:
                start = c1 + 1
                continue
            cells.reserve(path)
            a, b = make(path.stream)
            slots.reserve(src_queue, c1)
            slots.reserve(dst_queue, c1 + offset)
            self.timed[src_queue].append((c1, a))
            self.timed[dst_queue].append((c1 + offset, b))
            self.end = max(self.end, self.timing.run_end(c1 + offset, b.op))
            return c1

    # --- single instructions with no streams (iw) ----------------------------------------

    def place_alone(self, queue: str, instr: Instr, earliest: int) -> int:
        cycle = self.slots.next_free(queue, earliest)
        self.slots.reserve(queue, cycle)
        self.timed[queue].append((cycle, instr))
        self.end = max(self.end, self.timing.run_end(cycle, instr.op))
        return cycle

    # --- helpers for building chains ------------------------------------------------------

    def latency(self, op) -> int:
        """The latency of ``op`` on this core."""
        return self.timing.latency(op)

    def travel(self, src_queue: str, dst_queue: str) -> int:
        """Cycles a value takes from one queue's slice to another's."""
        return travel(self.queue_position(src_queue), self.queue_position(dst_queue))

