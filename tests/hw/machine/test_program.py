"""The ICU issue rules in software: nop, repeat with stride, halt, and the cycle count."""

import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import Instr, Stream
from conveyor.hw.machine.program import Program, ProgramError, cycle_count, halt_cycles, timeline
from conveyor.hw.machine.timing import Timing

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

TINY = PRESETS["tiny"]
READ = Instr.make("read", addr=4, d=Stream("e", 0))


def program(**queues):
    p = Program.empty(TINY)
    for name, instrs in queues.items():
        p.queues[name.replace("_", ".")] = list(instrs) + [Instr.make("halt")]
    return p


def issues(p, queue):
    return [(i.cycle, str(i.instr)) for i in timeline(p) if i.queue.name == queue]


def test_only_halts_take_one_cycle():
    assert cycle_count(Program.empty(TINY)) == 1


def test_nop_and_repeat_timing():
    p = program(mem0_rd=[Instr.make("nop", n=3), READ, Instr.make("repeat", n=2, d=3, stride=2),
                         Instr.make("nop", n=1), READ])
    assert issues(p, "mem0.rd") == [
        (3, "read 4 -> e0"), (6, "read 6 -> e0"), (9, "read 8 -> e0"),
        (11, "read 4 -> e0"), (12, "halt")]
    assert halt_cycles(p)["mem0.rd"] == 12
    assert cycle_count(p) == 13


def test_cycle_count_waits_for_the_longest_latency():
    rq = Instr.make("requant", a=Stream("e", 0, 4), d=Stream("e", 0), mul=1, shift=0, zp=0)
    p = program(vxm0_alu0=[rq])
    assert cycle_count(p) == max(2, latency(rq.op))


@pytest.mark.parametrize("queue, message", [
    ([Instr.make("repeat", n=1, d=1)], "repeat must follow a slice instruction"),
    ([READ, Instr.make("nop", n=1), Instr.make("repeat", n=1, d=1)], "repeat must follow"),
    ([Instr.make("add.i8", a=Stream("e", 0), b=1, d=Stream("e", 1)),
      Instr.make("repeat", n=1, d=1, stride=1)], "add.i8 has no address"),
])
def test_bad_queues(queue, message):
    name = "vxm0.alu0" if "add" in message else "mem0.rd"
    p = Program.empty(TINY)
    p.queues[name] = queue + [Instr.make("halt")]
    with pytest.raises(ProgramError, match=message):
        cycle_count(p)
