"""ONNX models to int8 :class:`~conveyor.sw.ir.builder.Graph` s.

::

    model = import_onnx("examples/digits/cnn.onnx", "examples/digits/cnn_calib.npy")
    model.graph                   # a conveyor.sw.ir.builder.Graph: input x (8, 8, 1) ... logits
    q = model.quantize_inputs({"x": image})          # ONNX (1, 1, 8, 8) float -> (8, 8, 1) int8
    logits = model.dequantize_outputs(evaluate(model.graph, q))["logits"]
    model.run({"x": image})       # the same three steps

Two steps. :func:`load_float_model` reads the ONNX file into a :class:`FloatModel`: the model's
ops rewritten into the graph level's ops and layouts, still in float, runnable in numpy
(:meth:`FloatModel.run` equals onnx's reference evaluator). :func:`import_onnx` then calibrates
it and quantises it (the scheme is in :mod:`conveyor.sw.frontends.quantize`) into a Graph.

Supported ONNX ops: Gemm (``transA=0``, constant B), MatMul (2-D activation times a constant),
Add (two activations of one shape, or a constant bias right after a Gemm/MatMul/Conv, fused into
it), Relu (fused into the Gemm/MatMul/Conv/Add before it when that is its only reader), Conv
(2-D, group 1, dilation 1, one stride and one pad for both axes), MaxPool (2x2, stride 2, no
padding), Flatten, Reshape (keeping the batch axis), Identity, Dropout (inference), Constant,
Shape (of a runtime tensor: a constant, as every shape is static; so ``x.view(x.size(0), -1)``
exports fold), and QuantizeLinear/DequantizeLinear: a QuantizeLinear -> DequantizeLinear pair on an activation
fixes that tensor's scale and zero point (uint8 becomes int8 with ``zp - 128``), and
DequantizeLinear of a constant int8 weight uses those integers and scales as they are. Any other
node whose inputs are all constants is folded. Anything else raises :class:`OnnxImportError`
with the op type and the node name, one line.

Layouts. ONNX images are NCHW; the graph's ``conv2d`` is channels-last (H, W, C) with batch 1,
so a 4-D input ``(1, C, H, W)`` becomes a graph input ``(H, W, C)`` (transposed by
:meth:`ImportedModel.quantize_inputs`) and every 4-D tensor inside is kept as (H, W, C).
2-D tensors keep their shape, with the batch as rows; a symbolic batch dimension becomes
``batch`` (default 1). Flatten (or Reshape to ``(N, -1)``) of an (H, W, C) tensor is a
row-major ``graph.reshape``, whose element order (h, w, c) differs from ONNX's (c, h, w): the
importer tracks that permutation and permutes the rows of the next Gemm/MatMul weight to match,
so no data moves at run time. An output that is still permuted or channels-last is put back
into ONNX's layout by :meth:`ImportedModel.dequantize_outputs`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ....errors import ConveyorError
from ..quantize import (
    activation_scale,
    bias_min_weight_scale,
    calibration_amax,
    dequantize,
    load_calibration,
    quantize,
    quantize_bias,
    quantize_weights,
)

__all__ = [
    "SUPPORTED_OPS",
    "FloatModel",
    "FloatOp",
    "ImportedModel",
    "OnnxImportError",
    "TensorSpec",
    "import_onnx",
    "load_float_model",
    "load_onnx",
]

#: ONNX op types the importer lowers (any node whose inputs are all constants is folded too).
SUPPORTED_OPS = ("Add", "Constant", "Conv", "DequantizeLinear", "Dropout", "Flatten", "Gemm",
                 "Identity", "MatMul", "MaxPool", "QuantizeLinear", "Relu", "Reshape", "Shape")

#: requant cannot multiply up: every real multiplier is kept at most this.
_MAX_MULTIPLIER = 1.0 - 2.0 ** -20


class OnnxImportError(ConveyorError):
    """An ONNX file that cannot be read, or a model the importer does not support."""


# --- loading ----------------------------------------------------------------------------------

def load_onnx(path: str | Path):
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
                              f"({_first_line(e)})") from None
    if model.ir_version == 0 or len(model.graph.output) == 0:
        raise OnnxImportError(f"{path}: not an ONNX model, or truncated (no IR version or no "
                              f"graph outputs)")
    _check(model, str(path))
    return model


def _check(model, where: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as e:
        raise OnnxImportError(f"{where}: invalid ONNX model ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


# --- the float model --------------------------------------------------------------------------

@dataclass
class TensorSpec:
    """How a model input or output maps between ONNX and the graph.

    Members
    -------
    name : the ONNX name, also the graph input's or output's name.
    onnx_shape : its ONNX shape, with the batch the graph was built for.
    graph_shape : its shape in the graph.
    layout : ``"plain"`` (same element order), ``"nhwc"`` (ONNX (1, C, H, W) is graph
        (H, W, C)) or ``"perm"`` (2-D; graph column ``i`` is ONNX column ``perm[i]``).
    perm : the column permutation of a ``"perm"`` layout, else None.
    scale, zp : the int8 quantisation of the graph tensor (set by :func:`import_onnx`).
    """

    name: str
    onnx_shape: tuple[int, ...]
    graph_shape: tuple[int, ...]
    layout: str
    perm: np.ndarray | None = None
    scale: float = 1.0
    zp: int = 0

    def to_internal(self, x: np.ndarray) -> np.ndarray:
        """ONNX layout -> the graph's element order, keeping a leading batch axis."""
        if self.layout == "nhwc":
            return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        if self.layout == "perm":
            return x[:, self.perm]
        return x

    def to_onnx(self, x: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_internal`."""
        if self.layout == "nhwc":
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if self.layout == "perm":
            out = np.empty_like(x)
            out[:, self.perm] = x
            return out
        return x

    def to_graph(self, x: np.ndarray) -> np.ndarray:
        """A float array of :attr:`onnx_shape` -> the int8 graph input."""
        x = np.asarray(x, np.float32)
        if x.shape != self.onnx_shape:
            raise OnnxImportError(f"input {self.name!r}: expected shape {self.onnx_shape}, "
                                  f"not {x.shape}")
        return quantize(self.to_internal(x), self.scale, self.zp).reshape(self.graph_shape)

    def from_graph(self, q: np.ndarray) -> np.ndarray:
        """An int8 graph output -> float in :attr:`onnx_shape`."""
        internal_shape = (self.onnx_shape[0],) + _internal_dims(self.onnx_shape, self.layout)
        x = dequantize(np.asarray(q).reshape(internal_shape), self.scale, self.zp)
        return self.to_onnx(x)


def _internal_dims(onnx_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """The non-batch dims of a tensor as the float model holds it."""
    if layout == "nhwc":
        _, c, h, w = onnx_shape
        return (h, w, c)
    return tuple(onnx_shape[1:])


@dataclass
class _Tensor:
    """A runtime tensor of the float model: its ONNX shape (with the graph's batch), layout."""

    shape: tuple[int, ...]
    layout: str = "plain"
    perm: np.ndarray | None = None

    @property
    def graph_shape(self) -> tuple[int, ...]:
        if self.layout == "nhwc":
            _, c, h, w = self.shape
            return (h, w, c)
        return self.shape


@dataclass
class FloatOp:
    """One graph-level op in float, in the graph's layouts.

    Members
    -------
    kind : ``linear``, ``conv2d``, ``add``, ``relu``, ``maxpool2x2`` or ``reshape``.
    node : the ONNX node it came from (for messages).
    inputs, output : tensor names.
    w, b : float weights (linear (K, N); conv2d (R, S, C, K)) and bias (N,).
    wq : ``(q, scale)`` when the model gave the int8 weights (QDQ), in ``w``'s layout, scale
        per output channel; else None and :func:`import_onnx` quantises ``w``.
    relu : a fused ReLU. stride, pad : conv2d's. shape : reshape's target (without batch).
    """

    kind: str
    node: str
    inputs: list[str]
    output: str
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    wq: tuple[np.ndarray, np.ndarray] | None = None
    relu: bool = False
    stride: int = 1
    pad: int = 0
    shape: tuple[int, ...] = ()


@dataclass
class FloatModel:
    """An ONNX model as graph-level ops in float (see the module docstring).

    Members
    -------
    name : the ONNX graph's name.
    inputs, outputs : :class:`TensorSpec` per model input and output, in ONNX order.
    ops : the :class:`FloatOp` s in order.
    tensors : every runtime tensor's ONNX shape and layout, by name.
    pins : ``name -> (scale, zp)`` for tensors that the model quantises itself (QDQ).
    """

    name: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    ops: list[FloatOp]
    tensors: dict[str, _Tensor]
    pins: dict[str, tuple[float, int]] = field(default_factory=dict)
    output_values: dict[str, str] = field(default_factory=dict)  # output name -> tensor name
    source: str = "<model>"

    def run(self, feeds: Mapping[str, np.ndarray], *, all_tensors: bool = False
            ) -> dict[str, np.ndarray]:
        """Run in float: ``feeds`` and the result in ONNX layouts, any number of samples on the
        leading axis. With ``all_tensors``, every internal tensor (graph layouts) instead."""
        env: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            if spec.name not in feeds:
                raise OnnxImportError(f"{self.source}: no value for input {spec.name!r}")
            x = np.asarray(feeds[spec.name], np.float64)
            if x.shape[1:] != spec.onnx_shape[1:]:
                raise OnnxImportError(f"{self.source}: input {spec.name!r} has shape {x.shape}, "
                                      f"expected (n, {', '.join(map(str, spec.onnx_shape[1:]))})")
            env[spec.name] = self._pinned(spec.name, spec.to_internal(x))
        for op in self.ops:
            env[op.output] = self._pinned(op.output, _run_op(op, [env[i] for i in op.inputs]))
        if all_tensors:
            return env
        return {spec.name: spec.to_onnx(env[self.output_values[spec.name]]).astype(np.float32)
                for spec in self.outputs}

    def _pinned(self, name: str, x: np.ndarray) -> np.ndarray:
        """Fake quantisation at a tensor the model quantises (QuantizeLinear rounding)."""
        if name not in self.pins:
            return x
        scale, zp = self.pins[name]
        return (np.clip(np.rint(x / scale) + zp, -128, 127) - zp) * scale


def _run_op(op: FloatOp, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    if op.kind == "linear":
        y = x @ op.w + op.b
    elif op.kind == "conv2d":
        y = _conv_nhwc(x, op.w, op.stride, op.pad) + op.b
    elif op.kind == "add":
        y = x + args[1]
    elif op.kind == "relu":
        y = np.maximum(x, 0)
    elif op.kind == "maxpool2x2":
        n, h, w, c = x.shape
        y = x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    elif op.kind == "reshape":
        y = x.reshape((x.shape[0],) + op.shape)
    else:  # pragma: no cover - every kind above is the whole list
        raise AssertionError(op.kind)
    return np.maximum(y, 0) if op.relu else y


def _conv_nhwc(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """x (N, H, W, C), w (R, S, C, K) -> (N, OH, OW, K), zero padding."""
    n, h, wd, c = x.shape
    r, s, _, k = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - r) // stride + 1, (wd + 2 * pad - s) // stride + 1
    cols = [xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            for i in range(r) for j in range(s)]
    patches = np.stack(cols, axis=3).reshape(n, oh, ow, r * s * c)
    return patches @ w.reshape(r * s * c, k)


# --- ONNX -> float model ----------------------------------------------------------------------

@dataclass
class _Const:
    """A constant; ``q``/``qscale``/``qaxis`` when it is DequantizeLinear of int8 weights."""

    value: np.ndarray
    q: np.ndarray | None = None
    qscale: np.ndarray | None = None
    qaxis: int | None = None


class _Builder:
    def __init__(self, model, source: str, batch: int):
        self.model, self.source, self.batch = model, source, batch
        self.consts: dict[str, _Const] = {}
        self.tensors: dict[str, _Tensor] = {}
        self.alias: dict[str, str] = {}
        self.producer: dict[str, FloatOp] = {}
        self.quantized: dict[str, tuple[str, float, int]] = {}  # Q output -> (input, s, zp)
        self.pins: dict[str, tuple[float, int]] = {}
        self.ops: list[FloatOp] = []
        self.graph_outputs = {o.name for o in model.graph.output}
        self.readers: dict[str, int] = {}
        for node in model.graph.node:
            for name in node.input:
                if name:
                    self.readers[name] = self.readers.get(name, 0) + 1

    # -- helpers -------------------------------------------------------------------------------

    def fail(self, node, message: str) -> OnnxImportError:
        return OnnxImportError(f"{self.source}: {node.op_type} {_node_name(node)}: {message}")

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def runtime(self, node, name: str) -> tuple[str, _Tensor]:
        name = self.resolve(name)
        if name in self.quantized:
            raise self.fail(node, f"reads {name!r}, the int8 output of a QuantizeLinear; only "
                                  f"a DequantizeLinear may read it")
        if name not in self.tensors:
            raise self.fail(node, f"input {name!r} is not a runtime tensor of the model")
        return name, self.tensors[name]

    def const(self, node, name: str, what: str) -> _Const:
        if name not in self.consts:
            raise self.fail(node, f"{what} {name!r} must be a constant (an initializer)")
        return self.consts[name]

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def emit(self, op: FloatOp, shape: tuple[int, ...], layout: str = "plain",
             perm: np.ndarray | None = None) -> None:
        self.ops.append(op)
        self.producer[op.output] = op
        self.tensors[op.output] = _Tensor(shape, layout, perm)

    def fusable(self, node, name: str) -> FloatOp | None:
        """The op producing ``name`` if a following op may fuse into it: ``name`` has no other
        reader, is not a model output and is not quantised on its own (QDQ)."""
        internal = self.resolve(name)
        op = self.producer.get(internal)
        if op is None or op.relu or self.readers.get(name, 0) != 1 or name in self.graph_outputs:
            return None
        if internal != name and (self.readers.get(internal, 0) != 1
                                 or internal in self.graph_outputs):
            return None
        if internal in self.pins or name in self.pins:
            return None
        return op

    # -- inputs --------------------------------------------------------------------------------

    def add_inputs(self) -> list[TensorSpec]:
        from onnx import TensorProto, numpy_helper

        for init in self.model.graph.initializer:
            self.consts[init.name] = _Const(numpy_helper.to_array(init))
        specs = []
        for vi in self.model.graph.input:
            if vi.name in self.consts:
                continue  # an initializer listed as an input (old exporters)
            t = vi.type.tensor_type
            if t.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
                raise OnnxImportError(f"{self.source}: input {vi.name!r} must be a float tensor "
                                      f"(the importer quantises it)")
            if not t.HasField("shape"):
                raise OnnxImportError(f"{self.source}: input {vi.name!r} has no shape")
            shape = []
            for i, d in enumerate(t.shape.dim):
                if d.HasField("dim_value") and d.dim_value > 0:
                    shape.append(d.dim_value)
                elif i == 0:
                    shape.append(self.batch)
                else:
                    raise OnnxImportError(f"{self.source}: input {vi.name!r} has a symbolic "
                                          f"dimension {i} ({d.dim_param or '?'}); only the "
                                          f"batch (dimension 0) may be symbolic")
            shape = tuple(shape)
            if len(shape) == 4:
                if shape[0] != 1:
                    raise OnnxImportError(f"{self.source}: input {vi.name!r} is {shape}: images "
                                          f"(N, C, H, W) need batch 1 (the graph's conv2d "
                                          f"takes one image)")
                layout = "nhwc"
            elif len(shape) == 2:
                layout = "plain"
            else:
                raise OnnxImportError(f"{self.source}: input {vi.name!r} has rank {len(shape)}; "
                                      f"the importer takes (N, F) vectors or (1, C, H, W) images")
            tensor = _Tensor(shape, layout)
            self.tensors[vi.name] = tensor
            specs.append(TensorSpec(vi.name, shape, tensor.graph_shape, layout))
        if not specs:
            raise OnnxImportError(f"{self.source}: the model has no runtime input")
        return specs

    # -- nodes ---------------------------------------------------------------------------------

    def node(self, node) -> None:
        standard = node.domain in ("", "ai.onnx")
        handler = getattr(self, f"op_{node.op_type}", None) if standard else None
        if standard and node.op_type != "DequantizeLinear" and (
                node.op_type == "Constant"
                or (node.input and all(self.resolve(i) in self.consts for i in node.input if i))):
            return self.fold(node)
        if handler is None:
            domain = "" if standard else f" (domain {node.domain})"
            raise OnnxImportError(f"{self.source}: unsupported op {node.op_type}{domain} "
                                  f"(node {_node_name(node)})")
        handler(node)

    def fold(self, node) -> None:
        """Evaluate a node whose inputs are all constants with onnx's reference evaluator."""
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator

        inits = [numpy_helper.from_array(self.consts[self.resolve(i)].value, i)
                 for i in dict.fromkeys(i for i in node.input if i)]
        graph = helper.make_graph([node], "fold", [],
                                  [helper.make_empty_tensor_value_info(o) for o in node.output],
                                  inits)
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        try:
            results = ReferenceEvaluator(model).run(None, {})
        except Exception as e:  # noqa: BLE001 - the reference evaluator raises anything
            raise self.fail(node, f"cannot fold this constant node ({_first_line(e)})") from None
        for name, value in zip(node.output, results):
            if name:
                self.consts[name] = _Const(np.asarray(value))

    def op_Identity(self, node) -> None:
        name, _ = self.runtime(node, node.input[0])
        self.alias[node.output[0]] = name

    def op_Dropout(self, node) -> None:
        if len(node.output) > 1 and node.output[1] and self.readers.get(node.output[1]):
            raise self.fail(node, "the mask output is not supported")
        if len(node.input) > 2 and node.input[2]:
            mode = self.const(node, node.input[2], "training_mode").value
            if bool(np.asarray(mode).any()):
                raise self.fail(node, "training_mode must be false")
        self.op_Identity(node)

    def op_Shape(self, node) -> None:
        _, t = self.runtime(node, node.input[0])
        a = self.attrs(node)
        shape = np.array(t.shape, np.int64)[a.get("start", 0):a.get("end", len(t.shape))]
        self.consts[node.output[0]] = _Const(shape)

    def op_QuantizeLinear(self, node) -> None:
        name, _ = self.runtime(node, node.input[0])
        scale, zp = self.qparams(node)
        self.quantized[node.output[0]] = (name, scale, zp)

    def qparams(self, node) -> tuple[float, int]:
        """Per-tensor (scale, zero point) of a Q/DQ on an activation, in int8 terms."""
        scale = self.const(node, node.input[1], "scale").value
        if scale.size != 1:
            raise self.fail(node, f"activations need one scale per tensor, not {scale.shape}")
        dtype, zp = np.dtype(np.uint8), 0
        if len(node.input) > 2 and node.input[2]:
            z = self.const(node, node.input[2], "zero point").value
            if z.size != 1:
                raise self.fail(node, f"activations need one zero point, not {z.shape}")
            dtype, zp = z.dtype, int(z.reshape(-1)[0])
        if dtype == np.uint8:
            zp -= 128
        elif dtype != np.int8:
            raise self.fail(node, f"activations must be int8 or uint8, not {dtype}")
        if "output_dtype" in self.attrs(node) and self.attrs(node)["output_dtype"] not in (0, 2,
                                                                                          3):
            raise self.fail(node, "activations must be int8 or uint8")
        s = float(scale.reshape(-1)[0])
        if not s > 0:
            raise self.fail(node, f"scale must be positive, not {s}")
        return s, zp

    def op_DequantizeLinear(self, node) -> None:
        src = self.resolve(node.input[0])
        if src in self.consts:
            return self.dequantize_const(node)
        if src not in self.quantized:
            raise self.fail(node, f"reads {src!r}, which no QuantizeLinear produced (int8 model "
                                  f"inputs are not supported)")
        name, s_q, zp_q = self.quantized[src]
        s, zp = self.qparams(node)
        if not math.isclose(s, s_q, rel_tol=1e-6) or zp != zp_q:
            raise self.fail(node, f"scale/zero point ({s}, {zp}) differ from its QuantizeLinear's "
                                  f"({s_q}, {zp_q})")
        if name in self.pins and (not math.isclose(self.pins[name][0], s, rel_tol=1e-6)
                                  or self.pins[name][1] != zp):
            raise self.fail(node, f"{name!r} is quantised twice with different parameters")
        self.pins[name] = (s, zp)
        self.alias[node.output[0]] = name

    def dequantize_const(self, node) -> None:
        x = self.consts[self.resolve(node.input[0])].value
        scale = self.const(node, node.input[1], "scale").value.astype(np.float64)
        zp = (self.const(node, node.input[2], "zero point").value.astype(np.int64)
              if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, np.int64))
        axis = self.attrs(node).get("axis", 1)
        if scale.size > 1 or zp.size > 1:
            if "block_size" in self.attrs(node) and self.attrs(node)["block_size"]:
                raise self.fail(node, "blocked quantisation is not supported")
            axis %= x.ndim
            shape = [1] * x.ndim
            shape[axis] = -1
            scale_b, zp_b = scale.reshape(shape), zp.reshape(shape)
        else:
            scale_b, zp_b, axis = scale.reshape(()), zp.reshape(()), None
        q = x.astype(np.int64) - zp_b
        value = (q * scale_b).astype(np.float32)
        const = _Const(value)
        if x.dtype in (np.int8, np.uint8) and q.min(initial=0) >= -128 and q.max(initial=0) <= 127:
            const = _Const(value, q.astype(np.int8), scale.reshape(-1), axis)
        self.consts[node.output[0]] = const

    def op_Relu(self, node) -> None:
        op = self.fusable(node, node.input[0])
        if op is not None and op.kind in ("linear", "conv2d", "add"):
            op.relu = True
            self.alias[node.output[0]] = op.output
            return
        name, t = self.runtime(node, node.input[0])
        self.emit(FloatOp("relu", _node_name(node), [name], node.output[0]), t.shape, t.layout,
                  t.perm)

    def op_Add(self, node) -> None:
        a, b = node.input
        ca, cb = self.resolve(a) in self.consts, self.resolve(b) in self.consts
        if ca or cb:
            return self.bias_add(node, b if ca else a, self.consts[self.resolve(a if ca else b)])
        (na, ta), (nb, tb) = self.runtime(node, a), self.runtime(node, b)
        if ta.shape != tb.shape:
            raise self.fail(node, f"adds {ta.shape} and {tb.shape}: the importer adds tensors "
                                  f"of one shape (no broadcasting)")
        if ta.layout != tb.layout or (ta.perm is not None and tb.perm is not None
                                      and not np.array_equal(ta.perm, tb.perm)):
            raise self.fail(node, "adds tensors held in different layouts")
        self.emit(FloatOp("add", _node_name(node), [na, nb], node.output[0]), ta.shape,
                  ta.layout, ta.perm)

    def bias_add(self, node, x: str, c: _Const) -> None:
        op = self.fusable(node, x)
        if op is None or op.kind not in ("linear", "conv2d"):
            raise self.fail(node, "adding a constant is supported only as the bias of the Gemm, "
                                  "MatMul or Conv right before it")
        n = op.b.shape[0]
        v = c.value.astype(np.float64)
        squeezed = v.reshape([d for d in v.shape if d != 1]) if v.size == n else v
        if v.size == 1:
            bias = np.full(n, float(v.reshape(-1)[0]))
        elif squeezed.shape == (n,) and _bias_broadcasts(v.shape, self.tensors[op.output].shape):
            bias = squeezed
        else:
            raise self.fail(node, f"constant of shape {v.shape} is not a per-channel bias of "
                                  f"{self.tensors[op.output].shape}")
        op.b = op.b + bias
        self.alias[node.output[0]] = op.output

    def op_Gemm(self, node) -> None:
        a = self.attrs(node)
        if a.get("transA", 0):
            raise self.fail(node, "transA=1 is not supported (A must be the activation)")
        self.linear(node, node.input[0], node.input[1], node.input[2] if len(node.input) > 2
                    else "", bool(a.get("transB", 0)), float(a.get("alpha", 1.0)),
                    float(a.get("beta", 1.0)))

    def op_MatMul(self, node) -> None:
        if self.resolve(node.input[0]) in self.consts:
            raise self.fail(node, "a constant times an activation is not supported (the "
                                  "activation must be the left operand)")
        if self.resolve(node.input[1]) not in self.consts:
            raise self.fail(node, "MatMul of two runtime tensors is not supported (the right "
                                  "operand must be constant weights)")
        self.linear(node, node.input[0], node.input[1], "", False, 1.0, 1.0)

    def linear(self, node, x: str, w_name: str, c_name: str, trans_b: bool, alpha: float,
               beta: float) -> None:
        name, t = self.runtime(node, x)
        if len(t.shape) != 2:
            raise self.fail(node, f"input {name!r} is {t.shape}: Gemm/MatMul take a 2-D "
                                  f"(N, K) activation (Flatten images first)")
        wc = self.const(node, w_name, "weight")
        w = wc.value.astype(np.float64)
        if w.ndim != 2:
            raise self.fail(node, f"weight {w_name!r} must be 2-D, not {w.shape}")
        q, qscale, qaxis = wc.q, wc.qscale, wc.qaxis
        if trans_b:
            w = w.T
            if q is not None:
                q, qaxis = q.T, (None if qaxis is None else 1 - qaxis)
        k, n = w.shape
        if k != t.shape[1]:
            raise self.fail(node, f"input {name!r} has {t.shape[1]} features but the weight "
                                  f"has {k} rows")
        if t.perm is not None:  # the input is a flattened (H, W, C) map: match its order
            w = w[t.perm]
            q = None if q is None else q[t.perm]
        wq = None
        if q is not None and qaxis in (None, 1):
            wq = (q, np.broadcast_to(qscale * alpha, (n,)).astype(np.float64))
        bias = np.zeros(n)
        if c_name:
            c = self.const(node, c_name, "bias").value.astype(np.float64)
            if c.size == 1:
                bias = np.full(n, float(c.reshape(-1)[0]))
            elif c.shape in ((n,), (1, n)):
                bias = c.reshape(n)
            else:
                raise self.fail(node, f"bias C of shape {c.shape} is not one value per output "
                                      f"column ({n})")
        op = FloatOp("linear", _node_name(node), [name], node.output[0], w=alpha * w,
                     b=beta * bias, wq=wq)
        self.emit(op, (t.shape[0], n))

    def op_Conv(self, node) -> None:
        name, t = self.runtime(node, node.input[0])
        if t.layout != "nhwc":
            raise self.fail(node, f"input {name!r} is {t.shape}: Conv takes a (1, C, H, W) "
                                  f"image")
        wc = self.const(node, node.input[1], "weight")
        w = wc.value.astype(np.float64)
        if w.ndim != 4:
            raise self.fail(node, f"only 2-D convolutions are supported (weight {w.shape})")
        k, c, r, s = w.shape
        a = self.attrs(node)
        if a.get("group", 1) != 1:
            raise self.fail(node, f"group={a['group']} is not supported (only group 1)")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise self.fail(node, f"dilations {list(a['dilations'])} are not supported")
        if list(a.get("kernel_shape", [r, s])) != [r, s]:
            raise self.fail(node, f"kernel_shape {list(a['kernel_shape'])} differs from the "
                                  f"weight's {r}x{s}")
        strides = list(a.get("strides", [1, 1]))
        if len(set(strides)) != 1:
            raise self.fail(node, f"strides {strides}: the graph's conv2d has one stride")
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad not in ("NOTSET", "VALID"):
            raise self.fail(node, f"auto_pad={auto_pad} is not supported (give explicit pads)")
        pads = list(a.get("pads", [0, 0, 0, 0])) if auto_pad == "NOTSET" else [0, 0, 0, 0]
        if len(set(pads)) != 1:
            raise self.fail(node, f"pads {pads}: the graph's conv2d pads every side equally")
        _, cin, h, wd = t.shape
        if c != cin:
            raise self.fail(node, f"weight has {c} input channels but {name!r} has {cin}")
        stride, pad = strides[0], pads[0]
        oh, ow = (h + 2 * pad - r) // stride + 1, (wd + 2 * pad - s) // stride + 1
        if oh < 1 or ow < 1:
            raise self.fail(node, f"a {r}x{s} kernel does not fit a {h}x{wd} input")
        wq = None
        if wc.q is not None and wc.qaxis in (None, 0):
            wq = (wc.q.transpose(2, 3, 1, 0), np.broadcast_to(wc.qscale, (k,)).astype(np.float64))
        bias = np.zeros(k)
        if len(node.input) > 2 and node.input[2]:
            bias = self.const(node, node.input[2], "bias").value.astype(np.float64).reshape(-1)
            if bias.shape != (k,):
                raise self.fail(node, f"bias has {bias.size} values for {k} output channels")
        op = FloatOp("conv2d", _node_name(node), [name], node.output[0],
                     w=w.transpose(2, 3, 1, 0), b=bias, wq=wq, stride=stride, pad=pad)
        self.emit(op, (1, k, oh, ow), "nhwc")

    def op_MaxPool(self, node) -> None:
        name, t = self.runtime(node, node.input[0])
        a = self.attrs(node)
        if len(node.output) > 1 and node.output[1]:
            raise self.fail(node, "the Indices output is not supported")
        if t.layout != "nhwc":
            raise self.fail(node, f"input {name!r} is {t.shape}: MaxPool takes a (1, C, H, W) "
                                  f"image")
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if (list(a.get("kernel_shape", [])) != [2, 2] or list(a.get("strides", [1, 1])) != [2, 2]
                or any(a.get("pads", [0])) or any(d != 1 for d in a.get("dilations", [1]))
                or auto_pad not in ("NOTSET", "VALID") or a.get("storage_order", 0)):
            raise self.fail(node, "only 2x2 windows with stride 2 and no padding are supported "
                                  f"(kernel_shape {list(a.get('kernel_shape', []))}, strides "
                                  f"{list(a.get('strides', [1, 1]))})")
        n, c, h, w = t.shape
        if h % 2 or w % 2:
            raise self.fail(node, f"input {name!r} is {h}x{w}: the graph's maxpool2x2 needs an "
                                  f"even height and width")
        self.emit(FloatOp("maxpool2x2", _node_name(node), [name], node.output[0]),
                  (n, c, h // 2, w // 2), "nhwc")

    def op_Flatten(self, node) -> None:
        name, t = self.runtime(node, node.input[0])
        axis = self.attrs(node).get("axis", 1)
        if axis % len(t.shape) != 1:
            raise self.fail(node, f"axis={axis}: only axis 1 (keep the batch) is supported")
        self.reshape(node, name, t, (t.shape[0], math.prod(t.shape[1:])))

    def op_Reshape(self, node) -> None:
        name, t = self.runtime(node, node.input[0])
        target = [int(d) for d in self.const(node, node.input[1], "shape").value.reshape(-1)]
        allow_zero = self.attrs(node).get("allowzero", 0)
        dims = [t.shape[i] if d == 0 and not allow_zero and i < len(t.shape) else d
                for i, d in enumerate(target)]
        if dims.count(-1) == 1:
            rest = math.prod(d for d in dims if d != -1)
            if rest <= 0 or math.prod(t.shape) % rest:
                raise self.fail(node, f"cannot reshape {t.shape} to {target}")
            dims[dims.index(-1)] = math.prod(t.shape) // rest
        if math.prod(dims) != math.prod(t.shape) or any(d < 1 for d in dims):
            raise self.fail(node, f"cannot reshape {t.shape} to {target}")
        if dims[0] != t.shape[0]:
            raise self.fail(node, f"reshape {t.shape} -> {tuple(dims)} changes the batch "
                                  f"dimension")
        self.reshape(node, name, t, tuple(dims))

    def reshape(self, node, name: str, t: _Tensor, dims: tuple[int, ...]) -> None:
        """A reshape that keeps the batch: to (N, F) or to (1, C, H, W)."""
        if dims == t.shape:
            self.alias[node.output[0]] = name
            return
        if len(dims) == 2:
            if t.layout != "nhwc":
                raise self.fail(node, f"cannot reshape {t.shape} to {dims}")
            _, c, h, w = t.shape
            # Graph column i (row-major over h, w, c) is ONNX column c*H*W + h*W + w.
            hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
            perm = (cc * h * w + hh * w + ww).reshape(-1)
            layout = "plain" if np.array_equal(perm, np.arange(perm.size)) else "perm"
            op = FloatOp("reshape", _node_name(node), [name], node.output[0], shape=dims[1:])
            self.emit(op, dims, layout, perm if layout == "perm" else None)
            return
        if len(dims) == 4 and len(t.shape) == 2 and dims[0] == 1:
            _, c, h, w = dims
            hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
            want = (cc * h * w + hh * w + ww).reshape(-1)
            have = t.perm if t.perm is not None else np.arange(want.size)
            if np.array_equal(want, have):
                op = FloatOp("reshape", _node_name(node), [name], node.output[0],
                             shape=(h, w, c))
                self.emit(op, dims, "nhwc")
                return
        raise self.fail(node, f"cannot reshape {t.shape} to {dims} (the importer reshapes "
                              f"images (1, C, H, W) to rows (1, C*H*W) and rows back to images "
                              f"whose element order it keeps)")

    # -- outputs -------------------------------------------------------------------------------

    def finish(self, inputs: list[TensorSpec]) -> FloatModel:
        outputs, values = [], {}
        for vi in self.model.graph.output:
            name = self.resolve(vi.name)
            if name in self.quantized:
                raise OnnxImportError(f"{self.source}: output {vi.name!r} is int8 (a "
                                      f"QuantizeLinear); end the model with DequantizeLinear")
            if name not in self.tensors:
                raise OnnxImportError(f"{self.source}: output {vi.name!r} is a constant")
            if name in {s.name for s in inputs}:
                raise OnnxImportError(f"{self.source}: output {vi.name!r} is a model input")
            t = self.tensors[name]
            outputs.append(TensorSpec(vi.name, t.shape, t.graph_shape, t.layout, t.perm))
            values[vi.name] = name
        return FloatModel(self.model.graph.name or "model", inputs, outputs, self.ops,
                          self.tensors, self.pins, values, self.source)


def _bias_broadcasts(cshape: tuple[int, ...], yshape: tuple[int, ...]) -> bool:
    """A constant that broadcasts onto ``yshape`` along the channel axis (1) only."""
    if len(cshape) > len(yshape):
        return False
    full = (1,) * (len(yshape) - len(cshape)) + tuple(cshape)
    return full[1] == yshape[1] and all(d == 1 for i, d in enumerate(full) if i != 1)


def _node_name(node) -> str:
    return repr(node.name) if node.name else f"(unnamed, output {node.output[0]!r})"


def load_float_model(model, *, batch: int = 1) -> FloatModel:
    """An ONNX model (a path, or an ``onnx.ModelProto``) as a :class:`FloatModel`.

    ``batch`` replaces a symbolic batch dimension (the graph has static shapes; a model with
    images needs 1). Raises :class:`OnnxImportError`."""
    if isinstance(model, (str, Path)):
        source, proto = str(model), load_onnx(model)
    else:
        source, proto = "<model>", model
        _check(proto, source)
    if not isinstance(batch, int) or batch < 1:
        raise OnnxImportError(f"batch must be a positive integer, not {batch!r}")
    b = _Builder(proto, source, batch)
    inputs = b.add_inputs()
    for node in proto.graph.node:
        b.node(node)
    return b.finish(inputs)


# --- quantisation -----------------------------------------------------------------------------

@dataclass
class ImportedModel:
    """A quantised model: the graph and how to feed it and read it.

    Members
    -------
    graph : the :class:`~conveyor.sw.ir.builder.Graph`.
    float_model : the :class:`FloatModel` it was quantised from.
    inputs, outputs : :class:`TensorSpec` per input and output, with their scales.
    scales : ``tensor -> (scale, zp)`` of every int8 tensor of the float model.
    """

    graph: object
    float_model: FloatModel
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    scales: dict[str, tuple[float, int]]

    def quantize_inputs(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float inputs in ONNX layout (the graph's batch) -> the graph's int8 inputs."""
        return {s.name: s.to_graph(feeds[s.name]) for s in self.inputs}

    def dequantize_outputs(self, results: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's int8 outputs -> float in ONNX layout."""
        return {s.name: s.from_graph(results[s.name]) for s in self.outputs}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Quantise ``feeds``, run the graph with :func:`conveyor.sw.ir.reference.evaluate`,
        dequantise the outputs."""
        from ...ir.reference import evaluate

        return self.dequantize_outputs(evaluate(self.graph, self.quantize_inputs(feeds)))


class _Groups:
    """Union-find over tensors that must share one int8 scale."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def import_onnx(model, calibration=None, *, batch: int = 1,
                percentile: float | None = None) -> ImportedModel:
    """Read an ONNX model and quantise it into a :class:`~conveyor.sw.ir.builder.Graph`.

    Parameters
    ----------
    model : a path, an ``onnx.ModelProto`` or a :class:`FloatModel`.
    calibration : calibration inputs, each a batch of samples in the model's ONNX input layout:
        a path to a ``.npy`` (one input) or ``.npz`` (an array per input name), a mapping
        name -> array, or one array. Needed unless the model is quantised (QDQ) throughout.
    batch : the graph's batch for a symbolic batch dimension.
    percentile : None for max-abs calibration, else the percentile of ``|x|`` that becomes an
        activation's int8 range (see :mod:`conveyor.sw.frontends.quantize`).

    Tensors that must share a scale (the two inputs of an Add; the input and output of Relu,
    MaxPool and Reshape) get one scale: the largest range among them, or the scale the model
    fixed with QDQ. An output scale that would make a requant multiplier reach 1 is raised.
    """
    from ...ir.builder import Graph, quantize_multiplier

    fm = model if isinstance(model, FloatModel) else load_float_model(model, batch=batch)
    src = fm.source

    # Which tensors share a scale.
    groups = _Groups()
    for spec in fm.inputs:
        groups.find(spec.name)
    for op in fm.ops:
        groups.find(op.output)
        if op.kind in ("relu", "maxpool2x2", "reshape"):
            groups.union(op.output, op.inputs[0])
        elif op.kind == "add":
            groups.union(op.inputs[0], op.inputs[1])
    members: dict[str, list[str]] = {}
    for t in groups.parent:
        members.setdefault(groups.find(t), []).append(t)

    # Fixed scales (QDQ), then calibrated ranges for the rest.
    scale: dict[str, float] = {}
    zero: dict[str, int] = {}
    pinned: set[str] = set()
    for root, names in members.items():
        pins = [(t, fm.pins[t]) for t in names if t in fm.pins]
        zero[root] = 0
        if pins:
            (t0, (s0, z0)) = pins[0]
            for t, (s, z) in pins[1:]:
                if not math.isclose(s, s0, rel_tol=1e-6) or z != z0:
                    raise OnnxImportError(f"{src}: tensors {t0!r} and {t!r} must share one scale "
                                          f"(an Add's inputs, or a Relu/MaxPool/Reshape's input "
                                          f"and output) but are quantised with ({s0}, {z0}) and "
                                          f"({s}, {z})")
            scale[root], zero[root] = s0, z0
            pinned.add(root)
    if len(pinned) < len(members):
        feeds = _calibration_feeds(fm, calibration)
        env = fm.run(feeds, all_tensors=True)
        for root, names in members.items():
            if root not in pinned:
                amax = max(calibration_amax(env[t], percentile) for t in names)
                scale[root] = activation_scale(amax)

    def s_of(t: str) -> float:
        return scale[groups.find(t)]

    def z_of(t: str) -> int:
        return zero[groups.find(t)]

    # Weight quantisation, then output scales raised until every multiplier is below 1.
    wq: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def in_scale(i: int, op: FloatOp) -> float:
        return float(np.max(s_of(op.inputs[0]) * wq[i][1])) if i in wq else s_of(op.inputs[0])

    for _ in range(len(fm.ops) + 1):
        for i, op in enumerate(fm.ops):
            if op.kind in ("linear", "conv2d"):
                wq[i] = op.wq if op.wq is not None else quantize_weights(
                    op.w, axis=-1, min_scale=bias_min_weight_scale(op.b, s_of(op.inputs[0])))
        changed = False
        for i, op in enumerate(fm.ops):
            if op.kind not in ("linear", "conv2d", "add"):
                continue
            need = in_scale(i, op) / _MAX_MULTIPLIER
            root = groups.find(op.output)
            if s_of(op.output) < need:
                if root in pinned:
                    raise OnnxImportError(
                        f"{src}: {op.kind} {op.node!r}: output scale {s_of(op.output)} is "
                        f"smaller than the accumulator's {in_scale(i, op)}; requant cannot "
                        f"multiply up")
                scale[root] = need
                changed = True
        if not changed:
            break

    # Build the graph.
    g = Graph(_graph_name(fm.name))
    values = {}
    for spec in fm.inputs:
        values[spec.name] = g.input(spec.name, spec.graph_shape)
    for i, op in enumerate(fm.ops):
        out_t = fm.tensors[op.output]
        x = values[op.inputs[0]]
        if op.kind in ("linear", "conv2d"):
            q, s_w = wq[i]
            s_x, z_x = s_of(op.inputs[0]), z_of(op.inputs[0])
            if z_x and op.kind == "conv2d" and op.pad:
                raise OnnxImportError(f"{src}: conv2d {op.node!r}: input zero point {z_x} with "
                                      f"padding {op.pad} (the graph pads with 0, not the zero "
                                      f"point)")
            bias = quantize_bias(op.b, s_x, s_w).astype(np.int64)
            if z_x:  # fold the input zero point: x_real ~ s_x * (x - z_x)
                bias = bias - z_x * q.astype(np.int64).reshape(-1, q.shape[-1]).sum(axis=0)
            bias = np.clip(bias, -(1 << 31), (1 << 31) - 1).astype(np.int32)
            mul, shift = quantize_multiplier(s_x * s_w / s_of(op.output))
            if op.kind == "linear":
                v = g.linear(x, q, bias, mul=mul, shift=shift, zp=z_of(op.output),
                             relu=op.relu)
            else:
                v = g.conv2d(x, q, bias, stride=op.stride, pad=op.pad, mul=mul, shift=shift,
                             zp=z_of(op.output), relu=op.relu)
        elif op.kind == "add":
            if z_of(op.inputs[0]) or z_of(op.inputs[1]):
                raise OnnxImportError(f"{src}: add {op.node!r}: inputs with a zero point other "
                                      f"than 0 cannot be added by the graph's add")
            mul, shift = quantize_multiplier(s_of(op.inputs[0]) / s_of(op.output))
            v = g.add(x, values[op.inputs[1]], mul=mul, shift=shift, zp=z_of(op.output),
                      relu=op.relu)
        elif op.kind == "relu":
            v = g.relu(x, zp=z_of(op.inputs[0]))
        elif op.kind == "maxpool2x2":
            v = g.maxpool2x2(x)
        else:
            v = g.reshape(x, out_t.graph_shape)
        values[op.output] = v

    def spec(s: TensorSpec, t: str) -> TensorSpec:
        return TensorSpec(s.name, s.onnx_shape, s.graph_shape, s.layout, s.perm, s_of(t), z_of(t))

    inputs = [spec(s, s.name) for s in fm.inputs]
    outputs = [spec(s, fm.output_values[s.name]) for s in fm.outputs]
    for s in outputs:
        g.output(s.name, values[fm.output_values[s.name]])
    scales = {t: (s_of(t), z_of(t)) for t in groups.parent}
    return ImportedModel(g, fm, inputs, outputs, scales)


def _graph_name(name: str) -> str:
    import re

    return re.sub(r"[^\w.$-]", "_", name) or "model"


def _calibration_feeds(fm: FloatModel, calibration) -> dict[str, np.ndarray]:
    names = [s.name for s in fm.inputs]
    if calibration is None:
        raise OnnxImportError(f"{fm.source}: calibration inputs are needed to quantise this "
                              f"float model (--calibration FILE.npy)")
    if isinstance(calibration, (str, Path)):
        feeds = load_calibration(calibration, names)
    elif isinstance(calibration, np.ndarray):
        if len(names) != 1:
            raise OnnxImportError(f"{fm.source}: the model has {len(names)} inputs; give "
                                  f"calibration as a mapping name -> array")
        feeds = {names[0]: calibration}
    elif isinstance(calibration, Mapping):
        feeds = dict(calibration)
    else:
        raise OnnxImportError(f"calibration must be a path, an array or a mapping, not "
                              f"{type(calibration).__name__}")
    for spec in fm.inputs:
        if spec.name not in feeds:
            raise OnnxImportError(f"{fm.source}: no calibration data for input {spec.name!r}")
        x = np.asarray(feeds[spec.name])
        if x.shape[1:] != spec.onnx_shape[1:]:
            where = calibration if isinstance(calibration, (str, Path)) else "calibration"
            raise OnnxImportError(f"{where}: input {spec.name!r} needs samples of shape "
                                  f"(n, {', '.join(map(str, spec.onnx_shape[1:]))}), not "
                                  f"{x.shape}")
    return feeds

