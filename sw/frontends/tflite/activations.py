"""TFLite's int8 LOGISTIC and TANH as LiteRT's reference kernels compute them: 256-entry tables.

For int8, LiteRT's reference kernels (``BUILTIN_REF``) do not run the integer kernels
(``reference_integer_ops::Logistic`` / ``Tanh``, gemmlowp fixed point, which TFLite Micro runs):
Prepare fills a lookup table in float32 (``LUTPopulate``) and Eval looks each byte up in it.
So the table here is that one, for q = -128 .. 127:

    x = float32(input scale) * float32(q - input zero point)
    f = 1 / (1 + expf(-x))  or  tanhf(x)            (float32, every operation rounded)
    y = clamp(roundf(f * float32(1 / output scale)) + output zero point, -128, 127)

``roundf`` rounds half away from zero. ``expf`` and ``tanhf`` are the C library's own, called
through ctypes: LiteRT calls them, so its bytes depend on them (glibc 2.36's ``tanhf`` is not
correctly rounded, and a correctly rounded one changes some tables). Where no C library can be
loaded, float64 ``exp`` and ``tanh`` rounded to float32 stand in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache

import numpy as np

__all__ = ["LOGISTIC_OUTPUT", "TANH_OUTPUT", "logistic_table", "lut_populate", "tanh_table"]

#: The output quantisation (scale, zero point) TFLite requires of each int8 op.
LOGISTIC_OUTPUT = (1 / 256, -128)
TANH_OUTPUT = (1 / 128, 0)

_FALLBACK = {"expf": np.exp, "tanhf": np.tanh}


@cache
def _c_function(name: str) -> Callable[[float], float] | None:
    """The C library's float32 function ``name`` (expf, tanhf), or None without one."""
    for lib in filter(None, (ctypes.util.find_library("m"), ctypes.util.find_library("c"))):
        try:
            fn = getattr(ctypes.CDLL(lib), name)
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return fn
    return None


def _float32(name: str, x: np.ndarray) -> np.ndarray:
    """``name`` (expf, tanhf) of every element of float32 ``x``, in float32."""
    fn = _c_function(name)
    if fn is not None:
        return np.array([fn(float(v)) for v in x], np.float32)
    with np.errstate(over="ignore"):  # exp's overflow is float32's inf, as expf's
        return _FALLBACK[name](x.astype(np.float64)).astype(np.float32)


def lut_populate(fn: Callable[[np.ndarray], np.ndarray], x: tuple[float, int],
                 y: tuple[float, int]) -> np.ndarray:
    """LiteRT's int8 table (``LUTPopulate``) of a float32 function ``fn`` (float32 array in
    and out) from quantisation ``x`` = (scale, zero point) to ``y``: entry q + 128 for
    q = -128 .. 127, the layout of ``graph.table``."""
    (sx, zx), (sy, zy) = x, y
    q = np.arange(-128, 128)
    real = np.float32(sx) * (q - zx).astype(np.float32)
    rescaled = (fn(real) * (np.float32(1) / np.float32(sy))).astype(np.float64)
    # roundf: half away from zero (exact in float64: a float32 plus 0.5)
    rounded = np.where(rescaled >= 0, np.floor(rescaled + 0.5), np.ceil(rescaled - 0.5))
    return np.clip(rounded + zy, -128, 127).astype(np.int8)


def _logistic(x: np.ndarray) -> np.ndarray:
    one = np.float32(1)
    return one / (one + _float32("expf", -x))  # 1 / (1 + inf) = 0 for large -x


def logistic_table(scale: float, zero_point: int) -> np.ndarray:
    """LOGISTIC's 256 int8 outputs for an input quantised (scale, zero_point)."""
    return lut_populate(_logistic, (scale, zero_point), LOGISTIC_OUTPUT)


def tanh_table(scale: float, zero_point: int) -> np.ndarray:
    """TANH's 256 int8 outputs for an input quantised (scale, zero_point)."""
    return lut_populate(lambda x: _float32("tanhf", x), (scale, zero_point), TANH_OUTPUT)
