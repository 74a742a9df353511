"""One golden-only benchmark run, shared by the tests of the measurements and of their
rendering: three small specs, a board report that met timing and one that did not fit."""

import json

import pytest

from conveyor.sw.apps.bench import BenchPlan, run_bench

SPECS = ("matmul:M=16,K=16,N=16", "matmul:M=32,K=48,N=16", "linear:M=16,K=32,N=32,relu=1")

#: A report as `conveyor build` writes it (docs/boards.md).
REPORT = {"board": "ulx3s-85f", "config": "small16", "target_mhz": 100.0, "requested_mhz": 100.0,
          "fmax_mhz": 103.52, "clock": "clk", "luts": {"used": 41000, "available": 83640},
          "ffs": {"used": 9000, "available": 83640}, "brams": {"used": 60, "available": 208},
          "dsps": {"used": 150, "available": 156}, "spram": None, "critical_path": {},
          "seconds": {"total": 900.0}, "bitstream": "build/ulx3s-85f/top.bit", "passed": True}


@pytest.fixture(scope="session")
def specs():
    """The specs the shared run measured, in order."""
    return SPECS


@pytest.fixture(scope="session")
def results(tmp_path_factory):
    """The results of the shared run (no Verilator: the RTL half runs in tests/sim)."""
    boards = tmp_path_factory.mktemp("build")
    (boards / "ulx3s-85f").mkdir()
    (boards / "ulx3s-85f" / "report.json").write_text(json.dumps(REPORT))
    (boards / "icebreaker").mkdir()
    (boards / "icebreaker" / "report.json").write_text(json.dumps(
        {"board": "icebreaker", "config": "small16", "fits": False, "needs": "LUTs"}))
    plan = BenchPlan(specs=SPECS, rtl=False, golden_blocks=1, boards_dir=boards)
    return run_bench(plan, show_progress=False)
