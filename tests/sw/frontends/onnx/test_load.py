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
