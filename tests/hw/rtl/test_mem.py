"""The MEM slice on its own: host access, read and write timing, read-before-write."""

import pytest
from amaranth.sim import Simulator

from conveyor.hw.machine.config import CoreConfig
from conveyor.hw.machine.isa import Instr, Stream, encode
from conveyor.hw.machine.timing import Timing
from conveyor.hw.rtl.mem import MemSlice

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency


def make(mem_ports: int):
    cfg = CoreConfig(name="m", lanes=8, streams=4, floorplan=("mem",), mem_depth=32,
                     vxm_alus=1, mem_ports=mem_ports)
    dut = MemSlice(config=cfg, slice=cfg.slices[0])
    rd = dut.rd if mem_ports == 2 else dut.rw
    wr = dut.wr if mem_ports == 2 else dut.rw
    return cfg, dut, rd, wr


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


async def host_write(ctx, dut, word: int, value: int):
    for chunk in range(2):
        ctx.set(dut.host.addr, word)
        ctx.set(dut.host.wdata, value >> 32 * chunk & 0xFFFF_FFFF)
        ctx.set(dut.host.wen, 1 << chunk)
        await ctx.tick()
    ctx.set(dut.host.wen, 0)


async def host_read(ctx, dut, word: int) -> int:
    ctx.set(dut.host.addr, word)
    await ctx.tick()
    return ctx.get(dut.host.rdata)


def issue(ctx, port, instr):
    ctx.set(port.issue, instr is not None)
    ctx.set(port.instr, encode(instr) if instr is not None else 0)


def test_host_chunks_round_trip():
    _, dut, _, _ = make(2)

    async def bench(ctx):
        await host_write(ctx, dut, 3, 0x0123_4567_89AB_CDEF)
        await host_write(ctx, dut, 4, 0xFEDC_BA98_7654_3210)
        assert await host_read(ctx, dut, 3) == 0x0123_4567_89AB_CDEF
        assert await host_read(ctx, dut, 4) == 0xFEDC_BA98_7654_3210

    run(dut, bench)


def test_read_drives_stream_after_latency():
    _, dut, rd, _ = make(2)
    lat = latency("read")

    async def bench(ctx):
        await host_write(ctx, dut, 7, 0x1122_3344_5566_7788)
        issue(ctx, rd, Instr.make("read", addr=5, d=Stream("w", 3)))
        ctx.set(rd.offset, 2)  # repeat's offset: word 7
        seen = []
        for _ in range(lat + 2):
            seen.append([(ctx.get(p.we), ctx.get(p.data)) for p in dut.west])
            assert not any(ctx.get(p.we) for p in dut.east)
            await ctx.tick()
            issue(ctx, rd, None)
            ctx.set(rd.offset, 0)
        for c, row in enumerate(seen):
            want = (1, 0x1122_3344_5566_7788) if c == lat else (0, None)
            assert row[3][0] == want[0], c
            if want[0]:
                assert row[3][1] == want[1]
            assert not any(we for we, _ in row[:3])

    run(dut, bench)


@pytest.mark.parametrize("mem_ports", [1, 2])
def test_write_captures_cell_and_read_in_same_cycle_sees_old_word(mem_ports):
    _, dut, rd, wr = make(mem_ports)

    async def bench(ctx):
        await host_write(ctx, dut, 9, 0xAAAA)
        ctx.set(dut.east[1].cell, 0x5555_6666_7777_8888)
        issue(ctx, wr, Instr.make("write", s=Stream("e", 1), addr=9))
        if mem_ports == 2:  # a read of the same word in the same cycle returns the old word
            issue(ctx, rd, Instr.make("read", addr=9, d=Stream("e", 0)))
        await ctx.tick()
        ctx.set(dut.east[1].cell, 0)
        issue(ctx, wr, None)
        if mem_ports == 2:
            issue(ctx, rd, None)
            assert ctx.get(dut.east[0].we) and ctx.get(dut.east[0].data) == 0xAAAA
        # the next cycle's read sees the new word
        issue(ctx, rd, Instr.make("read", addr=9, d=Stream("e", 2)))
        await ctx.tick()
        issue(ctx, rd, None)
        assert ctx.get(dut.east[2].we) and ctx.get(dut.east[2].data) == 0x5555_6666_7777_8888
        assert await host_read(ctx, dut, 9) == 0x5555_6666_7777_8888

    run(dut, bench)
