"""cocotb tests of the UART bridge, run by test_bridge.py through bridge_sim.run.

The host side is the real driver, :class:`conveyor.sw.host.driver.Board`, running in a cocotb
``bridge`` thread; its transport is :class:`SimSerial`, a UART line into the simulated
``conveyor_bridge`` whose blocking ``write``/``read`` ``resume`` coroutines that toggle and
watch the DUT's ``rx`` and ``tx`` pins. Each test writes what it saw into the output pickle;
the pytest side compares it with the golden model.
"""

from __future__ import annotations

import os
import pickle
from collections import deque
from pathlib import Path

import cocotb
from bridge_sim import CLOCK_NS, DIVISOR, ENV_JOB, ENV_OUT
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, Timer

from conveyor.hw.machine.frame import MAX_PAYLOAD, SOF_REQUEST, Command, Status
from conveyor.hw.machine.hostmap import mem_address
from conveyor.sw.host.driver import Board, request_frame

#: One UART bit in simulated time.
BIT_NS = DIVISOR * CLOCK_NS
#: How long a read waits for the next byte: longer than the bridge's quiet timeout (64 bits)
#: plus the time to compute and start a reply.
READ_TIMEOUT_NS = 400 * BIT_NS


class SimSerial:
    """A UART line into the DUT with pyserial's blocking interface, for driver code running in
    a ``cocotb.bridge`` thread.

    Members
    -------
    mangle_next_write : if set, applied to the bytes of the next :meth:`write` (then cleared).
    mangle_next_read : if set, applied to the bytes of the next :meth:`read` (then cleared).
    sent, received : bytes that went each way.
    """

    def __init__(self, dut):
        self.dut = dut
        self._rx: deque[int] = deque()
        self._arrived = Event()
        self.mangle_next_write = None
        self.mangle_next_read = None
        self.sent = self.received = 0
        self.framing_errors = 0
        cocotb.start_soon(self._monitor())

    # --- the simulator side ------------------------------------------------------------

    async def send_byte(self, value: int, *, stop: int = 1) -> None:
        for bit in [0, *((value >> i) & 1 for i in range(8)), stop]:
            self.dut.rx.value = bit
            await Timer(BIT_NS, "ns")
        self.dut.rx.value = 1

    async def _send(self, data: bytes) -> None:
        for value in data:
            await self.send_byte(value)

    async def _monitor(self) -> None:
        """Sample the DUT's tx line in the middle of every bit."""
        tx = self.dut.tx
        while True:
            await FallingEdge(tx)
            await Timer(BIT_NS // 2, "ns")
            if tx.value != 0:
                continue  # a glitch, not a start bit
            value = 0
            for i in range(8):
                await Timer(BIT_NS, "ns")
                value |= int(tx.value) << i
            await Timer(BIT_NS, "ns")
            if tx.value != 1:
                self.framing_errors += 1
                continue
            self._rx.append(value)
            self.received += 1
            self._arrived.set()

    async def _read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            if self._rx:
                out.append(self._rx.popleft())
                continue
            self._arrived.clear()
            timer = Timer(READ_TIMEOUT_NS, "ns")
            if await First(self._arrived.wait(), timer) is timer:
                break
        return bytes(out)

    # --- the driver's side (blocking) ------------------------------------------------------

    def write(self, data: bytes) -> int:
        data = bytes(data)
        if self.mangle_next_write is not None:
            data, self.mangle_next_write = self.mangle_next_write(data), None
        resume(self._send)(data)
        self.sent += len(data)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        data = resume(self._read)(size)
        if self.mangle_next_read is not None and data:
            data, self.mangle_next_read = self.mangle_next_read(data), None
        return data

    def reset_input_buffer(self) -> None:
        self._rx.clear()


def _flip(position: int, bit: int = 0):
    """A mangler that flips one bit of byte ``position`` (negative: from the end)."""
    def mangle(data: bytes) -> bytes:
        out = bytearray(data)
        out[position] ^= 1 << bit
        return bytes(out)
    return mangle


async def _begin(dut) -> SimSerial:
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    return SimSerial(dut)


def _job() -> dict:
    return pickle.loads(Path(os.environ[ENV_JOB]).read_bytes())


def _save(key: str, value) -> None:
    """Add ``value`` under ``key`` to the output pickle (tests run one after another)."""
    path = Path(os.environ[ENV_OUT])
    out = pickle.loads(path.read_bytes()) if path.exists() else {}
    out[key] = value
    path.write_bytes(pickle.dumps(out))


@cocotb.test()
async def program_through_bridge(dut) -> None:
    """The whole host sequence through the UART: INFO, load, start, poll, read every MEM."""
    line = await _begin(dut)
    job = _job()
    started = get_sim_time("ns")

    @bridge
    def host():
        board = Board(line, name="sim")
        info = board.info()
        result = board.run(job["program"], timeout=60)
        return info, result, board.resent

    info, result, resent = await host()
    _save("run", {"info": info, "cycles": result.cycles, "mem": result.mem, "resent": resent,
                  "sent": line.sent, "received": line.received,
                  "framing_errors": line.framing_errors,
                  "sim_cycles": (get_sim_time("ns") - started) // CLOCK_NS})


@cocotb.test()
async def bad_frames_rejected(dut) -> None:
    """Damaged, truncated, over-long and stray input each get one error reply, change nothing
    in the core, and the next good request works."""
    line = await _begin(dut)
    config = _job()["config"]
    addr = mem_address(config, 0, 5, 0)  # a word of mem0
    seen: dict[str, object] = {}

    @bridge
    def host():
        board = Board(line, name="sim")

        def after(name, status):
            # The next good request must work, and the word must hold what good writes left.
            seen[name] = (Status(status).name, int(board.read(addr, 1)[0]))

        board.write(addr, [0x0BAD_F00D])
        good = request_frame(Command.WRITE, 7, addr.to_bytes(4, "little")
                             + (0x1234_5678).to_bytes(4, "little"))
        # A damaged WRITE must not write.
        corrupt = bytearray(good)
        corrupt[-3] ^= 0x10  # a payload bit
        after("crc", board.exchange(bytes(corrupt))[0])
        # The frame stops after its address: the line goes quiet.
        after("truncated", board.exchange(good[:8])[0])
        # LEN above the maximum, followed by that many bytes.
        after("overlong", board.exchange(bytes([SOF_REQUEST, MAX_PAYLOAD + 1, Command.WRITE, 1])
                                         + bytes(MAX_PAYLOAD + 3))[0])
        # Noise between frames.
        after("noise", board.exchange(b"\x00\xff\x55\xaa")[0])
        # A byte with a low stop bit (a UART framing error), then a good frame's worth of bytes.
        resume(line.send_byte)(SOF_REQUEST, stop=0)
        after("break", board.exchange(b"")[0])
        # Well-formed frames the bridge cannot act on: answered at once, no wait.
        after("command", board.exchange(request_frame(0x7F, 9))[0])
        after("read_zero", board.exchange(request_frame(Command.READ, 10, addr.to_bytes(
            4, "little") + bytes([0])))[0])
        after("read_many", board.exchange(request_frame(Command.READ, 11, addr.to_bytes(
            4, "little") + bytes([MAX_PAYLOAD // 4 + 1])))[0])
        after("write_short", board.exchange(request_frame(Command.WRITE, 12, bytes(6)))[0])
        # Finally the good frame itself.
        status, seq, _ = board.exchange(good)
        after("good", status)
        seen["good_seq"] = seq

        # The driver repairs damage on its own: a request damaged on the way is sent again...
        line.mangle_next_write = _flip(5)
        board.write(addr, [0x0C0F_FEE0])
        seen["resent_after_damaged_request"] = board.resent
        # ... and so is one whose reply came back damaged.
        line.mangle_next_read = _flip(0, 3)
        seen["read_after_damaged_reply"] = int(board.read(addr, 1)[0])
        seen["resent_total"] = board.resent

    await host()
    _save("errors", seen)


@cocotb.test()
async def busy_while_running(dut) -> None:
    """While a run is in progress the bridge refuses WRITE, READ and START, answers STATUS, and
    the cycle count when done is the program's."""
    line = await _begin(dut)
    job = _job()
    seen: dict[str, object] = {}

    @bridge
    def host():
        board = Board(line, name="sim")
        board.load(job["long_program"])
        board.start()
        seen["status_running"] = board.status()
        addr = mem_address(job["config"], 0, 0, 0)
        for name, frame in (
                ("write", request_frame(Command.WRITE, 1, addr.to_bytes(4, "little") + bytes(4))),
                ("read", request_frame(Command.READ, 2, addr.to_bytes(4, "little") + b"\x01")),
                ("start", request_frame(Command.START, 3))):
            seen[name] = Status(board.exchange(frame)[0]).name
        seen["cycles"] = board.wait_done(timeout=60)
        seen["status_done"] = board.status()

    await host()
    _save("busy", seen)
