"""The cycle-exact golden model: the executable specification of docs/architecture.md.

Issue cycles come from :func:`conveyor.hw.machine.program.timeline`, latencies from
:mod:`conveyor.hw.machine.timing`, lane arithmetic from :mod:`conveyor.hw.machine.semantics`, the MXM and
SXM slices' state from :mod:`conveyor.sim.slice_state`; this module adds the streams and the
MEM slices, and runs the slices' deferred effects (MEM writes, weight installs, accumulator
writes) in the cycle the timing table says they land.

Streams are event-driven rather than shifted every cycle: every write is recorded on its track
(:mod:`conveyor.hw.machine.cells`), and a read asks the track which write its cell holds.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import HazardError, SimulationError
from ..hw.machine.cells import Cell, Tracks, operand_cells
from ..hw.machine.config import CoreConfig
from ..hw.machine.isa import Stream, check_value
from ..hw.machine.program import Issue, Program, ProgramError, timeline, unbuilt
from ..hw.machine.semantics import Semantics, semantics
from .slice_state import MxmState, SxmState, join_i32, split_i32

__all__ = ["GoldenResult", "run"]

#: Tracks below which dead ones are not worth sweeping.
_PRUNE_MIN = 4096


@dataclass
class GoldenResult:
    """Outcome of a run.

    Members
    -------
    cycles : C, the cycle count of docs/architecture.md (equals ``cycle_count(program)``).
    mem : MEM slice name -> (mem_depth, lanes) int8, the final contents.
    issued : queue name -> slice instructions issued, each repetition counted; ``nop``,
        ``repeat`` and ``halt`` are not.
    ops : total slice instructions issued.
    """

    cycles: int
    mem: dict[str, np.ndarray]
    issued: dict[str, int]
    ops: int


@dataclass(frozen=True)
class _Step:
    """One queue entry, checked and decoded once, then reused by every repetition.

    Members
    -------
    execute : the machine's method for this kind of instruction.
    finish : cycles from issue until the run may end for it: the latency, 1 for ``halt``.
    reads : per stream-reading field, in field order, its places ``(dir, stream, position)``
        (one, or four for a group: a cell less its cycle), or the int of an immediate.
    dest : the places of the result.
    """

    execute: Callable[[Issue, _Step, int], None]
    finish: int
    reads: tuple = ()
    dest: tuple = ()
    addr_field: int = -1  # index of the address in Instr.args
    addr_kind: str = "addr"  # its field kind, which decides its range
    fn: Semantics | None = None
    args: dict | None = None  # the instruction's fields (requant parameters, lane counts)


_Place = tuple[str, int, int]  # (direction, stream, position): a cell without its cycle


def _places(stream: Stream, position: int) -> tuple[_Place, ...]:
    return tuple(cell[:3] for cell in operand_cells(stream, position, 0))


def _check(program: Program, issue: Issue) -> None:
    """An instruction must suit its queue and its operands the config."""
    queue, instr = issue.queue, issue.instr
    op = instr.op
    if queue.role not in op.roles:
        raise ProgramError(f"{program.where(queue.name, issue.index)}: {op.mnemonic} cannot "
                           f"run on queue {queue.name}")
    problem = unbuilt(instr, program.config)
    if problem:
        raise ProgramError(f"{program.where(queue.name, issue.index)}: {problem[1]}")
    for f in op.fields:
        if f.name != op.address:  # addresses move with repeat's stride: checked at every issue
            problem = check_value(f.kind, instr[f.name], program.config)
            if problem:
                raise ProgramError(f"{program.where(queue.name, issue.index)}: {op.mnemonic} "
                                   f"{f.name}: {problem}")


def _describe(program: Program, issue: Issue) -> str:
    return f"{program.where(issue.queue.name, issue.index)} ({issue.queue.name}: {issue.instr})"


class _Machine:
    """Streams, MEM contents and the bookkeeping of one run."""

    def __init__(self, program: Program, max_cycles: int | None):
        cfg: CoreConfig = program.config
        self.program, self.max_cycles = program, max_cycles
        self.timing = cfg.timing
        self.positions, self.depth = cfg.positions, cfg.mem_depth
        self.mem = program.initial_mem()
        self.mem_at = {s.position: self.mem[s.name] for s in cfg.mem_slices}
        self.mxm_at = {s.position: MxmState(cfg) for s in cfg.slices_of("mxm")}
        self.sxm_at = {s.position: SxmState(cfg) for s in cfg.slices_of("sxm")}
        self.slice_at = {s.position: s.name for s in cfg.slices}
        self.tracks = Tracks()  # every stream write: (issue, value)
        self.prune_at = _PRUNE_MIN
        # Effects waiting for their cycle, a heap of (cycle, order, function, arguments): MEM
        # writes, weight installs, accumulator writes; equal cycles land in issue order.
        self.pending: list = []
        self.order = 0
        # The earliest collision, raised once the run reaches its cycle (hazards in cycle order).
        self.collision: HazardError | None = None
        self.steps: dict[tuple[str, int], _Step] = {}
        self.issues = {q.name: 0 for q in cfg.queues}  # including the halt
        self.end = 0  # the cycle count so far

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        steps, issues, now, end = self.steps, self.issues, -1, 0
        for issue in timeline(self.program):
            if issue.cycle != now:
                now = issue.cycle
                self.advance(now)
            name = issue.queue.name
            step = steps.get((name, issue.index))
            if step is None:
                step = steps[name, issue.index] = self.decode(issue)
            issues[name] += 1
            end = max(end, now + step.finish)
            step.execute(issue, step, now)
        self.end = end
        self.land(end)  # every write has landed by the end of the run
        if self.collision is not None:
            raise self.collision
        if self.max_cycles is not None and end > self.max_cycles:
            self.timeout(end)

    def decode(self, issue: Issue) -> _Step:
        op, position = issue.instr.op, issue.queue.slice.position
        if op.mnemonic == "halt":
            return _Step(self.halt, finish=self.timing.finish(op))
        _check(self.program, issue)
        reads = tuple(_places(v, position) if isinstance(v, Stream) else v
                      for name, v in issue.instr.args if name in op.reads)
        dest = _places(issue.instr["d"], position) if op.writes else ()
        names = [name for name, _ in issue.instr.args]
        addr_field = names.index(op.address) if op.address else -1
        addr_kind = op.field(op.address).kind if op.address else "addr"
        args = dict(issue.instr.args)
        if op.kind == "vxm":
            return _Step(self.vxm, self.timing.latency(op), reads, dest,
                         fn=semantics(op.mnemonic),
                         args=args)
        execute = {"read": self.mem_read, "write": self.mem_write, "lw": self.mxm_lw,
                   "iw": self.mxm_iw, "mm.set": self.mxm_mm, "mm.add": self.mxm_mm,
                   "accrd": self.mxm_accrd, "tr.in": self.sxm_tr_in,
                   "tr.out": self.sxm_tr_out}.get(op.mnemonic, self.sxm_move)
        return _Step(execute, self.timing.latency(op), reads, dest, addr_field, addr_kind,
                     args=args)

    def advance(self, cycle: int) -> None:
        """Bring the machine to the start of ``cycle``: MEM writes due by then land."""
        if self.max_cycles is not None and cycle >= self.max_cycles:
            self.timeout(cycle)
        if self.collision is not None and self.collision.cycle <= cycle:
            raise self.collision
        self.land(cycle)
        if len(self.tracks) > self.prune_at:
            self.prune(cycle)

    def land(self, cycle: int) -> None:
        """Apply the effects due by ``cycle``, in cycle order, then in issue order."""
        pending = self.pending
        while pending and pending[0][0] <= cycle:
            due, _, function, args = heapq.heappop(pending)
            function(due, *args)

    def later(self, cycle: int, function: Callable, *args) -> None:
        """Run ``function(cycle, *args)`` when the run reaches ``cycle``."""
        heapq.heappush(self.pending, (cycle, self.order, function, args))
        self.order += 1

    def timeout(self, cycle: int) -> None:
        raise SimulationError(f"the run exceeds max_cycles={self.max_cycles} (still busy in "
                              f"cycle {cycle})")

    # --- slices ----------------------------------------------------------------------------

    def halt(self, issue: Issue, step: _Step, now: int) -> None:
        pass

    def vxm(self, issue: Issue, step: _Step, now: int) -> None:
        a, *b = [self.operand(issue, cells, now) for cells in step.reads]
        result = step.fn(a, b[0] if b else None, step.args)
        cycle = now + step.finish
        self.put_value(issue, step.dest, cycle, result)

    def put_value(self, issue: Issue, dest: tuple[_Place, ...], cycle: int,
                  value: np.ndarray) -> None:
        """Put a byte vector on one cell, or an int32 vector on a group's four cells."""
        if len(dest) == 1:
            self.put(issue, dest[0], cycle, value)
        else:
            for cell, part in zip(dest, split_i32(value)):
                self.put(issue, cell, cycle, part)

    def operand(self, issue: Issue, cells: tuple[_Place, ...] | int, now: int):
        if isinstance(cells, int):
            return cells
        if len(cells) == 1:
            return self.get(issue, cells[0], now)
        return join_i32([self.get(issue, cell, now) for cell in cells])

    def mem_read(self, issue: Issue, step: _Step, now: int) -> None:
        addr = self.address(issue, step, now)
        value = self.mem_at[issue.queue.slice.position][addr].copy()
        self.put(issue, step.dest[0], now + step.finish, value)

    def mem_write(self, issue: Issue, step: _Step, now: int) -> None:
        addr = self.address(issue, step, now)
        value = self.get(issue, step.reads[0][0], now)
        # A read issued in this cycle still sees the old word: the write lands `latency` later.
        memory = self.mem_at[issue.queue.slice.position]
        self.later(now + step.finish, _store, memory, addr, value)

    def address(self, issue: Issue, step: _Step, now: int) -> int:
        addr = issue.instr.args[step.addr_field][1]
        problem = check_value(step.addr_kind, addr, self.program.config)
        if problem:
            raise HazardError("address", now, f"{_describe(self.program, issue)}: {problem}")
        return addr

    def undefined(self, issue: Issue, cycle: int, what: str) -> HazardError:
        return HazardError("undefined", cycle, f"{_describe(self.program, issue)} {what}")

    # --- MXM: weights, multiplies, accumulators (see slice_state.MxmState) ----------------

    def mxm_lw(self, issue: Issue, step: _Step, now: int) -> None:
        row = self.address(issue, step, now)
        mxm, cells = self.mxm_at[issue.queue.slice.position], step.reads[0]
        for k, cell in enumerate(cells[:max(0, mxm.lanes - row)]):
            mxm.load_row(row + k, self.get(issue, cell, now))

    def mxm_iw(self, issue: Issue, step: _Step, now: int) -> None:
        mxm = self.mxm_at[issue.queue.slice.position]
        self.later(now + step.finish, mxm.install, mxm.shadow_copy())

    def mxm_mm(self, issue: Issue, step: _Step, now: int) -> None:
        a = self.address(issue, step, now)
        mxm = self.mxm_at[issue.queue.slice.position]
        missing = mxm.missing_weights()
        if missing:
            raise self.undefined(issue, now, f"multiplies by weight rows {missing} that no lw "
                                 f"loaded and no iw installed in this run")
        y = mxm.multiply(self.get(issue, step.reads[0][0], now))
        self.later(now + step.finish, self.mxm_accumulate, issue, mxm, a, y,
                   issue.instr.op.mnemonic == "mm.add")

    def mxm_accumulate(self, cycle: int, issue: Issue, mxm: MxmState, a: int, y: np.ndarray,
                       add: bool) -> None:
        if add and not mxm.written[a]:
            raise self.undefined(issue, cycle, f"adds to accumulator row {a}, which no mm.set "
                                 f"wrote in this run")
        mxm.accumulate(a, y, add)

    def mxm_accrd(self, issue: Issue, step: _Step, now: int) -> None:
        a = self.address(issue, step, now)
        mxm = self.mxm_at[issue.queue.slice.position]
        if not mxm.written[a]:
            raise self.undefined(issue, now, f"reads accumulator row {a}, which no mm.set "
                                 f"wrote in this run")
        self.put_value(issue, step.dest, now + step.finish, mxm.acc[a].copy())

    # --- SXM: lane moves and the transpose buffer (see slice_state.SxmState) --------------

    def sxm_move(self, issue: Issue, step: _Step, now: int) -> None:
        sxm = self.sxm_at[issue.queue.slice.position]
        values = [self.get(issue, cells[0], now) for cells in step.reads]
        result = sxm.move(issue.instr.op.mnemonic, values, step.args)
        self.put(issue, step.dest[0], now + step.finish, result)

    def sxm_tr_in(self, issue: Issue, step: _Step, now: int) -> None:
        row = self.address(issue, step, now)
        sxm = self.sxm_at[issue.queue.slice.position]
        sxm.write_row(row, self.get(issue, step.reads[0][0], now))

    def sxm_tr_out(self, issue: Issue, step: _Step, now: int) -> None:
        col = self.address(issue, step, now)
        sxm = self.sxm_at[issue.queue.slice.position]
        missing = sxm.missing_rows()
        if missing:
            raise self.undefined(issue, now, f"reads transpose rows {missing}, which no tr.in "
                                 f"wrote in this run")
        self.put(issue, step.dest[0], now + step.finish, sxm.column(col))

    # --- streams ---------------------------------------------------------------------------

    def get(self, issue: Issue, place: _Place, cycle: int) -> np.ndarray:
        """The value of the cell at ``place`` in ``cycle``, including one written there in that
        cycle."""
        found = self.tracks.source((*place, cycle))
        if found is None:
            cell = Cell(*place, cycle)
            raise HazardError("empty-read", cycle, f"empty read: {_describe(self.program, issue)} "
                              f"reads {cell.dir}{cell.stream} at position {cell.position} "
                              f"({self.slice_at[cell.position]}), which nothing wrote")
        return found[1]

    def prune(self, now: int) -> None:
        """Forget the tracks that no cycle from ``now`` on can read."""
        self.tracks.prune(now, self.positions)
        self.prune_at = max(_PRUNE_MIN, 2 * len(self.tracks))

    def put(self, issue: Issue, place: _Place, cycle: int, value: np.ndarray) -> None:
        """Record the write of ``value`` to the cell at ``place`` in ``cycle``."""
        first = self.tracks.write((*place, cycle), issue, value)
        if first is not None:
            self.collide(Cell(*place, cycle), first, issue)

    def collide(self, cell: Cell, first: Issue, second: Issue) -> None:
        if self.collision is not None and self.collision.cycle <= cell.cycle:
            return
        self.collision = HazardError(
            "collision", cell.cycle,
            f"collision on {cell.dir}{cell.stream} at position {cell.position} "
            f"({self.slice_at[cell.position]}): {_describe(self.program, first)} and "
            f"{_describe(self.program, second)} both write it")


def _store(cycle: int, memory: np.ndarray, addr: int, value: np.ndarray) -> None:
    memory[addr] = value


def run(program: Program, *, max_cycles: int | None = None) -> GoldenResult:
    """Simulate ``program`` cycle by cycle as docs/architecture.md defines it.

    Raises :class:`~conveyor.errors.HazardError` for a collision, an empty read or a MEM address
    out of range, :class:`~conveyor.hw.machine.program.ProgramError` for an instruction that does not
    fit its queue or the config, and :class:`~conveyor.errors.SimulationError` when the run
    needs more than ``max_cycles`` cycles.
    """
    machine = _Machine(program, max_cycles)
    machine.run()
    issued = {name: n - 1 for name, n in machine.issues.items()}  # every queue issues one halt
    return GoldenResult(cycles=machine.end, mem=machine.mem, issued=issued,
                        ops=sum(issued.values()))
