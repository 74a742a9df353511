"""TFLite models on the RTL (Verilator): the predicted cycles and LiteRT's bytes. In CI, one
model per op kind (written by tflite_writer) on small16, whose Verilator model the compiler's
RTL tests build anyway; behind ``slow``, MLPerf Tiny's two models on mlperf16 (its Verilator
build takes about 12 minutes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_tflite_ops import BUILDERS, _feeds
from tflite_writer import write_model

from conveyor.hw.machine.config import PRESETS, load_config
from conveyor.sim.batch import verilator_batch
from conveyor.sw.compiler import compile_graph
from conveyor.sw.frontends.tflite import import_tflite

ROOT = Path(__file__).resolve().parents[4]


def _check_on_rtl(cases) -> None:
    """cases: (model, compiled, feeds); every feed's programs run in one Verilator batch."""
    programs, expect = [], []
    for model, compiled, feeds in cases:
        for feed in feeds:
            ps = compiled.programs_for(model.graph_inputs(feed))
            programs += ps
            expect.append((model, compiled, feed, len(ps)))
    results = verilator_batch(programs)
    k = 0
    for model, compiled, feed, n in expect:
        mine = results[k:k + n]
        k += n
        assert all(not isinstance(r, Exception) for r in mine), mine
        assert sum(r.cycles for r in mine) == compiled.predicted_cycles, model.path
        got = compiled.outputs([r.mem for r in mine])
        for name, value in model.oracle(feed).items():
            assert np.array_equal(got[name], value), (model.path, name)


def _compiled(model, config, feed):
    c = compile_graph(model.graph, model.graph_inputs(feed), config)
    c.host = model.host
    return c


def test_each_op_kind_is_litert_on_rtl(tmp_path):
    cases = []
    for kind in ("conv", "depthwise", "add", "mul", "avgpool", "maxpool", "fc_softmax",
                 "leaky_relu", "logistic", "tanh"):
        rng = np.random.default_rng(200)
        model = import_tflite(write_model(tmp_path / f"{kind}.tflite", *BUILDERS[kind](rng)))
        feeds = _feeds(model, rng, 2, kind)
        cases.append((model, _compiled(model, PRESETS["small16"], feeds[0]), feeds))
    _check_on_rtl(cases)


@pytest.mark.slow
def test_mlperf_tiny_is_litert_on_rtl():
    config = load_config(str(ROOT / "bench" / "cores" / "mlperf16.toml"))
    cases = []
    for name in ("kws_ref_model.tflite", "pretrainedResnet_quant.tflite"):
        model = import_tflite(ROOT / "examples" / "mlperf-tiny" / name)
        feeds = _feeds(model, np.random.default_rng(21), 3)
        cases.append((model, _compiled(model, config, feeds[0]), feeds))
    _check_on_rtl(cases)
