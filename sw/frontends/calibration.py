"""Calibration data: the sample inputs whose ranges set a float model's int8 activation scales.

A calibration file is a ``.npy`` array (a model with one input) or a ``.npz`` with one array per
input name, each a batch of samples in the ONNX model's own input layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import ConveyorError

__all__ = ["CalibrationError", "load_calibration"]


class CalibrationError(ConveyorError):
    """Calibration data that cannot be read or does not fit the model's inputs."""


def load_calibration(path: str | Path, input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Calibration inputs from ``path``: a ``.npy`` array (a model with one input) or a ``.npz``
    with one array per input name. Each array is a batch of samples in the ONNX model's own
    input layout (the leading axis runs over samples). Raises :class:`CalibrationError`."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                arrays = {k: loaded[k] for k in loaded.files}
                loaded.close()
            else:
                arrays = None
    except OSError as e:
        raise CalibrationError(f"{path}: cannot read ({e.strerror or e})") from None
    except (ValueError, EOFError) as e:
        raise CalibrationError(f"{path}: not a .npy or .npz file ({e})") from None
    if arrays is None:
        if len(input_names) != 1:
            raise CalibrationError(f"{path}: the model has {len(input_names)} inputs "
                                   f"({', '.join(input_names)}); give a .npz with one array each")
        arrays = {input_names[0]: loaded}
    missing = [n for n in input_names if n not in arrays]
    if missing:
        raise CalibrationError(f"{path}: no array for input {missing[0]!r} (it holds "
                               f"{', '.join(sorted(arrays)) or 'nothing'})")
    out = {}
    for name in input_names:
        a = arrays[name]
        if a.dtype.kind not in "fiu" or a.ndim == 0 or a.shape[0] == 0:
            raise CalibrationError(f"{path}: input {name!r} needs a non-empty numeric batch, "
                                   f"not {a.dtype} {a.shape}")
        out[name] = a.astype(np.float32)
    return out


