"""The stream conveyor: values hop one position per cycle, writes replace them, edges drop."""

from amaranth.sim import Simulator

from conveyor.hw.machine.config import CoreConfig
from conveyor.hw.rtl.streams import StreamConveyor

CFG = CoreConfig(name="s", lanes=4, streams=4, floorplan=("mem",) * 5, mem_depth=16,
                 vxm_alus=1)


def simulate(writes: dict[tuple[int, str, int, int], int], cycles: int):
    """``writes``: (cycle, dir, stream, position) -> value. Returns every cell per cycle as
    {(cycle, dir, stream, position): value}."""
    dut = StreamConveyor(config=CFG)
    cells = {}

    async def bench(ctx):
        for c in range(cycles):
            for d, ports in (("e", dut.east), ("w", dut.west)):
                for p in range(CFG.positions):
                    for s in range(CFG.streams):
                        value = writes.get((c, d, s, p))
                        ctx.set(ports[p][s].we, value is not None)
                        ctx.set(ports[p][s].data, value or 0)
            for d, ports in (("e", dut.east), ("w", dut.west)):
                for p in range(CFG.positions):
                    for s in range(CFG.streams):
                        cells[c, d, s, p] = ctx.get(ports[p][s].cell)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return cells


def test_east_value_moves_one_position_per_cycle_and_falls_off():
    cells = simulate({(1, "e", 2, 1): 0xDEADBEEF}, 8)
    for c in range(8):
        for p in range(CFG.positions):
            want = 0xDEADBEEF if c >= 1 and p == 1 + (c - 1) else 0
            assert cells[c, "e", 2, p] == want, (c, p)
            assert cells[c, "e", 1, p] == 0 and cells[c, "w", 2, p] == 0


def test_west_value_moves_west():
    cells = simulate({(0, "w", 0, 4): 0x01020304}, 7)
    assert [cells[c, "w", 0, 4 - c] for c in range(5)] == [0x01020304] * 5
    assert all(cells[5, "w", 0, p] == 0 for p in range(CFG.positions))


def test_write_is_seen_in_the_same_cycle_and_replaces_the_passing_value():
    cells = simulate({(0, "e", 3, 0): 0x11111111, (2, "e", 3, 2): 0x22222222}, 6)
    assert cells[0, "e", 3, 0] == 0x11111111
    assert cells[1, "e", 3, 1] == 0x11111111
    assert cells[2, "e", 3, 2] == 0x22222222  # written here: replaces 0x11111111
    assert cells[3, "e", 3, 3] == 0x22222222
    assert cells[4, "e", 3, 4] == 0x22222222
