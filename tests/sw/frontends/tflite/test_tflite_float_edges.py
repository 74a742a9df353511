"""TFLite models with float I/O and int8 inside, as the converter writes them: a float32 input
into a QUANTIZE, an output from a DEQUANTIZE. The host quantises and dequantises exactly as
LiteRT's reference kernels do, so the host's quantisation, the compiled int8 graph and the
host's dequantisation give LiteRT's float32 outputs bit for bit, on inputs on rounding ties and
out of range too; from the command line as well. An int8 -> int8 QUANTIZE inside a model is a
lookup table of LiteRT's Requantize. Float edges of other kinds are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_tflite_ops import _cli_error, assert_flips_never_crash, conv_model, fc_model
from tflite_writer import Op, T, model_bytes, write_model

from conveyor.hw.machine.config import PRESETS
from conveyor.sim import golden
from conveyor.sw.apps.cli import main
from conveyor.sw.apps.cli.given_inputs import model_outputs
from conveyor.sw.compiler import compile_graph
from conveyor.sw.compiler.host import apply_host_steps
from conveyor.sw.frontends.quantize import dequantize, quantize, tflite_quantize
from conveyor.sw.frontends.tflite import import_tflite
from conveyor.sw.frontends.tflite.oracle import litert_reference
from conveyor.sw.ir.reference import evaluate


def with_float_edges(tensors, ops, inputs, outputs):
    """The model with each input made by a QUANTIZE of a float32 input ``<name>_f`` and each
    output dequantised into a float32 ``<name>_f``."""
    tensors, ops, ins, outs = list(tensors), list(ops), [], []
    for i in inputs:
        tensors.append(T(f"{tensors[i].name}_f", tensors[i].shape, np.float32))
        ins.append(len(tensors) - 1)
        ops.insert(0, Op("QUANTIZE", [len(tensors) - 1], [i]))
    for i in outputs:
        tensors.append(T(f"{tensors[i].name}_f", tensors[i].shape, np.float32))
        outs.append(len(tensors) - 1)
        ops.append(Op("DEQUANTIZE", [i], [len(tensors) - 1]))
    return tensors, ops, ins, outs


BUILDERS = {"conv": lambda r: conv_model(r, False), "depthwise": lambda r: conv_model(r, True),
            "fc": fc_model, "fc_softmax": lambda r: fc_model(r, True)}


def tie_values(scale: float, zp: int) -> np.ndarray:
    """float32 values around every rounding tie of the int8 range and past it: ``(k + 0.5) *
    scale`` and its two float32 neighbours, for k over -140 - zp .. 140 - zp (many divide to an
    exact tie)."""
    k = np.arange(-140, 140, dtype=np.float64) - zp
    x = ((k + 0.5) * np.float32(scale)).astype(np.float32)
    return np.concatenate([x, np.nextafter(x, np.float32(np.inf)),
                           np.nextafter(x, np.float32(-np.inf))])


def float_feeds(model, rng, count: int) -> list[dict]:
    """Float inputs in the model's shapes: the first of ties (:func:`tie_values`), then random
    ones of which about a tenth saturate (up to 1000 steps past the int8 range)."""
    feeds = []
    for n in range(count):
        feed = {}
        for spec in model.float_inputs:
            size = int(np.prod(spec.onnx_shape))
            if n == 0:
                x = np.resize(rng.permutation(tie_values(spec.scale, spec.zp)), size)
            else:
                x = rng.normal(0, 60, size) * spec.scale
                far = rng.random(size) < 0.1
                x[far] = rng.uniform(-1000, 1000, int(far.sum())) * spec.scale
            feed[spec.name] = x.astype(np.float32).reshape(spec.onnx_shape)
        feeds.append(feed)
    return feeds


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32).view(np.uint32)


# --- the host's QUANTIZE and DEQUANTIZE are LiteRT's --------------------------------------------

#: Values where LiteRT's C++ conversion of the quotient to int32 is undefined (beyond int32,
#: infinities, NaN): tflite_quantize does what LiteRT 2.3 on x86-64 does with them.
_UNDEFINED = np.array([np.inf, -np.inf, np.nan, 1e30, -1e30, 3e38, -3e38], np.float32)


def test_quantize_and_dequantize_are_litert(tmp_path):
    """tflite_quantize and dequantize against LiteRT's QUANTIZE -> DEQUANTIZE, every byte and
    float32 bit: ties and their neighbours, random values, saturating and undefined ones, on a
    grid of quantisations. The ties discern: ONNX's rounding (half to even) and a division in
    float64 each differ on some."""
    rng = np.random.default_rng(11)
    n, compared, onnx_differs, f64_differs = 4096, 0, 0, 0
    for scale in (1e-3, 0.0123, 1 / 64, 0.05, 0.1, 1 / 3, 2.5):
        for zp in (-128, -37, 0, 5, 127):
            path = write_model(tmp_path / "qd.tflite", [
                T("x", (1, n), np.float32), T("q", (1, n), scale=[scale], zero_point=[zp]),
                T("y", (1, n), np.float32)],
                [Op("QUANTIZE", [0], [1]), Op("DEQUANTIZE", [1], [2])], [0], [2])
            s = float(np.float32(scale))
            x = np.concatenate([
                tie_values(s, zp), rng.normal(0, 100, 1000) * s,
                rng.uniform(-1e4, 1e4, 300) * s, rng.uniform(-3, 3, 100) * 2.0 ** 31 * s,
                _UNDEFINED, [0.0, -0.0]]).astype(np.float32)
            x = np.resize(x, n).reshape(1, n)
            got = litert_reference(path, {"x": x}, ["q", "y"])
            assert np.array_equal(tflite_quantize(x, s, zp), got["q"]), (scale, zp)
            assert np.array_equal(_bits(dequantize(got["q"], s, zp)), _bits(got["y"]))
            compared += n
            ties = x[0, :840]
            onnx_differs += int((quantize(ties, s, zp) != got["q"][0, :840]).sum())
            y = ties.astype(np.float64) / s
            half_away = np.trunc(y) + np.where(np.abs(y - np.trunc(y)) >= 0.5, np.sign(y), 0)
            f64_differs += int((np.clip(half_away + zp, -128, 127) != got["q"][0, :840]).sum())
    assert compared == 35 * n
    assert onnx_differs > 100 and f64_differs > 100, (onnx_differs, f64_differs)


def test_int8_dequantised_quantises_back():
    """Every int8 value, dequantised and quantised again, is itself (how a float model takes
    random int8 inputs: LiteRT is given their dequantised floats)."""
    q = np.arange(-128, 128, dtype=np.int8)
    for scale in np.exp(np.random.default_rng(3).uniform(np.log(1e-5), np.log(100), 300)):
        s = float(np.float32(scale))
        for zp in (-128, -1, 0, 64, 127):
            assert np.array_equal(tflite_quantize(dequantize(q, s, zp), s, zp), q)


# --- the import, the graph, the compiled program ----------------------------------------------

@pytest.mark.parametrize("kind", list(BUILDERS))
@pytest.mark.parametrize("seed", range(4))
def test_a_float_model_is_litert_in_float(tmp_path, kind, seed):
    """Host quantisation -> the graph's reference -> host dequantisation equals LiteRT's float32
    outputs bit for bit; the graph's int8 inputs are LiteRT's QUANTIZE outputs and its int8
    outputs the tensors LiteRT dequantises."""
    rng = np.random.default_rng(seed)
    tensors, ops, ins, outs = with_float_edges(*BUILDERS[kind](rng))
    path = write_model(tmp_path / "m.tflite", tensors, ops, ins, outs)
    model = import_tflite(path)
    assert list(model.inputs) == ["x_f"] and [s.name for s in model.float_outputs] == \
        [tensors[outs[0]].name]
    quantised = tensors[ops[0].outputs[0]].name  # LiteRT's name of the QUANTIZE's output
    for feed in float_feeds(model, rng, 6):
        feeds = model.graph_inputs(feed)
        q = litert_reference(path, feed, [quantised])[quantised]
        assert np.array_equal(feeds["x_f"], q.reshape(feeds["x_f"].shape))
        ints = apply_host_steps(model.host, evaluate(model.graph, feeds))
        for name, value in model.graph_oracle(feed).items():
            assert np.array_equal(ints[name], value), name
        floats = model_outputs(model.io, ints)
        want = model.oracle(feed)
        assert set(floats) == set(want)
        for name, value in want.items():
            assert floats[name].dtype == value.dtype, name
            assert np.array_equal(floats[name].view(np.uint8), value.view(np.uint8)), name


@pytest.mark.parametrize("kind", ["conv", "fc"])
def test_a_compiled_float_model_is_litert_on_golden(tmp_path, kind):
    rng = np.random.default_rng(40)
    model = import_tflite(write_model(tmp_path / "m.tflite",
                                      *with_float_edges(*BUILDERS[kind](rng))))
    feeds = float_feeds(model, rng, 3)
    compiled = compile_graph(model.graph, model.graph_inputs(feeds[0]), PRESETS["small16"])
    compiled.host = model.host
    for feed in feeds:
        results = [golden.run(p) for p in compiled.programs_for(model.graph_inputs(feed))]
        assert sum(r.cycles for r in results) == compiled.predicted_cycles
        got = model_outputs(model.io, compiled.outputs([r.mem for r in results]))
        for name, value in model.oracle(feed).items():
            assert value.dtype == np.float32
            assert np.array_equal(_bits(got[name]), _bits(value)), name


def test_a_float_model_compiles_and_runs_from_the_command_line(tmp_path, capsys):
    """No --calibration; the compiled inputs are random int8; `conveyor run --inputs` takes float
    arrays (the model's shape, or a samples axis of it, or int8 already quantised) and writes
    LiteRT's float outputs, checked against LiteRT on the floats as given."""
    rng = np.random.default_rng(5)
    path = write_model(tmp_path / "m.tflite", *with_float_edges(*conv_model(rng, False)))
    model = import_tflite(path)
    out = tmp_path / "dir"
    assert main(["compile", path, "-c", "small16", "-o", str(out)]) == 0
    assert "cycles predicted on small16" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["io"]["inputs"]["x_f"]["quantizer"] == "tflite"
    assert list(manifest["io"]["outputs"]) == ["y_f"]
    with np.load(out / "inputs.npz") as f:
        assert f["x_f"].dtype == np.int8
    assert main(["run", str(out)]) == 0
    assert "bit-exact yes" in capsys.readouterr().out

    name, = model.inputs
    spec, = model.float_inputs
    xs = np.stack([f[name] for f in float_feeds(model, rng, 4)])     # (4, 1, H, W, C)
    cases = {"one": xs[0], "many": xs, "int8": tflite_quantize(xs[1], spec.scale, spec.zp)}
    for label, x in cases.items():
        np.savez(tmp_path / "in.npz", **{name: x})
        assert main(["run", str(out), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                     str(tmp_path / "out.npz"), "--json"]) == 0, label
        report = json.loads(capsys.readouterr().out)
        samples = list(x) if label == "many" else [x]
        assert report["bit_exact"] is True and report["checked"] == len(samples), label
        assert report["cycles"] == report["predicted_cycles"], label
        with np.load(tmp_path / "out.npz") as f:
            got = f["y_f"] if label == "many" else f["y_f"][None]
        for i, sample in enumerate(samples):
            want = model.oracle({name: sample})["y_f"]
            assert got[i].dtype == np.float32 and got[i].shape == want.shape, label
            assert np.array_equal(_bits(got[i]), _bits(want)), (label, i)
    # the int8 case is the same as its floats: LiteRT quantises their dequantisation back
    assert np.array_equal(_bits(model.oracle({name: cases["int8"]})["y_f"]),
                          _bits(model.oracle({name: xs[1]})["y_f"]))


# --- a QUANTIZE inside the model: int8 -> int8 ------------------------------------------------

def requant_model(sx, zx, sy, zy, shape=(1, 256)):
    return ([T("x", shape, scale=[sx], zero_point=[zx]),
             T("y", shape, scale=[sy], zero_point=[zy])], [Op("QUANTIZE", [0], [1])], [0], [1])


def test_a_requantising_quantize_is_litert_on_every_input(tmp_path):
    """Every int8 input through an int8 -> int8 QUANTIZE of random quantisations (ratios from
    1/400 to 400: right, no and left shifts) equals LiteRT, and one compiles on golden."""
    rng = np.random.default_rng(8)
    x = {"x": np.arange(-128, 128, dtype=np.int8).reshape(1, 256)}
    cases = [(0.05, 3, 0.05, 3), (0.05, 3, 0.05, -7)]
    for _ in range(120):
        sx = float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0))))
        cases.append((sx, int(rng.integers(-128, 128)), sx * float(np.exp(rng.uniform(-6, 6))),
                      int(rng.integers(-128, 128))))
    for i, case in enumerate(cases):
        model = import_tflite(write_model(tmp_path / f"r{i}.tflite", *requant_model(*case)))
        got = evaluate(model.graph, model.graph_inputs(x))
        for name, value in model.oracle(x).items():
            assert np.array_equal(got[name], value), case
    # (1, 256) keeps x in every MEM slice of small16, leaving the table none: (1, 4, 4, 16)
    model = import_tflite(write_model(tmp_path / "r.tflite",
                                      *requant_model(*cases[-1], shape=(1, 4, 4, 16))))
    x = {"x": x["x"].reshape(1, 4, 4, 16)}
    compiled = compile_graph(model.graph, model.graph_inputs(x), PRESETS["small16"])
    result = golden.run(compiled.runs[0].program)
    assert result.cycles == compiled.predicted_cycles
    assert compiled.bit_exact([result.mem])
    assert np.array_equal(compiled.outputs([result.mem])["y"], model.oracle(x)["y"])


# --- refusals -----------------------------------------------------------------------------------

def test_other_float_edges_are_refused_in_one_line(tmp_path, capsys):
    q = {"scale": [0.05], "zero_point": [0]}
    w = {"scale": [0.01], "zero_point": [0], "data": np.ones((3, 4), np.int8)}
    float_fc = write_model(tmp_path / "ffc.tflite", [
        T("x", (1, 4), np.float32), T("w", (3, 4), **w), T("y", (1, 3), **q)],
        [Op("FULLY_CONNECTED", [0, 1], [2], {"FusedActivationFunction": 0})], [0], [2])
    assert "input 'x' is float32 and used by ['FULLY_CONNECTED']" in \
        _cli_error(capsys, float_fc, tmp_path)
    middle = write_model(tmp_path / "mid.tflite", [
        T("x", (1, 4), **q), T("f", (1, 4), np.float32), T("y", (1, 4), **q)],
        [Op("DEQUANTIZE", [0], [1]), Op("QUANTIZE", [1], [2])], [0], [2])
    assert "operator 0 (DEQUANTIZE): the core computes int8: only a model output may be " \
           "dequantised" in _cli_error(capsys, middle, tmp_path)
    float_out = write_model(tmp_path / "fout.tflite", [
        T("x", (1, 4), **q), T("w", (3, 4), **w), T("y", (1, 3), np.float32)],
        [Op("FULLY_CONNECTED", [0, 1], [2], {"FusedActivationFunction": 0})], [0], [2])
    assert "output 'y' is float32 and made by FULLY_CONNECTED" in \
        _cli_error(capsys, float_out, tmp_path)
    per_channel = write_model(tmp_path / "pc.tflite", [
        T("x", (1, 4), np.float32), T("y", (1, 4), scale=[0.1, 0.2], zero_point=[0, 0])],
        [Op("QUANTIZE", [0], [1])], [0], [1])
    assert "must be int8, quantised per tensor" in _cli_error(capsys, per_channel, tmp_path)
    huge = write_model(tmp_path / "huge.tflite", *requant_model(1.0, 0, 1e-8, 0))
    assert "operator 0 (QUANTIZE): an effective scale of 1e+08" in \
        _cli_error(capsys, huge, tmp_path)


def test_flipped_bytes_of_a_float_model_never_crash(tmp_path):
    assert_flips_never_crash(model_bytes(*with_float_edges(*fc_model(
        np.random.default_rng(4)))), tmp_path, 6)
