"""A config's pipeline, VXM op set and queue counters: the latencies they give, and the one-line
refusal of everything a core so built cannot run (assembler, image loader, compiler, config)."""

import dataclasses

import pytest

from conveyor.errors import AsmError, ConfigError, HazardError, ImageError
from conveyor.hw.machine.config import PRESETS, CoreConfig
from conveyor.hw.machine.isa import OPS
from conveyor.hw.machine.program import cycle_count
from conveyor.sim import golden
from conveyor.sw.asm import assemble
from conveyor.sw.asm.image import pack, unpack
from conveyor.sw.compiler.errors import CompileError
from conveyor.sw.frontends.specs import compile_spec

TINY = PRESETS["tiny"]
ALL_STAGES = ("vxm_operands", "vxm_product", "ram_out", "mxm_tree")


def _config(**kw) -> CoreConfig:
    return dataclasses.replace(TINY, name="trim", **kw)


# Each stage's ops, written out here as the ISA reference states them (docs/isa.md), so that a
# wrong STAGES table fails this test.
@pytest.mark.parametrize("stage, longer, same", [
    ("vxm_operands", ["add.i8", "mul.i32", "requant", "cvt.i32.i8"], ["read", "mm.set", "shift"]),
    ("vxm_product", ["mul.i8", "mul.i32", "requant.v.relu", "requant.s.v"], ["add.i8", "cvt.i8.i32", "read"]),
    ("ram_out", ["read", "accrd"], ["write", "add.i8", "mm.add"]),
    ("mxm_tree", ["mm.set", "mm.add"], ["accrd", "iw", "lw", "requant"]),
])
def test_each_stage_makes_its_ops_one_cycle_longer(stage, longer, same):
    base, piped = TINY.timing, _config(pipeline=(stage,)).timing
    for name in longer:
        assert piped.latency(name) == base.latency(name) + 1, name
    for name in same:
        assert piped.latency(name) == base.latency(name), name


def test_stages_add_up():
    piped = _config(pipeline=ALL_STAGES).timing
    assert piped.latency("mul.i32") == TINY.timing.latency("mul.i32") + 2
    assert piped.latency("mm.set") == TINY.timing.latency("mm.set") + 1


def test_a_program_takes_its_configs_cycles():
    """One read into a write: the pipelined core's run is one cycle longer (ram_out)."""
    source = ".queue mem0.rd\n read 0 -> e0\n.queue mem1.wr\n nop 2\n write e0 -> 7\n"
    for config, extra in ((TINY, 0), (_config(pipeline=("ram_out",)), 1)):
        program = assemble(source.replace("nop 2", f"nop {2 + extra}"), config)
        assert golden.run(program).cycles == cycle_count(program) == 4 + extra
    with pytest.raises(HazardError, match="empty read"):  # the base schedule is a cycle early
        golden.run(assemble(source, _config(pipeline=("ram_out",))))


def test_config_refuses_bad_pipeline_ops_and_counters():
    for extra, message in (({"pipeline": ["bogus"]}, "unknown pipeline stage 'bogus'"),
                           ({"pipeline": ["ram_out", "ram_out"]}, "names a stage twice"),
                           ({"vxm_ops": ["read"]}, "'read' is not a VXM op"),
                           ({"vxm_ops": []}, "non-empty list"),
                           ({"max_nop": 0}, "max_nop must be between 1"),
                           ({"max_repeat": 0}, "max_repeat must be between 1")):
        with pytest.raises(ConfigError, match=message) as info:
            CoreConfig.from_dict({**TINY.geometry(), "name": "x", **extra}, source="x.toml")
        assert "\n" not in str(info.value)


def test_fingerprint_covers_timing_ops_and_counters_but_not_defaults():
    prints = {_config(**kw).fingerprint for kw in (
        {}, {"pipeline": ("ram_out",)}, {"vxm_ops": ("add.i8",)}, {"max_nop": 15},
        {"max_repeat": 15})}
    assert len(prints) == 5
    assert _config().fingerprint == TINY.fingerprint


def test_assembler_refuses_an_unbuilt_op_and_a_count_beyond_the_counters():
    config = _config(vxm_ops=("add.i8",), max_nop=15, max_repeat=15)
    cases = [(".queue vxm0.alu0\n mul.i8 e0, e1 -> w1\n",
              "<input>:2:2: 'mul.i8' is not built on config 'trim' (its VXM builds add.i8)"),
             (".queue mem0.rd\n nop 16\n",
              "<input>:2:6: nop n = 16 is more than config 'trim''s queues count (max_nop = 15)"),
             (".queue mem0.rd\n read 3 -> e0\n repeat 16, 1\n",
              ("<input>:3:9: repeat n = 16 is more than config 'trim''s queues count "
              "(max_repeat = 15)"))]
    for source, message in cases:
        with pytest.raises(AsmError) as info:
            assemble(source, config)
        assert str(info.value) == message
    assemble(".queue vxm0.alu0\n add.i8 e0, e1 -> w1\n.queue mem0.rd\n nop 15\n", config)


def test_image_loader_refuses_an_unbuilt_op():
    program = assemble(".queue vxm0.alu0\n mul.i8 e0, e1 -> w1\n", TINY)
    trimmed = _config(vxm_ops=("add.i8",))
    data = pack(dataclasses.replace(program, config=trimmed))  # as a foreign tool might write it
    with pytest.raises(ImageError) as info:
        unpack(data, trimmed, "x.bin")
    assert str(info.value) == ("x.bin: queue vxm0.alu0, word 0 (mul.i8 e0, e1 -> w1): 'mul.i8' "
                               "is not built on config 'trim' (its VXM builds add.i8)")


def test_compiler_refuses_a_model_whose_ops_the_core_lacks():
    with pytest.raises(CompileError) as info:
        compile_spec("linear:M=3,K=5,N=2,relu=1", _config(vxm_ops=("add.i32", "requant")))
    assert str(info.value) == ("the model needs requant.relu, which config 'trim' does not build "
                               "(its vxm_ops: add.i32, requant)")


def test_compiler_splits_waits_and_repeats_to_fit_narrow_counters():
    narrow = _config(max_nop=3, max_repeat=3)
    compiled = compile_spec("matmul:M=9,K=7,N=5", narrow, seed=1)
    for run in compiled.runs:
        for instrs in run.program.queues.values():
            for instr in instrs:
                if instr.op.mnemonic in ("nop", "repeat"):
                    assert instr["n"] <= 3, instr
    results = [golden.run(run.program) for run in compiled.runs]
    assert sum(r.cycles for r in results) == compiled.predicted_cycles
    assert compiled.bit_exact([r.mem for r in results])


def test_every_vxm_op_can_be_left_out():
    vxm = [op.mnemonic for op in OPS if op.kind == "vxm"]
    for name in vxm:
        config = _config(vxm_ops=tuple(m for m in vxm if m != name))
        assert not config.builds(next(op for op in OPS if op.mnemonic == name))
