"""The MXM slice against a numpy reference written here, cycle by cycle.

Each test builds a schedule of issues on the slice's three queues (``w``, ``mm``, ``acc``),
with repeat offsets, and runs it on the slice while the testbench fills every stream cell at the
slice with fresh bytes each cycle (or with bytes the schedule asks for). The reference follows
the MXM's definition: ``lw`` writes shadow rows at the end of its cycle, ``iw`` copies the shadow
into the active weights at the end of its cycle, ``mm`` multiplies by the active weights of its
issue cycle and writes the accumulator row at the end of cycle t + latency, ``accrd`` reads the
row as of the end of its issue cycle and drives the group latency("accrd") later. In every cycle
the slice's stream writes must be exactly the group due then and nothing else. Each test also
counts the cases it is about (an mm on each side of an iw, an accrd on each side of a write) so
that it cannot pass without exercising them.
"""

import random
from collections import Counter

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from conveyor.hw.machine.config import GROUP, PRESETS, CoreConfig
from conveyor.hw.machine.isa import MAX_WINDOW, Instr, Stream, encode
from conveyor.hw.machine.timing import Timing
from conveyor.hw.rtl.mxm import MxmSlice

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
MM = latency("mm.set")
ACCRD = latency("accrd")
IW = latency("iw")
QUEUES = ("w", "mm", "acc")

#: Test setups: a config and how many weight columns use the LUT multipliers. ``odd12`` has a
#: lane count that is not a power of two (an adder tree with odd levels) and a short
#: accumulator memory.
SETUPS = {
    "tiny": (PRESETS["tiny"], 0),
    "small16": (PRESETS["small16"], 0),
    "small16-lut7": (PRESETS["small16"], 7),
    "odd12": (CoreConfig(name="odd12", lanes=12, streams=8, floorplan=("mem", "mxm"),
                         mem_depth=16, vxm_alus=1, acc_depth=16), 5),
}

EDGE8 = [0x80, 0x7F, 0x00, 0xFF, 0x01, 0x81, 0xFE, 0x40]


def wrap32(values):
    """int64 values as two's-complement int32."""
    return (values - INT32_MIN) % (1 << 32) + INT32_MIN


def signed_lanes(data: list[int]) -> np.ndarray:
    """Unsigned lane bytes -> signed int8 values (as int64)."""
    return np.array(data, dtype=np.uint8).view(np.int8).astype(np.int64)


# --- the reference -----------------------------------------------------------------------------

class Reference:
    """The MXM slice, one cycle at a time, with the state it defines and checks of validity.

    Members
    -------
    expected : cycle -> {(dir, stream): lane bytes} that the slice writes in that cycle.
    stats : counts of the cases a test is about.
    """

    def __init__(self, cfg):
        lanes, depth = cfg.lanes, cfg.acc_depth
        self.lanes, self.depth = lanes, depth
        self.shadow = np.zeros((lanes, lanes), np.int64)  # [row i][lane j]
        self.shadow_ok = np.zeros(lanes, bool)
        self.active = np.zeros((lanes, lanes), np.int64)
        self.active_ok = np.zeros(lanes, bool)
        self.acc = np.zeros((depth, lanes), np.int64)
        self.acc_ok = np.zeros(depth, bool)
        self.pending: dict[int, tuple[int, bool, np.ndarray]] = {}  # cycle -> (row, add, y)
        self.installs: dict[int, bool] = {}  # cycle of an iw -> it changed the weights
        self.expected: dict[int, dict] = {}
        self.stats: Counter = Counter()

    def preload(self, row: int, values):
        self.acc[row] = values
        self.acc_ok[row] = True

    def cycle(self, t: int, cells: dict, issued: dict):
        """Cycle t: ``cells`` (dir, stream) -> lane bytes, ``issued`` queue -> (instr, offset)."""
        rows = {}
        if "w" in issued:
            instr, off = issued["w"]
            if instr.op.mnemonic == "lw":
                s, r = instr["s"], instr["row"] + off
                assert 0 <= r < self.lanes, f"cycle {t}: lw row {r}"
                self.stats["lw", s.width] += 1
                self.stats["lw past the last row"] += r + s.width > self.lanes
                for k in range(s.width):
                    if r + k < self.lanes:
                        rows[r + k] = signed_lanes(cells[s.dir, s.index + k])
            else:
                self.installs[t] = not np.array_equal(self.active, self.shadow)
        if "mm" in issued:
            instr, off = issued["mm"]
            a, s = instr["a"] + off, instr["s"]
            assert 0 <= a < self.depth, f"cycle {t}: mm row {a}"
            assert self.active_ok.all(), f"cycle {t}: mm before every weight row is installed"
            if self.installs.get(t):
                self.stats["mm in the iw's cycle"] += 1
            if self.installs.get(t - IW):
                self.stats["mm latency(iw) after the iw"] += 1
            y = signed_lanes(cells[s.dir, s.index]) @ self.active
            self.pending[t + MM] = (a, instr.op.mnemonic == "mm.add", y)
        if t in self.pending:
            a, add, y = self.pending.pop(t)
            if add:
                assert self.acc_ok[a], f"cycle {t}: mm.add to undefined row {a}"
                total = self.acc[a] + y
                self.stats["wrap up"] += int(np.sum(total > INT32_MAX))
                self.stats["wrap down"] += int(np.sum(total < INT32_MIN))
            else:
                total = y
            new = wrap32(total)
            self.written = (t, a, not np.array_equal(new, self.acc[a]))
            self.acc[a] = new
            self.acc_ok[a] = True
        else:
            self.written = None
        if "acc" in issued:
            instr, off = issued["acc"]
            a, d = instr["a"] + off, instr["d"]
            assert 0 <= a < self.depth and self.acc_ok[a], f"cycle {t}: accrd of row {a}"
            if self.written and self.written[1:] == (a, True):
                self.stats["accrd sees a write at the end of its cycle"] += 1
            if t + 1 in self.pending and self.pending[t + 1][0] == a:
                self.stats["accrd just before a write"] += 1
            self.stats["accrd", d.dir, d.index] += 1
            lanes = [int(v) & 0xFFFF_FFFF for v in self.acc[a]]
            self.expected[t + ACCRD] = {(d.dir, d.index + k): [v >> 8 * k & 0xFF for v in lanes]
                                        for k in range(GROUP)}
        for r, values in rows.items():
            self.shadow[r] = values
            self.shadow_ok[r] = True
        if t in self.installs:
            self.active = self.shadow.copy()
            self.active_ok = self.shadow_ok.copy()


# --- programs ----------------------------------------------------------------------------------

class Program:
    """A schedule of issues on the three queues, and stream cells fixed by the schedule."""

    def __init__(self, cfg, seed: int):
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.issues: dict[int, dict[str, tuple[Instr, int]]] = {}
        self.cells: dict[int, dict[tuple[str, int], list[int]]] = {}

    def issue(self, t: int, queue: str, instr: Instr, offset: int = 0):
        slot = self.issues.setdefault(t, {})
        assert queue not in slot, f"two issues on {queue} in cycle {t}"
        slot[queue] = (instr, offset)

    def free(self, t: int, queue: str) -> bool:
        return queue not in self.issues.get(t, {})

    @property
    def length(self) -> int:
        return max(self.issues, default=-1) + 1

    def split(self, target: int, limit: int) -> tuple[int, int]:
        """An address field (0..limit-1) and a repeat offset that add up to ``target``."""
        if self.rng.random() < 0.5:
            return target, 0
        field = self.rng.randrange(limit)
        return field, target - field

    def stream(self, width: int = 1, aligned: int = 1) -> Stream:
        """A random stream (or window of ``width``) whose index is a multiple of ``aligned``."""
        index = self.rng.randrange(0, self.cfg.streams - width + 1, aligned)
        return Stream(self.rng.choice("ew"), index, width)

    def lw(self, t: int, row: int, n: int, *, window: Stream | None = None):
        s = window or self.stream(n)
        field, offset = self.split(row, self.cfg.lanes)
        self.issue(t, "w", Instr.make("lw", s=s, row=field), offset)

    def iw(self, t: int):
        self.issue(t, "w", Instr.make("iw"))

    def mm(self, t: int, row: int, *, add: bool = False, s: Stream | None = None):
        field, offset = self.split(row, self.cfg.acc_depth)
        self.issue(t, "mm", Instr.make("mm.add" if add else "mm.set", s=s or self.stream(),
                                       a=field), offset)

    def accrd(self, t: int, row: int, *, d: Stream | None = None):
        field, offset = self.split(row, self.cfg.acc_depth)
        self.issue(t, "acc", Instr.make("accrd", a=field, d=d or self.stream(GROUP, GROUP)),
                   offset)

    def load_all_rows(self, t: int) -> int:
        """lw every shadow row, MAX_WINDOW rows a cycle where the streams allow; the next free
        cycle of the w queue."""
        n = min(MAX_WINDOW, self.cfg.streams)
        for row in range(0, self.cfg.lanes, n):
            self.lw(t, row, n)
            t += 1
        return t

    def prologue(self, rows) -> int:
        """Weights loaded and installed, the shadow loaded again with other weights, and the
        accumulator ``rows`` set; the first cycle from which all of them can be read."""
        t = self.load_all_rows(0)
        self.iw(t)
        first_mm = t + IW
        t = self.load_all_rows(t + 1)
        for k, row in enumerate(rows):
            self.mm(first_mm + k, row)
        return max(t, first_mm + len(rows) - 1 + MM)


# --- the bench -----------------------------------------------------------------------------------

class _Probe(MxmSlice):
    """The slice, with a handle on its accumulator memory (to preload rows near the int32
    limits) and on its LUT multiplier submodule."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        self.acc_rows = m.submodules["acc_rows"]
        self.lutmul = m.submodules["lutmul"] if self.lut_columns else None
        return m


def random_cells(rng, cfg) -> dict[tuple[str, int], list[int]]:
    return {(d, s): [rng.choice(EDGE8) if rng.random() < 0.3 else rng.randrange(256)
                     for _ in range(cfg.lanes)]
            for d in "ew" for s in range(cfg.streams)}


def run(setup: str, prog: Program, *, preload=()):
    """Run ``prog`` on the slice of ``setup``; returns (mismatches, reference, counts), counts
    being the cycles checked with a group write and without one."""
    cfg, lut_columns = SETUPS[setup]
    dut = _Probe(config=cfg, slice=cfg.slice_named("mxm0"), lut_columns=lut_columns)
    ref = Reference(cfg)
    rng = random.Random(prog.rng.random())
    errors: list[str] = []
    counts = Counter()

    async def bench(ctx):
        for row, values in preload:
            ctx.set(dut.acc_rows.data[row],
                    sum((int(v) & 0xFFFF_FFFF) << 32 * j for j, v in enumerate(values)))
            ref.preload(row, values)
        for t in range(prog.length + MM + ACCRD + 1):
            cells = {**random_cells(rng, cfg), **prog.cells.get(t, {})}
            for (d, s), lanes in cells.items():
                port = (dut.east if d == "e" else dut.west)[s]
                ctx.set(port.cell, int.from_bytes(bytes(lanes), "little"))
            issued = prog.issues.get(t, {})
            for q in QUEUES:
                port = getattr(dut, q)
                instr, offset = issued.get(q, (None, 0))
                ctx.set(port.issue, instr is not None)
                ctx.set(port.instr, encode(instr) if instr is not None else 0)
                ctx.set(port.offset, offset)
            ref.cycle(t, cells, issued)
            want = ref.expected.pop(t, {})
            counts["writes" if want else "quiet"] += 1
            for d in "ew":
                for s in range(cfg.streams):
                    port = (dut.east if d == "e" else dut.west)[s]
                    we = ctx.get(port.we)
                    data = list(ctx.get(port.data).to_bytes(cfg.lanes, "little"))
                    if we != ((d, s) in want) or (we and data != want[d, s]):
                        errors.append(f"cycle {t}: {d}{s} we={we} data={data}, want "
                                      f"{want.get((d, s))}")
            await ctx.tick()
        assert not ref.expected and not ref.pending

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return errors, ref, counts


setups = pytest.mark.parametrize("setup", list(SETUPS))


# --- tests -----------------------------------------------------------------------------------------

@setups
def test_lw_windows_rows_past_the_end_and_offsets(setup):
    """lw of 1..4 rows at any row (windows running past the last row write only the rows that
    exist), then iw and mm.set; every weight row is seen through the products."""
    cfg, _ = SETUPS[setup]
    prog = Program(cfg, seed=1)
    rows = list(range(4)) + [cfg.acc_depth - 1]
    t = prog.prologue(rows)
    for _ in range(8):
        for _ in range(prog.rng.randint(2, 5)):
            n = prog.rng.randint(1, min(MAX_WINDOW, cfg.streams))
            last = prog.rng.random() < 0.4
            row = cfg.lanes - prog.rng.randint(1, n) if last else prog.rng.randrange(cfg.lanes)
            prog.lw(t, row, n)
            t += 1
        prog.iw(t)
        for k, row in enumerate(prog.rng.sample(rows, 3)):
            prog.mm(t + IW + k, row, add=prog.rng.random() < 0.5)
            prog.accrd(t + IW + k + MM, row)
        t += IW + 3
    errors, ref, counts = run(setup, prog)
    assert errors[:5] == []
    assert all(ref.stats["lw", n] >= 3 for n in range(1, min(MAX_WINDOW, cfg.streams) + 1))
    assert ref.stats["lw past the last row"] >= 5
    assert counts["writes"] >= 24


@setups
def test_iw_boundary_while_mm_streams(setup):
    """An mm in every cycle, each read back exactly latency(mm) later, while the w queue
    reloads rows and installs them: the mm in the iw's cycle uses the old weights, the next one
    the new. Includes an lw right after an iw and iws in consecutive cycles."""
    cfg, _ = SETUPS[setup]
    prog = Program(cfg, seed=2)
    ring = prog.rng.sample(range(cfg.acc_depth), MM + 2)
    start = prog.prologue(ring)
    cycles = 90
    for k in range(cycles):
        prog.mm(start + k, ring[k % len(ring)], add=k % 3 == 2)
        prog.accrd(start + k + MM, ring[k % len(ring)])
    t = start
    while t < start + cycles - 6:
        pattern = prog.rng.choice(["lw iw", "iw lw", "iw iw", "lw lw iw", "iw"])
        for word in pattern.split():
            if word == "iw":
                prog.iw(t)
            else:
                n = prog.rng.randint(1, min(MAX_WINDOW, cfg.streams))
                prog.lw(t, prog.rng.randrange(cfg.lanes), n)
            t += 1
        t += prog.rng.randint(0, 3)
    errors, ref, counts = run(setup, prog)
    assert errors[:5] == []
    assert ref.stats["mm in the iw's cycle"] >= 10
    assert ref.stats["mm latency(iw) after the iw"] >= 10
    assert ref.stats["accrd sees a write at the end of its cycle"] >= cycles - 5
    assert counts["writes"] >= cycles


@setups
def test_back_to_back_accumulation_and_read_timing(setup):
    """mm.set then a long run of mm.add to one row in consecutive cycles (and then to two rows
    alternating), with an accrd of the row in every cycle: an accrd sees exactly the mms issued
    latency(mm) or more cycles before it, never one issued a cycle later."""
    cfg, _ = SETUPS[setup]
    prog = Program(cfg, seed=3)
    a, b = cfg.acc_depth - 1, 1
    start = prog.prologue([a, b])
    run_len = 40
    prog.mm(start, a)
    for k in range(1, run_len):
        prog.mm(start + k, a, add=k != run_len // 2)  # a second mm.set halfway
    for k in range(run_len + MM + 2):
        prog.accrd(start + k, a)
    t = start + run_len
    for k in range(run_len):
        prog.mm(t + k, (a, b)[k % 2], add=True)
        prog.accrd(t + MM + 2 + k, (a, b)[k % 2])
    errors, ref, counts = run(setup, prog)
    assert errors[:5] == []
    assert ref.stats["accrd sees a write at the end of its cycle"] >= run_len
    assert ref.stats["accrd just before a write"] >= run_len
    assert counts["writes"] >= 2 * run_len


@setups
def test_int32_wrap(setup):
    """mm.add wraps: rows start near INT32_MAX and INT32_MIN, the weights and the activations
    are all -128 (products +16384) or the activations all 127 (products -16256)."""
    cfg, _ = SETUPS[setup]
    lanes = cfg.lanes
    prog = Program(cfg, seed=4)
    t = 0
    s = Stream("w", 0, min(MAX_WINDOW, cfg.streams))
    for row in range(0, lanes, s.width):
        prog.lw(t, row, s.width, window=s)
        prog.cells[t] = {("w", k): [0x80] * lanes for k in range(s.width)}
        t += 1
    prog.iw(t)
    t += IW
    step = lanes * 128 * 128
    # every lane wraps within the four mm.add of its row
    preload = [(0, [INT32_MAX - k % 4 * step // 2 for k in range(lanes)]),
               (1, [INT32_MIN + k % 4 * step // 2 for k in range(lanes)])]
    for k in range(8):
        row, byte = (0, 0x80) if k % 2 == 0 else (1, 0x7F)
        prog.mm(t + k, row, add=True, s=Stream("e", 1))
        prog.cells[t + k] = {("e", 1): [byte] * lanes}
        prog.accrd(t + k + MM, row)
    errors, ref, _ = run(setup, prog, preload=preload)
    assert errors[:5] == []
    assert ref.stats["wrap up"] >= lanes and ref.stats["wrap down"] >= lanes


@setups
def test_accrd_every_group_exactly(setup):
    """accrd to every int32 group of both directions; in every cycle the slice writes the due
    group and nothing else (also checked in the other tests), and nothing while idle."""
    cfg, _ = SETUPS[setup]
    prog = Program(cfg, seed=5)
    rows = [0, 2, cfg.acc_depth // 2]
    t = prog.prologue(rows)
    groups = [Stream(d, i, GROUP) for d in "ew" for i in range(0, cfg.streams, GROUP)]
    for k, d in enumerate(groups * 3):
        prog.accrd(t + 2 * k + (k % 2), prog.rng.choice(rows), d=d)
    errors, ref, counts = run(setup, prog)
    assert errors[:5] == []
    assert all(ref.stats["accrd", g.dir, g.index] >= 3 for g in groups)
    assert counts["quiet"] >= len(groups)


@setups
def test_random_programs(setup):
    """All three queues at once, random ops, rows, streams and repeat offsets."""
    cfg, _ = SETUPS[setup]
    prog = Program(cfg, seed=6)
    rows = sorted({prog.rng.randrange(cfg.acc_depth) for _ in range(6)})
    start = prog.prologue(rows)
    cycles = 200
    for t in range(start, start + cycles):
        r = prog.rng.random()
        if r < 0.35:
            n = prog.rng.randint(1, min(MAX_WINDOW, cfg.streams))
            prog.lw(t, prog.rng.randrange(cfg.lanes), n)
        elif r < 0.5:
            prog.iw(t)
        if prog.rng.random() < 0.7:
            prog.mm(t, prog.rng.choice(rows), add=prog.rng.random() < 0.6)
        if prog.rng.random() < 0.7:
            prog.accrd(t, prog.rng.choice(rows))
    errors, ref, counts = run(setup, prog)
    assert errors[:5] == []
    assert counts["writes"] >= cycles // 2 and counts["quiet"] >= 20
    assert ref.stats["mm in the iw's cycle"] >= 5


def test_lut_columns_submodule_and_checks():
    cfg = PRESETS["small16"]
    mxm = cfg.slice_named("mxm0")
    with pytest.raises(ValueError, match="lut_columns must be an integer between 0 and 16"):
        MxmSlice(config=cfg, slice=mxm, lut_columns=17)
    with pytest.raises(ValueError, match="needs a mxm slice"):
        MxmSlice(config=cfg, slice=cfg.slice_named("mem0"))
    for columns in (0, 7, 16):
        dut = _Probe(config=cfg, slice=mxm, lut_columns=columns)
        Fragment.get(dut, None)
        assert (dut.lutmul is None) == (columns == 0)
        if columns:
            assert len(dut.lutmul.w) == columns
    assert {"w", "mm", "acc", "east", "west"} == set(dut.signature.members)


@pytest.mark.slow
def test_int32_wrap_by_accumulation():
    """The wrap reached honestly, without preloading: all weights and activations -128 give
    lane sums of L * 2^14 = 2^18 on small16, and 2^13 of them reach 2^31."""
    setup = "small16-lut7"
    cfg, _ = SETUPS[setup]
    lanes = cfg.lanes
    prog = Program(cfg, seed=7)
    s = Stream("w", 0, MAX_WINDOW)
    for row in range(0, lanes, MAX_WINDOW):
        prog.lw(row // MAX_WINDOW, row, MAX_WINDOW, window=s)
        prog.cells[row // MAX_WINDOW] = {("w", k): [0x80] * lanes for k in range(MAX_WINDOW)}
    start = lanes // MAX_WINDOW
    prog.iw(start)
    start += IW
    adds = (1 << 31) // (lanes * 128 * 128)
    for k in range(adds + 2):
        prog.mm(start + k, 5, add=k > 0, s=Stream("e", 2))
        prog.cells[start + k] = {("e", 2): [0x80] * lanes}
        if k % 256 == 0 or k > adds - 3:
            prog.accrd(start + k + MM, 5)
    errors, ref, _ = run(setup, prog)
    assert errors[:5] == []
    assert ref.stats["wrap up"] == lanes
