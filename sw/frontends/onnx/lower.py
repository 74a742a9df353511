"""ONNX nodes to the float model (:class:`~conveyor.sw.frontends.onnx.float_model.FloatModel`).

Supported ONNX ops: Gemm (``transA=0``, constant B), MatMul (2-D activation times a constant),
Add (two activations of one shape, or a constant bias right after a Gemm/MatMul/Conv, fused into
it), Relu (fused into the Gemm/MatMul/Conv/Add before it when that is its only reader), Conv
(2-D, group 1 or depthwise, dilation 1, one stride for both axes, any pads or SAME), LeakyRelu,
Sigmoid and Tanh (tables of their int8 values), Mul of two activations (TFLite's MUL),
BatchNormalization (folded into the Conv before it), Clip(0, max) (fused into the op before it,
the output's int8 top at max), MaxPool (any 2-D window, strides and pads), AveragePool (no
padding), GlobalAveragePool, a final Softmax over (N, K) rows (a host step), Flatten, Reshape (keeping the batch axis), Identity, Dropout (inference),
Constant, Shape (of a runtime tensor: a constant, as every shape is static; so
``x.view(x.size(0), -1)`` exports fold), and QuantizeLinear/DequantizeLinear: a QuantizeLinear
-> DequantizeLinear pair on an activation fixes that tensor's scale and zero point (uint8
becomes int8 with ``zp - 128``), DequantizeLinear of a constant int8 weight or int32 bias uses
those integers and scales as they are, and an Add of two such tensors is TFLite's ADD (each input
rescaled: onnxruntime's QLinearAdd). onnxruntime's QOperator ops read and write int8 tensors,
which stand for their pinned float ones: QLinearConv, QLinearMatMul, QGemm, QLinearAdd,
QLinearLeakyRelu, QLinearMul and QLinearSigmoid (domain com.microsoft), with MaxPool, Flatten
and Reshape moving int8 values between them. Any
other node whose inputs are all constants is folded. Anything else raises
:class:`~conveyor.sw.frontends.onnx.load.OnnxImportError` with the op type and the node name,
one line; :func:`check_model` does only that check, so it needs no calibration data.

Layouts. ONNX images are NCHW; the graph's ``conv2d`` is channels-last, (H, W, C) for one image
and (N, H, W, C) for a batch, so a 4-D input ``(1, C, H, W)`` becomes a graph input ``(H, W, C)``
and ``(N, C, H, W)`` one of ``(N, H, W, C)`` (transposed by
:meth:`~conveyor.sw.frontends.onnx.int8.ImportedModel.quantize_inputs`) and every 4-D tensor
inside is kept so. 2-D tensors keep their shape, with the batch as rows; a symbolic
batch dimension becomes ``batch`` (default 1). Flatten (or Reshape to ``(N, -1)``) of an
(H, W, C) tensor is a row-major ``graph.reshape``, whose element order (h, w, c) differs from
ONNX's (c, h, w): the importer tracks that permutation and permutes the rows of the next
Gemm/MatMul weight to match, so no data moves at run time. An output that is still permuted or
channels-last is put back into ONNX's layout by
:meth:`~conveyor.sw.frontends.onnx.int8.ImportedModel.dequantize_outputs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .float_model import FloatModel, FloatOp, Tensor, TensorSpec
from .load import OnnxImportError, check_onnx, first_line, load_onnx

if TYPE_CHECKING:
    from onnx import ModelProto

__all__ = ["SUPPORTED_OPS", "check_model", "load_float_model"]

#: ONNX op types the importer lowers (any node whose inputs are all constants is folded too).
SUPPORTED_OPS = ("Add", "AveragePool", "BatchNormalization", "Clip", "Constant", "Conv",
                 "DequantizeLinear", "Dropout", "Flatten", "Gemm", "GlobalAveragePool", "Identity",
                 "LeakyRelu", "MatMul", "MaxPool", "Mul", "QGemm", "QLinearAdd", "QLinearConv",
                 "QLinearLeakyRelu", "QLinearMatMul", "QLinearMul", "QLinearSigmoid",
                 "QuantizeLinear",
                 "Relu", "Reshape", "Shape", "Sigmoid", "Softmax", "Tanh")


@dataclass
class _Const:
    """A constant; ``q``/``qscale``/``qaxis`` when it is DequantizeLinear of int8 weights."""

    value: np.ndarray
    q: np.ndarray | None = None
    qscale: np.ndarray | None = None
    qaxis: int | None = None


class _Builder:
    def __init__(self, model, source: str, batch: int):
        self.model, self.source, self.batch = model, source, batch
        self.consts: dict[str, _Const] = {}
        self.tensors: dict[str, Tensor] = {}
        self.alias: dict[str, str] = {}
        self.producer: dict[str, FloatOp] = {}
        self.quantized: dict[str, tuple[str, float, int]] = {}  # Q output -> (input, s, zp)
        self.pins: dict[str, tuple[float, int]] = {}
        self.int8: set[str] = set()  # QOperator tensors: integers (their pins say how)
        self.ops: list[FloatOp] = []
        self.graph_outputs = {o.name for o in model.graph.output}
        self.readers: dict[str, int] = {}
        for node in model.graph.node:
            for name in node.input:
                if name:
                    self.readers[name] = self.readers.get(name, 0) + 1

    # -- helpers -------------------------------------------------------------------------------

    def fail(self, node, message: str) -> OnnxImportError:
        return OnnxImportError(f"{self.source}: {node.op_type} {_node_name(node)}: {message}")

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def runtime(self, node, name: str, integers: bool = False) -> tuple[str, Tensor]:
        """The float model's tensor that ``name`` is. ``integers``: the op moves values
        without arithmetic (MaxPool, Flatten, Reshape), so an int8 tensor (a QuantizeLinear's
        or a QOperator op's output) stands for its pinned float tensor."""
        name = self.resolve(name)
        if name in self.quantized:
            if not integers:
                raise self.fail(node, f"reads {name!r}, the int8 output of a QuantizeLinear; "
                                      f"only a DequantizeLinear or a QLinear op may read it")
            src, scale, zp = self.quantized[name]
            self.pin(node, src, scale, zp)
            return src, self.tensors[src]
        if name in self.int8 and not integers:
            raise self.fail(node, f"reads {name!r}, an int8 tensor; dequantize it first")
        if name not in self.tensors:
            raise self.fail(node, f"input {name!r} is not a runtime tensor of the model")
        return name, self.tensors[name]

    def carry_int8(self, onnx_input: str, out: str) -> None:
        """``out`` moves the values of ONNX tensor ``onnx_input``: if that is int8 (a
        QuantizeLinear's or a QOperator op's output), so is ``out``, equally quantised."""
        name = self.resolve(onnx_input)
        if name in self.quantized:
            self.int8.add(out)
            self.pins[out] = self.quantized[name][1:]
        elif name in self.int8:
            self.int8.add(out)
            self.pins[out] = self.pins[name]

    def const(self, node, name: str, what: str) -> _Const:
        if name not in self.consts:
            raise self.fail(node, f"{what} {name!r} must be a constant (an initializer)")
        return self.consts[name]

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def emit(self, op: FloatOp, shape: tuple[int, ...], layout: str = "plain",
             perm: np.ndarray | None = None) -> None:
        self.ops.append(op)
        self.producer[op.output] = op
        self.tensors[op.output] = Tensor(shape, layout, perm)

    def fusable(self, node, name: str) -> FloatOp | None:
        """The op producing ``name`` if a following op may fuse into it: ``name`` has no other
        reader, is not a model output and is not quantised on its own (QDQ)."""
        internal = self.resolve(name)
        op = self.producer.get(internal)
        if op is None or op.relu or self.readers.get(name, 0) != 1 or name in self.graph_outputs:
            return None
        if internal != name and (self.readers.get(internal, 0) != 1
                                 or internal in self.graph_outputs):
            return None
        if internal in self.pins or name in self.pins:
            return None
        return op

    # -- inputs --------------------------------------------------------------------------------

    def add_inputs(self) -> list[TensorSpec]:
        from onnx import TensorProto, numpy_helper

        for init in self.model.graph.initializer:
            try:
                self.consts[init.name] = _Const(numpy_helper.to_array(init))
            except (ValueError, TypeError, KeyError) as e:  # its data does not match its dims
                raise OnnxImportError(f"{self.source}: initializer {init.name!r} is corrupt "
                                      f"({first_line(e)})") from None
        specs = []
        for vi in self.model.graph.input:
            if vi.name in self.consts:
                continue  # an initializer listed as an input (old exporters)
            t = vi.type.tensor_type
            if t.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
                raise OnnxImportError(f"{self.source}: input {vi.name!r} must be a float tensor "
                                      f"(the importer quantises it)")
            if not t.HasField("shape"):
                raise OnnxImportError(f"{self.source}: input {vi.name!r} has no shape")
            shape = []
            for i, d in enumerate(t.shape.dim):
                if d.HasField("dim_value") and d.dim_value > 0:
                    shape.append(d.dim_value)
                elif i == 0:
                    shape.append(self.batch)
                else:
                    raise OnnxImportError(f"{self.source}: input {vi.name!r} has a symbolic "
                                          f"dimension {i} ({d.dim_param or '?'}); only the "
                                          f"batch (dimension 0) may be symbolic")
            shape = tuple(shape)
            if len(shape) == 4:
                layout = "nhwc"
            elif len(shape) == 2:
                layout = "plain"
            else:
                raise OnnxImportError(f"{self.source}: input {vi.name!r} has rank {len(shape)}; "
                                      f"the importer takes (N, F) vectors or (N, C, H, W) images")
            tensor = Tensor(shape, layout)
            self.tensors[vi.name] = tensor
            specs.append(TensorSpec(vi.name, shape, tensor.graph_shape, layout))
        if not specs:
            raise OnnxImportError(f"{self.source}: the model has no runtime input")
        return specs

    # -- nodes ---------------------------------------------------------------------------------

    def node(self, node) -> None:
        standard = node.domain in ("", "ai.onnx")
        handler = getattr(self, f"op_{node.op_type}", None) if standard else None
        if node.domain == "com.microsoft" and node.op_type in _MICROSOFT_OPS:
            handler = getattr(self, f"op_{node.op_type}")
        if standard and node.op_type != "DequantizeLinear" and (
                node.op_type == "Constant"
                or (node.input and all(self.resolve(i) in self.consts for i in node.input if i))):
            return self.fold(node)
        if handler is None:
            domain = "" if standard else f" (domain {node.domain})"
            raise OnnxImportError(f"{self.source}: unsupported op {node.op_type}{domain} "
                                  f"(node {_node_name(node)})")
        handler(node)

    def fold(self, node) -> None:
        """Evaluate a node whose inputs are all constants with onnx's reference evaluator."""
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator

        inits = [numpy_helper.from_array(self.consts[self.resolve(i)].value, i)
                 for i in dict.fromkeys(i for i in node.input if i)]
        graph = helper.make_graph([node], "fold", [],
                                  [helper.make_empty_tensor_value_info(o) for o in node.output],
                                  inits)
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        try:
            results = ReferenceEvaluator(model).run(None, {})
        except Exception as e:  # noqa: BLE001 - the reference evaluator raises anything
            raise self.fail(node, f"cannot fold this constant node ({first_line(e)})") from None
        for name, value in zip(node.output, results):
            if name:
                self.consts[name] = _Const(np.asarray(value))

    def op_Identity(self, node) -> None:
        name, _ = self.runtime(node, node.input[0])
        self.alias[node.output[0]] = name

    def op_Dropout(self, node) -> None:
        if len(node.output) > 1 and node.output[1] and self.readers.get(node.output[1]):
            raise self.fail(node, "the mask output is not supported")
        if len(node.input) > 2 and node.input[2]:
            mode = self.const(node, node.input[2], "training_mode").value
            if bool(np.asarray(mode).any()):
                raise self.fail(node, "training_mode must be false")
        self.op_Identity(node)

    def op_Shape(self, node) -> None:
        _, t = self.runtime(node, node.input[0])
        a = self.attrs(node)
        shape = np.array(t.shape, np.int64)[a.get("start", 0):a.get("end", len(t.shape))]
        self.consts[node.output[0]] = _Const(shape)

    def op_QuantizeLinear(self, node) -> None:
        name, _ = self.runtime(node, node.input[0])
        scale, zp = self.qparams(node)
        self.quantized[node.output[0]] = (name, scale, zp)

    def qparams(self, node, s_name: str | None = None, z_name: str | None = None
                ) -> tuple[float, int]:
        """Per-tensor (scale, zero point) of an activation, in int8 terms: a Q/DQ's (its
        inputs 1 and 2), or the constants ``s_name`` and ``z_name`` (a QLinear op's)."""
        if s_name is None:
            s_name = node.input[1]
            z_name = node.input[2] if len(node.input) > 2 else ""
        scale = self.const(node, s_name, "scale").value
        if scale.size != 1:
            raise self.fail(node, f"activations need one scale per tensor, not {scale.shape}")
        dtype, zp = np.dtype(np.uint8), 0
        if z_name:
            z = self.const(node, z_name, "zero point").value
            if z.size != 1:
                raise self.fail(node, f"activations need one zero point, not {z.shape}")
            dtype, zp = z.dtype, int(z.reshape(-1)[0])
        if dtype == np.uint8:
            zp -= 128
        elif dtype != np.int8:
            raise self.fail(node, f"activations must be int8 or uint8, not {dtype}")
        if "output_dtype" in self.attrs(node) and self.attrs(node)["output_dtype"] not in (0, 2,
                                                                                          3):
            raise self.fail(node, "activations must be int8 or uint8")
        s = float(scale.reshape(-1)[0])
        if not s > 0:
            raise self.fail(node, f"scale must be positive, not {s}")
        return s, zp

    def op_DequantizeLinear(self, node) -> None:
        src = self.resolve(node.input[0])
        if src in self.consts:
            return self.dequantize_const(node)
        if src in self.int8:  # the integer output of a QOperator op
            self.pin(node, src, *self.qparams(node))
            self.alias[node.output[0]] = src
            return
        if src not in self.quantized:
            raise self.fail(node, f"reads {src!r}, which no QuantizeLinear produced (int8 model "
                                  f"inputs are not supported)")
        name, s_q, zp_q = self.quantized[src]
        s, zp = self.qparams(node)
        if not math.isclose(s, s_q, rel_tol=1e-6) or zp != zp_q:
            raise self.fail(node, f"scale/zero point ({s}, {zp}) differ from its QuantizeLinear's "
                                  f"({s_q}, {zp_q})")
        self.pin(node, name, s, zp)
        self.alias[node.output[0]] = name

    def pin(self, node, name: str, s: float, zp: int) -> None:
        """Tensor ``name`` is quantised with (s, zp) by the model itself."""
        if name in self.pins and (not math.isclose(self.pins[name][0], s, rel_tol=1e-6)
                                  or self.pins[name][1] != zp):
            raise self.fail(node, f"{name!r} is quantised twice with different parameters "
                                  f"({self.pins[name]} and {(s, zp)})")
        self.pins[name] = (s, zp)

    def dequantize_const(self, node) -> None:
        x = self.consts[self.resolve(node.input[0])].value
        scale = self.const(node, node.input[1], "scale").value.astype(np.float64)
        zp = (self.const(node, node.input[2], "zero point").value.astype(np.int64)
              if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, np.int64))
        if (scale.size > 1 or zp.size > 1) and self.attrs(node).get("block_size"):
            raise self.fail(node, "blocked quantisation is not supported")
        q, value, axis = _minus_zero_point(x, scale, zp, self.attrs(node).get("axis", 1))
        const = _Const(value)
        if x.dtype in (np.int8, np.uint8) and q.min(initial=0) >= -128 and q.max(initial=0) <= 127:
            const = _Const(value, q.astype(np.int8), scale.reshape(-1), axis)
        elif x.dtype == np.int32:  # a bias, kept as the model's integers
            const = _Const(value, q, scale.reshape(-1), axis)
        self.consts[node.output[0]] = const

    def op_Relu(self, node) -> None:
        op = self.fusable(node, node.input[0])
        if op is not None and op.kind in ("linear", "conv2d", "dwconv", "add", "qadd", "mul"):
            op.relu = True
            self.alias[node.output[0]] = op.output
            return
        name, t = self.runtime(node, node.input[0])
        self.emit(FloatOp("relu", _node_name(node), [name], node.output[0]), t.shape, t.layout,
                  t.perm)

    def op_LeakyRelu(self, node) -> None:
        """TFLite's LEAKY_RELU arithmetic between the input's and its own scale."""
        name, t = self.runtime(node, node.input[0])
        alpha = float(self.attrs(node).get("alpha", 0.01))
        if alpha < 0:
            raise self.fail(node, f"alpha {alpha:g} < 0 is not supported")
        self.emit(FloatOp("leaky", _node_name(node), [name], node.output[0], alpha=alpha),
                  t.shape, t.layout, t.perm)

    def op_Sigmoid(self, node) -> None:
        self.table(node, "sigmoid")

    def op_Tanh(self, node) -> None:
        self.table(node, "tanh")

    def table(self, node, fn: str) -> None:
        """An element-wise function as a 256-entry table of its int8 values."""
        name, t = self.runtime(node, node.input[0])
        self.emit(FloatOp("table", _node_name(node), [name], node.output[0], fn=fn), t.shape,
                  t.layout, t.perm)

    def op_Clip(self, node) -> None:
        """Clip(0, max) (ReLU6 and kin): a ReLU fused into the op before it whose output range
        ends at ``max``, so that int8 saturation is the upper clip; Clip(0, inf) is Relu."""
        a = self.attrs(node)
        lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
        for i, what in ((1, "min"), (2, "max")):
            if len(node.input) > i and node.input[i]:
                v = float(np.asarray(self.const(node, node.input[i], what).value).reshape(-1)[0])
                lo, hi = (v, hi) if i == 1 else (lo, v)
        if lo != 0 or not hi > 0:
            raise self.fail(node, f"Clip({lo:g}, {hi:g}) is not supported (Clip(0, max): "
                                  f"ReLU, ReLU6)")
        op = self.fusable(node, node.input[0])
        if hi == math.inf:
            return self.op_Relu(node)
        if op is None or op.kind not in ("linear", "conv2d", "dwconv", "add", "qadd", "mul"):
            raise self.fail(node, "Clip(0, max) is supported fused into the Gemm, MatMul, Conv "
                                  "or Add before it (its only reader)")
        op.relu, op.clip = True, hi
        self.alias[node.output[0]] = op.output

    def op_Softmax(self, node) -> None:
        """Softmax over the features of an (N, K) model output: a host step after the core
        (TFLite's int8 softmax, output scale 1/256 and zero point -128)."""
        name, t = self.runtime(node, node.input[0])
        opset = next((o.version for o in self.model.opset_import if o.domain in ("",
                                                                                 "ai.onnx")), 13)
        axis = self.attrs(node).get("axis", -1 if opset >= 13 else 1)
        if len(t.shape) != 2 or t.layout != "plain" or axis % 2 != 1:
            raise self.fail(node, f"only a softmax over the features of (N, K) rows is "
                                  f"supported, not axis {axis} of {t.shape}")
        out = node.output[0]
        if self.readers.get(out) or out not in self.graph_outputs:
            raise self.fail(node, "Softmax is supported as a model output (the host computes "
                                  "it after the core)")
        self.emit(FloatOp("softmax", _node_name(node), [name], out), t.shape)

    def op_Add(self, node) -> None:
        a, b = node.input
        ca, cb = self.resolve(a) in self.consts, self.resolve(b) in self.consts
        if ca or cb:
            return self.bias_add(node, b if ca else a, self.consts[self.resolve(a if ca else b)])
        (na, ta), (nb, tb) = self.runtime(node, a), self.runtime(node, b)
        if ta.shape != tb.shape:
            raise self.fail(node, f"adds {ta.shape} and {tb.shape}: the importer adds tensors "
                                  f"of one shape (no broadcasting)")
        if ta.layout != tb.layout or (ta.perm is not None and tb.perm is not None
                                      and not np.array_equal(ta.perm, tb.perm)):
            raise self.fail(node, "adds tensors held in different layouts")
        # two tensors the model quantised (QDQ), each with its own scale: TFLite's ADD, as
        # onnxruntime fuses this into a QLinearAdd
        kind = "qadd" if na in self.pins and nb in self.pins else "add"
        self.emit(FloatOp(kind, _node_name(node), [na, nb], node.output[0]), ta.shape,
                  ta.layout, ta.perm)

    def op_Mul(self, node) -> None:
        """The product of two activations of one shape (an attention gate, SiLU's x * sigmoid):
        TFLite's MUL on the core."""
        a, b = node.input
        if self.resolve(a) in self.consts or self.resolve(b) in self.consts:
            raise self.fail(node, "Mul by a constant is not supported (only the product of two "
                                  "activations)")
        (na, ta), (nb, tb) = self.runtime(node, a), self.runtime(node, b)
        if ta.shape != tb.shape or ta.layout != tb.layout or (
                ta.perm is not None and tb.perm is not None
                and not np.array_equal(ta.perm, tb.perm)):
            raise self.fail(node, f"multiplies {ta.shape} and {tb.shape}: the importer "
                                  f"multiplies tensors of one shape and layout (no broadcasting)")
        self.emit(FloatOp("mul", _node_name(node), [na, nb], node.output[0]), ta.shape,
                  ta.layout, ta.perm)

    def op_QLinearMul(self, node) -> None:
        """com.microsoft's QLinearMul: two int8 tensors, each with its scale and zero point."""
        self.qlinear_pair(node, "mul", "multiplies")

    def bias_add(self, node, x: str, c: _Const) -> None:
        op = self.fusable(node, x)
        if op is None or op.kind not in ("linear", "conv2d", "dwconv"):
            raise self.fail(node, "adding a constant is supported only as the bias of the Gemm, "
                                  "MatMul or Conv right before it")
        n = op.b.shape[0]
        v = c.value.astype(np.float64)
        squeezed = v.reshape([d for d in v.shape if d != 1]) if v.size == n else v
        if v.size == 1:
            bias = np.full(n, float(v.reshape(-1)[0]))
        elif squeezed.shape == (n,) and _bias_broadcasts(v.shape, self.tensors[op.output].shape):
            bias = squeezed
        else:
            raise self.fail(node, f"constant of shape {v.shape} is not a per-channel bias of "
                                  f"{self.tensors[op.output].shape}")
        op.b, op.bq = op.b + bias, None
        self.alias[node.output[0]] = op.output

    def op_Gemm(self, node) -> None:
        a = self.attrs(node)
        if a.get("transA", 0):
            raise self.fail(node, "transA=1 is not supported (A must be the activation)")
        name, t = self.runtime(node, node.input[0])
        c = self.const(node, node.input[2], "bias") if len(node.input) > 2 and node.input[2] \
            else None
        self.linear(node, name, t, self.const(node, node.input[1], "weight"), c,
                    bool(a.get("transB", 0)), float(a.get("alpha", 1.0)),
                    float(a.get("beta", 1.0)), node.output[0])

    def op_MatMul(self, node) -> None:
        if self.resolve(node.input[0]) in self.consts:
            raise self.fail(node, "a constant times an activation is not supported (the "
                                  "activation must be the left operand)")
        if self.resolve(node.input[1]) not in self.consts:
            raise self.fail(node, "MatMul of two runtime tensors is not supported (the right "
                                  "operand must be constant weights)")
        name, t = self.runtime(node, node.input[0])
        self.linear(node, name, t, self.const(node, node.input[1], "weight"), None, False, 1.0,
                    1.0, node.output[0])

    def linear(self, node, name: str, t: Tensor, wc: _Const, c: _Const | None, trans_b: bool,
               alpha: float, beta: float, out: str) -> None:
        """Gemm, MatMul, QGemm or QLinearMatMul: ``wc`` the weights (with the model's
        integers, if it gave them), ``c`` the bias or None."""
        if len(t.shape) != 2:
            raise self.fail(node, f"input {name!r} is {t.shape}: Gemm/MatMul take a 2-D "
                                  f"(N, K) activation (Flatten images first)")
        w = wc.value.astype(np.float64)
        if w.ndim != 2:
            raise self.fail(node, f"the weight must be 2-D, not {w.shape}")
        q, qscale, qaxis = wc.q, wc.qscale, wc.qaxis
        if trans_b:
            w = w.T
            if q is not None:
                q, qaxis = q.T, (None if qaxis is None else 1 - qaxis)
        k, n = w.shape
        if k != t.shape[1]:
            raise self.fail(node, f"input {name!r} has {t.shape[1]} features but the weight "
                                  f"has {k} rows")
        if t.perm is not None:  # the input is a flattened (H, W, C) map: match its order
            w = w[t.perm]
            q = None if q is None else q[t.perm]
        wq = None
        if q is not None and qaxis in (None, 1):
            wq = (q, np.broadcast_to(qscale * alpha, (n,)).astype(np.float64))
        bias, bq = np.zeros(n), None
        if c is not None:
            v = c.value.astype(np.float64)
            if v.size == 1:
                bias = np.full(n, float(v.reshape(-1)[0]))
            elif v.shape in ((n,), (1, n)):
                bias = v.reshape(n)
                bq = _integers(c, n) if beta == 1.0 else None
            else:
                raise self.fail(node, f"bias C of shape {v.shape} is not one value per output "
                                      f"column ({n})")
        op = FloatOp("linear", _node_name(node), [name], out, w=alpha * w, b=beta * bias,
                     wq=wq, bq=bq)
        self.emit(op, (t.shape[0], n))

    # -- QOperator: integer tensors between QuantizeLinear and DequantizeLinear ---------------

    def int8_input(self, node, x: str, s_name: str, z_name: str) -> tuple[str, Tensor]:
        """A QLinear op's int8 input ``x``, quantised with the constants ``s_name`` and
        ``z_name``: the float model's tensor it stands for, pinned to them."""
        name = self.resolve(x)
        s, zp = self.qparams(node, s_name, z_name)
        if name in self.quantized:
            src, s_q, z_q = self.quantized[name]
            if not math.isclose(s, s_q, rel_tol=1e-6) or zp != z_q:
                raise self.fail(node, f"reads {x!r} as ({s}, {zp}) but its QuantizeLinear "
                                      f"made it ({s_q}, {z_q})")
            self.pin(node, src, s, zp)
            return src, self.tensors[src]
        if name in self.int8:
            self.pin(node, name, s, zp)
            return name, self.tensors[name]
        raise self.fail(node, f"reads {x!r}, which is not int8 (no QuantizeLinear or QLinear "
                              f"op made it)")

    def int8_output(self, node, out: str, s_name: str, z_name: str) -> None:
        self.pin(node, out, *self.qparams(node, s_name, z_name))
        self.int8.add(out)

    def int8_weight(self, node, w_name: str, s_name: str, z_name: str, axis: int) -> _Const:
        """Constant integer weights with a scale and zero point per tensor or per channel
        along ``axis``, as the integers ``w - zp`` (which must be int8) and their scales."""
        w = self.const(node, w_name, "weight").value
        scale = self.const(node, s_name, "weight scale").value.astype(np.float64).reshape(-1)
        zp = (self.const(node, z_name, "weight zero point").value.astype(np.int64).reshape(-1)
              if z_name else np.zeros(1, np.int64))
        if w.dtype not in (np.int8, np.uint8) or w.ndim < 2:
            raise self.fail(node, f"weight {w_name!r} must be int8 or uint8 of rank >= 2, not "
                                  f"{w.dtype} {w.shape}")
        n = w.shape[axis]
        if scale.size not in (1, n) or zp.size not in (1, n):
            raise self.fail(node, f"weight {w_name!r}: {scale.size} scales and {zp.size} zero "
                                  f"points for {n} channels")
        q, value, _ = _minus_zero_point(w, scale, zp, axis)
        if q.min(initial=0) < -128 or q.max(initial=0) > 127:
            raise self.fail(node, f"weight {w_name!r} minus its zero point leaves int8")
        if not np.all(scale > 0):
            raise self.fail(node, f"weight {w_name!r}: scales must be positive")
        return _Const(value, q.astype(np.int8), np.broadcast_to(scale, (n,)).copy(), axis)

    def int32_bias(self, node, b_name: str, scale: np.ndarray) -> _Const:
        """A QLinear op's int32 bias, on the accumulator's scale (``x_scale * w_scale``)."""
        b = self.const(node, b_name, "bias").value
        if b.dtype != np.int32 or b.ndim != 1 or b.size != scale.size:
            raise self.fail(node, f"bias {b_name!r} must be int32 with one value per output "
                                  f"channel ({scale.size}), not {b.dtype} {b.shape}")
        q = b.astype(np.int64)
        return _Const((q * scale).astype(np.float32), q, scale, 0)

    def op_QLinearConv(self, node) -> None:
        x, xs, xz, w, ws, wz, ys, yz = (list(node.input) + [""] * 9)[:8]
        name, t = self.int8_input(node, x, xs, xz)
        wc = self.int8_weight(node, w, ws, wz, axis=0)
        bias = None
        if len(node.input) > 8 and node.input[8]:
            bias = self.int32_bias(node, node.input[8], self.pins[name][0] * wc.qscale)
        self.conv(node, name, t, wc, bias, node.output[0])
        self.int8_output(node, node.output[0], ys, yz)

    def op_QLinearMatMul(self, node) -> None:
        a, as_, az, b, bs, bz, ys, yz = (list(node.input) + [""] * 8)[:8]
        if self.resolve(b) not in self.consts:
            raise self.fail(node, "QLinearMatMul of two runtime tensors is not supported (the "
                                  "right operand must be constant weights)")
        name, t = self.int8_input(node, a, as_, az)
        wc = self.int8_weight(node, b, bs, bz, axis=1)
        self.linear(node, name, t, wc, None, False, 1.0, 1.0, node.output[0])
        self.int8_output(node, node.output[0], ys, yz)

    def op_QGemm(self, node) -> None:
        """com.microsoft's QGemm: A, its scale and zero point, B, its, the int32 bias C, and
        the output's scale and zero point (without them the output is float)."""
        inputs = (list(node.input) + [""] * 9)[:9]
        a_, as_, az, b, bs, bz, c, ys, yz = inputs
        attrs = self.attrs(node)
        if attrs.get("transA", 0):
            raise self.fail(node, "transA=1 is not supported (A must be the activation)")
        trans_b = bool(attrs.get("transB", 0))
        name, t = self.int8_input(node, a_, as_, az)
        wc = self.int8_weight(node, b, bs, bz, axis=0 if trans_b else 1)
        bias = self.int32_bias(node, c, self.pins[name][0] * wc.qscale) if c else None
        self.linear(node, name, t, wc, bias, trans_b, float(attrs.get("alpha", 1.0)), 1.0,
                    node.output[0])
        if ys:
            self.int8_output(node, node.output[0], ys, yz)

    def op_QLinearAdd(self, node) -> None:
        """com.microsoft's QLinearAdd: two int8 tensors, each with its scale and zero point."""
        self.qlinear_pair(node, "qadd", "adds")

    def qlinear_pair(self, node, kind: str, verb: str) -> None:
        """A com.microsoft op of two int8 tensors (A, its scale and zero point, B, its, then
        the output's scale and zero point) of one shape and layout."""
        a, as_, az, b, bs, bz, cs, cz = (list(node.input) + [""] * 8)[:8]
        (na, ta), (nb, tb) = self.int8_input(node, a, as_, az), self.int8_input(node, b, bs, bz)
        if ta.shape != tb.shape or ta.layout != tb.layout:
            raise self.fail(node, f"{verb} {ta.shape} and {tb.shape}: the importer {verb} "
                                  f"tensors of one shape and layout (no broadcasting)")
        self.emit(FloatOp(kind, _node_name(node), [na, nb], node.output[0]), ta.shape,
                  ta.layout, ta.perm)
        self.int8_output(node, node.output[0], cs, cz)

    def op_QLinearLeakyRelu(self, node) -> None:
        """com.microsoft's QLinearLeakyRelu: an int8 tensor to one of its own scale."""
        x, xs, xz, ys, yz = (list(node.input) + [""] * 5)[:5]
        name, t = self.int8_input(node, x, xs, xz)
        alpha = float(self.attrs(node).get("alpha", 0.01))
        if alpha < 0:
            raise self.fail(node, f"alpha {alpha:g} < 0 is not supported")
        self.emit(FloatOp("leaky", _node_name(node), [name], node.output[0], alpha=alpha),
                  t.shape, t.layout, t.perm)
        self.int8_output(node, node.output[0], ys, yz)

    def op_QLinearSigmoid(self, node) -> None:
        """com.microsoft's QLinearSigmoid: an int8 tensor to one of its own scale."""
        x, xs, xz, ys, yz = (list(node.input) + [""] * 5)[:5]
        name, t = self.int8_input(node, x, xs, xz)
        self.emit(FloatOp("table", _node_name(node), [name], node.output[0], fn="sigmoid"),
                  t.shape, t.layout, t.perm)
        self.int8_output(node, node.output[0], ys, yz)

    # -- float ops with constants -----------------------------------------------------------

    def op_Conv(self, node) -> None:
        name, t = self.runtime(node, node.input[0])
        wc = self.const(node, node.input[1], "weight")
        bias = self.const(node, node.input[2], "bias") if len(node.input) > 2 and node.input[2] \
            else None
        self.conv(node, name, t, wc, bias, node.output[0])

    def conv(self, node, name: str, t: Tensor, wc: _Const, bias: _Const | None,
             out: str) -> None:
        """Conv or QLinearConv: ``wc`` the weights (with the model's integers, if it gave
        them), ``bias`` a constant or None."""
        if t.layout != "nhwc":
            raise self.fail(node, f"input {name!r} is {t.shape}: Conv takes (N, C, H, W) "
                                  f"images")
        w = wc.value.astype(np.float64)
        if w.ndim != 4:
            raise self.fail(node, f"only 2-D convolutions are supported (weight {w.shape})")
        k, c, r, s = w.shape
        a = self.attrs(node)
        group = a.get("group", 1)
        depthwise = group != 1 and group == k == t.shape[1] and c == 1
        if group != 1 and not depthwise:
            raise self.fail(node, f"group={group} is not supported (group 1, or depthwise: "
                                  f"group = input channels = output channels)")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise self.fail(node, f"dilations {list(a['dilations'])} are not supported")
        if list(a.get("kernel_shape", [r, s])) != [r, s]:
            raise self.fail(node, f"kernel_shape {list(a['kernel_shape'])} differs from the "
                                  f"weight's {r}x{s}")
        strides = list(a.get("strides", [1, 1]))
        if len(set(strides)) != 1:
            raise self.fail(node, f"strides {strides}: the graph's conv2d has one stride")
        _, cin, h, wd = t.shape
        if c * group != cin:
            raise self.fail(node, f"weight has {c} input channels but {name!r} has {cin}")
        pad = self.pads(node, a, (h, wd), (r, s), strides)
        stride = strides[0]
        oh = (h + pad[0] + pad[2] - r) // stride + 1
        ow = (wd + pad[1] + pad[3] - s) // stride + 1
        if oh < 1 or ow < 1:
            raise self.fail(node, f"a {r}x{s} kernel does not fit a {h}x{wd} input")
        wq = None
        if wc.q is not None and wc.qaxis in (None, 0):
            wq = (wc.q.transpose(2, 3, 1, 0), np.broadcast_to(wc.qscale, (k,)).astype(np.float64))
        b, bq = np.zeros(k), None
        if bias is not None:
            b = bias.value.astype(np.float64).reshape(-1)
            if b.shape != (k,):
                raise self.fail(node, f"bias has {b.size} values for {k} output channels")
            bq = _integers(bias, k)
        w = w.transpose(2, 3, 1, 0)  # (R, S, C, K)
        if depthwise:  # (R, S, C): one filter per channel
            w = w[:, :, 0, :]
            wq = None if wq is None else (wq[0][:, :, 0, :], wq[1])
        op = FloatOp("dwconv" if depthwise else "conv2d", _node_name(node), [name], out, w=w,
                     b=b, wq=wq, bq=bq, stride=(stride, stride), pad=tuple(pad))
        self.emit(op, (t.shape[0], k, oh, ow), "nhwc")

    def op_MaxPool(self, node) -> None:
        name, t = self.runtime(node, node.input[0], integers=True)
        a = self.attrs(node)
        if len(node.output) > 1 and node.output[1]:
            raise self.fail(node, "the Indices output is not supported")
        if t.layout != "nhwc":
            raise self.fail(node, f"input {name!r} is {t.shape}: MaxPool takes (N, C, H, W) "
                                  f"images")
        if any(d != 1 for d in a.get("dilations", [1])) or a.get("storage_order", 0):
            raise self.fail(node, "dilations and storage_order are not supported")
        if a.get("ceil_mode", 0):
            raise self.fail(node, "ceil_mode=1 is not supported")
        window = list(a.get("kernel_shape", []))
        if len(window) != 2:
            raise self.fail(node, f"kernel_shape {window}: only 2-D pooling is supported")
        stride = list(a.get("strides", [1, 1]))
        n, c, h, w = t.shape
        pad = self.pads(node, a, (h, w), window, stride)
        oh = (h + pad[0] + pad[2] - window[0]) // stride[0] + 1
        ow = (w + pad[1] + pad[3] - window[1]) // stride[1] + 1
        if oh < 1 or ow < 1 or max(pad[0], pad[2]) >= window[0] \
                or max(pad[1], pad[3]) >= window[1]:
            raise self.fail(node, f"a {window} window with pads {pad} does not fit {h}x{w}")
        op = FloatOp("maxpool", _node_name(node), [name], node.output[0], window=tuple(window),
                     stride=tuple(stride), pad=tuple(pad))
        self.emit(op, (n, c, oh, ow), "nhwc")
        self.carry_int8(node.input[0], node.output[0])

    def op_AveragePool(self, node) -> None:
        name, t = self.runtime(node, node.input[0])
        a = self.attrs(node)
        if t.layout != "nhwc":
            raise self.fail(node, f"input {name!r} is {t.shape}: AveragePool takes a (1, C, H, "
                                  f"W) image")
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1])):
            raise self.fail(node, "ceil_mode and dilations are not supported")
        window = list(a.get("kernel_shape", []))
        if len(window) != 2:
            raise self.fail(node, f"kernel_shape {window}: only 2-D pooling is supported")
        stride = list(a.get("strides", [1, 1]))
        h, w = t.shape[2:]
        if any(self.pads(node, a, (h, w), window, stride)):
            raise self.fail(node, "a padded average pool (its windows have different sizes) "
                                  "is not supported")
        self.avgpool(node, name, t, window, stride)

    def op_GlobalAveragePool(self, node) -> None:
        name, t = self.runtime(node, node.input[0])
        if t.layout != "nhwc":
            raise self.fail(node, f"input {name!r} is {t.shape}: GlobalAveragePool takes a "
                                  f"(N, C, H, W) images")
        self.avgpool(node, name, t, list(t.shape[2:]), [1, 1])

    def avgpool(self, node, name: str, t: Tensor, window, stride) -> None:
        n, c, h, w = t.shape
        oh, ow = (h - window[0]) // stride[0] + 1, (w - window[1]) // stride[1] + 1
        if oh < 1 or ow < 1:
            raise self.fail(node, f"a {window} window does not fit {h}x{w}")
        op = FloatOp("avgpool", _node_name(node), [name], node.output[0], window=tuple(window),
                     stride=tuple(stride))
        self.emit(op, (n, c, oh, ow), "nhwc")

    def op_BatchNormalization(self, node) -> None:
        """Inference BatchNormalization, folded into the Conv before it (its only reader)."""
        op = self.fusable(node, node.input[0])
        if op is None or op.kind not in ("conv2d", "dwconv") or op.wq is not None \
                or op.relu:
            raise self.fail(node, "BatchNormalization is supported folded into the float Conv "
                                  "right before it (its only reader)")
        if len(node.output) > 1 and any(node.output[1:]) or self.attrs(node).get(
                "training_mode", 0):
            raise self.fail(node, "training mode (running statistics outputs) is not "
                                  "supported")
        gamma, beta, mean, var = (self.const(node, i, what).value.astype(np.float64).reshape(-1)
                                  for i, what in zip(node.input[1:5], ("scale", "B", "mean",
                                                                        "var")))
        k = op.b.shape[0]
        if not all(v.size == k for v in (gamma, beta, mean, var)):
            raise self.fail(node, f"needs {k} values per parameter (the Conv's channels)")
        factor = gamma / np.sqrt(var + float(self.attrs(node).get("epsilon", 1e-5)))
        op.w = op.w * factor  # the last axis is the output channel
        op.b, op.bq = (op.b - mean) * factor + beta, None
        self.alias[node.output[0]] = op.output

    def pads(self, node, a: dict, hw, window, stride) -> list[int]:
        """A Conv's or pool's padding as [top, left, bottom, right] (ONNX's pads are
        [top, left, bottom, right] too); auto_pad SAME_UPPER/SAME_LOWER as ONNX defines
        them."""
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad == "VALID":
            return [0, 0, 0, 0]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            total = [max((-(-d // st) - 1) * st + k - d, 0) for d, k, st in zip(hw, window,
                                                                                 stride)]
            small = [t // 2 for t in total]
            big = [t - t // 2 for t in total]
            begin, end = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
            return [begin[0], begin[1], end[0], end[1]]
        if auto_pad != "NOTSET":
            raise self.fail(node, f"auto_pad={auto_pad} is not supported")
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        if len(pads) != 4 or min(pads) < 0:
            raise self.fail(node, f"pads {pads} are not four non-negative numbers")
        return pads

    def op_Flatten(self, node) -> None:
        name, t = self.runtime(node, node.input[0], integers=True)
        axis = self.attrs(node).get("axis", 1)
        if axis % len(t.shape) != 1:
            raise self.fail(node, f"axis={axis}: only axis 1 (keep the batch) is supported")
        self.reshape(node, name, t, (t.shape[0], math.prod(t.shape[1:])))

    def op_Reshape(self, node) -> None:
        name, t = self.runtime(node, node.input[0], integers=True)
        target = [int(d) for d in self.const(node, node.input[1], "shape").value.reshape(-1)]
        allow_zero = self.attrs(node).get("allowzero", 0)
        dims = [t.shape[i] if d == 0 and not allow_zero and i < len(t.shape) else d
                for i, d in enumerate(target)]
        if dims.count(-1) == 1:
            rest = math.prod(d for d in dims if d != -1)
            if rest <= 0 or math.prod(t.shape) % rest:
                raise self.fail(node, f"cannot reshape {t.shape} to {target}")
            dims[dims.index(-1)] = math.prod(t.shape) // rest
        if math.prod(dims) != math.prod(t.shape) or any(d < 1 for d in dims):
            raise self.fail(node, f"cannot reshape {t.shape} to {target}")
        if dims[0] != t.shape[0]:
            raise self.fail(node, f"reshape {t.shape} -> {tuple(dims)} changes the batch "
                                  f"dimension")
        self.reshape(node, name, t, tuple(dims))

    def reshape(self, node, name: str, t: Tensor, dims: tuple[int, ...]) -> None:
        """A reshape that keeps the batch: to (N, F) or to (N, C, H, W)."""
        if dims == t.shape:
            self.alias[node.output[0]] = self.resolve(node.input[0])
            return
        self.reshape_op(node, name, t, dims)
        self.carry_int8(node.input[0], node.output[0])

    def reshape_op(self, node, name: str, t: Tensor, dims: tuple[int, ...]) -> None:
        if len(dims) == 2:
            if t.layout != "nhwc":
                raise self.fail(node, f"cannot reshape {t.shape} to {dims}")
            _, c, h, w = t.shape
            # Graph column i (row-major over h, w, c) is ONNX column c*H*W + h*W + w.
            hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
            perm = (cc * h * w + hh * w + ww).reshape(-1)
            layout = "plain" if np.array_equal(perm, np.arange(perm.size)) else "perm"
            op = FloatOp("reshape", _node_name(node), [name], node.output[0], shape=dims[1:])
            self.emit(op, dims, layout, perm if layout == "perm" else None)
            return
        if len(dims) == 4 and len(t.shape) == 2:
            _, c, h, w = dims
            hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
            want = (cc * h * w + hh * w + ww).reshape(-1)
            have = t.perm if t.perm is not None else np.arange(want.size)
            if np.array_equal(want, have):
                op = FloatOp("reshape", _node_name(node), [name], node.output[0],
                             shape=(h, w, c))
                self.emit(op, dims, "nhwc")
                return
        raise self.fail(node, f"cannot reshape {t.shape} to {dims} (the importer reshapes "
                              f"images (N, C, H, W) to rows (N, C*H*W) and rows back to images "
                              f"whose element order it keeps)")

    # -- outputs -------------------------------------------------------------------------------

    def finish(self, inputs: list[TensorSpec]) -> FloatModel:
        outputs, values = [], {}
        for vi in self.model.graph.output:
            name = self.resolve(vi.name)
            if name in self.quantized:
                raise OnnxImportError(f"{self.source}: output {vi.name!r} is int8 (a "
                                      f"QuantizeLinear); end the model with DequantizeLinear")
            if name not in self.tensors:
                raise OnnxImportError(f"{self.source}: output {vi.name!r} is a constant")
            if name in {s.name for s in inputs}:
                raise OnnxImportError(f"{self.source}: output {vi.name!r} is a model input")
            t = self.tensors[name]
            outputs.append(TensorSpec(vi.name, t.shape, t.graph_shape, t.layout, t.perm))
            values[vi.name] = name
        return FloatModel(self.model.graph.name or "model", inputs, outputs, self.ops,
                          self.tensors, self.pins, values, self.source)


def _bias_broadcasts(cshape: tuple[int, ...], yshape: tuple[int, ...]) -> bool:
    """A constant that broadcasts onto ``yshape`` along the channel axis (1) only."""
    if len(cshape) > len(yshape):
        return False
    full = (1,) * (len(yshape) - len(cshape)) + tuple(cshape)
    return full[1] == yshape[1] and all(d == 1 for i, d in enumerate(full) if i != 1)


def _minus_zero_point(x: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int
                      ) -> tuple[np.ndarray, np.ndarray, int | None]:
    """ONNX's dequantisation of the integers ``x``: (``x - zp`` as int64, that times
    ``scale`` as float32, the channel axis or None), per tensor when ``scale`` and ``zp`` are
    one value each, else per channel along ``axis``."""
    if scale.size > 1 or zp.size > 1:
        axis %= x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        scale_b, zp_b = scale.reshape(shape), zp.reshape(shape)
    else:
        scale_b, zp_b, axis = scale.reshape(()), zp.reshape(()), None
    q = x.astype(np.int64) - zp_b
    return q, (q * scale_b).astype(np.float32), axis


#: com.microsoft ops the importer lowers (onnxruntime's quantize_static emits them).
_MICROSOFT_OPS = ("QGemm", "QLinearAdd", "QLinearLeakyRelu", "QLinearMul", "QLinearSigmoid")


def _integers(c: _Const, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(integers, scale per channel) of a constant the model gave as integers, else None."""
    if c.q is None or c.q.size != n:
        return None
    return c.q.reshape(n).astype(np.int64), np.broadcast_to(c.qscale, (n,)).astype(np.float64)


def _node_name(node) -> str:
    return repr(node.name) if node.name else f"(unnamed, output {node.output[0]!r})"


def load_float_model(model: str | Path | ModelProto, *, batch: int = 1) -> FloatModel:
    """An ONNX model (a path, or an ``onnx.ModelProto``) as a :class:`FloatModel`.

    ``batch`` replaces a symbolic batch dimension (the graph has static shapes; a model with
    images needs 1). Raises :class:`OnnxImportError`."""
    if isinstance(model, (str, Path)):
        source, proto = str(model), load_onnx(model)
    else:
        source, proto = "<model>", model
        check_onnx(proto, source)
    if not isinstance(batch, int) or batch < 1:
        raise OnnxImportError(f"batch must be a positive integer, not {batch!r}")
    b = _Builder(proto, source, batch)
    inputs = b.add_inputs()
    for node in proto.graph.node:
        b.node(node)
    return b.finish(inputs)


def check_model(model: str | Path | ModelProto, *, batch: int = 1) -> None:
    """Check, without calibration data, that the importer supports every node of ``model`` (a
    path, or an ``onnx.ModelProto``).

    Raises the :class:`OnnxImportError` that :func:`load_float_model` (and so
    :func:`~conveyor.sw.frontends.onnx.int8.import_onnx`) would: one line naming the first
    unsupported op type, attribute or structure and its node. What else ``import_onnx`` can
    reject is calibration data, and scales a quantised (QDQ) model fixes that the graph cannot
    keep.
    """
    load_float_model(model, batch=batch)
