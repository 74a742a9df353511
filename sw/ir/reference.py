"""The numpy reference of the graph level: exact integer results of every graph op.

Sums are taken in int64 and wrapped to int32 (the MXM's accumulators wrap), requantisation is
:func:`conveyor.hw.machine.semantics.requantize` (the VXM's ``requant``), convolution is
channels-last with zero padding. Every compiled program is checked against this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ...hw.machine.semantics import (
    requantize,
    requantize_single,
    rounding_divide_by_pot,
    srdhm,
)
from . import IRError, Module, Op, Value
from .graph import (
    AddOp,
    AvgPoolOp,
    ConstOp,
    Conv2dOp,
    DepthwiseConv2dOp,
    InputOp,
    LeakyReluOp,
    LinearOp,
    MatmulOp,
    MaxPool2x2Op,
    MaxPoolOp,
    OutputOp,
    QAddOp,
    QMulOp,
    ReluOp,
    ReshapeOp,
    TableOp,
    pads,
)

__all__ = [
    "avgpool",
    "conv2d",
    "depthwise_conv2d",
    "evaluate",
    "leaky_relu",
    "linear",
    "matmul",
    "maxpool2x2",
    "qadd",
    "requant",
    "rescale",
]


# --- the ops on arrays ----------------------------------------------------------------------

def _wrap32(a: np.ndarray) -> np.ndarray:
    """int64 -> int32, keeping the low 32 bits (two's-complement wrap)."""
    return a.astype(np.int32)


def matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` with int32 (wrapping) sums."""
    return _wrap32(x.astype(np.int64) @ w.astype(np.int64))


def requant(acc: np.ndarray, mul: int | list[int], shift: int | list[int], zp: int,
            relu: bool) -> np.ndarray:
    """int32 -> int8 as the VXM's requant; a list ``mul`` or ``shift`` is per channel (the
    last axis)."""
    m = np.asarray(mul, dtype=np.int64) if isinstance(mul, list) else mul
    sh = np.asarray(shift, dtype=np.int64) if isinstance(shift, list) else shift
    return requantize(acc.astype(np.int32), m, sh, zp, relu)


def rescale(v: np.ndarray, mul: int, shift: int) -> np.ndarray:
    """int32 -> int32: ``RDBPOT(SRDHM(v, mul), shift)`` (gemmlowp), the VXM's mulq + rshr."""
    return rounding_divide_by_pot(srdhm(v, mul), shift).astype(np.int32)


def qadd(a: np.ndarray, b: np.ndarray, attrs: Mapping) -> np.ndarray:
    """TFLite's int8 ADD (graph.qadd)."""
    def side(x, k):
        shifted = (x.astype(np.int64) - attrs[f"{k}_zp"]) << attrs["left_shift"]
        return rescale(shifted, attrs[f"{k}_mul"], attrs[f"{k}_shift"]).astype(np.int64)
    total = _wrap32(side(a, "a") + side(b, "b"))
    return requant(total, *(attrs[k] for k in ("mul", "shift", "zp", "relu")))


def leaky_relu(x: np.ndarray, attrs: Mapping) -> np.ndarray:
    """TFLite's int8 LEAKY_RELU (graph.leaky_relu)."""
    v = x.astype(np.int64) - attrs["x_zp"]

    def side(m: str, e: str) -> np.ndarray:  # zp + mbqm(v), saturated: requant's own steps
        exp = attrs[e]
        return _requant_rounded(v << max(exp, 0), attrs[m], max(-exp, 0), attrs["zp"], False,
                                attrs["rounding"])
    return np.where(v >= 0, side("mul", "shift"), side("alpha_mul", "alpha_shift"))


def avgpool(x: np.ndarray, window, stride) -> np.ndarray:
    """TFLite's int8 AVERAGE_POOL_2D without padding: each window's sum divided by its size,
    rounded half away from zero (C's truncating division of sum +- size/2)."""
    (r, s), (sy, sx) = window, stride
    win = np.lib.stride_tricks.sliding_window_view(x.astype(np.int64), (r, s), axis=(0, 1))
    total = win[::sy, ::sx].sum(axis=(3, 4))
    count = r * s
    rounded = total + np.where(total > 0, count // 2, -(count // 2))
    mean = np.sign(rounded) * (np.abs(rounded) // count)  # C's division truncates
    return np.clip(mean, -128, 127).astype(np.int8)


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray, mul: int | list[int], shift: int,
           zp: int, relu: bool, rounding: str = "double") -> np.ndarray:
    acc = _wrap32(x.astype(np.int64) @ w.astype(np.int64) + b.astype(np.int64))
    return _requant_rounded(acc, mul, shift, zp, relu, rounding)


def _requant_rounded(acc: np.ndarray, mul: int | list[int], shift: int | list[int], zp: int,
                     relu: bool, rounding: str) -> np.ndarray:
    """requant (``rounding="double"``), or requant.s / requant.s.v (one shift, one mul or one
    per channel on the last axis)."""
    if rounding != "single":
        return requant(acc, mul, shift, zp, relu)
    m = np.asarray(mul, dtype=np.int64) if isinstance(mul, list) else mul
    sh = shift[0] if isinstance(shift, list) else shift
    return requantize_single(acc, m, sh, zp, relu)


def conv2d_acc(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int,
               pad: int | list[int], pad_value: int = 0) -> np.ndarray:
    """The int32 accumulators of a channels-last convolution: (OH, OW, K)."""
    r, s, c, k = w.shape
    top, left, bottom, right = pads(pad)
    xp = np.pad(x.astype(np.int64), ((top, bottom), (left, right), (0, 0)),
                constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(xp, (r, s), axis=(0, 1))
    win = win[::stride, ::stride]                       # (OH, OW, C, R, S)
    oh, ow = win.shape[:2]
    cols = win.transpose(0, 1, 3, 4, 2).reshape(oh * ow, r * s * c)
    acc = cols @ w.astype(np.int64).reshape(r * s * c, k) + b.astype(np.int64)
    return _wrap32(acc).reshape(oh, ow, k)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int,
           mul: int | list[int], shift: int | list[int], zp: int, relu: bool,
           pad_value: int = 0, rounding: str = "double") -> np.ndarray:
    return _requant_rounded(conv2d_acc(x, w, b, stride, pad, pad_value), mul, shift, zp, relu,
                            rounding)


def depthwise_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int,
                     pad: int | list[int], mul, shift, zp: int, relu: bool,
                     pad_value: int = 0, rounding: str = "double") -> np.ndarray:
    """Channel c of the result convolves channel c of x with w[:, :, c] (int32 sums)."""
    r, s = w.shape[:2]
    top, left, bottom, right = pads(pad)
    xp = np.pad(x.astype(np.int64), ((top, bottom), (left, right), (0, 0)),
                constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(xp, (r, s), axis=(0, 1))[::stride, ::stride]
    acc = _wrap32(np.einsum("yxcrs,rsc->yxc", win, w.astype(np.int64)) + b.astype(np.int64))
    return _requant_rounded(acc, mul, shift, zp, relu, rounding)


def maxpool(x: np.ndarray, windows: list[list[int]], out_shape) -> np.ndarray:
    """Max over each window's input pixels (rows of x as (H*W, C))."""
    rows = x.reshape(-1, x.shape[-1])
    return np.stack([rows[w].max(axis=0) for w in windows]).reshape(out_shape)


def maxpool2x2(x: np.ndarray) -> np.ndarray:
    h, w, c = x.shape
    return x.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


# --- evaluating a module --------------------------------------------------------------------

def _per_image(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``fn`` of one (H, W, C) map, applied to each of a batch (N, H, W, C) too."""
    def each(x: np.ndarray, *args, **kwargs) -> np.ndarray:
        if x.ndim == 4:
            return np.stack([fn(image, *args, **kwargs) for image in x])
        return fn(x, *args, **kwargs)
    return each


def _requant_args(op: Op) -> tuple:
    a = op.attrs
    return a["mul"], a["shift"], a["zp"], a["relu"]


_EVAL: dict[type[Op], Callable[[Op, list[np.ndarray]], np.ndarray]] = {
    ConstOp: lambda op, args: op.attrs["value"],
    MatmulOp: lambda op, args: matmul(*args),
    LinearOp: lambda op, args: linear(*args, *_requant_args(op), op.attrs["rounding"]),
    AddOp: lambda op, args: requant(_wrap32(args[0].astype(np.int64) + args[1].astype(np.int64)),
                                    *_requant_args(op)),
    ReluOp: lambda op, args: np.maximum(args[0], op.attrs["zp"]).astype(args[0].dtype),
    Conv2dOp: lambda op, args: _per_image(conv2d)(*args, op.attrs["stride"], op.attrs["pad"],
                                                  *_requant_args(op), op.attrs["pad_value"],
                                                  op.attrs["rounding"]),
    QAddOp: lambda op, args: qadd(*args, op.attrs),
    QMulOp: lambda op, args: _requant_rounded(
        (args[0].astype(np.int64) - op.attrs["a_zp"]) * (args[1].astype(np.int64)
                                                         - op.attrs["b_zp"]),
        *_requant_args(op), op.attrs["rounding"]),
    LeakyReluOp: lambda op, args: leaky_relu(args[0], op.attrs),
    TableOp: lambda op, args: op.attrs["table"][args[0].astype(np.int64) + 128],
    DepthwiseConv2dOp: lambda op, args: _per_image(depthwise_conv2d)(
        *args, op.attrs["stride"], op.attrs["pad"], *_requant_args(op), op.attrs["pad_value"],
        op.attrs["rounding"]),
    AvgPoolOp: lambda op, args: _per_image(avgpool)(args[0], op.attrs["window"],
                                                    op.attrs["stride"]),
    MaxPool2x2Op: lambda op, args: _per_image(maxpool2x2)(args[0]),
    MaxPoolOp: lambda op, args: maxpool(args[0], op.windows(), op.result.type.shape),
    ReshapeOp: lambda op, args: args[0].reshape(op.attrs["shape"]),
}


def _input_array(name: str, given: object, value: Value) -> np.ndarray:
    t = value.type
    array = np.asarray(given)
    if array.shape != t.shape:
        raise IRError(f"input {name!r} has shape {array.shape}, but the graph takes {t}")
    if array.dtype != t.np_dtype:
        if array.dtype.kind not in "iu":
            raise IRError(f"input {name!r} must be {t.np_dtype}, not {array.dtype}")
        info = np.iinfo(t.np_dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise IRError(f"input {name!r} has values outside {t.np_dtype} "
                          f"({info.min}..{info.max})")
        array = array.astype(t.np_dtype)
    return array


def evaluate(graph: Module, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a graph-level module (a :class:`~conveyor.sw.ir.builder.Graph` or a parsed module) on
    ``inputs`` (input name -> array) and return output name -> array, exactly as the core
    computes it. IRError for a missing, unknown or ill-shaped input, or an op that is not a
    graph op."""
    env: dict[Value, np.ndarray] = {}
    outputs: dict[str, np.ndarray] = {}
    names = [op.attrs["name"] for op in graph.ops if isinstance(op, InputOp)]
    missing = [n for n in names if n not in inputs]
    extra = [n for n in inputs if n not in names]
    if missing:
        raise IRError(f"no value given for input {missing[0]!r} of graph {graph.name!r}")
    if extra:
        raise IRError(f"graph {graph.name!r} has no input named {extra[0]!r} "
                      f"(inputs: {', '.join(names) or 'none'})")
    for op in graph.ops:
        if isinstance(op, InputOp):
            env[op.results[0]] = _input_array(op.attrs["name"], inputs[op.attrs["name"]],
                                              op.results[0])
        elif isinstance(op, OutputOp):
            outputs[op.attrs["name"]] = env[op.operands[0]].copy()
        else:
            fn = _EVAL.get(type(op))
            if fn is None:
                raise op.error("the reference evaluates graph ops only")
            result = fn(op, [env[v] for v in op.operands])
            if result.shape != op.results[0].type.shape or \
                    result.dtype != op.results[0].type.np_dtype:
                raise op.error(f"reference result {result.dtype}{list(result.shape)} does "
                               f"not match {op.results[0].type}")  # a bug, not user input
            env[op.results[0]] = result
    return outputs
