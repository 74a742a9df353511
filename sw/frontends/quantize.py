"""Post-training int8 quantisation: the arithmetic that turns float tensors into the integers
of a :class:`~conveyor.sw.ir.builder.Graph`.

The scheme (what :func:`conveyor.sw.frontends.onnx.import_onnx` applies to a float model):

- **Activations**: int8 per tensor, symmetric, zero point 0: ``q = clip(round(x / s), -128,
  127)`` with ``s = amax / 127``. ``amax`` is the largest ``|x|`` the tensor takes over the
  calibration inputs (max-abs), or with ``percentile=p`` the p-th percentile of ``|x|``. Max-abs
  is the default: the models this targets are small, calibration sets are a few hundred samples,
  it needs no tuning, and a percentile bought nothing on the digits models (held-out int8
  accuracy with max-abs / 99.9th / 99th percentile: MLP 97.50 / 97.22 / 97.22 %, CNN
  98.06 / 98.06 / 97.78 %; float 97.22 % and 97.78 %; see examples/digits/README.md).
- **Weights**: int8 per output channel, symmetric: ``s_w[n] = max|w[..., n]| / 127``, values in
  -127..127 (never -128, so that ``-w`` is representable).
- **Bias**: int32, ``round(b / (s_x * s_w[n]))``, the scale of the accumulator it is added to.
- **Requantisation**: the real multiplier ``s_x * s_w[n] / s_y`` per output channel becomes the
  ``mul``/``shift`` pair of the VXM's ``requant`` (TFLite ``MultiplyByQuantizedMultiplier``) via
  :func:`conveyor.sw.ir.builder.quantize_multiplier`; one ``shift`` per layer, ``mul`` per channel.
  ``requant`` cannot multiply up, so an output scale that would make a multiplier reach 1 is
  raised until it is below 1 (see :mod:`conveyor.sw.frontends.onnx.int8`).

Rounding is half to even (``np.rint``), as ONNX's QuantizeLinear rounds.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import LEFT_SHIFT_MAX, SHIFT_MAX

__all__ = [
    "BIAS_BITS",
    "INT8_QMAX",
    "activation_scale",
    "add_rescale",
    "bias_min_weight_scale",
    "calibration_amax",
    "dequantize",
    "function_table",
    "leaky_fit",
    "leaky_rescale",
    "quantize",
    "quantize_bias",
    "quantize_weights",
    "tflite_multiplier",
    "tflite_quantize",
]

#: The largest magnitude of a symmetric int8 value (weights use -127..127).
INT8_QMAX = 127


def quantize(x: np.ndarray, scale: float, zp: int = 0) -> np.ndarray:
    """float -> int8: ``clip(rint(x / scale) + zp, -128, 127)`` (ONNX QuantizeLinear)."""
    q = np.rint(np.asarray(x, np.float64) / scale) + zp
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float | np.ndarray, zp: int = 0) -> np.ndarray:
    """int -> float32: ``(q - zp) * scale`` (ONNX DequantizeLinear). The product of an int8
    difference and a float32 scale is exact in float64, so this is rounded once, to float32:
    also LiteRT's reference DEQUANTIZE, ``static_cast<float>(double(scale) * (q - zp))``."""
    return ((np.asarray(q, np.float64) - zp) * scale).astype(np.float32)


def tflite_quantize(x: np.ndarray, scale: float, zp: int = 0) -> np.ndarray:
    """float32 -> int8 as LiteRT's reference QUANTIZE (``reference_ops::AffineQuantize``):
    ``x / scale`` divided in float32, rounded half away from zero (``TfLiteRound``), converted
    to int32, ``+ zp``, clamped to -128..127. Out-of-range values saturate; a quotient outside
    int32 (or NaN), where the C++ conversion is undefined, converts as LiteRT 2.3 on x86-64 does
    (measured): to INT32_MIN, to which ``zp`` is added with int32 wraparound (so -128, or 127
    when ``zp < 0``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        y = (np.asarray(x, np.float32) / np.float32(scale)).astype(np.float64)
    inside = (y >= -2.0 ** 31) & (y < 2.0 ** 31)  # False for NaN
    y = np.where(inside, y, 0.0)
    whole = np.trunc(y)
    rounded = whole + np.where(np.abs(y - whole) >= 0.5, np.sign(y), 0.0)
    i = np.where(inside, rounded, -2.0 ** 31).astype(np.int64) + zp
    i = (i + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wraparound
    return np.clip(i, -128, 127).astype(np.int8)


def calibration_amax(x: np.ndarray, percentile: float | None = None) -> float:
    """The range a tensor is quantised to: max ``|x|``, or its ``percentile``-th percentile."""
    a = np.abs(np.asarray(x, np.float64)).ravel()
    if a.size == 0:
        return 0.0
    return float(a.max() if percentile is None else np.percentile(a, percentile))


def activation_scale(amax: float) -> float:
    """Symmetric int8 scale for a tensor in ``[-amax, amax]``; a tensor that is always 0 gets
    scale ``1/127`` (any scale represents it exactly)."""
    return (amax if amax > 0 else 1.0) / INT8_QMAX


def quantize_weights(w: np.ndarray, axis: int = -1,
                     min_scale: float | np.ndarray = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel int8 weights along ``axis`` (the output channel).

    Returns ``(q, scale)``: ``q`` int8 of ``w``'s shape in -127..127 and ``scale`` float64 with
    one entry per channel, ``w ~= q * scale`` (broadcast along ``axis``). A channel that is all
    zero gets the largest scale of the others, so that its multiplier stays in range. No scale
    is below ``min_scale`` (per channel or one number): the importer uses it to keep a large bias
    of a channel with tiny weights inside int32 (see :func:`bias_min_weight_scale`).
    """
    w = np.asarray(w, np.float64)
    axis = axis % w.ndim
    others = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=others) if w.size else np.zeros(w.shape[axis])
    scale = amax / INT8_QMAX
    fill = scale.max() if scale.max() > 0 else 1.0 / INT8_QMAX
    scale = np.maximum(np.where(scale > 0, scale, fill), min_scale)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -INT8_QMAX, INT8_QMAX).astype(np.int8)
    return q, scale


#: A bias is kept within +-2^BIAS_BITS so that adding it to an accumulator (at most
#: K * 127 * 128 in size) cannot wrap int32 for any K below 2^15.
BIAS_BITS = 29


def bias_min_weight_scale(b: np.ndarray, s_x: float) -> np.ndarray:
    """The smallest weight scale per channel that keeps ``round(b / (s_x * s_w))`` within
    ``2^BIAS_BITS``: a channel with tiny weights and a large bias gets coarser weights rather
    than a bias that wraps the int32 accumulator."""
    return np.abs(np.asarray(b, np.float64)) / (s_x * 2.0 ** BIAS_BITS)


def quantize_bias(b: np.ndarray, s_x: float, s_w: np.ndarray) -> np.ndarray:
    """int32 bias in the accumulator's scale ``s_x * s_w``: ``round(b / (s_x * s_w))``.

    A bias too large for int32 saturates (it would dominate any accumulator anyway)."""
    q = np.rint(np.asarray(b, np.float64) / (s_x * np.asarray(s_w, np.float64)))
    return np.clip(q, -(1 << 31), (1 << 31) - 1).astype(np.int32)


def tflite_multiplier(scale) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's ``QuantizeMultiplier`` on each double ``scale``: (multiplier in [2^30, 2^31),
    exponent) with ``scale = multiplier * 2^(exponent - 31)``; 0 gives (0, 0)."""
    s = np.atleast_1d(np.asarray(scale, np.float64))
    mant, exp = np.frexp(s)
    q = np.floor(mant * (1 << 31) + 0.5).astype(np.int64)  # TfLiteRound: half away from 0
    exp = exp.astype(np.int64)
    top = q == (1 << 31)
    q, exp = np.where(top, q // 2, q), np.where(top, exp + 1, exp)
    tiny = exp < -31
    q, exp = np.where(tiny | (s == 0), 0, q), np.where(tiny | (s == 0), 0, exp)
    return q, exp


#: TFLite's int8 ADD lifts both inputs this many bits before rescaling them.
ADD_LEFT_SHIFT = 20


def add_rescale(a: tuple[float, int], b: tuple[float, int], y: tuple[float, int]) -> dict:
    """TFLite's int8 ADD of ``a`` and ``b`` into ``y``, each (scale, zero point): the
    keyword arguments of :meth:`~conveyor.sw.ir.builder.Graph.qadd`. Both inputs go onto the
    scale of twice the larger, ``ADD_LEFT_SHIFT`` bits up; ValueError if the output's
    multiplier would need a left shift (requant cannot multiply up)."""
    (sa, za), (sb, zb), (sy, zy) = a, b, y
    twice_max = 2 * float(np.float32(max(np.float32(sa), np.float32(sb))))
    (ma,), (ea,) = tflite_multiplier(sa / twice_max)
    (mb,), (eb,) = tflite_multiplier(sb / twice_max)
    real = twice_max / ((1 << ADD_LEFT_SHIFT) * sy)
    (mul,), (exp,) = tflite_multiplier(real)
    if exp > 0:
        raise ValueError(f"the output scale {sy:.3g} is too small for the inputs' "
                         f"{max(sa, sb):.3g}: its multiplier {real:.3g} needs a left shift")
    if -exp > 31:
        raise ValueError("an effective scale below 2^-31")
    return {"a_zp": int(za), "a_mul": int(ma), "a_shift": int(-ea), "b_zp": int(zb),
            "b_mul": int(mb), "b_shift": int(-eb), "left_shift": ADD_LEFT_SHIFT,
            "mul": int(mul), "shift": int(-exp), "zp": int(zy)}


def leaky_rescale(x: tuple[float, int], y: tuple[float, int], alpha: float) -> dict:
    """TFLite's int8 LEAKY_RELU from ``x`` into ``y``, each (scale, zero point): the keyword
    arguments of :meth:`~conveyor.sw.ir.builder.Graph.leaky_relu`. LiteRT's Prepare computes
    both multipliers (``sx / sy`` and ``sx * alpha / sy``) with float operands, so in float32;
    ValueError if one is out of the shifts' range."""
    (sx, zx), (sy, zy) = x, y
    f32 = np.float32
    mul, exp = tflite_multiplier(np.array([f32(sx) / f32(sy), f32(sx) * f32(alpha) / f32(sy)],
                                          np.float64))
    if np.any(exp > LEFT_SHIFT_MAX) or np.any(exp < -SHIFT_MAX):
        raise ValueError(f"output scale {sy:.3g} against input scale {sx:.3g} (alpha "
                         f"{alpha:g}) needs a shift out of range")
    return {"x_zp": int(zx), "mul": int(mul[0]), "shift": int(exp[0]), "alpha_mul": int(mul[1]),
            "alpha_shift": int(exp[1]), "zp": int(zy)}


def leaky_fit(x: tuple[float, int], y: tuple[float, int], alpha: float) -> dict:
    """LeakyRelu as onnxruntime computes it in float32 (``QuantizeLinear(leaky(
    DequantizeLinear(x)))``, rounding half to even; its QLinearLeakyRelu is a table of the
    same), in the integers of :meth:`~conveyor.sw.ir.builder.Graph.leaky_relu` with
    ``rounding="single"``: for each side of zero, the multiplier nearest TFLite's whose single
    rounding gives onnxruntime's value for every one of the 256 inputs, when one does (a value
    on a tie that float32 rounds to even may leave none: then TFLite's)."""
    (sx, zx), (sy, _) = x, y
    params = leaky_rescale(x, y, alpha)
    v = np.arange(-128, 128, dtype=np.int64) - zx
    xf = v.astype(np.float32) * np.float32(sx)
    yf = np.where(xf >= 0, xf, np.float32(alpha) * xf)
    want = np.rint(yf / np.float32(sy)).astype(np.int64)
    for m, e, side in (("mul", "shift", v >= 0), ("alpha_mul", "alpha_shift", v < 0)):
        got = _single_rounding_multiplier(v[side], want[side], 31 - params[e], params[m])
        if got is not None:
            params[m] = got
    return params


def _single_rounding_multiplier(v: np.ndarray, want: np.ndarray, k: int, near: int) -> int | None:
    """The m in 0..2^31-1 nearest ``near`` with ``(v * m + 2^(k-1)) >> k == want`` for every
    pair, or None: each pair bounds m to ``(2t - 1) 2^k <= 2 v m < (2t + 1) 2^k``."""
    lo, hi = 0, (1 << 31) - 1
    for vi, t in zip(v.tolist(), want.tolist()):
        a, b = (2 * t - 1) << k, (2 * t + 1) << k  # a <= 2 v m < b
        if vi > 0:
            lo, hi = max(lo, -(-a // (2 * vi))), min(hi, -(-b // (2 * vi)) - 1)
        elif vi < 0:
            u = -vi  # -b < 2 u m <= -a
            lo, hi = max(lo, (-b) // (2 * u) + 1), min(hi, (-a) // (2 * u))
        elif t != 0:
            return None
    return None if lo > hi else min(max(near, lo), hi)


def function_table(fn, x: tuple[float, int], y: tuple[float, int]) -> np.ndarray:
    """The 256-entry table (``graph.table``) of an element-wise float function between two
    int8 quantisations, as onnxruntime computes it: ``QuantizeLinear(fn(DequantizeLinear(q)))``
    in float32, rounded half to even, for q = -128 .. 127."""
    (sx, zx), (sy, zy) = x, y
    q = np.arange(-128, 128)
    real = (q - zx).astype(np.float32) * np.float32(sx)
    out = np.rint(fn(real) / np.float32(sy)) + zy
    return np.clip(out, -128, 127).astype(np.int8)
