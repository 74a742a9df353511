"""Train the two digits models in numpy and export them as float ONNX files.

    python examples/digits/train.py        # writes mlp.onnx, cnn.onnx and the calibration sets

- ``mlp.onnx``: input ``x`` (N, 64) -> Gemm 64x32 -> Relu -> Gemm 32x10 -> ``logits`` (N, 10).
- ``cnn.onnx``: input ``x`` (N, 1, 8, 8) -> Conv 3x3 1->8 pad 1 -> Relu -> MaxPool 2x2 stride 2
  -> Flatten (C, H, W order: 128) -> Gemm 128x10 -> ``logits`` (N, 10).

Both train on the fixed split of :func:`conveyor.sw.frontends.datasets.digits_data` (pixels / 16) with
Adam and softmax cross-entropy, from a fixed seed, so a rerun writes the same weights on the same
numpy. ``mlp_calib.npy`` / ``cnn_calib.npy`` are the first 128 training images in each model's
input layout, for post-training quantisation. The float accuracy on the held-out 360 images is
printed, computed both here and by onnx's reference evaluator on the exported file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from conveyor.sw.frontends.datasets import digits_data

HERE = Path(__file__).resolve().parent
SEED = 0
OPSET = 13
CALIBRATION_SAMPLES = 128


# --- training machinery -----------------------------------------------------------------------

def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
    p[np.arange(n), y] -= 1
    return float(loss), p / n


class Adam:
    def __init__(self, params: dict[str, np.ndarray], lr: float = 3e-3, wd: float = 1e-4):
        self.params, self.lr, self.wd, self.t = params, lr, wd, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        for k, g in grads.items():
            if k.startswith("w"):
                g = g + self.wd * self.params[k]
            self.m[k] = 0.9 * self.m[k] + 0.1 * g
            self.v[k] = 0.999 * self.v[k] + 0.001 * g * g
            mh = self.m[k] / (1 - 0.9 ** self.t)
            vh = self.v[k] / (1 - 0.999 ** self.t)
            self.params[k] -= self.lr * mh / (np.sqrt(vh) + 1e-8)


def fit(params, forward_backward, x, y, rng, epochs: int, batch: int = 32) -> None:
    opt = Adam(params)
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for i in range(0, len(y), batch):
            idx = order[i:i + batch]
            loss, grads = forward_backward(params, x[idx], y[idx])
            opt.step(grads)
            total += loss * len(idx)
        if epoch % 20 == 19:
            print(f"  epoch {epoch + 1}: loss {total / len(y):.4f}")


# --- the MLP ----------------------------------------------------------------------------------

def mlp_init(rng) -> dict[str, np.ndarray]:
    return {"w1": rng.normal(0, np.sqrt(2 / 64), (32, 64)), "b1": np.zeros(32),
            "w2": rng.normal(0, np.sqrt(2 / 32), (10, 32)), "b2": np.zeros(10)}


def mlp_forward(p, x):
    h = np.maximum(x @ p["w1"].T + p["b1"], 0)
    return h @ p["w2"].T + p["b2"], h


def mlp_step(p, x, y):
    logits, h = mlp_forward(p, x)
    loss, d = softmax_xent(logits, y)
    dh = (d @ p["w2"]) * (h > 0)
    return loss, {"w2": d.T @ h, "b2": d.sum(0), "w1": dh.T @ x, "b1": dh.sum(0)}


# --- the CNN ----------------------------------------------------------------------------------

def im2col(x: np.ndarray) -> np.ndarray:
    """(N, 1, 8, 8) -> (N, 64, 9): the 3x3 window (pad 1) around every pixel, (r, s) order."""
    xp = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    cols = [xp[:, r:r + 8, s:s + 8] for r in range(3) for s in range(3)]
    return np.stack(cols, axis=-1).reshape(len(x), 64, 9)


def cnn_init(rng) -> dict[str, np.ndarray]:
    return {"wc": rng.normal(0, np.sqrt(2 / 9), (8, 1, 3, 3)), "bc": np.zeros(8),
            "wf": rng.normal(0, np.sqrt(2 / 128), (10, 128)), "bf": np.zeros(10)}


def cnn_forward(p, x):
    cols = im2col(x)
    conv = cols @ p["wc"].reshape(8, 9).T + p["bc"]                    # (N, 64, 8)
    a = np.maximum(conv, 0).reshape(-1, 8, 8, 8).transpose(0, 3, 1, 2)  # (N, 8, 8, 8) NCHW
    windows = a.reshape(-1, 8, 4, 2, 4, 2)
    pooled = windows.max(axis=(3, 5))                                  # (N, 8, 4, 4)
    flat = pooled.reshape(len(x), 128)                                 # ONNX Flatten: C, H, W
    return flat @ p["wf"].T + p["bf"], (cols, conv, windows, pooled, flat)


def cnn_step(p, x, y):
    logits, (cols, conv, windows, pooled, flat) = cnn_forward(p, x)
    loss, d = softmax_xent(logits, y)
    grads = {"wf": d.T @ flat, "bf": d.sum(0)}
    dpool = (d @ p["wf"]).reshape(pooled.shape)
    hit = windows == pooled[:, :, :, None, :, None]
    hit = hit / hit.sum(axis=(3, 5), keepdims=True)                    # ties share the gradient
    da = (hit * dpool[:, :, :, None, :, None]).reshape(-1, 8, 8, 8)
    dconv = da.transpose(0, 2, 3, 1).reshape(conv.shape) * (conv > 0)  # (N, 64, 8)
    grads["wc"] = np.einsum("npk,npj->kj", dconv, cols).reshape(8, 1, 3, 3)
    grads["bc"] = dconv.sum(axis=(0, 1))
    return loss, grads


# --- ONNX export ------------------------------------------------------------------------------

def _init(name: str, a: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def export_mlp(p) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h1"], "fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], "relu1"),
        helper.make_node("Gemm", ["a1", "fc2.weight", "fc2.bias"], ["logits"], "fc2", transB=1),
    ]
    inits = [_init("fc1.weight", p["w1"]), _init("fc1.bias", p["b1"]),
             _init("fc2.weight", p["w2"]), _init("fc2.bias", p["b2"])]
    return _model("digits_mlp", nodes, inits, ["N", 64])


def export_cnn(p) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c1"], "conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c1"], ["a1"], "relu"),
        helper.make_node("MaxPool", ["a1"], ["p1"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p1"], ["f1"], "flatten", axis=1),
        helper.make_node("Gemm", ["f1", "fc.weight", "fc.bias"], ["logits"], "fc", transB=1),
    ]
    inits = [_init("conv.weight", p["wc"]), _init("conv.bias", p["bc"]),
             _init("fc.weight", p["wf"]), _init("fc.bias", p["bf"])]
    return _model("digits_cnn", nodes, inits, ["N", 1, 8, 8])


def _model(name, nodes, inits, in_shape) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="conveyor examples/digits/train.py")
    model.ir_version = 8  # readable by onnx >= 1.10
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> float:
    (logits,) = ReferenceEvaluator(model).run(None, {"x": x})
    return float((logits.argmax(1) == y).mean())


def main() -> None:
    for name, layout, init, step, forward, export, epochs in (
            ("mlp", "flat", mlp_init, mlp_step, mlp_forward, export_mlp, 100),
            ("cnn", "nchw", cnn_init, cnn_step, cnn_forward, export_cnn, 60)):
        rng = np.random.default_rng(SEED)
        x, y = digits_data("train", layout)
        xt, yt = digits_data("test", layout)
        print(f"{name}: training on {len(y)} images")
        params = init(rng)
        fit(params, step, x.astype(np.float64), y, rng, epochs)
        acc = float((forward(params, xt.astype(np.float64))[0].argmax(1) == yt).mean())
        model = export(params)
        onnx.save(model, HERE / f"{name}.onnx")
        np.save(HERE / f"{name}_calib.npy", x[:CALIBRATION_SAMPLES])
        print(f"{name}: float accuracy on the held-out {len(yt)}: {acc:.2%} (numpy), "
              f"{onnx_accuracy(model, xt, yt):.2%} (onnx reference evaluator)")


if __name__ == "__main__":
    main()
