"""The UART bridge's frame format: what a host and the bridge say to each other.

A host (:mod:`conveyor.sw.host.driver`) sends one request frame and waits for one reply frame::

    request:  SOF_REQUEST  LEN  CMD     SEQ  PAYLOAD[LEN]  CRC_HI  CRC_LO
    reply:    SOF_REPLY    LEN  STATUS  SEQ  PAYLOAD[LEN]  CRC_HI  CRC_LO

``CRC`` is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF) over the bytes from
``LEN`` to the end of the payload, sent most significant byte first. Multi-byte fields in
payloads are little-endian. The commands are :class:`Command`, the reply codes :class:`Status`;
docs/boards.md is the full description, :mod:`conveyor.hw.rtl.bridge` the gateware.
"""

from __future__ import annotations

import binascii
import enum

from .config import CoreConfig

__all__ = [
    "CRC_INIT",
    "CRC_POLY",
    "INFO_BYTES",
    "MAX_PAYLOAD",
    "MAX_READ_WORDS",
    "MAX_WRITE_WORDS",
    "PROTOCOL_VERSION",
    "SOF_REPLY",
    "SOF_REQUEST",
    "Command",
    "Status",
    "crc16",
    "info_payload",
]

#: First byte of every request and of every reply.
SOF_REQUEST = 0xC3
SOF_REPLY = 0x3C

#: Version of the protocol, reported by ``INFO``.
PROTOCOL_VERSION = 1

#: Largest payload of a frame, either way: a READ reply of 63 words.
MAX_PAYLOAD = 252
MAX_READ_WORDS = MAX_PAYLOAD // 4
#: A WRITE payload is the first address, then the words.
MAX_WRITE_WORDS = (MAX_PAYLOAD - 4) // 4

#: Bytes of the ``INFO`` reply: version, max payload, config fingerprint (8), clock in Hz (4).
INFO_BYTES = 14

class Command(enum.IntEnum):
    """Request commands; the payload each takes is in docs/boards.md."""

    INFO = 0x01    # -> version, max payload, config fingerprint, clock in Hz
    WRITE = 0x02   # addr:u32, words:u32[n] -> host writes to addr, addr+1, ... (idle only)
    READ = 0x03    # addr:u32, count:u8 -> count words read from addr, addr+1, ... (idle only)
    START = 0x04   # start a run (idle only)
    STATUS = 0x05  # -> cycles:u32, flags:u8 (bit 0 running, bit 1 done)


class Status(enum.IntEnum):
    """The reply's status byte. Every code but OK comes with an empty payload."""

    OK = 0
    CRC = 1        # the frame's CRC did not match
    TIMEOUT = 2    # the frame stopped short: the line went quiet inside it
    LENGTH = 3     # LEN was over MAX_PAYLOAD
    SYNC = 4       # a byte outside a frame, or a UART framing error
    COMMAND = 5    # no such command
    ARGUMENT = 6   # the payload does not fit the command (its length, READ's count)
    BUSY = 7       # the core is running: WRITE, READ and START wait until it is done


#: CRC-16/CCITT-FALSE: its polynomial and the register's value before the first byte.
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (``binascii.crc_hqx`` computes exactly this one)."""
    return binascii.crc_hqx(data, crc)


def info_payload(config: CoreConfig, clock_hz: int) -> bytes:
    """The ``INFO`` reply's payload for a core of ``config`` clocked at ``clock_hz``."""
    return (bytes([PROTOCOL_VERSION, MAX_PAYLOAD]) + config.fingerprint
            + int(clock_hz).to_bytes(4, "little"))
