"""Whole programs on the core through the host port: MEM contents against numpy and ``cycles``
against :func:`conveyor.hw.machine.program.cycle_count`.

Programs are placed from the config's floorplan (positions decide when a value arrives), so the
same program builders run on every preset.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hostport import HostPort, run_program

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import Instr, Stream, encode
from conveyor.hw.machine.program import DataBlock, Program, cycle_count
from conveyor.hw.rtl.core import Core

I = Instr.make


def e(i, w=1):
    return Stream("e", i, w)


def w(i, wd=1):
    return Stream("w", i, wd)


def after(cycle: int, *instrs) -> list[Instr]:
    """``instrs`` with the first one issuing in ``cycle``, then a halt."""
    return ([I("nop", n=cycle)] if cycle else []) + list(instrs) + [I("halt")]


def places(cfg):
    """Position of the VXM, the MEM slices west of it (nearest last) and east of it."""
    pv = cfg.slice_named("vxm0").position
    west = [s for s in cfg.mem_slices if s.position < pv]
    east = [s for s in cfg.mem_slices if s.position > pv]
    return pv, west, east


def rand8(rng, shape):
    values = rng.integers(-128, 128, size=shape).astype(np.int8)
    values.flat[:4] = [-128, 127, 0, -1]
    return values


def wrap8(x):
    return ((np.asarray(x, np.int64) + 128) % 256 - 128).astype(np.int8)


def run_and_check_cycles(program, reads):
    cycles, mem = run_program(program, reads)
    assert cycles == cycle_count(program)
    return mem


# --- programs ----------------------------------------------------------------------------------

def east_add_program(cfg, rng):
    """mem0 -> add.i8 (repeat) -> first MEM east of the VXM, writes with stride 2."""
    pv, west, east = places(cfg)
    src, dst = west[0], east[0]
    x = rand8(rng, (4, cfg.lanes))
    p = Program.empty(cfg)
    p.data = [DataBlock(src.name, 10, x)]
    t_vxm = 1 + pv - src.position
    t_dst = t_vxm + 1 + dst.position - pv
    p.queues[f"{src.name}.rd"] = after(0, I("read", addr=10, d=e(0)),
                                       I("repeat", n=3, d=1, stride=1))
    p.queues["vxm0.alu0"] = after(t_vxm, I("add.i8", a=e(0), b=7, d=e(1)),
                                  I("repeat", n=3, d=1))
    p.queues[f"{dst.name}.wr"] = after(t_dst, I("write", s=e(1), addr=20),
                                       I("repeat", n=3, d=1, stride=2))
    return p, {dst.name: (20, 7)}, lambda mem: mem[dst.name][::2], wrap8(x.astype(int) + 7)


@pytest.mark.parametrize("preset", ["tiny", "small16"])
def test_east_add_with_repeat_and_stride(preset):
    p, reads, pick, want = east_add_program(PRESETS[preset], np.random.default_rng(1))
    mem = run_and_check_cycles(p, reads)
    np.testing.assert_array_equal(pick(mem), want)


def test_west_sub_with_gaps_and_negative_stride():
    """The easternmost MEM -> sub.i8 on ALU1 -> mem0, every other cycle, addresses down."""
    cfg = PRESETS["tiny"]
    rng = np.random.default_rng(2)
    pv, west, east = places(cfg)
    src, dst = east[-1], west[0]
    x = rand8(rng, (3, cfg.lanes))
    p = Program.empty(cfg)
    p.data = [DataBlock(src.name, 0, x)]
    t_vxm = 1 + src.position - pv
    t_dst = t_vxm + 1 + pv - dst.position
    p.queues[f"{src.name}.rd"] = after(0, I("read", addr=0, d=w(2)),
                                       I("repeat", n=2, d=2, stride=1))
    p.queues["vxm0.alu1"] = after(t_vxm, I("sub.i8", a=w(2), b=100, d=w(3)),
                                  I("repeat", n=2, d=2))
    p.queues[f"{dst.name}.wr"] = after(t_dst, I("write", s=w(3), addr=5),
                                       I("repeat", n=2, d=2, stride=-1))
    mem = run_and_check_cycles(p, {dst.name: (3, 3)})
    np.testing.assert_array_equal(mem[dst.name][::-1], wrap8(x.astype(int) - 100))


def test_two_alus_chain_at_one_position():
    """mul.i8 of two streams on ALU0; ALU1 reads its result in the cycle it appears (xor with an
    immediate, turned west) and the MEM west of the VXM stores it."""
    cfg = PRESETS["tiny"]
    rng = np.random.default_rng(3)
    pv, west, _ = places(cfg)
    sa, sb, dst = west[0], west[1], west[-1]
    x, y = rand8(rng, (1, cfg.lanes)), rand8(rng, (1, cfg.lanes))
    p = Program.empty(cfg)
    p.data = [DataBlock(sa.name, 0, x), DataBlock(sb.name, 0, y)]
    t_vxm = 1 + pv - sa.position
    t_chain = t_vxm + 2  # latency of mul.i8, from hw.timing
    p.queues[f"{sa.name}.rd"] = after(0, I("read", addr=0, d=e(0)))
    p.queues[f"{sb.name}.rd"] = after(t_vxm - 1 - (pv - sb.position), I("read", addr=0, d=e(1)))
    p.queues["vxm0.alu0"] = after(t_vxm, I("mul.i8", a=e(0), b=e(1), d=e(2)))
    p.queues["vxm0.alu1"] = after(t_chain, I("xor.i8", a=e(2), b=0x55, d=w(1)))
    p.queues[f"{dst.name}.wr"] = after(t_chain + 1 + pv - dst.position,
                                       I("write", s=w(1), addr=9))
    mem = run_and_check_cycles(p, {dst.name: (9, 1)})
    np.testing.assert_array_equal(mem[dst.name], wrap8(x.astype(int) * y) ^ np.int8(0x55))


def requant_np(a, mul, shift, zp, relu=False):
    """The requant of docs/architecture.md on int64 numpy arrays."""
    ab = a.astype(np.int64) * mul
    x = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(x >= 0, x // (1 << 31), -((-x) // (1 << 31)))
    mask = (1 << shift) - 1
    q = (high >> shift) + ((high & mask) > (mask >> 1) + (high < 0))
    d = np.clip(q + zp, -128, 127)
    return (np.maximum(d, zp) if relu else d).astype(np.int8)


@pytest.mark.parametrize("preset", ["tiny", "small16"])
def test_int32_group_add_then_requant(preset):
    """Four MEM slices each put one byte plane of int32 words on e0..e3 so the group arrives
    whole; add.i32 turns it west on w0:4, ALU1 requantises it the same cycle onto e0 (relu),
    and the first MEM east of the VXM stores the two int8 results."""
    cfg = PRESETS[preset]
    rng = np.random.default_rng(4)
    pv, west, east = places(cfg)
    planes, dst = west[-4:], east[0]
    a = rng.integers(-(1 << 31), 1 << 31, size=(2, cfg.lanes), dtype=np.int64)
    a[0, :4] = [-(1 << 31), (1 << 31) - 1, 0, -1]
    raw = a.astype("<i4").view(np.uint8).reshape(2, cfg.lanes, 4)
    imm, mul, shift, zp = 12345, 1_518_500_250, 20, -3
    p = Program.empty(cfg)
    t_vxm = 1 + pv - planes[0].position
    for k, s in enumerate(planes):
        p.data.append(DataBlock(s.name, 30, raw[:, :, k].view(np.int8)))
        p.queues[f"{s.name}.rd"] = after(t_vxm - 1 - (pv - s.position),
                                         I("read", addr=30, d=e(k)),
                                         I("repeat", n=1, d=1, stride=1))
    p.queues["vxm0.alu0"] = after(t_vxm, I("add.i32", a=e(0, 4), b=imm, d=w(0, 4)),
                                  I("repeat", n=1, d=1))
    p.queues["vxm0.alu1"] = after(t_vxm + 1, I("requant.relu", a=w(0, 4), d=e(0), mul=mul,
                                                shift=shift, zp=zp), I("repeat", n=1, d=1))
    p.queues[f"{dst.name}.wr"] = after(t_vxm + 5 + dst.position - pv,
                                       I("write", s=e(0), addr=40),
                                       I("repeat", n=1, d=1, stride=1))
    mem = run_and_check_cycles(p, {dst.name: (40, 2)})
    summed = (a + imm + (1 << 31)) % (1 << 32) - (1 << 31)
    np.testing.assert_array_equal(mem[dst.name], requant_np(summed, mul, shift, zp, relu=True))


def test_halts_only_take_one_cycle():
    p = Program.empty(PRESETS["tiny"])
    assert run_program(p, {})[0] == 1 == cycle_count(p)


def test_latency_tail_counts_after_the_last_halt():
    """A requant issued just before its queue's halt: C = issue + latency, past every halt."""
    cfg = PRESETS["tiny"]
    p = Program.empty(cfg)
    p.queues["vxm0.alu0"] = after(3, I("requant", a=e(0, 4), d=e(1), mul=1, shift=0, zp=0))
    assert cycle_count(p) == 3 + 4
    assert run_program(p, {})[0] == cycle_count(p)


def test_host_reads_queue_words_and_runs_twice():
    """Queue words read back through the host port; a second start gives the same C."""
    cfg = PRESETS["tiny"]
    p, reads, pick, want = east_add_program(cfg, np.random.default_rng(5))
    dut = Core(cfg)
    host = HostPort(dut)
    qi = [q.name for q in cfg.queues].index("vxm0.alu0")

    async def bench(ctx):
        await host.load(ctx, p)
        for j, instr in enumerate(p.queues["vxm0.alu0"]):
            lo = await host.read(ctx, dut.map.queue_addr(qi, j, 0))
            hi = await host.read(ctx, dut.map.queue_addr(qi, j, 1))
            assert hi << 32 | lo == encode(instr)
        first = await host.run(ctx)
        assert ctx.get(dut.done) and not ctx.get(dut.running)
        assert await host.run(ctx) == first == cycle_count(p)
        (name, (addr, count)), = reads.items()
        np.testing.assert_array_equal(pick({name: await host.read_mem(ctx, name, addr, count)}),
                                      want)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("late", [0, 1])
def test_host_write_in_the_start_cycles_is_ignored(late):
    """The queues fetch word 0 in the start cycle and work out cycle 0's issue in the next, so
    a write landing in either would mix programs (the formal queue proof found it): the core
    drops it."""
    cfg = PRESETS["tiny"]
    p = Program.empty(cfg)
    dut = Core(cfg)
    host = HostPort(dut)
    qi = [q.name for q in cfg.queues].index("mem0.rd")
    nop = encode(I("nop", n=50))

    async def bench(ctx):
        await host.load(ctx, p)
        ctx.set(dut.start, 1)
        if late:
            await ctx.tick()
            ctx.set(dut.start, 0)
            assert not ctx.get(dut.running)  # cycle 0 is still to come
        ctx.set(dut.host_addr, dut.map.queue_addr(qi, 0, 0))
        ctx.set(dut.host_wdata, nop & 0xFFFF_FFFF)
        ctx.set(dut.host_we, 1)
        await ctx.tick()
        ctx.set(dut.host_we, 0)
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.done)
        assert ctx.get(dut.cycles) == cycle_count(p) == 1
        assert await host.read(ctx, dut.map.queue_addr(qi, 0, 0)) == 0  # still the halt

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
