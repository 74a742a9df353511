"""The simulator side of :func:`conveyor.sim.batch.verilator_batch`: a cocotb test module that,
only when ``$CONVEYOR_COSIM_BATCH`` names a batch, runs its programs one after another, resetting
the core and clearing the MEM words the previous program left non-zero, and writes the results
as they come.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from .batch import ENV_BATCH


async def _run_batch(dut, path: Path) -> None:
    """The simulator side: run every program of the batch, writing results as they come."""
    from cocotb.triggers import SimTimeoutError

    from .cocotb_host import HostPort, mem_address

    job = pickle.loads(path.read_bytes())
    config = job["programs"][0].config
    host, out, results = HostPort(dut, config), path.with_name("results.pkl"), []
    dirty: dict[int, np.ndarray] = {}  # MEM slice ordinal -> words the last run left non-zero
    per_word = config.lanes // 4
    reads = job.get("reads") or [None] * len(job["programs"])
    for program, timeout, read in zip(job["programs"], job["timeouts"], reads):
        await host.begin()
        for ordinal, words in dirty.items():
            addrs = [mem_address(config, ordinal, int(w), c) for w in words
                     for c in range(per_word)]
            await host.write_many(addrs, [0] * len(addrs))
        try:
            result = {"cycles": await host.run(program, timeout)}
        except SimTimeoutError:
            await host.begin()  # stop the core before reading MEM back
            result = {"error": f"{config.name}: done did not rise within {timeout} cycles"}
        if read is None:
            mem = {s.name: await host.read_mem(s.index) for s in config.mem_slices}
            dirty = {s.index: np.flatnonzero(mem[s.name].any(axis=1))
                     for s in config.mem_slices}
        else:
            mem = await _read_some(host, config, read)
        results.append({**result, "mem": mem})
        tmp = out.with_suffix(".part")
        tmp.write_bytes(pickle.dumps(results))
        tmp.replace(out)


async def _read_some(host, config, read: dict) -> dict[str, np.ndarray]:
    """MEM with only the ``read`` ranges filled in, zeros elsewhere."""
    mem = {s.name: np.zeros((config.mem_depth, config.lanes), np.int8)
           for s in config.mem_slices}
    for s in config.mem_slices:
        for first, count in read.get(s.name, ()):
            mem[s.name][first:first + count] = await host.read_mem(s.index, first, count)
    return mem


if os.environ.get(ENV_BATCH):  # only inside the simulator that verilator_batch starts
    import cocotb

    @cocotb.test()
    async def run_batch(dut) -> None:
        await _run_batch(dut, Path(os.environ[ENV_BATCH]))
