"""The float model: an ONNX model as the graph level's ops and layouts, still in float.

:func:`~conveyor.sw.frontends.onnx.lower.load_float_model` builds a :class:`FloatModel` from an
ONNX file; :func:`~conveyor.sw.frontends.onnx.int8.import_onnx` calibrates and quantises it. In
between it runs in numpy: :meth:`FloatModel.run` equals onnx's reference evaluator on the ONNX
model, and with ``all_tensors`` gives every internal tensor, which is what calibration measures.

Each :class:`FloatOp` is one op of :class:`~conveyor.sw.ir.builder.Graph` (``linear``,
``conv2d``, ``dwconv``, ``add``, ``qadd``, ``mul``, ``relu``, ``leaky``, ``table``, ``maxpool``,
``avgpool``, ``reshape``) in the graph's layouts: images are (N, H, W, C) and 2-D tensors keep
ONNX's shape. :class:`TensorSpec` converts a model input or
output between ONNX's layout and the graph's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..quantize import dequantize, quantize, tflite_quantize
from .load import OnnxImportError

__all__ = ["TABLE_FUNCTIONS", "TABLE_OUTPUT", "FloatModel", "FloatOp", "Tensor", "TensorSpec"]


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
    quantizer : how a float input becomes int8: ``"onnx"`` (QuantizeLinear,
        :func:`~conveyor.sw.frontends.quantize.quantize`) or ``"tflite"`` (LiteRT's QUANTIZE,
        :func:`~conveyor.sw.frontends.quantize.tflite_quantize`: a TFLite model's float edge).
    """

    name: str
    onnx_shape: tuple[int, ...]
    graph_shape: tuple[int, ...]
    layout: str
    perm: np.ndarray | None = None
    scale: float = 1.0
    zp: int = 0
    quantizer: str = "onnx"

    def to_json(self) -> dict:
        return {"name": self.name, "onnx_shape": list(self.onnx_shape),
                "graph_shape": list(self.graph_shape), "layout": self.layout,
                "perm": None if self.perm is None else self.perm.tolist(),
                "scale": self.scale, "zp": self.zp, "quantizer": self.quantizer}

    @classmethod
    def from_json(cls, d: dict) -> TensorSpec:
        perm = None if d["perm"] is None else np.asarray(d["perm"], np.int64)
        return cls(d["name"], tuple(d["onnx_shape"]), tuple(d["graph_shape"]), d["layout"],
                   perm, float(d["scale"]), int(d["zp"]), d.get("quantizer", "onnx"))

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
        rule = tflite_quantize if self.quantizer == "tflite" else quantize
        return rule(self.to_internal(x), self.scale, self.zp).reshape(self.graph_shape)

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
class Tensor:
    """A runtime tensor of the float model: its ONNX shape (with the graph's batch), layout."""

    shape: tuple[int, ...]
    layout: str = "plain"
    perm: np.ndarray | None = None

    @property
    def graph_shape(self) -> tuple[int, ...]:
        """Its shape in the graph: images (H, W, C), or (N, H, W, C) for a batch of them."""
        if self.layout == "nhwc":
            n, c, h, w = self.shape
            return (h, w, c) if n == 1 else (n, h, w, c)
        return self.shape


@dataclass
class FloatOp:
    """One graph-level op in float, in the graph's layouts.

    Members
    -------
    kind : ``linear``, ``conv2d``, ``dwconv`` (depthwise: w (R, S, C)), ``add``, ``qadd`` (an
        add of two tensors the model quantised each with its own scale: TFLite's ADD),
        ``relu``, ``leaky`` (LeakyRelu, its ``alpha``), ``table`` (an element-wise function of
        :data:`TABLE_FUNCTIONS`, ``fn``, looked up in a 256-entry table), ``maxpool``,
        ``avgpool``, ``reshape`` or ``softmax`` (a host step).
    node : the ONNX node it came from (for messages).
    inputs, output : tensor names.
    w, b : float weights (linear (K, N); conv2d (R, S, C, K)) and bias (N,).
    wq : ``(q, scale)`` when the model gave the int8 weights (QDQ, QOperator), in ``w``'s
        layout, scale per output channel; else None and :func:`import_onnx` quantises ``w``.
    bq : ``(q, scale)`` when the model gave the int32 bias (QDQ, QOperator), else None.
    relu : a fused ReLU; clip : the upper end of a fused Clip(0, clip). stride : a convolution's or pool's (rows, columns). pad : a
        convolution's or maxpool's [top, left, bottom, right]. window : a pool's. shape :
        reshape's target (without batch).
    """

    kind: str
    node: str
    inputs: list[str]
    output: str
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    wq: tuple[np.ndarray, np.ndarray] | None = None
    bq: tuple[np.ndarray, np.ndarray] | None = None
    relu: bool = False
    clip: float | None = None  # the upper end of a fused Clip(0, clip)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    window: tuple[int, int] = (1, 1)
    shape: tuple[int, ...] = ()
    alpha: float = 0.0  # a leaky relu's slope below zero
    fn: str = ""  # a table's function: a key of TABLE_FUNCTIONS


#: Element-wise functions the importer tabulates (``graph.table``), in float32 as onnxruntime
#: computes them, and the output quantisation each gets when the model leaves it open: the
#: range of the function in 256 steps, as TFLite quantises LOGISTIC and TANH.
TABLE_FUNCTIONS = {
    "sigmoid": lambda x: (np.float32(1) / (np.float32(1) + np.exp(-x))).astype(np.float32),
    "tanh": lambda x: np.tanh(x).astype(np.float32),
}
TABLE_OUTPUT = {"sigmoid": (1 / 256, -128), "tanh": (1 / 128, 0)}


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
    tensors: dict[str, Tensor]
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
        y = _conv_nhwc(x, op.w, op.stride[0], op.pad) + op.b
    elif op.kind in ("add", "qadd"):
        y = x + args[1]
    elif op.kind == "mul":
        y = x * args[1]
    elif op.kind == "relu":
        y = np.maximum(x, 0)
    elif op.kind == "leaky":
        y = np.where(x >= 0, x, np.float32(op.alpha) * x)
    elif op.kind == "table":
        y = TABLE_FUNCTIONS[op.fn](x.astype(np.float32))
    elif op.kind == "maxpool":
        y = _maxpool_nhwc(x, op.window, op.stride, op.pad)
    elif op.kind == "avgpool":
        win = np.lib.stride_tricks.sliding_window_view(x, tuple(op.window), axis=(1, 2))
        y = win[:, ::op.stride[0], ::op.stride[1]].mean(axis=(4, 5))
    elif op.kind == "dwconv":
        top, left, bottom, right = op.pad
        xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
        win = np.lib.stride_tricks.sliding_window_view(xp, op.w.shape[:2], axis=(1, 2))
        y = np.einsum("nyxcrs,rsc->nyxc", win[:, ::op.stride[0], ::op.stride[1]], op.w) + op.b
    elif op.kind == "reshape":
        y = x.reshape((x.shape[0],) + op.shape)
    elif op.kind == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
    else:  # pragma: no cover - every kind above is the whole list
        raise AssertionError(op.kind)
    y = np.maximum(y, 0) if op.relu else y
    return y if op.clip is None else np.minimum(y, op.clip)


def _conv_nhwc(x: np.ndarray, w: np.ndarray, stride: int, pad) -> np.ndarray:
    """x (N, H, W, C), w (R, S, C, K) -> (N, OH, OW, K), zero padding [top, left, bottom,
    right]."""
    n, c = x.shape[0], x.shape[3]
    r, s, _, k = w.shape
    top, left, bottom, right = pad
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh, ow = (xp.shape[1] - r) // stride + 1, (xp.shape[2] - s) // stride + 1
    cols = [xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            for i in range(r) for j in range(s)]
    patches = np.stack(cols, axis=3).reshape(n, oh, ow, r * s * c)
    return patches @ w.reshape(r * s * c, k)


def _maxpool_nhwc(x: np.ndarray, window, stride, pad) -> np.ndarray:
    """Max over each window of x (N, H, W, C); padding never wins (ONNX's MaxPool)."""
    top, left, bottom, right = pad
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, tuple(window), axis=(1, 2))
    return win[:, ::stride[0], ::stride[1]].max(axis=(4, 5))
