"""The binary program image (byte layout: docs/image.md).

An image holds the queues' instruction words and the MEM preload data of one program, with the
fingerprint of the config it was built for and the pipeline stages its timing has, so that a
core of another geometry or another timing refuses it with a message that names the right config
instead of running garbage or running on a schedule the compiler did not plan.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ...errors import ConveyorError, ImageError
from ...hw.machine.config import PRESETS, CoreConfig
from ...hw.machine.isa import Instr, decode, encode
from ...hw.machine.program import DataBlock, Program
from ...hw.machine.timing import STAGES
from .assembler import assemble_file, instr_problem

__all__ = ["MAGIC", "VERSION", "load_program", "pack", "unpack"]

MAGIC = b"CNVY"
VERSION = 1

_HEADER = struct.Struct("<4sHH8s")   # magic, version, flags (the pipeline), fingerprint
#: Flag bit i: the program's timing has pipeline stage i of STAGES (its latencies depend on it).
_STAGE_BITS = {stage: 1 << i for i, stage in enumerate(STAGES)}
_BLOCK = struct.Struct("<HII")        # MEM slice ordinal, address, word count
_U32 = struct.Struct("<I")


# --- pack -----------------------------------------------------------------------------------

def pack(program: Program) -> bytes:
    """The image of ``program`` (which must have a list for every queue of its config)."""
    config = program.config
    name = config.name.encode()[:255].decode("utf-8", "ignore").encode()
    out = bytearray(_HEADER.pack(MAGIC, VERSION, _stage_flags(config.pipeline),
                                 config.fingerprint))
    out += bytes([len(name)]) + name
    for queue in config.queues:
        words = [encode(instr) for instr in program.queues[queue.name]]
        out += _U32.pack(len(words)) + struct.pack(f"<{len(words)}Q", *words)
    out += _U32.pack(len(program.data))
    for block in program.data:
        values = np.asarray(block.values, dtype=np.int8).reshape(-1, config.lanes)
        ordinal = config.slice_named(block.slice).index
        out += _BLOCK.pack(ordinal, block.addr, len(values)) + values.tobytes()
    out += _U32.pack(zlib.crc32(out))
    return bytes(out)


def _stage_flags(pipeline) -> int:
    return sum(_STAGE_BITS[stage] for stage in pipeline)


# --- unpack ---------------------------------------------------------------------------------

class _Reader:
    """Bounds-checked reads; running off the end is a truncated image."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source, self.pos = data, source, 0

    def error(self, message: str) -> ImageError:
        return ImageError(f"{self.source}: {message}")

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise self.error(f"truncated: the image ends inside {what}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u32(self, what: str) -> int:
        return _U32.unpack(self.take(4, what))[0]


def unpack(data: bytes, config: CoreConfig, source: str = "<image>") -> Program:
    """Read an image for ``config``; anything wrong with it is one :class:`ImageError`."""
    r = _Reader(bytes(data), source)
    _header(r, config)
    raw_queues = [(q, _queue_words(r, q.name)) for q in config.queues]
    raw_blocks = _blocks(r, config.lanes)
    body_end = r.pos
    crc = r.u32("the CRC")
    if r.pos != len(r.data):
        raise r.error(f"{len(r.data) - r.pos} trailing bytes after the CRC")
    if zlib.crc32(r.data[:body_end]) != crc:
        raise r.error("corrupt: CRC mismatch")
    queues = {q.name: _decode_queue(r, q, words, config) for q, words in raw_queues}
    return Program(config, queues, _data_blocks(r, raw_blocks, config))


def _header(r: _Reader, config: CoreConfig) -> None:
    if r.data[:4] != MAGIC:
        raise r.error("not a Conveyor program image")
    _, version, flags, fingerprint = _HEADER.unpack(r.take(_HEADER.size, "the header"))
    if version != VERSION:
        raise r.error(f"image version {version} is not supported (this Conveyor reads "
                      f"version {VERSION})")
    unknown = flags & ~_stage_flags(STAGES)
    if unknown:
        raise r.error(f"unknown flags {unknown:#06x} (this Conveyor knows bits "
                      f"0-{len(STAGES) - 1}: the pipeline stages)")
    name = r.take(r.take(1, "the config name")[0], "the config name").decode("utf-8", "replace")
    if flags != _stage_flags(config.pipeline):
        raise ImageError(_wrong_timing(r.source, name, flags, config))
    if fingerprint != config.fingerprint:
        raise ImageError(_wrong_config(r.source, name, fingerprint, config))


def _wrong_timing(source: str, name: str, flags: int, config: CoreConfig) -> str:
    def stages(names) -> str:
        return "+".join(names) or "none"
    built = [stage for stage, bit in _STAGE_BITS.items() if flags & bit]
    preset = PRESETS.get(name)
    return (f"{source} was built for config {name!r}, whose timing has pipeline stages "
            f"{stages(built)}; {config.name!r} has {stages(config.pipeline)}, so its cycles "
            f"would differ: "
            f"{_hint(name, preset is not None and _stage_flags(preset.pipeline) == flags)}")


def _hint(name: str, is_preset: bool) -> str:
    # The name comes from the file: repr() keeps a hostile one on one line.
    return f"pass -c {name}" if is_preset else f"pass the config {name!r} it was built for with -c"


def _wrong_config(source: str, name: str, fingerprint: bytes, config: CoreConfig) -> str:
    preset = PRESETS.get(name)
    hint = _hint(name, preset is not None and preset.fingerprint == fingerprint)
    return (f"{source} was built for config {name!r} (fingerprint "
            f"{fingerprint.hex()}), not {config.name!r} ({config.fingerprint.hex()}); {hint}")


def _queue_words(r: _Reader, name: str) -> list[int]:
    count = r.u32(f"the length of queue {name}")
    raw = r.take(8 * count, f"queue {name}")
    return list(struct.unpack(f"<{count}Q", raw))


def _blocks(r: _Reader, lanes: int) -> list[tuple[int, int, bytes]]:
    blocks = []
    for k in range(r.u32("the number of data blocks")):
        ordinal, addr, count = _BLOCK.unpack(r.take(_BLOCK.size, f"data block {k}"))
        blocks.append((ordinal, addr, r.take(count * lanes, f"data block {k}")))
    return blocks


def _decode_queue(r: _Reader, queue, words: list[int], config: CoreConfig) -> list[Instr]:
    if not words:
        raise r.error(f"queue {queue.name} is empty; every queue ends with halt")
    if len(words) > config.queue_depth:
        raise r.error(f"queue {queue.name} holds {len(words)} words, more than this config's "
                      f"queue_depth {config.queue_depth}")
    instrs: list[Instr] = []
    for index, word in enumerate(words):
        try:
            instr = decode(word, queue.role)
        except ValueError as e:
            raise r.error(f"queue {queue.name}, word {index}: {e}") from None
        problem = instr_problem(instrs, instr, config)
        if problem:
            raise r.error(f"queue {queue.name}, word {index} ({instr}): {problem[1]}")
        instrs.append(instr)
    if instrs[-1].op.mnemonic != "halt":
        raise r.error(f"queue {queue.name} does not end with halt")
    return instrs


def _data_blocks(r: _Reader, raw: list[tuple[int, int, bytes]],
                 config: CoreConfig) -> list[DataBlock]:
    mems = config.mem_slices
    owner: dict[tuple[int, int], int] = {}
    blocks = []
    for k, (ordinal, addr, payload) in enumerate(raw):
        if ordinal >= len(mems):
            raise r.error(f"data block {k} is for MEM slice {ordinal}; config "
                          f"'{config.name}' has {len(mems)}")
        values = np.frombuffer(payload, np.int8).reshape(-1, config.lanes).copy()
        if addr >= config.mem_depth or addr + len(values) > config.mem_depth:
            raise r.error(f"data block {k} ({mems[ordinal].name} @ {addr}, {len(values)} "
                          f"words) does not fit mem_depth {config.mem_depth}")
        for word in range(addr, addr + len(values)):
            other = owner.setdefault((ordinal, word), k)
            if other != k:
                raise r.error(f"data blocks {other} and {k} both give {mems[ordinal].name} "
                              f"word {word}")
        blocks.append(DataBlock(mems[ordinal].name, addr, values))
    return blocks


# --- files ----------------------------------------------------------------------------------

def load_program(path: str | Path, config: CoreConfig) -> Program:
    """A program from a file: ``.s`` is assembly, anything else a program image."""
    if str(path).endswith(".s"):
        return assemble_file(path, config)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConveyorError(f"{path}: cannot read ({e.strerror})") from None
    return unpack(data, config, source=str(path))
