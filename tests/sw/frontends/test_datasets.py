"""The digits data set: the fixed held-out split, pixels in [0, 1], both input layouts."""

import numpy as np

from conveyor.sw.frontends.datasets import digits_data


def test_digits_data_split():
    xt, yt = digits_data("test")
    xr, yr = digits_data("train", "nchw")
    assert xt.shape == (360, 64) and xr.shape == (1437, 1, 8, 8)
    assert xt.dtype == np.float32 and 0 <= xt.min() and xt.max() <= 1
    assert set(yt) == set(range(10)) and len(yr) == 1437
