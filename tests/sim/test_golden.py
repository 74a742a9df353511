"""The golden model on hand-built programs: data movement, stream timing, MEM ordering, repeat,
int32 groups, the cycle count and every hazard. Timing is derived from the config's positions
and hw/machine/timing.py, never written as a number."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.errors import HazardError, SimulationError
from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.isa import Instr, Stream
from conveyor.hw.machine.program import DataBlock, Program, ProgramError, SrcLoc, cycle_count
from conveyor.hw.machine.semantics import requantize
from conveyor.hw.machine.timing import Timing
from conveyor.sim.golden import run

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

PRESET_NAMES = ["tiny", "small16"]
READ, WRITE = latency("read"), latency("write")


# --- building programs ------------------------------------------------------------------------

def e(i: int, width: int = 1) -> Stream:
    return Stream("e", i, width)


def w(i: int, width: int = 1) -> Stream:
    return Stream("w", i, width)


def op(mnemonic: str, **args) -> Instr:
    return Instr.make(mnemonic, **args)


def at(cycle: int, *instrs: Instr) -> list[Instr]:
    """``instrs`` issuing from ``cycle`` on, one per cycle."""
    assert cycle >= 0
    return ([op("nop", n=cycle)] if cycle else []) + list(instrs)


def repeat(n: int, d: int = 1, stride: int = 0) -> Instr:
    return op("repeat", n=n, d=d, stride=stride)


def build(cfg: CoreConfig, queues: dict[str, list[Instr]], data=()) -> Program:
    prog = Program.empty(cfg)
    for name, instrs in queues.items():
        assert name in prog.queues, name
        prog.queues[name] = [*instrs, op("halt")]
    prog.data = list(data)
    return prog


def pos(cfg: CoreConfig, name: str) -> int:
    return cfg.slice_named(name).position


def east_mem(cfg: CoreConfig) -> str:
    """The easternmost MEM slice (east of the VXM in every preset)."""
    return cfg.mem_slices[-1].name


def words(cfg: CoreConfig, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, cfg.lanes)).astype(np.int8)


def simulate(prog: Program, **kw):
    """Run the golden model; every run must agree with the timing rules' cycle count."""
    result = run(prog, **kw)
    assert result.cycles == cycle_count(prog)
    assert result.ops == sum(result.issued.values())
    return result


def finish(last: int, mnemonic: str) -> int:
    """Cycle count when a queue's last instruction ``mnemonic`` issues in cycle ``last`` and
    the queue halts in the next cycle."""
    return max(last + 1 + 1, last + latency(mnemonic))


def hazard(prog: Program, kind: str) -> HazardError:
    with pytest.raises(HazardError) as info:
        run(prog)
    assert info.value.kind == kind, str(info.value)
    return info.value


def wrap8(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int64) + 128) % 256 - 128).astype(np.int8)


# --- data movement ----------------------------------------------------------------------------

@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_mem_vxm_mem_eastward(preset):
    cfg, n = PRESETS[preset], 20
    v, dst = pos(cfg, "vxm0"), east_mem(cfg)
    a, b = words(cfg, n, 1), words(cfg, n, 2)
    t = READ + v  # mem0's read issued in cycle 0 reaches the VXM in cycle t
    done = t + latency("add.i8") + pos(cfg, dst) - v
    prog = build(cfg, {
        "mem0.rd": [op("read", addr=0, d=e(0)), repeat(n - 1, 1, 1)],
        "mem1.rd": at(t - READ - (v - 1), op("read", addr=0, d=e(1)), repeat(n - 1, 1, 1)),
        "vxm0.alu0": at(t, op("add.i8", a=e(0), b=e(1), d=e(2)), repeat(n - 1)),
        f"{dst}.wr": at(done, op("write", s=e(2), addr=3), repeat(n - 1, 1, 1)),
    }, [DataBlock("mem0", 0, a), DataBlock("mem1", 0, b)])
    result = simulate(prog)
    np.testing.assert_array_equal(result.mem[dst][3:3 + n], wrap8(a.astype(int) + b))
    assert not result.mem[dst][:3].any() and not result.mem[dst][3 + n:].any()
    np.testing.assert_array_equal(result.mem["mem0"][:n], a)  # reads leave MEM alone
    used = {"mem0.rd", "mem1.rd", "vxm0.alu0", f"{dst}.wr"}
    assert result.issued == {q.name: n if q.name in used else 0 for q in cfg.queues}
    assert result.ops == 4 * n
    assert result.cycles == finish(done + n - 1, "write")


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_both_directions_meet_at_the_vxm(preset):
    cfg, n = PRESETS[preset], 6
    v, src = pos(cfg, "vxm0"), east_mem(cfg)
    x, y = words(cfg, n, 3), words(cfg, n, 4)
    t = READ + max(pos(cfg, src) - v, v)  # the later of the two reads issues in cycle 0
    back = t + latency("sub.i8") + v  # the result reaches mem0 going west
    prog = build(cfg, {
        f"{src}.rd": at(t - READ - (pos(cfg, src) - v), op("read", addr=0, d=w(1)),
                        repeat(n - 1, 1, 1)),
        "mem0.rd": at(t - READ - v, op("read", addr=0, d=e(3)), repeat(n - 1, 1, 1)),
        "vxm0.alu1": at(t, op("sub.i8", a=w(1), b=e(3), d=w(0)), repeat(n - 1)),
        "mem0.wr": at(back, op("write", s=w(0), addr=8), repeat(n - 1, 1, 1)),
    }, [DataBlock(src, 0, x), DataBlock("mem0", 0, y)])
    result = simulate(prog)
    np.testing.assert_array_equal(result.mem["mem0"][8:8 + n], wrap8(x.astype(int) - y))


def test_two_alus_chain_in_one_cycle():
    cfg, n = PRESETS["small16"], 8
    v, dst = pos(cfg, "vxm0"), east_mem(cfg)
    a = words(cfg, n, 5)
    t = READ + v
    t2 = t + latency("mul.i8")  # alu1 reads alu0's result in the cycle it appears
    done = t2 + latency("sra.i8") + pos(cfg, dst) - v
    prog = build(cfg, {
        "mem0.rd": [op("read", addr=0, d=e(0)), repeat(n - 1, 1, 1)],
        "vxm0.alu0": at(t, op("mul.i8", a=e(0), b=e(0), d=e(2)), repeat(n - 1)),
        "vxm0.alu1": at(t2, op("sra.i8", a=e(2), b=2, d=e(5)), repeat(n - 1)),
        f"{dst}.wr": at(done, op("write", s=e(5), addr=0), repeat(n - 1, 1, 1)),
    }, [DataBlock("mem0", 0, a)])
    result = simulate(prog)
    np.testing.assert_array_equal(result.mem[dst][:n], wrap8(a.astype(int) ** 2) >> 2)


@pytest.mark.parametrize("late", [-1, 1])
def test_a_chained_read_one_cycle_off_is_empty(late):
    cfg = PRESETS["small16"]
    v = pos(cfg, "vxm0")
    t = READ + v
    t2 = t + latency("mul.i8") + late
    prog = build(cfg, {
        "mem0.rd": [op("read", addr=0, d=e(0))],
        "vxm0.alu0": at(t, op("mul.i8", a=e(0), b=e(0), d=e(2))),
        "vxm0.alu1": at(t2, op("mov.i8", a=e(2), d=e(5))),
    })
    err = hazard(prog, "empty-read")
    assert err.cycle == t2
    assert f"reads e2 at position {v} (vxm0)" in str(err)
    assert "vxm0.alu1[1] (vxm0.alu1: mov.i8 e2 -> e5)" in str(err)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_value_passes_through_slices_and_many_read_it(preset):
    cfg, n = PRESETS[preset], 5
    x = words(cfg, n, 6)
    readers = [s.name for s in cfg.mem_slices[1:]]  # every MEM east of mem0, across the VXM
    queues = {"mem0.rd": [op("read", addr=0, d=e(1)), repeat(n - 1, 2, 1)]}
    for name in readers:
        arrive = READ + pos(cfg, name)
        queues[f"{name}.wr"] = at(arrive, op("write", s=e(1), addr=16), repeat(n - 1, 2, 1))
    result = simulate(build(cfg, queues, [DataBlock("mem0", 0, x)]))
    for name in readers:
        np.testing.assert_array_equal(result.mem[name][16:16 + n], x, err_msg=name)
    # one cycle late, a passing value has moved on and the cell behind it is empty
    late = dict(queues, **{f"{readers[0]}.wr": at(READ + pos(cfg, readers[0]) + 1,
                                                  op("write", s=e(1), addr=16))})
    err = hazard(build(cfg, late, [DataBlock("mem0", 0, x)]), "empty-read")
    assert err.cycle == READ + pos(cfg, readers[0]) + 1
    assert f"e1 at position {pos(cfg, readers[0])} ({readers[0]})" in str(err)


def test_a_write_overwrites_a_passing_value():
    cfg, n = PRESETS["small16"], 8
    x, y = words(cfg, n, 7), words(cfg, n, 8)
    p2, dst = pos(cfg, "mem2"), east_mem(cfg)
    half = n // 2
    # mem2 puts y on e0 exactly when x passes by: for the first half of the words only
    prog = build(cfg, {
        "mem0.rd": [op("read", addr=0, d=e(0)), repeat(n - 1, 1, 1)],
        "mem2.rd": at(p2, op("read", addr=0, d=e(0)), repeat(half - 1, 1, 1)),
        "mem1.wr": at(READ + 1, op("write", s=e(0), addr=0), repeat(n - 1, 1, 1)),
        "mem2.wr": at(READ + p2, op("write", s=e(0), addr=100), repeat(n - 1, 1, 1)),
        f"{dst}.wr": at(READ + pos(cfg, dst), op("write", s=e(0), addr=0), repeat(n - 1, 1, 1)),
    }, [DataBlock("mem0", 0, x), DataBlock("mem2", 0, y)])
    result = simulate(prog)
    want = np.concatenate([y[:half], x[half:]])
    np.testing.assert_array_equal(result.mem[dst][:n], want)
    np.testing.assert_array_equal(result.mem["mem2"][100:100 + n], want)  # sees its own write
    np.testing.assert_array_equal(result.mem["mem1"][:n], x)  # upstream is untouched


# --- MEM ----------------------------------------------------------------------------------------

def test_mem_read_in_the_write_cycle_sees_the_old_word():
    cfg = PRESETS["tiny"]
    old, new = words(cfg, 1, 9), words(cfg, 1, 10)
    dst = east_mem(cfg)
    c = READ + 1  # the new word passes mem1 in cycle c
    prog = build(cfg, {
        "mem0.rd": [op("read", addr=0, d=e(0))],
        "mem1.wr": at(c, op("write", s=e(0), addr=5)),
        "mem1.rd": at(c - 1, op("read", addr=5, d=e(2)),
                      op("read", addr=5, d=e(1)),  # same cycle as the write: the old word
                      *at(WRITE - 1, op("read", addr=5, d=e(3)))),  # `latency` later: new
        f"{dst}.wr": at(c - 1 + READ + pos(cfg, dst) - 1,
                        op("write", s=e(2), addr=0), op("write", s=e(1), addr=1),
                        *at(WRITE - 1, op("write", s=e(3), addr=2))),
    }, [DataBlock("mem0", 0, new), DataBlock("mem1", 5, old)])
    result = simulate(prog)
    np.testing.assert_array_equal(result.mem[dst][:3], np.concatenate([old, old, new]))
    np.testing.assert_array_equal(result.mem["mem1"][5], new[0])


def test_repeat_with_strides():
    cfg = PRESETS["small16"]
    x = words(cfg, 40, 11)
    dst = east_mem(cfg)
    n, d = 5, 3
    prog = build(cfg, {
        "mem0.rd": [op("read", addr=10, d=e(7)), repeat(n, d, 4)],
        f"{dst}.wr": at(READ + pos(cfg, dst), op("write", s=e(7), addr=900), repeat(n, d, -7)),
    }, [DataBlock("mem0", 0, x)])
    result = simulate(prog)
    for k in range(n + 1):
        np.testing.assert_array_equal(result.mem[dst][900 - 7 * k], x[10 + 4 * k])
    assert np.count_nonzero(result.mem[dst].any(axis=1)) == n + 1
    assert result.issued["mem0.rd"] == result.issued[f"{dst}.wr"] == n + 1
    assert result.cycles == finish(READ + pos(cfg, dst) + n * d, "write")


# --- int32 groups ---------------------------------------------------------------------------------

def planes(values: np.ndarray) -> list[np.ndarray]:
    """int32 vectors -> the four byte planes, byte 0 first."""
    raw = values.astype("<i4").view(np.int8).reshape(*values.shape, 4)
    return [raw[..., k] for k in range(4)]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_int32_group_from_four_mem_planes(preset):
    cfg, n = PRESETS[preset], 5
    v, dst = pos(cfg, "vxm0"), east_mem(cfg)
    rng = np.random.default_rng(12)
    acc = rng.integers(-2**31, 2**31, (n, cfg.lanes)).astype(np.int32)
    acc[0, 0], acc[0, 1] = -2**31, 2**31 - 1
    imm, mul, shift, zp = -77777, 1_518_500_250, 9, -3
    t = READ + v  # byte k leaves mem k so that all four meet at the VXM in cycle t
    t2 = t + latency("mul.i32")
    queues = {f"mem{k}.rd": at(t - READ - (v - k), op("read", addr=0, d=e(k)),
                               repeat(n - 1, 1, 1)) for k in range(4)}
    queues["vxm0.alu0"] = at(t, op("mul.i32", a=e(0, 4), b=imm, d=w(0, 4)), repeat(n - 1))
    queues["vxm0.alu1"] = at(t2, op("requant", a=w(0, 4), d=e(0), mul=mul, shift=shift, zp=zp),
                             repeat(n - 1))
    for k in range(4):  # the product goes west: byte k back into mem k
        queues[f"mem{k}.wr"] = at(t2 + v - k, op("write", s=w(k), addr=50), repeat(n - 1, 1, 1))
    done = t2 + latency("requant") + pos(cfg, dst) - v
    queues[f"{dst}.wr"] = at(done, op("write", s=e(0), addr=0), repeat(n - 1, 1, 1))
    data = [DataBlock(f"mem{k}", 0, p) for k, p in enumerate(planes(acc))]
    result = simulate(build(cfg, queues, data))
    product = (acc.astype(np.int64) * imm).astype(np.int32)  # wraps
    got = np.stack([result.mem[f"mem{k}"][50:50 + n] for k in range(4)], axis=-1)
    np.testing.assert_array_equal(got.view("<i4")[..., 0], product)
    np.testing.assert_array_equal(result.mem[dst][:n], requantize(product, mul, shift, zp))
    assert result.cycles == finish(done + n - 1, "write")


def test_cvt_puts_byte_zero_on_the_lowest_stream():
    cfg = PRESETS["tiny"]
    v = pos(cfg, "vxm0")
    x = np.array([[-128, -1, 0, 127]], np.int8)
    t = READ + v
    t2 = t + latency("cvt.i8.i32")
    queues = {"mem0.rd": [op("read", addr=0, d=e(2))],
              "vxm0.alu0": at(t, op("cvt.i8.i32", a=e(2), d=w(0, 4)))}
    for k in range(4):
        queues[f"mem{k}.wr"] = at(t2 + v - k, op("write", s=w(k), addr=1))
    result = simulate(build(cfg, queues, [DataBlock("mem0", 0, x)]))
    bytes_ = [result.mem[f"mem{k}"][1].tolist() for k in range(4)]
    assert bytes_ == [[-128, -1, 0, 127], [-1, -1, 0, 0], [-1, -1, 0, 0], [-1, -1, 0, 0]]


# --- cycle count ------------------------------------------------------------------------------------

def test_cycle_count_of_halts_nops_and_latency_tails():
    cfg = PRESETS["tiny"]
    assert simulate(Program.empty(cfg)).cycles == 1
    assert simulate(Program.empty(cfg)).ops == 0
    assert simulate(build(cfg, {"mem3.wr": [op("nop", n=1000)]})).cycles == 1001
    # the last result lands after every queue has halted
    v = pos(cfg, "vxm0")
    t = READ + v
    prog = build(cfg, {"mem0.rd": [op("read", addr=0, d=e(0))],
                       "vxm0.alu0": at(t, op("mul.i8", a=e(0), b=3, d=e(0)))})
    result = simulate(prog)
    assert result.cycles == max(t + latency("mul.i8"), t + 2)
    assert result.issued["vxm0.alu0"] == 1


def test_max_cycles():
    cfg = PRESETS["tiny"]
    prog = build(cfg, {"mem0.rd": [op("read", addr=0, d=e(0)), repeat(50)]})
    cycles = simulate(prog).cycles
    assert run(prog, max_cycles=cycles).cycles == cycles
    with pytest.raises(SimulationError, match=f"max_cycles={cycles - 1}"):
        run(prog, max_cycles=cycles - 1)
    with pytest.raises(SimulationError, match="max_cycles=10"):
        run(build(cfg, {"mem0.rd": [op("nop", n=2**32 - 1)]}), max_cycles=10)


# --- hazards ----------------------------------------------------------------------------------------

def _two_writers(cfg: CoreConfig, same_queue: bool) -> tuple[Program, int]:
    """alu0's mul.i8 and an add.i8 one cycle later both land on e1 in the same cycle."""
    v = pos(cfg, "vxm0")
    t = READ + v
    mul = op("mul.i8", a=e(0), b=2, d=e(1))
    add = op("add.i8", a=e(0), b=1, d=e(1))
    queues = {"mem0.rd": [op("read", addr=0, d=e(0)), repeat(1)]}
    if same_queue:
        queues["vxm0.alu0"] = at(t, mul, add)
    else:
        queues["vxm0.alu0"] = at(t, mul)
        queues["vxm0.alu1"] = at(t + 1, add)
    return build(cfg, queues), t + latency("mul.i8")


def test_collision_between_two_alus():
    cfg = PRESETS["small16"]
    prog, cycle = _two_writers(cfg, same_queue=False)
    assert cycle == pos(cfg, "vxm0") + READ + 1 + latency("add.i8")
    err = hazard(prog, "collision")
    assert err.cycle == cycle
    text = str(err)
    assert text.startswith(f"cycle {cycle}: ")
    assert f"e1 at position {pos(cfg, 'vxm0')} (vxm0)" in text
    assert "vxm0.alu0[1] (vxm0.alu0: mul.i8 e0, 2 -> e1)" in text
    assert "vxm0.alu1[1] (vxm0.alu1: add.i8 e0, 1 -> e1)" in text


def test_collision_within_one_queue_names_source_lines():
    cfg = PRESETS["tiny"]
    prog, cycle = _two_writers(cfg, same_queue=True)
    prog.locs["vxm0.alu0"] = [SrcLoc("k.s", 7), SrcLoc("k.s", 8), SrcLoc("k.s", 9)]
    err = hazard(prog, "collision")
    assert err.cycle == cycle
    assert "k.s:8:1 (vxm0.alu0: mul.i8" in str(err) and "k.s:9:1 (vxm0.alu0: add.i8" in str(err)


def test_empty_read_of_a_stream_nothing_wrote():
    cfg = PRESETS["small16"]
    prog = build(cfg, {"vxm0.alu1": at(6, op("add.i32", a=e(4, 4), b=1, d=e(0, 4)))})
    err = hazard(prog, "empty-read")
    assert err.cycle == 6
    assert f"reads e4 at position {pos(cfg, 'vxm0')} (vxm0)" in str(err)
    # a MEM write of a westward value that has already passed its position
    prog = build(cfg, {"mem0.rd": [op("read", addr=0, d=w(3))],
                       "mem1.wr": at(READ + 1, op("write", s=w(3), addr=0))})
    err = hazard(prog, "empty-read")
    assert err.cycle == READ + 1 and "w3 at position 1 (mem1)" in str(err)
    assert "mem1.wr[1] (mem1.wr: write w3 -> 0)" in str(err)
    # ... though mem0 itself reads it in the cycle it is written
    ok = build(cfg, {"mem0.rd": [op("read", addr=0, d=w(3))],
                     "mem0.wr": at(READ, op("write", s=w(3), addr=9))})
    assert simulate(ok).issued["mem0.wr"] == 1


def test_hazards_are_reported_in_cycle_order():
    # alu0's mul.i32 and alu1's mul.i8 both land on w1 in cycle c; the model learns that when
    # alu1 issues, two cycles before c. An empty read in between is still the first hazard.
    cfg = PRESETS["small16"]
    v = pos(cfg, "vxm0")
    t = READ + v
    t32 = t + latency("cvt.i8.i32")
    c = t32 + latency("mul.i32")
    t8 = c - latency("mul.i8")
    assert t32 < t8 < c - 1
    late = f"{east_mem(cfg)}.wr"
    queues = {
        "mem0.rd": [op("read", addr=0, d=e(0)), repeat(c - t)],  # e0 at the VXM from t on
        "vxm0.alu0": at(t, op("cvt.i8.i32", a=e(0), d=e(4, 4)),
                        op("mul.i32", a=e(4, 4), b=3, d=w(0, 4))),
        "vxm0.alu1": at(t8, op("mul.i8", a=e(0), b=2, d=w(1))),
        late: at(c - 1, op("write", s=e(6), addr=0)),
    }
    err = hazard(build(cfg, queues), "empty-read")
    assert err.cycle == c - 1
    del queues[late]
    err = hazard(build(cfg, queues), "collision")
    assert err.cycle == c
    assert f"collision on w1 at position {v} (vxm0)" in str(err)
    assert "(vxm0.alu0: mul.i32 e4:4, 3 -> w0:4)" in str(err)
    assert "(vxm0.alu1: mul.i8 e0, 2 -> w1)" in str(err)


@pytest.mark.parametrize("stride, bad", [(1, 256), (-1, -1)])
def test_address_out_of_range_through_stride(stride, bad):
    cfg = PRESETS["tiny"]  # mem_depth 256
    start = 250 if stride > 0 else 4
    k = abs(bad - start)
    prog = build(cfg, {"mem2.rd": at(3, op("read", addr=start, d=e(0)), repeat(10, 2, stride))})
    err = hazard(prog, "address")
    assert err.cycle == 3 + 2 * k
    assert f"mem2.rd[1] (mem2.rd: read {bad} -> e0): address {bad} is out of range 0..255" \
        in str(err)
    writes = build(cfg, {"mem0.wr": [op("write", s=e(0), addr=256)]})
    assert hazard(writes, "address").cycle == 0


def test_instructions_that_do_not_fit_the_config():
    cfg = PRESETS["tiny"]
    with pytest.raises(ProgramError, match=r"mem0.rd\[0\]: read d: stream e4 is beyond"):
        run(build(cfg, {"mem0.rd": [op("read", addr=0, d=e(4))]}))
    with pytest.raises(ProgramError, match="write cannot run on queue mem0.rd"):
        run(build(cfg, {"mem0.rd": [op("write", s=e(0), addr=0)]}))


# --- long runs ---------------------------------------------------------------------------------------

def test_pruning_dead_diagonals_keeps_live_values(monkeypatch):
    """Runs long enough to sweep the stream index many times, with a tiny sweep threshold."""
    from conveyor.sim import golden
    sweeps = []
    prune = golden._Machine.prune
    monkeypatch.setattr(golden, "_PRUNE_MIN", 4)
    monkeypatch.setattr(golden._Machine, "prune",
                        lambda self, now: (sweeps.append(now), prune(self, now)))
    for preset in PRESET_NAMES:
        test_mem_vxm_mem_eastward(preset)
        test_both_directions_meet_at_the_vxm(preset)
        test_int32_group_from_four_mem_planes(preset)
    test_a_write_overwrites_a_passing_value()
    assert len(sweeps) > 10
