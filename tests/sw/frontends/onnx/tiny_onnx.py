"""Tiny ONNX models built in a test, and the checks the ONNX frontend's tests share: every
supported op in float against onnx's reference evaluator and quantised against the graph
reference; every user error is one line."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from conveyor.errors import ConveyorError
from conveyor.sw.frontends.onnx import import_onnx, load_float_model

DIGITS = Path(__file__).resolve().parents[4] / "examples" / "digits"


def model(nodes, inputs, outputs, inits=(), opset=13):
    """An ONNX model: ``inputs``/``outputs`` are (name, shape) with float elements, ``inits``
    a mapping name -> array."""
    graph = helper.make_graph(
        nodes, "t",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def graph_ops(imported):
    return [op.NAME.split(".")[1] for op in imported.graph.ops
            if op.NAME not in ("graph.const", "graph.input", "graph.output")]


def check(m, feeds, *, batch=1, rel=0.04, onnxruntime=False):
    """Float: the importer's float model equals onnx's reference evaluator (or onnxruntime:
    onnx 1.x's evaluator gets BatchNormalization and SAME_LOWER MaxPool wrong). Int8: the
    graph, calibrated on ``feeds`` and run by the graph reference, stays within ``rel`` of the
    output range of float. ``feeds`` hold several samples; for a batch-1 model each runs
    alone."""
    if onnxruntime:
        import onnxruntime as ort
        ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    else:
        ref = ReferenceEvaluator(m)
    fm = load_float_model(m, batch=batch)
    n = next(iter(feeds.values())).shape[0]
    chunks = [ref.run(None, {k: v[i:i + batch] for k, v in feeds.items()})
              for i in range(0, n, batch)]
    want = [np.concatenate(outs) for outs in zip(*chunks)]
    got = fm.run(feeds)
    for o, w in zip(fm.outputs, want):
        np.testing.assert_allclose(got[o.name], w, rtol=1e-5, atol=1e-5)

    imported = import_onnx(m, feeds, batch=batch)
    for start in range(0, n, batch):
        sample = {k: v[start:start + batch] for k, v in feeds.items()}
        q = imported.evaluate(imported.quantize_inputs(sample))
        deq = imported.dequantize_outputs(q)
        for o, w in zip(imported.outputs, want):
            w = w[start:start + batch]
            span = float(np.abs(want[imported.outputs.index(o)]).max())
            assert q[o.name].dtype == np.int8 and np.abs(q[o.name]).max() > 0
            err = float(np.abs(deq[o.name] - w).max())
            assert err <= rel * span, f"{o.name}: error {err:.4f} vs range {span:.4f}"
    return imported


def one_line(excinfo, *words):
    text = str(excinfo.value)
    assert isinstance(excinfo.value, ConveyorError)
    assert "\n" not in text and text
    for w in words:
        assert w in text, text
