"""Reading an ONNX file: the bytes, the protobuf, onnx's checker; the frontend's one error type.

What this module raises is an :class:`OnnxImportError` whose message is one line that starts with
the file (or ``<model>`` for an ``onnx.ModelProto`` given in memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ....errors import ConveyorError

if TYPE_CHECKING:
    from onnx import ModelProto

__all__ = ["OnnxImportError", "check_onnx", "load_onnx"]


class OnnxImportError(ConveyorError):
    """An ONNX file that cannot be read, or a model the importer does not support."""


def load_onnx(path: str | Path) -> ModelProto:
    """Read and check an ONNX file; :class:`OnnxImportError` (one line) if it is missing,
    not ONNX, truncated, or fails onnx's checker."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OnnxImportError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise OnnxImportError(f"{path}: not an ONNX model, or truncated "
                              f"({first_line(e)})") from None
    if model.ir_version == 0 or len(model.graph.output) == 0:
        raise OnnxImportError(f"{path}: not an ONNX model, or truncated (no IR version or no "
                              f"graph outputs)")
    check_onnx(model, str(path))
    return model


def check_onnx(model: ModelProto, where: str) -> None:
    """Run onnx's checker on ``model``; :class:`OnnxImportError` naming ``where`` if it
    fails."""
    import onnx

    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as e:
        raise OnnxImportError(f"{where}: invalid ONNX model ({first_line(e)})") from None


def first_line(e: BaseException) -> str:
    """The first non-blank line of an exception's message (onnx's can run to pages)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__
