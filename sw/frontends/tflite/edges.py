"""QUANTIZE and DEQUANTIZE: a model's float edges, which the host computes, and a requantising
QUANTIZE inside the model.

The TFLite converter gives a model with float I/O and int8 inside a float32 input followed by a
QUANTIZE (float32 -> int8) and an output made by a DEQUANTIZE (int8 -> float32).
:func:`cut_float_edges` takes them off: the graph's input is the int8 tensor after the QUANTIZE
and its output the int8 tensor before the DEQUANTIZE, each named as the model's float tensor;
a :class:`~conveyor.sw.frontends.onnx.TensorSpec` per edge says how the host crosses it, in
LiteRT's reference arithmetic: :func:`~conveyor.sw.frontends.quantize.tflite_quantize` in,
:func:`~conveyor.sw.frontends.quantize.dequantize` out (``float32(double(scale) * (q - zp))``).

A QUANTIZE from int8 to int8 inside the model is LiteRT's ``Requantize``: ``QuantizeMultiplier``
of ``double(s_in) / double(s_out)`` and gemmlowp's doubling high multiply, rounded twice (the
single rounding of FULLY_CONNECTED differs: measured, 124 of 300 random quantisations), so it
becomes the lookup table of its 256 results (:func:`requantize_table`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ....hw.machine.semantics import rounding_divide_by_pot, srdhm
from ..onnx.float_model import TensorSpec
from ..quantize import tflite_multiplier
from .load import TfliteImportError, TfliteModel, TfliteTensor

__all__ = ["FloatEdges", "cut_float_edges", "graph_shape", "requantize_table"]


@dataclass
class FloatEdges:
    """A model with its float edges cut off.

    Members
    -------
    core : the int8 model: the quantised tensors as its inputs and the tensors the DEQUANTIZEs
        take as its outputs, renamed as the model's float tensors.
    inputs, outputs : a TensorSpec per float input and output (``quantizer="tflite"``).
    litert_names : graph name -> the name LiteRT gives the tensor, for each renamed one.
    """

    core: TfliteModel
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    litert_names: dict[str, str]


def graph_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A TFLite shape as the graph holds it: (1, H, W, C) -> (H, W, C); (N, C) stays."""
    if len(shape) == 4:
        if shape[0] != 1:
            raise TfliteImportError(f"a batch of {shape[0]} is not supported (batches of one)")
        return tuple(shape[1:])
    return tuple(shape) if len(shape) >= 2 else (1, *shape)


def _spec(float_tensor: TfliteTensor, q: TfliteTensor) -> TensorSpec:
    return TensorSpec(float_tensor.name, tuple(float_tensor.shape), graph_shape(q.shape), "plain",
                      scale=float(q.scale[0]), zp=q.zp, quantizer="tflite")


def cut_float_edges(model: TfliteModel) -> FloatEdges:
    """Take off the QUANTIZE of each float32 input and the DEQUANTIZE of each float32 output
    (one TfliteImportError line for a float edge of another kind)."""
    path, tensors = model.path, list(model.tensors)
    users: dict[int, list] = {}
    made_by = {}
    for op in model.ops:
        for i in op.inputs:
            users.setdefault(i, []).append(op)
        for i in op.outputs:
            made_by[i] = op
    cut, renamed, inputs, outputs, in_specs, out_specs = set(), {}, [], [], [], []

    def quantised(op, index: int, what: str) -> TfliteTensor:
        t = tensors[index]
        if t.dtype is not np.int8 or t.scale is None or len(t.scale) != 1:
            raise TfliteImportError(f"{path}: operator {op.index} ({op.name}): {what} "
                                    f"{t.name!r} must be int8, quantised per tensor")
        return t

    for i in model.inputs:
        t = tensors[i]
        if t.dtype is not np.float32:
            inputs.append(i)
            continue
        ops = users.get(i, [])
        if len(ops) != 1 or ops[0].name != "QUANTIZE" or len(ops[0].outputs) != 1 \
                or ops[0].outputs[0] < 0:
            raise TfliteImportError(f"{path}: input {t.name!r} is float32 and used by "
                                    f"{[op.name for op in ops] or 'no operator'}; Conveyor takes "
                                    f"a float input only into one QUANTIZE to int8")
        op = ops[0]
        q = quantised(op, op.outputs[0], "the quantised input")
        if q.shape != t.shape:
            raise TfliteImportError(f"{path}: operator {op.index} (QUANTIZE): shape "
                                    f"{list(q.shape)} of {list(t.shape)}")
        tensors[q.index] = replace(q, name=t.name)
        renamed[t.name] = q.name
        in_specs.append(_spec(t, q))
        cut.add(op.index)
        inputs.append(q.index)
    for i in model.outputs:
        t = tensors[i]
        op = made_by.get(i)
        if t.dtype is not np.float32:
            outputs.append(i)
            continue
        if op is None or op.name != "DEQUANTIZE" or not op.inputs or op.inputs[0] < 0:
            raise TfliteImportError(f"{path}: output {t.name!r} is float32 and made by "
                                    f"{op.name if op else 'no operator'}; Conveyor gives a "
                                    f"float output only from a DEQUANTIZE of int8")
        d = quantised(op, op.inputs[0], "the dequantised tensor")
        if d.shape != t.shape:
            raise TfliteImportError(f"{path}: operator {op.index} (DEQUANTIZE): shape "
                                    f"{list(t.shape)} of {list(d.shape)}")
        if d.index in model.outputs or d is not model.tensors[d.index]:
            raise TfliteImportError(f"{path}: operator {op.index} (DEQUANTIZE): {d.name!r} "
                                    f"is also a model input or output, or dequantised twice")
        tensors[d.index] = replace(d, name=t.name)
        renamed[t.name] = d.name
        out_specs.append(_spec(t, d))
        cut.add(op.index)
        outputs.append(d.index)
    core = TfliteModel(path, tensors, [op for op in model.ops if op.index not in cut], inputs,
                       outputs)
    return FloatEdges(core, in_specs, out_specs, renamed)


#: The largest left shift of a requantising QUANTIZE: LiteRT shifts ``q - zp`` (up to 255)
#: left in int32 before multiplying.
_MAX_LEFT_SHIFT = 23


def requantize_table(x: tuple[float, int], y: tuple[float, int]) -> np.ndarray | None:
    """The 256 int8 results of LiteRT's int8 -> int8 QUANTIZE from ``x`` to ``y`` (each
    (float32 scale, zero point)) for the inputs -128..127; None if its multiplier would shift
    ``q - zp`` out of int32."""
    (sx, zx), (sy, zy) = x, y
    (mul,), (exp,) = tflite_multiplier(float(np.float32(sx)) / float(np.float32(sy)))
    if exp > _MAX_LEFT_SHIFT:
        return None
    v = np.arange(-128, 128, dtype=np.int64) - zx
    out = rounding_divide_by_pot(srdhm(v << max(int(exp), 0), int(mul)), max(-int(exp), 0))
    return np.clip(out + zy, -128, 127).astype(np.int8)
