"""Each TFLite op the import supports, in models written here with random shapes, weights,
scales, zero points, strides, paddings and activations: the import's reference equals LiteRT's
reference kernels on every byte, and a compiled model equals them on the golden model. Refusals
of what is not supported, and of broken files, are one line."""

from __future__ import annotations

import numpy as np
import pytest
from tflite_writer import Op, T, model_bytes, write_model

from conveyor.hw.machine.config import PRESETS
from conveyor.sim import golden
from conveyor.sw.apps.cli import main
from conveyor.sw.compiler import compile_graph
from conveyor.sw.compiler.host import apply_host_steps
from conveyor.sw.frontends.tflite import TfliteImportError, import_tflite
from conveyor.sw.ir.reference import evaluate

SAME, VALID = 0, 1
NONE, RELU, RELU6 = 0, 1, 3


def _scales(rng, n):
    return (rng.uniform(0.002, 0.02, n)).tolist()


def conv_model(rng, depthwise: bool):
    h, w = rng.integers(4, 9, 2)
    c = int(rng.integers(1, 6))
    k = c if depthwise else int(rng.integers(1, 20))
    kh, kw = rng.integers(1, 4, 2)
    stride = int(rng.integers(1, 3))
    padding = int(rng.integers(0, 2))
    sx, zx = float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128))
    sw = _scales(rng, k)
    oh = -(-h // stride) if padding == SAME else (h - kh) // stride + 1
    ow = -(-w // stride) if padding == SAME else (w - kw) // stride + 1
    if oh < 1 or ow < 1:
        return conv_model(rng, depthwise)
    shape = (1, kh, kw, k) if depthwise else (k, kh, kw, c)
    tensors = [
        T("x", (1, h, w, c), scale=[sx], zero_point=[zx]),
        T("w", shape, scale=sw, zero_point=[0] * k, quantized_dimension=3 if depthwise else 0,
          data=rng.integers(-127, 128, shape, dtype=np.int8)),
        T("b", (k,), np.int32, scale=[sx * s for s in sw], zero_point=[0] * k,
          data=rng.integers(-3000, 3000, k, dtype=np.int32)),
        T("y", (1, oh, ow, k), scale=[float(rng.uniform(0.05, 0.3))],
          zero_point=[int(rng.integers(-128, 100))])]
    options = {"Padding": padding, "StrideH": stride, "StrideW": stride,
               "FusedActivationFunction": int(rng.choice([NONE, RELU])),
               "DilationHFactor": 1, "DilationWFactor": 1}
    if depthwise:
        options["DepthMultiplier"] = 1
    return tensors, [Op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [0, 1, 2], [3],
                        options)], [0], [3]


def fc_model(rng, softmax: bool = False):
    n_in, n_out = int(rng.integers(1, 40)), int(rng.integers(2, 20))
    sx, sw = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.002, 0.02))
    tensors = [T("x", (1, n_in), scale=[sx], zero_point=[int(rng.integers(-128, 128))]),
               T("w", (n_out, n_in), scale=[sw], zero_point=[0],
                 data=rng.integers(-127, 128, (n_out, n_in), dtype=np.int8)),
               T("b", (n_out,), np.int32, scale=[sx * sw], zero_point=[0],
                 data=rng.integers(-3000, 3000, n_out, dtype=np.int32)),
               T("y", (1, n_out), scale=[float(rng.uniform(0.02, 0.3))],
                 zero_point=[int(rng.integers(-128, 128))])]
    ops = [Op("FULLY_CONNECTED", [0, 1, 2], [3],
              {"FusedActivationFunction": int(rng.choice([NONE, RELU]))})]
    if not softmax:
        return tensors, ops, [0], [3]
    tensors.append(T("p", (1, n_out), scale=[1 / 256], zero_point=[-128]))
    ops.append(Op("SOFTMAX", [3], [4], {"Beta": float(rng.choice([1.0, 0.5, 2.0]))}))
    return tensors, ops, [0], [4]


def add_model(rng, op: str = "ADD"):
    """ADD, or MUL (whose output scale keeps the product's multiplier below 1)."""
    h, w, c = (int(v) for v in rng.integers(1, 7, 3))
    shape = (1, h, w, c)
    tensors = [T(n, shape, scale=[float(rng.uniform(0.01, 0.2))],
                 zero_point=[int(rng.integers(-128, 128))]) for n in ("a", "b", "y")]
    if op == "MUL":
        tensors[2].scale = [tensors[0].scale[0] * tensors[1].scale[0] * float(
            rng.uniform(2.5, 200))]
    return tensors, [Op(op, [0, 1], [2], {"FusedActivationFunction":
                                          int(rng.choice([NONE, RELU]))})], [0, 1], [2]


def pool_model(rng):
    h, w, c = (int(v) for v in rng.integers(2, 9, 3))
    fh, fw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
    sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    oh, ow = (h - fh) // sh + 1, (w - fw) // sw + 1
    q = {"scale": [0.05], "zero_point": [int(rng.integers(-128, 128))]}
    tensors = [T("x", (1, h, w, c), **q), T("y", (1, oh, ow, c), **q)]
    return tensors, [Op("AVERAGE_POOL_2D", [0], [1], {
        "Padding": VALID, "StrideH": sh, "StrideW": sw, "FilterHeight": fh, "FilterWidth": fw,
        "FusedActivationFunction": NONE})], [0], [1]


def maxpool_model(rng):
    h, w, c = (int(v) for v in rng.integers(2, 9, 3))
    fh, fw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
    sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    padding = int(rng.integers(0, 2))
    if padding == SAME:
        oh, ow = -(-h // sh), -(-w // sw)
    else:
        oh, ow = (h - fh) // sh + 1, (w - fw) // sw + 1
    q = {"scale": [0.05], "zero_point": [int(rng.integers(-128, 128))]}
    tensors = [T("x", (1, h, w, c), **q), T("y", (1, oh, ow, c), **q)]
    return tensors, [Op("MAX_POOL_2D", [0], [1], {
        "Padding": padding, "StrideH": sh, "StrideW": sw, "FilterHeight": fh,
        "FilterWidth": fw, "FusedActivationFunction": int(rng.choice([NONE, RELU]))})], [0], [1]


def leaky_model(rng):
    """LEAKY_RELU between scales that need a right shift, none, or a left shift."""
    shape = (1, *(int(v) for v in rng.integers(1, 7, 3)))
    sx = float(rng.uniform(0.01, 0.1))
    tensors = [T("x", shape, scale=[sx], zero_point=[int(rng.integers(-128, 128))]),
               T("y", shape, scale=[sx * float(rng.choice([0.3, 1.0, 1.7, 4.0]))],
                 zero_point=[int(rng.integers(-128, 128))])]
    alpha = float(rng.choice([0.01, 0.1, 0.2, 0.5]))
    return tensors, [Op("LEAKY_RELU", [0], [1], {"Alpha": alpha})], [0], [1]


def activation_model(rng, op: str, sx: float | None = None, zx: int | None = None):
    """LOGISTIC or TANH of at least 256 elements (rank 2 or 4), from an input scale between
    0.01 and 0.5 and any zero point, into the output quantisation TFLite requires."""
    if rng.random() < 0.5:
        shape = (1, int(rng.integers(256, 300)))
    else:
        h, w = (int(v) for v in rng.integers(4, 9, 2))
        shape = (1, h, w, -(-256 // (h * w)) + int(rng.integers(0, 3)))
    if sx is None:
        sx = float(np.exp(rng.uniform(np.log(0.01), np.log(0.5))))
        zx = int(rng.integers(-128, 128))
    out = {"scale": [1 / 256], "zero_point": [-128]} if op == "LOGISTIC" else \
        {"scale": [1 / 128], "zero_point": [0]}
    tensors = [T("x", shape, scale=[sx], zero_point=[zx]), T("y", shape, **out)]
    return tensors, [Op(op, [0], [1])], [0], [1]


BUILDERS = {"conv": lambda r: conv_model(r, False), "depthwise": lambda r: conv_model(r, True),
            "fc": fc_model, "fc_softmax": lambda r: fc_model(r, True), "add": add_model,
            "mul": lambda r: add_model(r, "MUL"),
            "avgpool": pool_model, "maxpool": maxpool_model, "leaky_relu": leaky_model,
            "logistic": lambda r: activation_model(r, "LOGISTIC"),
            "tanh": lambda r: activation_model(r, "TANH")}

#: Kinds whose first feed holds every int8 value (then random ones): element-wise tables.
_SWEPT = ("logistic", "tanh")


def _feeds(model, rng, count, kind: str | None = None):
    feeds = [{n: rng.integers(-128, 128, s, dtype=np.int8) for n, s in model.inputs.items()}
             for _ in range(count)]
    if kind in _SWEPT:
        feeds[0] = {n: _every_int8(s) for n, s in model.inputs.items()}
    return feeds


def _every_int8(shape) -> np.ndarray:
    """-128 .. 127 in order, repeated to fill ``shape`` (at least 256 elements)."""
    assert int(np.prod(shape)) >= 256
    return np.resize(np.arange(-128, 128, dtype=np.int8), shape)


@pytest.mark.parametrize("kind", list(BUILDERS))
@pytest.mark.parametrize("seed", range(8))
def test_the_import_is_litert(tmp_path, kind, seed):
    rng = np.random.default_rng(seed)
    model = import_tflite(write_model(tmp_path / "m.tflite", *BUILDERS[kind](rng)))
    for feed in _feeds(model, rng, 6, kind):
        want = model.oracle(feed)
        got = apply_host_steps(model.host, evaluate(model.graph, model.graph_inputs(feed)))
        for name, value in want.items():
            assert np.array_equal(got[name], value), name


#: Input quantisations where, on glibc 2.36, LiteRT's table is not what other arithmetic gives:
#: a port of the integer kernels (gemmlowp fixed point, TFLite Micro's) on the first four,
#: float64 functions rounded to float32 (correctly rounded tanhf) on the next two, numpy's
#: float32 exp and tanh on the last two. Found among 100,000 random quantisations; LiteRT
#: equalled its float32 table of the C library's expf and tanhf on every one.
_DISCERNING = [("LOGISTIC", 0.0039062181022018194, -38), ("LOGISTIC", 0.03714512661099434, 30),
               ("TANH", 0.06311272084712982, 119), ("TANH", 0.017364932224154472, 124),
               ("TANH", 0.018779998645186424, 35), ("TANH", 0.009451819583773613, 49),
               ("LOGISTIC", 0.006471871864050627, 85), ("TANH", 0.14126385748386383, -19)]


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_activation_tables_are_litert_on_every_input(tmp_path, op):
    """Every int8 input, on a grid of input quantisations and on the discerning ones."""
    rng = np.random.default_rng(7)
    grid = [(s, z) for s in (0.01, 1 / 64, 1 / 16, 0.1, 0.25, 0.5) for z in (-128, -37, 0, 127)]
    cases = grid + [(s, z) for o, s, z in _DISCERNING if o == op]
    for i, (sx, zx) in enumerate(cases):
        path = write_model(tmp_path / f"{i}.tflite", *activation_model(rng, op, sx, zx))
        model = import_tflite(path)
        feed = {n: _every_int8(shape) for n, shape in model.inputs.items()}
        got = evaluate(model.graph, model.graph_inputs(feed))
        for name, value in model.oracle(feed).items():
            assert np.array_equal(got[name], value), (sx, zx)


@pytest.mark.parametrize("kind", ["conv", "depthwise", "add", "avgpool", "maxpool",
                                  "fc_softmax", "leaky_relu", "logistic", "tanh", "mul"])
def test_a_compiled_op_is_litert_on_golden(tmp_path, kind):
    rng = np.random.default_rng(100)
    model = import_tflite(write_model(tmp_path / "m.tflite", *BUILDERS[kind](rng)))
    feed, = _feeds(model, rng, 1, kind)
    compiled = compile_graph(model.graph, model.graph_inputs(feed), PRESETS["small16"])
    compiled.host = model.host
    results = [golden.run(r.program) for r in compiled.runs]
    assert sum(r.cycles for r in results) == compiled.predicted_cycles
    got = compiled.outputs([r.mem for r in results])
    for name, value in model.oracle(feed).items():
        assert np.array_equal(got[name], value), name


def _cli_error(capsys, path, tmp_path) -> str:
    assert main(["compile", str(path), "-c", "small16", "-o", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_unsupported_ops_and_options_are_refused_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    q = {"scale": [0.05], "zero_point": [0]}
    swish = write_model(tmp_path / "swish.tflite", [T("x", (1, 4), **q), T("y", (1, 4), **q)],
                        [Op("HARD_SWISH", [0], [1])], [0], [1])
    assert "operator 0 (HARD_SWISH): unsupported op" in _cli_error(capsys, swish, tmp_path)
    for op in ("LOGISTIC", "TANH"):
        other = write_model(tmp_path / f"{op}.tflite", [T("x", (1, 4), **q),
                                                       T("y", (1, 4), **q)],
                            [Op(op, [0], [1])], [0], [1])
        assert f"TFLite's int8 {op} has scale" in _cli_error(capsys, other, tmp_path)
    tensors, ops, ins, outs = conv_model(rng, False)
    ops[0].options["DilationHFactor"] = 2
    dilated = write_model(tmp_path / "dil.tflite", tensors, ops, ins, outs)
    assert "dilated convolutions are not supported" in _cli_error(capsys, dilated, tmp_path)
    tensors, ops, ins, outs = pool_model(rng)
    ops[0].options["Padding"] = SAME
    ops[0].options["FilterHeight"] = 2
    tensors[1].shape = (1, *tensors[0].shape[1:])
    ops[0].options.update(StrideH=1, StrideW=1)
    padded = write_model(tmp_path / "pad.tflite", tensors, ops, ins, outs)
    assert "padded average pool" in _cli_error(capsys, padded, tmp_path)


def test_broken_files_are_refused_in_one_line(tmp_path, capsys):
    good = model_bytes(*conv_model(np.random.default_rng(3), False))
    cases = {"empty.tflite": b"", "text.tflite": b"not a model at all",
             "short.tflite": good[:len(good) // 3], "noid.tflite": good[:4] + b"XXXX" + good[8:]}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        err = _cli_error(capsys, path, tmp_path)
        assert name in err, err
    assert "no such file" in _cli_error(capsys, tmp_path / "missing.tflite", tmp_path)


def test_flipped_bytes_never_crash(tmp_path):
    """Every corruption is a model that imports or one TfliteImportError (or a clear refusal
    from the graph builder), never another exception."""
    assert_flips_never_crash(model_bytes(*fc_model(np.random.default_rng(4))), tmp_path, 5)


def assert_flips_never_crash(model: bytes, tmp_path, seed: int, count: int = 150) -> None:
    """``count`` copies of ``model`` with 1-3 random bytes changed each import or raise one
    ConveyorError line."""
    from conveyor.errors import ConveyorError
    good = bytearray(model)
    rng = np.random.default_rng(seed)
    for i in range(count):
        data = bytearray(good)
        for pos in rng.integers(8, len(data), int(rng.integers(1, 4))):
            data[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"f{i}.tflite"
        path.write_bytes(bytes(data))
        try:
            import_tflite(path)
        except ConveyorError as e:
            assert "\n" not in str(e)


def test_a_tflite_model_compiles_and_runs_from_the_command_line(tmp_path, capsys):
    path = write_model(tmp_path / "fc.tflite", *fc_model(np.random.default_rng(9), True))
    out = tmp_path / "fc"
    assert main(["compile", path, "-c", "small16", "-o", str(out), "--seed", "2"]) == 0
    assert "cycles predicted on small16" in capsys.readouterr().out
    assert main(["run", str(out)]) == 0
    assert "bit-exact yes" in capsys.readouterr().out
    # the user's own inputs: 4 samples in the model's shape (1, N) with a samples axis
    model = import_tflite(path)
    (name, shape), = model.inputs.items()
    xs = np.random.default_rng(1).integers(-128, 128, (4, *shape), dtype=np.int8)
    np.savez(tmp_path / "in.npz", **{name: xs})
    assert main(["run", str(out), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                 str(tmp_path / "out.npz")]) == 0
    assert "4 sample(s)" in capsys.readouterr().out
    with np.load(tmp_path / "out.npz") as f:
        for i in range(4):
            for key, value in model.oracle({name: xs[i]}).items():
                assert np.array_equal(f[key][i], value), key
    np.savez(tmp_path / "bad.npz", other=xs)
    assert main(["run", str(out), "--inputs", str(tmp_path / "bad.npz")]) != 0
    assert "missing" in capsys.readouterr().err
    with pytest.raises(TfliteImportError, match="no such file"):
        import_tflite(tmp_path / "nope.tflite")
