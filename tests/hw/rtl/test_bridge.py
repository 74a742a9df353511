"""The UART bridge with the real host driver, on Verilator: a whole program through the UART
equals the golden model (MEM bit-exact, cycles equal); damaged frames are rejected and the
bridge recovers; a running core refuses host access.

The model of bridge + core is built once (and cached on disk); one simulator run executes all
three cocotb tests of bridge_cocotb.py, and the tests below check what each saw.
"""

from __future__ import annotations

from pathlib import Path

import bridge_sim
import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.frame import INFO_BYTES, MAX_PAYLOAD, PROTOCOL_VERSION, crc16
from conveyor.hw.machine.isa import Instr
from conveyor.hw.machine.program import Program, cycle_count
from conveyor.sim import golden
from conveyor.sw.asm import assemble_file
from conveyor.sw.host.driver import BridgeInfo, request_frame

ROOT = Path(__file__).resolve().parents[3]

#: The core behind the simulated bridge.
CONFIG: CoreConfig = PRESETS["tiny"]


def _long_program(config: CoreConfig, cycles: int) -> Program:
    """Every queue waits ``cycles`` cycles, then halts."""
    program = Program.empty(config)
    for q in config.queues:
        program.queues[q.name] = [Instr.make("nop", n=cycles), Instr.make("halt")]
    return program


@pytest.fixture(scope="module")
def sim() -> dict:
    program = assemble_file(ROOT / "examples" / "vector_add.s", CONFIG)
    job = {"config": CONFIG, "program": program, "long_program": _long_program(CONFIG, 5000)}
    result = bridge_sim.run(bridge_sim.build(CONFIG), job)
    result["job"] = job
    return result


def test_all_cocotb_tests_pass(sim):
    assert sim["tests"] == 3, sim["log"][-3000:]
    assert sim["failed"] == 0, sim["log"][-6000:]


def test_program_through_uart_matches_golden(sim):
    run = sim["run"]
    program = sim["job"]["program"]
    expect = golden.run(program)
    assert run["cycles"] == expect.cycles == cycle_count(program)
    assert set(run["mem"]) == set(expect.mem)
    for name, mem in expect.mem.items():
        np.testing.assert_array_equal(run["mem"][name], mem, err_msg=name)
    # The sum really landed (not all zeros equal to all zeros): mem4 holds a + b.
    a, b = program.initial_mem()["mem0"][:8], program.initial_mem()["mem5"][:8]
    np.testing.assert_array_equal(run["mem"]["mem4"][:8], (a.astype(np.int16) + b).astype(np.int8))
    assert run["resent"] == 0 and run["framing_errors"] == 0


def test_info_reports_the_core(sim):
    info: BridgeInfo = sim["run"]["info"]
    assert info.version == PROTOCOL_VERSION
    assert info.max_payload == MAX_PAYLOAD
    assert info.fingerprint == CONFIG.fingerprint
    assert info.clock_hz == bridge_sim.CLOCK_HZ


@pytest.mark.parametrize("case, status", [
    ("crc", "CRC"), ("truncated", "TIMEOUT"), ("overlong", "LENGTH"), ("noise", "SYNC"),
    ("break", "SYNC"), ("command", "COMMAND"), ("read_zero", "ARGUMENT"),
    ("read_many", "ARGUMENT"), ("write_short", "ARGUMENT"), ("good", "OK"),
])
def test_bad_frames_rejected_then_recovered(sim, case, status):
    seen_status, word = sim["errors"][case]
    assert seen_status == status
    # Nothing but the good frames wrote: the word holds the first write until the good one.
    assert word == (0x1234_5678 if case == "good" else 0x0BAD_F00D)


def test_driver_resends_damaged_exchanges(sim):
    errors = sim["errors"]
    assert errors["good_seq"] == 7
    assert errors["resent_after_damaged_request"] == 1
    assert errors["read_after_damaged_reply"] == 0x0C0F_FEE0
    assert errors["resent_total"] == 2


def test_running_core_refuses_host_access(sim):
    busy = sim["busy"]
    running, done, _ = busy["status_running"]
    assert running and not done
    assert (busy["write"], busy["read"], busy["start"]) == ("BUSY", "BUSY", "BUSY")
    assert busy["cycles"] == cycle_count(sim["job"]["long_program"]) == 5001
    assert busy["status_done"] == (False, True, 5001)


def test_frame_layout():
    # CRC-16/CCITT-FALSE's check value, and a frame as docs/boards.md draws it.
    assert crc16(b"123456789") == 0x29B1
    frame = request_frame(0x05, 0x2A)
    assert frame[:4] == bytes([0xC3, 0, 0x05, 0x2A])
    assert int.from_bytes(frame[4:], "big") == crc16(bytes([0, 0x05, 0x2A]))
    assert len(request_frame(0x01, 0, bytes(INFO_BYTES))) == 4 + INFO_BYTES + 2
