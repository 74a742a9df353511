"""Writing small TFLite models with the ``tflite`` package's flatbuffer builders, so that tests
can ask LiteRT about any op with any parameters: one operator, random weights and scales.

``write_model(path, tensors, ops, inputs, outputs)``: ``tensors`` are :class:`T`, ``ops`` are
:class:`Op` (a builtin name, tensor indices, and options as a dict of the options table's
fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions

_TYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 2, np.dtype(np.int8): 9,
          np.dtype(np.int64): 4}

#: Operator -> its options table (as named in the schema).
OPTIONS = {"CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
           "FULLY_CONNECTED": "FullyConnectedOptions", "ADD": "AddOptions", "MUL": "MulOptions",
           "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
           "SOFTMAX": "SoftmaxOptions", "RESHAPE": "ReshapeOptions", "TANH": None,
           "LOGISTIC": None, "LEAKY_RELU": "LeakyReluOptions", "QUANTIZE": None,
           "DEQUANTIZE": None}


@dataclass
class T:
    """A tensor: int8 activations/weights with quantisation, int32 biases, constants, or a
    float32 model input or output (``dtype=np.float32``, no scale)."""

    name: str
    shape: tuple[int, ...]
    dtype: type = np.int8
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    quantized_dimension: int = 0
    data: np.ndarray | None = None


@dataclass
class Op:
    name: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


def _vector(b, values, dtype):
    return b.CreateNumpyVector(np.asarray(values, dtype))


def _options(b, op: Op):
    table = OPTIONS.get(op.name)
    if table is None:
        return 0, 0
    getattr(tflite, f"{table}Start")(b)
    for key, value in op.options.items():
        getattr(tflite, f"{table}Add{key}")(b, value)
    return getattr(BuiltinOptions, table), getattr(tflite, f"{table}End")(b)


def model_bytes(tensors: list[T], ops: list[Op], inputs: list[int], outputs: list[int]) -> bytes:
    b = flatbuffers.Builder(1024)
    buffers = [0]  # buffer 0: empty, by convention
    tensor_offsets = []
    for t in tensors:
        buffer_index = 0
        if t.data is not None:
            data = _vector(b, np.ascontiguousarray(t.data, t.dtype).view(np.uint8).reshape(-1),
                           np.uint8)
            tflite.BufferStart(b)
            tflite.BufferAddData(b, data)
            buffers.append(tflite.BufferEnd(b))
            buffer_index = len(buffers) - 1
        name = b.CreateString(t.name)
        shape = _vector(b, t.shape, np.int32)
        quant = 0
        if t.scale is not None:
            scale = _vector(b, t.scale, np.float32)
            zps = _vector(b, t.zero_point or [0] * len(t.scale), np.int64)
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zps)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _TYPES[np.dtype(t.dtype)])
        tflite.TensorAddBuffer(b, buffer_index)
        tflite.TensorAddName(b, name)
        if quant:
            tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))
    codes = sorted({op.name for op in ops})
    code_offsets = []
    for name in codes:
        code = getattr(BuiltinOperator, name)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))
    op_offsets = []
    for op in ops:
        kind, options = _options(b, op)
        ins, outs = _vector(b, op.inputs, np.int32), _vector(b, op.outputs, np.int32)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op.name))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if options:
            tflite.OperatorAddBuiltinOptionsType(b, kind)
            tflite.OperatorAddBuiltinOptions(b, options)
        op_offsets.append(tflite.OperatorEnd(b))

    def offsets_vector(start, items):
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    t_vec = offsets_vector(tflite.SubGraphStartTensorsVector, tensor_offsets)
    o_vec = offsets_vector(tflite.SubGraphStartOperatorsVector, op_offsets)
    in_vec, out_vec = _vector(b, inputs, np.int32), _vector(b, outputs, np.int32)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, t_vec)
    tflite.SubGraphAddInputs(b, in_vec)
    tflite.SubGraphAddOutputs(b, out_vec)
    tflite.SubGraphAddOperators(b, o_vec)
    subgraph = tflite.SubGraphEnd(b)
    sg_vec = offsets_vector(tflite.ModelStartSubgraphsVector, [subgraph])
    code_vec = offsets_vector(tflite.ModelStartOperatorCodesVector, code_offsets)
    buf_offsets = []
    for off in buffers:
        if off == 0:
            tflite.BufferStart(b)
            off = tflite.BufferEnd(b)
        buf_offsets.append(off)
    buf_vec = offsets_vector(tflite.ModelStartBuffersVector, buf_offsets)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, sg_vec)
    tflite.ModelAddBuffers(b, buf_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def write_model(path, tensors, ops, inputs, outputs) -> str:
    with open(path, "wb") as f:
        f.write(model_bytes(tensors, ops, inputs, outputs))
    return str(path)
