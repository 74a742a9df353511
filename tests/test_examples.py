"""Every example computes what its comment says, checked against numpy on the golden model.

The same programs run on the RTL in tests/sim/test_examples_rtl.py.
"""

from pathlib import Path

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sim.golden import run
from conveyor.sw.asm import assemble_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def requant(x, mul, shift, zp):
    """gemmlowp MultiplyByQuantizedMultiplier + zero point + saturation, in Python integers."""
    out = []
    for v in x.ravel().tolist():
        prod = v * mul
        nudge = (1 << 30) if prod >= 0 else 1 - (1 << 30)
        n = prod + nudge
        high = n // (1 << 31) if n >= 0 else -((-n) // (1 << 31))  # C division truncates
        mask = (1 << shift) - 1
        threshold = (mask >> 1) + (1 if high < 0 else 0)
        q = (high >> shift) + (1 if (high & mask) > threshold else 0)
        out.append(min(127, max(-128, q + zp)))
    return np.array(out, np.int64).reshape(x.shape)


def outcome(name, config):
    program = assemble_file(EXAMPLES / name, config)
    return program.initial_mem(), run(program).mem


@pytest.mark.parametrize("config", [PRESETS["tiny"], PRESETS["small16"]], ids=lambda c: c.name)
def test_vector_add(config):
    before, after = outcome("vector_add.s", config)
    expect = (before["mem0"][:8].astype(np.int16) + before["mem5"][:8]).astype(np.int8)
    np.testing.assert_array_equal(after["mem4"][:8], expect)
    assert not after["mem4"][8:].any()


@pytest.mark.parametrize("config", [PRESETS["tiny"], PRESETS["small16"]], ids=lambda c: c.name)
def test_requant(config):
    before, after = outcome("requant.s", config)
    planes = [before[f"mem{k}"][:16].astype(np.uint8).astype(np.int64) for k in range(4)]
    x = sum(p << (8 * k) for k, p in enumerate(planes))
    x = np.where(x >= 1 << 31, x - (1 << 32), x)
    expect = requant(x, 1518500250, 7, -3)
    np.testing.assert_array_equal(after["mem3"][64:80], expect)
    np.testing.assert_array_equal(after["mem2"][64:80], np.maximum(expect, -3))
    assert (expect == 127).any() and (expect == -128).any()  # the data reaches saturation


@pytest.mark.parametrize("config", [PRESETS["tiny"], PRESETS["small16"]], ids=lambda c: c.name)
def test_loop64(config):
    before, after = outcome("loop64.s", config)
    x, z = before["mem0"][:64], before["mem5"][:64]
    expect = (np.maximum(x, z).astype(np.int16) - 1).astype(np.int8)
    np.testing.assert_array_equal(after["mem4"][:64], expect)


def int32_planes(mem, slices, addr, count):
    """int32 words stored as byte planes, byte k in ``slices[k]``."""
    planes = [mem[s][addr:addr + count].astype(np.uint8).astype(np.uint32) for s in slices]
    return sum(p << (8 * k) for k, p in enumerate(planes)).astype(np.int32)


def test_matmul_is_bit_exact_against_numpy():
    config = PRESETS["small16"]
    program = assemble_file(EXAMPLES / "matmul.s", config)
    before = program.initial_mem()
    result = run(program)
    # mem0 word 64 kt + m = A[m, 16kt:16kt+16]; mem7 word 16 (4 nt + kt) + r = B[16kt + r, 16nt:]
    a = before["mem0"][:256].reshape(4, 64, 16).transpose(1, 0, 2).reshape(64, 64)
    b = before["mem7"][:256].reshape(4, 4, 16, 16).transpose(1, 2, 0, 3).reshape(64, 64)
    expect = a.astype(np.int64) @ b.astype(np.int64)
    got = int32_planes(result.mem, ["mem4", "mem5", "mem6", "mem7"], 256, 256)
    got = got.reshape(4, 64, 16).transpose(1, 0, 2).reshape(64, 64)
    np.testing.assert_array_equal(got, expect)
    assert np.abs(expect).max() > 1 << 16  # the sums need more than 16 bits
    assert result.cycles == 1055
    assert result.issued["mxm0.mm"] == 1024


def test_transpose_permute_rotate_against_numpy():
    before, after = outcome("transpose.s", PRESETS["small16"])
    x = before["mem0"][:16]
    np.testing.assert_array_equal(after["mem7"][16:32], x.T)
    np.testing.assert_array_equal(after["mem6"][32:48], x[:, ::-1])
    np.testing.assert_array_equal(after["mem5"][48:64], np.roll(x, 3, axis=1))
