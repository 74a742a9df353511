"""Data sets the examples train, calibrate and measure on; bundled with their libraries, so
nothing is downloaded."""

from __future__ import annotations

import numpy as np

__all__ = ["HOLDOUT_EVERY", "digits_data"]

#: Every HOLDOUT_EVERY-th sample of scikit-learn's digits (index % 5 == 0) is held out: 360 of
#: 1797, the same split in training, calibration and every accuracy figure.
HOLDOUT_EVERY = 5


def digits_data(split: str = "test", layout: str = "flat") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (no download): ``(images, labels)``.

    ``split`` is ``"test"`` (the fixed held-out 360 samples, index % 5 == 0) or ``"train"``
    (the other 1437). Pixels (0..16) are scaled to float32 in [0, 1]. ``layout`` is the model's
    input layout: ``"flat"`` (n, 64) for the MLP, ``"nchw"`` (n, 1, 8, 8) for the CNN. Labels
    are int64 0..9.
    """
    from sklearn.datasets import load_digits

    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', not {split!r}")
    shapes = {"flat": (-1, 64), "nchw": (-1, 1, 8, 8)}
    if layout not in shapes:
        raise ValueError(f"layout must be one of {', '.join(shapes)}, not {layout!r}")
    digits = load_digits()
    held = np.arange(len(digits.target)) % HOLDOUT_EVERY == 0
    keep = held if split == "test" else ~held
    x = (digits.data[keep] / 16.0).astype(np.float32).reshape(shapes[layout])
    return x, digits.target[keep].astype(np.int64)
