"""Microcode: timed instructions -> per-queue instruction lists, compressed with nop and repeat.

Within a queue, a run of the same instruction at a constant distance d, its address stepping by
a constant stride, becomes ``instr; repeat n, d, stride``; gaps become ``nop``; both no longer
than the config's queues count (``max_nop``, ``max_repeat``). The result obeys
:func:`conveyor.hw.machine.program.timeline` exactly: every instruction issues in the cycle the
schedule gave it, which the caller checks.
"""

from __future__ import annotations

from collections import defaultdict

from ...hw.machine.config import CoreConfig
from ...hw.machine.isa import Instr, check_value, value_range
from ...hw.machine.program import DataBlock, Program
from .errors import TooBig

__all__ = ["emit", "queue_words"]

_STRIDE = value_range("stride")


def _same_but_address(a: Instr, b: Instr) -> int | None:
    """The stride that turns ``a`` into ``b`` (0 if equal), or None if they differ otherwise."""
    if a.op is not b.op:
        return None
    name = a.op.address
    stride = 0
    for (k, va), (_, vb) in zip(a.args, b.args):
        if k == name:
            stride = vb - va
        elif va != vb:
            return None
    return stride


def _nop(instrs: list[Instr], cycles: int, longest: int) -> None:
    while cycles > 0:
        n = min(cycles, longest)
        instrs.append(Instr.make("nop", n=n))
        cycles -= n


def _compress(timed: list[tuple[int, Instr]], config: CoreConfig) -> list[Instr]:
    """One queue's (cycle, instruction) list, sorted, -> its instruction words before halt."""
    out: list[Instr] = []
    now = 0  # the next free slot of the queue
    i = 0
    while i < len(timed):
        cycle, instr = timed[i]
        _nop(out, cycle - now, config.max_nop)
        out.append(instr)
        # grow a repeat: same instruction, constant distance and stride
        j = i + 1
        if j < len(timed) and instr.op.kind != "icu":
            d = timed[j][0] - cycle
            stride = _same_but_address(instr, timed[j][1])
            if (stride is not None and 1 <= d <= config.max_repeat
                    and _STRIDE[0] <= stride <= _STRIDE[1]):
                n = 0
                while (j < len(timed) and n < config.max_repeat
                       and timed[j][0] == cycle + (n + 1) * d
                       and _same_but_address(instr, timed[j][1]) == (n + 1) * stride):
                    n += 1
                    j += 1
                if n:
                    out.append(Instr.make("repeat", n=n, d=d, stride=stride))
                    now = cycle + n * d + 1
                    i = j
                    continue
        now = cycle + 1
        i += 1
    return out


def queue_words(timed: list[tuple[int, Instr]], config: CoreConfig) -> list[Instr]:
    """The compressed instruction list of one queue, ending in halt."""
    return _compress(sorted(timed, key=lambda t: t[0]), config) + [Instr.make("halt")]


def emit(config: CoreConfig, timed: dict[str, list[tuple[int, Instr]]],
         data: list[DataBlock]) -> Program:
    """A Program from every queue's timed instructions; refuses a queue that overflows."""
    by_queue = defaultdict(list, timed)
    queues = {q.name: queue_words(by_queue[q.name], config) for q in config.queues}
    worst = max(queues, key=lambda name: len(queues[name]))
    if len(queues[worst]) > config.queue_depth:
        raise TooBig(f"queue {worst} needs {len(queues[worst])} instruction words, more than "
                     f"queue_depth = {config.queue_depth} of config {config.name!r}",
                     over=len(queues[worst]) / config.queue_depth)
    for name, words in queues.items():
        for instr in words:
            for f in instr.op.fields:
                problem = check_value(f.kind, instr[f.name], config)
                assert problem is None, f"{name}: {instr}: {problem}"
    return Program(config, queues, list(data))
