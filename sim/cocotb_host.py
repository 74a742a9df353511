"""The host-port driver for cocotb: load a program, start the core, read MEM back.

:class:`HostPort` binds to the top-level ports of ``conveyor_core`` by name (see "Host port" in
``docs/architecture.md``). All of its traffic happens at falling clock edges, half a cycle away
from the rising edge on which the core samples its inputs and updates ``host_rdata``, so it
does not depend on how a simulator orders events within a time step. During a run the clock
runs free: the driver waits on ``done`` alone and touches nothing cycle by cycle.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout

from ..hw.machine.config import CoreConfig
from ..hw.machine.hostmap import mem_address, queue_address, unpack_lanes
from ..hw.machine.hostwords import load_writes, mem_reads
from ..hw.machine.program import Program

__all__ = ["CLOCK_NS", "HostPort", "mem_address", "queue_address"]

#: Clock period of the simulation; only sets the time axis of waves.
CLOCK_NS = 10

class HostPort:
    """Drives the host port of one ``conveyor_core`` DUT.

    Parameters
    ----------
    dut : the cocotb handle of the top level.
    config : the core's config; :meth:`load` takes it from the program if not given here.

    Members
    -------
    cycles : the core's cycle counter after the last :meth:`wait_done`, else None.
    """

    def __init__(self, dut, config: CoreConfig | None = None):
        self.dut = dut
        self.config = config
        self.cycles: int | None = None
        self._clock_started = False

    # --- clock and reset ---------------------------------------------------------------

    async def begin(self, reset_cycles: int = 2) -> None:
        """Start the clock (once) and reset the core with every host input low."""
        if not self._clock_started:
            # The clock toggles in C++ ("gpi"), not in a Python task: cocotb's default picks the
            # Python clock here, which wakes the interpreter twice a cycle. Our writes change
            # inputs on falling edges and the core samples on rising ones, so no race.
            clock = Clock(self.dut.clk, CLOCK_NS, unit="ns", impl="gpi")
            cocotb.start_soon(clock.start())
            self._clock_started = True
        for name in ("host_addr", "host_wdata", "host_we", "host_re", "start"):
            getattr(self.dut, name).value = 0
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, reset_cycles)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    # --- single transfers ----------------------------------------------------------------

    async def write(self, addr: int, data: int) -> None:
        """Write one 32-bit word; returns at the falling edge after the core took it."""
        dut = self.dut
        dut.host_addr.value = addr
        dut.host_wdata.value = data & 0xFFFF_FFFF
        dut.host_we.value = 1
        await FallingEdge(dut.clk)
        dut.host_we.value = 0

    async def write_many(self, addrs, words) -> None:
        """Write a burst, one word per cycle."""
        dut = self.dut
        dut.host_we.value = 1
        for addr, word in zip(addrs, words):
            dut.host_addr.value = int(addr)
            dut.host_wdata.value = int(word) & 0xFFFF_FFFF
            await FallingEdge(dut.clk)
        dut.host_we.value = 0

    async def read(self, addr: int) -> int:
        """Read one 32-bit word."""
        return int((await self.read_many([addr]))[0])

    async def read_many(self, addrs) -> np.ndarray:
        """Read a burst, one word per cycle: an address the core samples at a rising edge has
        its word on ``host_rdata`` by the falling edge that follows."""
        dut, out = self.dut, np.zeros(len(addrs), dtype=np.uint32)
        dut.host_re.value = 1
        for i, addr in enumerate(addrs):
            dut.host_addr.value = int(addr)
            await FallingEdge(dut.clk)
            out[i] = dut.host_rdata.value.to_unsigned()
        dut.host_re.value = 0
        return out

    # --- program and MEM ----------------------------------------------------------------

    async def load(self, program: Program) -> None:
        """Write every queue (all of them: queue memories keep old contents) and every block
        of MEM data (the writes of :func:`conveyor.hw.machine.hostwords.load_writes`)."""
        self.config = program.config
        addrs, words = load_writes(program)
        await self.write_many(addrs, words)

    async def read_mem(self, slice_ordinal: int, first: int = 0,
                       count: int | None = None) -> np.ndarray:
        """Words ``first .. first+count-1`` of MEM slice ``slice_ordinal`` as (count, lanes)
        int8; all words from ``first`` on by default."""
        config = self._need_config()
        count = config.mem_depth - first if count is None else count
        addrs = mem_reads(config, slice_ordinal, first, count)
        return unpack_lanes(await self.read_many(addrs), config.lanes)

    def _need_config(self) -> CoreConfig:
        if self.config is None:
            raise ValueError("HostPort needs a config: pass one or load a program first")
        return self.config

    # --- run ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Pulse ``start`` for one cycle; the watch for ``done`` is armed before the pulse so
        that even a one-cycle run cannot slip past :meth:`wait_done`."""
        self._done = cocotb.start_soon(self._wait_done_rise())
        self.dut.start.value = 1
        await FallingEdge(self.dut.clk)
        self.dut.start.value = 0

    async def _wait_done_rise(self) -> None:
        await RisingEdge(self.dut.done)

    async def wait_done(self, timeout_cycles: int) -> int:
        """Wait (clock running free) until ``done`` rises; return and keep the cycle count.

        Raises cocotb's SimTimeoutError after ``timeout_cycles`` cycles.
        """
        await with_timeout(self._done, timeout_cycles * CLOCK_NS, "ns")
        await FallingEdge(self.dut.clk)
        self.cycles = self.dut.cycles.value.to_unsigned()
        return self.cycles

    async def run(self, program: Program, timeout_cycles: int) -> int:
        """Load ``program``, start it and wait for it: the whole host sequence but reset."""
        await self.load(program)
        await self.start()
        return await self.wait_done(timeout_cycles)
