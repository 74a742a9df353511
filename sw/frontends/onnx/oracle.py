"""onnxruntime as the oracle of a quantised ONNX model (QDQ or QOperator): its output bytes
for an input, and how many of Conveyor's bytes equal them.

onnxruntime runs the file as ONNX defines it, with its graph optimisations off
(``ORT_DISABLE_ALL``): a QDQ model is then DequantizeLinear, the float op and QuantizeLinear,
and a QOperator model its QLinear kernels. With the optimisations on, onnxruntime fuses QDQ into
QGemm/QLinearConv on uint8 activations, whose u8 x s8 kernel on an x86 CPU without VNNI sums
pairs of products in saturating 16 bits (onnxruntime's ``reduce_range`` advice for such CPUs);
on the digits models that moves outputs by up to 10 LSB, so it is not a definition to test
against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .int8 import ImportedModel
from .load import OnnxImportError

__all__ = ["Agreement", "agreement", "onnxruntime_outputs"]


def onnxruntime_outputs(path: str | Path, feeds: Mapping[str, np.ndarray]
                        ) -> dict[str, np.ndarray]:
    """Run the ONNX file at ``path`` on ``feeds`` (input name -> array in the model's ONNX
    shape and type) with onnxruntime's CPU kernels, graph optimisations off."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxImportError("the onnxruntime oracle needs onnxruntime "
                              "(pip install onnxruntime)") from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3  # its warnings about unused initialisers are noise here
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, dict(feeds))))


@dataclass
class Agreement:
    """Output bytes of Conveyor's int8 graph against onnxruntime's: ``equal`` of ``total``,
    and the largest difference in LSB."""

    equal: int = 0
    total: int = 0
    max_lsb: int = 0

    @property
    def percent(self) -> float:
        return 100.0 * self.equal / self.total if self.total else 100.0

    def add(self, other: Agreement) -> Agreement:
        return Agreement(self.equal + other.equal, self.total + other.total,
                         max(self.max_lsb, other.max_lsb))


def agreement(model: ImportedModel, path: str | Path, feeds: Mapping[str, np.ndarray],
              graph_outputs: Mapping[str, np.ndarray] | None = None) -> Agreement:
    """Compare ``model`` (imported from ``path``) with onnxruntime on ``feeds`` (ONNX
    layouts, the graph's batch). onnxruntime's float outputs are its bytes dequantised, so
    they are quantised back with the output's scale and zero point. ``graph_outputs`` are the
    int8 graph outputs if already computed (on the golden model, say), else the graph's
    reference evaluation gives them."""
    if graph_outputs is None:
        graph_outputs = model.evaluate(model.quantize_inputs(feeds))
    theirs = onnxruntime_outputs(path, {s.name: np.asarray(feeds[s.name], np.float32)
                                        for s in model.inputs})
    total = Agreement()
    for spec in model.outputs:
        want = np.rint(spec.to_internal(np.asarray(theirs[spec.name], np.float64)) / spec.scale
                       ) + spec.zp
        got = np.asarray(graph_outputs[spec.name], np.int64).reshape(want.shape)
        diff = np.abs(got - want)
        total = total.add(Agreement(int((diff == 0).sum()), int(diff.size),
                                    int(diff.max(initial=0))))
    return total
