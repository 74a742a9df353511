"""graph.table (an int8 function by a 256-entry table: SXM permutes of its chunks, OR-ed on the
VXM), graph.leaky_relu and graph.qmul (two activations' product, requantised), compiled:
predicted cycles = golden = RTL, outputs = numpy's ``table[x + 128]``, the graph reference and
numpy's rounded product. On tiny (64 chunks of 4), small16 (16 of 16), tsp
(one permute) and a tiny core with every pipeline stage (a chunk every 2 cycles)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from piped_core import PIPED

from conveyor.hw.machine.config import PRESETS
from conveyor.sim.batch import verilator_batch
from conveyor.sim.golden import run as golden
from conveyor.sw.compiler import compile_graph
from conveyor.sw.compiler.table import table_words
from conveyor.sw.ir.builder import Graph
from conveyor.sw.ir.reference import evaluate


def _table_model(shape, seed: int):
    rng = np.random.default_rng(seed)
    table = rng.integers(-128, 128, 256).astype(np.int8)
    g = Graph("lookup")
    g.output("y", g.table(g.input("x", shape), table))
    x = rng.integers(-128, 128, shape).astype(np.int8)
    x.flat[:2] = (-128, 127)  # both ends of the table
    return g, {"x": x}, table[x.astype(np.int64) + 128]


def _leaky_model(shape, seed: int):
    rng = np.random.default_rng(seed)
    g = Graph("leaky")
    x = g.input("x", shape)
    g.output("y", g.leaky_relu(x, x_zp=-7, mul=1 << 30, shift=1, alpha_mul=1717986918,
                               alpha_shift=-3, zp=5))
    inputs = {"x": rng.integers(-128, 128, shape).astype(np.int8)}
    return g, inputs, evaluate(g, inputs)["y"]


def _qmul_model(shape, seed: int):
    rng = np.random.default_rng(seed)
    g = Graph("qmul")
    a, b = g.input("a", shape), g.input("b", shape)
    g.output("y", g.qmul(a, b, a_zp=-9, b_zp=4, mul=1 << 30, shift=6, zp=-2, rounding="single"))
    inputs = {k: rng.integers(-128, 128, shape).astype(np.int8) for k in "ab"}
    a, b = (inputs[k].astype(np.int64) for k in "ab")
    want = np.clip(-2 + (((a + 9) * (b - 4) * (1 << 30) + (1 << 36)) >> 37), -128, 127)
    return g, inputs, want.astype(np.int8)


#: (1, 256) on small16: one row in all eight slices, so the table has two copies
CASES = [("tiny", (3, 4)), ("small16", (5, 40)), ("tsp", (4, 330)), ("tiny-piped", (2, 4)),
         ("small16", (1, 256))]


def _config(name):
    return PIPED if name == "tiny-piped" else PRESETS[name]


def test_the_chunks_hold_the_table_in_order():
    table = np.arange(256).astype(np.uint8).view(np.int8)
    for lanes, chunks in ((4, 64), (16, 16), (320, 1)):
        words = table_words(table, lanes)
        assert words.shape == (chunks, lanes)
        assert np.array_equal(words.reshape(-1)[:256], table)
        assert not words.reshape(-1)[256:].any()


def _models(config):
    """The piped core leaves mul.i32 out of its VXM: no product there."""
    return [_table_model, _leaky_model] + ([] if config == "tiny-piped" else [_qmul_model])


@pytest.mark.parametrize("config, shape, model", [
    (config, shape, model) for config, shape in CASES for model in _models(config)])
def test_compiled_lookups_are_exact_on_golden(config, shape, model):
    g, inputs, want = model(shape, seed=len(shape) + shape[-1])
    compiled = compile_graph(g, inputs, _config(config))
    results = compiled.execute(lambda programs, reads: [golden(p) for p in programs])
    assert [r.cycles for r in results] == [r.predicted_cycles for r in compiled.runs]
    assert np.array_equal(compiled.outputs([r.mem for r in results])["y"], want)


@pytest.mark.parametrize("config", ["small16", "tiny-piped"])
def test_compiled_lookups_are_exact_on_rtl(config):
    shape = next(shape for name, shape in CASES if name == config)
    for model in _models(config):
        g, inputs, want = model(shape, seed=7)
        compiled = compile_graph(g, inputs, _config(config))
        results = compiled.execute(verilator_batch)
        assert all(not isinstance(r, Exception) for r in results), results
        assert [r.cycles for r in results] == [r.predicted_cycles for r in compiled.runs]
        assert np.array_equal(compiled.outputs([r.mem for r in results])["y"], want)


def test_a_table_on_a_core_without_an_sxm_is_refused_in_one_line():
    from conveyor.sw.compiler import CompileError
    g, inputs, _ = _table_model((2, 8), 0)
    no_sxm = dataclasses.replace(PRESETS["small16"], name="no-sxm", floorplan=tuple(
        k for k in PRESETS["small16"].floorplan if k != "sxm"))
    with pytest.raises(CompileError) as e:
        compile_graph(g, inputs, no_sxm)
    assert "needs an SXM slice" in str(e.value) and "\n" not in str(e.value)


def test_a_product_on_a_core_without_mul_i32_is_refused_in_one_line():
    from conveyor.sw.compiler import CompileError
    g, inputs, _ = _qmul_model((2, 4), 0)
    with pytest.raises(CompileError) as e:
        compile_graph(g, inputs, PIPED)
    assert "needs mul.i32, which config 'tiny-piped' does not build" in str(e.value)
    assert "\n" not in str(e.value)
