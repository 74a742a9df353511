"""Calibration files: a .npy for a model with one input, a .npz with an array per input name;
anything else is one line naming the file."""

import numpy as np
import pytest

from conveyor.sw.frontends.calibration import CalibrationError, load_calibration


def test_npy_for_one_input_npz_by_name(tmp_path):
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    np.save(tmp_path / "one.npy", x)
    got = load_calibration(tmp_path / "one.npy", ["x"])
    assert list(got) == ["x"] and got["x"].dtype == np.float32
    np.testing.assert_array_equal(got["x"], x)
    np.savez(tmp_path / "two.npz", b=x[:2], a=x, extra=x)
    got = load_calibration(tmp_path / "two.npz", ["a", "b"])
    assert list(got) == ["a", "b"] and got["b"].shape == (2, 4)


@pytest.mark.parametrize("file, samples, names, words", [
    ("one.npy", 2, ["a", "b"], ["one.npy", "2 inputs", ".npz"]),
    ("x.npz", 2, ["a"], ["x.npz", "no array for input 'a'", "arr_0"]),
    ("empty.npz", 0, ["arr_0"], ["empty.npz", "'arr_0'", "non-empty"]),
])
def test_errors_are_one_line_naming_the_file(tmp_path, file, samples, names, words):
    save = np.save if file.endswith(".npy") else np.savez
    save(tmp_path / file, np.zeros((samples, 4), np.float32))
    with pytest.raises(CalibrationError) as e:
        load_calibration(tmp_path / file, names)
    text = str(e.value)
    assert "\n" not in text and all(w in text for w in words), text
