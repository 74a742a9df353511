"""VXM lane semantics against an independent pure-Python reference, lane by lane."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.hw.machine.isa import BINARY, OPS, UNARY
from conveyor.hw.machine.semantics import (
    SEMANTICS,
    evaluate,
    requantize,
    rounding_divide_by_pot,
    semantics,
    srdhm,
)

I32_MIN, I32_MAX = -2**31, 2**31 - 1
WIDTH = {"i8": 8, "i32": 32}
DTYPE = {"i8": np.int8, "i32": np.int32}


# --- the reference: plain Python integers ------------------------------------------------------

def wrap(x: int, bits: int) -> int:
    return (x + (1 << bits - 1)) % (1 << bits) - (1 << bits - 1)


def ref_binary(name: str, a: int, b: int, bits: int) -> int:
    n = b % bits
    return wrap({
        "add": a + b, "sub": a - b, "mul": a * b, "max": max(a, b), "min": min(a, b),
        "and": a & b, "or": a | b, "xor": a ^ b, "shl": a * 2**n, "sra": a // 2**n,
    }[name], bits)


def ref_unary(name: str, a: int, bits: int) -> int:
    return wrap({"mov": a, "relu": max(a, 0), "neg": -a, "abs": abs(a)}[name], bits)


def ref_srdhm(a: int, b: int) -> int:
    if a == b == I32_MIN:
        return I32_MAX
    x = a * b + (2**30 if a * b >= 0 else 1 - 2**30)
    q = abs(x) // 2**31  # C division truncates toward zero
    return q if x >= 0 else -q


def ref_round_away(x: int, e: int) -> int:
    f = Fraction(x, 2**e)
    q = int(abs(f) + Fraction(1, 2))  # floor(|f| + 1/2): half away from zero
    return q if f >= 0 else -q


def ref_requant(a: int, mul: int, shift: int, zp: int, relu: bool) -> int:
    d = min(max(ref_round_away(ref_srdhm(a, mul), shift) + zp, -128), 127)
    return max(d, zp) if relu else d


def lanes(t: str, n: int, seed: int) -> np.ndarray:
    """Random lanes with the extremes mixed in."""
    bits = WIDTH[t]
    lo, hi = -(1 << bits - 1), (1 << bits - 1) - 1
    rng = np.random.default_rng(seed)
    x = rng.integers(lo, hi, n, endpoint=True, dtype=np.int64)
    x[:8] = [lo, hi, 0, -1, 1, lo + 1, hi - 1, bits]
    return x.astype(DTYPE[t])


# --- every op is covered ------------------------------------------------------------------------

def test_table_covers_every_vxm_op():
    assert sorted(SEMANTICS) == sorted(op.mnemonic for op in OPS if op.kind == "vxm")


def test_unknown_op_is_an_error():
    with pytest.raises(KeyError, match="not a VXM op"):
        semantics("read")


# --- binary and unary ops -------------------------------------------------------------------------

@pytest.mark.parametrize("t", ["i8", "i32"])
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_vectors(name, t):
    a, b = lanes(t, 600, 1), lanes(t, 600, 2)
    b[8:80] = np.arange(-36, 36)  # shift amounts around and beyond the width
    got = evaluate(f"{name}.{t}", {}, a, b)
    assert got.dtype == DTYPE[t]
    want = [ref_binary(name, int(x), int(y), WIDTH[t]) for x, y in zip(a, b)]
    assert got.tolist() == want


@pytest.mark.parametrize("t", ["i8", "i32"])
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_immediate(name, t):
    a = lanes(t, 200, 3)
    bits = WIDTH[t]
    for imm in (-(1 << bits - 1), -1, 0, 1, 7, 8, bits - 1, bits, (1 << bits - 1) - 1):
        got = evaluate(f"{name}.{t}", {}, a, imm)
        assert got.dtype == DTYPE[t]
        assert got.tolist() == [ref_binary(name, int(x), imm, bits) for x in a], imm


@pytest.mark.parametrize("t", ["i8", "i32"])
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, t):
    a = lanes(t, 600, 4)
    got = evaluate(f"{name}.{t}", {}, a)
    assert got.dtype == DTYPE[t]
    assert got.tolist() == [ref_unary(name, int(x), WIDTH[t]) for x in a]


def test_wrapping_edges():
    i8 = np.array([127, -128, -128, 100], np.int8)
    assert evaluate("add.i8", {}, i8, 1).tolist() == [-128, -127, -127, 101]
    assert evaluate("sub.i8", {}, i8, 1).tolist() == [126, 127, 127, 99]
    assert evaluate("neg.i8", {}, i8).tolist() == [-127, -128, -128, -100]
    assert evaluate("abs.i8", {}, i8).tolist() == [127, -128, -128, 100]
    assert evaluate("mul.i8", {}, i8, i8).tolist() == [1, 0, 0, 16]  # 10000 = 39*256 + 16
    i32 = np.array([I32_MAX, I32_MIN, 65536], np.int32)
    assert evaluate("add.i32", {}, i32, 1).tolist() == [I32_MIN, I32_MIN + 1, 65537]
    assert evaluate("neg.i32", {}, i32).tolist() == [-I32_MAX, I32_MIN, -65536]
    assert evaluate("abs.i32", {}, i32).tolist() == [I32_MAX, I32_MIN, 65536]
    assert evaluate("mul.i32", {}, i32, i32).tolist() == [1, 0, 0]  # 2^32 wraps to 0


def test_shifts_take_the_amount_mod_width():
    a8 = np.array([-128, 1, 3, -1], np.int8)
    assert evaluate("shl.i8", {}, a8, 8).tolist() == a8.tolist()
    assert evaluate("shl.i8", {}, a8, 9).tolist() == [0, 2, 6, -2]
    assert evaluate("shl.i8", {}, a8, 7).tolist() == [0, -128, -128, -128]
    assert evaluate("sra.i8", {}, a8, 7).tolist() == [-1, 0, 0, -1]
    assert evaluate("sra.i8", {}, a8, -1).tolist() == [-1, 0, 0, -1]  # -1 mod 8 = 7
    a32 = np.array([I32_MIN, 1, -1], np.int32)
    assert evaluate("shl.i32", {}, a32, 32).tolist() == a32.tolist()
    assert evaluate("shl.i32", {}, a32, 31).tolist() == [0, I32_MIN, I32_MIN]
    assert evaluate("sra.i32", {}, a32, 31).tolist() == [-1, 0, -1]
    assert evaluate("sra.i32", {}, a32, 33).tolist() == [I32_MIN // 2, 0, -1]


# --- conversions -------------------------------------------------------------------------------------

def test_cvt_i8_i32_sign_extends():
    a = lanes("i8", 300, 5)
    got = evaluate("cvt.i8.i32", {}, a)
    assert got.dtype == np.int32 and got.tolist() == [int(x) for x in a]


def test_cvt_i32_i8_saturates():
    a = np.array([I32_MIN, -129, -128, -1, 0, 127, 128, 255, 256, I32_MAX], np.int32)
    got = evaluate("cvt.i32.i8", {}, a)
    assert got.dtype == np.int8
    assert got.tolist() == [-128, -128, -128, -1, 0, 127, 127, 127, 127, 127]
    r = lanes("i32", 300, 6)
    assert evaluate("cvt.i32.i8", {}, r).tolist() == [min(max(int(x), -128), 127) for x in r]


# --- requant -------------------------------------------------------------------------------------------

def test_srdhm_rounding_from_the_definition():
    # mul = 2^30 is 0.5: x/2 with the nudge; -0.5 truncates to 0 but 0.5 goes to 1.
    a = np.array([1, -1, 3, -3, 2, -2, 0], np.int64)
    assert srdhm(a, 1 << 30).tolist() == [1, 0, 2, -1, 1, -1, 0]
    assert srdhm(np.array([I32_MIN]), I32_MIN).tolist() == [I32_MAX]  # the saturating case
    assert srdhm(np.array([I32_MAX, I32_MIN]), I32_MAX).tolist() == [I32_MAX - 1, I32_MIN + 1]


def test_rounding_divide_by_pot_ties_go_away_from_zero():
    x = np.array([5, -5, 3, -3, 6, -6, -7, -5, 7, 4], np.int64)
    e = [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    got = [int(rounding_divide_by_pot(x[i:i + 1], e[i])[0]) for i in range(len(x))]
    assert got == [3, -3, 2, -2, 2, -2, -2, -1, 2, 1]
    assert rounding_divide_by_pot(x, 0).tolist() == x.tolist()
    # -2^31 / 2^31 is exactly -1, (2^31 - 1) / 2^31 rounds to 1, and 0.5 away from zero
    big = np.array([I32_MIN, I32_MAX, -1, 1 << 30, -(1 << 30)])
    assert rounding_divide_by_pot(big, 31).tolist() == [-1, 1, 0, 1, -1]


@pytest.mark.parametrize("relu", [False, True])
def test_requant_ties_and_extremes(relu):
    mnemonic = "requant.relu" if relu else "requant"
    one = I32_MAX  # mul ~ 1.0: srdhm(a, one) == a for small a
    a = np.array([5, -5, 7, -7, 0, 1, -1], np.int32)
    got = evaluate(mnemonic, {"mul": one, "shift": 1, "zp": 0}, a).tolist()
    want = [3, -3, 4, -4, 0, 1, -1]  # 2.5 -> 3, -2.5 -> -3, 3.5 -> 4, 0.5 -> 1, -0.5 -> -1
    assert got == ([max(w, 0) for w in want] if relu else want)
    assert got == [ref_requant(int(x), one, 1, 0, relu) for x in a]
    ext = np.array([I32_MIN, I32_MAX, 0, -1, 1000], np.int32)
    assert evaluate(mnemonic, {"mul": 0, "shift": 31, "zp": -128}, ext).tolist() == [-128] * 5
    assert evaluate(mnemonic, {"mul": one, "shift": 0, "zp": 127}, ext).tolist() == \
        [127 if relu else -128, 127, 127, 127 if relu else 126, 127]
    assert evaluate(mnemonic, {"mul": one, "shift": 31, "zp": 0}, ext).tolist() == \
        [0 if relu else -1, 1, 0, 0, 0]
    assert evaluate(mnemonic, {"mul": one, "shift": 0, "zp": -128}, ext).tolist() == \
        [-128, 127, -128, -128, 127]


def test_requant_dtype_and_public_helper():
    a = np.array([100, -100], np.int32)
    out = evaluate("requant", {"mul": 1 << 30, "shift": 2, "zp": 3}, a)
    assert out.dtype == np.int8 and out.tolist() == [16, -10]  # 12.5 -> 13, -12.5 -> -13
    assert requantize(a, 1 << 30, 2, 3).tolist() == out.tolist()


@settings(max_examples=200, deadline=None)
@given(a=st.lists(st.integers(I32_MIN, I32_MAX), min_size=1, max_size=16),
       mul=st.integers(0, I32_MAX), shift=st.integers(0, 31), zp=st.integers(-128, 127),
       relu=st.booleans())
def test_requant_matches_reference(a, mul, shift, zp, relu):
    mnemonic = "requant.relu" if relu else "requant"
    got = evaluate(mnemonic, {"mul": mul, "shift": shift, "zp": zp}, np.array(a, np.int32))
    assert got.tolist() == [ref_requant(x, mul, shift, zp, relu) for x in a]


@pytest.mark.parametrize("seed", range(4))
def test_requant_random_vectors(seed):
    rng = np.random.default_rng(seed)
    a = lanes("i32", 300, seed + 10)
    a[8:100] = rng.integers(-5000, 5000, 92)  # near zero, where the rounding shows
    mul, shift = int(rng.integers(0, 2**31)), int(rng.integers(0, 32))
    zp = int(rng.integers(-128, 128))
    for relu in (False, True):
        got = evaluate("requant.relu" if relu else "requant",
                       {"mul": mul, "shift": shift, "zp": zp}, a)
        assert got.tolist() == [ref_requant(int(x), mul, shift, zp, relu) for x in a]


# --- gemmlowp's primitives on their own ------------------------------------------------------------

def test_mulq_is_the_doubling_high_mul_of_each_lane():
    a = np.array([1, -1, 3, -3, I32_MIN, I32_MAX, I32_MIN], np.int32)
    b = np.array([1 << 30, 1 << 30, 1 << 30, 1 << 30, I32_MIN, I32_MAX, I32_MAX], np.int32)
    # hand-computed: (a*b + 2^30) / 2^31 with the nudge, the (-2^31)^2 overflow saturated
    assert evaluate("mulq.i32", {}, a, b).tolist() == [1, 0, 2, -1, I32_MAX, I32_MAX - 1,
                                                      I32_MIN + 1]
    assert evaluate("mulq.i32", {}, a, 1 << 30).tolist()[:4] == [1, 0, 2, -1]
    assert evaluate("mulq.i32", {}, a, b).dtype == np.int32


def test_rshr_rounds_half_away_from_zero_by_each_lanes_amount_mod_32():
    a = np.array([5, -5, 12, -12, I32_MAX, I32_MIN, 7, 9], np.int32)
    amounts = np.array([1, 1, 3, 3, 31, 31, 33, 32], np.int32)  # 33 is 1, 32 is 0 (mod 32)
    assert evaluate("rshr.i32", {}, a, amounts).tolist() == [3, -3, 2, -2, 1, -1, 4, 9]
    assert evaluate("rshr.i32", {}, a, 2).tolist()[:4] == [1, -1, 3, -3]
