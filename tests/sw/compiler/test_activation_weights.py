"""A product whose weights are an activation (Q·Kᵀ and P·V in attention): the MXM loads the
tensor's words as they lie, each load after its word is written. Predicted cycles = golden =
RTL, outputs = numpy's."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sim.batch import verilator_batch
from conveyor.sim.golden import run as golden
from conveyor.sw.compiler import CompileError, compile_graph
from conveyor.sw.ir.builder import Graph
from conveyor.sw.ir.reference import evaluate


def _two_inputs(m: int, k: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    g = Graph("qk")
    g.output("s", g.matmul(g.input("q", (m, k)), g.input("k", (k, n))))
    inputs = {"q": rng.integers(-128, 128, (m, k)).astype(np.int8),
              "k": rng.integers(-128, 128, (k, n)).astype(np.int8)}
    return g, inputs, inputs["q"].astype(np.int64) @ inputs["k"].astype(np.int64)


def _computed(lanes: int, seed: int):
    """q @ kk with kk a linear layer's output (K rows, K a multiple of the lanes), requantised:
    the weights are written by the core in the same program."""
    rng = np.random.default_rng(seed)
    k = 2 * lanes if lanes < 64 else lanes
    g = Graph("att")
    x, q = g.input("x", (k, 12)), g.input("q", (3, k))
    kk = g.linear(x, rng.integers(-30, 30, (12, 20)).astype(np.int8), None, mul=1 << 30,
                  shift=5)
    g.output("s", g.linear(q, kk, None, mul=1 << 30, shift=9))
    inputs = {"x": rng.integers(-128, 128, (k, 12)).astype(np.int8),
              "q": rng.integers(-128, 128, (3, k)).astype(np.int8)}
    return g, inputs, evaluate(g, inputs)["s"]


@pytest.mark.parametrize("config, mkn", [("tiny", (3, 8, 6)), ("small16", (5, 32, 20)),
                                         ("small16", (1, 16, 16)), ("tsp", (2, 320, 40))])
def test_an_input_as_weights_on_golden(config, mkn):
    g, inputs, want = _two_inputs(*mkn, seed=sum(mkn))
    compiled = compile_graph(g, inputs, PRESETS[config])
    assert "act:" in compiled.runs[0].levels["tile"]
    result = golden(compiled.runs[0].program)
    assert result.cycles == compiled.predicted_cycles
    assert np.array_equal(compiled.outputs([result.mem])["s"], want)


@pytest.mark.parametrize("config", ["tiny", "small16", "tsp"])
def test_a_computed_activation_as_weights_on_golden(config):
    g, inputs, want = _computed(PRESETS[config].lanes, seed=3)
    compiled = compile_graph(g, inputs, PRESETS[config])
    results = compiled.execute(lambda programs, reads: [golden(p) for p in programs])
    assert [r.cycles for r in results] == [r.predicted_cycles for r in compiled.runs]
    assert np.array_equal(compiled.outputs([r.mem for r in results])["s"], want)


def test_activations_as_weights_on_rtl():
    cases = [_two_inputs(5, 32, 20, seed=1), _computed(16, seed=2)]
    compiled = [compile_graph(g, inputs, PRESETS["small16"]) for g, inputs, _ in cases]
    results = verilator_batch([c.runs[0].program for c in compiled])
    for c, (_, _, want), r in zip(compiled, cases, results):
        assert not isinstance(r, Exception), r
        assert r.cycles == c.predicted_cycles
        assert np.array_equal(c.outputs([r.mem])["s"], want)


def test_weights_of_k_not_a_multiple_of_the_lanes_are_refused_in_one_line():
    g, inputs, _ = _two_inputs(3, 20, 16, seed=0)
    with pytest.raises(CompileError) as e:
        compile_graph(g, inputs, PRESETS["small16"])
    message = str(e.value)
    assert "w %k is an activation" in message and "multiple of 16 lanes" in message
    assert "\n" not in message
