"""ONNX import: every supported op in float against onnx's reference evaluator, and quantised
against the graph reference (conveyor.sw.ir.reference.evaluate); the digits models' int8 accuracy;
every user error is one line."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from conveyor.errors import ConveyorError
from conveyor.sw.frontends.onnx import OnnxImportError, import_onnx, load_float_model
from conveyor.sw.frontends.quantize import CalibrationError, digits_data, quantize_weights
from conveyor.sw.ir.reference import evaluate

ROOT = Path(__file__).resolve().parents[3]
DIGITS = ROOT / "examples" / "digits"


# --- building tiny models -----------------------------------------------------------------------

def model(nodes, inputs, outputs, inits=(), opset=13):
    """An ONNX model: ``inputs``/``outputs`` are (name, shape) with float elements, ``inits``
    a mapping name -> array."""
    graph = helper.make_graph(
        nodes, "t",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def graph_ops(imported):
    return [op.NAME.split(".")[1] for op in imported.graph.ops
            if op.NAME not in ("graph.const", "graph.input", "graph.output")]


def check(m, feeds, *, batch=1, rel=0.04):
    """Float: the importer's float model equals onnx's reference evaluator. Int8: the graph,
    calibrated on ``feeds`` and run by the graph reference, stays within ``rel`` of the output
    range of float. ``feeds`` hold several samples; for a batch-1 model each runs alone."""
    ref = ReferenceEvaluator(m)
    fm = load_float_model(m, batch=batch)
    n = next(iter(feeds.values())).shape[0]
    chunks = [ref.run(None, {k: v[i:i + batch] for k, v in feeds.items()})
              for i in range(0, n, batch)]
    want = [np.concatenate(outs) for outs in zip(*chunks)]
    got = fm.run(feeds)
    for o, w in zip(fm.outputs, want):
        np.testing.assert_allclose(got[o.name], w, rtol=1e-5, atol=1e-5)

    imported = import_onnx(m, feeds, batch=batch)
    for start in range(0, n, batch):
        sample = {k: v[start:start + batch] for k, v in feeds.items()}
        q = evaluate(imported.graph, imported.quantize_inputs(sample))
        deq = imported.dequantize_outputs(q)
        for o, w in zip(imported.outputs, want):
            w = w[start:start + batch]
            span = float(np.abs(want[imported.outputs.index(o)]).max())
            assert q[o.name].dtype == np.int8 and np.abs(q[o.name]).max() > 0
            err = float(np.abs(deq[o.name] - w).max())
            assert err <= rel * span, f"{o.name}: error {err:.4f} vs range {span:.4f}"
    return imported


# --- every op, float and int8 --------------------------------------------------------------------

def test_gemm_transb_alpha_beta():
    rng = np.random.default_rng(1)
    m = model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], "fc", transB=1, alpha=0.5,
                                beta=2.0)],
              [("x", ["N", 12])], [("y", ["N", 5])], {"w": rand(rng, 5, 12), "b": rand(rng, 5)})
    imported = check(m, {"x": rand(rng, 16, 12)}, batch=4)
    assert graph_ops(imported) == ["linear"]
    assert imported.graph.inputs["x"].type.shape == (4, 12)


def test_gemm_row_bias_and_matmul_without_bias():
    rng = np.random.default_rng(2)
    m = model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], "fc1"),
               helper.make_node("MatMul", ["h", "w2"], ["y"], "mm")],
              [("x", ["N", 8])], [("y", ["N", 3])],
              {"w": rand(rng, 8, 6), "b": rand(rng, 1, 6), "w2": rand(rng, 6, 3)})
    assert graph_ops(check(m, {"x": rand(rng, 20, 8)}, batch=5)) == ["linear", "linear"]


def test_matmul_add_bias_relu_fuse_into_one_linear():
    rng = np.random.default_rng(3)
    m = model([helper.make_node("MatMul", ["x", "w"], ["mm"], "mm"),
               helper.make_node("Add", ["b", "mm"], ["z"], "bias"),
               helper.make_node("Relu", ["z"], ["y"], "relu")],
              [("x", ["N", 10])], [("y", ["N", 7])], {"w": rand(rng, 10, 7), "b": rand(rng, 7)})
    imported = check(m, {"x": rand(rng, 12, 10)}, batch=12)
    assert graph_ops(imported) == ["linear"]
    assert imported.graph.ops[-2].attrs["relu"] is True


def test_relu_on_an_input_is_a_relu_op():
    rng = np.random.default_rng(4)
    m = model([helper.make_node("Relu", ["x"], ["r"], "relu"),
               helper.make_node("Gemm", ["r", "w"], ["y"], "fc", transB=1)],
              [("x", ["N", 6])], [("y", ["N", 4])], {"w": rand(rng, 4, 6)})
    assert graph_ops(check(m, {"x": rand(rng, 10, 6)}, batch=2)) == ["relu", "linear"]


def test_add_of_two_activations_shares_a_scale():
    rng = np.random.default_rng(5)
    m = model([helper.make_node("Gemm", ["x", "wa"], ["a"], "fa", transB=1),
               helper.make_node("Gemm", ["x", "wb", "bb"], ["b"], "fb", transB=1),
               helper.make_node("Add", ["a", "b"], ["s"], "add"),
               helper.make_node("Relu", ["s"], ["y"], "relu")],
              [("x", ["N", 9])], [("y", ["N", 4])],
              {"wa": rand(rng, 4, 9), "wb": rand(rng, 4, 9, scale=0.1), "bb": rand(rng, 4)})
    imported = check(m, {"x": rand(rng, 30, 9)}, batch=30)
    assert graph_ops(imported) == ["linear", "linear", "add"]
    assert imported.scales["a"] == imported.scales["b"]


def test_add_whose_output_is_smaller_than_its_inputs_raises_the_output_scale():
    """a + (-a + e): the sum's range is far below the inputs', so the multiplier would be > 1
    with calibrated scales; the importer raises the output scale instead."""
    rng = np.random.default_rng(6)
    w = rand(rng, 3, 5)
    m = model([helper.make_node("Gemm", ["x", "wa"], ["a"], "fa", transB=1),
               helper.make_node("Gemm", ["x", "wb"], ["b"], "fb", transB=1),
               helper.make_node("Add", ["a", "b"], ["y"], "add")],
              [("x", ["N", 5])], [("y", ["N", 3])], {"wa": w, "wb": -w * 0.98})
    x = rand(rng, 20, 5)
    imported = import_onnx(m, {"x": x}, batch=20)
    add = next(op for op in imported.graph.ops if op.NAME == "graph.add")
    s_in, s_out = imported.scales["a"][0], imported.scales["y"][0]
    assert s_out > s_in and add.attrs["mul"] < 2 ** 31
    # The sum is exact in the inputs' scale; what is lost is the inputs' own rounding.
    err = np.abs(imported.run({"x": x})["y"] - ReferenceEvaluator(m).run(None, {"x": x})[0])
    assert err.max() <= s_in + s_out / 2


@pytest.mark.parametrize("stride, pad", [(1, 1), (2, 0), (2, 1)])
def test_conv(stride, pad):
    rng = np.random.default_rng(7 + stride + pad)
    m = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], "conv", kernel_shape=[3, 3],
                                strides=[stride, stride], pads=[pad] * 4)],
              [("x", ["N", 3, 7, 7])], [("y", ["N", 4, "H", "W"])],
              {"w": rand(rng, 4, 3, 3, 3), "b": rand(rng, 4)})
    imported = check(m, {"x": rand(rng, 6, 3, 7, 7)})
    assert graph_ops(imported) == ["conv2d"]
    assert imported.graph.inputs["x"].type.shape == (7, 7, 3)
    assert imported.outputs[0].layout == "nhwc"


def test_conv_add_channel_bias_relu_maxpool():
    rng = np.random.default_rng(8)
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], "conv", kernel_shape=[2, 2]),
               helper.make_node("Add", ["c", "b"], ["cb"], "bias"),
               helper.make_node("Relu", ["cb"], ["r"], "relu"),
               helper.make_node("MaxPool", ["r"], ["y"], "pool", kernel_shape=[2, 2],
                                strides=[2, 2])],
              [("x", ["N", 2, 5, 9])], [("y", ["N", 3, 2, 4])],
              {"w": rand(rng, 3, 2, 2, 2), "b": rand(rng, 1, 3, 1, 1)})
    assert graph_ops(check(m, {"x": rand(rng, 5, 2, 5, 9)})) == ["conv2d", "maxpool2x2"]


@pytest.mark.parametrize("flatten", ["Flatten", "Reshape-1", "Reshape0"])
def test_flatten_after_conv_permutes_the_next_weight(flatten):
    rng = np.random.default_rng(9)
    inits = {"w": rand(rng, 4, 2, 3, 3), "fw": rand(rng, 5, 4 * 4 * 3)}
    if flatten == "Flatten":
        flat = helper.make_node("Flatten", ["p"], ["f"], "flatten", axis=1)
    else:
        flat = helper.make_node("Reshape", ["p", "shape"], ["f"], "reshape")
        inits["shape"] = np.array([1, -1] if flatten == "Reshape-1" else [0, 48], np.int64)
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], "conv", pads=[1, 1, 1, 1]),
               helper.make_node("Relu", ["c"], ["r"], "relu"),
               helper.make_node("MaxPool", ["r"], ["p"], "pool", kernel_shape=[2, 2],
                                strides=[2, 2]),
               flat,
               helper.make_node("Gemm", ["f", "fw"], ["y"], "fc", transB=1)],
              [("x", [1, 2, 8, 6])], [("y", [1, 5])], inits)
    imported = check(m, {"x": rand(rng, 8, 2, 8, 6)})
    assert graph_ops(imported) == ["conv2d", "maxpool2x2", "reshape", "linear"]
    reshape = next(op for op in imported.graph.ops if op.NAME == "graph.reshape")
    assert reshape.results[0].type.shape == (1, 48)


def test_pytorch_style_flatten_through_shape_folds():
    """``x.view(x.size(0), -1)``: Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    rng = np.random.default_rng(15)
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], "conv"),
               helper.make_node("Shape", ["c"], ["shape"], "shape"),
               helper.make_node("Gather", ["shape", "zero"], ["n"], "gather", axis=0),
               helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], "unsqueeze"),
               helper.make_node("Concat", ["n1", "minus1"], ["target"], "concat", axis=0),
               helper.make_node("Reshape", ["c", "target"], ["f"], "view"),
               helper.make_node("Gemm", ["f", "fw"], ["y"], "fc", transB=1)],
              [("x", [1, 2, 5, 5])], [("y", [1, 3])],
              {"w": rand(rng, 4, 2, 2, 2), "fw": rand(rng, 3, 64), "zero": np.array(0),
               "axes": np.array([0]), "minus1": np.array([-1])})
    assert graph_ops(check(m, {"x": rand(rng, 4, 2, 5, 5)})) == ["conv2d", "reshape", "linear"]


def test_flattened_output_comes_back_in_onnx_order():
    rng = np.random.default_rng(10)
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], "conv"),
               helper.make_node("Flatten", ["c"], ["y"], "flatten")],
              [("x", [1, 1, 4, 4])], [("y", [1, 2 * 3 * 3])], {"w": rand(rng, 2, 1, 2, 2)})
    imported = check(m, {"x": rand(rng, 4, 1, 4, 4)})
    assert imported.outputs[0].layout == "perm"


def test_identity_dropout_and_folded_constants():
    """Identity and Dropout pass through; a Constant and a Transpose of a weight fold."""
    rng = np.random.default_rng(11)
    w = rand(rng, 6, 4)
    m = model([helper.make_node("Constant", [], ["wt"], "const",
                                value=numpy_helper.from_array(w.T.copy())),
               helper.make_node("Transpose", ["wt"], ["w"], "transpose"),
               helper.make_node("Identity", ["x"], ["xi"], "id"),
               helper.make_node("Dropout", ["xi"], ["xd"], "drop"),
               helper.make_node("MatMul", ["xd", "w"], ["y"], "mm")],
              [("x", ["N", 6])], [("y", ["N", 4])])
    assert graph_ops(check(m, {"x": rand(rng, 8, 6)}, batch=8)) == ["linear"]


# --- models that come quantised (QDQ) ------------------------------------------------------------

def qdq_model(rng, act_dtype):
    """x -Q/DQ-> Conv (int8 per-channel weights, int32 bias) -> Relu -Q/DQ-> Flatten
    -> Gemm -Q/DQ-> y. ``act_dtype`` int8 (zero point 0) or uint8 (zero points 128 + ...)."""
    is_u8 = act_dtype == np.uint8
    s_x, s_c, s_y = 0.02, 0.05, 0.1
    zx, zc, zy = (np.array(z, act_dtype) for z in ((131, 0, 120) if is_u8 else (0, -128, 3)))
    wc = rand(rng, 3, 2, 2, 2)
    qc, sc = quantize_weights(wc, axis=0)
    wf = rand(rng, 4, 3 * 3 * 3, scale=0.3)
    qf, sf = quantize_weights(wf, axis=0)
    bc = np.rint(rand(rng, 3) / (s_x * sc)).astype(np.int32)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"], "qx"),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"], "dqx"),
        helper.make_node("DequantizeLinear", ["qc", "sc"], ["wc"], "dqwc", axis=0),
        helper.make_node("DequantizeLinear", ["bc", "sbc"], ["bcf"], "dqbc", axis=0),
        helper.make_node("Conv", ["xd", "wc", "bcf"], ["c"], "conv"),
        helper.make_node("Relu", ["c"], ["r"], "relu"),
        helper.make_node("QuantizeLinear", ["r", "s_c", "zc"], ["rq"], "qr"),
        helper.make_node("DequantizeLinear", ["rq", "s_c", "zc"], ["rd"], "dqr"),
        helper.make_node("Flatten", ["rd"], ["f"], "flatten"),
        helper.make_node("DequantizeLinear", ["qf", "sf"], ["wf"], "dqwf", axis=0),
        helper.make_node("Gemm", ["f", "wf"], ["g"], "fc", transB=1),
        helper.make_node("QuantizeLinear", ["g", "sy", "zy"], ["gq"], "qy"),
        helper.make_node("DequantizeLinear", ["gq", "sy", "zy"], ["y"], "dqy"),
    ]
    inits = {"sx": np.float32(s_x), "zx": zx, "s_c": np.float32(s_c), "zc": zc,
             "sy": np.float32(s_y), "zy": zy, "qc": qc, "sc": sc.astype(np.float32),
             "bc": bc, "sbc": (s_x * sc).astype(np.float32), "qf": qf,
             "sf": sf.astype(np.float32)}
    m = model(nodes, [("x", [1, 2, 4, 4])], [("y", [1, 4])], inits, opset=19)
    return m, qc, qf, (s_y, int(zy) - (128 if is_u8 else 0))


@pytest.mark.parametrize("act_dtype", [np.int8, np.uint8], ids=["int8", "uint8"])
def test_qdq_model_keeps_its_integers_and_scales(act_dtype):
    """No calibration needed; the graph's weights are the model's own int8; the int8 output is
    the onnx reference's QuantizeLinear output to within 1 (float rounding vs fixed point)."""
    rng = np.random.default_rng(12)
    m, qc, qf, (s_y, z_y) = qdq_model(rng, act_dtype)
    imported = import_onnx(m)
    assert graph_ops(imported) == ["conv2d", "reshape", "linear"]
    consts = [op.attrs["value"] for op in imported.graph.ops if op.NAME == "graph.const"]
    np.testing.assert_array_equal(consts[0], qc.transpose(2, 3, 1, 0))
    assert sorted(consts[2].reshape(-1)) == sorted(qf.reshape(-1))  # rows permuted (flatten)
    assert (imported.outputs[0].scale, imported.outputs[0].zp) == (pytest.approx(s_y), z_y)

    ref = ReferenceEvaluator(m)
    diffs = []
    for _ in range(20):
        x = rand(rng, 1, 2, 4, 4)
        want = ref.run(None, {"x": x})[0]
        q = evaluate(imported.graph, imported.quantize_inputs({"x": x}))["y"]
        want_q = np.rint(want / s_y) + z_y
        diffs.append(np.abs(q.astype(np.int64) - want_q))
        np.testing.assert_allclose(load_float_model(m).run({"x": x})["y"], want, atol=1e-5)
    diffs = np.concatenate(diffs)
    assert diffs.max() <= 1 and (diffs == 0).mean() > 0.9


# --- the digits models ---------------------------------------------------------------------------

def accuracy(imported, x, y, batch):
    preds = []
    for start in range(0, len(y), batch):
        q = evaluate(imported.graph, imported.quantize_inputs({"x": x[start:start + batch]}))
        preds.append(q["logits"].reshape(-1, 10).argmax(axis=1))
    return float((np.concatenate(preds) == y).mean())


@pytest.mark.parametrize("name, layout, batch", [("mlp", "flat", 360), ("cnn", "nchw", 1)])
def test_digits_int8_accuracy_within_one_point_of_float(name, layout, batch):
    x, y = digits_data("test", layout)
    path = DIGITS / f"{name}.onnx"
    (logits,) = ReferenceEvaluator(str(path)).run(None, {"x": x})
    float_acc = float((logits.argmax(axis=1) == y).mean())
    imported = import_onnx(path, DIGITS / f"{name}_calib.npy", batch=batch)
    int8_acc = accuracy(imported, x, y, batch)
    assert float_acc >= 0.95
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)


def test_digits_graphs():
    """The graphs the compiler gets for the two digits models."""
    mlp = import_onnx(DIGITS / "mlp.onnx", DIGITS / "mlp_calib.npy", batch=16)
    cnn = import_onnx(DIGITS / "cnn.onnx", DIGITS / "cnn_calib.npy")
    shapes = [(op.NAME, op.results[0].type.shape) for op in mlp.graph.ops if op.results]
    assert [s for s in shapes if s[0] != "graph.const"] == [
        ("graph.input", (16, 64)), ("graph.linear", (16, 32)), ("graph.linear", (16, 10))]
    shapes = [(op.NAME, op.results[0].type.shape) for op in cnn.graph.ops if op.results]
    assert [s for s in shapes if s[0] != "graph.const"] == [
        ("graph.input", (8, 8, 1)), ("graph.conv2d", (8, 8, 8)), ("graph.maxpool2x2", (4, 4, 8)),
        ("graph.reshape", (1, 128)), ("graph.linear", (1, 10))]


def test_digits_data_split():
    xt, yt = digits_data("test")
    xr, yr = digits_data("train", "nchw")
    assert xt.shape == (360, 64) and xr.shape == (1437, 1, 8, 8)
    assert xt.dtype == np.float32 and 0 <= xt.min() and xt.max() <= 1
    assert set(yt) == set(range(10)) and len(yr) == 1437


# --- errors: one line each -----------------------------------------------------------------------

def one_line(excinfo, *words):
    text = str(excinfo.value)
    assert isinstance(excinfo.value, ConveyorError)
    assert "\n" not in text and text
    for w in words:
        assert w in text, text


def test_unsupported_op_names_the_op_and_the_node():
    m = model([helper.make_node("Softmax", ["x"], ["y"], "prob")],
              [("x", ["N", 4])], [("y", ["N", 4])])
    with pytest.raises(OnnxImportError) as e:
        load_float_model(m)
    one_line(e, "Softmax", "'prob'")


@pytest.mark.parametrize("node, words", [
    (helper.make_node("Conv", ["x", "w4"], ["y"], "grouped", group=2), ["Conv", "'grouped'",
                                                                         "group"]),
    (helper.make_node("MaxPool", ["x"], ["y"], "pool3", kernel_shape=[3, 3], strides=[3, 3]),
     ["MaxPool", "'pool3'", "2x2"]),
    (helper.make_node("Conv", ["x", "w"], ["y"], "strided", strides=[1, 2]),
     ["Conv", "'strided'", "stride"]),
    (helper.make_node("Conv", ["x", "w"], ["y"], "", pads=[1, 0, 1, 0]), ["Conv", "pads",
                                                                          "output 'y'"]),
])
def test_unsupported_attributes(node, words):
    rng = np.random.default_rng(13)
    m = model([node], [("x", [1, 4, 6, 6])], [("y", [1, 2, "H", "W"])],
              {"w": rand(rng, 2, 4, 3, 3), "w4": rand(rng, 2, 2, 3, 3)})
    with pytest.raises(OnnxImportError) as e:
        load_float_model(m)
    one_line(e, *words)


def test_unsupported_structures():
    rng = np.random.default_rng(14)
    two_runtime = model([helper.make_node("MatMul", ["x", "x2"], ["y"], "mm")],
                        [("x", [2, 3]), ("x2", [3, 2])], [("y", [2, 2])])
    with pytest.raises(OnnxImportError) as e:
        load_float_model(two_runtime)
    one_line(e, "MatMul", "'mm'", "two runtime tensors")
    const_add = model([helper.make_node("Add", ["x", "c"], ["y"], "shift")],
                      [("x", [2, 3])], [("y", [2, 3])], {"c": rand(rng, 3)})
    with pytest.raises(OnnxImportError) as e:
        load_float_model(const_add)
    one_line(e, "Add", "'shift'", "bias")


@pytest.mark.parametrize("content", [b"", b"hello, this is not ONNX\n", "truncated"])
def test_not_onnx_or_truncated(tmp_path, content):
    path = tmp_path / "bad.onnx"
    if content == "truncated":
        content = (DIGITS / "mlp.onnx").read_bytes()[:-40]
    path.write_bytes(content)
    with pytest.raises(OnnxImportError) as e:
        import_onnx(path, DIGITS / "mlp_calib.npy")
    one_line(e, str(path))


def test_missing_file():
    with pytest.raises(OnnxImportError) as e:
        load_float_model("/nonexistent/model.onnx")
    one_line(e, "/nonexistent/model.onnx", "cannot read")


def test_calibration_errors(tmp_path):
    with pytest.raises(OnnxImportError) as e:
        import_onnx(DIGITS / "mlp.onnx")
    one_line(e, "calibration")
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((4, 63), np.float32))
    with pytest.raises(OnnxImportError) as e:
        import_onnx(DIGITS / "mlp.onnx", wrong)
    one_line(e, "(n, 64)")
    npz = tmp_path / "calib.npz"
    np.savez(npz, y=np.zeros((4, 64), np.float32))
    with pytest.raises(CalibrationError) as e:
        import_onnx(DIGITS / "mlp.onnx", npz)
    one_line(e, "'x'")
    text = tmp_path / "calib.npy"
    text.write_text("not numpy\n")
    with pytest.raises(CalibrationError) as e:
        import_onnx(DIGITS / "mlp.onnx", text)
    one_line(e, "not a .npy")
    with pytest.raises(CalibrationError) as e:
        import_onnx(DIGITS / "mlp.onnx", tmp_path / "absent.npy")
    one_line(e, "cannot read")


def test_npz_calibration_by_input_name(tmp_path):
    npz = tmp_path / "calib.npz"
    np.savez(npz, x=np.load(DIGITS / "mlp_calib.npy"))
    a = import_onnx(DIGITS / "mlp.onnx", npz)
    b = import_onnx(DIGITS / "mlp.onnx", DIGITS / "mlp_calib.npy")
    assert a.scales == b.scales


def test_images_need_batch_one():
    with pytest.raises(OnnxImportError) as e:
        load_float_model(DIGITS / "cnn.onnx", batch=4)
    one_line(e, "batch 1")


def test_percentile_calibration_clips_the_range():
    full = import_onnx(DIGITS / "mlp.onnx", DIGITS / "mlp_calib.npy")
    clipped = import_onnx(DIGITS / "mlp.onnx", DIGITS / "mlp_calib.npy", percentile=99.0)
    assert clipped.scales["h1"][0] < full.scales["h1"][0]
    assert clipped.scales["logits"][0] < full.scales["logits"][0]
