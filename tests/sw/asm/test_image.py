"""The program image: its byte layout, every rejection, and robustness against any bytes."""

import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.errors import ImageError
from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.isa import Instr, encode, op_named
from conveyor.hw.machine.program import Program
from conveyor.sw.asm import assemble, assemble_file
from conveyor.sw.asm.image import load_program, pack, unpack

ROOT = Path(__file__).resolve().parents[3]
TINY, SMALL = PRESETS["tiny"], PRESETS["small16"]

SOURCE = (".queue mem0.rd\n read 3 -> e0\n repeat 2, 1, 1\n"
          ".data mem1 @ 5\n .i8 1, 2, 3, 4, -1\n")


def _image(config: CoreConfig = TINY) -> bytes:
    return pack(assemble(SOURCE, config))


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _reject(data: bytes, config: CoreConfig = TINY) -> str:
    with pytest.raises(ImageError) as info:
        unpack(data, config, source="p.bin")
    return str(info.value)


# --- layout ---------------------------------------------------------------------------------

def test_layout_byte_by_byte():
    program = assemble(SOURCE, TINY)
    data = pack(program)
    assert data[:4] == b"CNVY"
    assert struct.unpack_from("<HH", data, 4) == (1, 0)
    assert data[8:16] == TINY.fingerprint
    assert data[16] == 4 and data[17:21] == b"tiny"
    pos = 21
    for queue in TINY.queues:
        (count,) = struct.unpack_from("<I", data, pos)
        words = struct.unpack_from(f"<{count}Q", data, pos + 4)
        assert list(words) == [encode(i) for i in program.queues[queue.name]]
        pos += 4 + 8 * count
    assert struct.unpack_from("<I", data, pos) == (1,)
    assert struct.unpack_from("<HII", data, pos + 4) == (1, 5, 2)  # mem1, word 5, 2 words
    payload = data[pos + 14:pos + 14 + 2 * TINY.lanes]
    assert list(payload) == [1, 2, 3, 4, 255, 0, 0, 0]
    pos += 14 + 2 * TINY.lanes
    assert data[pos:] == struct.pack("<I", zlib.crc32(data[:pos]))


def test_halts_only_program_has_the_documented_size():
    assert len(pack(Program.empty(TINY))) == 245


def test_unpack_gives_the_program_back():
    program = assemble(SOURCE, SMALL)
    again = unpack(pack(program), SMALL)
    assert again.queues == program.queues
    assert [(b.slice, b.addr, b.values.tolist()) for b in again.data] == [
        (b.slice, b.addr, b.values.tolist()) for b in program.data]


# --- rejections -----------------------------------------------------------------------------

def test_wrong_config_names_both_configs_and_the_fix():
    msg = _reject(_image(TINY), SMALL)
    assert msg == (f"p.bin was built for config 'tiny' (fingerprint {TINY.fingerprint.hex()}), "
                   f"not 'small16' ({SMALL.fingerprint.hex()}); pass -c tiny")


def test_wrong_custom_config_does_not_suggest_a_preset():
    custom = CoreConfig.from_dict({**TINY.geometry(), "name": "mine", "mem_depth": 512})
    msg = _reject(pack(Program.empty(custom)), TINY)
    assert msg.startswith("p.bin was built for config 'mine'") and "-c tiny" not in msg, msg


def test_the_image_records_its_timing_and_another_timing_is_refused():
    piped = CoreConfig.from_dict({**TINY.geometry(), "name": "tiny-piped",
                                  "pipeline": ["ram_out", "vxm_operands"]})
    data = _image(piped)
    assert struct.unpack_from("<H", data, 6) == (0b101,)  # bits 0 and 2: STAGES order
    assert unpack(data, piped).queues == assemble(SOURCE, piped).queues
    msg = _reject(data, TINY)
    assert msg == ("p.bin was built for config 'tiny-piped', whose timing has pipeline stages "
                   "vxm_operands+ram_out; 'tiny' has none, so its cycles would differ: pass "
                   "the config 'tiny-piped' it was built for with -c")
    assert "\n" not in msg
    assert _reject(_image(TINY), piped).endswith(
        "has pipeline stages none; 'tiny-piped' has vxm_operands+ram_out, so its cycles would "
        "differ: pass -c tiny")


def test_same_geometry_under_another_name_is_accepted():
    twin = CoreConfig.from_dict({**TINY.geometry(), "name": "twin"})
    assert unpack(_image(TINY), twin).queues == assemble(SOURCE, TINY).queues


def _replace(data: bytes, offset: int, new: bytes, crc: bool = True) -> bytes:
    body = data[:offset] + new + data[offset + len(new):-4]
    return _with_crc(body) if crc else body + data[-4:]


def _queue_offset(index: int, data: bytes) -> int:
    pos = 17 + data[16]
    for _ in range(index):
        pos += 4 + 8 * struct.unpack_from("<I", data, pos)[0]
    return pos


def _data_offset(data: bytes) -> int:
    return _queue_offset(len(TINY.queues), data)


def _bad_word(word: int, queue: int = 0) -> bytes:
    """The tiny halts-only image with queue ``queue`` holding ``word``, then halt."""
    data = pack(Program.empty(TINY))
    pos = _queue_offset(queue, data)
    body = data[:pos] + struct.pack("<IQQ", 2, word, 0) + data[pos + 12:-4]
    return _with_crc(body)


def _word(mnemonic: str, **raw: int) -> int:
    """An instruction word built from hw/machine/isa.py's field positions, ranges unchecked."""
    op = op_named(mnemonic)
    word = op.opcode
    for name, value in raw.items():
        word |= value << op.field(name).lo
    return word


def _empty_queue(data: bytes) -> bytes:
    pos = _queue_offset(0, data)
    count = struct.unpack_from("<I", data, pos)[0]
    return _with_crc(data[:pos] + struct.pack("<I", 0) + data[pos + 4 + 8 * count:-4])


REJECTIONS = [
    (lambda d: b"\x7fELF" + d[4:], "p.bin: not a Conveyor program image"),
    (lambda d: b"CN", "p.bin: not a Conveyor program image"),
    (lambda d: b"", "p.bin: not a Conveyor program image"),
    (lambda d: _replace(d, 4, b"\x02\x00"), "p.bin: image version 2 is not supported"),
    (lambda d: _replace(d, 6, b"\x00\x01"), "p.bin: unknown flags 0x0100"),
    (lambda d: d[:12], "p.bin: truncated: the image ends inside the header"),
    (lambda d: d[:30], "p.bin: truncated: the image ends inside queue mem0.rd"),
    (lambda d: d[:-2], "p.bin: truncated: the image ends inside the CRC"),
    (lambda d: d[:-10], "p.bin: truncated: the image ends inside data block 0"),
    (lambda d: d + b"\x00", "p.bin: 1 trailing bytes after the CRC"),
    (lambda d: _replace(d, 21 + 4, b"\x09", crc=False), "p.bin: corrupt: CRC mismatch"),
    (lambda d: d[:-4] + bytes(4), "p.bin: corrupt: CRC mismatch"),
    (lambda d: _bad_word(0xFF), "p.bin: queue mem0.rd, word 0: opcode 255 is not an instruction"),
    (lambda d: _bad_word(_word("read"), queue=1), "p.bin: queue mem0.wr, word 0: opcode 8"),
    (lambda d: _bad_word(1 << 63), "p.bin: queue mem0.rd, word 0: halt: word"),
    (lambda d: _bad_word(_word("read", addr=256)), "address 256 is out of range 0..255"),
    (lambda d: _bad_word(_word("read", d=7)), "stream e7 is beyond this config's 4 streams"),
    (lambda d: _bad_word(_word("repeat", n=1, d=1)), "(repeat 1, 1): repeat must follow a slice"),
    (lambda d: _bad_word(_word("nop")), "queue mem0.rd, word 0 (nop 0): value 0 is out of range"),
    (lambda d: _replace(d, _queue_offset(0, d) + 4 + 16, struct.pack("<Q", _word("nop", n=5))),
     "p.bin: queue mem0.rd does not end with halt"),
    (_empty_queue,
     "p.bin: queue mem0.rd is empty"),
    (lambda d: _replace(d, _data_offset(d) + 4, struct.pack("<H", 6)),
     "p.bin: data block 0 is for MEM slice 6; config 'tiny' has 6"),
    (lambda d: _replace(d, _data_offset(d) + 6, struct.pack("<I", 255)),
     "p.bin: data block 0 (mem1 @ 255, 2 words) does not fit mem_depth 256"),
]


@pytest.mark.parametrize("mutate,message", REJECTIONS)
def test_rejections_are_one_clear_line(mutate, message):
    msg = _reject(mutate(_image()))
    assert message in msg and "\n" not in msg, msg
    assert msg.startswith("p.bin: "), msg


def test_overlapping_blocks_are_rejected():
    program = assemble(".data mem0 @ 0\n .i8 1\n.data mem0 @ 1\n .i8 2\n", TINY)
    program.data[1].addr = 0
    assert _reject(pack(program)) == "p.bin: data blocks 0 and 1 both give mem0 word 0"


def test_overlong_queue_is_rejected():
    depth = TINY.queue_depth
    program = Program.empty(TINY)
    program.queues["mem0.rd"] = [Instr.make("nop", n=1)] * depth + [Instr.make("halt")]
    msg = _reject(pack(program))
    assert msg == f"p.bin: queue mem0.rd holds {depth + 1} words, more than this config's " \
                  f"queue_depth {depth}"


def test_empty_data_block_is_kept():
    program = assemble(".data mem3 @ 9\n", TINY)
    assert [(b.slice, b.addr, len(b.values)) for b in unpack(pack(program), TINY).data] == [
        ("mem3", 9, 0)]


# --- files ----------------------------------------------------------------------------------

def test_load_program_reads_assembly_and_images(tmp_path):
    source = tmp_path / "p.s"
    source.write_text(SOURCE)
    image = tmp_path / "p.bin"
    image.write_bytes(pack(assemble_file(source, TINY)))
    assert load_program(source, TINY).queues == load_program(image, TINY).queues
    with pytest.raises(ImageError, match=r"p\.bin was built for config 'tiny'"):
        load_program(image, SMALL)
    with pytest.raises(Exception, match="cannot read"):
        load_program(tmp_path / "missing.bin", TINY)


# --- robustness -----------------------------------------------------------------------------

_SEEDS = [_image(TINY), pack(assemble_file(ROOT / "examples/requant.s", TINY)),
          pack(Program.empty(TINY))]


def _check_accepted(data: bytes, program: Program) -> None:
    """An accepted image is what pack writes for its program, except the config name."""
    again = pack(program)
    skip_name = (lambda b: b[17 + b[16]:-4])
    assert skip_name(again) == skip_name(data)


@st.composite
def _mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "grow", "insert"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif action == "grow":
            data += draw(st.binary(max_size=16))
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    if draw(st.booleans()) and len(data) >= 4:  # a good CRC reaches the content checks
        data = bytearray(_with_crc(bytes(data[:-4])))
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400), _mutated()))
def test_any_bytes_give_a_program_or_an_image_error(data):
    try:
        program = unpack(data, TINY, source="p.bin")
    except ImageError as e:
        assert str(e) and "\n" not in str(e)
    else:
        _check_accepted(data, program)
