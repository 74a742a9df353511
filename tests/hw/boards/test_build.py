"""Board builds for real, with the YoWASP tools: PLL settings, nextpnr's report read into
report.json, timing sign-off, and the `conveyor build` command's one-line failures.

The real builds here are of the bring-up design (PLL, UART echo, LED), which takes seconds;
the cores' builds take minutes to an hour and are marked slow.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conveyor.hw.boards import BOARD_NAMES, BoardConfigError, board_named
from conveyor.hw.boards.build import TimingError, build_echo, parse_report, sign_off
from conveyor.hw.boards.icebreaker import ice40_pll
from conveyor.hw.boards.ulx3s import ecp5_pll
from conveyor.sw.apps.cli import main

ICEBREAKER = board_named("icebreaker")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- PLLs -------------------------------------------------------------------------------------

def test_ice40_pll_matches_icepll():
    # icepll -i 12 -o 20: DIVR 0, DIVF 53, DIVQ 5, FILTER_RANGE 1, 20.250 MHz
    plan = ice40_pll(12.0, 20.0)
    assert plan.mhz == 20.25
    assert {k: plan.params[k] for k in ("p_DIVR", "p_DIVF", "p_DIVQ", "p_FILTER_RANGE")} == \
        {"p_DIVR": 0, "p_DIVF": 53, "p_DIVQ": 5, "p_FILTER_RANGE": 1}
    assert 533 <= plan.vco_mhz <= 1066


def test_ecp5_pll_matches_ecppll():
    # ecppll -i 25 -o 100: CLKI_DIV 1, CLKFB_DIV 4, CLKOP_DIV 6 (VCO 600 MHz)
    plan = ecp5_pll(25.0, 100.0)
    assert plan.mhz == 100.0 and plan.vco_mhz == 600.0
    assert (plan.params["p_CLKI_DIV"], plan.params["p_CLKFB_DIV"],
            plan.params["p_CLKOP_DIV"]) == (1, 4, 6)


@pytest.mark.parametrize("mhz", [20.0, 25.0, 30.0, 50.0, 60.0, 75.0, 100.0])
def test_pll_never_runs_slower_than_asked(mhz):
    assert mhz <= ice40_pll(12.0, mhz).mhz <= 1.02 * mhz
    assert mhz <= ecp5_pll(25.0, mhz).mhz <= 1.02 * mhz
    # 48 MHz from 25 MHz needs a 1 MHz phase detector, below the ECP5's 3.125 MHz.
    with pytest.raises(BoardConfigError, match="cannot make 48 MHz .*nearest 46.875 MHz"):
        ecp5_pll(25.0, 48.0)


def test_ice40_at_the_oscillator_bypasses_the_pll():
    # The SB_PLL40 cannot go below 16 MHz; 12 MHz is the oscillator itself.
    plan = ice40_pll(12.0, 12.0)
    assert plan.mhz == 12.0 and plan.params == {}
    with pytest.raises(BoardConfigError, match="cannot make 14 MHz"):
        ice40_pll(12.0, 14.0)


def test_pll_refuses_what_it_cannot_make():
    with pytest.raises(BoardConfigError, match="cannot make 500 MHz"):
        ice40_pll(12.0, 500.0)
    with pytest.raises(BoardConfigError, match="unknown board 'de10'"):
        board_named("de10")


def test_constraints_files_load():
    for name in BOARD_NAMES:
        c = board_named(name).constraints
        assert c.baud > 0 and c.target_mhz > 0 and set(c.leds) <= {
            "running", "done", "error", "heartbeat"}
        assert c.path.name == f"{name}.toml"


# --- a real build -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def echo_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("echo-icebreaker")
    build_echo(ICEBREAKER, out_dir=out, mhz=20.0, progress=False)
    return out


def test_echo_build_report(echo_build):
    report = json.loads((echo_build / "report.json").read_text())
    assert report["board"] == "icebreaker" and report["target_mhz"] == 20.25
    assert report["passed"] and report["fmax_mhz"] >= report["target_mhz"]
    assert 0 < report["luts"]["used"] < report["luts"]["available"] == 5280
    # 8N1 receiver and transmitter with counters, the LED counter and the reset synchroniser.
    assert 40 < report["ffs"]["used"] < 200
    assert report["brams"] == {"used": 0, "available": 30}
    assert report["dsps"] == {"used": 0, "available": 8}
    path = report["critical_path"]
    assert path["ns"] > 0 and path["logic_ns"] + path["routing_ns"] == pytest.approx(path["ns"])
    assert 1000 / path["ns"] == pytest.approx(report["fmax_mhz"], rel=0.05)
    assert Path(report["bitstream"]).stat().st_size > 100_000  # a UP5K image is ~104 kB


def test_sign_off_fails_with_one_line_below_fmax(echo_build):
    clock = ICEBREAKER.plan_clock(20.0)
    report = parse_report(echo_build, ICEBREAKER, clock=clock, config="echo")
    sign_off(report)  # meets 20.25 MHz
    faster = ICEBREAKER.plan_clock(report.fmax_mhz * 1.2)
    late = parse_report(echo_build, ICEBREAKER, clock=faster, config="echo")
    assert not late.passed
    with pytest.raises(TimingError) as failure:
        sign_off(late)
    message = str(failure.value)
    assert "\n" not in message
    assert f"{late.fmax_mhz:.2f} MHz, below the {faster.mhz:.3f} MHz clock" in message
    assert "critical path" in message
    assert dataclasses.asdict(late)["critical_path"] == report.critical_path


def test_cli_build_echo_meets_and_misses(capsys, tmp_path):
    code, out, err = run_cli(capsys, "build", "--board", "icebreaker", "--echo", "--freq", "20",
                             "-o", tmp_path / "ok")
    assert code == 0, err
    assert "meets 20.250 MHz" in out and (tmp_path / "ok" / "report.json").exists()
    # 150 MHz is beyond a UP5K's reach for anything with a carry chain: the build fails.
    code, out, err = run_cli(capsys, "build", "--board", "icebreaker", "--echo", "--freq",
                             "150", "-o", tmp_path / "late")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("conveyor: error: timing not met on "
                                                   "icebreaker: echo reaches ")
    assert json.loads((tmp_path / "late" / "report.json").read_text())["passed"] is False


@pytest.mark.parametrize("argv, message", [
    (["build", "--board", "de10"], "unknown board 'de10'"),
    (["build", "--board", "icebreaker", "--echo", "--freq", "400"],
     "the iCE40 PLL cannot make 400 MHz"),
    (["build", "--board", "icebreaker", "-c", "nosuch"], "unknown config 'nosuch'"),
])
def test_cli_build_errors_are_one_line(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, *argv, "-o", tmp_path)
    assert code == 1 and err.count("\n") == 1 and message in err and "Traceback" not in err


# --- the cores on their boards (minutes to an hour each: -m slow) ------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", BOARD_NAMES)
def test_board_default_core_builds(capsys, tmp_path, name):
    """`conveyor build --board NAME` with the board's own config fits, meets its clock and
    writes a bitstream and a passing report.json."""
    code, _, err = run_cli(capsys, "build", "--board", name, "-o", tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0 and report["passed"], err
    assert report["fmax_mhz"] >= report["target_mhz"]
    assert Path(report["bitstream"]).stat().st_size > 0
    for kind in ("luts", "ffs", "brams", "dsps"):
        assert report[kind]["used"] <= report[kind]["available"]