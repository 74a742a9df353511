"""The assembler: parsing driven by hw/machine/isa.py, data directives, every error with its place."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.errors import AsmError
from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import Instr, Stream, encode, op_named
from conveyor.hw.machine.program import SrcLoc
from conveyor.sw.asm import assemble, assemble_file, splitmix64

TINY = PRESETS["tiny"]
SMALL = PRESETS["small16"]


def asm(text: str, config=TINY, **kw):
    return assemble(text, config, "t.s", **kw)


def error(text: str, config=TINY) -> str:
    with pytest.raises(AsmError) as info:
        asm(text, config)
    return str(info.value)


# --- instructions and encodings -------------------------------------------------------------

def test_instructions_follow_the_isa_templates():
    p = asm(".queue vxm0.alu0\n"
            "    add.i8 e0, -5 -> w1\n"
            "    add.i32 e0:4, w0:4 -> e0:4\n"
            "    requant e0:4 -> e1, mul=1518500250, shift=7, zp=-3\n")
    s = Stream
    assert p.queues["vxm0.alu0"] == [
        Instr.make("add.i8", a=s("e", 0), b=-5, d=s("w", 1)),
        Instr.make("add.i32", a=s("e", 0, 4), b=s("w", 0, 4), d=s("e", 0, 4)),
        Instr.make("requant", a=s("e", 0, 4), d=s("e", 1), mul=1518500250, shift=7, zp=-3),
        Instr.make("halt"),
    ]


def _word(mnemonic: str, **fields) -> int:
    """The encoding built by hand from the field positions hw/machine/isa.py declares."""
    op = op_named(mnemonic)
    word = op.opcode
    for name, raw in fields.items():
        word |= raw << op.field(name).lo
    return word


def test_encodings_match_the_declared_field_positions():
    p = asm(".queue mem0.rd\n read 5 -> w2\n repeat 3, 2, -1\n"
            ".queue vxm0.alu1\n add.i8 e1, -3 -> e2\n sub.i8 e1, w3 -> e2\n")
    rd, rep, halt = p.queues["mem0.rd"]
    assert encode(rd) == _word("read", addr=5, d=0b100010)
    assert encode(rep) == _word("repeat", n=3, d=2, stride=0xFFFF)
    assert encode(halt) == 0
    add, sub, _ = p.queues["vxm0.alu1"]
    assert encode(add) == _word("add.i8", a=1, b=(-3 & 0xFFFF_FFFF) << 1 | 1, d=2)
    assert encode(sub) == _word("sub.i8", a=1, b=0b100011 << 1, d=2)


def test_halt_appended_and_empty_queues_hold_only_halt():
    p = asm(".queue mem0.rd\n read 0 -> e0\n.queue mem1.rd\n read 0 -> e0\n halt\n")
    halt = Instr.make("halt")
    assert p.queues["mem0.rd"][-1] == halt and len(p.queues["mem0.rd"]) == 2
    assert len(p.queues["mem1.rd"]) == 2
    assert all(p.queues[q.name] == [halt] for q in TINY.queues
               if q.name not in ("mem0.rd", "mem1.rd"))
    assert list(p.queues) == [q.name for q in TINY.queues]


def test_sections_repeat_and_append():
    p = asm(".queue mem0.rd\n read 1 -> e0\n.queue vxm0.alu0\n nop 1\n"
            ".queue mem0.rd\n nop 4\n read 2 -> e0\n")
    assert [str(i) for i in p.queues["mem0.rd"]] == [
        "read 1 -> e0", "nop 4", "read 2 -> e0", "halt"]


def test_locs_point_at_each_mnemonic():
    p = asm("; x\n.queue mem0.rd\n    read 0 -> e0\n  nop 2\n")
    assert p.locs["mem0.rd"][:2] == [SrcLoc("t.s", 3, 5), SrcLoc("t.s", 4, 3)]
    assert p.where("mem0.rd", 1) == "t.s:4:3"


def test_expressions_and_constants():
    p = asm(".equ N, 0x10\n.equ M, (N + 0b11) * 2 // 3 - -1\n"
            ".queue mem0.rd\n read M -> e0 ; comment\n repeat N-1, 1, 1 # another\n")
    rd, rep, _ = p.queues["mem0.rd"]
    assert rd["addr"] == (16 + 3) * 2 // 3 + 1
    assert (rep["n"], rep["d"], rep["stride"]) == (15, 1, 1)


# --- data -----------------------------------------------------------------------------------

def test_i8_fills_lanes_then_words_and_pads_the_block():
    p = asm(".data mem0 @ 2\n .i8 1, 2, 3, 4, 5\n .i8 -6\n")
    (block,) = p.data
    assert (block.slice, block.addr) == ("mem0", 2)
    assert block.values.dtype == np.int8
    assert block.values.tolist() == [[1, 2, 3, 4], [5, -6, 0, 0]]
    assert block.loc == SrcLoc("t.s", 1, 1)


def test_i32_splits_byte_planes_over_four_slices():
    p = asm(".data mem0, mem1, mem2, mem3 @ 16\n .i32 100000, -5, 7\n", SMALL)
    assert [(b.slice, b.addr) for b in p.data] == [(f"mem{k}", 16) for k in range(4)]
    planes = np.stack([b.values.view(np.uint8).astype(np.uint32) for b in p.data])
    values = (planes[0] | planes[1] << 8 | planes[2] << 16 | planes[3] << 24).view(np.int32)
    assert values[0, :4].tolist() == [100000, -5, 7, 0]
    assert values.shape == (1, 16) and not values[0, 3:].any()


def _splitmix64_reference(seed: int, count: int) -> list[int]:
    mask, out, state = (1 << 64) - 1, [], seed
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


def test_splitmix64_known_values():
    assert splitmix64(1234567, 3).tolist() == [
        6457827717110365317, 3203168211198807973, 9817491932198370423]


@given(st.integers(0, (1 << 64) - 1))
def test_splitmix64_matches_the_documented_algorithm(seed):
    assert splitmix64(seed, 5).tolist() == _splitmix64_reference(seed, 5)


def test_random_is_the_low_byte_of_splitmix64_lane_by_lane_after_padding():
    p = asm(".data mem0 @ 0\n .i8 9\n .random 3, seed=42\n")
    (block,) = p.data
    expected = [v & 0xFF for v in _splitmix64_reference(42, 12)]
    assert block.values[0].tolist() == [9, 0, 0, 0]
    assert block.values[1:].view(np.uint8).ravel().tolist() == expected


def test_empty_data_section_gives_empty_block():
    p = asm(".data mem3 @ 7\n.queue mem0.rd\n")
    assert [(b.slice, b.addr, b.values.shape) for b in p.data] == [("mem3", 7, (0, 4))]


# --- errors -------------------------------------------------------------------------------

ERRORS = [
    # (source, exact "file:line:col: " prefix, a part of the message)
    (".queue vxm0.alu0\n  ad.i8 e0, 1 -> e1", "t.s:2:3: ", "unknown mnemonic 'ad.i8' (did you"),
    (".queue vxm0.alu0\n  ADD.i8 e0, 1 -> e1", "t.s:2:3: ", "did you mean add.i8"),
    (".queue mem0.rd\n  add.i8 e0, 1 -> e1", "t.s:2:3: ",
     "'add.i8' is a vxm instruction; mem0.rd takes: halt, nop, repeat, read"),
    (".queue mem0.rd\n  write e0 -> 1", "t.s:2:3: ", "'write' is a mem.wr instruction"),
    (".queue mem9.rd", "t.s:1:8: ", "unknown queue 'mem9.rd' (config 'tiny' has: mem0.rd"),
    (".data mem9 @ 0", "t.s:1:7: ", "unknown MEM slice 'mem9' (config 'tiny' has: mem0,"),
    (".data vxm0 @ 0", "t.s:1:7: ", "unknown MEM slice 'vxm0'"),
    (".data mem0, mem0, mem1, mem2 @ 0", "t.s:1:13: ", "named twice"),
    (".bogus 1", "t.s:1:1: ", "unknown directive '.bogus' (have: .equ, .queue"),
    ("\n   read 0 -> e0", "t.s:2:4: ", "outside any .queue section"),
    (".data mem0 @ 0\n nop 1", "t.s:2:2: ", "outside a .data section"),
    (".queue vxm0.alu0\n mov.i8 x0 -> e1", "t.s:2:9: ", "bad stream name 'x0'"),
    (".queue vxm0.alu0\n mov.i8 e0 -> 7", "t.s:2:15: ", "expected a stream, found '7'"),
    (".queue vxm0.alu0\n mov.i8 e4 -> e1", "t.s:2:9: ", "stream e4 is beyond this config's 4"),
    (".queue vxm0.alu0\n mov.i32 e0:4 -> w4:4", "t.s:2:18: ", "w4:4 is beyond"),
    (".queue vxm0.alu0\n mov.i32 e0:4 -> e2:4", "t.s:2:18: ", "stream e2:4 is beyond"),
    (".queue vxm0.alu0\n add.i32 e0:4, e0:4 -> e0", "t.s:2:24: ",
     "expected an int32 stream group like e0:4, got e0"),
    (".queue vxm0.alu0\n add.i8 e0:4, 1 -> e0", "t.s:2:9: ",
     "expected a single byte stream, got the group e0:4"),
    (".queue vxm0.alu0\n add.i32 e0:4, w0 -> e0:4", "t.s:2:16: ", "int32 stream group"),
    (".queue vxm0.alu0\n add.i8 e0, 128 -> e1", "t.s:2:13: ", "value 128 is out of range"),
    (".queue vxm0.alu0\n add.i8 e0, -129 -> e1", "t.s:2:13: ", "-129 is out of range"),
    (".queue vxm0.alu0\n requant e0:4 -> e1, mul=-1, shift=0, zp=0", "t.s:2:26: ",
     "value -1 is out of range 0..2147483647"),
    (".queue vxm0.alu0\n requant e0:4 -> e1, mul=1, shift=32, zp=0", "t.s:2:35: ",
     "value 32 is out of range 0..31"),
    (".queue mem0.rd\n read 256 -> e0", "t.s:2:7: ", "address 256 is out of range 0..255"),
    (".queue mem0.rd\n nop 0", "t.s:2:6: ", "value 0 is out of range 1..4294967295"),
    (".queue mem0.rd\n read 0 -> e0\n repeat 0, 1", "t.s:3:9: ", "value 0 is out of range"),
    (".queue vxm0.alu0\n add.i8 e0 -> e1", "t.s:2:12: ", "expected ',', found '->'"),
    (".queue vxm0.alu0\n add.i8 e0, 1, e1", "t.s:2:14: ", "expected '->', found ','"),
    (".queue vxm0.alu0\n add.i8 e0, 1", "t.s:2:14: ", "expected '->' before the end"),
    (".queue vxm0.alu0\n mov.i8 e0 -> e1 e2", "t.s:2:18: ", "unexpected 'e2' after"),
    (".queue vxm0.alu0\n halt 1", "t.s:2:7: ", "unexpected '1' after the operands of halt"),
    (".queue vxm0.alu0\n nop", "t.s:2:5: ", "expected n (an unsigned cycle count"),
    (".queue vxm0.alu0\n requant e0:4 -> e1, mul=1, shift=1", "t.s:2:36: ", "expected ','"),
    (".queue vxm0.alu0\n requant e0:4 -> e1, mul=1, sh=1, zp=0", "t.s:2:29: ",
     "expected 'shift', found 'sh'"),
    (".queue mem0.rd\n nop N", "t.s:2:6: ", "undefined constant 'N'"),
    (".queue mem0.rd\n nop N\n.equ N, 1", "t.s:2:6: ", "undefined constant 'N'"),
    (".equ N, 1\n.equ N, 2", "t.s:2:6: ", "duplicate constant 'N' (first defined at t.s:1:6)"),
    (".equ e1, 2", "t.s:1:6: ", "'e1' is a stream name"),
    (".queue mem0.rd\n nop 0x", "t.s:2:6: ", "bad number '0x'"),
    (".queue mem0.rd\n nop 12ab", "t.s:2:6: ", "bad number '12ab'"),
    (".queue mem0.rd\n nop 4 // (2 - 2)", "t.s:2:8: ", "division by zero"),
    (".queue mem0.rd\n nop (1", "t.s:2:8: ", "expected ')'"),
    (".queue mem0.rd\n nop e0", "t.s:2:6: ", "expected a number, found the stream e0"),
    (".queue mem0.rd\n nop 1 $", "t.s:2:8: ", "unexpected character '$'"),
    (".queue mem0.rd\n repeat 2, 1", "t.s:2:2: ",
     "repeat must follow a slice instruction, not the start of the queue"),
    (".queue mem0.rd\n read 0 -> e0\n nop 2\n repeat 2, 1", "t.s:4:2: ", "not 'nop'"),
    (".queue mem0.rd\n read 0 -> e0\n repeat 2, 1\n repeat 2, 1", "t.s:4:2: ", "not 'repeat'"),
    (".queue vxm0.alu0\n mov.i8 e0 -> e1\n repeat 2, 1, 1", "t.s:3:15: ",
     "repeat's stride steps an address, and 'mov.i8' has none"),
    (".queue mem0.rd\n read 250 -> e0\n repeat 3, 1, 2", "t.s:3:15: ",
     "repeat steps read's addr to 256: address 256 is out of range"),
    (".queue mem0.wr\n write e0 -> 2\n repeat 3, 1, -1", "t.s:3:15: ", "addr to -1"),
    (".queue mem0.rd\n halt\n nop 2", "t.s:3:2: ", "'nop' follows halt"),
    (".queue mem0.rd\n halt\n.queue mem0.rd\n nop 2", "t.s:4:2: ", "follows halt"),
    (".data mem0 @ 0\n .i32 1", "t.s:2:2: ", "'.i32' needs a block of 4 MEM slices"),
    (".data mem0, mem1, mem2, mem3 @ 0\n .i8 1", "t.s:2:2: ",
     "'.i8' needs a block of one MEM slice; this block has 4"),
    (".data mem0, mem1 @ 0\n .random 1, seed=1", "t.s:2:2: ", "'.random' needs a block of one"),
    (".data mem0 @ 0\n .i8 1, 300", "t.s:2:9: ", "value 300 is out of range -128..127"),
    (".data mem0, mem1, mem2, mem3 @ 0\n .i32 0x80000000", "t.s:2:7: ", "out of range"),
    (".data mem0 @ 0\n .random 0, seed=1", "t.s:2:10: ", "value 0 is out of range 1..65535"),
    (".data mem0 @ 0\n .random 1, seed=-1", "t.s:2:18: ", "seed -1 is out of range"),
    (".data mem0 @ 0\n .random 1, sed=1", "t.s:2:13: ", "expected 'seed'"),
    (".data mem0 @ 256", "t.s:1:14: ", "address 256 is out of range"),
    (".data mem0 @ 254\n .i8 1\n .random 2, seed=0", "t.s:3:2: ",
     "data runs past the end of MEM: word 256 is beyond mem_depth 256"),
    (".data mem0 @ 0\n .i8 1, 2, 3, 4, 5\n.data mem1 @ 0\n .i8 1\n.data mem0 @ 1\n .i8 1",
     "t.s:6:2: ", "mem0 word 1 is already given by the data line at t.s:2:2"),
    (".data mem0 @ 0\n .i8 1\n.data mem0 @ 0", "t.s:1:1: ", None),  # empty block: no clash
    ("\x00\x01binary", "t.s:1:1: ", "not a text file"),
    ("; fine\n; fine\nread\x00", "t.s:3:5: ", "not a text file"),
    (".queue mem0.rd\n @", "t.s:2:2: ", "expected an instruction or a directive, found '@'"),
]


@pytest.mark.parametrize("text,where,message", ERRORS)
def test_errors_name_file_line_and_column(text, where, message):
    if message is None:
        asm(text)  # the control case assembles
        return
    text_error = error(text)
    assert text_error.startswith(where), text_error
    assert message in text_error, text_error


def test_error_attributes():
    with pytest.raises(AsmError) as info:
        asm("\n\n  nop 1")
    e = info.value
    assert (e.file, e.line, e.col) == ("t.s", 3, 3)
    assert e.message.startswith("instruction 'nop' outside")


def test_queue_overflow_points_at_the_first_instruction_that_does_not_fit():
    depth = TINY.queue_depth
    full = ".queue mem0.rd\n" + " nop 1\n" * (depth - 1)
    asm(full)  # depth - 1 instructions plus the halt: fits exactly
    assert error(full + " nop 1\n").startswith(f"t.s:{depth + 1}:2: mem0.rd is full: no room")
    over = error(full + " nop 1\n nop 2\n")
    assert over.startswith(f"t.s:{depth + 2}:2: 'nop' does not fit"), over
    asm(full + " halt\n")  # an explicit final halt is the last word


def test_stream_collision_is_reported_at_the_later_instruction():
    text = (".queue vxm0.alu0\n add.i8 e0, 1 -> e1\n"
            ".queue vxm0.alu1\n sub.i8 e0, 1 -> e1\n")
    msg = error(text)
    assert msg.startswith("t.s:4:2: "), msg
    assert "stream e1 at position 4 in cycle 1" in msg and "t.s:2:2" in msg
    asm(text, check=False)  # the check can be skipped


def test_collision_between_latencies_and_int32_groups():
    msg = error(".queue vxm0.alu0\n mul.i8 e0, 3 -> e2\n"
                ".queue vxm0.alu1\n nop 1\n add.i32 e0:4, 1 -> e0:4\n")
    assert msg.startswith("t.s:5:2: ") and "stream e2 at position 4 in cycle 2" in msg, msg
    # the same stream one cycle apart, or another position, is fine
    asm(".queue vxm0.alu0\n add.i8 e0, 1 -> e1\n.queue vxm0.alu1\n nop 1\n"
        " add.i8 e0, 1 -> e1\n.queue mem3.rd\n read 0 -> e1\n")


def test_collision_through_repeat_names_the_repeated_instruction():
    # alu0 issues the mov in cycles 0, 2, 4, 6; alu1's add in cycle 4: both write e1 in cycle 5
    text = (".queue vxm0.alu0\n mov.i8 e0 -> e1\n repeat 3, 2\n"
            ".queue vxm0.alu1\n nop 4\n add.i8 e0, 1 -> e1\n")
    msg = error(text)
    assert msg.startswith("t.s:6:2: ") and "cycle 5" in msg and "t.s:2:2" in msg, msg
    asm(text.replace("nop 4", "nop 3"))  # cycle 4: between two repeats


def test_assemble_file_rejects_binary_and_bad_utf8(tmp_path):
    binary = tmp_path / "b.s"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00")
    with pytest.raises(AsmError, match=r"b\.s:1:1: not a text file$"):
        assemble_file(binary, TINY)
    late = tmp_path / "late.s"
    late.write_bytes(b".queue mem0.rd\n  nop \xff\n")
    with pytest.raises(AsmError, match=r"late\.s:2:7: not a text file"):
        assemble_file(late, TINY)
    ok = tmp_path / "ok.s"
    ok.write_bytes("\ufeff; caf\u00e9\r\n.queue mem0.rd\r\n  nop 3\r\n".encode())
    assert str(assemble_file(ok, TINY).queues["mem0.rd"][0]) == "nop 3"


def test_examples_assemble_on_the_presets_they_name(example, example_config):
    program = assemble_file(example, PRESETS[example_config])
    assert any(len(q) > 1 for q in program.queues.values())


# --- robustness -----------------------------------------------------------------------------

_WORDS = ["read", "write", "add.i8", "add.i32", "requant", "nop", "repeat", "halt", "mov.i8",
          ".queue", ".data", ".equ", ".i8", ".i32", ".random", "mem0.rd", "vxm0.alu0",
          "mem0.wr", "mem0", "mem1", "mem2", "mem3", "e0", "w1", "e0:4", "e4:4", "N", "seed",
          "mul", "shift", "zp", "0", "1", "-1", "255", "0x7f", "65535", "->", ",", "@", "=",
          "(", ")", "+", "-", "*", "//", ":", ";", "\n", "\n", "\n", " ", "é", "\x00", "\t"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200),
                 st.lists(st.sampled_from(_WORDS), max_size=60).map(" ".join)))
def test_random_text_raises_only_asm_errors(text):
    try:
        program = asm(".equ N, 3\n" + text)
    except AsmError as e:
        assert e.file == "t.s" and e.line >= 1 and e.col >= 1, str(e)
    else:
        assert all(q and q[-1].op.mnemonic == "halt" for q in program.queues.values())


def test_builtin_functions_come_from_the_timing_table_and_floorplan():
    text = (".queue vxm0.alu0\n    nop latency(requant) + position(vxm0) * 10\n")
    prog = assemble(text, PRESETS["small16"])
    assert prog.queues["vxm0.alu0"][0]["n"] == PRESETS["small16"].timing.latency("requant") + 4 * 10


@pytest.mark.parametrize("line, col, message", [
    ("    nop latency(frob)", 17, "latency() takes a slice instruction, not 'frob'"),
    ("    nop latency(nop)", 17, "latency() takes a slice instruction"),
    ("    nop position(mem9)", 18, "no slice 'mem9' in small16"),
    ("    nop size(mem0)", 9, "unknown function 'size'"),
])
def test_builtin_function_errors(line, col, message):
    with pytest.raises(AsmError) as info:
        assemble(f".queue vxm0.alu0\n{line}\n", PRESETS["small16"], "f.s")
    assert str(info.value).startswith(f"f.s:2:{col}: {message}")
