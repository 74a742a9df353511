"""Drive a :class:`conveyor.hw.rtl.core.Core` through its host port in Amaranth's simulator.

Usage, inside an async testbench::

    host = HostPort(dut)
    await host.load(ctx, program)
    cycles = await host.run(ctx)
    words = await host.read_mem(ctx, "mem3", addr=0, count=4)
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from conveyor.hw.machine.isa import encode
from conveyor.hw.machine.program import Program
from conveyor.hw.rtl.core import Core

__all__ = ["HostPort", "run_program"]


class HostPort:
    """Host-port operations on a simulated core.

    Parameters
    ----------
    dut : the :class:`Core` being simulated.
    """

    def __init__(self, dut: Core):
        self.dut = dut
        self.config = dut.config
        self.map = dut.map

    async def write(self, ctx, addr: int, data: int):
        """One host write (one cycle)."""
        ctx.set(self.dut.host_addr, addr)
        ctx.set(self.dut.host_wdata, data & 0xFFFF_FFFF)
        ctx.set(self.dut.host_we, 1)
        await ctx.tick()
        ctx.set(self.dut.host_we, 0)

    async def read(self, ctx, addr: int) -> int:
        """One host read: ``host_re`` for a cycle, the data in the next."""
        ctx.set(self.dut.host_addr, addr)
        ctx.set(self.dut.host_re, 1)
        await ctx.tick()
        ctx.set(self.dut.host_re, 0)
        return ctx.get(self.dut.host_rdata)

    async def load(self, ctx, program: Program):
        """Write every queue's instruction words and every data block."""
        for qi, queue in enumerate(self.config.queues):
            for j, instr in enumerate(program.queues[queue.name]):
                word = encode(instr)
                for half in range(2):
                    await self.write(ctx, self.map.queue_addr(qi, j, half), word >> 32 * half)
        for block in program.data:
            await self.write_mem(ctx, block.slice, block.addr, block.values)

    async def write_mem(self, ctx, slice_name: str, addr: int, values: np.ndarray):
        """Write ``values`` (rows of ``lanes`` int8) to ``slice_name`` from word ``addr``."""
        ordinal = self.config.slice_named(slice_name).index
        raw = np.asarray(values, np.int8).view(np.uint8)
        for i, row in enumerate(raw):
            for chunk in range(self.config.lanes // 4):
                data = int.from_bytes(bytes(row[4 * chunk:4 * chunk + 4]), "little")
                await self.write(ctx, self.map.mem_addr(ordinal, addr + i, chunk), data)

    async def read_mem(self, ctx, slice_name: str, addr: int, count: int) -> np.ndarray:
        """Words ``addr .. addr+count-1`` of ``slice_name`` as a (count, lanes) int8 array."""
        ordinal = self.config.slice_named(slice_name).index
        out = np.zeros((count, self.config.lanes), np.uint8)
        for i in range(count):
            for chunk in range(self.config.lanes // 4):
                data = await self.read(ctx, self.map.mem_addr(ordinal, addr + i, chunk))
                out[i, 4 * chunk:4 * chunk + 4] = list(data.to_bytes(4, "little"))
        return out.view(np.int8)

    async def run(self, ctx, *, timeout: int = 10_000) -> int:
        """Pulse ``start``, wait for ``done``; returns ``cycles``."""
        ctx.set(self.dut.start, 1)
        await ctx.tick()
        ctx.set(self.dut.start, 0)
        for _ in range(timeout):
            await ctx.tick()
            if ctx.get(self.dut.done):
                return ctx.get(self.dut.cycles)
        raise TimeoutError(f"no done after {timeout} cycles")


def run_program(program: Program, reads: dict[str, tuple[int, int]], *, timeout: int = 10_000):
    """Simulate ``program`` on a fresh core: load, run, read back.

    Parameters
    ----------
    program : the program (its config decides the core).
    reads : MEM slice name -> (first word, count) to read back after the run.

    Returns
    -------
    (cycles, {slice name: (count, lanes) int8 array})
    """
    dut = Core(program.config)
    host = HostPort(dut)
    result = {}

    async def bench(ctx):
        await host.load(ctx, program)
        result["cycles"] = await host.run(ctx, timeout=timeout)
        result["mem"] = {name: await host.read_mem(ctx, name, a, n)
                         for name, (a, n) in reads.items()}

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return result["cycles"], result["mem"]
