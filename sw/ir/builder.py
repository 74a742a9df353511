"""The graph level's builder: a model as tensor ops, from Python (docs/compiler.md).

>>> g = Graph("mlp")
>>> x = g.input("x", (4, 8))
>>> h = g.linear(x, w1, b1, mul=m1, shift=s1, zp=0, relu=True)     # doctest: +SKIP
>>> g.output("h", h)                                              # doctest: +SKIP

A :class:`Graph` *is* a :class:`~conveyor.sw.ir.Module` of level ``"graph"``: print it, run
passes on it, lower it, evaluate it with :func:`conveyor.sw.ir.reference.evaluate`. Each builder
method adds one op (and ``graph.const`` ops for array arguments) and verifies it at once, so a
shape or range mistake raises :class:`~conveyor.sw.ir.IRError` naming the op and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from . import IRError, Module, Op, TensorType, Value
from .graph import (
    MUL_MAX,
    SHIFT_MAX,
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
)

__all__ = ["Graph", "inputs_of", "outputs_of", "quantize_multiplier"]

#: Fraction bits of requant's multiplier (Q0.31): MUL_MAX + 1 = 2^_FRACTION.
_FRACTION = MUL_MAX.bit_length()

#: An operand: a value of this graph, or an array that becomes a ``graph.const``.
Operand = Value | np.ndarray | Sequence[int]

_BAD_NAME_CHARS = re.compile(r"[^\w.$-]")


class Graph(Module):
    """A graph-level module with one builder method per op. Methods return the op's result
    :class:`~conveyor.sw.ir.Value`; ``name=`` picks the value's name (default: the op's kind
    and a counter, ``%linear0``), which must be new in the graph."""

    def __init__(self, name: str = "graph"):
        if not isinstance(name, str) or not name:
            raise IRError(f"a graph needs a non-empty name, not {name!r}")
        super().__init__(name, "graph")
        self._names: set[str] = set()
        self._counts: dict[str, int] = {}
        self._values: set[Value] = set()

    # -- plumbing ----------------------------------------------------------------------------

    def _new_name(self, base: str, name: str | None) -> str:
        if name is not None:
            if not isinstance(name, str) or not name or _BAD_NAME_CHARS.search(name):
                raise IRError(f"value name {name!r} must be letters, digits and _ . $ -")
            if name in self._names:
                raise IRError(f"value name {name!r} is already used in graph {self.name!r}")
            self._names.add(name)
            return name
        n = self._counts.get(base, 0)
        while f"{base}{n}" in self._names:
            n += 1
        self._counts[base] = n + 1
        self._names.add(f"{base}{n}")
        return f"{base}{n}"

    def _add(self, cls: type[Op], operands: Sequence[Value], attrs: dict, name: str | None,
             base: str) -> Value:
        names = [self._new_name(base, name)] if cls.RESULTS else []
        try:
            op = cls.build(operands, attrs, names)
        except IRError:
            self._names.difference_update(names)
            raise
        self.ops.append(op)
        self._values.update(op.results)
        return op.results[0] if op.results else None

    def _value(self, v: Operand, what: str, dtype: str, base: str) -> Value:
        """``v`` if it is a value of this graph, else a new const of ``dtype`` holding it."""
        if isinstance(v, Value):
            if v not in self._values:
                raise IRError(f"{what} %{v.name} is not a value of graph {self.name!r}")
            return v
        return self.const(_int_array(v, dtype, what), _base=base)

    def const(self, value: np.ndarray, name: str | None = None, *,
              _base: str = "const") -> Value:
        """A ``graph.const``: an int8 or int32 array (weights, bias)."""
        if not isinstance(value, np.ndarray) or value.dtype not in (np.int8, np.int32):
            raise IRError("graph.const: the value must be an int8 or int32 numpy array, not "
                          + (f"{value.dtype}" if isinstance(value, np.ndarray)
                             else type(value).__name__))
        array = np.array(value, copy=True)
        array.flags.writeable = False
        return self._add(ConstOp, [], {"value": array}, name, _base)

    # -- ops ---------------------------------------------------------------------------------

    def input(self, name: str, shape: Sequence[int]) -> Value:
        """A runtime int8 input called ``name`` (also the value's name, when it is a valid
        one)."""
        if not isinstance(name, str) or not name:
            raise IRError(f"graph.input: the name must be a non-empty string, not {name!r}")
        shape = _shape(shape, f"graph.input {name!r}")
        if name in inputs_of(self):
            raise IRError(f"graph.input {name!r}: there is already an input named {name!r}")
        value_name = _BAD_NAME_CHARS.sub("_", name)
        if value_name in self._names:
            value_name = self._new_name(value_name + "_", None)
        else:
            self._names.add(value_name)
        op = InputOp.build([], {"name": name}, [value_name], [TensorType(shape, "i8")])
        self.ops.append(op)
        self._values.add(op.result)
        return op.result

    def matmul(self, x: Operand, w: Operand, *, name: str | None = None) -> Value:
        """``x @ w`` -> int32 (M, N): x (M, K) int8, w (K, N) int8."""
        x = self._value(x, "graph.matmul: x", "i8", "x")
        w = self._value(w, "graph.matmul: w", "i8", "w")
        return self._add(MatmulOp, [x, w], {}, name, "matmul")

    def linear(self, x: Operand, w: Operand, b: Operand | None, mul: int | Sequence[int],
               shift: int | Sequence[int], zp: int = 0, relu: bool = False, *,
               rounding: str = "double", name: str | None = None) -> Value:
        """``requant(x @ w + b, mul, shift, zp)`` (then ``max(., zp)`` if relu) -> int8 (M, N).
        ``b`` None means a zero bias; ``rounding="single"`` rounds the product once."""
        w = self._value(w, "graph.linear: w", "i8", "w")
        if b is None:
            n = w.type.shape[-1] if w.type.shape else 1
            b = np.zeros(n, dtype=np.int32)
        x = self._value(x, "graph.linear: x", "i8", "x")
        b = self._value(b, "graph.linear: b", "i32", "b")
        attrs = {**_requant_attrs("graph.linear", mul, shift, zp, relu), "rounding": rounding}
        return self._add(LinearOp, [x, w, b], attrs, name, "linear")

    def add(self, a: Operand, b: Operand, mul: int | Sequence[int], shift: int, zp: int = 0,
            relu: bool = False, *, name: str | None = None) -> Value:
        """``requant(int32(a) + int32(b), mul, shift, zp)`` (+ relu) -> int8."""
        a = self._value(a, "graph.add: a", "i8", "a")
        b = self._value(b, "graph.add: b", "i8", "b")
        return self._add(AddOp, [a, b], _requant_attrs("graph.add", mul, shift, zp, relu),
                         name, "add")

    def relu(self, x: Operand, zp: int = 0, *, name: str | None = None) -> Value:
        """``max(x, zp)``."""
        x = self._value(x, "graph.relu: x", "i8", "x")
        return self._add(ReluOp, [x], {"zp": _int(zp, "graph.relu: zp")}, name, "relu")

    def leaky_relu(self, x: Operand, *, x_zp: int, mul: int, shift: int, alpha_mul: int,
                   alpha_shift: int, zp: int, rounding: str = "double",
                   name: str | None = None) -> Value:
        """TFLite's int8 LEAKY_RELU (``graph.leaky_relu``): each side of zero rescaled by its
        own multiplier; ``shift``s are TFLite exponents (positive: left)."""
        x = self._value(x, "graph.leaky_relu: x", "i8", "x")
        attrs = {k: _int(v, f"graph.leaky_relu: {k}") for k, v in (
            ("x_zp", x_zp), ("mul", mul), ("shift", shift), ("alpha_mul", alpha_mul),
            ("alpha_shift", alpha_shift), ("zp", zp))}
        return self._add(LeakyReluOp, [x], {**attrs, "rounding": rounding}, name, "leaky")

    def qmul(self, a: Operand, b: Operand, *, a_zp: int, b_zp: int, mul: int, shift: int,
             zp: int, relu: bool = False, rounding: str = "double",
             name: str | None = None) -> Value:
        """TFLite's int8 MUL (``graph.qmul``): ``requant((a - a_zp) * (b - b_zp), ...)``."""
        a = self._value(a, "graph.qmul: a", "i8", "a")
        b = self._value(b, "graph.qmul: b", "i8", "b")
        attrs = {"a_zp": _int(a_zp, "graph.qmul: a_zp"), "b_zp": _int(b_zp, "graph.qmul: b_zp"),
                 **_requant_attrs("graph.qmul", mul, shift, zp, relu), "rounding": rounding}
        return self._add(QMulOp, [a, b], attrs, name, "qmul")

    def table(self, x: Operand, table, *, name: str | None = None) -> Value:
        """``table[x + 128]`` element by element (``graph.table``): 256 int8 values."""
        x = self._value(x, "graph.table: x", "i8", "x")
        return self._add(TableOp, [x], {"table": np.asarray(table, np.int8)}, name, "table")

    def conv2d(self, x: Operand, w: Operand, b: Operand | None, stride: int = 1,
               pad: int | Sequence[int] = 0,
               mul: int | Sequence[int] | None = None,
               shift: int | Sequence[int] | None = None, zp: int = 0, relu: bool = False, *,
               pad_value: int = 0, rounding: str = "double", name: str | None = None) -> Value:
        """Channels-last convolution: x (H, W, C), w (R, S, C, K), b (K,) -> int8 (OH, OW, K),
        ``pad`` words of ``pad_value`` on every side (or [top, left, bottom, right]),
        requantised like :meth:`linear` (``rounding`` too). ``mul`` and ``shift`` are
        required."""
        if mul is None or shift is None:
            raise IRError("graph.conv2d: mul and shift are required")
        w = self._value(w, "graph.conv2d: w", "i8", "w")
        if b is None:
            b = np.zeros(w.type.shape[-1] if w.type.shape else 1, dtype=np.int32)
        x = self._value(x, "graph.conv2d: x", "i8", "x")
        b = self._value(b, "graph.conv2d: b", "i32", "b")
        attrs = {"stride": _int(stride, "graph.conv2d: stride"),
                 "pad": _pad(pad, "graph.conv2d: pad"),
                 "pad_value": _int(pad_value, "graph.conv2d: pad_value"),
                 **_requant_attrs("graph.conv2d", mul, shift, zp, relu), "rounding": rounding}
        return self._add(Conv2dOp, [x, w, b], attrs, name, "conv")

    def depthwise_conv2d(self, x: Operand, w: Operand, b: Operand | None, stride: int = 1,
                         pad: int | Sequence[int] = 0, *, mul: int | Sequence[int],
                         shift: int | Sequence[int], zp: int = 0, relu: bool = False,
                         pad_value: int = 0, rounding: str = "double",
                         name: str | None = None) -> Value:
        """Depthwise convolution: x (H, W, C), w (R, S, C), b (C,) -> int8 (OH, OW, C),
        padded and requantised like :meth:`conv2d`."""
        w = self._value(w, "graph.depthwise_conv2d: w", "i8", "w")
        if b is None:
            b = np.zeros(w.type.shape[-1] if w.type.shape else 1, dtype=np.int32)
        x = self._value(x, "graph.depthwise_conv2d: x", "i8", "x")
        b = self._value(b, "graph.depthwise_conv2d: b", "i32", "b")
        op = "graph.depthwise_conv2d"
        attrs = {"stride": _int(stride, f"{op}: stride"),
                 "pad": _pad(pad, f"{op}: pad"),
                 "pad_value": _int(pad_value, f"{op}: pad_value"),
                 **_requant_attrs(op, mul, shift, zp, relu), "rounding": rounding}
        return self._add(DepthwiseConv2dOp, [x, w, b], attrs, name, "dwconv")

    def qadd(self, a: Operand, b: Operand, *, a_zp: int, a_mul: int, a_shift: int, b_zp: int,
             b_mul: int, b_shift: int, left_shift: int, mul: int, shift: int, zp: int,
             relu: bool = False, name: str | None = None) -> Value:
        """TFLite's int8 ADD (``graph.qadd``): each input rescaled, summed, requantised."""
        a = self._value(a, "graph.qadd: a", "i8", "a")
        b = self._value(b, "graph.qadd: b", "i8", "b")
        attrs = {k: _int(v, f"graph.qadd: {k}") for k, v in (
            ("a_zp", a_zp), ("a_mul", a_mul), ("a_shift", a_shift), ("b_zp", b_zp),
            ("b_mul", b_mul), ("b_shift", b_shift), ("left_shift", left_shift))}
        attrs.update(_requant_attrs("graph.qadd", mul, shift, zp, relu))
        return self._add(QAddOp, [a, b], attrs, name, "qadd")

    def avgpool(self, x: Operand, window: Sequence[int], stride: Sequence[int] | None = None,
                *, name: str | None = None) -> Value:
        """TFLite's int8 average pool without padding: (H, W, C) -> (OH, OW, C); ``stride``
        defaults to the window."""
        x = self._value(x, "graph.avgpool: x", "i8", "x")
        window = [_int(v, "graph.avgpool: window") for v in window]
        stride = window if stride is None else [_int(v, "graph.avgpool: stride")
                                                for v in stride]
        return self._add(AvgPoolOp, [x], {"window": window, "stride": stride}, name, "pool")

    def maxpool2x2(self, x: Operand, *, name: str | None = None) -> Value:
        """Max over 2x2 windows, stride 2: (H, W, C) -> (H/2, W/2, C)."""
        x = self._value(x, "graph.maxpool2x2: x", "i8", "x")
        return self._add(MaxPool2x2Op, [x], {}, name, "pool")

    def maxpool(self, x: Operand, window: Sequence[int], stride: Sequence[int] | None = None,
                pad: Sequence[int] = (0, 0, 0, 0), *, name: str | None = None) -> Value:
        """TFLite's max pool: (H, W, C) -> (OH, OW, C); ``stride`` defaults to the window,
        ``pad`` is [top, left, bottom, right] (positions outside x are left out)."""
        x = self._value(x, "graph.maxpool: x", "i8", "x")
        window = [_int(v, "graph.maxpool: window") for v in window]
        stride = window if stride is None else [_int(v, "graph.maxpool: stride") for v in stride]
        pad = [_int(v, "graph.maxpool: pad") for v in pad]
        return self._add(MaxPoolOp, [x], {"window": window, "stride": stride, "pad": pad}, name,
                         "pool")

    def reshape(self, x: Operand, shape: Sequence[int], *, name: str | None = None) -> Value:
        """The same elements, row-major, in ``shape`` (one dimension may be -1: inferred)."""
        x = self._value(x, "graph.reshape: x", "i8", "x")
        shape = list(_shape(shape, "graph.reshape", allow_infer=True))
        if shape.count(-1) == 1:
            rest = math.prod(d for d in shape if d != -1)
            size = x.type.size
            if rest == 0 or size % rest:
                raise IRError(f"graph.reshape: cannot reshape %{x.name} ({x.type}) to {shape}")
            shape[shape.index(-1)] = size // rest
        return self._add(ReshapeOp, [x], {"shape": shape}, name, "reshape")

    def flatten(self, x: Operand, *, name: str | None = None) -> Value:
        """``reshape(x, (1, x.size))``: a row, ready for :meth:`linear`."""
        x = self._value(x, "graph.flatten: x", "i8", "x")
        return self.reshape(x, (1, x.type.size), name=name)

    def output(self, name: str, value: Value) -> None:
        """Make ``value`` a result that the host reads back as ``name``."""
        if not isinstance(name, str) or not name:
            raise IRError(f"graph.output: the name must be a non-empty string, not {name!r}")
        if not isinstance(value, Value):
            raise IRError(f"graph.output {name!r}: the value must be a value of the graph, "
                          f"not {type(value).__name__}")
        value = self._value(value, f"graph.output {name!r}: value", "i8", "out")
        if any(isinstance(op, OutputOp) and op.attrs["name"] == name for op in self.ops):
            raise IRError(f"graph.output {name!r}: there is already an output named {name!r}")
        self._add(OutputOp, [value], {"name": name}, None, "out")

    @property
    def inputs(self) -> dict[str, Value]:
        return inputs_of(self)

    @property
    def outputs(self) -> dict[str, Value]:
        return outputs_of(self)


def inputs_of(module: Module) -> dict[str, Value]:
    """Input name -> its value (type: ``value.type``), in program order."""
    return {op.attrs["name"]: op.results[0] for op in module.ops if isinstance(op, InputOp)}


def outputs_of(module: Module) -> dict[str, Value]:
    """Output name -> the value it reads back, in program order."""
    return {op.attrs["name"]: op.operands[0] for op in module.ops if isinstance(op, OutputOp)}


# --- argument checks ------------------------------------------------------------------------

def _int(v: object, what: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise IRError(f"{what} must be an integer, not {v!r}")
    return int(v)


def _shape(shape: object, what: str, allow_infer: bool = False) -> tuple[int, ...]:
    try:
        dims = tuple(_int(d, what) for d in shape)
    except TypeError:
        raise IRError(f"{what}: the shape must be a sequence of integers, not {shape!r}") \
            from None
    low = -1 if allow_infer else 1
    if not dims or any(d < low or d == 0 for d in dims) or dims.count(-1) > 1:
        raise IRError(f"{what}: bad shape {dims}: dimensions must be positive")
    return dims


def _int_array(v: object, dtype: str, what: str) -> np.ndarray:
    """``v`` as an int8 or int32 array; IRError if it is not integers in that range."""
    target = np.dtype(np.int8 if dtype == "i8" else np.int32)
    array = np.asarray(v)
    if array.dtype == target:
        return array
    if array.dtype.kind not in "iu":
        raise IRError(f"{what} must be an integer array ({target}), not {array.dtype}")
    info = np.iinfo(target)
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise IRError(f"{what} has values outside {target} ({info.min}..{info.max})")
    return array.astype(target)


def _pad(pad: object, what: str) -> int | list[int]:
    """A convolution's pad: one int, or [top, left, bottom, right]."""
    return [_int(v, what) for v in pad] if isinstance(pad, (list, tuple)) else _int(pad, what)


def _per_channel(op: str, name: str, value: object) -> int | list[int]:
    """One int, or a 1-D sequence of ints (one per output channel)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    try:
        values = [_int(m, f"{op}: {name}") for m in np.asarray(value).reshape(-1).tolist()]
    except TypeError:
        raise IRError(f"{op}: {name} must be an int or one int per output channel, "
                      f"not {value!r}") from None
    if isinstance(value, np.ndarray) and value.ndim > 1:
        raise IRError(f"{op}: per-channel {name} must be one-dimensional, not {value.shape}")
    return values


def _requant_attrs(op: str, mul: object, shift: object, zp: object, relu: object) -> dict:
    if not isinstance(relu, (bool, np.bool_)):
        raise IRError(f"{op}: relu must be True or False, not {relu!r}")
    return {"mul": _per_channel(op, "mul", mul), "shift": _per_channel(op, "shift", shift),
            "zp": _int(zp, f"{op}: zp"), "relu": bool(relu)}


# --- choosing mul and shift -----------------------------------------------------------------

def quantize_multiplier(scale: float | np.ndarray | Sequence[float]
                        ) -> tuple[int | list[int], int]:
    """(mul, shift) with ``mul / 2^(31 + shift) ~= scale``, the real factor that the VXM's
    ``requant`` applies (SRDHM divides by 2^31, then a rounding right shift by ``shift``).

    ``scale`` is one float, or an array of per-channel scales; then mul is a list (one per
    channel) and shift is common to all, as ``requant`` has one shift per layer. Scales must
    be in [0, 1): requant cannot multiply up.

    Precision: the shift is chosen for the *largest* scale, putting its mul in [2^30, 2^31)
    (31 significant bits), or 31 if that would need a larger shift. A channel whose scale is
    2^k times smaller keeps only about 31 - k significant bits of mul (TFLite's per-channel
    shifts keep 31 bits each); a relative error of 2^-(30-k) is invisible in int8 results
    until k approaches 20. Scales below ~2^-62 round to mul = 0 (the output is then zp).
    """
    s = np.asarray(scale, dtype=np.float64)
    if s.ndim > 1:
        raise IRError(f"quantize_multiplier: scales must be one number or a 1-D array, not "
                      f"shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s < 0) or np.any(s >= 1):
        bad = s[~(np.isfinite(s) & (s >= 0) & (s < 1))].reshape(-1)[0]
        raise IRError(f"quantize_multiplier: scale {float(bad)!r} is outside [0, 1)")
    top = float(s.max()) if s.size else 0.0
    if top == 0:
        shift = 0
    else:
        # The largest shift that keeps round(top * 2^(31+shift)) below 2^31.
        _, exponent = math.frexp(top)      # top = f * 2^exponent, f in [0.5, 1), exponent <= 0
        shift = min(-exponent, SHIFT_MAX)
        while shift > 0 and round(top * 2.0 ** (_FRACTION + shift)) > MUL_MAX:
            shift -= 1
    muls = [min(round(float(v) * 2.0 ** (_FRACTION + shift)), MUL_MAX) for v in s.reshape(-1)]
    if s.ndim == 0:
        return muls[0], shift
    return muls, shift
