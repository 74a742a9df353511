"""The frame CRC in gateware: one byte's step of :func:`conveyor.hw.machine.frame.crc16`.

The receiver runs it over a request, the replier over a reply; it is combinational, so a byte
enters the CRC register in the cycle it is transferred.
"""

from amaranth.hdl import Cat, Const, Mux, Value

from ...machine.frame import CRC_POLY

__all__ = ["crc16_next"]


def crc16_next(crc: Value, byte: Value) -> Value:
    """The CRC register ``crc`` (16 bits) after one more ``byte``, most significant bit first:
    eight unrolled shifts of CRC-16/CCITT-FALSE."""
    for i in reversed(range(8)):
        feedback = crc[15] ^ byte[i]
        crc = Cat(Const(0, 1), crc[:15]) ^ Mux(feedback, CRC_POLY, 0)
    return crc
