"""Shared test settings: hypothesis without wall-clock deadlines (CI machines are slow and
shared), derandomised under CI so a red run can be reproduced exactly."""

import os

import numpy as np
import pytest
from example_configs import EXAMPLES, example_configs
from hypothesis import HealthCheck, settings

settings.register_profile(
    "conveyor", deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("conveyor")


# --- examples and the configs they run on -----------------------------------------------------

def pytest_generate_tests(metafunc):
    """A test that takes ``example`` and ``example_config`` runs once per example and config."""
    if {"example", "example_config"} <= set(metafunc.fixturenames):
        cases = [(p, c) for p in sorted(EXAMPLES.glob("*.s")) for c in example_configs(p)]
        metafunc.parametrize("example, example_config", cases,
                             ids=[f"{p.stem}-{c}" for p, c in cases])


# --- a compiled network with every layer kind ----------------------------------------------------

def _network(rng):
    """conv -> relu (separate, not fused: zp differs) -> maxpool -> flatten -> linear, and an
    add of two linears: every element-wise chain."""
    from conveyor.sw.ir.builder import Graph

    g = Graph("net")
    x = g.input("x", (6, 6, 3))
    c = g.conv2d(x, rng.integers(-128, 128, (3, 3, 3, 5), dtype=np.int8),
                 rng.integers(-9000, 9000, 5, dtype=np.int32), stride=1, pad=1,
                 mul=[1 << 29, 1 << 30, 3 << 28, 1 << 28, 5 << 27], shift=4, zp=-3)
    r = g.relu(c, zp=2)
    p = g.maxpool2x2(r)
    f = g.flatten(p)
    w1 = rng.integers(-128, 128, (45, 7), dtype=np.int8)
    w2 = rng.integers(-128, 128, (45, 7), dtype=np.int8)
    a = g.linear(f, w1, None, mul=1 << 30, shift=6, zp=0)
    b = g.linear(f, w2, rng.integers(-500, 500, 7, dtype=np.int32), mul=1 << 30, shift=6,
                 zp=1, relu=True)
    g.output("y", g.add(a, b, mul=1 << 30, shift=0, zp=-1, relu=False))
    g.output("pooled", p)
    return g, {"x": rng.integers(-128, 128, (6, 6, 3), dtype=np.int8)}



def _tflite_network(rng):
    """The ops quantised (TFLite, onnxruntime) models need: a convolution with per-channel
    multipliers *and* shifts, asymmetric padding with a non-zero pad value; a depthwise
    convolution; TFLite's ADD with its own input scales; an average pool (window 3x2, not a
    power of two); a linear rounded once with per-channel multipliers (requant.s.v)."""
    from conveyor.sw.ir.builder import Graph

    g = Graph("tfl")
    x = g.input("x", (7, 6, 3))
    c = g.conv2d(x, rng.integers(-128, 128, (3, 3, 3, 20), dtype=np.int8),
                 rng.integers(-9000, 9000, 20, dtype=np.int32), stride=2, pad=[0, 1, 1, 1],
                 pad_value=-128, mul=rng.integers(1 << 30, 1 << 31, 20).tolist(),
                 shift=rng.integers(7, 11, 20).tolist(), zp=-20, relu=True)
    d = g.depthwise_conv2d(c, rng.integers(-128, 128, (3, 3, 20), dtype=np.int8),
                           rng.integers(-900, 900, 20, dtype=np.int32), stride=1, pad=1,
                           pad_value=-20, mul=rng.integers(1 << 30, 1 << 31, 20).tolist(),
                           shift=rng.integers(6, 10, 20).tolist(), zp=3)
    s = g.qadd(c, d, a_zp=-20, a_mul=1 << 30, a_shift=1, b_zp=3, b_mul=1518500250, b_shift=2,
               left_shift=20, mul=1431655765, shift=19, zp=-7, relu=False)
    p = g.avgpool(s, (3, 2), (1, 2))
    f = g.flatten(p)
    g.output("y", g.linear(f, rng.integers(-128, 128, (f.type.shape[1], 10), dtype=np.int8),
                           None, mul=rng.integers(1 << 29, 1 << 31, 10).tolist(), shift=8,
                           zp=5, rounding="single"))
    g.output("pool", p)
    return g, {"x": rng.integers(-128, 128, (7, 6, 3), dtype=np.int8)}


@pytest.fixture
def tflite_layer_network():
    """(graph, inputs) of a small network of the ops TFLite int8 models need."""
    return _tflite_network(np.random.default_rng(1))


@pytest.fixture
def every_layer_network():
    """(graph, inputs) of a small network using every graph op the compiler lowers."""
    return _network(np.random.default_rng(0))
