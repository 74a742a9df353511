"""The disassembler: canonical text, and assemble(disassemble(p)) packs to p's image."""

import functools
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.isa import FIELD_KINDS, OPS, Instr, Op, Stream, check_value, ops_for_role
from conveyor.hw.machine.program import DataBlock, Program
from conveyor.sw.asm import assemble
from conveyor.sw.asm.disasm import disassemble
from conveyor.sw.asm.image import pack, unpack

ROOT = Path(__file__).resolve().parents[3]
TINY = PRESETS["tiny"]


def test_canonical_text():
    p = assemble(".queue mem0.rd\n read 3 -> e0\n repeat 2, 1, 1\n"
                 ".queue vxm0.alu1\n nop 2\n add.i8 e0, -5 -> w1\n"
                 ".data mem2 @ 4\n .i8 1, 2, 3, 4, 5\n", TINY)
    assert disassemble(p) == (
        "; Conveyor program for config 'tiny'\n"
        "\n"
        ".queue mem0.rd\n"
        "    read 3 -> e0\n"
        "    repeat 2, 1, 1\n"
        "    halt\n"
        "\n"
        ".queue vxm0.alu1\n"
        "    nop 2\n"
        "    add.i8 e0, -5 -> w1\n"
        "    halt\n"
        "\n"
        ".data mem2 @ 4\n"
        "    .i8 1, 2, 3, 4\n"
        "    .i8 5, 0, 0, 0\n")


def test_empty_program_is_just_the_comment():
    assert disassemble(Program.empty(TINY)) == "; Conveyor program for config 'tiny'\n"


def _round_trip(program: Program) -> None:
    image = pack(program)
    again = assemble(disassemble(program), program.config, check=False)
    assert pack(again) == image
    assert pack(unpack(image, program.config)) == image


def test_docs_example_round_trips():
    doc = (ROOT / "docs/assembly.md").read_text()
    (example,) = re.findall(r"## A complete example\n\n```asm\n(.*?)```", doc, re.DOTALL)
    for config in (TINY, PRESETS["small16"]):
        _round_trip(assemble(example, config))


def test_examples_round_trip(example, example_config):
    _round_trip(assemble(example.read_text(), PRESETS[example_config]))


# --- random valid programs ------------------------------------------------------------------

def _valid_range(kind: str, config: CoreConfig) -> tuple[int, int]:
    """The interval check_value accepts for a numeric field kind, found by bisection."""
    def ok(v):
        return check_value(kind, v, config) is None

    inside = 0 if ok(0) else 1
    width = FIELD_KINDS[kind][0]
    lo, hi = -(1 << width), 1 << width  # both outside
    a, b = lo, inside
    while b - a > 1:
        a, b = (a, (a + b) // 2) if ok((a + b) // 2) else ((a + b) // 2, b)
    first = b
    a, b = inside, hi
    while b - a > 1:
        a, b = ((a + b) // 2, b) if ok((a + b) // 2) else (a, (a + b) // 2)
    return first, a


@functools.cache
def _field_values(kind: str, config: CoreConfig) -> st.SearchStrategy:
    """Every valid value of a field kind; hw.isa.check_value is the judge of 'valid'."""
    dirs = st.sampled_from("ew")
    singles = st.builds(Stream, dirs, st.integers(0, config.streams - 1))
    groups = st.builds(Stream, dirs, st.integers(0, config.streams // 4 - 1).map(
        lambda k: 4 * k), st.just(4))
    if kind in ("stream", "group"):
        return singles if kind == "stream" else groups
    if kind == "window":
        return st.integers(1, 4).flatmap(lambda n: st.builds(
            Stream, dirs, st.integers(0, config.streams - n), st.just(n)))
    if kind == "addr":
        return st.integers(0, config.mem_depth - 1)
    numbers = st.integers(*_valid_range(kind, config))
    if kind == "opnd8":
        return st.one_of(singles, numbers)
    if kind == "opnd32":
        return st.one_of(groups, numbers)
    return numbers


@st.composite
def _instr(draw, op: Op, config: CoreConfig) -> Instr:
    return Instr(op, tuple((f.name, draw(_field_values(f.kind, config))) for f in op.fields))


@st.composite
def _repeat(draw, prev: Instr, config: CoreConfig) -> Instr:
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    stride = 0
    if prev.op.address is not None:
        addr = prev[prev.op.address]
        top = _valid_range(prev.op.field(prev.op.address).kind, config)[1]
        lo, hi = -(addr // n), (top - addr) // n
        stride = draw(st.integers(max(lo, -32768), min(hi, 32767)))
    return Instr.make("repeat", n=n, d=d, stride=stride)


@st.composite
def _queue(draw, role: str, config: CoreConfig) -> list[Instr]:
    slice_ops = [op for op in ops_for_role(role).values() if op.kind != "icu"]
    nop = next(op for op in OPS if op.mnemonic == "nop")
    instrs: list[Instr] = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            instrs.append(draw(_instr(nop, config)))
            continue
        instrs.append(draw(_instr(draw(st.sampled_from(slice_ops)), config)))
        if draw(st.booleans()):
            instrs.append(draw(_repeat(instrs[-1], config)))
    return instrs + [Instr.make("halt")]


@st.composite
def _data(draw, config: CoreConfig) -> list[DataBlock]:
    blocks, taken = [], set()
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([s.name for s in config.mem_slices]))
        addr = draw(st.integers(0, config.mem_depth - 1))
        count = draw(st.integers(0, min(3, config.mem_depth - addr)))
        words = {(name, addr + k) for k in range(count)}
        if words & taken:
            continue
        taken |= words
        raw = draw(st.binary(min_size=count * config.lanes, max_size=count * config.lanes))
        values = np.frombuffer(raw, np.int8).reshape(count, config.lanes).copy()
        blocks.append(DataBlock(name, addr, values))
    return blocks


@st.composite
def programs(draw, config: CoreConfig) -> Program:
    queues = {q.name: draw(_queue(q.role, config)) for q in config.queues}
    return Program(config, queues, draw(_data(config)))


@pytest.mark.parametrize("name", ["tiny", "small16"])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_disassemble_assemble_is_byte_identical(name, data):
    program = data.draw(programs(PRESETS[name]))
    _round_trip(program)
