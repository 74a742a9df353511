"""The models part of `conveyor bench` (sw/apps/bench/models.py, `--models`): KWS on one config
it fits, checked against the golden model and LiteRT run here; a config it does not fit, with
the compiler's own reason; the rows on the page; docs/performance.md against the measured table
of examples/mlperf-tiny/README.md.

KWS is compiled for a 64-lane variant of mlperf16 (a third of mlperf16's compile and golden
time); the bench's own configs run in `conveyor bench --models`."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conveyor.errors import ConveyorError
from conveyor.hw.boards import signoff
from conveyor.hw.machine.config import load_config
from conveyor.sim import golden
from conveyor.sw.apps.bench import BenchPlan, measure_model, model_rows, results_ok, run_bench
from conveyor.sw.apps.bench.models import MLPERF16, MLPERF_TINY_DIR, QUICK_SKIPS, run_models
from conveyor.sw.apps.bench.render import render_markdown, short_reason
from conveyor.sw.apps.cli import main
from conveyor.sw.compiler import compile_graph
from conveyor.sw.frontends.tflite import import_tflite

ROOT = Path(__file__).resolve().parents[4]
KWS = MLPERF_TINY_DIR / "kws_ref_model.tflite"


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """mlperf16 with 64 lanes and 8,192-word MEM slices: KWS fits it and compiles fast."""
    text = MLPERF16.read_text()
    text = re.sub(r"(?m)^lanes = .*$", "lanes = 64", text)
    text = re.sub(r"(?m)^mem_depth = .*$", "mem_depth = 8192", text)
    text = re.sub(r"(?m)^name = .*$", 'name = "wide64"', text)
    path = tmp_path_factory.mktemp("cores") / "wide64.toml"
    path.write_text(text)
    return load_config(str(path))


@pytest.fixture(scope="module")
def kws(wide):
    return measure_model("kws", wide, seed=5)


def test_kws_takes_the_golden_models_cycles_and_gives_litert_bytes(kws, wide):
    row, compiled = kws
    assert row["fits"] and row["reason"] is None and row["config"] == "wide64"
    # the golden model and LiteRT, run here on the compiled program and the bench's inputs
    results = [golden.run(r.program) for r in compiled.runs]
    cycles = sum(r.cycles for r in results)
    assert row["golden_cycles"] == row["predicted_cycles"] == cycles > 0
    model = import_tflite(KWS)
    rng = np.random.default_rng(5)  # `conveyor compile --seed 5`'s inputs
    values = {n: rng.integers(-128, 128, size=s, dtype=np.int8) for n, s in model.inputs.items()}
    got = compiled.outputs([r.mem for r in results])
    for name, want in model.oracle(values).items():
        assert np.array_equal(got[name], want), name
    assert row["golden_bit_exact"] is True
    assert row["clock_mhz"] == wide.clock_mhz == 100.0 and row["clock"] == "nominal"
    assert row["microseconds"] == round(cycles / 100.0, 2)
    assert row["inferences_per_second"] == round(100e6 / cycles, 1)
    assert row["mxm_utilization"] == round(row["useful_macs"] / (64 * 64 * cycles), 6)
    assert row["rtl_cycles"] is None and row["mxm"] == "64×64"


def test_a_wrong_cycle_count_or_byte_fails_the_run(kws):
    results = {"sweep": [], "models": [kws[0]]}
    assert results_ok(results)
    for key, value in (("golden_cycles", kws[0]["golden_cycles"] + 1),
                       ("golden_bit_exact", False), ("rtl_bit_exact", False)):
        assert not results_ok({"sweep": [], "models": [{**kws[0], key: value}]}), key


def test_a_config_it_does_not_fit_gives_the_compilers_reason(tmp_path):
    plan = BenchPlan(specs=(), rtl=False, golden_blocks=0, boards_dir=tmp_path,
                     models=("kws",), model_configs=("icebreaker-core",))
    results = run_bench(plan, show_progress=False)
    (row,) = results["models"]
    config = load_config("icebreaker-core")
    model = import_tflite(KWS)
    feeds = model.graph_inputs({n: np.zeros(s, np.int8) for n, s in model.inputs.items()})
    with pytest.raises(ConveyorError) as info:
        compile_graph(model.graph, feeds, config)
    assert not row["fits"] and row["reason"] == str(info.value)
    assert row["golden_cycles"] is None and results_ok(results)  # a fact, not a failure
    assert row["clock_mhz"] == signoff(config).mhz and row["clock"] == "icebreaker sign-off"
    assert json.loads(json.dumps(results)) == results
    page = render_markdown(results)
    reason = short_reason(row["reason"])
    assert f"does not fit: {reason} |" in page and "\n" not in reason and "(" not in reason
    assert "## MLPerf Tiny models" in page and "KWS DS-CNN: fits none of these configs." in page


def test_a_quick_run_skips_the_slow_compiles_and_says_so():
    (name, config), why = next(iter(QUICK_SKIPS.items()))
    (row,) = run_models([name], [config], quick=True, show_progress=False)
    assert not row["fits"] and row["skipped"] == why and row["compile_seconds"] is None
    assert model_rows({"models": [row]})[0][-1] == why


def test_an_unknown_model_is_one_line(tmp_path, capsys):
    code = main(["bench", "--quick", "--no-rtl", "--models", "kws,mnist", "-o",
                 str(tmp_path / "r.json")])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "'mnist'" in err
    assert not (tmp_path / "r.json").exists()


def test_the_performance_page_gives_the_readmes_measured_figures():
    """docs/performance.md (made by `conveyor bench --models`) has the mlperf16 and small16
    rows that examples/mlperf-tiny/README.md gives (its tests compile and run them)."""
    page = (ROOT / "docs" / "performance.md").read_text()
    readme = (MLPERF_TINY_DIR / "README.md").read_text()
    measured = re.findall(r"^\| (KWS DS-CNN|ResNet-8) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+) % \| "
                          r"([\d.,]+) \|$", readme, re.MULTILINE)
    assert len(measured) == 2
    for label, macs, cycles, util, us in measured:
        row = (f"| {label} | mlperf16 | 16×16 | 100 MHz (nominal) | {macs} | {cycles} | "
               f"{cycles} | ")
        assert row in page, row
        line = next(li for li in page.splitlines() if li.startswith(row))
        assert f"| yes | yes | {util}% | {us} |" in line, line
    # and the small16 rows, in runs
    in_runs = re.findall(r"^\| (KWS DS-CNN|ResNet-8) \| ([\d,]+) \| (\d+) \| ([\d,]+) \| "
                         r"([\d.]+) % \| ([\d.,]+) \|$", readme, re.MULTILINE)
    assert len(in_runs) == 2
    for label, macs, runs, cycles, util, us in in_runs:
        row = (f"| {label} | small16 | 16×16 | 100 MHz (nominal) | {macs} | {cycles} | "
               f"{cycles} | ")
        line = next(li for li in page.splitlines() if li.startswith(row))
        assert f"| yes | yes | {util}% | {us} |" in line and line.endswith(f"| {runs} runs |")
