"""TFLite int8 models to :class:`~conveyor.sw.ir.builder.Graph` s, bit-exact to LiteRT.

::

    model = import_tflite("kws_ref_model.tflite")
    model.graph                              # the layers the core computes
    model.host                               # host steps after them (a final SOFTMAX)
    feeds = model.graph_inputs({"input_1": x})   # (1, 49, 10, 1) int8 -> the graph's (49, 10, 1)
    model.graph_oracle({"input_1": x})       # LiteRT's reference kernels: every output's bytes
    model.oracle({"input_1": x})             # the same, a float output's as LiteRT's float32

A model with float I/O and int8 inside (a float32 input into a QUANTIZE, an output from a
DEQUANTIZE) keeps its float edges on the host: :attr:`TfliteImport.io` says how the host
quantises and dequantises them as LiteRT's reference kernels do, and ``graph_inputs`` takes the
float inputs (:mod:`.edges`).

One module per step: :mod:`.load` reads the flatbuffer (:func:`load_tflite`, the one error type
:class:`TfliteImportError`), :mod:`.edges` cuts off the float edges, :mod:`.lower` maps
operators to graph ops with TFLite's own quantisation arithmetic (:data:`SUPPORTED_OPS`),
:mod:`.oracle` runs LiteRT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ....errors import ConveyorError
from ...ir.builder import Graph
from ..onnx.float_model import TensorSpec
from ..quantize import dequantize
from .edges import cut_float_edges
from .load import TfliteImportError, TfliteModel, load_tflite
from .lower import SUPPORTED_OPS, lower_tflite
from .oracle import litert_reference

__all__ = ["SUPPORTED_OPS", "TfliteImport", "TfliteImportError", "import_tflite",
           "load_tflite"]

#: Ops the host finishes a model with when they end it.
_HOST_TAIL = ("SOFTMAX",)


@dataclass
class TfliteImport:
    """An imported model: the graph the core computes, the host steps after it, and the float
    edges the host crosses before and after (``float_inputs``, ``float_outputs``; none for an
    int8 model). ``litert_names``: graph name -> LiteRT's name of that tensor, where the graph
    names an edge's int8 tensor as the model's float one."""

    path: str
    model: TfliteModel
    graph: Graph
    host: list[dict]
    float_inputs: list[TensorSpec] = field(default_factory=list)
    float_outputs: list[TensorSpec] = field(default_factory=list)
    litert_names: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, tuple[int, ...]]:
        """Input tensor name -> the model's own shape."""
        return {self.model.tensors[i].name: self.model.tensors[i].shape
                for i in self.model.inputs}

    @property
    def io(self) -> dict:
        """The float edges as :attr:`conveyor.sw.compiler.Compiled.io` records them:
        ``{"inputs"|"outputs": {name: TensorSpec json}}`` (empty for an int8 model)."""
        io = {}
        for side, specs in (("inputs", self.float_inputs), ("outputs", self.float_outputs)):
            if specs:
                io[side] = {s.name: s.to_json() for s in specs}
        return io

    def graph_inputs(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's inputs (its shapes, int8; a float input in float, quantised here as
        LiteRT's QUANTIZE does, or in int8, quantised already) as the graph takes them."""
        specs = {s.name: s for s in self.float_inputs}
        feeds = {}
        for op in self.graph.ops:
            if op.NAME == "graph.input":
                name, value = op.attrs["name"], np.asarray(values[op.attrs["name"]])
                if name in specs and value.dtype.kind == "f":
                    feeds[name] = specs[name].to_graph(value.reshape(specs[name].onnx_shape))
                else:
                    feeds[name] = np.asarray(value, np.int8).reshape(op.result.type.shape)
        return feeds

    def graph_oracle(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """LiteRT's reference bytes of every output of the compiled model (the graph's, in its
        shapes, and the host steps'), for the model's inputs (a float one in float32 or, already
        quantised, in int8): for a float output, the int8 tensor its DEQUANTIZE takes."""
        return self._litert(values)[0]

    def oracle(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:meth:`graph_oracle`, a float output (a DEQUANTIZE's) replaced by LiteRT's float32
        in the model's own shape: the outputs as the model gives them."""
        ints, floats = self._litert(values)
        return {**ints, **floats}

    def _litert(self, values: dict[str, np.ndarray]) -> tuple[dict, dict]:
        """One LiteRT run: the int8 outputs (graph shapes) and the float ones (model shapes)."""
        shapes = {op.attrs["name"]: tuple(op.value.type.shape) for op in self.graph.ops
                  if op.NAME == "graph.output"}
        for step in self.host:
            shapes[step["output"]] = shapes[step["input"]]
        floats = [s.name for s in self.float_outputs]
        litert = {n: self.litert_names.get(n, n) for n in shapes}
        specs = {s.name: s for s in self.float_inputs}
        feeds = {}
        for name, shape in self.inputs.items():
            value = np.asarray(values[name])
            if name in specs:  # float32, or int8 dequantised (which LiteRT quantises back)
                spec = specs[name]
                value = (value.astype(np.float32) if value.dtype.kind == "f" else
                         dequantize(value, spec.scale, spec.zp))
            feeds[name] = value.reshape(shape)
        got = litert_reference(self.path, feeds, list(litert.values()) + floats)
        ints = {n: got[litert[n]].reshape(shape) for n, shape in shapes.items()}
        return ints, {n: got[n] for n in floats}


def import_tflite(path: str | Path) -> TfliteImport:
    """Read and lower a TFLite int8 model, with float edges if it has them (one line of
    TfliteImportError if it cannot)."""
    path = str(path)
    loaded = load_tflite(path)
    try:
        edges = cut_float_edges(loaded)
        model = edges.core
        ops, tail = list(model.ops), []
        while ops and ops[-1].name in _HOST_TAIL and ops[-1].outputs[0] in model.outputs:
            tail.insert(0, ops.pop())
        made = {op.outputs[0] for op in tail}
        core_outputs = [i for i in model.outputs if i not in made]
        core_outputs += [op.inputs[0] for op in tail if op.inputs[0] not in made]
        core = TfliteModel(path, model.tensors, ops, model.inputs, core_outputs)
        host = [_host_step(model, op) for op in tail]
        graph = lower_tflite(core, Path(path).stem)
    except ConveyorError:
        raise
    except Exception as e:  # noqa: BLE001 - options tables are read lazily from the buffer
        raise TfliteImportError(f"{path}: corrupt TFLite model ({type(e).__name__}: "
                                f"{e})") from None
    return TfliteImport(path, loaded, graph, host, edges.inputs, edges.outputs,
                        edges.litert_names)


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
