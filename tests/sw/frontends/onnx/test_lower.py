"""ONNX nodes to the float model: every supported op, in float against onnx's reference
evaluator and quantised against the graph reference (conveyor.sw.ir.reference.evaluate); an
unsupported op, attribute or structure is one line naming the node, also from check_model."""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from tiny_onnx import DIGITS, check, graph_ops, model, one_line, rand

from conveyor.sw.frontends.onnx import OnnxImportError, check_model, load_float_model

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


# --- errors: one line each -----------------------------------------------------------------------


def test_unsupported_op_names_the_op_and_the_node():
    m = model([helper.make_node("Sin", ["x"], ["y"], "prob")],
              [("x", ["N", 4])], [("y", ["N", 4])])
    with pytest.raises(OnnxImportError) as e:
        load_float_model(m)
    one_line(e, "Sin", "'prob'")


@pytest.mark.parametrize("node, words", [
    (helper.make_node("Conv", ["x", "w4"], ["y"], "grouped", group=2), ["Conv", "'grouped'",
                                                                         "group"]),
    (helper.make_node("MaxPool", ["x"], ["y"], "pool3", kernel_shape=[3, 3], ceil_mode=1),
     ["MaxPool", "'pool3'", "ceil_mode"]),
    (helper.make_node("Conv", ["x", "w"], ["y"], "strided", strides=[1, 2]),
     ["Conv", "'strided'", "stride"]),
    (helper.make_node("Conv", ["x", "w"], ["y"], "", pads=[1, 0, -1, 0]), ["Conv", "pads",
                                                                           "output 'y'"]),
    (helper.make_node("MaxPool", ["x"], ["y"], "wide", kernel_shape=[2, 2], pads=[2, 0, 0, 0]),
     ["MaxPool", "'wide'", "does not fit"]),
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


def test_images_in_a_batch_keep_it():
    """The digits CNN at batch 4: its input is four (H, W, C) maps, its output four rows."""
    fm = load_float_model(DIGITS / "cnn.onnx", batch=4)
    assert fm.inputs[0].onnx_shape == (4, 1, 8, 8) and fm.inputs[0].graph_shape == (4, 8, 8, 1)
    assert fm.outputs[0].onnx_shape[0] == 4


# --- checking a model before calibration ---------------------------------------------------------

def test_check_model_names_an_unsupported_op_without_calibration(tmp_path):
    """What ``conveyor compile`` asks before it asks for calibration data."""
    rng = np.random.default_rng(16)
    m = model([helper.make_node("Gemm", ["x", "w"], ["z"], "fc", transB=1),
               helper.make_node("Sin", ["z"], ["y"], "prob")],
              [("x", ["N", 4])], [("y", ["N", 3])], {"w": rand(rng, 3, 4)})
    path = tmp_path / "sin.onnx"
    onnx.save(m, path)
    for given in (m, path, str(path)):
        with pytest.raises(OnnxImportError) as e:
            check_model(given)
        one_line(e, "Sin", "'prob'")


def test_check_model_passes_the_digits_models_and_takes_the_batch():
    for name in ("mlp", "cnn"):
        assert check_model(DIGITS / f"{name}.onnx") is None
    assert check_model(DIGITS / "mlp.onnx", batch=16) is None
