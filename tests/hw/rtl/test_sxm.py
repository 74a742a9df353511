# amaranth: UnusedElaboratable=no
"""Every SXM op on the SXM slice against a numpy reference written here, with exact timing.

In every cycle the testbench fills every stream cell at the slice with fresh random bytes (a
mix of lane numbers and bytes past the last lane, so ``permute`` maps hold both) and may issue
one instruction, with repeat's ``offset`` on the issue port. The reference keeps its own
transpose buffer. In every cycle the slice's stream writes must be exactly the result due then
(stream and data) and nothing else. Phases: every ``n`` of ``shift`` and ``rotate``, every lane
of ``bcast``, ``permute``, whole L x L tiles turned by ``tr.in``/``tr.out`` with repeat offsets,
then all ops mixed. Runs on ``tiny`` (4 lanes), ``small16`` (16 lanes) and a 12-lane core
(``rotate`` mod a lane count that is not a power of two, selects wider than the lane count).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.sim import Simulator

from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.isa import Instr, Stream, encode
from conveyor.hw.machine.timing import Timing
from conveyor.hw.rtl.sxm import SXM_OPS, SxmSlice

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

CONFIGS = {
    "tiny": PRESETS["tiny"],
    "small16": PRESETS["small16"],
    "lanes12": CoreConfig(name="lanes12", lanes=12, streams=4, floorplan=("mem", "sxm"),
                          mem_depth=16, vxm_alus=1),
}
CROSSBAR = ("shift", "rotate", "bcast", "permute")
TILES = 3


# --- the reference ---------------------------------------------------------------------------

def reference(mnemonic: str, s: np.ndarray, args: dict, m: np.ndarray | None = None,
              buffer: np.ndarray | None = None, col: int | None = None) -> np.ndarray:
    """The vector a result op puts on its destination (uint8 lanes in, uint8 lanes out)."""
    lanes = len(s) if s is not None else len(buffer)
    if mnemonic == "shift":
        n = args["n"]
        out = np.roll(s, n)
        if n > 0:
            out[:n] = 0
        elif n < 0:
            out[n:] = 0
        return out
    if mnemonic == "rotate":
        return np.roll(s, args["n"])
    if mnemonic == "bcast":
        return np.full(lanes, s[args["i"]], dtype=np.uint8)
    if mnemonic == "permute":
        return np.where(m < lanes, s[np.minimum(m, lanes - 1)], 0).astype(np.uint8)
    if mnemonic == "tr.out":
        return buffer[:, col].copy()
    raise KeyError(mnemonic)


def test_reference_on_hand_checked_vectors():
    """The reference itself against the ISA's wording, on 4 lanes."""
    s = np.array([10, 20, 30, 40], dtype=np.uint8)
    assert list(reference("shift", s, {"n": 1})) == [0, 10, 20, 30]
    assert list(reference("shift", s, {"n": -3})) == [40, 0, 0, 0]
    assert list(reference("rotate", s, {"n": -1})) == [20, 30, 40, 10]
    assert list(reference("rotate", s, {"n": 3})) == [20, 30, 40, 10]
    assert list(reference("bcast", s, {"i": 2})) == [30] * 4
    m = np.array([3, 4, 0, 255], dtype=np.uint8)
    assert list(reference("permute", s, {}, m)) == [40, 0, 10, 0]
    buffer = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert list(reference("tr.out", None, {}, buffer=buffer, col=1)) == [1, 5, 9, 13]


# --- the program -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What the issue port carries in one cycle (``instr`` None: nothing issues)."""

    phase: str
    instr: Instr | None = None
    offset: int = 0


def random_stream(rng, cfg) -> Stream:
    return Stream(rng.choice("ew"), rng.randrange(cfg.streams))


def random_instr(rng, cfg, mnemonic: str, **fixed) -> Instr:
    args = {}
    for f in next(op for op in SXM_OPS if op.mnemonic == mnemonic).fields:
        if f.name in fixed:
            args[f.name] = fixed[f.name]
        elif f.kind == "stream":
            args[f.name] = random_stream(rng, cfg)
        elif f.kind == "lane":
            args[f.name] = rng.randrange(cfg.lanes)
        elif f.kind == "lshift":
            args[f.name] = rng.randrange(1 - cfg.lanes, cfg.lanes)
    return Instr.make(mnemonic, **args)


def tile_steps(rng, cfg, phase: str, kind: int) -> list[Step]:
    """Turn one L x L tile: tr.in of every row, then tr.out of every column, as repeats of one
    instruction (kind 0: rows up, back to back; kind 1: rows down every other cycle) or as
    single instructions in a random order, each with a random field and the offset that
    completes it (kind 2)."""
    lanes = cfg.lanes
    if kind == 0:
        tr_in = random_instr(rng, cfg, "tr.in", row=0)
        steps = [Step(phase, tr_in, k) for k in range(lanes)]
        tr_out = random_instr(rng, cfg, "tr.out", col=0)
        return steps + [Step(phase, tr_out, k) for k in range(lanes)]
    if kind == 1:
        tr_in = random_instr(rng, cfg, "tr.in", row=lanes - 1)
        steps = []
        for k in range(lanes):
            steps += [Step(phase, tr_in, -k), Step(phase)]
        tr_out = random_instr(rng, cfg, "tr.out", col=lanes - 1)
        return steps + [Step(phase, tr_out, -k) for k in range(lanes)]
    steps = []
    for row in rng.sample(range(lanes), lanes):
        instr = random_instr(rng, cfg, "tr.in")
        steps.append(Step(phase, instr, row - instr["row"]))
    for col in rng.sample(range(lanes), lanes):
        instr = random_instr(rng, cfg, "tr.out")
        steps.append(Step(phase, instr, col - instr["col"]))
    return steps


def program(rng, cfg) -> list[Step]:
    lanes = cfg.lanes
    steps = []
    for mnemonic in ("shift", "rotate"):
        steps += [Step(mnemonic, random_instr(rng, cfg, mnemonic, n=n))
                  for n in rng.sample(range(1 - lanes, lanes), 2 * lanes - 1)]
    steps += [Step("bcast", random_instr(rng, cfg, "bcast", i=i))
              for i in rng.sample(range(lanes), lanes)]
    steps += [Step("permute", random_instr(rng, cfg, "permute")) for _ in range(2 * lanes)]
    same = random_stream(rng, cfg)
    steps.append(Step("permute", random_instr(rng, cfg, "permute", s=same, m=same)))
    for k in range(TILES):
        steps += tile_steps(rng, cfg, f"tile{k}", k)
    # Mixed: any op or none; tr.in/tr.out at any field with the offset that makes a lane;
    # ops without an address get a junk offset, which they must ignore.
    for _ in range(150):
        if rng.random() < 0.15:
            steps.append(Step("mixed"))
            continue
        op = rng.choice(SXM_OPS)
        instr = random_instr(rng, cfg, op.mnemonic)
        if op.address:
            offset = rng.randrange(lanes) - instr[op.address]
        else:
            offset = rng.randint(-32768, 32767)
        steps.append(Step("mixed", instr, offset))
    return steps


# --- the bench ---------------------------------------------------------------------------------

@dataclass
class Results:
    """What one run checked.

    Members
    -------
    cfg : the config.
    checked : per phase, (instr, operands) of every result op whose result was checked.
    errors : per phase, mismatches (a wrong, missing or extra stream write).
    rows, cols : per phase, the vector each tr.in wrote (by row) and the vector the RTL put out
        for each tr.out (by column), in issue order.
    idle : cycles in which no result was due (and none was written).
    """

    cfg: object
    checked: dict
    errors: dict
    rows: dict
    cols: dict
    idle: int = 0


def run_bench(cfg: CoreConfig, seed: int) -> Results:
    lanes = cfg.lanes
    rng = random.Random(seed)
    dut = SxmSlice(config=cfg, slice=cfg.slices_of("sxm")[0])
    steps = program(rng, cfg)
    res = Results(cfg, {}, {}, {}, {})
    buffer = np.zeros((lanes, lanes), dtype=np.uint8)
    pending: dict[int, list] = {}   # cycle from which a tr.in is visible -> (row, vector)
    due: dict[int, tuple] = {}      # cycle -> (phase, instr, operands, col, {stream: vector})
    ports = {(d, s): (dut.east if d == "e" else dut.west)[s]
             for d in "ew" for s in range(cfg.streams)}

    def random_lanes() -> np.ndarray:
        return np.array([rng.choice([rng.randrange(256), rng.randrange(lanes),
                                     rng.choice([0, lanes - 1, lanes, 127, 128, 255])])
                         for _ in range(lanes)], dtype=np.uint8)

    def check(ctx, t):
        phase, instr, operands, col, writes = due.pop(t, (None, None, None, None, {}))
        if instr is None:
            res.idle += 1
        for key, port in ports.items():
            we = ctx.get(port.we)
            data = np.frombuffer(ctx.get(port.data).to_bytes(lanes, "little"), dtype=np.uint8)
            want = writes.get(key)
            if we != (want is not None) or (want is not None and (data != want).any()):
                res.errors.setdefault(phase, []).append(
                    f"cycle {t}: {key[0]}{key[1]} we={we} data={list(data)}, want "
                    f"{None if want is None else list(want)} for {instr}")
            if want is not None and instr.op.mnemonic == "tr.out":
                res.cols.setdefault(phase, []).append((col, data.copy()))
        if instr is not None:
            res.checked.setdefault(phase, []).append((instr, operands))

    async def bench(ctx):
        nonlocal buffer
        for t in range(len(steps) + max(latency(op) for op in SXM_OPS) + 2):
            for row, vector in pending.pop(t, []):
                buffer[row] = vector
            cells = {key: random_lanes() for key in ports}
            for key, port in ports.items():
                ctx.set(port.cell, int.from_bytes(cells[key].tobytes(), "little"))
            step = steps[t] if t < len(steps) else Step("drain")
            ctx.set(dut.ctl.issue, step.instr is not None)
            ctx.set(dut.ctl.instr, encode(step.instr) if step.instr else 0)
            ctx.set(dut.ctl.offset, step.offset)
            if step.instr is not None:
                instr, op = step.instr, step.instr.op
                s = cells[instr["s"].dir, instr["s"].index] if instr.get("s") else None
                lat = latency(op)
                if op.mnemonic == "tr.in":
                    row = instr["row"] + step.offset
                    pending.setdefault(t + lat, []).append((row, s))
                    res.rows.setdefault(step.phase, []).append((row, s))
                else:
                    m = cells[instr["m"].dir, instr["m"].index] if instr.get("m") else None
                    col = instr["col"] + step.offset if op.mnemonic == "tr.out" else None
                    out = reference(op.mnemonic, s, dict(instr.args), m, buffer, col)
                    d = instr["d"]
                    assert t + lat not in due, "the program makes two results due at once"
                    due[t + lat] = (step.phase, instr, {"s": s, "m": m}, col,
                                    {(d.dir, d.index): out})
            check(ctx, t)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return res


@pytest.fixture(scope="module", params=list(CONFIGS))
def results(request) -> Results:
    return run_bench(CONFIGS[request.param], seed=2025)


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mnemonic", ["shift", "rotate"])
def test_every_lane_count(results, mnemonic):
    lanes = results.cfg.lanes
    assert results.errors.get(mnemonic, []) == []
    checked = results.checked[mnemonic]
    assert sorted(instr["n"] for instr, _ in checked) == list(range(1 - lanes, lanes))


def test_bcast_every_lane(results):
    assert results.errors.get("bcast", []) == []
    checked = results.checked["bcast"]
    assert sorted(instr["i"] for instr, _ in checked) == list(range(results.cfg.lanes))


def test_permute_with_maps_past_the_last_lane(results):
    lanes = results.cfg.lanes
    assert results.errors.get("permute", []) == []
    maps = np.concatenate([operands["m"] for _, operands in results.checked["permute"]])
    assert len(maps) == (2 * lanes + 1) * lanes
    # lanes and bytes past the last lane, including the first such byte and the largest
    assert (maps < lanes).sum() >= lanes and (maps >= lanes).sum() >= lanes
    assert {lanes, 255} <= set(maps.tolist())
    assert any(instr["s"] == instr["m"] for instr, _ in results.checked["permute"])


@pytest.mark.parametrize("tile", range(TILES))
def test_transpose_tile(results, tile):
    """tr.in of every row, then tr.out of every column, gives the tile's transpose."""
    lanes = results.cfg.lanes
    phase = f"tile{tile}"
    assert results.errors.get(phase, []) == []
    rows, cols = dict(results.rows[phase]), dict(results.cols[phase])
    assert sorted(rows) == sorted(cols) == list(range(lanes))
    tile_in = np.array([rows[r] for r in range(lanes)])
    tile_out = np.array([cols[c] for c in range(lanes)])
    assert (tile_out == tile_in.T).all()


def test_mixed_ops_and_offsets(results):
    cfg = results.cfg
    assert results.errors.get("mixed", []) == []
    assert results.errors.get(None, []) == []  # nothing written in a cycle with nothing due
    checked = results.checked["mixed"]
    assert {instr.op.mnemonic for instr, _ in checked} == {*CROSSBAR, "tr.out"}
    assert len(results.rows["mixed"]) >= 10
    assert {(instr["d"].dir, instr["d"].index) for instr, _ in checked} == {
        (d, s) for d in "ew" for s in range(cfg.streams)}
    assert results.idle >= 20


def test_only_an_sxm_slice():
    cfg = PRESETS["tiny"]
    with pytest.raises(ValueError, match="sxm slice"):
        SxmSlice(config=cfg, slice=cfg.slice_named("mem0"))
