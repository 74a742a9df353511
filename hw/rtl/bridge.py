"""The UART bridge: the gateware that speaks the frame protocol of
:mod:`conveyor.hw.machine.frame` and drives the core's host port.

A request is checked whole before it acts: the bridge keeps the payload in a small buffer and
writes nothing to the core until the CRC has matched. A frame that goes wrong (a CRC mismatch, a
``LEN`` over :data:`MAX_PAYLOAD`, a byte outside a frame, a UART framing error) makes the bridge
discard input until the line has been quiet for ``timeout`` clock cycles, then send one error
reply; a frame that stops short gets its error reply after the same quiet time. Either way the
next frame is received normally, so a host recovers by waiting for the reply and trying again.
"""

from amaranth.back import verilog
from amaranth.hdl import Cat, ClockDomain, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..machine.config import CoreConfig
from ..machine.frame import (
    CRC_INIT,
    CRC_POLY,
    MAX_PAYLOAD,
    MAX_READ_WORDS,
    SOF_REPLY,
    SOF_REQUEST,
    Command,
    Status,
    info_payload,
)
from .core import Core
from .uart import UARTRx, UARTTx

__all__ = ["BRIDGE_TOP_NAME", "Bridge", "BridgedCore", "HostPortSignature", "to_verilog"]

#: Verilog module name of :func:`to_verilog`'s top level.
BRIDGE_TOP_NAME = "conveyor_bridge"


def _crc16_next(crc, byte):
    """The CRC register after one more byte, most significant bit first: 8 unrolled steps."""
    for i in reversed(range(8)):
        feedback = crc[15] ^ byte[i]
        crc = Cat(Const(0, 1), crc[:15]) ^ Mux(feedback, CRC_POLY, 0)
    return crc


class HostPortSignature(wiring.Signature):
    """The core's host port (docs/architecture.md, "Host port"), seen from the host.

    Members
    -------
    addr, wdata : out, word address and data of a write or read.
    we : out, write ``wdata`` to ``addr`` in this cycle.
    re : out, read ``addr``; the word is on ``rdata`` in the next cycle.
    rdata : in, read data.
    start : out, a one-cycle pulse starts a run.
    running, done : in, the run is in progress / has finished.
    cycles : in, the run's cycle counter.
    """

    def __init__(self):
        super().__init__({
            "addr": Out(32), "wdata": Out(32), "we": Out(1), "re": Out(1), "rdata": In(32),
            "start": Out(1), "running": In(1), "done": In(1), "cycles": In(32),
        })

    def __eq__(self, other):
        return isinstance(other, HostPortSignature)

    def __repr__(self):
        return "HostPortSignature()"


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
        if not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"timeout must be a positive number of clock cycles, "
                             f"not {timeout!r}")
        if not 0 <= clock_hz < 1 << 32:
            raise ValueError(f"clock_hz must fit 32 bits, not {clock_hz!r}")
        self._config, self._clock_hz, self._timeout = config, int(clock_hz), timeout
        super().__init__()

    @property
    def timeout(self) -> int:
        return self._timeout

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = buffer = Memory(shape=8, depth=MAX_PAYLOAD, init=[])
        wp = buffer.write_port()
        rp = buffer.read_port()
        info = info_payload(self._config, self._clock_hz)
        rx, tx, host = self.rx, self.tx, self.host

        # --- frame fields ---------------------------------------------------------------
        length = Signal(8)
        cmd = Signal(8)
        seq = Signal(8)
        # Payload byte index while receiving; reply payload byte index while sending.
        idx = Signal(8)
        crc = Signal(16, init=CRC_INIT)
        # The first word of the payload (WRITE and READ address), then the host address of
        # the next word; READ's count.
        addr = Signal(32)
        count = Signal(8)
        # A word on its way to or from the core, one byte at a time (least significant first).
        word = Signal(32)
        # STATUS's flags, sampled with the cycle counter.
        flags = Signal(2)
        # The reply: status code and payload length.
        status = Signal(8)
        plen = Signal(8)
        # Buffer index of the next WRITE byte.
        ridx = Signal(8)
        tcrc = Signal(16)

        byte = rx.payload
        got = Signal()
        m.d.comb += got.eq(rx.valid & rx.ready)

        # --- quiet line: cycles since the last byte, while inside a frame or draining -------
        quiet = Signal(range(self._timeout + 1))
        timed_out = Signal()
        m.d.comb += timed_out.eq(quiet == self._timeout)

        m.d.comb += [rp.addr.eq(ridx), wp.addr.eq(idx), wp.data.eq(byte),
                     host.addr.eq(addr), host.wdata.eq(word)]

        def fail(code):
            m.d.sync += status.eq(code)
            m.next = "DRAIN"

        def reply(code, payload_len):
            m.d.sync += [status.eq(code), plen.eq(payload_len)]
            m.next = "R_SOF"

        def receiving(then):
            """The common part of the states inside a frame: a broken byte or a quiet line
            ends it; a byte goes into the CRC and ``then`` handles it."""
            m.d.comb += rx.ready.eq(1)
            with m.If(self.rx_error):
                fail(Status.SYNC)
            with m.Elif(got):
                m.d.sync += crc.eq(_crc16_next(crc, byte))
                then()
            with m.Elif(timed_out):
                reply(Status.TIMEOUT, 0)

        with m.FSM() as fsm:
            # --- receive ----------------------------------------------------------------
            with m.State("IDLE"):
                m.d.comb += rx.ready.eq(1)
                m.d.sync += [crc.eq(CRC_INIT), idx.eq(0), seq.eq(0), cmd.eq(0)]
                with m.If(self.rx_error | (got & (byte != SOF_REQUEST))):
                    fail(Status.SYNC)
                with m.Elif(got):
                    m.next = "LEN"

            with m.State("LEN"):
                def on_len():
                    m.d.sync += length.eq(byte)
                    with m.If(byte > MAX_PAYLOAD):
                        fail(Status.LENGTH)
                    with m.Else():
                        m.next = "CMD"
                receiving(on_len)

            with m.State("CMD"):
                def on_cmd():
                    m.d.sync += cmd.eq(byte)
                    m.next = "SEQ"
                receiving(on_cmd)

            with m.State("SEQ"):
                def on_seq():
                    m.d.sync += seq.eq(byte)
                    with m.If(length == 0):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "PAYLOAD"
                receiving(on_seq)

            with m.State("PAYLOAD"):
                def on_payload():
                    m.d.comb += wp.en.eq(1)
                    m.d.sync += [idx.eq(idx + 1), word.eq(Cat(word[8:], byte))]
                    with m.If(idx == 3):
                        m.d.sync += addr.eq(Cat(word[8:], byte))
                    with m.If(idx == 4):
                        m.d.sync += count.eq(byte)
                    with m.If(idx == length - 1):
                        m.next = "CRC_HI"
                receiving(on_payload)

            with m.State("CRC_HI"):
                def on_crc_hi():
                    m.next = "CRC_LO"
                receiving(on_crc_hi)

            with m.State("CRC_LO"):
                def on_crc_lo():
                    # The CRC over the frame and its own CRC leaves zero behind.
                    with m.If(_crc16_next(crc, byte) == 0):
                        m.next = "CHECK"
                    with m.Else():
                        fail(Status.CRC)
                receiving(on_crc_lo)

            with m.State("DRAIN"):
                # Swallow whatever is left of a broken frame, then answer once.
                m.d.comb += rx.ready.eq(1)
                with m.If(timed_out):
                    m.d.sync += plen.eq(0)
                    m.next = "R_SOF"

            # --- act ----------------------------------------------------------------------
            with m.State("CHECK"):
                empty = length == 0
                busy = host.running
                with m.Switch(cmd):
                    with m.Case(Command.INFO):
                        with m.If(empty):
                            reply(Status.OK, len(info))
                        with m.Else():
                            reply(Status.ARGUMENT, 0)
                    with m.Case(Command.STATUS):
                        with m.If(empty):
                            reply(Status.OK, 5)
                        with m.Else():
                            reply(Status.ARGUMENT, 0)
                    with m.Case(Command.START):
                        with m.If(~empty):
                            reply(Status.ARGUMENT, 0)
                        with m.Elif(busy):
                            reply(Status.BUSY, 0)
                        with m.Else():
                            m.d.comb += host.start.eq(1)
                            reply(Status.OK, 0)
                    with m.Case(Command.WRITE):
                        with m.If((length < 8) | (length[:2] != 0)):
                            reply(Status.ARGUMENT, 0)
                        with m.Elif(busy):
                            reply(Status.BUSY, 0)
                        with m.Else():
                            m.d.sync += ridx.eq(4)
                            m.next = "W_READ"
                    with m.Case(Command.READ):
                        with m.If((length != 5) | (count == 0) | (count > MAX_READ_WORDS)):
                            reply(Status.ARGUMENT, 0)
                        with m.Elif(busy):
                            reply(Status.BUSY, 0)
                        with m.Else():
                            reply(Status.OK, count << 2)
                    with m.Default():
                        reply(Status.COMMAND, 0)

            # WRITE: the buffer's bytes 4.. go to the core a word at a time.
            with m.State("W_READ"):
                m.next = "W_SHIFT"  # the buffer's synchronous read port answers next cycle
            with m.State("W_SHIFT"):
                m.d.sync += [word.eq(Cat(word[8:], rp.data)), ridx.eq(ridx + 1)]
                with m.If(ridx[:2] == 3):
                    m.next = "W_WRITE"
                with m.Else():
                    m.next = "W_READ"
            with m.State("W_WRITE"):
                m.d.comb += host.we.eq(1)
                m.d.sync += addr.eq(addr + 1)
                with m.If(ridx == length):
                    reply(Status.OK, 0)
                with m.Else():
                    m.next = "W_READ"

            # --- reply ----------------------------------------------------------------------
            def send(value, then, *, checked=True):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
                with m.If(tx.ready):
                    if checked:
                        m.d.sync += tcrc.eq(_crc16_next(tcrc, value))
                    then()

            with m.State("R_SOF"):
                m.d.comb += self.error.eq((status != Status.OK) & tx.ready)
                m.d.sync += [tcrc.eq(CRC_INIT), idx.eq(0)]

                def after_sof():
                    m.next = "R_LEN"
                send(SOF_REPLY, after_sof, checked=False)
            with m.State("R_LEN"):
                def after_len():
                    m.next = "R_STATUS"
                send(plen, after_len)
            with m.State("R_STATUS"):
                def after_status():
                    m.next = "R_SEQ"
                send(status, after_status)
            with m.State("R_SEQ"):
                def after_seq():
                    with m.If(plen == 0):
                        m.next = "R_CRC_HI"
                    with m.Else():
                        m.next = "R_FETCH"
                send(seq, after_seq)

            with m.State("R_FETCH"):
                # Bring the word that the next payload byte comes from, if it is a new one.
                m.next = "R_BYTE"
                with m.Switch(cmd):
                    with m.Case(Command.READ), m.If(idx[:2] == 0):
                        m.d.comb += host.re.eq(1)
                        m.next = "R_LATCH"
                    with m.Case(Command.STATUS), m.If(idx == 0):
                        m.d.sync += [word.eq(host.cycles),
                                     flags.eq(Cat(host.running, host.done))]
            with m.State("R_LATCH"):
                m.d.sync += [word.eq(host.rdata), addr.eq(addr + 1)]
                m.next = "R_BYTE"
            with m.State("R_BYTE"):
                value = Signal(8)
                with m.Switch(cmd):
                    with m.Case(Command.INFO), m.Switch(idx):
                        for i, b in enumerate(info):
                            with m.Case(i):
                                m.d.comb += value.eq(b)
                    with m.Case(Command.STATUS):
                        m.d.comb += value.eq(Mux(idx == 4, flags, word[:8]))
                    with m.Default():
                        m.d.comb += value.eq(word[:8])

                def after_byte():
                    m.d.sync += [idx.eq(idx + 1), word.eq(word >> 8)]
                    with m.If(idx == plen - 1):
                        m.next = "R_CRC_HI"
                    with m.Else():
                        m.next = "R_FETCH"
                send(value, after_byte)
            with m.State("R_CRC_HI"):
                def after_hi():
                    m.next = "R_CRC_LO"
                send(tcrc[8:], after_hi, checked=False)
            with m.State("R_CRC_LO"):
                def after_lo():
                    m.next = "IDLE"
                send(tcrc[:8], after_lo, checked=False)

        # The quiet counter runs inside a frame and while draining; a byte restarts it.
        inside = Signal()
        m.d.comb += inside.eq(rx.ready & ~fsm.ongoing("IDLE"))
        with m.If(~inside | got):
            m.d.sync += quiet.eq(0)
        with m.Elif(~timed_out):
            m.d.sync += quiet.eq(quiet + 1)
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
    top_core = BridgedCore(config=config, divisor=divisor, clock_hz=clock_hz, timeout=timeout)
    top = Module()
    top.domains.sync = domain = ClockDomain(async_reset=True)
    top.submodules.top = top_core
    ports = [getattr(top_core, name) for name in top_core.signature.members]
    return verilog.convert(top, name=BRIDGE_TOP_NAME, ports=[domain.clk, domain.rst, *ports],
                           emit_src=False)
