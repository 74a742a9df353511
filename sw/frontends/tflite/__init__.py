"""TFLite int8 models to :class:`~conveyor.sw.ir.builder.Graph` s, bit-exact to LiteRT.

::

    model = import_tflite("kws_ref_model.tflite")
    model.graph                              # the layers the core computes
    model.host                               # host steps after them (a final SOFTMAX)
    feeds = model.graph_inputs({"input_1": x})   # (1, 49, 10, 1) int8 -> the graph's (49, 10, 1)
    model.oracle({"input_1": x})             # LiteRT's reference kernels: every output's bytes

One module per step: :mod:`.load` reads the flatbuffer (:func:`load_tflite`, the one error type
:class:`TfliteImportError`), :mod:`.lower` maps operators to graph ops with TFLite's own
quantisation arithmetic (:data:`SUPPORTED_OPS`), :mod:`.oracle` runs LiteRT.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ....errors import ConveyorError
from ...ir.builder import Graph
from .load import TfliteImportError, TfliteModel, load_tflite
from .lower import SUPPORTED_OPS, lower_tflite
from .oracle import litert_reference

__all__ = ["SUPPORTED_OPS", "TfliteImport", "TfliteImportError", "import_tflite",
           "load_tflite"]

#: Ops the host finishes a model with when they end it.
_HOST_TAIL = ("SOFTMAX",)


@dataclass
class TfliteImport:
    """An imported model: the graph the core computes and the host steps after it."""

    path: str
    model: TfliteModel
    graph: Graph
    host: list[dict]

    @property
    def inputs(self) -> dict[str, tuple[int, ...]]:
        """Input tensor name -> the model's own shape."""
        return {self.model.tensors[i].name: self.model.tensors[i].shape
                for i in self.model.inputs}

    def graph_inputs(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's inputs (its shapes, int8) as the graph takes them."""
        feeds = {}
        for op in self.graph.ops:
            if op.NAME == "graph.input":
                name = op.attrs["name"]
                feeds[name] = np.asarray(values[name], np.int8).reshape(op.result.type.shape)
        return feeds

    def oracle(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """LiteRT's reference bytes of every output of the compiled model (the graph's, in its
        shapes, and the host steps')."""
        shapes = {op.attrs["name"]: tuple(op.value.type.shape) for op in self.graph.ops
                  if op.NAME == "graph.output"}
        names = list(shapes) + [s["output"] for s in self.host]
        got = litert_reference(self.path, {n: np.asarray(values[n]).reshape(s)
                                           for n, s in self.inputs.items()}, names)
        for step in self.host:
            shapes[step["output"]] = shapes[step["input"]]
        return {n: v.reshape(shapes[n]) for n, v in got.items()}


def import_tflite(path: str | Path) -> TfliteImport:
    """Read and lower a TFLite int8 model (one line of TfliteImportError if it cannot)."""
    path = str(path)
    model = load_tflite(path)
    ops, tail = list(model.ops), []
    while ops and ops[-1].name in _HOST_TAIL and ops[-1].outputs[0] in model.outputs:
        tail.insert(0, ops.pop())
    made = {op.outputs[0] for op in tail}
    core_outputs = [i for i in model.outputs if i not in made]
    core_outputs += [op.inputs[0] for op in tail if op.inputs[0] not in made]
    core = TfliteModel(path, model.tensors, ops, model.inputs, core_outputs)
    try:
        host = [_host_step(model, op) for op in tail]
        graph = lower_tflite(core, Path(path).stem)
    except ConveyorError:
        raise
    except Exception as e:  # noqa: BLE001 - options tables are read lazily from the buffer
        raise TfliteImportError(f"{path}: corrupt TFLite model ({type(e).__name__}: "
                                f"{e})") from None
    return TfliteImport(path, model, graph, host)


def _host_step(model: TfliteModel, op) -> dict:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if x.dtype is not np.int8 or y.dtype is not np.int8 or x.scale is None or y.scale is None:
        raise TfliteImportError(f"{model.path}: operator {op.index} (SOFTMAX): only int8 "
                                f"softmax is supported")
    if y.zp != -128 or abs(float(y.scale[0]) - 1 / 256) > 1e-8:
        raise TfliteImportError(f"{model.path}: operator {op.index} (SOFTMAX): the output "
                                f"must have scale 1/256 and zero point -128")
    return {"op": "softmax", "input": x.name, "output": y.name,
            "input_scale": float(x.scale[0]), "beta": float(op.options.Beta())}
