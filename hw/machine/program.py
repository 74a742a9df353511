"""A program for one core: per-queue instruction lists and MEM preload data, and its timeline.

The assembler produces a :class:`Program`, the image format stores one, and the golden model,
the RTL testbenches and the compiler consume one. :func:`timeline` turns the queues into the
cycle at which every instruction issues; it is the one implementation of the ICU's issue rules
(``nop``, ``repeat``, ``halt``) in software.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConveyorError
from .config import CoreConfig, Queue
from .isa import Instr

__all__ = [
    "DataBlock",
    "Issue",
    "Program",
    "ProgramError",
    "SrcLoc",
    "cycle_count",
    "halt_cycles",
    "issued_macs",
    "mm_count",
    "mxm_utilization",
    "timeline",
    "unbuilt",
]


class ProgramError(ConveyorError):
    """A program whose queues break the ICU's rules (e.g. ``repeat`` after ``nop``)."""


@dataclass(frozen=True)
class SrcLoc:
    """Where an instruction or data line came from."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class DataBlock:
    """Words preloaded into one MEM slice: ``values[i]`` goes to word ``addr + i``."""

    slice: str
    addr: int
    values: np.ndarray  # shape (n, lanes), int8
    loc: SrcLoc | None = None


@dataclass
class Program:
    """Instruction lists for every queue of ``config`` (each ending in ``halt``) and MEM data.

    ``locs`` maps a queue name to the source location of each of its instructions, when the
    program came from assembly text.
    """

    config: CoreConfig
    queues: dict[str, list[Instr]]
    data: list[DataBlock] = field(default_factory=list)
    locs: dict[str, list[SrcLoc]] = field(default_factory=dict)

    @classmethod
    def empty(cls, config: CoreConfig) -> Program:
        return cls(config, {q.name: [Instr.make("halt")] for q in config.queues})

    def initial_mem(self) -> dict[str, np.ndarray]:
        """MEM slice name -> (mem_depth, lanes) int8 contents at start (zeros elsewhere)."""
        cfg = self.config
        mem = {s.name: np.zeros((cfg.mem_depth, cfg.lanes), np.int8) for s in cfg.mem_slices}
        for block in self.data:
            mem[block.slice][block.addr:block.addr + len(block.values)] = block.values
        return mem

    def where(self, queue: str, index: int) -> str:
        """'file:line:col' of an instruction, or 'queue[index]' when there is no source."""
        locs = self.locs.get(queue)
        if locs and index < len(locs):
            return str(locs[index])
        return f"{queue}[{index}]"


@dataclass(frozen=True)
class Issue:
    """One instruction issuing: its cycle, queue, position in the queue, and the instruction
    with ``repeat``'s stride already applied to its address."""

    cycle: int
    queue: Queue
    index: int
    instr: Instr



def unbuilt(instr: Instr, config: CoreConfig) -> tuple[str | None, str] | None:
    """Why ``config``'s hardware cannot run ``instr`` although its encoding is valid: an op its
    VXM does not build, a ``nop`` or ``repeat`` beyond what its queues count. Returns (the field
    at fault, or None for the op itself, message), or None."""
    op = instr.op
    if not config.builds(op):
        return None, (f"'{op.mnemonic}' is not built on config '{config.name}' (its VXM builds "
                      f"{', '.join(config.vxm_ops)})")
    limits = {"nop": ("n", "max_nop"), "repeat": ("n", "d")}.get(op.mnemonic, ())
    for name in limits if op.mnemonic == "repeat" else limits[:1]:
        limit = config.max_nop if op.mnemonic == "nop" else config.max_repeat
        key = "max_nop" if op.mnemonic == "nop" else "max_repeat"
        if instr[name] > limit:
            return name, (f"{op.mnemonic} {name} = {instr[name]} is more than config "
                          f"'{config.name}''s queues count ({key} = {limit})")
    return None


def _strided(instr: Instr, step: int) -> Instr:
    name = instr.op.address
    if name is None or step == 0:
        return instr
    return Instr(instr.op, tuple((k, v + step if k == name else v) for k, v in instr.args))


def _queue_issues(program: Program, queue: Queue) -> Iterator[Issue]:
    """Issues of one queue in cycle order; the last one is its ``halt``."""
    cycle, prev = 0, None
    for index, instr in enumerate(program.queues[queue.name]):
        name = instr.op.mnemonic
        if name in ("nop", "repeat") and unbuilt(instr, program.config):
            raise ProgramError(f"{program.where(queue.name, index)}: "
                               f"{unbuilt(instr, program.config)[1]}")
        if name == "nop":
            cycle += instr["n"]
            prev = None
        elif name == "repeat":
            if prev is None:
                raise ProgramError(f"{program.where(queue.name, index)}: repeat must follow a "
                                   f"slice instruction")
            if instr["stride"] and prev[1].op.address is None:
                raise ProgramError(f"{program.where(queue.name, index)}: {prev[1].op.mnemonic} "
                                   f"has no address for repeat's stride")
            start, base = cycle - 1, prev[1]
            for k in range(1, instr["n"] + 1):
                yield Issue(start + k * instr["d"], queue, prev[0],
                            _strided(base, k * instr["stride"]))
            cycle = start + instr["n"] * instr["d"] + 1
            prev = None
        else:
            yield Issue(cycle, queue, index, instr)
            if name == "halt":
                return
            prev = (index, instr)
            cycle += 1
    raise ProgramError(f"queue {queue.name} does not end with halt")


def timeline(program: Program) -> Iterator[Issue]:
    """Every issue of every queue, in cycle order (queues in config order within a cycle)."""
    streams = [_queue_issues(program, q) for q in program.config.queues]
    order = {q.name: i for i, q in enumerate(program.config.queues)}
    return heapq.merge(*streams, key=lambda i: (i.cycle, order[i.queue.name]))


def halt_cycles(program: Program) -> dict[str, int]:
    """Queue name -> the cycle its ``halt`` issues."""
    out = {}
    for q in program.config.queues:
        for issue in _queue_issues(program, q):
            last = issue
        out[q.name] = last.cycle
    return out


def cycle_count(program: Program) -> int:
    """Cycles from start to done (docs/architecture.md): the timing rules alone decide it."""
    finish = program.config.timing.finish
    return max(i.cycle + finish(i.instr.op) for i in timeline(program))


def mm_count(program: Program) -> int:
    """How many ``mm.set``/``mm.add`` the program issues, each repetition counted."""
    queues = [q for q in program.config.queues if q.role == "mxm.mm"]
    return sum(1 for q in queues for issue in _queue_issues(program, q)
               if issue.instr.op.mnemonic.startswith("mm."))


def issued_macs(program: Program) -> int:
    """L^2 MACs per ``mm`` the program issues: its useful MACs if no tile is padded."""
    return program.config.lanes ** 2 * mm_count(program)


def mxm_utilization(config: CoreConfig, cycles: int, useful_macs: int) -> float:
    """Useful MACs / (L^2 x cycles x MXM slices): the fraction of the MXMs' peak a run of
    ``cycles`` reached; 0 on a core without an MXM or for a run of no cycles. A compiler that
    pads tiles passes the MACs of the unpadded problem, a hand-written program
    :func:`issued_macs`."""
    mxms = len(config.slices_of("mxm"))
    if not mxms or cycles <= 0:
        return 0.0
    return useful_macs / (config.lanes ** 2 * cycles * mxms)
