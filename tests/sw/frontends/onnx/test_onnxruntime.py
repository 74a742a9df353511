"""Models quantised by onnxruntime (QDQ and QOperator, asymmetric int8 activations, per-channel
weights) against onnxruntime itself: the digits models of examples/digits (their README's table
is this file's measurement), a residual CNN with QLinearAdd written here, compiled on the golden
model and the RTL with predicted cycles equal to measured ones."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from tiny_onnx import one_line

from conveyor.hw.machine.config import PRESETS
from conveyor.sim import golden
from conveyor.sim.batch import verilator_batch
from conveyor.sw.compiler import compile_graph
from conveyor.sw.frontends.onnx import OnnxImportError, agreement, import_onnx
from conveyor.sw.ir.printer import print_module

ROOT = Path(__file__).resolve().parents[4]
DIGITS = ROOT / "examples" / "digits"
sys.path.insert(0, str(DIGITS))
import quantize_ort  # the example's own script


def residual_model(path: Path, rng) -> Path:
    """Conv-Relu, depthwise Conv, Add of the two (a skip), Relu, MaxPool 3x3 stride 2 pad 1,
    Flatten, Gemm: every op kind onnxruntime quantises into QLinearConv, QLinearAdd, MaxPool and
    QGemm."""
    import onnx

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32),
                                       name)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=8),
             helper.make_node("Add", ["c2", "r1"], ["s"]),
             helper.make_node("Relu", ["s"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 8, 1, 3, 3), w("b2", 8), w("wf", 10, 128),
         w("bf", 10)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _two_activations(path: Path, rng, op_type: str, **attrs) -> Path:
    """Conv, an activation, Flatten, Gemm, the activation again."""
    import onnx

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32),
                                       name)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node(op_type, ["c1"], ["l1"], **attrs.get("first", {})),
             helper.make_node("Flatten", ["l1"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["g"], transB=1),
             helper.make_node(op_type, ["g"], ["y"], **attrs.get("second", {}))]
    graph = helper.make_graph(
        nodes, op_type, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [w("w1", 8, 3, 3, 3), w("b1", 8), w("wf", 10, 512), w("bf", 10)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def leaky_model(path: Path, rng) -> Path:
    """LeakyRelu(0.1) and LeakyRelu(0.2): onnxruntime quantises each into a QLinearLeakyRelu
    (QOperator) or DQ, LeakyRelu, Q (QDQ)."""
    return _two_activations(path, rng, "LeakyRelu", first={"alpha": 0.1},
                            second={"alpha": 0.2})


def sigmoid_model(path: Path, rng) -> Path:
    """Two Sigmoids: QLinearSigmoid (QOperator) or DQ, Sigmoid, Q (QDQ)."""
    return _two_activations(path, rng, "Sigmoid")


def silu_model(path: Path, rng) -> Path:
    """Conv, then SiLU as PyTorch exports it (Sigmoid and a Mul of two activations), Flatten,
    Gemm: QLinearSigmoid and QLinearMul (QOperator), or Q/DQ around Sigmoid and Mul."""
    import onnx

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32),
                                       name)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c1"], ["s1"]),
             helper.make_node("Mul", ["c1", "s1"], ["m1"]),
             helper.make_node("Flatten", ["m1"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "silu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [w("w1", 8, 3, 3, 3), w("b1", 8), w("wf", 10, 512), w("bf", 10)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def quantize_residual(tmp_path: Path, fmt: str, per_channel: bool, calib,
                      build=residual_model) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(calib)

        def get_next(self):
            x = next(self.samples, None)
            return None if x is None else {"x": x}

    src = build(tmp_path / f"{build.__name__}.onnx", np.random.default_rng(0))
    out = tmp_path / f"{build.__name__}_{fmt}_{per_channel}.onnx"
    quantize_static(str(src), str(out), Reader(),
                    quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=per_channel)
    return out


@pytest.fixture(scope="module")
def residuals(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ort")
    rng = np.random.default_rng(1)
    calib = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(32)]
    models = {(fmt, pc): quantize_residual(tmp, fmt, pc, calib)
              for fmt in ("qdq", "qop") for pc in (False, True)}
    for build, key in ((leaky_model, "leaky"), (sigmoid_model, "sigmoid"), (silu_model, "silu")):
        models.update({(key, fmt, pc): quantize_residual(tmp, fmt, pc, calib, build)
                       for fmt in ("qdq", "qop") for pc in (False, True)})
    return models


# --- the import agrees with onnxruntime ---------------------------------------------------------

def _readme_rows() -> dict[tuple[str, str], str]:
    text = (DIGITS / "README.md").read_text()
    rows = re.findall(r"^\| (MLP|CNN) \| (QDQ|QOP) \| (.*) \|$", text, re.MULTILINE)
    return {(m, f): rest for m, f, rest in rows}


@pytest.mark.parametrize("model", quantize_ort.MODELS)
@pytest.mark.parametrize("fmt", quantize_ort.FORMATS)
def test_digits_agreement_is_the_readmes(model, fmt):
    """The README's figures are measured here, on the shipped files; >= 99.9 % equal bytes and
    none more than 1 LSB apart is the goal the figures must meet."""
    a, correct, n = quantize_ort.measure(DIGITS / f"{model}_{fmt}.onnx", model)
    assert a.total == n * 10
    assert a.percent >= 99.9 and a.max_lsb <= 1
    row = (f"{a.equal:,} of {a.total:,} ({a.percent:.2f} %) | {a.max_lsb} LSB | "
           f"{100 * correct / n:.2f} % ({correct})")
    assert _readme_rows()[(model.upper(), fmt.upper())] == row


@pytest.mark.parametrize("model", quantize_ort.MODELS)
@pytest.mark.parametrize("fmt", quantize_ort.FORMATS)
def test_the_script_writes_the_shipped_models(tmp_path, model, fmt):
    fresh = quantize_ort.quantize(model, fmt, tmp_path / "m.onnx")
    shipped = DIGITS / f"{model}_{fmt}.onnx"
    assert print_module(import_onnx(fresh).graph) == print_module(import_onnx(shipped).graph)


def _agreement_on(imported, path, rng, count: int = 40):
    """The agreement with onnxruntime over ``count`` random (1, 3, 8, 8) inputs."""
    total = None
    for _ in range(count):
        feed = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32) * 1.5}
        a = agreement(imported, path, feed)
        total = a if total is None else total.add(a)
    return total


@pytest.mark.parametrize("fmt", ["qdq", "qop"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_a_residual_cnn_agrees_with_onnxruntime(residuals, fmt, per_channel):
    path = residuals[(fmt, per_channel)]
    imported = import_onnx(path)
    rng = np.random.default_rng(2)
    total = _agreement_on(imported, path, rng)
    assert total.total == 400
    assert total.equal == total.total, total  # docs/compiler.md states 400 of 400


@pytest.mark.parametrize("fmt", ["qdq", "qop"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_leaky_relu_is_onnxruntimes_to_the_byte(residuals, fmt, per_channel):
    """onnxruntime's LeakyRelu is float32 rounded half to even (QLinearLeakyRelu a table of
    it): the importer fits each side's multiplier so that requant.s gives the same integers."""
    path = residuals[("leaky", fmt, per_channel)]
    imported = import_onnx(path)
    leaky = [op for op in imported.graph.ops if op.NAME == "graph.leaky_relu"]
    assert len(leaky) == 2 and all(op.attrs["rounding"] == "single" for op in leaky)
    rng = np.random.default_rng(4)
    total = _agreement_on(imported, path, rng)
    assert total.equal == total.total == 400, total


@pytest.mark.parametrize("fmt", ["qdq", "qop"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_sigmoid_is_onnxruntimes_to_the_byte(residuals, fmt, per_channel):
    """A Sigmoid (QLinearSigmoid) is a table of onnxruntime's float32 values."""
    path = residuals[("sigmoid", fmt, per_channel)]
    imported = import_onnx(path)
    assert [op.NAME for op in imported.graph.ops].count("graph.table") == 2
    rng = np.random.default_rng(5)
    total = _agreement_on(imported, path, rng)
    assert total.equal == total.total == 400, total


@pytest.mark.parametrize("fmt", ["qdq", "qop"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_silu_with_a_two_activation_mul_is_onnxruntimes(residuals, fmt, per_channel):
    """x * sigmoid(x): a table and TFLite's MUL (graph.qmul, rounded once as onnxruntime's
    float32 rescale is), the logits after it equal onnxruntime's."""
    path = residuals[("silu", fmt, per_channel)]
    imported = import_onnx(path)
    ops = [op.NAME for op in imported.graph.ops]
    assert ops.count("graph.table") == 1 and ops.count("graph.qmul") == 1
    rng = np.random.default_rng(6)
    total = _agreement_on(imported, path, rng)
    assert total.equal == total.total == 400, total


def test_the_integers_are_the_models(residuals):
    """QOperator: the graph's weights are the file's integers; its QLinearAdd is a qadd with
    both inputs' zero points; the input zero point pads the convolutions."""
    import onnx

    path = residuals[("qop", True)]
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    g = import_onnx(path).graph
    convs = [op for op in g.ops if op.NAME in ("graph.conv2d", "graph.depthwise_conv2d")]
    w = np.asarray(convs[0].w.owner.attrs["value"])
    w_file = next(v for k, v in inits.items() if v.dtype == np.int8 and v.shape == (8, 3, 3, 3))
    assert np.array_equal(w, w_file.transpose(2, 3, 1, 0))
    assert all(op.attrs["rounding"] == "single" for op in convs)
    assert convs[0].attrs["pad_value"] == int(inits["x_zero_point"])
    qadd, = [op for op in g.ops if op.NAME == "graph.qadd"]
    assert qadd.attrs["zp"] == int(inits["s_zero_point"])


# --- compiled: golden and RTL ---------------------------------------------------------------------

def _cases(residuals):
    rng = np.random.default_rng(3)
    paths = [DIGITS / "cnn_qop.onnx", DIGITS / "mlp_qdq.onnx", residuals[("qop", True)],
             residuals[("qdq", False)], residuals[("leaky", "qop", True)],
             residuals[("sigmoid", "qdq", True)], residuals[("silu", "qop", False)]]
    for path in paths:
        imported = import_onnx(path)
        shape = imported.inputs[0].onnx_shape
        feeds = [{"x": rng.uniform(0, 1, shape).astype(np.float32)} for _ in range(2)]
        compiled = compile_graph(imported.graph, imported.quantize_inputs(feeds[0]),
                                 PRESETS["small16"])
        yield path, imported, compiled, feeds


def _check(imported, path, compiled, feed, results):
    assert sum(r.cycles for r in results) == compiled.predicted_cycles, path
    got = compiled.outputs([r.mem for r in results])
    a = agreement(imported, path, feed, got)
    assert a.percent >= 99.9 and a.max_lsb <= 1, (path, a)
    from conveyor.sw.ir.reference import evaluate
    want = evaluate(imported.graph, imported.quantize_inputs(feed))
    for name, value in want.items():
        assert np.array_equal(got[name], value), (path, name)


def test_compiled_models_are_onnxruntime_on_golden(residuals):
    for path, imported, compiled, feeds in _cases(residuals):
        for feed in feeds:
            q = imported.quantize_inputs(feed)
            results = compiled.execute(lambda ps, reads: [golden.run(p) for p in ps], q)
            _check(imported, path, compiled, feed, results)


def test_compiled_models_are_onnxruntime_on_rtl(residuals):
    """One simulator for the models of one run each; a chained one (the Sigmoid model: its
    table lookups need more instruction words than small16's queues) run by run."""
    programs, expect = [], []
    for path, imported, compiled, feeds in _cases(residuals):
        for feed in feeds:
            q = imported.quantize_inputs(feed)
            if compiled.chained:
                results = compiled.execute(verilator_batch, q)
                assert all(not isinstance(r, Exception) for r in results), results
                _check(imported, path, compiled, feed, results)
                continue
            ps = compiled.programs_for(q)
            programs += ps
            expect.append((path, imported, compiled, feed, len(ps)))
    results = verilator_batch(programs)
    k = 0
    for path, imported, compiled, feed, n in expect:
        mine = results[k:k + n]
        k += n
        assert all(not isinstance(r, Exception) for r in mine), mine
        _check(imported, path, compiled, feed, mine)


# --- refusals: one line ---------------------------------------------------------------------------

def _qop_with(tmp_path, edit) -> Path:
    import onnx

    m = onnx.load(DIGITS / "cnn_qop.onnx")
    edit(m)
    path = tmp_path / "edited.onnx"
    onnx.save(m, path)
    return path


def test_qoperator_refusals_are_one_line(tmp_path):
    def uint16_weight(m):
        for i in m.graph.initializer:
            if i.data_type == TensorProto.INT8 and len(i.dims) == 4:
                i.CopyFrom(numpy_helper.from_array(
                    numpy_helper.to_array(i).astype(np.int32), i.name))

    def wrong_input_scale(m):
        conv = next(n for n in m.graph.node if n.op_type == "QLinearConv")
        m.graph.initializer.append(numpy_helper.from_array(np.float32(0.5), "other_scale"))
        conv.input[1] = "other_scale"

    def runtime_zero_point(m):
        conv = next(n for n in m.graph.node if n.op_type == "QLinearConv")
        conv.input[2] = "x"

    for edit, words in ((uint16_weight, ["QLinearConv", "weight", "int8 or uint8"]),
                        (wrong_input_scale, ["QLinearConv", "QuantizeLinear"]),
                        (runtime_zero_point, ["QLinearConv", "constant"])):
        with pytest.raises(OnnxImportError) as e:
            import_onnx(_qop_with(tmp_path, edit))
        one_line(e, *words)


def test_a_quantised_model_compiles_without_calibration(tmp_path, capsys):
    from conveyor.sw.apps.cli import main

    out = tmp_path / "cnn"
    assert main(["compile", str(DIGITS / "cnn_qop.onnx"), "-c", "small16", "-o", str(out)]) == 0
    assert main(["run", str(out)]) == 0
    assert "bit-exact yes" in capsys.readouterr().out
    # the user's own float images, three with a samples axis: onnxruntime's outputs, within
    # one step of the output's scale
    from conveyor.sw.frontends.onnx import onnxruntime_outputs

    xs = np.random.default_rng(4).uniform(0, 1, (3, 1, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=xs)
    assert main(["run", str(out), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                 str(tmp_path / "out.npz")]) == 0
    step = import_onnx(DIGITS / "cnn_qop.onnx").outputs[0].scale
    with np.load(tmp_path / "out.npz") as f:
        assert f["logits"].shape == (3, 1, 10) and f["logits"].dtype == np.float32
        for i in range(3):
            want = onnxruntime_outputs(DIGITS / "cnn_qop.onnx", {"x": xs[i]})["logits"]
            assert np.abs(f["logits"][i] - want).max() <= step * 1.01
