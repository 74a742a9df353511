"""The RTL, many programs per simulator process: starting a simulator costs seconds, so
:func:`verilator_batch` starts the cached Verilator model once with
:mod:`conveyor.sim.cocotb_batch` as its cocotb test module, which runs every program of the
batch in turn through :class:`~conveyor.sim.cocotb_host.HostPort`.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SimulationError
from ..hw.machine.program import Program

__all__ = ["ENV_BATCH", "verilator_batch"]

#: Names the pickled batch that the simulator side (:mod:`conveyor.sim.cocotb_batch`) runs.
ENV_BATCH = "CONVEYOR_COSIM_BATCH"


def verilator_batch(programs: Sequence[Program], reads: Sequence[dict] | None = None
                    ) -> list[Any]:
    """Run ``programs`` (all for one config) on its cached Verilator model in one simulator
    process; one outcome per program: a :class:`~conveyor.sim.verilator.VerilatorResult` or a
    :class:`~conveyor.errors.SimulationError`.

    ``reads``, one per program, limits the MEM read back to ``{slice: [(first, count), ...]}``
    (other words come back as zeros, and the batch then does not clear the words a program
    leaves): reading all of MEM through the host port costs far more than a short run."""
    from cocotb_tools.runner import get_runner

    from . import verilator

    programs = list(programs)
    if not programs:
        return []
    config = programs[0].config
    if any(p.config != config for p in programs):
        raise ValueError("a batch must share one config")
    model = verilator.build(config)
    timeouts = [verilator.default_timeout(p) for p in programs]
    with tempfile.TemporaryDirectory(prefix="conveyor-cosim-") as tmp:
        tmp = Path(tmp)
        batch, results, log = tmp / "batch.pkl", tmp / "results.pkl", tmp / "sim.log"
        batch.write_bytes(pickle.dumps({"programs": programs, "timeouts": timeouts,
                                        "reads": list(reads) if reads else None}))
        crash = ""
        try:
            get_runner("verilator").test(
                test_module="conveyor.sim.cocotb_batch", hdl_toplevel=verilator.TOPLEVEL,
                hdl_toplevel_lang="verilog", build_dir=model, test_dir=tmp,
                results_xml=str(tmp / "results.xml"), extra_env={ENV_BATCH: str(batch)},
                log_file=log)
        except (subprocess.SubprocessError, OSError, RuntimeError, SystemExit) as e:
            crash = f" ({e})"  # the results file says how far the simulator got
        done = pickle.loads(results.read_bytes()) if results.exists() else []
        outcomes = [_result(r) for r in done]
        if len(outcomes) < len(programs):  # the simulator died on program len(outcomes)
            outcomes.append(SimulationError(
                f"the simulator ended without a result{crash}; log: {_keep_log(log)}"))
            outcomes += verilator_batch(programs[len(outcomes):],
                                        reads[len(outcomes):] if reads else None)
    return outcomes


def _result(data: dict) -> Any:
    from .verilator import VerilatorResult

    if data.get("error"):
        return SimulationError(data["error"])
    return VerilatorResult(cycles=data["cycles"], mem=data["mem"])


def _keep_log(log: Path) -> Path:
    from .verilator import cache_root

    target = cache_root() / "logs" / f"cosim-{os.getpid()}-{id(log)}.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(log.read_text(errors="replace")[-20000:] if log.exists() else "(no log)")
    return target
