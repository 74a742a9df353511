"""The float model: its layouts round-trip, it runs any number of samples like onnx's reference
evaluator (every op is checked so in test_lower.py), and a wrong input is one line."""

import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator
from tiny_onnx import DIGITS, one_line

from conveyor.sw.frontends.datasets import digits_data
from conveyor.sw.frontends.onnx import OnnxImportError, TensorSpec, load_float_model


def test_layouts_round_trip():
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, 4, 5))
    nhwc = TensorSpec("x", (1, 3, 4, 5), (4, 5, 3), "nhwc")
    np.testing.assert_array_equal(nhwc.to_internal(image), image.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(nhwc.to_onnx(nhwc.to_internal(image)), image)
    perm = rng.permutation(6)
    rows = rng.standard_normal((2, 6))
    permuted = TensorSpec("y", (2, 6), (2, 6), "perm", perm)
    np.testing.assert_array_equal(permuted.to_internal(rows), rows[:, perm])
    np.testing.assert_array_equal(permuted.to_onnx(permuted.to_internal(rows)), rows)


def test_run_on_many_samples_and_every_tensor():
    """The MLP on all held-out digits at once equals the reference evaluator; ``all_tensors``
    gives the hidden layer too, which is what calibration measures."""
    fm = load_float_model(DIGITS / "mlp.onnx")
    x, _ = digits_data("test")
    (want,) = ReferenceEvaluator(str(DIGITS / "mlp.onnx")).run(None, {"x": x})
    np.testing.assert_allclose(fm.run({"x": x})["logits"], want, rtol=1e-5, atol=1e-5)
    env = fm.run({"x": x}, all_tensors=True)
    assert env["h1"].shape == (360, 32) and env["h1"].min() >= 0  # a fused ReLU


def test_wrong_or_missing_input_is_one_line():
    fm = load_float_model(DIGITS / "mlp.onnx")
    with pytest.raises(OnnxImportError) as e:
        fm.run({"x": np.zeros((3, 63), np.float32)})
    one_line(e, "'x'", "(n, 64)")
    with pytest.raises(OnnxImportError) as e:
        fm.run({"image": np.zeros((3, 64), np.float32)})
    one_line(e, "no value for input 'x'")
