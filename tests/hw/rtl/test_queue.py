"""The instruction queue issues exactly what :func:`conveyor.hw.machine.program.timeline` says."""

import random

import pytest
from amaranth.sim import Simulator

from conveyor.hw.machine.config import CoreConfig
from conveyor.hw.machine.isa import Instr, Stream, decode, encode
from conveyor.hw.machine.program import Program, timeline
from conveyor.hw.rtl.queue import InstructionQueue

# One MEM slice with a single queue, so reads and writes (both with addresses) share it.
CFG = CoreConfig(name="q", lanes=4, streams=4, floorplan=("mem",), mem_depth=256, vxm_alus=1,
                 mem_ports=1, queue_depth=64)
QUEUE = CFG.queues[0]


def simulate(words: list[Instr], cycles: int):
    """Load ``words`` into a queue, start it; per cycle (issue cycle, instr with the offset
    applied) and the cycle of its halt."""
    dut = InstructionQueue(config=CFG, queue=QUEUE)
    issued, halts = [], []

    async def bench(ctx):
        for i, instr in enumerate(words):
            word = encode(instr)
            for half in range(2):
                ctx.set(dut.host.addr, i)
                ctx.set(dut.host.wdata, word >> 32 * half & 0xFFFF_FFFF)
                ctx.set(dut.host.wen, 1 << half)
                await ctx.tick()
        ctx.set(dut.host.wen, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.running, 1)
        for cycle in range(cycles):
            if ctx.get(dut.port.issue):
                instr = decode(ctx.get(dut.port.instr), QUEUE.role)
                offset = ctx.get(dut.port.offset)
                if offset:
                    instr = Instr(instr.op, tuple((k, v + offset if k == "addr" else v)
                                                  for k, v in instr.args))
                issued.append((cycle, instr))
            if ctx.get(dut.halt):
                halts.append(cycle)
            assert ctx.get(dut.halted) == bool(halts and halts[0] < cycle)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return issued, halts


def expected(words: list[Instr]):
    program = Program(CFG, {QUEUE.name: words})
    issues = list(timeline(program))
    slice_issues = [(i.cycle, i.instr) for i in issues if i.instr.op.mnemonic != "halt"]
    return slice_issues, [i.cycle for i in issues if i.instr.op.mnemonic == "halt"]


def check(words: list[Instr]):
    want_issues, want_halts = expected(words)
    got_issues, got_halts = simulate(words, want_halts[0] + 4)
    assert got_issues == want_issues
    assert got_halts == want_halts


def R(addr):
    return Instr.make("read", addr=addr, d=Stream("e", 0))


def W(addr):
    return Instr.make("write", s=Stream("e", 1), addr=addr)


def test_halt_only_halts_in_cycle_0():
    check([Instr.make("halt")])


def test_back_to_back_instructions():
    check([R(1), W(2), R(3), Instr.make("halt")])


def test_nop_lengths():
    check([Instr.make("nop", n=1), R(1), Instr.make("nop", n=3), W(2), Instr.make("nop", n=2),
           Instr.make("halt")])


def test_repeat_with_stride_and_gap():
    check([R(10), Instr.make("repeat", n=3, d=2, stride=5), W(4),
           Instr.make("repeat", n=2, d=1, stride=-1), Instr.make("halt")])


def test_repeat_d1_then_repeat_again_after_instruction():
    check([W(0), Instr.make("repeat", n=1, d=1), R(7), Instr.make("repeat", n=4, d=3, stride=2),
           Instr.make("nop", n=2), Instr.make("halt")])


@pytest.mark.parametrize("seed", range(8))
def test_random_queues_match_timeline(seed):
    rng = random.Random(seed)
    words, prev_slice = [], False
    for _ in range(rng.randint(3, 12)):
        choice = rng.random()
        if prev_slice and choice < 0.3:
            words.append(Instr.make("repeat", n=rng.randint(1, 4), d=rng.randint(1, 3),
                                    stride=rng.randint(-3, 3)))
            prev_slice = False
        elif choice < 0.5:
            words.append(Instr.make("nop", n=rng.randint(1, 4)))
            prev_slice = False
        else:
            words.append(rng.choice([R, W])(rng.randint(20, 200)))
            prev_slice = True
    check(words + [Instr.make("halt")])
