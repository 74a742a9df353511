"""The host driver of a core behind the UART bridge: load a program, run it, read MEM back.

:class:`Board` speaks the bridge's frame protocol (``hw/rtl/bridge/``, docs/boards.md) over any
byte transport with pyserial's ``write`` / ``read`` / ``reset_input_buffer``: a real serial
port (:meth:`Board.open`) or, in the tests, a simulated UART line into the Verilator model of
the same gateware. The same object serves both, so what the tests check is what runs on a
board.

Transmission errors are the bridge's to detect and the driver's to repair: a request the bridge
rejected as damaged (CRC, truncated, over-long, out of sync) is sent again, as is one whose
reply was lost or damaged, except ``START``, which is never sent twice blindly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ...errors import ConveyorError
from ...hw.machine.config import CoreConfig
from ...hw.machine.frame import (
    INFO_BYTES,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    SOF_REPLY,
    SOF_REQUEST,
    Command,
    Status,
    crc16,
)
from ...hw.machine.hostmap import unpack_lanes
from ...hw.machine.hostwords import load_writes, mem_reads
from ...hw.machine.program import Program

__all__ = ["Board", "BoardError", "BoardResult", "BridgeInfo", "Transport", "request_frame"]

#: What each status means, for error messages.
_MEANING = {
    Status.CRC: "the request arrived damaged (CRC mismatch)",
    Status.TIMEOUT: "the request arrived truncated",
    Status.LENGTH: "the request was longer than the bridge takes",
    Status.SYNC: "the line carried bytes outside a frame",
    Status.COMMAND: "the bridge has no such command",
    Status.ARGUMENT: "the request's payload does not fit its command",
    Status.BUSY: "the core is running",
}

#: Statuses that mean the request was damaged on the way and did nothing: safe to send again.
_DAMAGED = (Status.CRC, Status.TIMEOUT, Status.LENGTH, Status.SYNC)


class BoardError(ConveyorError):
    """No board, no bridge behind the port, or a bridge that refused a request."""


class Transport(Protocol):
    """A byte pipe with pyserial's interface (``serial.Serial`` is one)."""

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes; fewer when the transport's timeout passes first."""

    def reset_input_buffer(self) -> None: ...


@dataclass(frozen=True)
class BridgeInfo:
    """What ``INFO`` reports.

    Members
    -------
    version : protocol version.
    max_payload : most payload bytes per frame.
    fingerprint : the core's config fingerprint (:attr:`CoreConfig.fingerprint`).
    clock_hz : the core's clock.
    """

    version: int
    max_payload: int
    fingerprint: bytes
    clock_hz: int

    @classmethod
    def parse(cls, data: bytes) -> BridgeInfo:
        if len(data) != INFO_BYTES:
            raise BoardError(f"INFO reply has {len(data)} bytes, not {INFO_BYTES}")
        return cls(data[0], data[1], bytes(data[2:10]), int.from_bytes(data[10:14], "little"))


@dataclass
class BoardResult:
    """A run on a board, shaped like the simulators' results.

    Members
    -------
    cycles : the core's cycle counter when ``done`` rose.
    mem : MEM slice name -> (mem_depth, lanes) int8 contents after the run.
    seconds : ``cycles`` at the core's clock.
    backend : ``"board"``.
    """

    cycles: int
    mem: dict[str, np.ndarray]
    seconds: float
    backend: str = "board"


def request_frame(command: int, seq: int, payload: bytes = b"") -> bytes:
    """One request frame: SOF, LEN, CMD, SEQ, payload, CRC (big-endian) over LEN..payload."""
    body = bytes([len(payload), command, seq]) + payload
    return bytes([SOF_REQUEST]) + body + crc16(body).to_bytes(2, "big")


class _NoReply(Exception):
    """No reply, or a damaged one: the request may or may not have acted."""


class Board:
    """A core behind a UART bridge.

    Parameters
    ----------
    transport : the byte pipe (:class:`Transport`).
    name : the port's name, for messages.
    retries : how many times a damaged request is sent again.

    Members
    -------
    info : the bridge's ``INFO``, read on first use.
    """

    def __init__(self, transport: Transport, *, name: str = "bridge", retries: int = 3):
        self.transport, self.name, self.retries = transport, name, retries
        self._seq = 0
        self._info: BridgeInfo | None = None
        #: Requests sent again after a damaged request or reply (for tests and reports).
        self.resent = 0

    # --- opening a serial port ----------------------------------------------------------

    @classmethod
    def open(cls, port: str, *, baud: int, timeout: float = 0.5, retries: int = 3) -> Board:
        """Open a serial port with pyserial and check that a bridge answers on it.

        Raises BoardError with one line saying what is missing: pyserial, the port (no board
        plugged in), or a bridge behind it (no bitstream loaded).
        """
        try:
            import serial
        except ImportError:
            raise BoardError("pyserial is not installed: pip install pyserial") from None
        try:
            transport = serial.Serial(port, baud, timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as e:
            code = getattr(e, "errno", None)
            reason = os.strerror(code).lower() if isinstance(code, int) else str(e)
            raise BoardError(f"cannot open {port} ({reason}): is the board plugged in?") from None
        board = cls(transport, name=port, retries=retries)
        try:
            board.info()
        except BoardError:
            transport.close()
            raise
        return board

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- frames -------------------------------------------------------------------------

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.transport.read(n - len(data))
            if not chunk:
                raise _NoReply(f"no reply from the bridge on {self.name}" if not data else
                               f"the bridge's reply on {self.name} stopped short")
            data += chunk
        return data

    def _reply(self) -> tuple[int, int, bytes]:
        """(status, seq, payload) of the next reply frame; junk before its SOF is skipped."""
        skipped = 0
        while self._read_exact(1)[0] != SOF_REPLY:
            skipped += 1
            if skipped > 2 * MAX_PAYLOAD:
                raise _NoReply(f"no reply frame on {self.name}, only stray bytes")
        head = self._read_exact(3)
        length, status, seq = head
        rest = self._read_exact(length + 2)
        if crc16(head + rest[:length]) != int.from_bytes(rest[length:], "big"):
            raise _NoReply(f"a damaged reply from the bridge on {self.name}")
        return status, seq, rest[:length]

    def exchange(self, data: bytes) -> tuple[int, int, bytes]:
        """Send ``data`` as it is (a frame, part of one, or noise) and return the next reply as
        (status, seq, payload): for diagnostics and for tests of the bridge's error handling.

        Raises BoardError when no reply frame comes.
        """
        self.transport.write(bytes(data))
        try:
            return self._reply()
        except _NoReply as e:
            raise BoardError(str(e)) from None

    def request(self, command: Command, payload: bytes = b"") -> bytes:
        """Send one request and return its reply's payload; retry damaged exchanges.

        Raises BoardError when the bridge does not answer or refuses the request.
        """
        repeatable = command != Command.START
        failure = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.resent += 1
            self._seq = seq = (self._seq + 1) & 0xFF
            self.transport.write(request_frame(command, seq, payload))
            try:
                status, data = self._matching_reply(seq)
            except _NoReply as e:
                failure = str(e)
                self.transport.reset_input_buffer()
                if not repeatable:
                    break
                continue
            if status == Status.OK:
                return data
            try:
                meaning = _MEANING[Status(status)]
            except (ValueError, KeyError):
                meaning = f"unknown status {status}"
            failure = f"the bridge on {self.name} refused {command.name}: {meaning}"
            if Status(status) not in _DAMAGED:
                break
        raise BoardError(failure + _hint(failure))

    def _matching_reply(self, seq: int) -> tuple[int, bytes]:
        """The reply to request ``seq``; late replies to earlier requests are dropped."""
        for _ in range(8):
            status, got, data = self._reply()
            if got == seq or status in _DAMAGED:
                # A damaged request may not have got as far as its SEQ byte.
                return status, data
        raise _NoReply(f"the bridge on {self.name} answers with stale replies")

    # --- host-port operations -----------------------------------------------------------

    def info(self) -> BridgeInfo:
        """The bridge's ``INFO`` (read once, then kept)."""
        if self._info is None:
            info = BridgeInfo.parse(self.request(Command.INFO))
            if info.version != PROTOCOL_VERSION:
                raise BoardError(f"the bridge on {self.name} speaks protocol {info.version}, "
                                 f"this driver {PROTOCOL_VERSION}: rebuild the bitstream")
            self._info = info
        return self._info

    def check_config(self, config: CoreConfig) -> None:
        """Raise BoardError unless the board's core has the geometry of ``config``."""
        if self.info().fingerprint != config.fingerprint:
            raise BoardError(f"the core on {self.name} is not a {config.name!r} core (config "
                             f"fingerprint {self.info().fingerprint.hex()}, {config.name} is "
                             f"{config.fingerprint.hex()}): build and flash it with "
                             f"conveyor build -c {config.name}")

    def write(self, addr: int, words: Iterable[int]) -> None:
        """Write ``words`` to host addresses ``addr``, ``addr + 1``, ..."""
        words = np.asarray(list(words) if not isinstance(words, np.ndarray) else words)
        self.write_many(addr + np.arange(len(words)), words)

    def write_many(self, addrs, words) -> None:
        """Write ``words[i]`` to ``addrs[i]``, consecutive addresses in one frame each."""
        words = np.asarray(words, dtype=np.int64) & 0xFFFF_FFFF
        most = (self.info().max_payload - 4) // 4
        for first, part in runs(addrs, most):
            payload = first.to_bytes(4, "little") + words[part].astype("<u4").tobytes()
            self.request(Command.WRITE, payload)

    def read(self, addr: int, count: int) -> np.ndarray:
        """``count`` words from host addresses ``addr``, ``addr + 1``, ... (uint32)."""
        return self.read_many(addr + np.arange(count))

    def read_many(self, addrs) -> np.ndarray:
        """The words at ``addrs`` (uint32)."""
        addrs = np.asarray(addrs, dtype=np.int64)
        out = np.zeros(len(addrs), dtype=np.uint32)
        most = self.info().max_payload // 4
        for first, part in runs(addrs, most):
            n = part.stop - part.start
            data = self.request(Command.READ, first.to_bytes(4, "little") + bytes([n]))
            if len(data) != 4 * n:
                raise BoardError(f"READ of {n} words from the bridge on {self.name} returned "
                                 f"{len(data)} bytes")
            out[part] = np.frombuffer(data, dtype="<u4")
        return out

    def start(self) -> None:
        """Start a run (the core must be idle)."""
        self.request(Command.START)

    def status(self) -> tuple[bool, bool, int]:
        """(running, done, cycles) of the core."""
        data = self.request(Command.STATUS)
        if len(data) != 5:
            raise BoardError(f"STATUS reply has {len(data)} bytes, not 5")
        return bool(data[4] & 1), bool(data[4] & 2), int.from_bytes(data[:4], "little")

    def wait_done(self, timeout: float = 10.0) -> int:
        """Poll until the run is done; return its cycle count. ``timeout`` is in seconds."""
        deadline = time.monotonic() + timeout
        while True:
            running, done, cycles = self.status()
            if done and not running:
                return cycles
            if time.monotonic() > deadline:
                raise BoardError(f"the core on {self.name} is still running after {timeout:g} s "
                                 f"({cycles} cycles)")

    # --- programs -----------------------------------------------------------------------

    def load(self, program: Program) -> None:
        """Write every queue and MEM block of ``program`` (after checking the core fits it)."""
        self.check_config(program.config)
        self.write_many(*load_writes(program))

    def read_mem(self, config: CoreConfig, slice_ordinal: int, first: int = 0,
                 count: int | None = None) -> np.ndarray:
        """Words ``first ..`` of MEM slice ``slice_ordinal`` as (count, lanes) int8."""
        count = config.mem_depth - first if count is None else count
        words = self.read_many(mem_reads(config, slice_ordinal, first, count))
        return unpack_lanes(words, config.lanes)

    def run(self, program: Program, *, timeout: float = 10.0) -> BoardResult:
        """Load ``program``, run it, wait for ``done`` and read every MEM slice back."""
        config = program.config
        self.load(program)
        self.start()
        cycles = self.wait_done(timeout)
        mem = {s.name: self.read_mem(config, s.index) for s in config.mem_slices}
        clock = self.info().clock_hz
        return BoardResult(cycles=cycles, mem=mem, seconds=cycles / clock if clock else 0.0)


def _hint(failure: str) -> str:
    if failure.startswith("no reply"):
        return ": is the bitstream loaded (conveyor flash) and the baud rate right?"
    return ""


def runs(addrs: np.ndarray, most: int) -> Iterator[tuple[int, slice]]:
    """Split ``addrs`` into runs of consecutive addresses of at most ``most`` words: yields
    (first address, slice of ``addrs``) for a bridge that writes or reads bursts."""
    addrs = np.asarray(addrs, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(addrs) != 1) + 1
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(addrs)]):
        for start in range(int(lo), int(hi), most):
            yield int(addrs[start]), slice(start, min(start + most, int(hi)))
