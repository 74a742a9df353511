"""Bounded proofs of the stream conveyor against docs/architecture.md ("Streams").

Every slice write port (enable and data, both directions, every stream and position) is a free
input in every cycle. An oracle picks one stream of one direction (``AnyConst``) and follows a
single value or a single diagonal along it with shadow registers, so one small harness covers
every stream, position and cycle within the bound.
"""

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Module, Mux, Signal

from conveyor.hw.machine.config import CoreConfig
from conveyor.hw.rtl.streams import StreamConveyor
from conveyor.sim.formal import bmc

CFG = CoreConfig(name="formal-streams", lanes=4, streams=4, floorplan=("mem",) * 4,
                 mem_depth=16, vxm_alus=1)
P = CFG.positions
WIDTH = 8 * CFG.lanes
#: Long enough for a value to cross every position, plus a few cycles of later writes.
DEPTH = P + 4


class Probe:
    """The stream ports of one (direction, stream), chosen once by the solver, seen at a
    position that may change every cycle."""

    def __init__(self, m: Module, dut: StreamConveyor):
        # Streams 0..S-1 are eastward, S..2S-1 westward.
        lines = [(ports, s) for ports in (dut.east, dut.west) for s in range(CFG.streams)]
        self.line = Signal(range(len(lines)))
        m.d.comb += self.line.eq(AnyConst(range(len(lines))))
        self.west = Signal()
        m.d.comb += self.west.eq(self.line >= CFG.streams)
        self._m, self._lines = m, lines

    def at(self, pos, name: str):
        """(we, data, cell) of the chosen stream at position ``pos``."""
        we, data, cell = (Signal(name=f"{name}_we"), Signal(WIDTH, name=f"{name}_data"),
                          Signal(WIDTH, name=f"{name}_cell"))
        for i, (ports, s) in enumerate(self._lines):
            for p in range(P):
                with self._m.If((self.line == i) & (pos == p)):
                    port = ports[p][s]
                    self._m.d.comb += [we.eq(port.we), data.eq(port.data), cell.eq(port.cell)]
        return we, data, cell

    def next_pos(self, pos):
        """The position the value at ``pos`` moves to, and whether it falls off the edge."""
        return (Mux(self.west, pos - 1, pos + 1),
                Mux(self.west, pos == 0, pos == P - 1))


def conveyor_with_free_writes() -> tuple[Module, StreamConveyor]:
    m = Module()
    m.submodules.dut = dut = StreamConveyor(config=CFG)
    for ports in (dut.east, dut.west):
        for p in range(P):
            for s in range(CFG.streams):
                m.d.comb += [ports[p][s].we.eq(AnySeq(1)), ports[p][s].data.eq(AnySeq(WIDTH))]
    return m, dut


def follow_one_value(*, ignore_overwrites: bool = False) -> Module:
    """Property 1: a value written at p in cycle t is the cell at p+k (east) or p-k (west) in
    cycle t+k, until a slice on the way writes that stream in that cycle.

    ``ignore_overwrites`` drops the "until" clause: a deliberately wrong property."""
    m, dut = conveyor_with_free_writes()
    probe = Probe(m, dut)
    following = Signal()
    value = Signal(WIDTH)
    pos = Signal(range(P))

    # The solver picks the write to follow: any position, any cycle.
    begin_pos = Signal(range(P))
    m.d.comb += begin_pos.eq(AnySeq(range(P)))
    begin_we, begin_data, begin_cell = probe.at(begin_pos, "begin")
    step_pos, off_edge = probe.next_pos(pos)
    here_we, _, here_cell = probe.at(pos, "here")
    with m.If(following):
        overwritten = here_we & (not ignore_overwrites)
        with m.If(~overwritten):
            m.d.comb += Assert(here_cell == value, "a value moves one position per cycle")
        m.d.sync += pos.eq(step_pos)
        with m.If(overwritten | off_edge):
            m.d.sync += following.eq(0)
    with m.Elif(begin_we & AnySeq(1)):
        # A slice reads its own write in the same cycle.
        m.d.comb += Assert(begin_cell == begin_data, "a write is the cell in its own cycle")
        begin_next, begin_off = probe.next_pos(begin_pos)
        m.d.sync += [following.eq(~begin_off), value.eq(begin_data), pos.eq(begin_next)]
    return m


def follow_one_diagonal() -> Module:
    """Property 2: no value appears that nobody wrote. Along a diagonal (the cells one value
    passes through), every cell equals the latest write on that diagonal so far, or 0 (empty)
    where nothing has been written on it yet.

    A diagonal begins at any position in cycle 0 (the registers start empty) or at the edge
    it enters from in any cycle (nothing comes in from beyond the edge)."""
    m, dut = conveyor_with_free_writes()
    probe = Probe(m, dut)
    following = Signal()
    latest = Signal(WIDTH)  # the last value written on the diagonal; 0 before any write
    pos = Signal(range(P))
    cycle0 = Signal(init=1)
    m.d.sync += cycle0.eq(0)

    begin_pos = Signal(range(P))
    m.d.comb += begin_pos.eq(AnySeq(range(P)))
    edge = Mux(probe.west, P - 1, 0)
    begins = ~following & AnySeq(1) & (cycle0 | (begin_pos == edge))
    at = Mux(begins, begin_pos, pos)
    we, data, cell = probe.at(at, "at")
    expected = Mux(we, data, Mux(begins, 0, latest))
    with m.If(following | begins):
        m.d.comb += Assert(cell == expected, "a cell holds the latest write on its diagonal")
        step_pos, off_edge = probe.next_pos(at)
        m.d.sync += [following.eq(~off_edge), latest.eq(expected), pos.eq(step_pos)]
    return m


def test_a_value_moves_one_position_per_cycle_until_overwritten(tmp_path):
    result = bmc(follow_one_value(), depth=DEPTH, name="follow_value", workdir=tmp_path)
    assert result.passed, str(result)


def test_every_cell_is_the_latest_write_on_its_diagonal(tmp_path):
    result = bmc(follow_one_diagonal(), depth=DEPTH, name="follow_diagonal", workdir=tmp_path)
    assert result.passed, str(result)


def test_the_harness_catches_a_wrong_property(tmp_path):
    # Not vacuous: claiming that values survive overwrites must fail, with a trace.
    result = bmc(follow_one_value(ignore_overwrites=True), depth=DEPTH, name="wrong",
                 workdir=tmp_path)
    assert result.status == "FAIL"
    assert result.trace is not None and result.trace.stat().st_size > 0
    assert any(loc.startswith(__file__) for loc in result.failed), result.failed
