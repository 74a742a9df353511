"""The programs that time the simulators: a core that only waits, a busy core, and six queues
issuing every cycle.

- :func:`idle`: one ``nop`` for the requested cycles, the simulator's floor.
- :func:`busy`: a MEM read, a VXM add and a MEM write in every cycle (the RTL's cycles/s).
- :func:`golden_pipeline`: six queues issuing in every cycle (the golden model's cycles/s and
  ops/s).

``conveyor bench`` runs them, and so do ``bench/verilator_speed.py`` and
``bench/golden_speed.py``.
"""

from __future__ import annotations

from ....hw.machine.config import CoreConfig
from ....hw.machine.isa import Instr, Stream, value_range
from ....hw.machine.program import Program

__all__ = ["busy", "golden_pipeline", "idle"]

#: Largest repeat count; a long queue chains read/repeat pairs.
_MAX_REPEAT = value_range("count")[1]


def idle(config: CoreConfig, cycles: int = 1_000_000) -> Program:
    """A core that waits ``cycles`` cycles (one ``nop``): the simulator's floor."""
    program = Program.empty(config)
    program.queues[config.queues[0].name] = [Instr.make("nop", n=cycles), Instr.make("halt")]
    return program


def busy(config: CoreConfig, cycles: int = 1_000_000) -> Program:
    """About ``cycles`` cycles of mem0 reading onto e0 every cycle, the first VXM ALU adding 1
    onto e1, and the first MEM slice east of the VXM writing e1 back."""
    segments = max(1, -(-cycles // (_MAX_REPEAT + 1)))
    per = min(_MAX_REPEAT, max(1, cycles // segments - 1))

    def chain(instr: Instr, stride: int = 0) -> list[Instr]:
        return [instr, Instr.make("repeat", n=per, d=1, stride=stride)] * segments

    vxm = config.slices_of("vxm")[0]
    east = next(s for s in config.mem_slices if s.position > vxm.position)
    src = config.mem_slices[0]
    e0, e1 = Stream("e", 0), Stream("e", 1)
    rd, wr = _queue_for(config, src.name, "rd"), _queue_for(config, east.name, "wr")
    alu = next(q.name for q in config.queues if q.slice == vxm)
    t_add = config.timing.latency("read") + vxm.position - src.position
    t_wr = t_add + config.timing.latency("add.i8") + east.position - vxm.position
    program = Program.empty(config)
    program.queues[rd] = [*chain(Instr.make("read", addr=0, d=e0)), Instr.make("halt")]
    program.queues[alu] = [Instr.make("nop", n=t_add),
                           *chain(Instr.make("add.i8", a=e0, b=1, d=e1)), Instr.make("halt")]
    program.queues[wr] = [Instr.make("nop", n=t_wr),
                          *chain(Instr.make("write", s=e1, addr=0)), Instr.make("halt")]
    return program


def _queue_for(config: CoreConfig, slice_name: str, part: str) -> str:
    names = {q.name for q in config.queues}
    return f"{slice_name}.{part}" if f"{slice_name}.{part}" in names else slice_name


def golden_pipeline(config: CoreConfig, blocks: int = 40) -> Program:
    """Six queues issuing every cycle for ``blocks`` sweeps over every MEM word: two MEM slices
    stream vectors to the VXM, two chained ALUs add and turn the sum westward, and two MEM
    slices store both results (needs 2-port MEM, two VXM ALUs, MEM on both sides)."""
    def e(i):
        return Stream("e", i)

    def w(i):
        return Stream("w", i)

    def queue(start: int, instr: Instr) -> list[Instr]:
        stride = 1 if instr.op.address else 0
        body = [instr, Instr.make("repeat", n=words - 1, d=1, stride=stride)] * blocks
        return ([Instr.make("nop", n=start)] if start else []) + body + [Instr.make("halt")]

    pos = {s.name: s.position for s in config.slices}
    v, east, words = pos["vxm0"], config.mem_slices[-1].name, config.mem_depth
    t = config.timing.latency("read") + v  # mem0's first read meets mem1's at the VXM in cycle t
    t2 = t + config.timing.latency("add.i8")
    program = Program.empty(config)
    program.queues.update({
        "mem0.rd": queue(0, Instr.make("read", addr=0, d=e(0))),
        "mem1.rd": queue(t - config.timing.latency("read") - (v - pos["mem1"]),
                         Instr.make("read", addr=0, d=e(1))),
        "vxm0.alu0": queue(t, Instr.make("add.i8", a=e(0), b=e(1), d=e(2))),
        "vxm0.alu1": queue(t2, Instr.make("mov.i8", a=e(2), d=w(0))),
        f"{east}.wr": queue(t2 + pos[east] - v, Instr.make("write", s=e(2), addr=0)),
        "mem2.wr": queue(t2 + config.timing.latency("mov.i8") + v - pos["mem2"],
                         Instr.make("write", s=w(0), addr=0)),
    })
    return program
