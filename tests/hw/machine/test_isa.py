"""The ISA declaration: encodings fit, round-trip, and reject what is not an instruction."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import (
    OPCODE_BITS,
    OPS,
    ROLES,
    WORD_BITS,
    Instr,
    Stream,
    check_value,
    decode,
    encode,
    ops_for_role,
)
from conveyor.hw.machine.timing import BASE_LATENCY, Timing

SMALL = PRESETS["small16"]


def test_every_op_fits_the_word_and_fields_do_not_overlap():
    for op in OPS:
        bits = set(range(OPCODE_BITS))
        for f in op.fields:
            span = set(range(f.lo, f.hi + 1))
            assert not bits & span, f"{op.mnemonic}.{f.name} overlaps"
            bits |= span
        assert max(bits) < WORD_BITS


def test_opcodes_are_unique_per_role_and_icu_ops_are_everywhere():
    for role in ROLES:
        ops = ops_for_role(role)
        assert len({op.opcode for op in ops.values()}) == len(ops)
        assert {"halt", "nop", "repeat"} <= set(ops)
    assert encode(Instr.make("halt")) == 0  # a zeroed queue memory halts


def test_every_slice_op_has_exactly_one_latency():
    for op in OPS:
        assert (op.kind == "icu") == (op.mnemonic not in BASE_LATENCY)
    timing = Timing()
    assert timing.max_latency("vxm") == max(timing.latency(op) for op in OPS
                                             if op.kind == "vxm")


def _value(field, draw):
    kind = field.kind
    if kind in ("stream", "opnd8"):
        stream = st.builds(Stream, st.sampled_from("ew"), st.integers(0, SMALL.streams - 1))
    else:
        stream = st.builds(Stream, st.sampled_from("ew"),
                           st.sampled_from(range(0, SMALL.streams, 4)), st.just(4))
    if kind in ("stream", "group"):
        return draw(stream)
    if kind == "window":
        n = draw(st.integers(1, 4))
        return Stream(draw(st.sampled_from("ew")), draw(st.integers(0, SMALL.streams - n)), n)
    if kind == "addr":
        return draw(st.integers(0, SMALL.mem_depth - 1))
    if kind == "acc":
        return draw(st.integers(0, SMALL.acc_depth - 1))
    if kind == "lane":
        return draw(st.integers(0, SMALL.lanes - 1))
    if kind == "lshift":
        return draw(st.integers(1 - SMALL.lanes, SMALL.lanes - 1))
    lo, hi = {"opnd8": (-128, 127), "opnd32": (-(1 << 31), (1 << 31) - 1), "count": (1, 65535),
              "wait": (1, (1 << 32) - 1), "stride": (-32768, 32767), "mult": (0, (1 << 31) - 1),
              "shift": (0, 31), "zp": (-128, 127)}[kind]
    if kind.startswith("opnd"):
        return draw(st.one_of(stream, st.integers(lo, hi)))
    return draw(st.integers(lo, hi))


@st.composite
def instructions(draw):
    op = draw(st.sampled_from(OPS))
    args = {f.name: _value(f, draw) for f in op.fields}
    return Instr.make(op.mnemonic, **args)


@given(instructions())
def test_encode_decode_round_trip(instr):
    for f in instr.op.fields:
        assert check_value(f.kind, instr[f.name], SMALL) is None
    word = encode(instr)
    assert 0 <= word < 1 << WORD_BITS
    assert decode(word, instr.op.roles[0]) == instr


def test_decode_rejects_unknown_opcodes_and_stray_bits():
    with pytest.raises(ValueError, match="not an instruction of a mem.rd queue"):
        decode(encode(Instr.make("add.i8", a=Stream("e", 0), b=1, d=Stream("e", 1))), "mem.rd")
    with pytest.raises(ValueError, match="sets bits outside its fields"):
        decode(1 << 63, "vxm")


@pytest.mark.parametrize("kind, value, message", [
    ("stream", Stream("e", 8), "beyond this config's 8 streams"),
    ("group", Stream("e", 2, 4), "must start at a multiple of 4"),
    ("group", Stream("e", 4), "expected an int32 stream group"),
    ("stream", Stream("w", 0, 4), "expected a single byte stream"),
    ("addr", 1024, "address 1024 is out of range 0..1023"),
    ("opnd8", 128, "out of range -128..127"),
    ("shift", 32, "out of range 0..31"),
    ("window", Stream("e", 6, 3), "reach beyond this config's 8 streams"),
    ("window", Stream("e", 0, 5), "takes 1 to 4 streams, not 5"),
    ("acc", 512, "accumulator row 512 is out of range 0..511"),
    ("lane", 16, "lane 16 is out of range 0..15"),
    ("lshift", -16, "out of range -15..15"),
])
def test_check_value_explains(kind, value, message):
    assert message in check_value(kind, value, SMALL)


def test_text_form():
    instr = Instr.make("requant", a=Stream("e", 0, 4), d=Stream("w", 1), mul=7, shift=3, zp=-1)
    assert str(instr) == "requant e0:4 -> w1, mul=7, shift=3, zp=-1"
    assert str(Instr.make("repeat", n=3, d=1)) == "repeat 3, 1"
    assert str(Instr.make("repeat", n=3, d=1, stride=-2)) == "repeat 3, 1, -2"
