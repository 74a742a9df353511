"""Quantise the two digits models with onnxruntime, as a user arriving with an onnxruntime
model would have, and measure Conveyor's agreement with onnxruntime on them.

    python examples/digits/quantize_ort.py          # writes {mlp,cnn}_{qdq,qop}.onnx, prints

``quantize_static`` with its defaults but per-channel weights: int8 activations with zero
points (asymmetric, MinMax calibration on ``*_calib.npy``), int8 weights with a scale per
output channel, int32 biases. ``*_qdq.onnx`` holds QuantizeLinear/DequantizeLinear pairs around
float ops; ``*_qop.onnx`` onnxruntime's own integer ops (QGemm, QLinearConv). The table printed
(the one in README.md) counts the output bytes on the 360 held-out images that equal
onnxruntime's (:func:`conveyor.sw.frontends.onnx.agreement`) and the int8 accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = ("mlp", "cnn")
FORMATS = ("qdq", "qop")


def quantize(model: str, fmt: str, out: Path) -> Path:
    """onnxruntime's ``quantize_static`` of ``model`` ("mlp" or "cnn") in ``fmt`` ("qdq" or
    "qop") to ``out``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    calib = np.load(HERE / f"{model}_calib.npy").astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(calib[i:i + 1] for i in range(len(calib)))

        def get_next(self):
            x = next(self.samples, None)
            return None if x is None else {"x": x}

    quantize_static(str(HERE / f"{model}.onnx"), str(out), Reader(),
                    quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True)
    return out


def measure(path: Path, model: str) -> tuple:
    """(agreement with onnxruntime, int8 accuracy) on the held-out images."""
    from conveyor.sw.frontends.datasets import digits_data
    from conveyor.sw.frontends.onnx import Agreement, agreement, import_onnx
    from conveyor.sw.ir.reference import evaluate

    imported = import_onnx(path)
    x, y = digits_data("test", "flat" if model == "mlp" else "nchw")
    total, correct = Agreement(), 0
    for i in range(len(x)):
        feed = {"x": x[i:i + 1]}
        out = evaluate(imported.graph, imported.quantize_inputs(feed))
        total = total.add(agreement(imported, path, feed, out))
        correct += int(out["logits"].reshape(-1).argmax() == y[i])
    return total, correct, len(x)


def main() -> None:
    print("| model | format | bytes equal to onnxruntime | largest difference | int8 accuracy |")
    print("|---|---|---|---|---|")
    for model in MODELS:
        for fmt in FORMATS:
            path = quantize(model, fmt, HERE / f"{model}_{fmt}.onnx")
            a, correct, n = measure(path, model)
            print(f"| {model.upper()} | {fmt.upper()} | {a.equal:,} of {a.total:,} "
                  f"({a.percent:.2f} %) | {a.max_lsb} LSB | {100 * correct / n:.2f} % "
                  f"({correct}) |")


if __name__ == "__main__":
    main()
