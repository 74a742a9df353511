"""The numpy reference against straightforward code: Python-int loops for the integer ops and
TFLite's requant written out on Python ints, on random shapes (few of them multiples of 16)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.sw.ir import IRError, parse_module, print_module
from conveyor.sw.ir.builder import Graph, quantize_multiplier
from conveyor.sw.ir.reference import evaluate

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def requant_py(a: int, mul: int, shift: int, zp: int, relu: bool) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT, on Python ints."""
    if a == mul == INT32_MIN:
        high = INT32_MAX
    else:
        ab = a * mul
        nudge = 2**30 if ab >= 0 else 1 - 2**30
        q = abs(ab + nudge) // 2**31
        high = q if ab + nudge >= 0 else -q  # truncating division
    mask = (1 << shift) - 1
    remainder, threshold = high & mask, (mask >> 1) + (1 if high < 0 else 0)
    out = (high >> shift) + (1 if remainder > threshold else 0) + zp
    out = min(127, max(-128, out))
    return max(out, zp) if relu else out


def _requant_all(acc, mul, shift, zp, relu):
    muls = mul if isinstance(mul, list) else [mul] * acc.shape[-1]
    out = np.empty(acc.shape, np.int8)
    for idx in np.ndindex(*acc.shape):
        out[idx] = requant_py(int(acc[idx]), muls[idx[-1]], shift, zp, relu)
    return out


def _matmul_py(x, w, b=None):
    m, k = x.shape
    n = w.shape[1]
    out = np.empty((m, n), np.int64)
    for i in range(m):
        for j in range(n):
            s = sum(int(x[i, t]) * int(w[t, j]) for t in range(k))
            out[i, j] = wrap32(s + (int(b[j]) if b is not None else 0))
    return out


def _conv_py(x, w, b, stride, pad):
    h, wd, c = x.shape
    r, s, _, k = w.shape
    oh, ow = (h + 2 * pad - r) // stride + 1, (wd + 2 * pad - s) // stride + 1
    out = np.empty((oh, ow, k), np.int64)
    for i in range(oh):
        for j in range(ow):
            for kk in range(k):
                acc = int(b[kk])
                for di in range(r):
                    for dj in range(s):
                        y, z = i * stride + di - pad, j * stride + dj - pad
                        if 0 <= y < h and 0 <= z < wd:
                            acc += sum(int(x[y, z, ch]) * int(w[di, dj, ch, kk])
                                       for ch in range(c))
                out[i, j, kk] = wrap32(acc)
    return out


def _rng(seed):
    return np.random.default_rng(seed)


def _i8(rng, *shape):
    return rng.integers(-128, 128, shape, dtype=np.int8)


def _mul(rng, n, per_channel):
    """Multipliers around 2^30 (scale ~ 1/2^(1+shift)), per channel or one."""
    if per_channel:
        return [int(v) for v in rng.integers(1 << 29, 1 << 31, n)]
    return int(rng.integers(1 << 29, 1 << 31))


# --- requant itself ---------------------------------------------------------------------------

@given(st.integers(INT32_MIN, INT32_MAX), st.sampled_from([0, 1, 2**30, 2**31 - 1, 12345]),
       st.integers(0, 31), st.integers(-128, 127), st.booleans())
def test_requant_matches_the_python_int_formula(a, mul, shift, zp, relu):
    # A zero input and weight leave the bias as the accumulator: any int32.
    g2 = Graph("r2")
    y2 = g2.linear(g2.input("x", (1, 1)), np.zeros((1, 1), np.int8), np.array([a], np.int32),
                   mul=mul, shift=shift, zp=zp, relu=relu)
    g2.output("y", y2)
    out = evaluate(g2, {"x": np.zeros((1, 1), np.int8)})["y"]
    assert int(out[0, 0]) == requant_py(a, mul, shift, zp, relu)


# --- the ops on random shapes -----------------------------------------------------------------

SHAPES = [(1, 1, 1), (3, 5, 7), (16, 16, 16), (17, 33, 5), (2, 40, 19)]


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul(m, k, n):
    rng = _rng(m * 1000 + k * 10 + n)
    x, w = _i8(rng, m, k), _i8(rng, k, n)
    g = Graph("mm")
    g.output("y", g.matmul(g.input("x", (m, k)), w))
    y = evaluate(g, {"x": x})["y"]
    assert y.dtype == np.int32 and np.array_equal(y, _matmul_py(x, w))
    assert np.array_equal(y, x.astype(np.float64) @ w.astype(np.float64))  # exact in float


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("per_channel", [False, True])
def test_linear(m, k, n, per_channel):
    rng = _rng(m * 1000 + k * 10 + n + per_channel)
    x, w = _i8(rng, m, k), _i8(rng, k, n)
    b = rng.integers(-(2**20), 2**20, n, dtype=np.int32)
    mul, shift, zp = _mul(rng, n, per_channel), int(rng.integers(4, 12)), int(rng.integers(-9, 9))
    for relu in (False, True):
        g = Graph("lin")
        g.output("y", g.linear(g.input("x", (m, k)), w, b, mul, shift, zp, relu))
        y = evaluate(g, {"x": x})["y"]
        assert y.dtype == np.int8
        assert np.array_equal(y, _requant_all(_matmul_py(x, w, b), mul, shift, zp, relu))
        # and close to the real-valued computation it stands for
        scale = np.asarray(mul, np.float64) / 2.0 ** (31 + shift)
        real = np.clip((x.astype(np.float64) @ w + b) * scale + zp, -128, 127)
        if relu:
            real = np.maximum(real, zp)
        assert np.abs(y - real).max() <= 1


def test_linear_sums_wrap_at_int32():
    x = np.full((1, 2), 127, np.int8)
    w = np.full((2, 1), 127, np.int8)
    b = np.array([INT32_MAX - 100], np.int32)
    g = Graph("wrap")
    g.output("y", g.linear(g.input("x", (1, 2)), w, b, mul=2**31 - 1, shift=31, zp=0))
    g.output("acc", g.matmul(g.input("z", (1, 2)), w))
    out = evaluate(g, {"x": x, "z": x})
    acc = wrap32(2 * 127 * 127 + INT32_MAX - 100)
    assert acc < 0 and int(out["y"][0, 0]) == requant_py(acc, 2**31 - 1, 31, 0, False)
    assert int(out["acc"][0, 0]) == 2 * 127 * 127


@pytest.mark.parametrize("h, w, c, k, r, s, stride, pad", [
    (5, 5, 1, 1, 3, 3, 1, 0), (7, 6, 3, 5, 3, 3, 1, 1), (9, 8, 2, 4, 3, 2, 2, 1),
    (6, 6, 17, 3, 1, 1, 1, 0), (4, 5, 2, 2, 5, 5, 3, 2), (3, 3, 1, 2, 3, 3, 2, 2),
])
def test_conv2d(h, w, c, k, r, s, stride, pad):
    rng = _rng(h * w * c + k + r + s + stride + pad)
    x, wt = _i8(rng, h, w, c), _i8(rng, r, s, c, k)
    b = rng.integers(-(2**16), 2**16, k, dtype=np.int32)
    mul, shift = _mul(rng, k, per_channel=k > 2), 9
    g = Graph("conv")
    g.output("y", g.conv2d(g.input("x", (h, w, c)), wt, b, stride=stride, pad=pad, mul=mul,
                           shift=shift, zp=3, relu=True))
    y = evaluate(g, {"x": x})["y"]
    want = _requant_all(_conv_py(x, wt, b, stride, pad), mul, shift, 3, True)
    assert y.shape == want.shape and np.array_equal(y, want)


def test_maxpool_relu_add_reshape():
    rng = _rng(7)
    x = _i8(rng, 6, 10, 3)
    g = Graph("misc")
    xi = g.input("x", x.shape)
    p = g.maxpool2x2(xi)
    r = g.relu(p, zp=-4)
    f = g.flatten(r)
    a = g.add(f, g.reshape(p, (1, 45)), mul=1 << 30, shift=0, zp=2)
    g.output("pool", p)
    g.output("relu", r)
    g.output("flat", f)
    g.output("add", a)
    out = evaluate(g, {"x": x})
    want = np.empty((3, 5, 3), np.int8)
    for i, j, ch in np.ndindex(3, 5, 3):
        want[i, j, ch] = max(int(x[2 * i + di, 2 * j + dj, ch]) for di in (0, 1) for dj in (0, 1))
    assert np.array_equal(out["pool"], want)
    assert np.array_equal(out["relu"], np.maximum(want, -4))
    assert np.array_equal(out["flat"], np.maximum(want, -4).reshape(1, 45))
    total = out["flat"].astype(np.int64) + want.reshape(1, 45)
    assert np.array_equal(out["add"], _requant_all(total, 1 << 30, 0, 2, False))


@settings(max_examples=25)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_mlp_survives_a_text_round_trip(m, k, n, seed):
    """The reference gives the same results on a graph and on its printed-and-parsed text."""
    rng = _rng(seed)
    g = Graph("mlp")
    x = g.input("x", (m, k))
    mul, shift = quantize_multiplier(rng.uniform(1e-5, 1e-3, n))
    h = g.linear(x, _i8(rng, k, n), rng.integers(-9999, 9999, n, dtype=np.int32), mul, shift,
                 relu=True)
    g.output("y", g.matmul(h, _i8(rng, n, 3)))
    inputs = {"x": _i8(rng, m, k)}
    a, b = evaluate(g, inputs), evaluate(parse_module(print_module(g)), inputs)
    assert np.array_equal(a["y"], b["y"])


# --- inputs -----------------------------------------------------------------------------------

def _small():
    g = Graph("s")
    g.output("y", g.relu(g.input("x", (2, 3))))
    return g


def test_inputs_may_be_any_integer_array_that_fits():
    out = evaluate(_small(), {"x": [[1, -2, 3], [-4, 5, -128]]})["y"]
    assert out.dtype == np.int8 and out.tolist() == [[1, 0, 3], [0, 5, 0]]


@pytest.mark.parametrize("inputs, message", [
    ({}, "no value given for input 'x' of graph 's'"),
    ({"x": np.zeros((2, 3)), "z": 1}, "graph 's' has no input named 'z' (inputs: x)"),
    ({"x": np.zeros((3, 2), np.int8)}, ("input 'x' has shape (3, 2), but the graph takes "
                                       "tensor<2x3xi8>")),
    ({"x": np.zeros((2, 3))}, "input 'x' must be int8, not float64"),
    ({"x": np.full((2, 3), 128)}, "input 'x' has values outside int8 (-128..127)"),
])
def test_input_errors(inputs, message):
    with pytest.raises(IRError) as info:
        evaluate(_small(), inputs)
    assert str(info.value) == message
