"""Compiled layers on the RTL: the Verilator model takes exactly the predicted cycles and its
outputs equal the numpy reference, for every layer kind, on both small presets. All programs of
a config run in one simulator process."""

from __future__ import annotations

import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sim.batch import verilator_batch
from conveyor.sw.compiler import compile_graph
from conveyor.sw.frontends.specs import compile_spec

CASES = {
    "tiny": ["matmul:M=9,K=7,N=5", "linear:M=3,K=5,N=2,relu=1",
             "conv2d:H=4,W=4,C=3,K=2,R=2,S=2,stride=1,pad=0"],
    "small16": ["matmul:M=37,K=50,N=21", "linear:M=20,K=40,N=30,relu=1",
                "conv2d:H=6,W=6,C=3,K=5,R=3,S=3,stride=1,pad=1"],
}


@pytest.mark.parametrize("config", list(CASES))
def test_compiled_layers_are_cycle_and_bit_exact_on_rtl(config, every_layer_network,
                                                        tflite_layer_network):
    compiled = [compile_spec(spec, config, seed=5) for spec in CASES[config]]
    if config == "small16":
        for g, inputs in (every_layer_network, tflite_layer_network):
            compiled.append(compile_graph(g, inputs, PRESETS[config]))
    programs = [run.program for c in compiled for run in c.runs]
    results = verilator_batch(programs)
    k = 0
    for c in compiled:
        mine = results[k:k + len(c.runs)]
        k += len(c.runs)
        for r in mine:
            assert not isinstance(r, Exception), r
        assert sum(r.cycles for r in mine) == c.predicted_cycles, c.spec
        assert c.bit_exact([r.mem for r in mine]), c.spec
