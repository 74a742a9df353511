"""The Graph builder: shapes and dtypes it infers, the errors it raises (naming the op and the
value), and quantize_multiplier."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.hw.machine.semantics import requantize
from conveyor.sw.ir import IRError, Module, TensorType, parse_module, print_module
from conveyor.sw.ir.builder import Graph, inputs_of, outputs_of, quantize_multiplier

RNG = np.random.default_rng(5)


def i8(*shape):
    return RNG.integers(-128, 128, shape, dtype=np.int8)


def i32(*shape):
    return RNG.integers(-5000, 5000, shape, dtype=np.int32)


def test_the_documented_example():
    m, k, n, n2 = 3, 20, 17, 5
    g = Graph("mlp")
    x = g.input("x", (m, k))
    h = g.linear(x, i8(k, n), i32(n), mul=1 << 29, shift=7, zp=0, relu=True)
    y = g.matmul(h, i8(n, n2))
    g.output("y", y)
    assert isinstance(g, Module) and g.level == "graph" and g.name == "mlp"
    assert x.type == TensorType((m, k), "i8")
    assert h.type == TensorType((m, n), "i8")
    assert y.type == TensorType((m, n2), "i32")
    assert [op.NAME for op in g.ops] == ["graph.input", "graph.const", "graph.const",
                                        "graph.linear", "graph.const", "graph.matmul",
                                        "graph.output"]
    assert list(inputs_of(g)) == ["x"] and outputs_of(g) == {"y": y} and g.inputs == {"x": x}
    g.verify()
    assert print_module(parse_module(print_module(g))) == print_module(g)


def test_shapes_of_every_op():
    g = Graph("cnn")
    x = g.input("img", (10, 9, 3))
    c = g.conv2d(x, i8(3, 3, 3, 8), i32(8), stride=2, pad=1, mul=[1 << 30] * 8, shift=8)
    assert c.type.shape == (5, 5, 8)
    c2 = g.conv2d(x, i8(2, 1, 3, 4), None, stride=1, pad=0, mul=1, shift=0)
    assert c2.type.shape == (9, 9, 4)
    p = g.maxpool2x2(g.reshape(c, (10, 10, 2)))
    assert p.type.shape == (5, 5, 2)
    f = g.flatten(p)
    assert f.type == TensorType((1, 50), "i8")
    assert g.reshape(f, (-1, 10)).type.shape == (5, 10)
    a = g.add(f, f, mul=1 << 30, shift=1, zp=-5, relu=True)
    assert a.type == TensorType((1, 50), "i8")
    acc = g.matmul(a, i8(50, 3))
    assert g.relu(acc).type == TensorType((1, 3), "i32")
    assert g.add(acc, acc, mul=1, shift=0).type == TensorType((1, 3), "i8")
    g.verify()


def test_names():
    g = Graph("g")
    x = g.input("input:0", (2, 2))
    assert x.name == "input_0" and g.ops[0].attrs["name"] == "input:0"
    y = g.relu(x, name="act")
    assert y.name == "act" and g.relu(x).name == "relu0" and g.relu(x).name == "relu1"
    with pytest.raises(IRError, match="value name 'act' is already used"):
        g.relu(x, name="act")
    with pytest.raises(IRError, match="must be letters"):
        g.relu(x, name="a b")
    with pytest.raises(IRError, match="already an input named 'input:0'"):
        g.input("input:0", (2, 2))
    g.output("out", y)
    with pytest.raises(IRError, match="already an output named 'out'"):
        g.output("out", x)


@pytest.mark.parametrize("build, message", [
    (lambda g, x: g.matmul(x, i8(5, 2)),
     "graph.matmul %matmul0: x %x has K=4 columns but w %w0 has 5 rows"),
    (lambda g, x: g.matmul(x, np.ones((4, 2), np.float32)),
     "graph.matmul: w must be an integer array (int8), not float32"),
    (lambda g, x: g.matmul(x, np.full((4, 2), 200)),
     "graph.matmul: w has values outside int8 (-128..127)"),
    (lambda g, x: g.linear(x, i8(4, 3), i32(4), mul=1, shift=0),
     "graph.linear %linear0: b %b0 has 4 values but w %w0 has N=3 columns"),
    (lambda g, x: g.linear(x, i8(4, 3), g.const(i8(3)), mul=1, shift=0),
     "graph.linear %linear0: b %const0 must be i32, not tensor<3xi8>"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=[1, 2], shift=0),
     "graph.linear %linear0: mul has 2 per-channel values but the result has 3 channels"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=1 << 31, shift=0),
     "graph.linear %linear0: mul 2147483648 is out of range 0..2^31-1"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=[1, -1, 1], shift=0),
     "graph.linear %linear0: mul -1 is out of range 0..2^31-1"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=1, shift=32),
     "graph.linear %linear0: shift 32 is out of range 0..31"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=1, shift=-1),
     "graph.linear %linear0: shift -1 is out of range 0..31"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=1, shift=0, zp=-129),
     "graph.linear %linear0: zp -129 is out of range -128..127"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=1, shift=0, relu=1),
     "graph.linear: relu must be True or False, not 1"),
    (lambda g, x: g.linear(x, i8(4, 3), None, mul=1.5, shift=0),
     "graph.linear: mul must be an integer, not 1.5"),
    (lambda g, x: g.add(x, g.input("z", (4, 2)), mul=1, shift=0),
     ("graph.add %add0: a %x is tensor<2x4xi8> but b %z is tensor<4x2xi8>: the shapes must be "
     "equal")),
    (lambda g, x: g.relu(x, zp=128), "graph.relu %relu0: zp 128 is out of range -128..127"),
    (lambda g, x: g.maxpool2x2(x), ("graph.maxpool2x2 %pool0: x %x must be an (H, W, C) map or "
                                   "(N, H, W, C) maps, not tensor<2x4xi8>")),
    (lambda g, x: g.maxpool2x2(g.input("i", (4, 3, 2))),
     "graph.maxpool2x2 %pool0: x %i is 4x3: maxpool2x2 needs an even height and width"),
    (lambda g, x: g.conv2d(g.input("i", (4, 4, 2)), i8(3, 3, 3, 1), None, mul=1, shift=0),
     "graph.conv2d %conv0: x %i has C=2 channels but w %w0 (R, S, C, K) has 3"),
    (lambda g, x: g.conv2d(g.input("i", (2, 4, 1)), i8(3, 3, 1, 1), None, mul=1, shift=0),
     "graph.conv2d %conv0: a 3x3 kernel does not fit x %i (2x4) with pad 0"),
    (lambda g, x: g.conv2d(g.input("i", (4, 4, 1)), i8(3, 3, 1, 1), None, pad=-1, mul=1,
                           shift=0),
     "graph.conv2d %conv0: pad must be at least 0, not -1"),
    (lambda g, x: g.conv2d(g.input("i", (4, 4, 1)), i8(3, 3, 1, 1), None),
     "graph.conv2d: mul and shift are required"),
    (lambda g, x: g.reshape(x, (3, 3)),
     "graph.reshape %reshape0: shape [3, 3] has 9 elements but x %x (tensor<2x4xi8>) has 8"),
    (lambda g, x: g.reshape(x, (3, -1)), "graph.reshape: cannot reshape %x (tensor<2x4xi8>)"),
    (lambda g, x: g.reshape(x, (0, 8)), "graph.reshape: bad shape (0, 8)"),
    (lambda g, x: g.input("", (2,)), "graph.input: the name must be a non-empty string"),
    (lambda g, x: g.input("q", (2, 0)), "graph.input 'q': bad shape (2, 0)"),
    (lambda g, x: g.input("q", 5), "graph.input 'q': the shape must be a sequence of integers"),
    (lambda g, x: g.output("y", np.zeros(3)), "graph.output 'y': the value must be a value"),
    (lambda g, x: g.relu(Graph("other").input("x", (2,))), ("graph.relu: x %x is not a value of "
                                                           "graph 'g'")),
    (lambda g, x: g.const(np.zeros(3, np.int16)), ("graph.const: the value must be an int8 or "
                                                  "int32 numpy array, not int16")),
])
def test_errors_name_the_op_and_the_value(build, message):
    g = Graph("g")
    x = g.input("x", (2, 4))
    count = len(g.ops)
    with pytest.raises(IRError) as info:
        build(g, x)
    assert str(info.value).startswith(message), str(info.value)
    # A failed build leaves no half-built op behind (consts made for it may stay).
    assert all(op.NAME in ("graph.const", "graph.input") for op in g.ops[count:])
    g.verify()


def test_graph_name_must_be_given():
    with pytest.raises(IRError, match="non-empty name"):
        Graph("")


def test_consts_are_copied_and_read_only():
    w = i8(4, 3)
    g = Graph("g")
    y = g.matmul(g.input("x", (2, 4)), w)
    w[:] = 0
    value = y.owner.w.owner.attrs["value"]
    assert value.any() and not value.flags.writeable


# --- quantize_multiplier ----------------------------------------------------------------------

def test_quantize_multiplier_examples():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(0.25) == (1 << 30, 1)
    assert quantize_multiplier(0.0) == (0, 0)
    mul, shift = quantize_multiplier(0.003)
    assert 1 << 30 <= mul < 1 << 31 and abs(mul / 2 ** (31 + shift) / 0.003 - 1) < 2 ** -30
    muls, shift = quantize_multiplier(np.array([0.5, 0.25, 1e-5, 0]))
    assert shift == 0 and muls == [1 << 30, 1 << 29, round(1e-5 * 2**31), 0]
    assert quantize_multiplier(2.0 ** -70) == (0, 31)  # below what requant can express


@pytest.mark.parametrize("scale", [1.0, 1.5, -0.1, float("nan"), [0.5, 2.0]])
def test_quantize_multiplier_rejects(scale):
    with pytest.raises(IRError, match="outside \\[0, 1\\)"):
        quantize_multiplier(scale)


@given(st.lists(st.floats(2.0 ** -40, 0.9999999), min_size=1, max_size=8))
def test_quantize_multiplier_common_shift(scales):
    muls, shift = quantize_multiplier(scales)
    assert 0 <= shift <= 31 and len(muls) == len(scales)
    assert all(0 <= m < 1 << 31 for m in muls)
    top = max(scales)
    # The largest scale keeps 31 significant bits (or the shift is at its limit of 31).
    top_mul = muls[scales.index(top)]
    assert top_mul >= 1 << 30 or shift == 31
    for s, m in zip(scales, muls):  # each within half a unit of the last place
        assert abs(m - s * 2.0 ** (31 + shift)) <= 0.5 + 1e-6 * m


@given(st.floats(2.0 ** -20, 0.999), st.integers(-(2**31), 2**31 - 1))
def test_requant_with_quantize_multiplier_is_within_one_of_the_real_product(scale, acc):
    mul, shift = quantize_multiplier(scale)
    got = int(requantize(np.array([acc], np.int32), mul, shift, 0)[0])
    want = min(127, max(-128, acc * scale))
    assert abs(got - want) <= 1
