"""Lane-wise semantics of every VXM op, in numpy: the arithmetic half of the golden model.

Every function takes whole vectors (one element per lane) and returns a new vector of the
destination's type: ``int8`` for byte streams, ``int32`` for stream groups. Work is done in
``int64`` and wrapped or saturated at the end, so no intermediate can overflow. The table is
built from the op lists in :mod:`conveyor.hw.machine.isa`; an op declared there without semantics here
stops the import with an error instead of simulating wrongly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .isa import BINARY, OPS, UNARY

__all__ = ["INT8_MAX", "INT8_MIN", "INT32_MAX", "INT32_MIN", "SEMANTICS", "Operand", "Semantics",
           "evaluate", "requantize", "requantize_single", "rounding_divide_by_pot", "semantics", "srdhm"]

INT8_MIN, INT8_MAX = -(1 << 7), (1 << 7) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

#: The second operand of a binary op: a vector, or an immediate that applies to every lane.
Operand = np.ndarray | int

#: ``fn(a, b, args) -> d``; ``b`` is None for unary ops, ``args`` holds the instruction's
#: fields (requant reads ``mul``, ``shift`` and ``zp`` from it).
Semantics = Callable[[np.ndarray, Operand | None, Mapping[str, object]], np.ndarray]

_TYPES = {"i8": (np.int8, 8), "i32": (np.int32, 32)}


def _i64(x: Operand) -> np.ndarray | int:
    """int64 view of an operand; an immediate stays a Python int (numpy promotes it)."""
    return x if isinstance(x, int) else x.astype(np.int64)


# --- lane-wise ops on int64, before wrapping -------------------------------------------------
# Shifts take the amount mod the width; `& (width - 1)` is that mod for negative amounts too.

_BINARY: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "add": lambda a, b, w: a + b,
    "sub": lambda a, b, w: a - b,
    "mul": lambda a, b, w: a * b,
    "max": lambda a, b, w: np.maximum(a, b),
    "min": lambda a, b, w: np.minimum(a, b),
    "and": lambda a, b, w: a & b,
    "or": lambda a, b, w: a | b,
    "xor": lambda a, b, w: a ^ b,
    "shl": lambda a, b, w: a << (b & (w - 1)),
    "sra": lambda a, b, w: a >> (b & (w - 1)),
}

_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mov": lambda a: a,
    "relu": lambda a: np.maximum(a, 0),
    "neg": lambda a: -a,
    "abs": lambda a: np.abs(a),
}


def _binary(name: str, t: str) -> Semantics:
    fn, (dtype, width) = _BINARY[name], _TYPES[t]

    def run(a, b, args):
        # Casting int64 down to a narrower integer keeps the low bits: two's-complement wrap.
        return fn(_i64(a), _i64(b), width).astype(dtype)
    return run


def _unary(name: str, t: str) -> Semantics:
    fn, (dtype, _) = _UNARY[name], _TYPES[t]
    return lambda a, b, args: fn(_i64(a)).astype(dtype)


# --- requantisation (TFLite / gemmlowp) -------------------------------------------------------

def srdhm(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul: ``(a*b + nudge) / 2^31`` with C's truncating division,
    ``nudge = 2^30`` if ``a*b >= 0`` else ``1 - 2^30``; the one overflowing case (both INT32_MIN)
    saturates to INT32_MAX. int64 in, int64 out."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    ab = a * b
    x = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(x >= 0, x >> 31, -(-x >> 31))  # shift on |x|: truncate toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray, exponent) -> np.ndarray:
    """RoundingDivideByPOT: ``x / 2^exponent`` rounded to nearest, ties away from zero; the
    exponent is one int or one per element."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def requantize(a: np.ndarray, mul, shift: int, zp: int, relu: bool = False) -> np.ndarray:
    """int32 accumulators -> int8: ``clamp(zp + RDBPOT(SRDHM(a, mul), shift), -128, 127)``,
    then ``max(., zp)`` for the fused ReLU."""
    d = np.clip(rounding_divide_by_pot(srdhm(a, mul), shift) + zp, INT8_MIN, INT8_MAX)
    if relu:
        d = np.maximum(d, zp)
    return d.astype(np.int8)


def requantize_single(a: np.ndarray, mul, shift: int, zp: int,
                      relu: bool = False) -> np.ndarray:
    """requant.s: the product rounded once, half up: ``clamp(zp + ((a*mul + 2^(30+shift)) >>
    (31+shift)))``, then ``max(., zp)`` for the fused ReLU."""
    total = 31 + shift
    q = (np.asarray(a, np.int64) * mul + (1 << (total - 1))) >> total
    d = np.clip(q + zp, INT8_MIN, INT8_MAX)
    if relu:
        d = np.maximum(d, zp)
    return d.astype(np.int8)


def _requant(relu: bool) -> Semantics:
    return lambda a, b, args: requantize(a, args["mul"], args["shift"], args["zp"], relu)


def _requant_v(relu: bool) -> Semantics:
    """Lane j's multiplier is the low 31 bits of b[j] (b a vector, or one immediate)."""
    return lambda a, b, args: requantize(a, np.asarray(b, np.int64) & MUL_MASK, args["shift"],
                                         args["zp"], relu)


def _requant_s_v(relu: bool) -> Semantics:
    """requant.s with lane j's multiplier the low 31 bits of b[j]."""
    return lambda a, b, args: requantize_single(a, np.asarray(b, np.int64) & MUL_MASK,
                                                args["shift"], args["zp"], relu)


# --- the table --------------------------------------------------------------------------------

_SPECIAL: dict[str, Semantics] = {
    "cvt.i8.i32": lambda a, b, args: _i64(a).astype(np.int32),
    "cvt.i32.i8": lambda a, b, args: np.clip(_i64(a), INT8_MIN, INT8_MAX).astype(np.int8),
    "requant": _requant(False),
    "requant.relu": _requant(True),
    "requant.s": lambda a, b, args: requantize_single(a, args["mul"], args["shift"], args["zp"]),
    "requant.s.relu": lambda a, b, args: requantize_single(a, args["mul"], args["shift"],
                                                           args["zp"], True),
    "requant.v": _requant_v(False),
    "requant.v.relu": _requant_v(True),
    "requant.s.v": _requant_s_v(False),
    "requant.s.v.relu": _requant_s_v(True),
    "mulq.i32": lambda a, b, args: srdhm(a, b).astype(np.int32),
    "rshr.i32": lambda a, b, args: rounding_divide_by_pot(
        a, np.asarray(b, np.int64) & 31).astype(np.int32),
}

#: The bits of a per-lane multiplier that requant.v uses.
MUL_MASK = (1 << 31) - 1


def _build_table() -> dict[str, Semantics]:
    table: dict[str, Semantics] = {}
    for op in OPS:
        if op.kind != "vxm":
            continue
        name, _, t = op.mnemonic.partition(".")
        if op.mnemonic in _SPECIAL:
            table[op.mnemonic] = _SPECIAL[op.mnemonic]
        elif name in BINARY and name in _BINARY and t in _TYPES:
            table[op.mnemonic] = _binary(name, t)
        elif name in UNARY and name in _UNARY and t in _TYPES:
            table[op.mnemonic] = _unary(name, t)
        else:
            raise NotImplementedError(f"VXM op {op.mnemonic!r} is declared in hw/machine/isa.py but has "
                                      f"no semantics in hw/machine/semantics.py")
    return table


#: Mnemonic -> semantics, for every VXM op of the ISA.
SEMANTICS: dict[str, Semantics] = _build_table()


def semantics(mnemonic: str) -> Semantics:
    """The function that computes ``mnemonic``; KeyError for an op that is not a VXM op."""
    try:
        return SEMANTICS[mnemonic]
    except KeyError:
        raise KeyError(f"{mnemonic!r} is not a VXM op") from None


def evaluate(mnemonic: str, args: Mapping[str, object], a: np.ndarray,
             b: Operand | None = None) -> np.ndarray:
    """Result vector of VXM op ``mnemonic`` on operand vectors ``a`` (and ``b``: a vector or an
    immediate). ``args`` are the instruction's fields; only requant's ``mul``, ``shift`` and
    ``zp`` are read from it. int8 operands and results for ``.i8`` ops, int32 for ``.i32``."""
    return semantics(mnemonic)(a, b, args)
