"""The bridge's executor: a checked request in, host-port operations on the core, the reply out.

It acts on a request the receiver (:mod:`.receive`) has checked and hands the reply to the
replier (:mod:`.reply`): its header on ``header``, its payload byte by byte on ``payload`` as
the replier asks. In clock cycles, counting from the cycle a request is first valid:

- a request the receiver rejected is answered as it is, in the same cycle: its status, no
  payload;
- ``INFO``, ``STATUS``, ``READ``, ``START`` and every ``COMMAND``, ``ARGUMENT`` or ``BUSY``
  answer are decided in that cycle, the header is valid in the next; ``START`` pulses
  ``host.start`` in the decision cycle, and ``running`` is sampled there for ``BUSY``;
- ``WRITE`` writes its words from the buffer, one every 9 cycles (4 buffer reads of 2 cycles,
  then ``host.we``), and its header is valid the cycle after the last write;
- a payload byte is ready 1 cycle after the replier asks for it, a ``READ`` byte that starts a
  new word 2 (``host.re``, then ``host.rdata``); ``STATUS`` samples ``cycles`` and the run flags
  in the cycle byte 0 is asked for.

The request and the header are taken together, when the replier has sent the reply.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ...machine.config import CoreConfig
from ...machine.frame import MAX_PAYLOAD, MAX_READ_WORDS, Command, Status, info_payload
from .receive import BUFFER_SIGNATURE, REQUEST_LAYOUT
from .reply import HEADER_LAYOUT, PayloadSignature

__all__ = ["Executor", "HostPortSignature", "check_clock_hz"]

#: Bytes of the ``STATUS`` reply's payload: cycles (4), then the flags.
_STATUS_BYTES = 5


def check_clock_hz(clock_hz) -> None:
    """Refuse a ``clock_hz`` that ``INFO``'s 32-bit field cannot hold."""
    if not 0 <= clock_hz < 1 << 32:
        raise ValueError(f"clock_hz must fit 32 bits, not {clock_hz!r}")


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


class Executor(wiring.Component):
    """Checked requests in, host-port operations and replies out.

    Parameters
    ----------
    config : the core behind the bridge; ``INFO`` reports its fingerprint.
    clock_hz : the clock, reported by ``INFO`` so the host can turn cycles into time.

    Members
    -------
    request : in, a checked request (:data:`.receive.REQUEST_LAYOUT`).
    buffer : in, the request's payload (:data:`.receive.BUFFER_SIGNATURE`).
    host : out, the core's host port (:class:`HostPortSignature`).
    header : out, the reply's status, payload length and ``SEQ``
        (:data:`.reply.HEADER_LAYOUT`).
    payload : out, the reply's payload bytes, on demand (:class:`.reply.PayloadSignature`).
    """

    request: In(stream.Signature(REQUEST_LAYOUT))
    buffer: In(BUFFER_SIGNATURE)
    host: Out(HostPortSignature())
    header: Out(stream.Signature(HEADER_LAYOUT))
    payload: Out(PayloadSignature())

    def __init__(self, *, config: CoreConfig, clock_hz: int):
        check_clock_hz(clock_hz)
        self._config, self._clock_hz = config, int(clock_hz)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        info = info_payload(self._config, self._clock_hz)
        request, host, header = self.request, self.host, self.header
        index, data = self.payload.index, self.payload.data
        req = request.p

        # --- state --------------------------------------------------------------------
        # The host address of the next word written or read: the payload's first word, then
        # one up per word.
        addr = Signal(32)
        # A word on its way to or from the core, one byte at a time (least significant first);
        # the reply's next payload byte is its bottom byte.
        word = Signal(32)
        # STATUS's flags, sampled with the cycle counter.
        flags = Signal(2)
        # The reply: status code and payload length.
        status = Signal(8)
        length = Signal(8)
        # Buffer index of the next WRITE byte.
        ridx = Signal(range(MAX_PAYLOAD + 1))

        m.d.comb += [host.addr.eq(addr), host.wdata.eq(word), self.buffer.addr.eq(ridx),
                     header.p.seq.eq(req.seq),
                     # A request is done when its reply has been sent.
                     request.ready.eq(header.valid & header.ready)]

        def reply(code, payload_len):
            m.d.sync += [status.eq(code), length.eq(payload_len)]
            m.next = "REPLY"

        def replying():
            """The common part of the states while the reply goes out: its header is valid."""
            m.d.comb += [header.valid.eq(1), header.p.status.eq(status),
                         header.p.length.eq(length)]

        with m.FSM():
            # --- act --------------------------------------------------------------------
            with m.State("IDLE"):
                with m.If(request.valid & (req.status != Status.OK)):
                    # Rejected by the receiver: the reply is its status, with no payload.
                    m.d.comb += [header.valid.eq(1), header.p.status.eq(req.status)]
                with m.Elif(request.valid):
                    empty = req.length == 0
                    busy = host.running
                    with m.Switch(req.cmd):
                        with m.Case(Command.INFO):
                            with m.If(empty):
                                reply(Status.OK, len(info))
                            with m.Else():
                                reply(Status.ARGUMENT, 0)
                        with m.Case(Command.STATUS):
                            with m.If(empty):
                                reply(Status.OK, _STATUS_BYTES)
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
                            with m.If((req.length < 8) | (req.length[:2] != 0)):
                                reply(Status.ARGUMENT, 0)
                            with m.Elif(busy):
                                reply(Status.BUSY, 0)
                            with m.Else():
                                m.d.sync += [addr.eq(req.addr), ridx.eq(4)]
                                m.next = "W_READ"
                        with m.Case(Command.READ):
                            with m.If((req.length != 5) | (req.count == 0)
                                      | (req.count > MAX_READ_WORDS)):
                                reply(Status.ARGUMENT, 0)
                            with m.Elif(busy):
                                reply(Status.BUSY, 0)
                            with m.Else():
                                m.d.sync += addr.eq(req.addr)
                                reply(Status.OK, req.count << 2)
                        with m.Default():
                            reply(Status.COMMAND, 0)

            # WRITE: the buffer's bytes 4.. go to the core a word at a time.
            with m.State("W_READ"):
                m.next = "W_SHIFT"  # the buffer's synchronous read port answers next cycle
            with m.State("W_SHIFT"):
                m.d.sync += [word.eq(Cat(word[8:], self.buffer.data)), ridx.eq(ridx + 1)]
                with m.If(ridx[:2] == 3):
                    m.next = "W_WRITE"
                with m.Else():
                    m.next = "W_READ"
            with m.State("W_WRITE"):
                m.d.comb += host.we.eq(1)
                m.d.sync += addr.eq(addr + 1)
                with m.If(ridx == req.length):
                    reply(Status.OK, 0)
                with m.Else():
                    m.next = "W_READ"

            # --- reply payload, byte by byte as the replier asks ---------------------------
            with m.State("REPLY"):
                replying()
                m.d.comb += index.ready.eq(1)
                with m.If(header.ready):
                    m.next = "IDLE"
                with m.Elif(index.valid):
                    # The byte asked for goes to the bottom of ``word``; a READ brings the
                    # word it comes from first, if it is a new one.
                    m.next = "BYTE"
                    with m.Switch(req.cmd):
                        with m.Case(Command.INFO), m.Switch(index.payload):
                            for i, b in enumerate(info):
                                with m.Case(i):
                                    m.d.sync += word.eq(b)
                        with m.Case(Command.STATUS):
                            with m.If(index.payload == 0):
                                m.d.sync += [word.eq(host.cycles),
                                             flags.eq(Cat(host.running, host.done))]
                            with m.Elif(index.payload == _STATUS_BYTES - 1):
                                m.d.sync += word.eq(flags)
                        with m.Case(Command.READ), m.If(index.payload[:2] == 0):
                            m.d.comb += host.re.eq(1)
                            m.next = "LATCH"
            with m.State("LATCH"):
                replying()
                m.d.sync += [word.eq(host.rdata), addr.eq(addr + 1)]
                m.next = "BYTE"
            with m.State("BYTE"):
                replying()
                m.d.comb += [data.valid.eq(1), data.payload.eq(word[:8])]
                with m.If(data.ready):
                    m.d.sync += word.eq(word >> 8)
                    m.next = "REPLY"
        return m
