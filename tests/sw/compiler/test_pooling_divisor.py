"""The requant that divides a pool's sum by its window size rounds exactly as TFLite's average
pool, ``(sum +- count/2) / count`` with C's truncating division, on every possible sum."""

import numpy as np
import pytest

from conveyor.hw.machine.semantics import requantize
from conveyor.sw.compiler.lower import exact_divisor


def tflite_average(total: int, count: int) -> int:
    """reference_integer_ops::AveragePool's rounding, written from its C."""
    rounded = total + count // 2 if total > 0 else total - count // 2
    q = abs(rounded) // count
    return max(-128, min(127, q if rounded >= 0 else -q))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 9, 16, 25, 49, 64, 100, 121, 125, 196])
def test_every_sum_divides_as_tflite(count):
    mul, shift = exact_divisor(count)
    sums = list(range(-128 * count, 127 * count + 1))
    got = requantize(np.array(sums, np.int32), mul, shift, 0).tolist()
    assert got == [tflite_average(s, count) for s in sums]
