"""Models too big for one program: cut between layers and over blocks of a layer's rows into
runs the host chains (its relayed tensors the next runs' inputs), and weights spread over
slices. Expected values come from the graph's numpy reference of the whole model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sim.golden import run as golden
from conveyor.sw.compiler import compile_graph
from conveyor.sw.compiler.segments import RELAY, segment
from conveyor.sw.ir.builder import Graph
from conveyor.sw.ir.reference import evaluate


def _cnn(seed: int = 0) -> tuple[Graph, dict]:
    """Four layers on a 12x12x4 map, a stride-2 SAME-style conv (odd padding at the bottom)
    and a residual add among them: more words and instructions than tiny holds."""
    rng = np.random.default_rng(seed)
    g = Graph("chained")
    x = g.input("x", (12, 12, 4))

    def w(*shape):
        return rng.integers(-20, 20, shape).astype(np.int8)

    def b(n):
        return rng.integers(-200, 200, n).astype(np.int32)

    c0 = g.conv2d(x, w(3, 3, 4, 4), b(4), pad=1, mul=1 << 29, shift=6, zp=-3, relu=True,
                  pad_value=0)
    c1 = g.depthwise_conv2d(c0, w(3, 3, 4), b(4), pad=1, mul=1 << 30, shift=5, zp=-3,
                            pad_value=-3)
    s = g.add(c0, c1, mul=1 << 30, shift=1, zp=1)
    c2 = g.conv2d(s, w(3, 3, 4, 4), b(4), stride=2, pad=[0, 0, 1, 1], mul=1 << 29, shift=7,
                  zp=2, pad_value=1)
    g.output("y", g.linear(g.flatten(c2), w(6 * 6 * 4, 4), b(4), mul=1 << 30, shift=8))
    return g, {"x": rng.integers(-128, 128, (12, 12, 4)).astype(np.int8)}


@pytest.fixture(scope="module")
def chained():
    g, inputs = _cnn()
    return compile_graph(g, inputs, PRESETS["tiny"]), g, inputs


def test_segments_chained_by_hand_are_the_whole_model():
    """Each cut's relayed tensors, fed to the next segment, give the whole model's output."""
    g, inputs = _cnn(1)
    n = sum(1 for op in g.ops if op.NAME not in ("graph.input", "graph.const", "graph.output"))
    want = evaluate(g, inputs)
    for cuts in ([0, 1, n], [0, 2, 3, n], list(range(n + 1))):
        known = dict(inputs)
        for lo, hi in itertools.pairwise(cuts):
            seg = segment(g, lo, hi)
            names = [op.attrs["name"] for op in seg.ops if op.NAME == "graph.input"]
            assert all(name == "x" or name.startswith(RELAY) for name in names)
            known.update(evaluate(seg, {name: known[name] for name in names}))
        assert np.array_equal(known["y"], want["y"]), cuts


def test_a_model_too_big_for_tiny_runs_as_chained_runs_on_golden(chained):
    compiled, g, inputs = chained
    assert len(compiled.runs) > 3 and compiled.chained
    assert any(run.windows for run in compiled.runs), "some layer is split by rows"
    results = compiled.execute(lambda programs, reads: [golden(p) for p in programs])
    assert [r.cycles for r in results] == [run.predicted_cycles for run in compiled.runs]
    assert np.array_equal(compiled.outputs([r.mem for r in results])["y"],
                          evaluate(g, inputs)["y"])


def test_chained_runs_serve_other_inputs(chained):
    compiled, g, _ = chained
    other = {"x": np.random.default_rng(9).integers(-128, 128, (12, 12, 4)).astype(np.int8)}
    results = compiled.execute(lambda programs, reads: [golden(p) for p in programs], other)
    assert sum(r.cycles for r in results) == compiled.predicted_cycles
    assert np.array_equal(compiled.outputs([r.mem for r in results])["y"],
                          evaluate(g, other)["y"])


def test_chained_runs_are_cycle_and_bit_exact_on_rtl(chained):
    from conveyor.sim.batch import verilator_batch
    compiled, g, inputs = chained
    results = compiled.execute(verilator_batch)
    for r in results:
        assert not isinstance(r, Exception), r
    assert [r.cycles for r in results] == [run.predicted_cycles for run in compiled.runs]
    assert np.array_equal(compiled.outputs([r.mem for r in results])["y"],
                          evaluate(g, inputs)["y"])


def test_a_chained_model_saves_and_loads(chained, tmp_path):
    from conveyor.sw.compiler import load
    compiled = chained[0]
    back = load(compiled.save(tmp_path / "m"))
    assert [r.windows for r in back.runs] == [r.windows for r in compiled.runs]
    assert [r.rows for r in back.runs] == [r.rows for r in compiled.runs]
    results = back.execute(lambda programs, reads: [golden(p) for p in programs])
    assert back.bit_exact([r.mem for r in results])


def test_weights_spread_over_slices_when_no_slice_holds_them():
    """A 3x3 kernel over 8 channels on a tiny core with 128-word slices: 9 taps x 2 channel
    tiles x 2 output tiles of 4 words, 144 words, more than a slice: they go over several,
    in one run (in runs of tiles: 16 output rows are enough to hide one-row loads, so no
    planes)."""
    import dataclasses
    config = dataclasses.replace(PRESETS["tiny"], name="tiny-mem128", mem_depth=128)
    rng = np.random.default_rng(3)
    g = Graph("wide")
    x = g.input("x", (4, 4, 8))
    g.output("y", g.conv2d(x, rng.integers(-9, 9, (3, 3, 8, 8)).astype(np.int8), None,
                           pad=1, mul=1 << 30, shift=6))
    inputs = {"x": rng.integers(-128, 128, (4, 4, 8)).astype(np.int8)}
    compiled = compile_graph(g, inputs, config)
    assert len(compiled.runs) == 1
    weights = compiled.runs[0].levels["tile"].split("weights = ")[1].split('"')[1]
    assert len(weights.split()) > 1 and all("x" in part for part in weights.split()), weights
    result = golden(compiled.runs[0].program)
    assert result.cycles == compiled.predicted_cycles
    assert compiled.bit_exact([result.mem])


def test_pools_too_big_for_tiny_split_by_rows():
    """A padded 3x3 max pool, an average pool and a 2x2 max pool of a 16x16 map, each more
    reads than tiny's queues hold: blocks of output rows, each given its input window (and
    the padding its edges need)."""
    rng = np.random.default_rng(8)
    g = Graph("pools")
    x = g.input("x", (16, 16, 4))
    m = g.maxpool(x, [3, 3], [2, 2], [1, 1, 1, 1])
    a = g.avgpool(m, [3, 2], [1, 2])
    g.output("y", g.maxpool2x2(g.maxpool(x, [2, 2], [1, 1], [0, 0, 1, 1])))
    g.output("z", a)
    inputs = {"x": rng.integers(-128, 128, (16, 16, 4)).astype(np.int8)}
    compiled = compile_graph(g, inputs, PRESETS["tiny"])
    assert sum(1 for run in compiled.runs if run.windows) >= 3
    results = compiled.execute(lambda programs, reads: [golden(p) for p in programs])
    assert [r.cycles for r in results] == [run.predicted_cycles for run in compiled.runs]
    got, want = compiled.outputs([r.mem for r in results]), evaluate(g, inputs)
    for name in ("y", "z"):
        assert np.array_equal(got[name], want[name]), name


def test_a_batch_of_images_splits_image_by_image():
    """Four 8x8 maps through a convolution too big for tiny: runs of whole images."""
    rng = np.random.default_rng(9)
    g = Graph("batch")
    x = g.input("x", (4, 8, 8, 4))
    g.output("y", g.conv2d(x, rng.integers(-9, 9, (3, 3, 4, 4)).astype(np.int8), None, pad=1,
                           mul=1 << 30, shift=6))
    inputs = {"x": rng.integers(-128, 128, (4, 8, 8, 4)).astype(np.int8)}
    compiled = compile_graph(g, inputs, PRESETS["tiny"])
    assert len(compiled.runs) > 1
    assert all(run.windows["x"][1] - run.windows["x"][0] >= 1 for run in compiled.runs)
    results = compiled.execute(lambda programs, reads: [golden(p) for p in programs])
    assert [r.cycles for r in results] == [run.predicted_cycles for run in compiled.runs]
    assert np.array_equal(compiled.outputs([r.mem for r in results])["y"],
                          evaluate(g, inputs)["y"])


def test_a_batch_1_layer_loads_its_weights_in_planes():
    """One row through a 64x64 layer on small16: its weights in four slices' planes, each lw
    four rows; golden and Verilator take the predicted cycles and give numpy's product."""
    from conveyor.sim.batch import verilator_batch
    rng = np.random.default_rng(10)
    g = Graph("row")
    x = g.input("x", (1, 64))
    w = rng.integers(-128, 128, (64, 64)).astype(np.int8)
    g.output("y", g.matmul(x, w))
    inputs = {"x": rng.integers(-128, 128, (1, 64)).astype(np.int8)}
    compiled = compile_graph(g, inputs, PRESETS["small16"])
    weights = compiled.runs[0].levels["tile"].split("weights = ")[1].split('"')[1]
    assert len(weights.split(",")) == 4, weights
    assert compiled.runs[0].levels["microcode"].count(":4 -> row[") > 0  # 4-stream windows
    want = inputs["x"].astype(np.int64) @ w.astype(np.int64)
    program = compiled.runs[0].program
    for result in (golden(program), verilator_batch([program])[0]):
        assert result.cycles == compiled.predicted_cycles
        assert np.array_equal(compiled.outputs([result.mem])["y"], want)
