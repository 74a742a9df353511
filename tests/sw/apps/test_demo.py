"""`conveyor demo`: the digits models compiled, run on the golden model and the RTL, every
inference bit-exact against numpy and exactly the predicted cycles."""

import json

import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sim import golden
from conveyor.sw.apps import demo
from conveyor.sw.apps.cli import main
from conveyor.sw.apps.demo import DemoError, next_batch_size, run_demo


@pytest.fixture(scope="module")
def mlp_full():
    """The whole MLP sweep on the golden model (~10 s), shared by the tests that read it."""
    return run_demo("mlp", "small16", rtl_seconds=0, progress=False)


def test_mlp_golden_sweep_is_exact_and_accurate(mlp_full):
    r = mlp_full
    assert r.digits == 360 and sum(r.golden_cycles.values()) == 360
    assert r.bit_exact, r.inexact
    assert r.golden_cycles == {r.predicted_cycles: 360}
    assert r.ok
    assert abs(r.int8_accuracy - r.float_accuracy) <= 0.01
    assert r.float_accuracy > 0.95
    assert r.rtl_inferences == 0 and not r.rtl_cycles


def test_report_figures_follow_from_the_counts(mlp_full):
    r = mlp_full
    out = r.to_json()
    assert out["cycles"] == out["predicted_cycles"] == r.predicted_cycles
    assert out["us_per_inference"] == round(r.predicted_cycles / PRESETS["small16"].clock_mhz, 3)
    lanes = PRESETS["small16"].lanes
    mxms = len(PRESETS["small16"].slices_of("mxm"))
    assert out["mxm_utilization"] == round(r.useful_macs / (lanes ** 2 * r.cycles * mxms), 4)
    assert out["int8_accuracy"] == round(r.int8_correct / 360, 4)
    assert f"{r.float_correct}/360" in r.text() and "bit-exact   yes" in r.text()


def test_time_is_at_the_signed_off_clock_or_labelled_nominal(mlp_full):
    """small16 has no board build: its clock is nominal. A board's default core runs at the
    clock its build signs off at (the board's target, constraints/BOARD.toml)."""
    assert mlp_full.clock == "nominal" and "MHz, nominal" in mlp_full.text()
    board = run_demo("mlp", "ulx3s-core", rtl_seconds=0, digits=3, progress=False)
    assert board.clock == "ulx3s-85f sign-off" and board.clock_mhz == 20.0
    assert "at 20 MHz, ulx3s-85f sign-off" in board.text()
    assert board.to_json()["us_per_inference"] == round(board.predicted_cycles / 20.0, 3)


def test_cnn_golden_subset_is_exact():
    r = run_demo("cnn", "small16", rtl_seconds=0, digits=40, progress=False)
    assert r.digits == 40
    assert r.bit_exact, r.inexact
    assert r.golden_cycles == {r.predicted_cycles: 40}
    assert r.int8_correct >= 36


def test_a_wrong_output_or_cycle_count_fails_the_demo():
    """The checks can fail: an RTL stand-in that flips every MEM bit 0 of its first inference
    and adds a cycle to its second."""
    def broken(programs):
        results = [golden.run(p) for p in programs]
        for mem in results[0].mem.values():
            mem ^= 1
        results[1].cycles += 1
        return results

    r = run_demo("mlp", "small16", rtl_seconds=0.001, digits=4, progress=False,
                 rtl_runner=broken)
    assert r.rtl_inferences == demo.FIRST_BATCH
    assert not r.bit_exact and not r.cycle_exact and not r.ok
    assert r.inexact == [("rtl", 0, "output 'logits' differs from numpy")]
    assert r.rtl_cycles == {r.predicted_cycles: 1, r.predicted_cycles + 1: 1}
    assert "DIFFER" in r.text() and "bit-exact   NO" in r.text()


def test_a_failed_run_counts_as_not_bit_exact():
    r = run_demo("mlp", "small16", rtl_seconds=0.001, digits=2, progress=False,
                 rtl_runner=lambda ps: [RuntimeError("simulator died")] * len(ps))
    assert not r.bit_exact
    assert r.inexact[0][:2] == ("rtl", 0) and "simulator died" in r.inexact[0][2]


@pytest.mark.parametrize("samples, remaining, expect", [
    ([], 60, 0),
    ([(2, 10.0)], 0, 0),
    ([(2, 10.0)], 40, 8),                  # 5 s each, start-up included
    ([(2, 16.0), (6, 28.0)], 40, 10),      # 10 s start-up + 3 s each
    ([(2, 16.0), (6, 28.0)], 12, 0),
])
def test_batch_sizing(samples, remaining, expect):
    assert next_batch_size(samples, remaining) == expect


def test_missing_examples_are_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo, "digits_dir", lambda: tmp_path)
    assert main(["demo", "--rtl-seconds", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mlp.onnx: missing" in err


def test_bad_arguments_are_one_line(capsys):
    assert main(["demo", "--rtl-seconds", "-1"]) == 1
    assert main(["demo", "--digits", "0", "--rtl-seconds", "0"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("conveyor: error:") for line in err)
    with pytest.raises(DemoError, match="no digits model 'vgg'"):
        run_demo("vgg", rtl_seconds=0)


def test_cli_json(capsys):
    assert main(["demo", "--model", "cnn", "--digits", "8", "--rtl-seconds", "0",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "cnn" and out["digits"] == 8 and out["bit_exact"] is True
    assert out["cycles"] == out["predicted_cycles"] and out["rtl_inferences"] == 0
    assert {"float_accuracy", "int8_accuracy", "mxm_utilization",
            "us_per_inference"} <= set(out)


# --- the RTL ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def small16_model():
    """The small16 Verilator model, built once (minutes) and cached in ~/.cache/conveyor."""
    from conveyor.sim import verilator
    return verilator.build(PRESETS["small16"])


def test_mlp_on_the_rtl_is_cycle_and_bit_exact(small16_model, capsys):
    """One small batch (the first, which measures the rate) through the CLI."""
    # the first batch always runs; with so short a budget no second one follows
    assert main(["demo", "--digits", "8", "--rtl-seconds", "0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rtl_inferences"] == demo.FIRST_BATCH
    assert out["rtl_cycles"] == out["predicted_cycles"] == out["cycles"]
    assert out["cycle_counts"]["rtl"] == {str(out["predicted_cycles"]): demo.FIRST_BATCH}
    assert out["bit_exact"] is True and out["cycle_exact"] is True
    assert out["rtl_inferences_per_minute"] > 0
