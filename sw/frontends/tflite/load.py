"""Reading a ``.tflite`` file (with the ``tflite`` package's flatbuffer bindings) into plain
Python: tensors with their quantisation and constant data, operators with their options.

Everything that can be wrong with the file itself (not a flatbuffer, truncated, an index out of
range, several subgraphs) is one :class:`TfliteImportError` line here, so the lowering reads
only well-formed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ....errors import ConveyorError

__all__ = ["TfliteImportError", "TfliteModel", "TfliteOp", "TfliteTensor", "load_tflite"]


class TfliteImportError(ConveyorError):
    """A TFLite model that cannot be read or that Conveyor does not support (one line)."""


#: tflite.TensorType codes -> numpy dtypes (the ones a quantised model uses).
_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


@dataclass
class TfliteTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype | None  # None: a type Conveyor does not read
    scale: np.ndarray | None  # float32, one per tensor or one per channel
    zero_point: np.ndarray | None
    quantized_dimension: int
    data: np.ndarray | None  # constant tensors only

    @property
    def zp(self) -> int:
        """The (per-tensor) zero point, 0 if none."""
        return int(self.zero_point[0]) if self.zero_point is not None else 0


@dataclass
class TfliteOp:
    index: int
    name: str  # the builtin operator's name, e.g. "CONV_2D"
    inputs: list[int]  # tensor indices, -1 for an omitted optional input
    outputs: list[int]
    options: object | None = field(repr=False)  # the flatbuffer options table, typed


@dataclass
class TfliteModel:
    path: str
    tensors: list[TfliteTensor]
    ops: list[TfliteOp]
    inputs: list[int]
    outputs: list[int]


def _builtin_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator
    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}


def _options(op, name: str):
    """The operator's builtin options as their typed table (None if it has none)."""
    import tflite
    from tflite.BuiltinOptions import BuiltinOptions
    table = op.BuiltinOptions()
    if table is None:
        return None
    kinds = {v: k for k, v in vars(BuiltinOptions).items() if not k.startswith("_")}
    cls = getattr(tflite, kinds.get(op.BuiltinOptionsType(), ""), None)
    if cls is None:
        return None
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


def _tensor(model, graph, index: int) -> TfliteTensor:
    t = graph.Tensors(index)
    q = t.Quantization()
    scale = q.ScaleAsNumpy() if q is not None and q.ScaleLength() else None
    zps = q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else None
    dtype = _DTYPES.get(t.Type())
    data = None
    buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
    if buffer is not None and buffer.DataLength() and dtype is not None:
        raw = buffer.DataAsNumpy().tobytes()
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        count = int(np.prod(shape)) if shape else 1
        if len(raw) != count * np.dtype(dtype).itemsize:
            raise ValueError(f"tensor {t.Name().decode(errors='replace')!r} holds {len(raw)} "
                             f"bytes, not {count} x {np.dtype(dtype).itemsize}")
        data = np.frombuffer(raw, dtype).reshape(shape).copy()
    return TfliteTensor(
        index, t.Name().decode("utf-8", errors="replace"),
        tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else (),
        dtype, None if scale is None else np.asarray(scale, np.float32),
        None if zps is None else np.asarray(zps, np.int64),
        q.QuantizedDimension() if q is not None else 0, data)


def load_tflite(path: str | Path) -> TfliteModel:
    """Read ``path``; TfliteImportError (one line) for a file that is not a readable TFLite
    model with one subgraph."""
    path = str(path)
    try:
        buf = Path(path).read_bytes()
    except FileNotFoundError:
        raise TfliteImportError(f"{path}: no such file") from None
    except OSError as e:
        raise TfliteImportError(f"{path}: cannot read ({e.strerror})") from None
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TfliteImportError(f"{path}: not a TFLite model (no 'TFL3' file identifier)")
    try:
        return _parse(path, buf)
    except TfliteImportError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt flatbuffer fails anywhere in the bindings
        raise TfliteImportError(f"{path}: corrupt or truncated TFLite model "
                                f"({type(e).__name__}: {e})") from None


def _parse(path: str, buf: bytes) -> TfliteModel:
    import tflite
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise TfliteImportError(f"{path}: has {model.SubgraphsLength()} subgraphs; Conveyor "
                                f"imports models with one")
    graph = model.Subgraphs(0)
    names = _builtin_names()
    tensors = [_tensor(model, graph, i) for i in range(graph.TensorsLength())]
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"builtin {builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM ({code.CustomCode().decode(errors='replace')})"
        inputs = [int(j) for j in op.InputsAsNumpy()] if op.InputsLength() else []
        outputs = [int(j) for j in op.OutputsAsNumpy()] if op.OutputsLength() else []
        for j in inputs + outputs:
            if not -1 <= j < len(tensors):
                raise TfliteImportError(f"{path}: operator {i} ({name}) names tensor {j}, but "
                                        f"the model has {len(tensors)}")
        ops.append(TfliteOp(i, name, inputs, outputs, _options(op, name)))
    ins = [int(j) for j in graph.InputsAsNumpy()] if graph.InputsLength() else []
    outs = [int(j) for j in graph.OutputsAsNumpy()] if graph.OutputsLength() else []
    return TfliteModel(path, tensors, ops, ins, outs)
