"""Reading an ONNX file: a missing, non-ONNX or truncated file is one line naming it."""

import pytest
from tiny_onnx import DIGITS, one_line

from conveyor.sw.frontends.onnx import OnnxImportError, import_onnx, load_float_model


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


@pytest.mark.parametrize("name", ["cnn_qop.onnx", "mlp_qdq.onnx"])
def test_flipped_bytes_of_a_quantised_model_never_crash(tmp_path, name):
    """Every corruption of an onnxruntime-quantised model imports, or is one line of a
    ConveyorError (OnnxImportError, or the graph builder's refusal), never another exception."""
    import numpy as np

    from conveyor.errors import ConveyorError

    good = (DIGITS / name).read_bytes()
    rng = np.random.default_rng(6)
    refused = 0
    for i in range(120):
        data = bytearray(good)
        for pos in rng.integers(0, len(data), int(rng.integers(1, 4))):
            data[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"f{i}.onnx"
        path.write_bytes(bytes(data))
        try:
            import_onnx(path)
        except ConveyorError as e:
            assert "\n" not in str(e) and str(e), repr(e)
            refused += 1
    assert refused > 0  # the corruptions do reach the checks
