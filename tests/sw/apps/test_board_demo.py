"""The digits MLP on the cores made for boards: the default ULX3S core on Verilator, and the
issue-15 candidates of bench/cores on the golden model, every inference bit-exact against
numpy and exactly the predicted cycles."""

from pathlib import Path

import pytest

from conveyor.sw.apps.demo import run_demo

CANDIDATES = Path(__file__).resolve().parents[3] / "bench" / "cores"


def test_the_ulx3s_core_runs_the_mlp_exactly_on_verilator():
    r = run_demo("mlp", "ulx3s-core", rtl_seconds=5, digits=8, progress=False)
    assert r.rtl_inferences > 0
    assert r.bit_exact, r.inexact
    assert r.rtl_cycles == {r.predicted_cycles: r.rtl_inferences}
    assert r.golden_cycles == {r.predicted_cycles: 8} and r.ok


@pytest.mark.parametrize("name", ["ulx3s-core-piped", "ulx3s-16x16"])
def test_the_candidates_run_the_mlp_exactly(name):
    r = run_demo("mlp", str(CANDIDATES / f"{name}.toml"), rtl_seconds=0, digits=8,
                 progress=False)
    assert r.bit_exact, r.inexact
    assert r.golden_cycles == {r.predicted_cycles: 8} and r.ok
