"""The graph dialect: tensor ops on int8/int32 tensors (docs/compiler.md, "The graph level").

One class per op. Each infers its result type from its operands and attributes
(:meth:`infer_types`) and its verifier checks that the result has that type, so a builder and
the parser share one set of shape rules. Requantising ops (``linear``, ``conv2d``, ``add``) carry
``mul`` and ``shift`` (each one int, or one per output channel: the last dimension), ``zp``
and ``relu``, with the ranges of the VXM's ``requant`` instruction. ``qadd`` and ``avgpool``
are TFLite's int8 ADD and AVERAGE_POOL_2D, with their own rescaling rules.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ...hw.machine.isa import value_range
from .core import AttrKinds, IRError, Module, Op, TensorType, module_verifier

__all__ = [
    "AddOp",
    "AvgPoolOp",
    "ConstOp",
    "Conv2dOp",
    "DepthwiseConv2dOp",
    "GraphOp",
    "InputOp",
    "LeakyReluOp",
    "LinearOp",
    "MatmulOp",
    "MaxPool2x2Op",
    "MaxPoolOp",
    "OutputOp",
    "QAddOp",
    "QMulOp",
    "ReluOp",
    "ReshapeOp",
    "TableOp",
    "conv2d_output_hw",
    "pads",
]

#: The requant parameters a graph op may carry: what the VXM's requant fields hold.
MUL_MAX = value_range("mult")[1]
SHIFT_MAX = value_range("shift")[1]
ZP_MIN, ZP_MAX = value_range("zp")

_REQUANT_ATTRS: AttrKinds = {"mul": (int, "ints"), "shift": (int, "ints"), "zp": int,
                             "relu": bool}


class GraphOp(Op):
    """Shared checks of the graph ops. ``REQUANT`` ops carry mul/shift/zp/relu; graph ops are
    ``PURE`` (removable when unused) except input and output."""

    PURE = True
    REQUANT: ClassVar[bool] = False

    def tensor(self, slot: str, dtypes: tuple[str, ...] = ("i8",),
               rank: int | None = None) -> TensorType:
        """The type of operand ``slot``, checked to be a tensor of ``dtypes`` and ``rank``."""
        v = getattr(self, slot)
        t = v.type
        what = f"{slot} %{v.name}"
        if not isinstance(t, TensorType):
            raise self.error(f"{what} must be a tensor, not {t}")
        if t.dtype not in dtypes:
            raise self.error(f"{what} must be {' or '.join(dtypes)}, not {t}")
        if rank is not None and t.rank != rank:
            raise self.error(f"{what} must have rank {rank}, not {t}")
        return t

    def image(self, slot: str = "x") -> tuple[tuple[int, ...], int, int, int]:
        """An operand that is an (H, W, C) map or a batch of them (N, H, W, C): (the batch
        shape, () or (N,); H; W; C)."""
        t = self.tensor(slot)
        if t.rank not in (3, 4):
            raise self.error(f"{slot} %{getattr(self, slot).name} must be an (H, W, C) map or "
                             f"(N, H, W, C) maps, not {t}")
        *batch, h, w, c = t.shape
        return tuple(batch), h, w, c

    def verify_(self) -> None:
        inferred = self.infer_types()
        actual = [r.type for r in self.results]
        if actual != inferred:
            raise self.error("result type is " + ", ".join(map(str, actual))
                             + " but the operands give " + ", ".join(map(str, inferred)))
        if self.REQUANT:
            shape = self.results[0].type.shape
            self.check_requant(shape[-1] if shape else 1)

    def check_requant(self, channels: int) -> None:
        for m in self.per_channel("mul", channels):
            if not 0 <= m <= MUL_MAX:
                raise self.error(f"mul {m} is out of range 0..2^{MUL_MAX.bit_length()}-1")
        for s in self.per_channel("shift", channels):
            if not 0 <= s <= SHIFT_MAX:
                raise self.error(f"shift {s} is out of range 0..{SHIFT_MAX}")
        self.check_zp()

    def per_channel(self, name: str, channels: int) -> list[int]:
        """The values of attribute ``name``: one int, or one per channel (checked)."""
        value = self.attrs[name]
        if not isinstance(value, list):
            return [value]
        if len(value) != channels:
            raise self.error(f"{name} has {len(value)} per-channel values but the result has "
                             f"{channels} channels")
        return value

    def check_zp(self, name: str = "zp") -> None:
        if not ZP_MIN <= self.attrs[name] <= ZP_MAX:
            raise self.error(f"{name} {self.attrs[name]} is out of range {ZP_MIN}..{ZP_MAX}")

    def check_rounding(self) -> None:
        """``rounding`` is "double" (requant) or "single" (requant.s, whose shift is one for the
        layer: per-channel shifts need requant's two steps)."""
        rounding = self.attrs["rounding"]
        if rounding not in ("double", "single"):
            raise self.error(f"rounding must be \"double\" or \"single\", not {rounding!r}")
        if rounding == "single" and isinstance(self.attrs["shift"], list) \
                and len(set(self.attrs["shift"])) > 1:
            raise self.error("single rounding takes one shift for the layer")


class InputOp(GraphOp):
    """A runtime input, int8, read by name from the inputs the host provides."""

    NAME = "graph.input"
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"name": str}
    PURE = False

    def infer_types(self):
        t = self.results[0].type
        if not isinstance(t, TensorType) or t.dtype != "i8":
            raise self.error(f"an input must be an i8 tensor, not {t}")
        return [t]

    def verify_(self) -> None:
        super().verify_()
        if not self.attrs["name"]:
            raise self.error("an input needs a non-empty name")


class ConstOp(GraphOp):
    """A constant tensor (weights, bias): the ``value`` array, i8 or i32."""

    NAME = "graph.const"
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"value": np.ndarray}

    def infer_types(self):
        value = self.attrs["value"]
        if value.dtype not in (np.int8, np.int32):
            raise self.error(f"a constant must be int8 or int32, not {value.dtype}")
        if value.ndim == 0:
            raise self.error("a constant must have at least one dimension")
        return [TensorType.of(value)]


class MatmulOp(GraphOp):
    """``x @ w``: x (M, K) i8, w (K, N) i8 -> (M, N) i32, int32 sums (wrapping)."""

    NAME = "graph.matmul"
    OPERANDS = ("x", "w")
    RESULTS = ("result",)

    def infer_types(self):
        x, w = self.tensor("x", rank=2), self.tensor("w", rank=2)
        if x.shape[1] != w.shape[0]:
            raise self.error(f"x %{self.x.name} has K={x.shape[1]} columns but w "
                             f"%{self.w.name} has {w.shape[0]} rows")
        return [TensorType((x.shape[0], w.shape[1]), "i32")]


class LinearOp(GraphOp):
    """``requant(x @ w + b, mul, shift, zp)``, then ``max(., zp)`` if relu: x (M, K) i8,
    w (K, N) i8, b (N,) i32 -> (M, N) i8. ``rounding`` is ``"double"`` (gemmlowp: requant)
    or ``"single"`` (the product rounded once: requant.s, LiteRT's FULLY_CONNECTED and
    onnxruntime; one shift for the layer, and one mul or one per channel)."""

    NAME = "graph.linear"
    OPERANDS = ("x", "w", "b")
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {**_REQUANT_ATTRS, "rounding": str}
    REQUANT = True

    def verify_(self) -> None:
        super().verify_()
        self.check_rounding()

    def infer_types(self):
        x, w = self.tensor("x", rank=2), self.tensor("w", rank=2)
        b = self.tensor("b", ("i32",), rank=1)
        if x.shape[1] != w.shape[0]:
            raise self.error(f"x %{self.x.name} has K={x.shape[1]} columns but w "
                             f"%{self.w.name} has {w.shape[0]} rows")
        if b.shape[0] != w.shape[1]:
            raise self.error(f"b %{self.b.name} has {b.shape[0]} values but w %{self.w.name} "
                             f"has N={w.shape[1]} columns")
        return [TensorType((x.shape[0], w.shape[1]), "i8")]


class AddOp(GraphOp):
    """``requant(int32(a) + int32(b), mul, shift, zp)`` (+ relu): a and b of one shape, each i8
    or i32 -> i8."""

    NAME = "graph.add"
    OPERANDS = ("a", "b")
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = _REQUANT_ATTRS
    REQUANT = True

    def infer_types(self):
        a, b = self.tensor("a", ("i8", "i32")), self.tensor("b", ("i8", "i32"))
        if a.shape != b.shape:
            raise self.error(f"a %{self.a.name} is {a} but b %{self.b.name} is {b}: "
                             f"the shapes must be equal")
        return [TensorType(a.shape, "i8")]


class _Int8Pair(GraphOp):
    """Two int8 tensors of one shape -> an int8 tensor of it."""

    def infer_types(self):
        a, b = self.tensor("a"), self.tensor("b")
        if a.shape != b.shape:
            raise self.error(f"a %{self.a.name} is {a} but b %{self.b.name} is {b}: "
                             f"the shapes must be equal")
        return [TensorType(a.shape, "i8")]


class QAddOp(_Int8Pair):
    """TFLite's int8 ADD: each input offset by its zero point, shifted left by ``left_shift``
    and rescaled (``rescale(v, mul, shift) = RDBPOT(SRDHM(v, mul), shift)``), the two summed and
    requantised: ``requant(rescale((a - a_zp) << left_shift, a_mul, a_shift) + rescale(...b...),
    mul, shift, zp)`` (+ relu). a and b i8 of one shape -> i8."""

    NAME = "graph.qadd"
    OPERANDS = ("a", "b")
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"a_zp": int, "a_mul": int, "a_shift": int, "b_zp": int,
                                  "b_mul": int, "b_shift": int, "left_shift": int,
                                  **_REQUANT_ATTRS}
    REQUANT = True

    def verify_(self) -> None:
        super().verify_()
        for side in "ab":
            self.check_zp(f"{side}_zp")
            if not 0 <= self.attrs[f"{side}_mul"] <= MUL_MAX:
                raise self.error(f"{side}_mul {self.attrs[f'{side}_mul']} is out of range")
            if not 0 <= self.attrs[f"{side}_shift"] <= SHIFT_MAX:
                raise self.error(f"{side}_shift {self.attrs[f'{side}_shift']} is out of range "
                                 f"0..{SHIFT_MAX}")
        if not 0 <= self.attrs["left_shift"] <= 23:
            # (a - a_zp) is 9 bits: a larger shift would overflow int32
            raise self.error(f"left_shift {self.attrs['left_shift']} is out of range 0..23")


#: The largest left shift of a 9-bit difference (x - zp) that int32 holds.
LEFT_SHIFT_MAX = 22


class LeakyReluOp(GraphOp):
    """TFLite's int8 LEAKY_RELU: ``v = x - x_zp``, then ``zp + mbqm(v, mul, shift)`` where
    ``v >= 0`` and ``zp + mbqm(v, alpha_mul, alpha_shift)`` where it is not, saturated to int8.
    ``mbqm(v, m, e)`` is TFLite's MultiplyByQuantizedMultiplier: ``v`` shifted left by ``e``
    when ``e > 0``, then ``rescale(., m, -e)`` (``-e`` a right shift when ``e < 0``), rounded
    twice (``rounding="double"``) or once (``"single"``) as requant and requant.s are."""

    NAME = "graph.leaky_relu"
    OPERANDS = ("x",)
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"x_zp": int, "mul": int, "shift": int, "alpha_mul": int,
                                  "alpha_shift": int, "zp": int, "rounding": str}

    def infer_types(self):
        return [TensorType(self.tensor("x").shape, "i8")]

    def verify_(self) -> None:
        super().verify_()
        self.check_zp("x_zp")
        self.check_zp()
        for m, e in (("mul", "shift"), ("alpha_mul", "alpha_shift")):
            if not 0 <= self.attrs[m] <= MUL_MAX:
                raise self.error(f"{m} {self.attrs[m]} is out of range 0..{MUL_MAX}")
            if not -SHIFT_MAX <= self.attrs[e] <= LEFT_SHIFT_MAX:
                # x - x_zp is 9 bits: a larger left shift would overflow int32
                raise self.error(f"{e} {self.attrs[e]} is out of range "
                                 f"-{SHIFT_MAX}..{LEFT_SHIFT_MAX}")
        if self.attrs["rounding"] not in ("double", "single"):
            raise self.error(f"rounding must be \"double\" or \"single\", not "
                             f"{self.attrs['rounding']!r}")


class TableOp(GraphOp):
    """An int8 function of each element by table: ``table[x + 128]``, ``table`` 256 int8
    values (a sigmoid, a tanh, any activation, tabulated when the model is imported)."""

    NAME = "graph.table"
    OPERANDS = ("x",)
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"table": np.ndarray}

    def infer_types(self):
        return [TensorType(self.tensor("x").shape, "i8")]

    def verify_(self) -> None:
        super().verify_()
        t = self.attrs["table"]
        if t.dtype != np.int8 or t.shape != (256,):
            raise self.error(f"table must be 256 int8 values, not {t.dtype} {t.shape}")


class QMulOp(_Int8Pair):
    """TFLite's int8 MUL of two activations: ``requant((a - a_zp) * (b - b_zp), mul, shift,
    zp)`` (+ relu), rounded twice or once (``rounding``); a and b i8 of one shape -> i8."""

    NAME = "graph.qmul"
    OPERANDS = ("a", "b")
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"a_zp": int, "b_zp": int, **_REQUANT_ATTRS, "rounding": str}
    REQUANT = True

    def verify_(self) -> None:
        super().verify_()
        self.check_zp("a_zp")
        self.check_zp("b_zp")
        self.check_rounding()


class ReluOp(GraphOp):
    """``max(x, zp)``, of x's type."""

    NAME = "graph.relu"
    OPERANDS = ("x",)
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"zp": int}

    def infer_types(self):
        return [self.tensor("x", ("i8", "i32"))]

    def verify_(self) -> None:
        super().verify_()
        self.check_zp()


def conv2d_output_hw(h: int, w: int, r: int, s: int, stride: int,
                     pad: int | list[int]) -> tuple[int, int]:
    """(OH, OW) of a convolution: ``(H + top + bottom - R) // stride + 1``, likewise for W."""
    top, left, bottom, right = pads(pad)
    return (h + top + bottom - r) // stride + 1, (w + left + right - s) // stride + 1


def pads(pad: int | list[int]) -> tuple[int, int, int, int]:
    """A conv2d's ``pad``: one int for every side, or [top, left, bottom, right] (TFLite's
    SAME padding puts the odd one at the bottom and right)."""
    return (pad,) * 4 if isinstance(pad, int) else tuple(pad)


class Conv2dOp(GraphOp):
    """Channels-last convolution: x (H, W, C) i8, w (R, S, C, K) i8, b (K,) i32 -> (OH, OW, K)
    i8, requantised like linear (``rounding`` too). The padding holds ``pad_value`` (the input's zero point for a
    model with asymmetric activations, whose bias then carries ``-zp * sum(w)``)."""

    NAME = "graph.conv2d"
    OPERANDS = ("x", "w", "b")
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"stride": int, "pad": (int, "ints"), "pad_value": int,
                                  **_REQUANT_ATTRS, "rounding": str}
    REQUANT = True

    def verify_(self) -> None:
        super().verify_()
        self.check_zp("pad_value")
        self.check_rounding()

    def infer_types(self):
        batch, h, wd, c = self.image()
        w = self.tensor("w", rank=4)
        b = self.tensor("b", ("i32",), rank=1)
        stride, pad = self.attrs["stride"], self.attrs["pad"]
        if stride < 1:
            raise self.error(f"stride must be at least 1, not {stride}")
        if isinstance(pad, list) and len(pad) != 4:
            raise self.error(f"pad must be one int or [top, left, bottom, right], not {pad}")
        if min(pads(pad)) < 0:
            raise self.error(f"pad must be at least 0, not {pad}")
        r, s, wc, k = w.shape
        if wc != c:
            raise self.error(f"x %{self.x.name} has C={c} channels but w %{self.w.name} "
                             f"(R, S, C, K) has {wc}")
        if b.shape[0] != k:
            raise self.error(f"b %{self.b.name} has {b.shape[0]} values but w %{self.w.name} "
                             f"has K={k} output channels")
        oh, ow = conv2d_output_hw(h, wd, r, s, stride, pad)
        if oh < 1 or ow < 1:
            raise self.error(f"a {r}x{s} kernel does not fit x %{self.x.name} ({h}x{wd}) with "
                             f"pad {pad}")
        return [TensorType((*batch, oh, ow, k), "i8")]


class DepthwiseConv2dOp(GraphOp):
    """Depthwise convolution (one filter per channel, depth multiplier 1): x (H, W, C) i8,
    w (R, S, C) i8, b (C,) i32 -> (OH, OW, C) i8, padded and requantised like conv2d."""

    NAME = "graph.depthwise_conv2d"
    OPERANDS = ("x", "w", "b")
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = Conv2dOp.ATTRS
    REQUANT = True

    def verify_(self) -> None:
        super().verify_()
        self.check_zp("pad_value")
        self.check_rounding()

    def infer_types(self):
        batch, h, wd, c = self.image()
        w = self.tensor("w", rank=3)
        self.tensor("b", ("i32",), rank=1)
        r, s, wc = w.shape
        if wc != c or self.b.type.shape[0] != c:
            raise self.error(f"x %{self.x.name} has C={c} channels but w %{self.w.name} "
                             f"(R, S, C) has {wc} and b %{self.b.name} {self.b.type.shape[0]}")
        stride, pad = self.attrs["stride"], self.attrs["pad"]
        if stride < 1 or (isinstance(pad, list) and len(pad) != 4) or min(pads(pad)) < 0:
            raise self.error(f"stride {stride} or pad {pad} is invalid")
        oh, ow = conv2d_output_hw(h, wd, r, s, stride, pad)
        if oh < 1 or ow < 1:
            raise self.error(f"a {r}x{s} kernel does not fit x %{self.x.name} ({h}x{wd})")
        return [TensorType((*batch, oh, ow, c), "i8")]


class MaxPool2x2Op(GraphOp):
    """Max over 2x2 windows with stride 2: x (H, W, C) i8 -> (H/2, W/2, C); H and W even."""

    NAME = "graph.maxpool2x2"
    OPERANDS = ("x",)
    RESULTS = ("result",)

    def infer_types(self):
        batch, h, w, c = self.image()
        if h % 2 or w % 2:
            raise self.error(f"x %{self.x.name} is {h}x{w}: maxpool2x2 needs an even height "
                             f"and width")
        return [TensorType((*batch, h // 2, w // 2, c), "i8")]


class AvgPoolOp(GraphOp):
    """TFLite's int8 AVERAGE_POOL_2D without padding: the mean of each ``window`` (R, S) at
    steps ``stride`` (SY, SX), rounded half away from zero, of x (H, W, C) i8 ->
    (OH, OW, C) i8 (same scale and zero point)."""

    NAME = "graph.avgpool"
    OPERANDS = ("x",)
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"window": "ints", "stride": "ints"}

    def infer_types(self):
        batch, h, w, c = self.image()
        window, stride = self.attrs["window"], self.attrs["stride"]
        if len(window) != 2 or len(stride) != 2 or min(window + stride) < 1:
            raise self.error(f"window {window} and stride {stride} must be two positive ints")
        if window[0] > h or window[1] > w:
            raise self.error(f"a {window[0]}x{window[1]} window does not fit x %{self.x.name} "
                             f"({h}x{w})")
        oh, ow = (h - window[0]) // stride[0] + 1, (w - window[1]) // stride[1] + 1
        return [TensorType((*batch, oh, ow, c), "i8")]


class MaxPoolOp(GraphOp):
    """TFLite's MAX_POOL_2D: the max of each ``window`` (R, S) at steps ``stride`` (SY, SX),
    ``pad`` [top, left, bottom, right] positions outside x taking no part; x (H, W, C) i8 ->
    (OH, OW, C) i8 (``OH = (H + top + bottom - R) // SY + 1``)."""

    NAME = "graph.maxpool"
    OPERANDS = ("x",)
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"window": "ints", "stride": "ints", "pad": "ints"}

    def infer_types(self):
        batch, h, w, c = self.image()
        (r, s), (sy, sx), pad = self.attrs["window"], self.attrs["stride"], self.attrs["pad"]
        if len(pad) != 4 or min(pad) < 0 or min(r, s, sy, sx) < 1:
            raise self.error(f"window {[r, s]}, stride {[sy, sx]} and pad {pad} must be "
                             f"positive (pad non-negative, four values)")
        if max(pad[0], pad[2]) >= r or max(pad[1], pad[3]) >= s:
            raise self.error(f"pad {pad} leaves windows with no element of x")
        oh, ow = (h + pad[0] + pad[2] - r) // sy + 1, (w + pad[1] + pad[3] - s) // sx + 1
        if oh < 1 or ow < 1:
            raise self.error(f"a {r}x{s} window does not fit x %{self.x.name} ({h}x{w})")
        return [TensorType((*batch, oh, ow, c), "i8")]

    def windows(self) -> list[list[int]]:
        """For every output pixel (row-major, image by image), the input rows (pixels) of its
        window."""
        *batch, h, w, _ = self.x.type.shape
        oh, ow, _ = self.result.type.shape[-3:]
        (r, s), (sy, sx), (top, left, _, _) = (self.attrs["window"], self.attrs["stride"],
                                               self.attrs["pad"])
        return [[n * h * w + iy * w + ix for iy in range(oy * sy - top, oy * sy - top + r)
                 for ix in range(ox * sx - left, ox * sx - left + s)
                 if 0 <= iy < h and 0 <= ix < w]
                for n in range(int(np.prod(batch))) for oy in range(oh) for ox in range(ow)]


class ReshapeOp(GraphOp):
    """The same elements, row-major, in ``shape``."""

    NAME = "graph.reshape"
    OPERANDS = ("x",)
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"shape": "ints"}

    def infer_types(self):
        x = self.tensor("x", ("i8", "i32"))
        shape = self.attrs["shape"]
        if any(d < 1 for d in shape):
            raise self.error(f"shape {shape} has a dimension below 1")
        try:
            t = TensorType(shape, x.dtype)
        except IRError as e:
            raise self.error(e.message) from None
        if t.size != x.size:
            raise self.error(f"shape {shape} has {t.size} elements but x %{self.x.name} ({x}) "
                             f"has {x.size}")
        return [t]


class OutputOp(GraphOp):
    """A result the host reads back, under ``name``."""

    NAME = "graph.output"
    OPERANDS = ("value",)
    ATTRS: ClassVar[AttrKinds] = {"name": str}
    PURE = False

    def infer_types(self):
        self.tensor("value", ("i8", "i32"))
        return []

    def verify_(self) -> None:
        super().verify_()
        if not self.attrs["name"]:
            raise self.error("an output needs a non-empty name")


@module_verifier("graph")
def _unique_names(module: Module) -> None:
    """Input names are unique, and so are output names."""
    for kind in (InputOp, OutputOp):
        seen: set[str] = set()
        for op in module.ops:
            if isinstance(op, kind):
                if op.attrs["name"] in seen:
                    raise op.error(f"there is already an {kind.NAME.split('.')[1]} named "
                                   f"{op.attrs['name']!r}")
                seen.add(op.attrs["name"])
