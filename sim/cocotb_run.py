"""The cocotb test module that :func:`conveyor.sim.verilator.run` runs in the simulator.

It reads the pickled program named by ``$CONVEYOR_COCOTB_PROGRAM``, runs it through
:class:`~conveyor.sim.cocotb_host.HostPort` and pickles ``{"cycles", "mem", "error"}`` to
``$CONVEYOR_COCOTB_RESULT`` (with ``run_seconds``, the wall time from start to done). A failure is written there too, so the caller can report it as one
line instead of digging through the simulator's log.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import cocotb
from cocotb.triggers import SimTimeoutError

from .cocotb_host import HostPort
from .verilator import ENV_PROGRAM, ENV_RESULT, ENV_TIMEOUT


def _write_result(**result) -> None:
    path = Path(os.environ[ENV_RESULT])
    tmp = path.with_suffix(".part")
    tmp.write_bytes(pickle.dumps(result))
    tmp.replace(path)  # the caller never sees half a result


@cocotb.test()
async def run_program(dut) -> None:
    program = pickle.loads(Path(os.environ[ENV_PROGRAM]).read_bytes())
    timeout = int(os.environ[ENV_TIMEOUT])
    host = HostPort(dut, program.config)
    await host.begin()
    try:
        await host.load(program)
        started = time.perf_counter()
        await host.start()
        cycles = await host.wait_done(timeout)
        seconds = time.perf_counter() - started
    except SimTimeoutError:
        _write_result(error=f"{program.config.name}: done did not rise within {timeout} cycles")
        raise
    mem = {s.name: await host.read_mem(s.index) for s in program.config.mem_slices}
    _write_result(cycles=cycles, mem=mem, run_seconds=seconds, error=None)
