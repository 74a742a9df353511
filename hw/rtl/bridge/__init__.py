"""The UART bridge: the gateware that speaks the frame protocol of
:mod:`conveyor.hw.machine.frame` and drives the core's host port.

A request is checked whole before it acts: the bridge keeps the payload in a small buffer and
writes nothing to the core until the CRC has matched. A frame that goes wrong (a CRC mismatch, a
``LEN`` over :data:`~conveyor.hw.machine.frame.MAX_PAYLOAD`, a byte outside a frame, a UART
framing error) makes the bridge discard input until the line has been quiet for ``timeout``
clock cycles, then send one error reply; a frame that stops short gets its error reply after the
same quiet time. Either way the next frame is received normally, so a host recovers by waiting
for the reply and trying again.

:class:`Bridge` is three parts in a row, each a component of its own, joined by streams:

- :class:`~.receive.Receiver` (:mod:`.receive`) checks a frame and hands on one request;
- :class:`~.act.Executor` (:mod:`.act`) acts on it through the host port and makes the reply;
- :class:`~.reply.Replier` (:mod:`.reply`) frames the reply and sends it.

One request is in flight at a time: the receiver takes no bytes from the moment it hands a
request on until the reply has been sent. A good frame's reply starts (``SOF_REPLY`` on ``tx``)
2 cycles after its last CRC byte, a ``WRITE``'s 9 cycles per word later; an error reply starts
1 cycle after the receiver gave up on the frame.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ...machine.config import CoreConfig
from ..core import Core, async_reset_verilog
from ..uart import UARTRx, UARTTx
from .act import Executor, HostPortSignature, check_clock_hz
from .receive import Receiver, check_timeout
from .reply import Replier

__all__ = ["BRIDGE_TOP_NAME", "Bridge", "BridgedCore", "HostPortSignature", "connect_core",
           "to_verilog"]

#: Verilog module name of :func:`to_verilog`'s top level.
BRIDGE_TOP_NAME = "conveyor_bridge"


def connect_core(m: Module, host, core: Core) -> None:
    """Wire a :class:`HostPortSignature` interface (the host side) to a :class:`Core`."""
    m.d.comb += [
        core.host_addr.eq(host.addr), core.host_wdata.eq(host.wdata),
        core.host_we.eq(host.we), core.host_re.eq(host.re), core.start.eq(host.start),
        host.rdata.eq(core.host_rdata), host.running.eq(core.running),
        host.done.eq(core.done), host.cycles.eq(core.cycles),
    ]


class Bridge(wiring.Component):
    """The frame engine: bytes in, bytes out, host-port operations on the core.

    Parameters
    ----------
    config : the core behind the bridge; ``INFO`` reports its fingerprint.
    clock_hz : the clock, reported by ``INFO`` so the host can turn cycles into time.
    timeout : clock cycles of quiet line that end a broken or truncated frame.

    Members
    -------
    rx : in, bytes from the host.
    rx_error : in, a UART framing error in this cycle (the byte was lost).
    tx : out, bytes to the host.
    host : out, the core's host port (:class:`HostPortSignature`).
    error : out, pulses when an error reply starts.
    """

    rx: In(stream.Signature(8))
    rx_error: In(1)
    tx: Out(stream.Signature(8))
    host: Out(HostPortSignature())
    error: Out(1)

    def __init__(self, *, config: CoreConfig, clock_hz: int, timeout: int):
        check_timeout(timeout)
        check_clock_hz(clock_hz)
        self._config, self._clock_hz, self._timeout = config, int(clock_hz), timeout
        super().__init__()

    @property
    def timeout(self) -> int:
        return self._timeout

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = receiver = Receiver(timeout=self._timeout)
        m.submodules.executor = executor = Executor(config=self._config,
                                                    clock_hz=self._clock_hz)
        m.submodules.replier = replier = Replier()
        wiring.connect(m, wiring.flipped(self.rx), receiver.rx)
        wiring.connect(m, receiver.request, executor.request)
        wiring.connect(m, receiver.buffer, executor.buffer)
        wiring.connect(m, wiring.flipped(self.host), executor.host)
        wiring.connect(m, executor.header, replier.header)
        wiring.connect(m, executor.payload, replier.payload)
        wiring.connect(m, replier.tx, wiring.flipped(self.tx))
        m.d.comb += [receiver.rx_error.eq(self.rx_error), self.error.eq(replier.error)]
        return m


class BridgedCore(wiring.Component):
    """A core with its UART bridge: what a board wraps (and what the bridge tests simulate).

    Parameters
    ----------
    config : the core geometry.
    divisor : clock cycles per UART bit.
    clock_hz : the clock frequency, reported to the host by ``INFO``.
    timeout : clock cycles of quiet line that end a broken frame; by default 64 bit times.
    lut_columns : MXM product columns built as LUT multipliers (passed to :class:`Core`).

    Members
    -------
    rx : in, UART line from the host (idle high).
    tx : out, UART line to the host.
    running, done : out, the core's run state (for LEDs).
    error : out, pulses when the bridge sends an error reply.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    running: Out(1)
    done: Out(1)
    error: Out(1)

    def __init__(self, *, config: CoreConfig, divisor: int, clock_hz: int,
                 timeout: int | None = None, lut_columns: int = 0):
        self._config, self._divisor, self._clock_hz = config, divisor, int(clock_hz)
        self._lut_columns = lut_columns
        self._timeout = 64 * divisor if timeout is None else timeout
        super().__init__()

    @property
    def config(self) -> CoreConfig:
        return self._config

    def elaborate(self, platform):
        m = Module()
        options = {"lut_columns": self._lut_columns} if self._lut_columns else {}
        m.submodules.core = core = Core(self._config, **options)
        m.submodules.bridge = bridge = Bridge(config=self._config, clock_hz=self._clock_hz,
                                              timeout=self._timeout)
        m.submodules.uart_rx = urx = UARTRx(divisor=self._divisor)
        m.submodules.uart_tx = utx = UARTTx(divisor=self._divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), bridge.rx_error.eq(urx.error),
                     self.running.eq(core.running), self.done.eq(core.done),
                     self.error.eq(bridge.error)]
        wiring.connect(m, urx.stream, bridge.rx)
        wiring.connect(m, bridge.tx, utx.stream)
        connect_core(m, bridge.host, core)
        return m


def to_verilog(config: CoreConfig, *, divisor: int, clock_hz: int,
               timeout: int | None = None) -> str:
    """Verilog of a :class:`BridgedCore`, top module ``conveyor_bridge`` with ports ``clk``,
    ``rst`` (asynchronous, as in :func:`conveyor.hw.rtl.core.to_verilog`), ``rx``, ``tx``,
    ``running``, ``done`` and ``error``."""
    top = BridgedCore(config=config, divisor=divisor, clock_hz=clock_hz, timeout=timeout)
    return async_reset_verilog(top, name=BRIDGE_TOP_NAME, instance="top")
