"""ONNX models to int8 :class:`~conveyor.sw.ir.builder.Graph` s.

::

    model = import_onnx("examples/digits/cnn.onnx", "examples/digits/cnn_calib.npy")
    model.graph                   # a conveyor.sw.ir.builder.Graph: input x (8, 8, 1) ... logits
    q = model.quantize_inputs({"x": image})          # ONNX (1, 1, 8, 8) float -> (8, 8, 1) int8
    logits = model.dequantize_outputs(evaluate(model.graph, q))["logits"]
    model.run({"x": image})       # the same three steps
    check_model("model.onnx")     # every node supported? (needs no calibration data)

One module per step:

- :mod:`~conveyor.sw.frontends.onnx.load`: read and check the file (:func:`load_onnx`); the one
  error type, :class:`OnnxImportError`.
- :mod:`~conveyor.sw.frontends.onnx.lower`: ONNX nodes to the graph level's ops and layouts,
  still in float (:func:`load_float_model`, :func:`check_model`, :data:`SUPPORTED_OPS`).
- :mod:`~conveyor.sw.frontends.onnx.float_model`: that float model (:class:`FloatModel`,
  :class:`FloatOp`, :class:`TensorSpec`), runnable in numpy.
- :mod:`~conveyor.sw.frontends.onnx.int8`: calibrate and quantise it into a Graph
  (:func:`import_onnx`, :class:`ImportedModel`); the arithmetic is
  :mod:`conveyor.sw.frontends.quantize`. A model quantised by onnxruntime (QDQ, QOperator)
  keeps its own integers and scales.
- :mod:`~conveyor.sw.frontends.onnx.oracle`: onnxruntime's bytes for such a model
  (:func:`onnxruntime_outputs`) and Conveyor's agreement with them (:func:`agreement`).
"""

from .float_model import FloatModel, FloatOp, TensorSpec
from .int8 import ImportedModel, import_onnx
from .load import OnnxImportError, load_onnx
from .lower import SUPPORTED_OPS, check_model, load_float_model
from .oracle import Agreement, agreement, onnxruntime_outputs

__all__ = [
    "SUPPORTED_OPS",
    "Agreement",
    "FloatModel",
    "FloatOp",
    "ImportedModel",
    "OnnxImportError",
    "TensorSpec",
    "agreement",
    "check_model",
    "import_onnx",
    "load_float_model",
    "load_onnx",
    "onnxruntime_outputs",
]
