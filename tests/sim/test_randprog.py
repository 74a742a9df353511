"""Random programs are valid by construction, cover the ISA, and a mismatch shrinks to a small
program that still mismatches (against a deliberately broken copy of the golden model)."""

from collections import Counter

import pytest

from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.isa import OPS, Stream
from conveyor.hw.machine.program import cycle_count, timeline
from conveyor.hw.machine.timing import Timing
from conveyor.sim import golden
from conveyor.sim.randprog import random_program
from conveyor.sw.asm import assemble
from conveyor.sw.asm.disasm import disassemble
from conveyor.sw.asm.image import pack

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

SEEDS = range(60)
SLICE_OPS = {op.mnemonic for op in OPS if op.kind != "icu"}


def _programs(preset):
    config = PRESETS[preset]
    return [(seed, random_program(config, seed)) for seed in SEEDS]


@pytest.fixture(scope="module", params=["tiny", "small16"])
def programs(request):
    return _programs(request.param)


def test_programs_are_valid_and_fit_their_queues(programs):
    for seed, program in programs:
        config = program.config
        result = golden.run(program)  # raises HazardError on a collision or an empty read
        assert result.cycles == cycle_count(program), seed
        assert result.ops > 20, seed
        for name, instrs in program.queues.items():
            assert len(instrs) <= config.queue_depth, (seed, name)
            assert instrs[-1].op.mnemonic == "halt", (seed, name)
        assert any(block.values.any() for block in program.data), seed


def _issues(programs):
    for _, program in programs:
        yield from timeline(program)


def test_every_op_and_feature_is_exercised(programs):
    mnemonics = Counter(i.instr.op.mnemonic for i in _issues(programs))
    assert SLICE_OPS <= set(mnemonics), SLICE_OPS - set(mnemonics)
    entries = [instr for _, p in programs for q in p.queues.values() for instr in q]
    repeats = [i for i in entries if i.op.mnemonic == "repeat"]
    assert any(r["stride"] > 0 for r in repeats) and any(r["stride"] < 0 for r in repeats)
    assert any(r["d"] > 1 for r in repeats) and any(r["n"] > 4 for r in repeats)
    assert any(i.op.mnemonic == "nop" and i["n"] > 3 for i in entries)
    binary = [i for i in entries if i.op.kind == "vxm" and "b" in dict(i.args)]
    assert any(isinstance(i["b"], int) for i in binary)
    assert any(isinstance(i["b"], Stream) for i in binary)


def _writes(program):
    """(dir, stream, position, cycle) of every stream write."""
    for issue in timeline(program):
        d = issue.instr.get("d")
        if isinstance(d, Stream):
            for s in d.lanes_of():
                yield d.dir, s, issue.queue.slice.position, issue.cycle + latency(issue.instr.op)


def test_streams_go_both_ways_are_overwritten_and_chain_at_the_vxm(programs):
    directions, overwrites, chains = set(), 0, 0
    for _, program in programs:
        writes = set(_writes(program))
        directions |= {w[0] for w in writes}
        for d, s, p, c in writes:
            step = 1 if d == "e" else -1
            # the same diagonal one or more positions upstream: this write replaced that value
            overwrites += any((d, s, p - k * step, c - k) in writes for k in range(1, 4))
        vxm = {w for w in writes if program.config.floorplan[w[2]] == "vxm"}
        for issue in timeline(program):
            if issue.queue.role != "vxm":
                continue
            p = issue.queue.slice.position
            for name in issue.instr.op.reads:
                v = issue.instr[name]
                if isinstance(v, Stream):  # read in the cycle another VXM op wrote it
                    chains += any((v.dir, s, p, issue.cycle) in vxm for s in v.lanes_of())
    assert directions == {"e", "w"}
    assert overwrites > 100 and chains > 100, (overwrites, chains)


def test_a_seed_fixes_the_program():
    config = PRESETS["tiny"]
    a, b = random_program(config, 7), random_program(config, 7)
    assert disassemble(a) == disassemble(b)
    assert pack(a) == pack(b)
    assert disassemble(random_program(config, 8)) != disassemble(a)


@pytest.mark.parametrize("size", [1, 5, 200])
def test_size_and_small_queues(size):
    config = CoreConfig(name="cramped", lanes=8, streams=8, floorplan=("mem", "vxm", "mem"),
                        mem_depth=16, vxm_alus=3, mem_ports=1, queue_depth=16)
    for seed in range(10):
        program = random_program(config, seed, size=size)
        golden.run(program)
        assert max(len(q) for q in program.queues.values()) <= 16
        issued = sum(1 for i in timeline(program) if i.instr.op.mnemonic != "halt")
        assert issued <= size * len(config.queues)


def test_the_assembly_of_a_program_assembles_back_to_it():
    config = PRESETS["small16"]
    for seed in range(5):
        program = random_program(config, seed)
        assert pack(assemble(disassemble(program), config)) == pack(program)
