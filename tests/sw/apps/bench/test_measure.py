"""The measurements of `conveyor bench` (sw/apps/bench/measure.py) on the golden model only:
predicted cycles equal measured, the fields are sane, board reports are read, a difference fails
the run. No Verilator build here: the RTL half runs in `conveyor bench` itself and in tests/sim."""

import json

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import cycle_count
from conveyor.sw.apps.bench import FULL_SWEEP, QUICK_SWEEP, BenchPlan, golden_pipeline, results_ok


def test_golden_cycles_equal_the_prediction_and_outputs_are_exact(results, specs):
    assert [r["spec"] for r in results["sweep"]] == list(specs)
    for row in results["sweep"]:
        assert row["golden_cycles"] == row["predicted_cycles"] > 0, row["spec"]
        assert row["golden_bit_exact"] is True
        assert row["rtl_cycles"] is None and row["rtl_bit_exact"] is None
        assert 0 < row["mxm_utilization"] <= 1 and row["runs"] >= 1
        assert row["compile_seconds"] > 0 and row["golden_seconds"] >= 0
        assert row["microseconds"] == round(row["golden_cycles"] / 100.0, 2)
    m, k, n = 32, 48, 16
    row = results["sweep"][1]
    assert row["useful_macs"] == m * k * n
    assert row["mxm_utilization"] == round(m * k * n / (16 * 16 * row["golden_cycles"]), 4)
    assert results_ok(results)


def test_speeds_and_what_was_not_measured(results):
    speed = results["golden_speed"]
    assert speed["cycles_per_second"] > 0 and speed["ops_per_second"] > speed["cycles_per_second"]
    assert speed["pipeline_cycles"] == cycle_count(golden_pipeline(PRESETS["small16"], 1))
    assert speed["matmul_cycles_per_second"] > 0
    assert results["verilog"] is None and results["verilator_build"] is None
    assert results["rtl_speed"] is None and results["rtl_macs"] is None
    assert "rtl_batch" not in results
    assert json.loads(json.dumps(results)) == results  # JSON-ready as it is


def test_board_reports_are_read(results):
    boards = {b["board"]: b for b in results["boards"]}
    assert boards["ulx3s-85f"]["fmax_mhz"] == 103.52 and boards["ulx3s-85f"]["passed"]
    assert boards["ulx3s-85f"]["luts"] == {"used": 41000, "available": 83640}
    assert boards["icebreaker"]["fits"] is False


def test_a_difference_fails_the_run(results):
    bad = json.loads(json.dumps(results))
    bad["sweep"][0]["golden_cycles"] += 1
    assert not results_ok(bad)
    bad = json.loads(json.dumps(results))
    bad["sweep"][0]["rtl_bit_exact"] = False
    assert not results_ok(bad)
    bad = json.loads(json.dumps(results))
    bad["sweep"][0]["rtl_error"] = "the simulator stopped"
    assert not results_ok(bad)


def test_the_plans():
    quick, full = BenchPlan.quick_plan(), BenchPlan.full_plan(config="tiny")
    assert quick.specs == QUICK_SWEEP and quick.quick and not quick.verilog
    assert full.specs == FULL_SWEEP and not full.quick and full.verilog
    assert full.config == "tiny" and full.rtl_speed_cycles > quick.rtl_speed_cycles
    assert set(QUICK_SWEEP) < set(FULL_SWEEP)
