"""Every VXM op on the VXM slice against a reference written here, with exact result timing.

Each cycle the testbench fills every stream cell at the slice with fresh values (biased to edge
cases: INT32_MIN/MAX, 0, -1, byte boundaries), and each ALU may issue a random op with random
operands and immediates. Issues are chosen so that at most one result is due per cycle, with ops
of different latencies in flight together; in every cycle the stream writes of the slice must be
exactly the result due then (stream, data) and nothing else.
"""

import random

import pytest
from amaranth.sim import Simulator

from conveyor.hw.machine.config import GROUP, PRESETS
from conveyor.hw.machine.isa import Instr, Stream, encode
from conveyor.hw.machine.timing import Timing
from conveyor.hw.rtl.vxm import VXM_OPS, VxmSlice

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

CFG = PRESETS["small16"]
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


# --- the reference ---------------------------------------------------------------------------

def wrap(x: int, bits: int) -> int:
    """x as a two's-complement integer of ``bits`` bits."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    x = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return x // (1 << 31) if x >= 0 else -((-x) // (1 << 31))  # truncating division


def divide_by_pot(x: int, shift: int) -> int:
    """gemmlowp RoundingDivideByPOT."""
    mask = (1 << shift) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> shift) + (1 if (x & mask) > threshold else 0)


def requant(a: int, mul: int, shift: int, zp: int, relu: bool) -> int:
    """gemmlowp MultiplyByQuantizedMultiplier + zero point + clamp, as docs/architecture.md."""
    q = divide_by_pot(doubling_high_mul(a, mul), shift)
    d = max(-128, min(127, q + zp))
    return max(d, zp) if relu else d


def reference(mnemonic: str, a: int, b: int | None, fields: dict) -> int:
    """Result of one lane (signed operands in, signed result out)."""
    if mnemonic == "cvt.i8.i32":
        return a
    if mnemonic == "cvt.i32.i8":
        return max(-128, min(127, a))
    if mnemonic == "mulq.i32":
        return doubling_high_mul(a, b)
    if mnemonic == "rshr.i32":
        return divide_by_pot(a, b % 32)
    if mnemonic.startswith("requant.s"):  # requant.s.v: lane j's multiplier from b[j]
        mul = b & ((1 << 31) - 1) if ".v" in mnemonic else fields["mul"]
        total = 31 + fields["shift"]
        d = max(-128, min(127, ((a * mul + (1 << (total - 1))) >> total) + fields["zp"]))
        return max(d, fields["zp"]) if mnemonic.endswith(".relu") else d
    if mnemonic.startswith("requant.v"):
        return requant(a, b & ((1 << 31) - 1), fields["shift"], fields["zp"],
                       mnemonic.endswith(".relu"))
    if mnemonic.startswith("requant"):
        return requant(a, fields["mul"], fields["shift"], fields["zp"],
                       mnemonic.endswith(".relu"))
    name, width = mnemonic.split(".")[0], 8 if mnemonic.endswith("i8") else 32
    result = {
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
        "max": lambda: max(a, b), "min": lambda: min(a, b),
        "and": lambda: a & b, "or": lambda: a | b, "xor": lambda: a ^ b,
        "shl": lambda: a << (b % width), "sra": lambda: a >> (b % width),
        "mov": lambda: a, "relu": lambda: max(a, 0), "neg": lambda: -a, "abs": lambda: abs(a),
    }[name]()
    return wrap(result, width)


# --- stimulus ----------------------------------------------------------------------------------

EDGE32 = [INT32_MIN, INT32_MAX, 0, -1, 1, 3, -3, 5, -5, 127, 128, -128, -129, 255, 1 << 30,
          -(1 << 30), INT32_MIN + 1, INT32_MAX - 1]
EDGE8 = [-128, 127, 0, -1, 1, 7, 8, 9, 31, 32, 33, -8, -9, 64]


def random_group_values(rng) -> list[int]:
    """int32 lane values for one stream group."""
    return [rng.choice(EDGE32) if rng.random() < 0.3 else
            rng.choice([rng.randint(INT32_MIN, INT32_MAX), rng.randint(-300, 300)])
            for _ in range(CFG.lanes)]


def random_cells(rng) -> dict[tuple[str, int], list[int]]:
    """(dir, stream) -> the unsigned byte of each lane."""
    cells = {}
    for d in "ew":
        for base in range(0, CFG.streams, GROUP):
            values = random_group_values(rng)
            for k in range(GROUP):
                cells[d, base + k] = [(v >> 8 * k) & 0xFF for v in values]
    return cells


def operand(cells, s: Stream) -> list[int]:
    """Signed lane values of a stream or group."""
    if s.width == 1:
        return [wrap(v, 8) for v in cells[s.dir, s.index]]
    return [wrap(sum(cells[s.dir, s.index + k][i] << 8 * k for k in range(GROUP)), 32)
            for i in range(CFG.lanes)]


def random_stream(rng, width: int) -> Stream:
    return Stream(rng.choice("ew"), rng.randrange(0, CFG.streams, width), width)


def random_args(rng, op) -> dict:
    args = {}
    for f in op.fields:
        if f.kind == "stream":
            args[f.name] = random_stream(rng, 1)
        elif f.kind == "group":
            args[f.name] = random_stream(rng, GROUP)
        elif f.kind in ("opnd8", "opnd32"):
            wide = f.kind == "opnd32"
            if rng.random() < 0.5:
                args[f.name] = random_stream(rng, GROUP if wide else 1)
            elif wide:
                args[f.name] = rng.choice(EDGE32 + [rng.randint(INT32_MIN, INT32_MAX)])
            else:
                args[f.name] = rng.choice(EDGE8 + [rng.randint(-128, 127)])
        elif f.kind == "mult":
            args[f.name] = rng.choice([0, 1, 1 << 30, INT32_MAX, rng.randint(0, INT32_MAX)])
        elif f.kind == "shift":
            args[f.name] = rng.choice([0, 1, 2, 31, rng.randint(0, 31)])
        elif f.kind == "zp":
            args[f.name] = rng.choice([-128, 0, 127, rng.randint(-128, 127)])
    return args


def expected_writes(instr: Instr, cells) -> dict[tuple[str, int], list[int]]:
    """(dir, stream) -> lane bytes that the instruction's result writes."""
    args = dict(instr.args)
    a = operand(cells, args["a"])
    b = args.get("b")
    b = operand(cells, b) if isinstance(b, Stream) else [b] * CFG.lanes
    out = [reference(instr.op.mnemonic, a[i], b[i], args) for i in range(CFG.lanes)]
    d = args["d"]
    return {(d.dir, d.index + k): [(v >> 8 * k) & 0xFF for v in out] for k in range(d.width)}


# --- the bench -----------------------------------------------------------------------------------

def run_bench(phases, seed: int):
    """Random issues, phase by phase: each phase is (ops, cycles, ALUs that may issue). Checks
    every stream write in every cycle. Returns results checked per (phase, mnemonic) and the
    mismatches per phase."""
    rng = random.Random(seed)
    dut = VxmSlice(config=CFG, slice=CFG.slice_named("vxm0"))
    schedule = [(p, ops, alus) for p, (ops, cycles, alus) in enumerate(phases)
                for _ in range(cycles)]
    due: dict[int, tuple] = {}
    checked: dict[tuple[int, str], int] = {}
    errors: dict[int, list[str]] = {}

    def check(ctx, t):
        instr, phase, writes = due.pop(t, (None, None, {}))
        for d in "ew":
            for s in range(CFG.streams):
                port = (dut.east if d == "e" else dut.west)[s]
                data = list(ctx.get(port.data).to_bytes(CFG.lanes, "little"))
                if ctx.get(port.we) != ((d, s) in writes) or data != writes.get((d, s), data):
                    errors.setdefault(phase, []).append(
                        f"cycle {t}: {d}{s} we={ctx.get(port.we)} data={data}, want "
                        f"{writes.get((d, s))} for {instr}")
        if instr is not None:
            key = (phase, instr.op.mnemonic)
            checked[key] = checked.get(key, 0) + 1

    async def bench(ctx):
        for t in range(len(schedule) + 5):
            cells = random_cells(rng)
            for (d, s), lanes in cells.items():
                port = (dut.east if d == "e" else dut.west)[s]
                ctx.set(port.cell, int.from_bytes(bytes(lanes), "little"))
            for k in range(CFG.vxm_alus):
                ctx.set(dut.alu[k].issue, 0)
                if t >= len(schedule):
                    continue
                phase, ops, alus = schedule[t]
                op = rng.choice(ops)
                if k in alus and t + latency(op) not in due:
                    instr = Instr.make(op.mnemonic, **random_args(rng, op))
                    ctx.set(dut.alu[k].issue, 1)
                    ctx.set(dut.alu[k].instr, encode(instr))
                    due[t + latency(op)] = (instr, phase, expected_writes(instr, cells))
            check(ctx, t)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return checked, errors


#: One phase per op (alternating ALUs), then all ops mixed on both ALUs.
PHASES = [([op], 16, (i % 2,)) for i, op in enumerate(VXM_OPS)] + [(list(VXM_OPS), 150, (0, 1))]


@pytest.fixture(scope="module")
def bench_results():
    return run_bench(PHASES, seed=2024)


@pytest.mark.parametrize("index", range(len(VXM_OPS)), ids=[op.mnemonic for op in VXM_OPS])
def test_op_against_reference(bench_results, index):
    checked, errors = bench_results
    assert errors.get(index, []) == []
    assert checked.get((index, VXM_OPS[index].mnemonic), 0) >= 10


def test_mixed_latencies_on_two_alus(bench_results):
    checked, errors = bench_results
    mixed = len(PHASES) - 1
    assert errors.get(mixed, []) == []
    assert sum(n for (p, _), n in checked.items() if p == mixed) >= 80
    # results of every latency were checked in the mixed phase
    lats = {latency(op) for op in VXM_OPS}
    assert {latency(m) for (p, m), n in checked.items() if p == mixed} == lats


def test_requant_reference_edges():
    """The reference itself on hand-checked values (so the bench compares with the doc)."""
    assert requant(3, 1 << 30, 0, 0, False) == 2       # 1.5 -> 2
    assert requant(-3, 1 << 30, 0, 0, False) == -1     # gemmlowp nudge: -1.5 -> -1
    assert requant(6, 1 << 30, 1, 0, False) == 2       # 3 / 2 = 1.5 -> 2 (away from zero)
    assert requant(-6, 1 << 30, 1, 0, False) == -2     # -3 / 2 = -1.5 -> -2
    assert requant(INT32_MAX, INT32_MAX, 0, 127, False) == 127
    assert requant(INT32_MIN, INT32_MAX, 31, 0, False) == -1
    assert requant(-1000, INT32_MAX, 0, 5, True) == 5
    assert doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX  # the one overflow
    assert doubling_high_mul(INT32_MIN, INT32_MAX) == INT32_MIN + 1
    assert doubling_high_mul(-3, 1 << 30) == -1 and doubling_high_mul(3, 1 << 30) == 2
    assert divide_by_pot(-5, 1) == -3 and divide_by_pot(5, 1) == 3 and divide_by_pot(-4, 3) == -1
