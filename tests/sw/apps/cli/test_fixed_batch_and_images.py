"""`conveyor compile` and `conveyor run` on the ONNX models of issue 16: an MLP with a fixed
batch of 4 (its rows), a CNN on a batch of 4 images, CNNs on a 3x32x32 image (whose image fills
a MEM slice; at stride 1 in several runs), all on small16, bit-exact with the predicted cycles
on the golden model; a model that does not fit is one line naming the layer, the queue and
what it needs."""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conveyor.sw.apps.cli import main


def _model(nodes, x_shape, y_shape, inits):
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _weights(rng, *shape):
    return rng.standard_normal(shape) * 0.3


def _cnn(rng, flat: int, stride: int = 2):
    """Conv 3->8 3x3 (pad 1), ReLU, 2x2 max pool, conv 8->16, ReLU, max pool, flatten, Gemm
    -> 10, on a 3x32x32 image."""
    return _model([
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1] * 4, strides=[stride] * 2),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("MaxPool", ["r0"], ["p0"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p0", "w1", "b1"], ["c1"], pads=[1] * 4),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p1"], ["f"]),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1),
    ], (1, 3, 32, 32), (1, 10), {
        "w0": _weights(rng, 8, 3, 3, 3), "b0": _weights(rng, 8),
        "w1": _weights(rng, 16, 8, 3, 3), "b1": _weights(rng, 16),
        "w2": _weights(rng, 10, flat) * 0.2, "b2": _weights(rng, 10)})


def _compile_and_run(tmp_path, capsys, m, calibration):
    onnx.save(m, tmp_path / "m.onnx")
    np.save(tmp_path / "calib.npy", calibration.astype(np.float32))
    out = tmp_path / "out"
    assert main(["compile", str(tmp_path / "m.onnx"), "--calibration",
                 str(tmp_path / "calib.npy"), "-c", "small16", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out), "--json"]) == 0
    return out, json.loads(capsys.readouterr().out)


def test_a_fixed_batch_of_4_compiles_and_runs_with_its_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    m = _model([helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], transB=1),
                helper.make_node("Relu", ["h"], ["hr"]),
                helper.make_node("Gemm", ["hr", "w1", "b1"], ["y"], transB=1)],
               (4, 64), (4, 10), {"w0": _weights(rng, 32, 64), "b0": _weights(rng, 32),
                                  "w1": _weights(rng, 10, 32), "b1": _weights(rng, 10)})
    calibration = rng.standard_normal((16, 64))
    out, result = _compile_and_run(tmp_path, capsys, m, calibration)
    assert result["bit_exact"] and result["cycles"] == result["predicted_cycles"]
    with np.load(out / "inputs.npz") as f:
        assert f["x"].shape == (4, 64)  # the first 4 calibration samples, one per row
        assert len({f["x"][i].tobytes() for i in range(4)}) == 4


def test_a_fixed_batch_needs_as_many_calibration_samples(tmp_path, capsys):
    rng = np.random.default_rng(0)
    m = _model([helper.make_node("Gemm", ["x", "w0", "b0"], ["y"], transB=1)], (4, 64),
               (4, 10), {"w0": _weights(rng, 10, 64), "b0": _weights(rng, 10)})
    onnx.save(m, tmp_path / "m.onnx")
    np.save(tmp_path / "calib.npy", rng.standard_normal((3, 64)).astype(np.float32))
    assert main(["compile", str(tmp_path / "m.onnx"), "--calibration",
                 str(tmp_path / "calib.npy"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "input 'x' has a batch of 4 and the calibration data only 3" in err
    assert err.count("\n") == 1


def test_a_cnn_on_a_3x32x32_image_compiles_on_small16(tmp_path, capsys):
    """The image is 1,024 words, a whole small16 slice: the per-channel constants' words next
    to the VXM are set aside first, so the image goes elsewhere (it used to take mem0 and
    leave the constants no room)."""
    rng = np.random.default_rng(1)
    out, result = _compile_and_run(tmp_path, capsys, _cnn(rng, 16 * 4 * 4),
                                   rng.standard_normal((8, 3, 32, 32)))
    assert result["bit_exact"] and result["cycles"] == result["predicted_cycles"]
    placed = json.loads((out / "manifest.json").read_text())["runs"][0]["inputs"]["x"]
    assert placed["rows"] == 1024 and placed["tiles"][0][0][0] not in {
        "mem0", "mem1", "mem2", "mem3"}  # not next to the VXM


def test_a_model_that_does_not_fit_is_one_line(tmp_path, capsys):
    """A Gemm on a flattened 16x16x16 map: 256 K tiles of 16 weight rows (4,096 words, spread
    over slices) need 1,025 words of the MXM's weight queue, more than small16's 1,024, and a
    one-row product does not split into runs: the error names the layer and the queue."""
    rng = np.random.default_rng(2)
    m = _model([
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1] * 4, strides=[2, 2]),
        helper.make_node("Flatten", ["c0"], ["f"]),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["y"], transB=1),
    ], (1, 3, 32, 32), (1, 10), {"w0": _weights(rng, 16, 3, 3, 3), "b0": _weights(rng, 16),
                                 "w1": _weights(rng, 10, 4096) * 0.1, "b1": _weights(rng, 10)})
    onnx.save(m, tmp_path / "m.onnx")
    np.save(tmp_path / "calib.npy", rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    assert main(["compile", str(tmp_path / "m.onnx"), "--calibration",
                 str(tmp_path / "calib.npy"), "-c", "small16", "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "layer 3 of 3 (graph.linear %linear0) alone does not fit one program on config " \
        "'small16'" in err
    assert "queue mxm0.w needs 1025 instruction words, more than queue_depth = 1024" in err


def _small_cnn(rng, batch: int):
    return _model([
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1] * 4),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("MaxPool", ["r0"], ["p0"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p0"], ["f"]),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["y"], transB=1),
    ], (batch, 3, 6, 6), (batch, 10), {
        "w0": _weights(rng, 8, 3, 3, 3), "b0": _weights(rng, 8),
        "w1": _weights(rng, 10, 72) * 0.2, "b1": _weights(rng, 10)})


def test_a_fixed_batch_of_4_images_compiles_as_a_batch(tmp_path, capsys):
    """(4, 3, 6, 6) images: each layer multiplies the four images' rows with its weights
    loaded once (one program), so the batch takes fewer cycles than four single images."""
    calibration = np.random.default_rng(3).standard_normal((8, 3, 6, 6))
    (tmp_path / "one").mkdir()
    (tmp_path / "four").mkdir()
    _, single = _compile_and_run(tmp_path / "one", capsys, _small_cnn(
        np.random.default_rng(2), 1), calibration)
    four, batch = _compile_and_run(tmp_path / "four", capsys, _small_cnn(
        np.random.default_rng(2), 4), calibration)
    assert batch["bit_exact"] and batch["cycles"] == batch["predicted_cycles"]
    assert batch["runs"] == single["runs"] == 1 and batch["cycles"] < 4 * single["cycles"]
    with np.load(four / "inputs.npz") as f:
        assert f["x"].shape == (4, 6, 6, 3)  # four channels-last images, the first samples
        assert len({f["x"][i].tobytes() for i in range(4)}) == 4
    # float images in, float logits out, a batch of two batches
    np.savez(tmp_path / "in.npz", x=np.random.default_rng(4).standard_normal(
        (2, 4, 3, 6, 6)).astype(np.float32))
    assert main(["run", str(four), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                 str(tmp_path / "out.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 2 and report["bit_exact"] and report["checked"] == 2
    with np.load(tmp_path / "out.npz") as f:
        assert f["y"].shape == (2, 4, 10) and f["y"].dtype == np.float32


def test_a_stride_1_cnn_on_a_3x32x32_image_runs_on_small16_in_runs(tmp_path, capsys):
    """Its first layers need more instruction words than small16's 1,024-word queues: the
    compiler cuts it into runs the host chains (a layer's rows in blocks)."""
    rng = np.random.default_rng(5)
    _, result = _compile_and_run(tmp_path, capsys, _cnn(rng, 16 * 8 * 8, stride=1),
                                 rng.standard_normal((8, 3, 32, 32)))
    assert result["bit_exact"] and result["cycles"] == result["predicted_cycles"]
    assert result["runs"] > 1
