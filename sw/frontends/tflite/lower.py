"""TFLite int8 operators to the graph level, with TFLite's own quantisation arithmetic.

Each operator becomes the graph op that computes exactly what LiteRT's reference kernel
computes: the same multipliers (``QuantizeMultiplier`` of the same double-precision scales),
the same rounding (gemmlowp's doubling high multiply, then a rounding right shift, per channel),
zero points folded where TFLite applies them (an input's into the bias, padding with the
input's zero point). LOGISTIC and TANH are ``graph.table`` of the lookup table LiteRT's Prepare
fills (:mod:`.activations`), and so is an int8 -> int8 QUANTIZE (:mod:`.edges`). A tensor
(1, H, W, C) is the graph's (H, W, C): batches of one. A float edge (QUANTIZE of a float32
input, DEQUANTIZE into a float32 output) is the host's, cut off before (:mod:`.edges`).
"""

from __future__ import annotations

import numpy as np

from ...ir.builder import Graph
from ...ir.core import Value
from ..quantize import add_rescale, leaky_rescale, tflite_multiplier
from .activations import LOGISTIC_OUTPUT, TANH_OUTPUT, logistic_table, tanh_table
from .edges import graph_shape, requantize_table
from .load import TfliteImportError, TfliteModel, TfliteOp, TfliteTensor

__all__ = ["SUPPORTED_OPS", "lower_tflite"]

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1

#: TFLite's fused activations (ActivationFunctionType) by code.
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH",
                5: "SIGN_BIT"}


class _Lowering:
    def __init__(self, model: TfliteModel, name: str):
        self.model = model
        self.g = Graph(name)
        self.values: dict[int, Value] = {}
        self.names: set[str] = set()

    def error(self, op: TfliteOp, message: str) -> TfliteImportError:
        return TfliteImportError(f"{self.model.path}: operator {op.index} ({op.name}): "
                                 f"{message}")

    def name(self, index: int) -> str:
        """A value name for tensor ``index``: the last part of its (path-like) name, made
        unique with the tensor's index."""
        t = self.t(index)
        base = "".join(ch if ch.isalnum() or ch == "_" else "_"
                       for ch in t.name.split("/")[-1].split(";")[0]) or "t"
        name = base if base not in self.names else f"{base}_{index}"
        self.names.add(name)
        return name

    def t(self, index: int) -> TfliteTensor:
        return self.model.tensors[index]

    def value(self, op: TfliteOp, index: int) -> Value:
        if index not in self.values:
            raise self.error(op, f"input tensor {self.t(index).name!r} is neither a model "
                                 f"input nor computed before")
        return self.values[index]

    def const(self, op: TfliteOp, index: int, dtype, what: str) -> np.ndarray:
        t = self.t(index)
        if t.data is None or t.dtype is not dtype:
            raise self.error(op, f"{what} {t.name!r} must be a constant "
                                 f"{np.dtype(dtype).name} tensor")
        return t.data

    def quant(self, op: TfliteOp, index: int, what: str) -> tuple[np.ndarray, int]:
        """(scales as float64, zero point) of an int8 tensor quantised per tensor (or, for
        weights, per channel with zero points 0)."""
        t = self.t(index)
        if t.dtype is not np.int8 or t.scale is None:
            raise self.error(op, f"{what} {t.name!r} must be a quantised int8 tensor")
        zps = t.zero_point if t.zero_point is not None else np.zeros(1, np.int64)
        if len(t.scale) > 1 and np.any(zps != 0):
            raise self.error(op, f"{what} {t.name!r} has per-channel zero points")
        return t.scale.astype(np.float64), int(zps[0])

    def activation(self, op: TfliteOp, code: int, scale: float, zp: int) -> bool:
        """relu for a fused activation whose clamp is max(., zp) only."""
        name = _ACTIVATIONS.get(code, str(code))
        if name == "NONE":
            return False
        if name == "RELU":
            return True
        if name == "RELU6" and zp + round(6.0 / scale) >= 127:
            return True  # the upper clamp is int8's own
        raise self.error(op, f"fused activation {name} is not supported")

    def requant_params(self, op: TfliteOp, scales: np.ndarray) -> tuple[list, list]:
        mul, exp = tflite_multiplier(scales)
        if np.any(exp > 0):
            raise self.error(op, f"an effective scale of {float(scales.max()):.3g} needs a "
                                 f"left shift (scale >= 0.5), which requant does not do")
        if np.any(-exp > 31):
            raise self.error(op, "an effective scale below 2^-31")
        return mul.tolist(), (-exp).tolist()

    # --- ops --------------------------------------------------------------------------------

    def run(self) -> Graph:
        for i in self.model.inputs:
            t = self.t(i)
            if t.dtype is not np.int8:
                raise TfliteImportError(f"{self.model.path}: input {t.name!r} is "
                                        f"{np.dtype(t.dtype).name if t.dtype else 'of a type'}"
                                        f" Conveyor does not read; it takes int8 inputs (or "
                                        f"float32 ones into a QUANTIZE to int8)")
            if not t.shape or min(t.shape) < 1 or int(np.prod(t.shape)) > 1 << 24:
                raise TfliteImportError(f"{self.model.path}: input {t.name!r} has shape "
                                        f"{list(t.shape)}")
            self.values[i] = self.g.input(t.name, graph_shape(t.shape))
        for op in self.model.ops:
            handler = _HANDLERS.get(op.name)
            if handler is None:
                raise self.error(op, f"unsupported op (supported: "
                                     f"{', '.join(SUPPORTED_OPS)})")
            self.check_form(op)
            handler(self, op)
        for i in self.model.outputs:
            self.g.output(self.t(i).name, self.value(self.model.ops[-1], i))
        return self.g

    def check_form(self, op: TfliteOp) -> None:
        """The operator has its required tensors and its options table."""
        need = _ARITY[op.name]
        if len(op.inputs) < need or min(op.inputs[:need]) < 0 or len(op.outputs) != 1 \
                or op.outputs[0] < 0:
            raise self.error(op, f"needs {need} input tensor(s) and one output, has "
                                 f"{op.inputs} -> {op.outputs}")
        if op.name not in _OPTIONAL_OPTIONS and op.options is None:
            raise self.error(op, "its options are missing or of another op")

    def conv(self, op: TfliteOp, depthwise: bool) -> None:
        o = op.options
        x_i, w_i = op.inputs[0], op.inputs[1]
        x = self.value(op, x_i)
        h, wd, c = x.type.shape
        w = self.const(op, w_i, np.int8, "the filter")
        if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
            raise self.error(op, "dilated convolutions are not supported")
        if o.StrideH() != o.StrideW():
            raise self.error(op, f"strides {o.StrideH()}x{o.StrideW()}: the core's convolution "
                                 f"takes one stride for both axes")
        stride = o.StrideH()
        if depthwise:
            if o.DepthMultiplier() != 1 or w.shape[-1] != c:
                raise self.error(op, "a depth multiplier other than 1 is not supported")
            w_ours = w[0]                                   # (KH, KW, C)
            sums = w_ours.astype(np.int64).sum(axis=(0, 1))
        else:
            w_ours = w.transpose(1, 2, 3, 0)                # (O, KH, KW, I) -> (KH, KW, I, O)
            sums = w.astype(np.int64).sum(axis=(1, 2, 3))
        kh, kw, k = w_ours.shape[0], w_ours.shape[1], w_ours.shape[-1]
        sx, zx = self.quant(op, x_i, "the input")
        sw, _ = self.quant(op, w_i, "the filter")
        sy, zy = self.quant(op, op.outputs[0], "the output")
        bias = self.bias(op, k, sums, zx)
        mul, shift = self.requant_params(op, sx[0] * sw / sy[0] * np.ones(k))
        pad = _padding(o.Padding(), (h, wd), (kh, kw), stride)
        relu = self.activation(op, o.FusedActivationFunction(), float(sy[0]), zy)
        name = self.name(op.outputs[0])
        build = self.g.depthwise_conv2d if depthwise else self.g.conv2d
        self.values[op.outputs[0]] = build(
            x, w_ours, bias, stride=stride, pad=list(pad), mul=mul, shift=shift, zp=zy,
            relu=relu, pad_value=zx, name=name)
        self.check_shape(op)

    def bias(self, op: TfliteOp, k: int, sums: np.ndarray, zx: int) -> np.ndarray:
        """TFLite adds the input's offset (-zx) to every input: fold -zx * sum(w) in."""
        b = (np.zeros(k, np.int64) if len(op.inputs) < 3 or op.inputs[2] < 0 else
             self.const(op, op.inputs[2], np.int32, "the bias").astype(np.int64))
        folded = b - zx * sums
        if folded.min() < _INT32_MIN or folded.max() > _INT32_MAX:
            raise self.error(op, "the bias with the input's zero point folded in overflows "
                                 "int32")
        return folded.astype(np.int32)

    def conv2d(self, op):
        self.conv(op, depthwise=False)

    def depthwise(self, op):
        self.conv(op, depthwise=True)

    def fully_connected(self, op: TfliteOp) -> None:
        o = op.options
        x_i, w_i = op.inputs[0], op.inputs[1]
        x = self.value(op, x_i)
        w = self.const(op, w_i, np.int8, "the weights")             # (O, I)
        if w.ndim != 2 or x.type.size % w.shape[1]:
            raise self.error(op, f"input {list(x.type.shape)} does not match weights "
                                 f"{list(w.shape)}")
        rows = (x.type.size // w.shape[1], w.shape[1])  # TFLite flattens to rows of I
        if tuple(x.type.shape) != rows:
            x = self.g.reshape(x, rows)
        sx, zx = self.quant(op, x_i, "the input")
        sw, _ = self.quant(op, w_i, "the weights")
        sy, zy = self.quant(op, op.outputs[0], "the output")
        k = w.shape[0]
        bias = self.bias(op, k, w.astype(np.int64).sum(axis=1), zx)
        if len(sw) > 1:
            raise self.error(op, "per-channel weight scales are not supported (LiteRT rounds a "
                                 "fully-connected layer once, requant.s has one multiplier)")
        # LiteRT's reference FULLY_CONNECTED rounds the product once (TFLITE_SINGLE_ROUNDING's
        # MultiplyByQuantizedMultiplier), unlike its convolutions: requant.s
        mul, shift = self.requant_params(op, np.array([sx[0] * sw[0] / sy[0]]))
        relu = self.activation(op, o.FusedActivationFunction(), float(sy[0]), zy)
        self.values[op.outputs[0]] = self.g.linear(
            x, np.ascontiguousarray(w.T), bias, mul=mul[0], shift=shift[0], zp=zy, relu=relu,
            rounding="single", name=self.name(op.outputs[0]))

    def add(self, op: TfliteOp) -> None:
        a_i, b_i = op.inputs[:2]
        a, b = self.value(op, a_i), self.value(op, b_i)
        if a.type.shape != b.type.shape:
            raise self.error(op, f"broadcasting {list(a.type.shape)} + {list(b.type.shape)} "
                                 f"is not supported")
        (sa,), za = self.quant(op, a_i, "input 1")
        (sb,), zb = self.quant(op, b_i, "input 2")
        (sy,), zy = self.quant(op, op.outputs[0], "the output")
        try:
            params = add_rescale((sa, za), (sb, zb), (sy, zy))
        except ValueError as e:
            raise self.error(op, str(e)) from None
        relu = self.activation(op, op.options.FusedActivationFunction(), sy, zy)
        self.values[op.outputs[0]] = self.g.qadd(a, b, **params, relu=relu,
                                                 name=self.name(op.outputs[0]))

    def mul(self, op: TfliteOp) -> None:
        """MUL of two activations: ``(a - za) (b - zb)`` rescaled by ``sa sb / sy`` (the
        product of the two doubles, as LiteRT's Prepare takes it)."""
        a_i, b_i = op.inputs[:2]
        a, b = self.value(op, a_i), self.value(op, b_i)
        if a.type.shape != b.type.shape:
            raise self.error(op, f"broadcasting {list(a.type.shape)} * {list(b.type.shape)} "
                                 f"is not supported")
        (sa,), za = self.quant(op, a_i, "input 1")
        (sb,), zb = self.quant(op, b_i, "input 2")
        (sy,), zy = self.quant(op, op.outputs[0], "the output")
        (mul,), (shift,) = self.requant_params(op, np.array([sa * sb / sy]))
        relu = self.activation(op, op.options.FusedActivationFunction(), sy, zy)
        self.values[op.outputs[0]] = self.g.qmul(a, b, a_zp=za, b_zp=zb, mul=mul, shift=shift,
                                                 zp=zy, relu=relu, rounding="double",
                                                 name=self.name(op.outputs[0]))

    def average_pool(self, op: TfliteOp) -> None:
        o = op.options
        x = self.value(op, op.inputs[0])
        h, wd, _ = x.type.shape
        window, stride = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        pad = _padding(o.Padding(), (h, wd), window, stride)
        if any(pad):
            raise self.error(op, "a padded average pool (its windows have different sizes) "
                                 "is not supported")
        sx, zx = self.quant(op, op.inputs[0], "the input")
        sy, zy = self.quant(op, op.outputs[0], "the output")
        if sx[0] != sy[0] or zx != zy:
            raise self.error(op, "input and output must share scale and zero point")
        if self.activation(op, o.FusedActivationFunction(), float(sy[0]), zy):
            raise self.error(op, "a fused activation on an average pool is not supported")
        self.values[op.outputs[0]] = self.g.avgpool(x, window, stride,
                                                    name=self.name(op.outputs[0]))
        self.check_shape(op)

    def max_pool(self, op: TfliteOp) -> None:
        o = op.options
        x = self.value(op, op.inputs[0])
        h, wd, _ = x.type.shape
        window, stride = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        if min(window + stride) < 1:
            raise self.error(op, f"window {list(window)} and stride {list(stride)} must be "
                                 f"positive")
        pad = _padding(o.Padding(), (h, wd), window, stride)
        sx, zx = self.quant(op, op.inputs[0], "the input")
        sy, zy = self.quant(op, op.outputs[0], "the output")
        if sx[0] != sy[0] or zx != zy:
            raise self.error(op, "input and output must share scale and zero point")
        relu = self.activation(op, o.FusedActivationFunction(), float(sy[0]), zy)
        name = self.name(op.outputs[0])
        y = self.g.maxpool(x, window, stride, pad, name=None if relu else name)
        self.values[op.outputs[0]] = self.g.relu(y, zy, name=name) if relu else y
        self.check_shape(op)

    def reshape(self, op: TfliteOp) -> None:
        x = self.value(op, op.inputs[0])
        out = self.t(op.outputs[0])
        sx, zx = self.quant(op, op.inputs[0], "the input")
        sy, zy = self.quant(op, op.outputs[0], "the output")
        if sx[0] != sy[0] or zx != zy:
            raise self.error(op, "a reshape that requantises is not supported")
        self.values[op.outputs[0]] = self.g.reshape(x, graph_shape(out.shape),
                                                    name=self.name(op.outputs[0]))

    def leaky_relu(self, op: TfliteOp) -> None:
        x = self.value(op, op.inputs[0])
        (sx,), zx = self.quant(op, op.inputs[0], "the input")
        (sy,), zy = self.quant(op, op.outputs[0], "the output")
        alpha = op.options.Alpha()
        if alpha < 0:
            raise self.error(op, f"alpha {alpha:g} < 0 is not supported")
        try:
            params = leaky_rescale((sx, zx), (sy, zy), alpha)
        except ValueError as e:
            raise self.error(op, str(e)) from None
        self.values[op.outputs[0]] = self.g.leaky_relu(x, **params, rounding="double",
                                                       name=self.name(op.outputs[0]))

    def logistic(self, op: TfliteOp) -> None:
        self.table(op, logistic_table, LOGISTIC_OUTPUT)

    def tanh(self, op: TfliteOp) -> None:
        self.table(op, tanh_table, TANH_OUTPUT)

    def table(self, op: TfliteOp, build, output: tuple[float, int]) -> None:
        """An int8 activation as graph.table of LiteRT's own lookup table (:mod:`.activations`),
        into the one output quantisation TFLite allows it."""
        x = self.value(op, op.inputs[0])
        sx, zx = self.quant(op, op.inputs[0], "the input")
        sy, zy = self.quant(op, op.outputs[0], "the output")
        if len(sx) != 1:
            raise self.error(op, "a per-channel quantised input is not supported")
        if len(sy) != 1 or (float(sy[0]), zy) != output:
            raise self.error(op, f"the output has scale {float(sy[0]):.6g} and zero point {zy}; "
                                 f"TFLite's int8 {op.name} has scale 1/{round(1 / output[0])} and "
                                 f"zero point {output[1]}")
        self.values[op.outputs[0]] = self.g.table(x, build(float(sx[0]), zx),
                                                  name=self.name(op.outputs[0]))

    def quantize(self, op: TfliteOp) -> None:
        """An int8 -> int8 QUANTIZE (LiteRT's Requantize) as graph.table of its 256 results; a
        float32 one is only a model input's (:mod:`.edges`)."""
        if self.t(op.inputs[0]).dtype is not np.int8:
            raise self.error(op, "only an int8 requantisation or a model input's QUANTIZE "
                                 "(float32 -> int8, done by the host) is supported")
        x = self.value(op, op.inputs[0])
        sx, zx = self.quant(op, op.inputs[0], "the input")
        sy, zy = self.quant(op, op.outputs[0], "the output")
        if len(sx) != 1 or len(sy) != 1:
            raise self.error(op, "a per-channel requantisation is not supported")
        table = requantize_table((float(sx[0]), zx), (float(sy[0]), zy))
        if table is None:
            raise self.error(op, f"an effective scale of {float(sx[0] / sy[0]):.3g} shifts the "
                                 f"input out of int32")
        self.values[op.outputs[0]] = self.g.table(x, table, name=self.name(op.outputs[0]))
        self.check_shape(op)

    def dequantize(self, op: TfliteOp) -> None:
        raise self.error(op, "the core computes int8: only a model output may be dequantised "
                             "(by the host)")

    def check_shape(self, op: TfliteOp) -> None:
        got = tuple(self.values[op.outputs[0]].type.shape)
        want = graph_shape(self.t(op.outputs[0]).shape)
        if got != want:
            raise self.error(op, f"computes shape {list(got)}, but the model says "
                                 f"{list(want)}")


_HANDLERS = {
    "CONV_2D": _Lowering.conv2d,
    "DEPTHWISE_CONV_2D": _Lowering.depthwise,
    "FULLY_CONNECTED": _Lowering.fully_connected,
    "ADD": _Lowering.add,
    "MUL": _Lowering.mul,
    "AVERAGE_POOL_2D": _Lowering.average_pool,
    "MAX_POOL_2D": _Lowering.max_pool,
    "RESHAPE": _Lowering.reshape,
    "LEAKY_RELU": _Lowering.leaky_relu,
    "LOGISTIC": _Lowering.logistic,
    "TANH": _Lowering.tanh,
    "QUANTIZE": _Lowering.quantize,
    "DEQUANTIZE": _Lowering.dequantize,
}

#: Required input tensors of each operator.
_ARITY = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "ADD": 2, "MUL": 2,
          "AVERAGE_POOL_2D": 1, "MAX_POOL_2D": 1, "RESHAPE": 1, "LEAKY_RELU": 1,
          "LOGISTIC": 1, "TANH": 1, "QUANTIZE": 1, "DEQUANTIZE": 1}

#: Operators that may come without an options table (LOGISTIC, TANH and the (de)quantisations
#: have none).
_OPTIONAL_OPTIONS = ("RESHAPE", "LOGISTIC", "TANH", "QUANTIZE", "DEQUANTIZE")

#: The TFLite operators the import lowers to the core.
SUPPORTED_OPS = tuple(_HANDLERS)


def _padding(kind: int, size: tuple[int, int], kernel: tuple[int, int],
             stride) -> tuple[int, int, int, int]:
    """TFLite's padding (0 SAME, 1 VALID) as (top, left, bottom, right)."""
    if kind == 1:
        return (0, 0, 0, 0)
    strides = (stride, stride) if isinstance(stride, int) else stride
    before, after = [], []
    for n, k, s in zip(size, kernel, strides):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before[0], before[1], after[0], after[1]




def lower_tflite(model: TfliteModel, name: str) -> Graph:
    """The graph of a loaded model whose every op is supported."""
    return _Lowering(model, name).run()
