"""The golden model's MXM and SXM against numpy: the exact cycle at which weights, accumulator
rows and transpose rows take effect, windows of weight rows, wrapping, and the undefined-state
hazards. Programs are assembly on small16, their timing derived with latency() and position().
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from conveyor.errors import HazardError
from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.timing import Timing
from conveyor.sim.golden import run
from conveyor.sim.slice_state import matmul_i32
from conveyor.sw.asm import assemble

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

CFG = PRESETS["small16"]
L = CFG.lanes
MM = latency("mm.set")

# Two weight tiles in mem7 (words 0..15 and 16..31), activations in mem6 (words 0..7).
PRELUDE = f"""
.equ HOPS7, latency(read) + position(mxm0) - position(mem7)
.equ HOPS6, latency(read) + position(mxm0) - position(mem6)
.equ ACC, latency(accrd) + position(mxm0) - position(mem4)
.data mem7 @ 0
    .random {2 * L}, seed=3
.data mem6 @ 0
    .random 8, seed=4
.queue mem7.rd
    read 0 -> e4                    ; tile 0 reaches mxm0 in HOPS7 .. + 15
    repeat {L - 1}, 1, 1
    nop 1
    read {L} -> e4                  ; tile 1 in HOPS7 + 17 .. + 32
    repeat {L - 1}, 1, 1
"""


def program(text: str):
    return assemble(PRELUDE + text, CFG, "t.s")


def tiles(prog):
    mem = prog.initial_mem()
    return mem["mem7"][:L], mem["mem7"][L:2 * L], mem["mem6"][:8]


def int32_row(mem, addr):
    planes = [mem[f"mem{4 + k}"][addr].astype(np.uint8).astype(np.uint32) for k in range(4)]
    return sum(p << (8 * k) for k, p in enumerate(planes)).astype(np.int32)


def store_acc(cycle_expr: str, rows: int, addr: int = 0) -> str:
    """accrd rows 0.. from ``cycle_expr`` on, stored as byte planes in mem4..mem7 at ``addr``."""
    text = f".queue mxm0.acc\n    nop {cycle_expr}\n    accrd acc[0] -> w0:4\n"
    text += f"    repeat {rows - 1}, 1, 1\n" if rows > 1 else ""
    for k in range(4):
        text += (f".queue mem{4 + k}.wr\n    nop {cycle_expr} + latency(accrd) + "
                 f"position(mxm0) - position(mem{4 + k})\n    write w{k} -> {addr}\n")
        text += f"    repeat {rows - 1}, 1, 1\n" if rows > 1 else ""
    return text


def test_mm_uses_weights_installed_the_cycle_before_and_accrd_sees_row_after_latency():
    # Tile 0 arrives in cycles HOPS7 .. +15, tile 1 right after; lw both, iw after each.
    text = f"""
.queue mxm0.w
    nop HOPS7
    lw e4 -> row[0]
    repeat {L - 1}, 1, 1
    iw                              ; cycle HOPS7 + 16: tile 0 serves mm from HOPS7 + 17
    lw e4 -> row[0]                 ; tile 1 into the shadow buffer while tile 0 is active
    repeat {L - 1}, 1, 1
.queue mem6.rd
    nop HOPS7 + {L + 1} - HOPS6
    read 0 -> e0
    repeat 1, 1, 1
.queue mxm0.mm
    nop HOPS7 + {L + 1}
    mm.set e0 -> acc[0]             ; x0 W0
    mm.set e0 -> acc[1]             ; x1 W0
""" + store_acc(f"HOPS7 + {L + 2} + {MM}", 2)
    prog = program(text)
    w0, _, x = tiles(prog)
    mem = run(prog).mem
    np.testing.assert_array_equal(int32_row(mem, 0), matmul_i32(x[0], w0))
    np.testing.assert_array_equal(int32_row(mem, 1), matmul_i32(x[1], w0))


def test_iw_boundary_and_mm_add_back_to_back():
    """mm in the iw's cycle uses the old tile, the next cycle the new one; three mm.add to one
    row on consecutive cycles all count."""
    text = f"""
.queue mxm0.w
    nop HOPS7
    lw e4 -> row[0]
    repeat {L - 1}, 1, 1
    iw                              ; cycle T0 - 1 = HOPS7 + 16
    lw e4 -> row[0]
    repeat {L - 1}, 1, 1
    iw                              ; cycle HOPS7 + 33: tile 1 from HOPS7 + 34
.queue mem6.rd
    nop HOPS7 + 32 - HOPS6
    read 0 -> e0
    repeat 3, 1, 1                  ; x0..x3 reach mxm0 in HOPS7 + 32 .. + 35
.queue mxm0.mm
    nop HOPS7 + 32
    mm.set e0 -> acc[0]             ; + 32: x0 W0
    mm.add e0 -> acc[0]             ; + 33: x1 W0 (the iw's own cycle)
    mm.add e0 -> acc[0]             ; + 34: x2 W1
    mm.add e0 -> acc[0]             ; + 35: x3 W1
""" + store_acc(f"HOPS7 + 35 + {MM}", 1)
    prog = program(text)
    w0, w1, x = tiles(prog)
    expect = (matmul_i32(x[0], w0) + matmul_i32(x[1], w0) + matmul_i32(x[2], w1)
              + matmul_i32(x[3], w1))
    np.testing.assert_array_equal(int32_row(run(prog).mem, 0), expect)


@pytest.mark.parametrize("early", [0, 1])
def test_accrd_one_cycle_early_sees_the_previous_value(early):
    text = f"""
.queue mxm0.w
    nop HOPS7
    lw e4 -> row[0]
    repeat {L - 1}, 1, 1
    iw
.queue mem6.rd
    nop HOPS7 + {L + 1} - HOPS6
    read 0 -> e0
    repeat 1, 1, 1
.queue mxm0.mm
    nop HOPS7 + {L + 1}
    mm.set e0 -> acc[0]             ; T: x0 W0
    mm.add e0 -> acc[0]             ; T + 1: + x1 W0, complete in T + 1 + {MM}
""" + store_acc(f"HOPS7 + {L + 2} + {MM} - {early}", 1)
    prog = program(text)
    w0, _, x = tiles(prog)
    expect = matmul_i32(x[0], w0) + (0 if early else matmul_i32(x[1], w0))
    np.testing.assert_array_equal(int32_row(run(prog).mem, 0), expect)


def _window_program(last: str = "") -> str:
    """Weights four rows a cycle from mem4..mem7 on e4..e7 (row 4j + k from mem(4+k), word j),
    then one mm of mem3's word 0; ``last`` is a final lw before the iw."""
    t = 10  # cycle the first window reaches mxm0
    out = []
    for k in range(4):
        n = 5 if last and k == 0 else 4  # mem4 sends one word more for the last lw
        out += [f".data mem{4 + k} @ 0", f"    .random {n}, seed={20 + k}",
                f".queue mem{4 + k}.rd",
                f"    nop {t} - (latency(read) + position(mxm0) - position(mem{4 + k}))",
                f"    read 0 -> e{4 + k}", f"    repeat {n - 1}, 1, 1"]
    out += [".data mem3 @ 0", "    .random 1, seed=9",
            ".queue mem3.rd", (f"    nop {t + 6} - (latency(read) + position(mxm0) - "
            "position(mem3))"), "    read 0 -> e0",
            ".queue mxm0.w", f"    nop {t}", "    lw e4:4 -> row[0]", "    repeat 3, 1, 4",
            last or "    nop 1", "    iw",
            ".queue mxm0.mm", f"    nop {t + 6}", "    mm.set e0 -> acc[0]"]
    return "\n".join(out) + "\n" + store_acc(f"{t + 6 + MM}", 1, addr=32)


def _window_weights(mem0) -> np.ndarray:
    w = np.zeros((L, L), np.int8)
    for r in range(L):
        w[r] = mem0[f"mem{4 + r % 4}"][r // 4]
    return w


def test_lw_window_loads_four_rows_a_cycle():
    prog = assemble(_window_program(), CFG, "t.s")
    mem0 = prog.initial_mem()
    np.testing.assert_array_equal(int32_row(run(prog).mem, 32),
                                  matmul_i32(mem0["mem3"][0], _window_weights(mem0)))


def test_lw_rows_past_the_last_are_not_written_and_their_streams_not_read():
    # One cycle after the windows only e4 carries a word (mem4's fifth): lw e4:4 -> row[15]
    # takes it as row 15 and does not read e5..e7, which would be rows 16..18.
    prog = assemble(_window_program("    lw w0:4 -> row[14]"), CFG, "t.s")
    with pytest.raises(HazardError, match="reads w0 at position 10"):
        run(prog)
    prog = assemble(_window_program("    lw e4:4 -> row[15]"), CFG, "t.s")
    mem0 = prog.initial_mem()
    w = _window_weights(mem0)
    w[15] = mem0["mem4"][4]
    np.testing.assert_array_equal(int32_row(run(prog).mem, 32),
                                  matmul_i32(mem0["mem3"][0], w))


@pytest.mark.parametrize("text, message", [
    ((".queue mem3.rd\nread 0 -> e0\n.queue mxm0.mm\nnop latency(read) + position(mxm0) - "
     "position(mem3)\nmm.set e0 -> acc[0]"), "weight rows [0, 1,"),
    (".queue mxm0.acc\naccrd acc[5] -> w0:4", "reads accumulator row 5, which no mm.set"),
    (".queue sxm0\ntr.out col[0] -> w0", "reads transpose rows [0, 1,"),
])
def test_undefined_state_is_a_hazard(text, message):
    with pytest.raises(HazardError, match=re.escape(message)) as info:
        run(assemble(text, CFG, "t.s"))
    assert info.value.kind == "undefined"
    assert "t.s:" in str(info.value)


def test_mm_add_to_a_row_no_mm_set_wrote_is_a_hazard():
    prog = assemble(_window_program().replace("mm.set", "mm.add"), CFG, "t.s")
    with pytest.raises(HazardError, match="adds to accumulator row 0, which no mm.set"):
        run(prog)


def test_accumulator_wraps_at_32_bits():
    from conveyor.sim.slice_state import MxmState
    mxm = MxmState(CFG)
    big = np.full(L, (1 << 31) - 5, np.int32)
    mxm.accumulate(3, big, add=False)
    mxm.accumulate(3, np.full(L, 10, np.int32), add=True)
    np.testing.assert_array_equal(mxm.acc[3], np.full(L, -(1 << 31) + 5, np.int32))
