"""TFLite's int8 SOFTMAX as LiteRT's reference kernel computes it, in exact integers.

The kernel is gemmlowp fixed point: input differences from the row's maximum are rescaled to
Q5.26 (``beta * scale`` as a multiplier and a left shift), ``exp`` of each comes from a
polynomial on [-1/4, 0) and a barrel of constant factors, the sum (Q12.19) is inverted by
Newton-Raphson, and each output is ``exp * (1 / sum)`` at the output's scale of 1/256 and zero
point -128. Every step here is the integer operation gemmlowp does (doubling high multiplies,
rounding shifts, saturating shifts), so the bytes are LiteRT's. It runs on the host, after the
core's last layer (a host step of the compiled model, :mod:`.host`): the core has no exp yet.
"""

from __future__ import annotations

import math

import numpy as np

from ...hw.machine.semantics import rounding_divide_by_pot, srdhm

__all__ = ["SoftmaxParams", "softmax_int8"]

_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_DIFF_BITS = 5     # kScaledDiffIntegerBits: differences as Q5.26
_ACCUM_BITS = 12   # kAccumulationIntegerBits: the sum of exps as Q12.19


def _wrap(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def _mul(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul (the VXM's mulq.i32)."""
    return int(srdhm(a, b))


def _rdbpot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT (the VXM's rshr.i32)."""
    return int(rounding_divide_by_pot(x, exponent))


def _sat_shl(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT for a positive exponent."""
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return _I32_MAX
    if x < -threshold:
        return _I32_MIN
    return x << exponent


def _exp_quarter(a: int) -> int:
    """exp on [-1/4, 0), Q0.31 in and out: the Taylor expansion around -1/8."""
    x = _wrap(a + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = _rdbpot(x4, 2)
    poly = _rdbpot(_wrap(_mul(_wrap(x4_over_4 + x3), 715827883) + x2), 1)
    constant = 1895147668
    return _wrap(constant + _mul(constant, _wrap(x + poly)))


#: exp(-2^k) for k = -2 .. 4 in Q0.31, gemmlowp's barrel shifter.
_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))


def _exp_negative(a: int) -> int:
    """exp_on_negative_values: Q5.26 (a <= 0) -> Q0.31."""
    fraction = 31 - _DIFF_BITS
    quarter = 1 << (fraction - 2)
    a_mod = _wrap((a & (quarter - 1)) - quarter)
    result = _exp_quarter(_sat_shl(a_mod, _DIFF_BITS))
    remainder = _wrap(a_mod - a)
    for exponent, multiplier in _BARREL:
        if _DIFF_BITS > exponent and remainder & (1 << (fraction + exponent)):
            result = _mul(result, multiplier)
    return _I32_MAX if a == 0 else result


def _reciprocal(x: int) -> tuple[int, int]:
    """GetReciprocal of a Q12.19 sum: (1 / (1 + f) in Q0.31, bits over one)."""
    headroom = 32 - x.bit_length() if x > 0 else 32  # leading zeros of a uint32
    over = _ACCUM_BITS - headroom
    a = _wrap(((x << headroom) & 0xFFFFFFFF) - (1 << 31))
    total = a + _I32_MAX
    half = (abs(total) + 1) // 2 * (1 if total >= 0 else -1)  # RoundingHalfSum: ties away
    r = _wrap(1515870810 + _mul(half, -1010580540))    # 48/17 - 32/17 d, Q2.29
    for _ in range(3):
        one_minus = _wrap((1 << 29) - _mul(half, r))
        r = _wrap(r + _sat_shl(_mul(r, one_minus), 2))
    return _sat_shl(r, 1), over


class SoftmaxParams:
    """The kernel's parameters for an input scale and ``beta`` (its Prepare step)."""

    def __init__(self, input_scale: float, beta: float):
        real = min(beta * input_scale * (1 << (31 - _DIFF_BITS)), (1 << 31) - 1.0)
        mantissa, exponent = math.frexp(real)
        q = math.floor(mantissa * (1 << 31) + 0.5)
        if q == 1 << 31:
            q, exponent = q // 2, exponent + 1
        if exponent < 0:
            raise ValueError(f"softmax: beta * scale = {beta * input_scale:.3g} is too small")
        self.multiplier, self.left_shift = q, exponent
        radius = ((1 << _DIFF_BITS) - 1) * (1 << (31 - _DIFF_BITS)) / (1 << exponent)
        self.diff_min = -math.floor(radius)


def softmax_int8(x: np.ndarray, params: SoftmaxParams) -> np.ndarray:
    """int8 logits (..., N) -> int8 probabilities (scale 1/256, zero point -128)."""
    rows = np.asarray(x, np.int8).reshape(-1, x.shape[-1])
    out = np.empty(rows.shape, np.int8)
    for i, row in enumerate(rows.tolist()):
        top = max(row)
        diffs = [v - top for v in row]
        exps = [_exp_negative(_mul(d * (1 << params.left_shift), params.multiplier))
                if d >= params.diff_min else None for d in diffs]
        total = 0
        for e in exps:
            if e is not None:
                total = _wrap(total + _rdbpot(e, _ACCUM_BITS))
        scale, over = _reciprocal(total)
        for j, e in enumerate(exps):
            if e is None:
                out[i, j] = -128
                continue
            value = _rdbpot(_mul(scale, e), over + 31 - 8) - 128
            out[i, j] = min(max(value, -128), 127)
    return out.reshape(x.shape)
