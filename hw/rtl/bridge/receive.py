"""The bridge's receiver: request frames in, one checked request out.

It takes bytes from the UART, checks a frame's ``SOF``, ``LEN`` and CRC, keeps the payload in a
buffer of :data:`MAX_PAYLOAD` bytes and hands on one request on ``request``; nothing is acted on
here. In clock cycles, counting from the transfer of the byte named:

- a frame whose CRC matched is on ``request`` (status ``OK``) 1 cycle after its last CRC byte;
- a frame that went wrong (``LEN`` over :data:`MAX_PAYLOAD`: ``LENGTH``; a CRC mismatch:
  ``CRC``; a byte other than ``SOF_REQUEST`` outside a frame or a UART framing error: ``SYNC``)
  is drained: the receiver takes and discards bytes until the line has been quiet, then hands
  on a request with that status;
- a frame that stops short is handed on with status ``TIMEOUT`` once the line has been quiet.

The line is quiet when ``timeout + 1`` cycles have passed without a byte; the request is then
on ``request`` in the next cycle, ``timeout + 2`` cycles after the last byte (after a framing
error between frames, after the error). A request keeps ``SEQ`` if the frame got that far,
else 0. It stays on ``request`` until taken, and meanwhile the receiver takes no bytes (the
UART holds one), so the buffer cannot change under whoever acts on it.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ...machine.frame import CRC_INIT, MAX_PAYLOAD, SOF_REQUEST, Status
from .crc import crc16_next

__all__ = ["BUFFER_SIGNATURE", "REQUEST_LAYOUT", "Receiver", "check_timeout"]

#: A request as the receiver hands it on:
#:
#: - ``status``: :class:`Status` ``OK`` for a frame whose CRC matched, else why it was
#:   rejected (then only ``seq`` means anything);
#: - ``cmd``, ``seq``, ``length``: the frame's ``CMD``, ``SEQ`` and ``LEN``;
#: - ``addr``, ``count``: payload bytes 0 to 3 (little-endian) and byte 4, WRITE's and READ's
#:   address and READ's count, captured on the way in so that a command can be checked and
#:   started without reading them back from the buffer (stale when ``length`` is shorter).
REQUEST_LAYOUT = data.StructLayout({
    "status": 8, "cmd": 8, "seq": 8, "length": 8, "addr": 32, "count": 8,
})

#: The payload buffer's read port as the receiver offers it: byte ``i`` of the payload is on
#: ``data`` one cycle after ``addr`` is ``i`` (with ``en``).
BUFFER_SIGNATURE = ReadPort.Signature(addr_width=ceil_log2(MAX_PAYLOAD), shape=8)


def check_timeout(timeout) -> None:
    """Refuse a ``timeout`` that is not a positive whole number of clock cycles."""
    if not isinstance(timeout, int) or timeout < 1:
        raise ValueError(f"timeout must be a positive number of clock cycles, not {timeout!r}")


class Receiver(wiring.Component):
    """Request frames in, checked requests out.

    Parameters
    ----------
    timeout : clock cycles of quiet line that end a broken or truncated frame.

    Members
    -------
    rx : in, bytes from the host.
    rx_error : in, a UART framing error in this cycle (the byte was lost).
    request : out, one request (:data:`REQUEST_LAYOUT`); taken when it has been answered.
    buffer : out, the request's payload (:data:`BUFFER_SIGNATURE`), unchanged while
        ``request`` is valid.
    """

    rx: In(stream.Signature(8))
    rx_error: In(1)
    request: Out(stream.Signature(REQUEST_LAYOUT))
    buffer: Out(BUFFER_SIGNATURE)

    def __init__(self, *, timeout: int):
        check_timeout(timeout)
        self._timeout = timeout
        super().__init__()

    @property
    def timeout(self) -> int:
        return self._timeout

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = buffer = Memory(shape=8, depth=MAX_PAYLOAD, init=[])
        wp = buffer.write_port()
        wiring.connect(m, wiring.flipped(self.buffer), buffer.read_port())
        rx, request = self.rx, self.request
        req = request.p

        # --- frame state ----------------------------------------------------------------
        # Buffer index of the next payload byte.
        idx = Signal(range(MAX_PAYLOAD + 1))
        crc = Signal(16, init=CRC_INIT)

        byte = rx.payload
        got = Signal()
        m.d.comb += got.eq(rx.valid & rx.ready)
        m.d.comb += [wp.addr.eq(idx), wp.data.eq(byte)]

        # --- quiet line: cycles since the last byte, while inside a frame or draining -------
        quiet = Signal(range(self._timeout + 1))
        timed_out = Signal()
        m.d.comb += timed_out.eq(quiet == self._timeout)

        def fail(code):
            m.d.sync += req.status.eq(code)
            m.next = "DRAIN"

        def hand_on(code):
            m.d.sync += req.status.eq(code)
            m.next = "REQUEST"

        def receiving(then):
            """The common part of the states inside a frame: a broken byte or a quiet line
            ends it; a byte goes into the CRC and ``then`` handles it."""
            m.d.comb += rx.ready.eq(1)
            with m.If(self.rx_error):
                fail(Status.SYNC)
            with m.Elif(got):
                m.d.sync += crc.eq(crc16_next(crc, byte))
                then()
            with m.Elif(timed_out):
                hand_on(Status.TIMEOUT)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += rx.ready.eq(1)
                m.d.sync += [crc.eq(CRC_INIT), idx.eq(0), req.seq.eq(0), req.cmd.eq(0)]
                with m.If(self.rx_error | (got & (byte != SOF_REQUEST))):
                    fail(Status.SYNC)
                with m.Elif(got):
                    m.next = "LEN"

            with m.State("LEN"):
                def on_len():
                    m.d.sync += req.length.eq(byte)
                    with m.If(byte > MAX_PAYLOAD):
                        fail(Status.LENGTH)
                    with m.Else():
                        m.next = "CMD"
                receiving(on_len)

            with m.State("CMD"):
                def on_cmd():
                    m.d.sync += req.cmd.eq(byte)
                    m.next = "SEQ"
                receiving(on_cmd)

            with m.State("SEQ"):
                def on_seq():
                    m.d.sync += req.seq.eq(byte)
                    with m.If(req.length == 0):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "PAYLOAD"
                receiving(on_seq)

            with m.State("PAYLOAD"):
                def on_payload():
                    m.d.comb += wp.en.eq(1)
                    m.d.sync += idx.eq(idx + 1)
                    with m.Switch(idx):
                        for i in range(4):
                            with m.Case(i):
                                m.d.sync += req.addr.word_select(i, 8).eq(byte)
                        with m.Case(4):
                            m.d.sync += req.count.eq(byte)
                    with m.If(idx == req.length - 1):
                        m.next = "CRC_HI"
                receiving(on_payload)

            with m.State("CRC_HI"):
                def on_crc_hi():
                    m.next = "CRC_LO"
                receiving(on_crc_hi)

            with m.State("CRC_LO"):
                def on_crc_lo():
                    # The CRC over the frame and its own CRC leaves zero behind.
                    with m.If(crc16_next(crc, byte) == 0):
                        hand_on(Status.OK)
                    with m.Else():
                        fail(Status.CRC)
                receiving(on_crc_lo)

            with m.State("DRAIN"):
                # Swallow whatever is left of a broken frame, then hand it on once.
                m.d.comb += rx.ready.eq(1)
                with m.If(timed_out):
                    m.next = "REQUEST"

            with m.State("REQUEST"):
                m.d.comb += request.valid.eq(1)
                with m.If(request.ready):
                    m.next = "IDLE"

        # The quiet counter runs inside a frame and while draining; a byte restarts it.
        inside = Signal()
        m.d.comb += inside.eq(rx.ready & ~fsm.ongoing("IDLE"))
        with m.If(~inside | got):
            m.d.sync += quiet.eq(0)
        with m.Elif(~timed_out):
            m.d.sync += quiet.eq(quiet + 1)
        return m
