"""The float model to an int8 :class:`~conveyor.sw.ir.builder.Graph`: calibration, one scale
per group of tensors that must share it, and quantised weights, biases and requant multipliers.

:func:`import_onnx` lowers an ONNX model with
:func:`~conveyor.sw.frontends.onnx.lower.load_float_model` unless it is given a
:class:`~conveyor.sw.frontends.onnx.float_model.FloatModel`, runs that on the calibration inputs
for each tensor's range and builds the graph with the scheme of
:mod:`conveyor.sw.frontends.quantize`. The :class:`ImportedModel` it returns converts inputs and
outputs between ONNX's float layouts and the graph's int8 ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..calibration import load_calibration
from ..quantize import (
    activation_scale,
    add_rescale,
    bias_min_weight_scale,
    calibration_amax,
    function_table,
    leaky_fit,
    quantize_bias,
    quantize_weights,
)
from .float_model import TABLE_FUNCTIONS, TABLE_OUTPUT, FloatModel, FloatOp, TensorSpec
from .load import OnnxImportError
from .lower import load_float_model

if TYPE_CHECKING:
    from onnx import ModelProto

__all__ = ["ImportedModel", "import_onnx"]

#: requant cannot multiply up: every real multiplier is kept at most this.
_MAX_MULTIPLIER = 1.0 - 2.0 ** -20


@dataclass
class ImportedModel:
    """A quantised model: the graph and how to feed it and read it.

    Members
    -------
    graph : the :class:`~conveyor.sw.ir.builder.Graph`.
    float_model : the :class:`FloatModel` it was quantised from.
    inputs, outputs : :class:`TensorSpec` per input and output, with their scales.
    scales : ``tensor -> (scale, zp)`` of every int8 tensor of the float model.
    host : host steps after the graph (a final Softmax), as
        :func:`conveyor.sw.compiler.host.apply_host_steps` takes them.
    """

    graph: object
    float_model: FloatModel
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    scales: dict[str, tuple[float, int]]
    host: list[dict] = field(default_factory=list)

    def quantize_inputs(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float inputs in ONNX layout (the graph's batch) -> the graph's int8 inputs."""
        return {s.name: s.to_graph(feeds[s.name]) for s in self.inputs}

    def dequantize_outputs(self, results: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's int8 outputs -> float in ONNX layout."""
        return {s.name: s.from_graph(results[s.name]) for s in self.outputs}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Quantise ``feeds``, run the graph with :func:`conveyor.sw.ir.reference.evaluate`,
        dequantise the outputs."""
        return self.dequantize_outputs(self.evaluate(self.quantize_inputs(feeds)))

    def evaluate(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The int8 outputs for the graph's int8 ``inputs``: the graph's reference evaluation,
        then the host steps."""
        from ...compiler.host import apply_host_steps
        from ...ir.reference import evaluate

        return apply_host_steps(self.host, evaluate(self.graph, dict(inputs)))


class _Groups:
    """Union-find over tensors that must share one int8 scale."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def import_onnx(model: str | Path | ModelProto | FloatModel,
                calibration: str | Path | Mapping[str, np.ndarray] | np.ndarray | None = None,
                *, batch: int = 1, percentile: float | None = None) -> ImportedModel:
    """Read an ONNX model and quantise it into a :class:`~conveyor.sw.ir.builder.Graph`.

    Parameters
    ----------
    model : a path, an ``onnx.ModelProto`` or a :class:`FloatModel`.
    calibration : calibration inputs, each a batch of samples in the model's ONNX input layout:
        a path to a ``.npy`` (one input) or ``.npz`` (an array per input name), a mapping
        name -> array, or one array. Needed unless the model is quantised (QDQ) throughout.
    batch : the graph's batch for a symbolic batch dimension.
    percentile : None for max-abs calibration, else the percentile of ``|x|`` that becomes an
        activation's int8 range (see :mod:`conveyor.sw.frontends.quantize`).

    Tensors that must share a scale (the two inputs of an Add; the input and output of Relu,
    MaxPool and Reshape) get one scale: the largest range among them, or the scale the model
    fixed with QDQ. An output scale that would make a requant multiplier reach 1 is raised.
    """
    from ...ir.builder import Graph, quantize_multiplier

    fm = model if isinstance(model, FloatModel) else load_float_model(model, batch=batch)
    src = fm.source

    # Which tensors share a scale.
    groups = _Groups()
    for spec in fm.inputs:
        groups.find(spec.name)
    for op in fm.ops:
        groups.find(op.output)
        if op.kind in ("relu", "maxpool", "avgpool", "reshape"):
            groups.union(op.output, op.inputs[0])
        elif op.kind == "add":
            groups.union(op.inputs[0], op.inputs[1])
    members: dict[str, list[str]] = {}
    for t in groups.parent:
        members.setdefault(groups.find(t), []).append(t)

    # Fixed scales (QDQ), then calibrated ranges for the rest.
    scale: dict[str, float] = {}
    zero: dict[str, int] = {}
    pinned: set[str] = set()
    for root, names in members.items():
        pins = [(t, fm.pins[t]) for t in names if t in fm.pins]
        zero[root] = 0
        if pins:
            (t0, (s0, z0)) = pins[0]
            for t, (s, z) in pins[1:]:
                if not math.isclose(s, s0, rel_tol=1e-6) or z != z0:
                    raise OnnxImportError(f"{src}: tensors {t0!r} and {t!r} must share one scale "
                                          f"(an Add's inputs, or a Relu/MaxPool/Reshape's input "
                                          f"and output) but are quantised with ({s0}, {z0}) and "
                                          f"({s}, {z})")
            scale[root], zero[root] = s0, z0
            pinned.add(root)
    if len(pinned) < len(members):
        feeds = _calibration_feeds(fm, calibration)
        env = fm.run(feeds, all_tensors=True)
        for root, names in members.items():
            if root not in pinned:
                amax = max(calibration_amax(env[t], percentile) for t in names)
                scale[root] = activation_scale(amax)

    for op in fm.ops:
        root = groups.find(op.output)
        if op.clip is not None and root not in pinned:
            # a fused Clip(0, max): int8's top is max, so saturation clips
            scale[root] = op.clip / 127
        elif op.kind == "softmax" and root not in pinned:  # TFLite's int8 softmax output
            scale[root], zero[root] = 1 / 256, -128
        elif op.kind == "table" and root not in pinned:  # the function's own range
            scale[root], zero[root] = TABLE_OUTPUT[op.fn]

    def s_of(t: str) -> float:
        return scale[groups.find(t)]

    def z_of(t: str) -> int:
        return zero[groups.find(t)]

    # Weight quantisation, then output scales raised until every multiplier is below 1.
    wq: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def in_scale(i: int, op: FloatOp) -> float:
        if op.kind == "mul":  # the product's scale
            return s_of(op.inputs[0]) * s_of(op.inputs[1])
        return float(np.max(s_of(op.inputs[0]) * wq[i][1])) if i in wq else s_of(op.inputs[0])

    for _ in range(len(fm.ops) + 1):
        for i, op in enumerate(fm.ops):
            if op.kind in ("linear", "conv2d", "dwconv"):
                wq[i] = op.wq if op.wq is not None else quantize_weights(
                    op.w, axis=-1, min_scale=bias_min_weight_scale(op.b, s_of(op.inputs[0])))
        changed = False
        for i, op in enumerate(fm.ops):
            if op.kind not in ("linear", "conv2d", "dwconv", "add", "mul"):
                continue
            need = in_scale(i, op) / _MAX_MULTIPLIER
            root = groups.find(op.output)
            if s_of(op.output) < need:
                if root in pinned:
                    raise OnnxImportError(
                        f"{src}: {op.kind} {op.node!r}: output scale {s_of(op.output)} is "
                        f"smaller than the accumulator's {in_scale(i, op)}; requant cannot "
                        f"multiply up")
                scale[root] = need
                changed = True
        if not changed:
            break

    for op in fm.ops:
        top = (127 - zero[groups.find(op.output)]) * scale[groups.find(op.output)]
        if op.clip is not None and not math.isclose(top, op.clip, rel_tol=1e-5):
            raise OnnxImportError(f"{src}: {op.kind} {op.node!r}: its Clip(0, {op.clip:g}) "
                                  f"needs int8's top at {op.clip:g}, but its output's scale "
                                  f"puts it at {top:g}")

    # Build the graph.
    g = Graph(_graph_name(fm.name))
    host: list[dict] = []
    values = {}
    for spec in fm.inputs:
        values[spec.name] = g.input(spec.name, spec.graph_shape)
    for i, op in enumerate(fm.ops):
        out_t = fm.tensors[op.output]
        x = values[op.inputs[0]]
        if op.kind in ("linear", "conv2d", "dwconv"):
            q, s_w = wq[i]
            s_x, z_x = s_of(op.inputs[0]), z_of(op.inputs[0])
            bias = _bias(op, s_x, s_w)
            if z_x:  # fold the input zero point: x_real ~ s_x * (x - z_x)
                bias = bias - z_x * q.astype(np.int64).reshape(-1, q.shape[-1]).sum(axis=0)
            bias = np.clip(bias, -(1 << 31), (1 << 31) - 1).astype(np.int32)
            mul, shift = quantize_multiplier(s_x * s_w / s_of(op.output))
            # a model that quantised this layer itself is onnxruntime's: it rounds once
            rounding = "single" if groups.find(op.output) in pinned else "double"
            if op.kind == "linear":
                v = g.linear(x, q, bias, mul=mul, shift=shift, zp=z_of(op.output),
                             relu=op.relu, rounding=rounding)
            elif op.kind == "dwconv":
                v = g.depthwise_conv2d(x, q, bias, stride=op.stride[0], pad=list(op.pad),
                                       mul=mul, shift=shift, zp=z_of(op.output), relu=op.relu,
                                       pad_value=z_x, rounding=rounding)
            else:
                v = g.conv2d(x, q, bias, stride=op.stride[0], pad=list(op.pad), mul=mul,
                             shift=shift, zp=z_of(op.output), relu=op.relu, pad_value=z_x,
                             rounding=rounding)
        elif op.kind == "add":
            if z_of(op.inputs[0]) or z_of(op.inputs[1]):
                raise OnnxImportError(f"{src}: add {op.node!r}: inputs with a zero point other "
                                      f"than 0 cannot be added by the graph's add")
            mul, shift = quantize_multiplier(s_of(op.inputs[0]) / s_of(op.output))
            v = g.add(x, values[op.inputs[1]], mul=mul, shift=shift, zp=z_of(op.output),
                      relu=op.relu)
        elif op.kind == "relu":
            v = g.relu(x, zp=z_of(op.inputs[0]))
        elif op.kind == "mul":
            mul, shift = quantize_multiplier(in_scale(i, op) / s_of(op.output))
            v = g.qmul(x, values[op.inputs[1]], a_zp=z_of(op.inputs[0]),
                       b_zp=z_of(op.inputs[1]), mul=mul, shift=shift, zp=z_of(op.output),
                       relu=op.relu,
                       rounding="single" if groups.find(op.output) in pinned else "double")
        elif op.kind == "table":
            v = g.table(x, function_table(TABLE_FUNCTIONS[op.fn], (s_of(op.inputs[0]),
                                          z_of(op.inputs[0])), (s_of(op.output), z_of(op.output))))
        elif op.kind == "leaky":
            try:  # onnxruntime's float32 LeakyRelu, in integers
                params = leaky_fit((s_of(op.inputs[0]), z_of(op.inputs[0])),
                                   (s_of(op.output), z_of(op.output)), op.alpha)
            except ValueError as e:
                raise OnnxImportError(f"{src}: leaky relu {op.node!r}: {e}") from None
            v = g.leaky_relu(x, **params, rounding="single")
        elif op.kind == "qadd":
            v = g.qadd(x, values[op.inputs[1]], **add_rescale(
                (s_of(op.inputs[0]), z_of(op.inputs[0])), (s_of(op.inputs[1]),
                                                           z_of(op.inputs[1])),
                (s_of(op.output), z_of(op.output))), relu=op.relu)
        elif op.kind == "maxpool" and op.window == op.stride == (2, 2) and not any(op.pad):
            v = g.maxpool2x2(x)
        elif op.kind == "maxpool":
            v = g.maxpool(x, op.window, op.stride, op.pad)
        elif op.kind == "avgpool":
            v = g.avgpool(x, op.window, op.stride)
        elif op.kind == "softmax":  # the host's, after the core: its input is an output
            if z_of(op.output) != -128 or not math.isclose(s_of(op.output), 1 / 256,
                                                           rel_tol=1e-6):
                raise OnnxImportError(f"{src}: softmax {op.node!r}: its output must be "
                                      f"quantised with scale 1/256 and zero point -128")
            g.output(op.inputs[0], x)
            host.append({"op": "softmax", "input": op.inputs[0], "output": op.output,
                         "input_scale": s_of(op.inputs[0]), "beta": 1.0})
            continue
        else:
            v = g.reshape(x, out_t.graph_shape)
        values[op.output] = v

    def spec(s: TensorSpec, t: str) -> TensorSpec:
        return TensorSpec(s.name, s.onnx_shape, s.graph_shape, s.layout, s.perm, s_of(t), z_of(t))

    inputs = [spec(s, s.name) for s in fm.inputs]
    outputs = [spec(s, fm.output_values[s.name]) for s in fm.outputs]
    after_host = {step["output"]: step for step in host}
    for s in outputs:
        internal = fm.output_values[s.name]
        if internal in after_host:
            after_host[internal]["output"] = s.name  # the host step writes the ONNX output
        else:
            g.output(s.name, values[internal])
    scales = {t: (s_of(t), z_of(t)) for t in groups.parent}
    return ImportedModel(g, fm, inputs, outputs, scales, host)


def _bias(op: FloatOp, s_x: float, s_w: np.ndarray) -> np.ndarray:
    """The int32 bias on the accumulator's scale: the model's integers where it gave them on
    that scale (QDQ, QOperator), else the float bias quantised."""
    if op.bq is not None and np.allclose(op.bq[1], s_x * s_w, rtol=1e-5, atol=0):
        return op.bq[0].astype(np.int64)
    return quantize_bias(op.b, s_x, s_w).astype(np.int64)


def _graph_name(name: str) -> str:
    import re

    return re.sub(r"[^\w.$-]", "_", name) or "model"


def _calibration_feeds(fm: FloatModel, calibration) -> dict[str, np.ndarray]:
    names = [s.name for s in fm.inputs]
    if calibration is None:
        raise OnnxImportError(f"{fm.source}: calibration inputs are needed to quantise this "
                              f"float model (--calibration FILE.npy)")
    if isinstance(calibration, (str, Path)):
        feeds = load_calibration(calibration, names)
    elif isinstance(calibration, np.ndarray):
        if len(names) != 1:
            raise OnnxImportError(f"{fm.source}: the model has {len(names)} inputs; give "
                                  f"calibration as a mapping name -> array")
        feeds = {names[0]: calibration}
    elif isinstance(calibration, Mapping):
        feeds = dict(calibration)
    else:
        raise OnnxImportError(f"calibration must be a path, an array or a mapping, not "
                              f"{type(calibration).__name__}")
    for spec in fm.inputs:
        if spec.name not in feeds:
            raise OnnxImportError(f"{fm.source}: no calibration data for input {spec.name!r}")
        x = np.asarray(feeds[spec.name])
        if x.shape[1:] != spec.onnx_shape[1:]:
            where = calibration if isinstance(calibration, (str, Path)) else "calibration"
            raise OnnxImportError(f"{where}: input {spec.name!r} needs samples of shape "
                                  f"(n, {', '.join(map(str, spec.onnx_shape[1:]))}), not "
                                  f"{x.shape}")
    return feeds
