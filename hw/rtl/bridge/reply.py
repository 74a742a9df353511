"""The bridge's replier: a reply's header and payload in, the reply frame out as bytes.

It sends ``SOF_REPLY``, ``LEN``, ``STATUS``, ``SEQ``, the payload and the CRC over ``LEN`` to the
end of the payload (:mod:`conveyor.hw.machine.frame`). In clock cycles:

- ``SOF_REPLY`` is on ``tx`` in the cycle the header is first valid, and ``error`` pulses in the
  cycle it is transferred if the status is not ``OK``;
- payload byte ``i`` is asked for on ``payload.index`` 1 cycle after the byte before it (or
  ``SEQ``) was transferred, and goes to ``tx`` in the cycle it arrives on ``payload.data``;
- the header is taken in the cycle the last CRC byte is transferred.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...machine.frame import CRC_INIT, MAX_PAYLOAD, SOF_REPLY, Status
from .crc import crc16_next

__all__ = ["HEADER_LAYOUT", "PayloadSignature", "Replier"]

#: A reply's header: its :class:`Status`, the payload length ``LEN`` and the request's ``SEQ``.
#: Its fields are read while it is valid; it is taken when the reply has been sent.
HEADER_LAYOUT = data.StructLayout({"status": 8, "length": 8, "seq": 8})


class PayloadSignature(wiring.Signature):
    """A reply's payload, one byte on demand at a time, seen from its source.

    Members
    -------
    index : in, the index of the byte wanted, from 0 up to ``LEN - 1``; the next one is asked
        for after the byte has come.
    data : out, the byte asked for.
    """

    def __init__(self):
        super().__init__({
            "index": In(stream.Signature(range(MAX_PAYLOAD))),
            "data": Out(stream.Signature(8)),
        })

    def __eq__(self, other):
        return isinstance(other, PayloadSignature)

    def __repr__(self):
        return "PayloadSignature()"


class Replier(wiring.Component):
    """Reply headers and payloads in, reply frames out.

    Members
    -------
    header : in, the reply's header (:data:`HEADER_LAYOUT`).
    payload : in, the reply's payload bytes (:class:`PayloadSignature`, flipped).
    tx : out, bytes to the host.
    error : out, pulses when an error reply starts.
    """

    header: In(stream.Signature(HEADER_LAYOUT))
    payload: In(PayloadSignature())
    tx: Out(stream.Signature(8))
    error: Out(1)

    def elaborate(self, platform):
        m = Module()
        header, tx = self.header, self.tx
        index, data = self.payload.index, self.payload.data
        hdr = header.p

        # Payload index of the next byte.
        idx = Signal.like(index.payload)
        crc = Signal(16)
        m.d.comb += index.payload.eq(idx)

        def send(value, then, *, checked=True):
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
            with m.If(tx.ready):
                if checked:
                    m.d.sync += crc.eq(crc16_next(crc, value))
                then()

        with m.FSM():
            with m.State("SOF"):
                m.d.comb += [tx.valid.eq(header.valid), tx.payload.eq(SOF_REPLY),
                             self.error.eq(header.valid & (hdr.status != Status.OK) & tx.ready)]
                m.d.sync += [crc.eq(CRC_INIT), idx.eq(0)]
                with m.If(header.valid & tx.ready):
                    m.next = "LEN"
            with m.State("LEN"):
                def after_len():
                    m.next = "STATUS"
                send(hdr.length, after_len)
            with m.State("STATUS"):
                def after_status():
                    m.next = "SEQ"
                send(hdr.status, after_status)
            with m.State("SEQ"):
                def after_seq():
                    with m.If(hdr.length == 0):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "ASK"
                send(hdr.seq, after_seq)

            with m.State("ASK"):
                m.d.comb += index.valid.eq(1)
                with m.If(index.ready):
                    m.next = "BYTE"
            with m.State("BYTE"):
                m.d.comb += [tx.valid.eq(data.valid), tx.payload.eq(data.payload),
                             data.ready.eq(tx.ready)]
                with m.If(data.valid & tx.ready):
                    m.d.sync += [crc.eq(crc16_next(crc, data.payload)), idx.eq(idx + 1)]
                    with m.If(idx == hdr.length - 1):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "ASK"

            with m.State("CRC_HI"):
                def after_hi():
                    m.next = "CRC_LO"
                send(crc[8:], after_hi, checked=False)
            with m.State("CRC_LO"):
                def after_lo():
                    m.d.comb += header.ready.eq(1)
                    m.next = "SOF"
                send(crc[:8], after_lo, checked=False)
        return m
