"""MLPerf Tiny's two int8 reference models (examples/mlperf-tiny) against LiteRT's
reference kernels, the definition: every output byte, on random and structured inputs, from
the compiler's reference and from the compiled program on the golden model with the predicted
cycles. Verilator runs them in test_tflite_rtl.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conveyor.hw.machine.config import load_config
from conveyor.sim import golden
from conveyor.sw.compiler import compile_graph
from conveyor.sw.compiler.host import apply_host_steps
from conveyor.sw.frontends.tflite import import_tflite
from conveyor.sw.ir.reference import evaluate

ROOT = Path(__file__).resolve().parents[4]
MODELS = ROOT / "examples" / "mlperf-tiny"
KWS, RESNET = MODELS / "kws_ref_model.tflite", MODELS / "pretrainedResnet_quant.tflite"
CONFIG = ROOT / "bench" / "cores" / "mlperf16.toml"


def structured_inputs(shape, zp: int) -> list[np.ndarray]:
    """Constants (edges and the zero point), ramps along each axis, a checkerboard, halves."""
    n = int(np.prod(shape))
    flat = np.arange(n)
    out = [np.full(shape, v, np.int8) for v in (-128, 127, 0, zp, -1)]
    out.append(((flat % 256) - 128).astype(np.int8).reshape(shape))
    out.append((((flat * 7) % 256) - 128).astype(np.int8).reshape(shape))
    idx = np.indices(shape).sum(axis=0)
    out.append(np.where(idx % 2, 127, -128).astype(np.int8))
    out.append(np.where(flat < n // 2, -128, 127).astype(np.int8).reshape(shape))
    return out


def inputs_for(model, count: int, seed: int) -> list[dict[str, np.ndarray]]:
    (name, shape), = model.inputs.items()
    zp = model.model.tensors[model.model.inputs[0]].zp
    rng = np.random.default_rng(seed)
    xs = structured_inputs(shape, zp)
    xs += [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(count - len(xs))]
    return [{name: x} for x in xs]


@pytest.fixture(scope="module", params=[KWS, RESNET], ids=["kws", "resnet8"])
def model(request):
    return import_tflite(request.param)


def test_the_reference_is_litert_on_every_byte(model):
    """120 inputs, every output (the logits the core computes, the softmax the host adds)."""
    for feed in inputs_for(model, 120, seed=7):
        want = model.oracle(feed)
        got = apply_host_steps(model.host, evaluate(model.graph, model.graph_inputs(feed)))
        for name, value in want.items():
            assert np.array_equal(got[name], value), name


def test_the_models_import_as_the_ops_they_are(model):
    names = [op.NAME for op in model.graph.ops]
    assert [s["op"] for s in model.host] == ["softmax"]
    if "kws" in model.path:
        assert names.count("graph.depthwise_conv2d") == 4 and names.count("graph.conv2d") == 5
    else:
        assert names.count("graph.qadd") == 3 and names.count("graph.conv2d") == 9
    assert names.count("graph.avgpool") == 1 and names.count("graph.linear") == 1


@pytest.fixture(scope="module")
def compiled(model):
    feed = inputs_for(model, 1, seed=1)[-1]
    c = compile_graph(model.graph, model.graph_inputs(feed), load_config(str(CONFIG)))
    c.host = model.host
    return c


def _golden_agrees(model, compiled, feeds) -> None:
    for feed in feeds:
        results = compiled.execute(lambda programs, reads: [golden.run(p) for p in programs],
                                   model.graph_inputs(feed))
        assert [r.cycles for r in results] == [r.predicted_cycles for r in compiled.runs]
        got = compiled.outputs([r.mem for r in results])
        for name, value in model.oracle(feed).items():
            assert np.array_equal(got[name], value), name


def test_the_compiled_model_is_litert_on_golden(model, compiled):
    feeds = inputs_for(model, 12, seed=3)
    _golden_agrees(model, compiled, [feeds[0], feeds[-1]])  # a constant and a random input


def test_the_readme_gives_the_compiled_figures(compiled):
    """examples/mlperf-tiny/README.md's table is this compile's cycles, MACs, utilisation."""
    text = (MODELS / "README.md").read_text()
    cycles, macs = compiled.predicted_cycles, compiled.useful_macs
    util = 100 * macs / (compiled.config.lanes ** 2 * cycles)
    row = (f"| {macs:,} | {cycles:,} | {util:.1f} % | "
           f"{cycles / compiled.config.clock_mhz:.1f} |")
    assert row in text, row


@pytest.mark.slow
def test_the_compiled_model_is_litert_on_golden_for_many_inputs(model, compiled):
    _golden_agrees(model, compiled, inputs_for(model, 100, seed=11))


def test_resnet8_too_big_for_small16_runs_as_chained_runs_exact_to_litert():
    """ResNet-8 needs more MEM and far more instruction words than small16 holds: it runs as
    runs the host chains (layers, and blocks of a layer's rows), each exactly its predicted
    cycles, the bytes LiteRT's."""
    from conveyor.hw.machine.config import PRESETS
    model = import_tflite(RESNET)
    feeds = inputs_for(model, 12, seed=4)
    compiled = compile_graph(model.graph, model.graph_inputs(feeds[0]), PRESETS["small16"])
    compiled.host = model.host
    assert compiled.chained and len(compiled.runs) > 15
    assert any(run.windows for run in compiled.runs)
    _golden_agrees(model, compiled, [feeds[1], feeds[-1]])
