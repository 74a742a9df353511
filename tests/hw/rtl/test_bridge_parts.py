"""The bridge's three parts on their own, in Amaranth's simulator, cycle by cycle: the receiver's
errors and quiet-line timing, the executor's commands and checks against a model of the host
port, the replier's frames as the real host driver parses them.

test_bridge.py runs the whole bridge through the UART on Verilator; these pin down the promises
each part's docstring makes in cycles.
"""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.frame import (
    MAX_PAYLOAD,
    MAX_READ_WORDS,
    SOF_REPLY,
    SOF_REQUEST,
    Command,
    Status,
    info_payload,
)
from conveyor.hw.rtl.bridge import Bridge
from conveyor.hw.rtl.bridge.act import Executor
from conveyor.hw.rtl.bridge.receive import Receiver
from conveyor.hw.rtl.bridge.reply import Replier
from conveyor.sw.host.driver import Board, request_frame

#: Quiet cycles that end a broken frame, short to keep the simulations short.
TIMEOUT = 20
CONFIG = PRESETS["tiny"]
CLOCK_HZ = 12_000_000
#: A WRITE payload: the address, then two words.
WRITE = bytes.fromhex("10203040" "0df0ad0b" "78563412")
#: In a list of receiver input: a UART framing error instead of a byte.
ERROR = "framing error"
REQUEST_FIELDS = ("status", "cmd", "seq", "length", "addr", "count")
HEADER_FIELDS = ("status", "length", "seq")


def _simulate(dut, step, cycles: int) -> None:
    """Call ``step(ctx, cycle)`` once per clock cycle, before the edge, until it returns True."""
    async def bench(ctx):
        for cycle in range(cycles):
            if step(ctx, cycle):
                return
            await ctx.tick()
        raise AssertionError(f"no end after {cycles} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _fields(ctx, view, names) -> dict[str, int]:
    value = ctx.get(view)
    return {name: int(getattr(value, name)) for name in names}


# --- receiver -----------------------------------------------------------------------------

def receive(items, *, gap: int = 0, hold: int = 3) -> dict:
    """Offer ``items`` (bytes, or :data:`ERROR`) to a :class:`Receiver`, each ``gap`` cycles
    after the one before was taken; hold the request it hands on, read its buffer, take it.

    Returns the request's fields and buffer, the cycle it was first valid, and the cycles of the
    last byte transfer and the last framing error."""
    dut = Receiver(timeout=TIMEOUT)
    items = list(items)
    seen: dict = {"last_byte": None, "last_error": None}
    due = [0]

    def step(ctx, cycle):
        ctx.set(dut.rx_error, 0)
        ctx.set(dut.rx.valid, 0)
        if "valid_at" in seen:
            # A held request stays as it is, and the receiver takes no bytes meanwhile.
            assert ctx.get(dut.request.valid) and not ctx.get(dut.rx.ready)
            assert _fields(ctx, dut.request.payload, REQUEST_FIELDS) == seen["request"]
            n = cycle - seen["valid_at"]
            if 1 <= n <= seen["request"]["length"]:
                seen["buffer"].append(ctx.get(dut.buffer.data))
            ctx.set(dut.buffer.addr, n)
            ctx.set(dut.request.ready, n >= max(hold, seen["request"]["length"] + 1))
            return ctx.get(dut.request.ready)
        if ctx.get(dut.request.valid):
            seen.update(valid_at=cycle, buffer=[],
                        request=_fields(ctx, dut.request.payload, REQUEST_FIELDS))
            ctx.set(dut.buffer.addr, 0)
        elif items and cycle >= due[0]:
            if items[0] == ERROR:
                ctx.set(dut.rx_error, 1)
                seen["last_error"] = cycle
                items.pop(0)
            else:
                ctx.set(dut.rx.valid, 1)
                ctx.set(dut.rx.payload, items[0])
                if ctx.get(dut.rx.ready):
                    seen["last_byte"] = cycle
                    items.pop(0)
                    due[0] = cycle + 1 + gap
        return False

    _simulate(dut, step, (len(items) + 4) * (gap + 2) + 4 * TIMEOUT + MAX_PAYLOAD)
    seen["buffer"] = bytes(seen["buffer"])
    return seen


def test_receiver_hands_on_a_good_frame_one_cycle_after_its_crc():
    seen = receive(request_frame(Command.WRITE, 42, WRITE))
    assert seen["request"] == {"status": Status.OK, "cmd": Command.WRITE, "seq": 42,
                               "length": len(WRITE), "addr": int.from_bytes(WRITE[:4], "little"),
                               "count": WRITE[4]}
    assert seen["buffer"] == WRITE
    assert seen["valid_at"] == seen["last_byte"] + 1


@pytest.mark.parametrize("case, status, seq", [
    ("crc", Status.CRC, 42), ("length", Status.LENGTH, 0), ("noise", Status.SYNC, 0),
    ("garbage_after", Status.CRC, 42), ("truncated", Status.TIMEOUT, 42),
    ("header_only", Status.TIMEOUT, 42), ("sof_len", Status.TIMEOUT, 0),
    ("stop_bit", Status.SYNC, 0),
])
def test_receiver_rejects_after_the_quiet_time(case, status, seq):
    good = request_frame(Command.WRITE, 42, WRITE)
    damaged = bytearray(good)
    damaged[6] ^= 0x04  # a payload bit
    items = {
        "crc": damaged,
        # LEN over the maximum, then as many bytes as it says: all drained, one answer.
        "length": bytes([SOF_REQUEST, MAX_PAYLOAD + 1]) + bytes(MAX_PAYLOAD + 3),
        "noise": b"\x00\xff\x55",
        "garbage_after": damaged + b"\xc3\x00\x05",
        "truncated": good[:9],
        "header_only": good[:4],
        "sof_len": good[:2],
        "stop_bit": [SOF_REQUEST, ERROR, *good[1:]],
    }[case]
    seen = receive(items)
    assert (seen["request"]["status"], seen["request"]["seq"]) == (status, seq)
    # After the last byte, TIMEOUT + 1 cycles without one, then the request.
    assert seen["valid_at"] == seen["last_byte"] + TIMEOUT + 2


def test_receiver_times_a_framing_error_between_frames_from_the_error():
    seen = receive([ERROR])
    assert seen["request"]["status"] == Status.SYNC and seen["last_byte"] is None
    assert seen["valid_at"] == seen["last_error"] + TIMEOUT + 2


@pytest.mark.parametrize("gap, status", [(TIMEOUT, Status.OK), (TIMEOUT + 1, Status.TIMEOUT)])
def test_receiver_waits_timeout_cycles_between_bytes(gap, status):
    frame = request_frame(Command.READ, 7, WRITE[:5])
    seen = receive(frame, gap=gap)
    assert seen["request"]["status"] == status
    if status == Status.TIMEOUT:
        assert seen["request"]["cmd"] == 0 and seen["valid_at"] == TIMEOUT + 2


# --- executor -----------------------------------------------------------------------------

def _model_word(addr: int) -> int:
    """What the host-port model reads at ``addr`` before anything was written there."""
    return addr * 0x9E37_79B1 & 0xFFFF_FFFF


def execute(cmd: int, payload: bytes = b"", *, status: Status = Status.OK, seq: int = 5,
            running: bool = False) -> dict:
    """Hand an :class:`Executor` one request with ``payload`` in its buffer, serve its host port
    with a model and take its reply as the replier does: each byte asked for in the cycle after
    the one before arrived (the first at once), the header taken when every byte has come.

    Returns the header, the payload, the host-port activity with cycle numbers (0: the cycle
    the request is first valid) and the cycles in which the header was first valid and taken.
    """
    dut = Executor(config=CONFIG, clock_hz=CLOCK_HZ)
    request = {"status": status, "cmd": cmd, "seq": seq, "length": len(payload),
               "addr": int.from_bytes(payload[:4].ljust(4, b"\0"), "little"),
               "count": payload[4] if len(payload) > 4 else 0}
    mem: dict[int, int] = {}
    seen: dict = {"writes": [], "reads": [], "starts": [], "payload": bytearray(), "asked": []}
    late = {"buffer_addr": 0, "read_addr": None, "asking": False}

    def step(ctx, cycle):
        cycles = 1000 + 3 * cycle
        ctx.set(dut.request.valid, 1)
        for name, value in request.items():
            ctx.set(getattr(dut.request.payload, name), value)
        # The buffer's read port answers last cycle's address (0 past the payload).
        buffered = payload[late["buffer_addr"]:late["buffer_addr"] + 1]
        ctx.set(dut.buffer.data, buffered[0] if buffered else 0)
        read = late["read_addr"]
        ctx.set(dut.host.rdata, 0 if read is None else mem.get(read, _model_word(read)))
        ctx.set(dut.host.running, running)
        ctx.set(dut.host.done, not running)
        ctx.set(dut.host.cycles, cycles)
        done = replier(ctx, cycle, cycles)
        # The host port and the buffer, once every input of this cycle is set.
        late["buffer_addr"] = ctx.get(dut.buffer.addr)
        late["read_addr"] = ctx.get(dut.host.addr) if ctx.get(dut.host.re) else None
        if ctx.get(dut.host.re):
            seen["reads"].append((cycle, ctx.get(dut.host.addr)))
        if ctx.get(dut.host.we):
            addr, data = ctx.get(dut.host.addr), ctx.get(dut.host.wdata)
            seen["writes"].append((cycle, addr, data))
            mem[addr] = data
        if ctx.get(dut.host.start):
            seen["starts"].append(cycle)
        return done

    def replier(ctx, cycle, cycles):
        """The replier's side: ask, take bytes, take the header; True when it was taken."""
        index, data = dut.payload.index, dut.payload.data
        for signal in (dut.header.ready, index.valid, data.ready):
            ctx.set(signal, 0)
        if not ctx.get(dut.header.valid):
            assert "header_at" not in seen, "the header went away before it was taken"
            assert not ctx.get(dut.request.ready)
            return False
        header = _fields(ctx, dut.header.payload, HEADER_FIELDS)
        if "header_at" not in seen:
            seen.update(header_at=cycle, header=header)
        assert header == seen["header"]
        got = len(seen["payload"])
        if late["asking"]:
            ctx.set(data.ready, 1)
            if ctx.get(data.valid):
                seen["payload"].append(ctx.get(data.payload))
                late["asking"] = False
        elif got < header["length"]:
            ctx.set(index.valid, 1)
            ctx.set(index.payload, got)
            if ctx.get(index.ready):
                seen["asked"].append((cycle, cycles))
                late["asking"] = True
        else:
            ctx.set(dut.header.ready, 1)
            assert ctx.get(dut.request.ready), "the request outlived its reply"
            seen["taken_at"] = cycle
            return True
        assert not ctx.get(dut.request.ready)
        return False

    _simulate(dut, step, 2000)
    seen["payload"] = bytes(seen["payload"])
    return seen


def test_executor_info_is_the_machine_description():
    seen = execute(Command.INFO)
    assert seen["header"] == {"status": Status.OK, "length": len(seen["payload"]), "seq": 5}
    assert seen["payload"] == info_payload(CONFIG, CLOCK_HZ)
    assert seen["header_at"] == 1


def test_executor_write_writes_nothing_before_the_request_then_one_word_in_9_cycles():
    seen = execute(Command.WRITE, WRITE, seq=9)
    addr = int.from_bytes(WRITE[:4], "little")
    words = [int.from_bytes(WRITE[i:i + 4], "little") for i in range(4, len(WRITE), 4)]
    assert [(a, d) for _, a, d in seen["writes"]] == [(addr + i, w) for i, w in enumerate(words)]
    cycles = [c for c, _, _ in seen["writes"]]
    assert cycles == [9 * (i + 1) for i in range(len(words))]
    assert seen["header"] == {"status": Status.OK, "length": 0, "seq": 9}
    assert seen["header_at"] == cycles[-1] + 1
    assert seen["reads"] == seen["starts"] == []


def test_executor_read_brings_each_word_when_its_first_byte_is_asked_for():
    addr, count = 0x0123, 3
    seen = execute(Command.READ, addr.to_bytes(4, "little") + bytes([count]))
    assert seen["header"]["length"] == 4 * count
    assert seen["payload"] == b"".join(_model_word(addr + i).to_bytes(4, "little")
                                       for i in range(count))
    # One host read per word, in the cycle its first byte is asked for.
    assert seen["reads"] == [(seen["asked"][4 * i][0], addr + i) for i in range(count)]
    assert seen["writes"] == seen["starts"] == []


@pytest.mark.parametrize("running", [False, True])
def test_executor_status_samples_when_its_first_byte_is_asked_for(running):
    seen = execute(Command.STATUS, running=running)
    cycles = seen["asked"][0][1]
    assert seen["payload"] == cycles.to_bytes(4, "little") + bytes([1 if running else 2])


def test_executor_start_pulses_once_in_the_decision_cycle():
    seen = execute(Command.START)
    assert seen["starts"] == [0]
    assert seen["header"]["status"] == Status.OK and seen["header_at"] == 1


@pytest.mark.parametrize("rejected", [Status.CRC, Status.TIMEOUT, Status.LENGTH, Status.SYNC])
def test_executor_passes_a_rejected_request_straight_through(rejected):
    seen = execute(Command.WRITE, WRITE, status=rejected, seq=3)
    assert seen["header"] == {"status": rejected, "length": 0, "seq": 3}
    assert seen["header_at"] == 0 and seen["payload"] == b""
    assert seen["writes"] == seen["reads"] == seen["starts"] == []


READ_ARGS = (0x40).to_bytes(4, "little")


@pytest.mark.parametrize("cmd, payload, running, status", [
    (Command.INFO, b"\x00", False, Status.ARGUMENT),
    (Command.STATUS, b"\x00", False, Status.ARGUMENT),
    (Command.START, b"\x00", False, Status.ARGUMENT),
    (Command.START, b"", True, Status.BUSY),
    (Command.WRITE, WRITE[:4], False, Status.ARGUMENT),
    (Command.WRITE, WRITE[:6], False, Status.ARGUMENT),
    (Command.WRITE, WRITE[:9], False, Status.ARGUMENT),
    (Command.WRITE, WRITE, True, Status.BUSY),
    (Command.READ, READ_ARGS, False, Status.ARGUMENT),
    (Command.READ, READ_ARGS + b"\x00", False, Status.ARGUMENT),
    (Command.READ, READ_ARGS + bytes([MAX_READ_WORDS + 1]), False, Status.ARGUMENT),
    (Command.READ, READ_ARGS + b"\x01\x00", False, Status.ARGUMENT),
    (Command.READ, READ_ARGS + b"\x01", True, Status.BUSY),
    (0x7F, b"", False, Status.COMMAND),
    (0x00, b"", False, Status.COMMAND),
])
def test_executor_refuses_at_once_and_touches_nothing(cmd, payload, running, status):
    seen = execute(cmd, payload, running=running, seq=77)
    assert seen["header"] == {"status": status, "length": 0, "seq": 77}
    assert seen["header_at"] == 1 and seen["payload"] == b""
    assert seen["writes"] == seen["reads"] == seen["starts"] == []


@pytest.mark.parametrize("cmd", [Command.INFO, Command.STATUS])
def test_executor_answers_info_and_status_while_running(cmd):
    assert execute(cmd, running=True)["header"]["status"] == Status.OK


# --- replier ------------------------------------------------------------------------------

class _Bytes:
    """A transport for :class:`Board` that holds the bytes the replier sent."""

    def __init__(self, data: bytes):
        self.data = bytearray(data)

    def write(self, data: bytes) -> int:
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out, self.data = bytes(self.data[:size]), self.data[size:]
        return out

    def reset_input_buffer(self) -> None:
        self.data.clear()


def send_reply(status: int, seq: int, payload: bytes, *, seed: int) -> dict:
    """A :class:`Replier` sending one reply: the payload served 1 to 3 cycles after each ask,
    ``tx`` ready at random. Returns the bytes sent with their cycles, the first cycle a byte was
    offered, the error pulses, the indices asked for and the cycle the header was taken."""
    rng = random.Random(seed)
    dut = Replier()
    seen: dict = {"tx": [], "errors": [], "asked": []}
    serving: list = []  # [cycle due, byte] of the byte being served

    def step(ctx, cycle):
        ctx.set(dut.header.valid, 1)
        for name, value in zip(HEADER_FIELDS, (status, len(payload), seq)):
            ctx.set(getattr(dut.header.payload, name), value)
        index, data = dut.payload.index, dut.payload.data
        ctx.set(index.ready, not serving)
        ctx.set(data.valid, bool(serving) and cycle >= serving[0])
        ctx.set(data.payload, serving[1] if serving else 0)
        ctx.set(dut.tx.ready, rng.random() < 0.3)
        if ctx.get(index.valid) and ctx.get(index.ready):
            i = ctx.get(index.payload)
            seen["asked"].append((cycle, i))
            serving[:] = [cycle + rng.randint(1, 3), payload[i]]
        if ctx.get(data.valid) and ctx.get(data.ready):
            serving.clear()
        if ctx.get(dut.tx.valid):
            seen.setdefault("offered_at", cycle)
        if ctx.get(dut.tx.valid) and ctx.get(dut.tx.ready):
            seen["tx"].append((cycle, ctx.get(dut.tx.payload)))
        if ctx.get(dut.error):
            seen["errors"].append(cycle)
        if ctx.get(dut.header.ready):
            seen["taken_at"] = cycle
            return True
        return False

    _simulate(dut, step, 40 * (len(payload) + 8))
    return seen


@pytest.mark.parametrize("status, seq, payload", [
    (Status.OK, 0x2A, b""),
    (Status.OK, 0x00, info_payload(CONFIG, CLOCK_HZ)),
    (Status.OK, 0xFF, bytes(range(256))[:MAX_PAYLOAD]),
    (Status.CRC, 0x11, b""),
    (Status.BUSY, 0x80, b""),
])
def test_replier_frames_as_the_driver_reads_them(status, seq, payload):
    seen = send_reply(status, seq, payload, seed=seq)
    frame = bytes(b for _, b in seen["tx"])
    assert frame[0] == SOF_REPLY and seen["offered_at"] == 0
    assert Board(_Bytes(frame)).exchange(b"") == (status, seq, payload)
    assert len(frame) == 4 + len(payload) + 2
    # Each byte asked for once, in order, in the cycle after the one before went out.
    assert [i for _, i in seen["asked"]] == list(range(len(payload)))
    sent = [c for c, _ in seen["tx"]]
    assert [c for c, _ in seen["asked"]] == [c + 1 for c in sent[3:3 + len(payload)]]
    # The header is taken with the last byte; an error reply pulses `error` with its SOF.
    assert seen["taken_at"] == sent[-1]
    assert seen["errors"] == ([] if status == Status.OK else [sent[0]])


# --- the three together -------------------------------------------------------------------

@pytest.mark.parametrize("frame, after", [
    (request_frame(Command.INFO, 1), 2),
    (request_frame(Command.WRITE, 2, WRITE), 2 + 9 * 2),
    (request_frame(Command.READ, 3, WRITE[:4]), 2),                   # ARGUMENT, at once
    (request_frame(Command.STATUS, 4)[:-1], TIMEOUT + 2),            # TIMEOUT
    (request_frame(Command.STATUS, 4)[:-1] + b"\x00", TIMEOUT + 2),  # CRC
])
def test_bridge_starts_its_reply_as_documented(frame, after):
    """A good frame's reply starts 2 cycles after its last byte (a WRITE's 9 cycles a word
    later), an error reply 1 cycle after the quiet time."""
    dut = Bridge(config=CONFIG, clock_hz=CLOCK_HZ, timeout=TIMEOUT)
    items = list(frame)
    seen: dict = {"tx": []}

    def step(ctx, cycle):
        ctx.set(dut.rx.valid, bool(items))
        ctx.set(dut.rx.payload, items[0] if items else 0)
        ctx.set(dut.tx.ready, 1)
        if items and ctx.get(dut.rx.ready):
            items.pop(0)
            seen["last_byte"] = cycle
        if ctx.get(dut.tx.valid):
            seen.setdefault("sof_at", cycle)
            seen["tx"].append(ctx.get(dut.tx.payload))
        if ctx.get(dut.error):
            seen["error_at"] = cycle
        tx = seen["tx"]
        return len(tx) > 1 and len(tx) == 4 + tx[1] + 2

    _simulate(dut, step, 4 * TIMEOUT + 40 * len(frame))
    assert seen["sof_at"] == seen["last_byte"] + after
    status, _, _ = Board(_Bytes(bytes(seen["tx"]))).exchange(b"")
    assert seen.get("error_at") == (None if status == Status.OK else seen["sof_at"])
