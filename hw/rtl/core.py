"""The top level: stream conveyor, slices, their queues, the host port and the run control.

The host port and its address map are the ones of docs/architecture.md ("Host port"). A run
starts two cycles after a ``start`` pulse (cycle 0) and lasts exactly C cycles, C being the
smallest count such that every queue issued its ``halt`` before cycle C and every instruction
has delivered its result (issue + latency <= C). ``cycles`` counts the run's cycles; ``done``
rises in cycle C with ``cycles`` = C and stays high until the next ``start``.
"""


from amaranth.back import verilog
from amaranth.hdl import Cat, ClockDomain, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..machine.config import SLICE_KINDS, CoreConfig
from ..machine.hostmap import HostMap
from ..machine.timing import HALT_LATENCY, START_DELAY
from .mem import MemSlice, queue_port_name
from .mxm import MxmSlice
from .queue import HOST_BITS, InstructionQueue
from .streams import StreamConveyor
from .sxm import SxmSlice
from .vxm import VxmSlice

__all__ = ["TOP_NAME", "Core", "async_reset_verilog", "to_verilog"]

#: Verilog module name of the top level.
TOP_NAME = "conveyor_core"


_SLICE_CLASSES = {"mem": MemSlice, "vxm": VxmSlice, "sxm": SxmSlice}


class Core(wiring.Component):
    """One Conveyor core.

    Parameters
    ----------
    config : the core geometry.
    lut_columns : MXM product columns built from LUTs in a submodule ``lutmul`` rather than
        with ``*`` (for FPGAs with fewer multipliers than L^2; see ``hw/rtl/mxm.py``).

    Members
    -------
    host_addr, host_wdata, host_we : in, a host write (ignored while running and in the
        cycle of ``start`` and the next).
    host_re : in, a host read of ``host_addr``; the data is on ``host_rdata`` one cycle later.
    host_rdata : out, read data.
    start : in, while idle, a one-cycle pulse starts a run; cycle 0 is two cycles later (the
        queues fetch their first word in the cycle of ``start`` and work out cycle 0's issue in
        the next).
    running : out, high from cycle 0 until the run is done.
    done : out, high once a run has finished, until the next ``start``.
    cycles : out, cycles of the current or last run; C when ``done`` is high.
    """

    host_addr: In(32)
    host_wdata: In(HOST_BITS)
    host_we: In(1)
    host_re: In(1)
    host_rdata: Out(HOST_BITS)
    start: In(1)
    running: Out(1)
    done: Out(1)
    cycles: Out(32)

    def __init__(self, config: CoreConfig, *, lut_columns: int = 0):
        self._config = config
        self._lut_columns = lut_columns
        self.map = HostMap(config)
        super().__init__()

    @property
    def config(self) -> CoreConfig:
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config

        # --- blocks -----------------------------------------------------------------------
        m.submodules.streams = conveyor = StreamConveyor(config=cfg)
        slices = {}
        for s in cfg.slices:
            if s.kind == "mxm":
                block = MxmSlice(config=cfg, slice=s, lut_columns=self._lut_columns)
            else:
                block = _SLICE_CLASSES[s.kind](config=cfg, slice=s)
            slices[s.name] = m.submodules[s.name] = block
            for i in range(cfg.streams):
                wiring.connect(m, slices[s.name].east[i], conveyor.east[s.position][i])
                wiring.connect(m, slices[s.name].west[i], conveyor.west[s.position][i])
        queues, issued = [], []
        alu_index: dict[str, int] = {}
        for q in cfg.queues:
            name = q.name.replace(".", "_")
            if name == q.slice.name:  # a slice with a single queue (sxm0, or memK with 1 port)
                name += "_queue"
            queue = m.submodules[name] = InstructionQueue(config=cfg, queue=q)
            target = getattr(slices[q.slice.name], queue_port_name(q.role))
            # a VXM has one port per ALU: its queues are alu0, alu1, ... in order
            if q.role == "vxm":
                k = alu_index[q.slice.name] = alu_index.get(q.slice.name, -1) + 1
                target = target[k]
            queues.append(queue)
            issued.append(self._issue_stage(m, queue, target))

        ahead = self._run_control(m, queues, issued)
        self._host_port(m, queues, [slices[s.name] for s in cfg.mem_slices], ahead)
        return m

    # --- the issue stage ------------------------------------------------------------------

    @staticmethod
    def _issue_stage(m, queue, target):
        """A register between each queue and its slice. A queue works out in cycle t - 1 what
        issues in cycle t (it runs one cycle ahead of the slices), so a slice's decoding and
        stream selection start from a register, not from the queue's RAM and issue logic in
        the same cycle; that path set the iCE40's clock (docs/boards.md). Programs see no
        difference: every queue moves by the same cycle, and the run's cycle 0 is the one in
        which the slices see the queues' first issue.

        Returns the queue's ``halt``, ``halted`` and ``latency`` delayed alike, in the slices'
        time, for the run control."""
        for name in ("issue", "instr", "offset"):
            m.d.sync += getattr(target, name).eq(getattr(queue.port, name))
        prefix = queue.queue.name.replace(".", "_")
        issued = {name: Signal.like(getattr(queue, name), name=f"{prefix}_{name}")
                  for name in ("halt", "halted", "latency")}
        m.d.sync += [sig.eq(getattr(queue, name)) for name, sig in issued.items()]
        return issued

    # --- run control ----------------------------------------------------------------------

    def _run_control(self, m, queues, issued):
        """Start, stop and count a run; returns ``ahead``, high in the cycle before cycle 0."""
        # The queues start in the cycle after `start` and the slices one cycle later (cycle 0):
        # `start` -> `ahead` -> running, START_DELAY registers.
        assert START_DELAY == 2, "start, the queues' cycle ahead, then cycle 0"
        go, ahead = Signal(), Signal()
        m.d.comb += go.eq(self.start & ~self.running & ~ahead)
        m.d.sync += ahead.eq(go)
        for q in queues:
            m.d.comb += [q.start.eq(go), q.running.eq(ahead | self.running)]

        # Every queue has halted or halts in this cycle (then no queue issues in it).
        halting = Signal()
        m.d.comb += halting.eq(Cat(*(q["halted"] | q["halt"] for q in issued)).all())
        # Longest latency among the instructions issuing in this cycle.
        timing = self._config.timing
        lat_now = Signal(range(max(timing.max_latency(kind) for kind in SLICE_KINDS) + 1))
        m.d.comb += lat_now.eq(_max([q["latency"] for q in issued]))
        # max over earlier issues of (issue + latency) - this cycle, at least 0: the run may end
        # in this cycle (C = this cycle + 1) only when it is at most 1, and only once every
        # queue has halted (a halt counts HALT_LATENCY = 1 cycle).
        pending = Signal.like(lat_now)

        with m.If(self.running):
            m.d.sync += [
                self.cycles.eq(self.cycles + 1),
                pending.eq(Mux(pending >= lat_now, Mux(pending > 0, pending - 1, 0),
                               lat_now - 1)),
            ]
            assert HALT_LATENCY == 1, "the run ends in the cycle of the last halt"
            with m.If(halting & (pending <= 1)):
                m.d.sync += [self.running.eq(0), self.done.eq(1)]
        with m.Elif(ahead):
            m.d.sync += [self.running.eq(1), self.cycles.eq(0), pending.eq(0)]
        with m.Elif(go):
            m.d.sync += self.done.eq(0)
        return ahead

    # --- host port ------------------------------------------------------------------------

    def _host_port(self, m, queues, mems, ahead):
        hm = self.map
        addr = self.host_addr
        region = addr[hm.region_lo:hm.region_lo + 2]
        index = addr[hm.index_lo:hm.index_lo + hm.index_bits]
        # A host write lands only while idle, and not in the cycle of `start` nor the next: the
        # queues fetch their first word in the first and run in the second, so a write then
        # would come too late for this run (found by the formal queue proof).
        we = Signal()
        m.d.comb += we.eq(self.host_we & ~self.running & ~self.start & ~ahead)

        half = addr[0]
        for i, q in enumerate(queues):
            sel = we & (region == hm.QUEUE) & (index == i)
            m.d.comb += [
                q.host.addr.eq(addr[1:1 + len(q.host.addr)]),
                q.host.wdata.eq(self.host_wdata),
                q.host.wen.eq(Mux(sel, 1 << half, 0)),
            ]
        cb = hm.chunk_bits
        chunk = addr[:cb]
        for k, mem in enumerate(mems):
            sel = we & (region == hm.MEM) & (index == k)
            m.d.comb += [
                mem.host.addr.eq(addr[cb:cb + len(mem.host.addr)]),
                mem.host.wdata.eq(self.host_wdata),
                mem.host.wen.eq(Mux(sel, 1 << chunk if cb else 1, 0)),
            ]

        # --- read back: remember what was read, select it in the next cycle ---------------
        rd_region = Signal(2)
        rd_index = Signal(hm.index_bits)
        rd_part = Signal(max(cb, 1))
        with m.If(self.host_re):
            m.d.sync += [rd_region.eq(region), rd_index.eq(index),
                         rd_part.eq(Mux(region == hm.QUEUE, half, chunk if cb else 0))]
        with m.Switch(Cat(rd_index, rd_region)):
            for i, q in enumerate(queues):
                with m.Case(hm.QUEUE << hm.index_bits | i):
                    m.d.comb += self.host_rdata.eq(q.host.rdata.word_select(rd_part[0],
                                                                            HOST_BITS))
            for k, mem in enumerate(mems):
                with m.Case(hm.MEM << hm.index_bits | k):
                    part = rd_part if cb else 0
                    m.d.comb += self.host_rdata.eq(mem.host.rdata.word_select(part, HOST_BITS))


def _max(values):
    """The largest of unsigned ``values``, as a comparator tree."""
    if len(values) == 1:
        return values[0]
    mid = len(values) // 2
    a, b = _max(values[:mid]), _max(values[mid:])
    return Mux(a > b, a, b)


def to_verilog(config: CoreConfig, *, lut_columns: int = 0) -> str:
    """Verilog for ``config``, top module ``conveyor_core`` with ports ``clk``, ``rst`` and the
    host port; the core sits in it as ``core``.

    The top level gives the core an asynchronously reset ``sync`` domain. With Amaranth's
    default synchronous reset, every register's next-state logic reads the ``rst`` input, and
    Verilator re-evaluates all of it whenever an input (the clock) changes; with the reset in
    the flip-flops' sensitivity list instead, the simulated small16 core runs 1.6x faster
    (62k -> 102k cycles/s idle). Both FPGA families have flip-flops with asynchronous reset.
    """
    return async_reset_verilog(Core(config, lut_columns=lut_columns), name=TOP_NAME,
                               instance="core")


def async_reset_verilog(component: wiring.Component, *, name: str, instance: str) -> str:
    """Verilog of ``component`` as submodule ``instance`` of a top module ``name`` whose
    ``sync`` domain has an asynchronous reset (see :func:`to_verilog`); its ports are ``clk``,
    ``rst`` and the component's signature members."""
    top = Module()
    top.domains.sync = domain = ClockDomain(async_reset=True)
    top.submodules[instance] = component
    ports = [getattr(component, member) for member in component.signature.members]
    return verilog.convert(top, name=name, ports=[domain.clk, domain.rst, *ports],
                           emit_src=False)
