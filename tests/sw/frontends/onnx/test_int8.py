"""The float model to an int8 graph: shared scales, multipliers kept below 1, models that come
quantised (QDQ), the digits models' int8 accuracy, and calibration."""

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator
from tiny_onnx import DIGITS, check, graph_ops, model, one_line, rand

from conveyor.sw.frontends.calibration import CalibrationError
from conveyor.sw.frontends.datasets import digits_data
from conveyor.sw.frontends.onnx import OnnxImportError, import_onnx, load_float_model
from conveyor.sw.frontends.quantize import quantize_weights
from conveyor.sw.ir.reference import evaluate

# --- scales --------------------------------------------------------------------------------------


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


# --- calibration ---------------------------------------------------------------------------------


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


def test_percentile_calibration_clips_the_range():
    full = import_onnx(DIGITS / "mlp.onnx", DIGITS / "mlp_calib.npy")
    clipped = import_onnx(DIGITS / "mlp.onnx", DIGITS / "mlp_calib.npy", percentile=99.0)
    assert clipped.scales["h1"][0] < full.scales["h1"][0]
    assert clipped.scales["logits"][0] < full.scales["logits"][0]
