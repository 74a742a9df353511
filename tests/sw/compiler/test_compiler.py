"""The compiler end to end: every layer kind on several shapes (odd ones too) is bit-exact against
the numpy reference and takes exactly the predicted cycles, on the golden model and on the RTL.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import cycle_count
from conveyor.sim import golden
from conveyor.sw.apps.cli import main
from conveyor.sw.compiler import CompileError, compile_graph, load
from conveyor.sw.frontends.specs import compile_spec
from conveyor.sw.ir.builder import Graph

GOLDEN_CASES = [
    ("matmul:M=16,K=16,N=16", ("tiny", "small16")),
    ("matmul:M=37,K=50,N=21", ("small16",)),
    ("matmul:M=1,K=7,N=3", ("tiny", "small16")),
    ("matmul:M=9,K=7,N=5", ("tiny",)),
    ("linear:M=20,K=40,N=30,relu=1", ("tiny", "small16")),
    ("linear:M=5,K=17,N=33", ("small16",)),
    ("linear:M=3,K=5,N=2,relu=1", ("tiny",)),
    ("conv2d:H=6,W=6,C=3,K=5,R=3,S=3,stride=1,pad=1", ("small16",)),
    ("conv2d:H=7,W=5,C=2,K=4,R=3,S=2,stride=2,pad=0", ("small16",)),
    ("conv2d:H=8,W=8,C=20,K=17,R=3,S=3,stride=2,pad=1,relu=1", ("small16",)),
    ("conv2d:H=4,W=4,C=3,K=2,R=2,S=2,stride=1,pad=0", ("tiny",)),
]


def _golden(compiled):
    results = [golden.run(run.program) for run in compiled.runs]
    return sum(r.cycles for r in results), compiled.bit_exact([r.mem for r in results])


@pytest.mark.parametrize("spec, config", [(s, c) for s, cs in GOLDEN_CASES for c in cs],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_spec_is_bit_and_cycle_exact_on_golden(spec, config):
    compiled = compile_spec(spec, config, seed=3)
    cycles, exact = _golden(compiled)
    assert exact
    assert cycles == compiled.predicted_cycles
    for run in compiled.runs:
        assert run.predicted_cycles == cycle_count(run.program)


def test_a_network_of_every_layer_kind(every_layer_network):
    g, inputs = every_layer_network
    compiled = compile_graph(g, inputs, PRESETS["small16"])
    cycles, exact = _golden(compiled)
    assert exact and cycles == compiled.predicted_cycles
    assert set(compiled.expected) == {"y", "pooled"}


def test_the_tflite_ops_are_bit_and_cycle_exact_on_golden(tflite_layer_network):
    g, inputs = tflite_layer_network
    compiled = compile_graph(g, inputs, PRESETS["small16"])
    cycles, exact = _golden(compiled)
    assert exact and cycles == compiled.predicted_cycles
    # the outputs are not saturated (the test would be weak): many distinct values
    assert len(np.unique(compiled.expected["pool"])) > 10
    assert len(np.unique(compiled.expected["y"])) > 5


def test_run_on_given_inputs_checks_them_against_the_saved_graph(tmp_path, capsys):
    out = tmp_path / "lin"
    assert main(["compile", "linear:M=3,K=5,N=4,relu=1", "-c", "tiny", "-o", str(out)]) == 0
    xs = np.random.default_rng(0).integers(-128, 128, (2, 3, 5), dtype=np.int8)
    np.savez(tmp_path / "in.npz", x=xs)
    assert main(["run", str(out), "--inputs", str(tmp_path / "in.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["samples"] == 2 and report["bit_exact"] is True and report["checked"] == 2


def test_new_inputs_reuse_the_program():
    compiled = compile_spec("linear:M=4,K=40,N=30,relu=1", "small16", seed=1)
    g, _ = __import__("conveyor.sw.frontends.specs", fromlist=["spec_graph"]).spec_graph(
        "linear:M=4,K=40,N=30,relu=1", 1)
    from conveyor.sw.ir.reference import evaluate
    for seed in range(3):
        x = np.random.default_rng(seed).integers(-128, 128, (4, 40), dtype=np.int8)
        mems = [golden.run(p).mem for p in compiled.programs_for({"x": x})]
        np.testing.assert_array_equal(compiled.outputs(mems)["y"], evaluate(g, {"x": x})["y"])


def test_a_product_too_big_for_one_run_is_split_by_columns():
    compiled = compile_spec("matmul:M=64,K=64,N=64", "tiny", seed=0)
    assert len(compiled.runs) > 1
    cycles, exact = _golden(compiled)
    assert exact and cycles == compiled.predicted_cycles


def test_too_big_for_any_split_names_the_tensor():
    with pytest.raises(CompileError, match=r"tensor .x. needs [\d,]+ words of MEM"):
        compile_spec("matmul:M=512,K=512,N=16", "tiny")


def test_matmul_utilisation_of_a_big_product():
    compiled = compile_spec("matmul:M=128,K=64,N=32", "small16", seed=0)
    cycles, exact = _golden(compiled)
    assert exact and cycles == compiled.predicted_cycles
    assert compiled.useful_macs / (16 * 16 * cycles) > 0.9


# --- the command line ---------------------------------------------------------------------------

def test_compile_and_run_a_directory(tmp_path, capsys):
    out = tmp_path / "mm"
    assert main(["compile", "matmul:M=20,K=33,N=18", "-o", str(out), "--seed", "2"]) == 0
    capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["predicted_cycles"] > 0 and (out / "program.s").exists()
    assert main(["run", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bit_exact"] is True
    assert report["cycles"] == report["predicted_cycles"] == manifest["predicted_cycles"]
    assert 0 < report["mxm_utilization"] < 1
    assert load(out).expected["y"].shape == (20, 18)


@pytest.mark.parametrize("argv, message", [
    (["compile", "matmul:M=0,K=1,N=1", "-o", "x"], "matmul"),
    (["compile", "blur:H=1", "-o", "x"], "blur"),
    (["compile", "matmul:M=512,K=512,N=16", "-c", "tiny", "-o", "x"], "needs"),
    (["compile", "examples/digits/mlp.onnx", "-o", "x"], "--calibration"),
    (["run", "examples"], "examples"),
])
def test_compile_errors_are_one_line(capsys, tmp_path, argv, message):
    argv = [a if a != "x" else str(tmp_path / "x") for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_config_file_compiles_like_a_preset(tmp_path, capsys):
    """The ULX3S's board core is a TOML file: a program compiled for it runs bit- and
    cycle-exact, and `conveyor run` finds the config again from the directory."""
    out = tmp_path / "mm"
    assert main(["compile", "linear:M=6,K=20,N=12,relu=1", "-c",
                 "constraints/ulx3s-core.toml", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"] == "ulx3s-core" and report["bit_exact"] is True
    assert report["cycles"] == report["predicted_cycles"]


@pytest.mark.parametrize("spec", ["linear:M=5,K=20,N=12,relu=1",
                                  "conv2d:H=5,W=5,C=2,K=3,R=3,S=3,stride=1,pad=1"])
def test_one_queue_per_mem_slice(spec):
    """With ``mem_ports = 1`` a MEM slice's reads and writes share its one queue."""
    config = dataclasses.replace(PRESETS["small16"], name="small16-1port", mem_ports=1)
    compiled = compile_spec(spec, config, seed=4)
    cycles, exact = _golden(compiled)
    assert exact and cycles == compiled.predicted_cycles
    assert "mem0" in compiled.runs[0].program.queues


def test_a_config_file_may_take_a_presets_name(tmp_path, capsys):
    """Nothing looks a config up by name: a file called small16 with its own geometry compiles
    for that geometry, and its levels carry it."""
    mine = tmp_path / "small16.toml"
    mine.write_text('name = "small16"\nlanes = 8\nstreams = 8\n'
                    'floorplan = "mem mem mem mem vxm mem sxm mxm"\nmem_depth = 256\n'
                    "vxm_alus = 1\n")
    out = tmp_path / "x"
    assert main(["compile", "matmul:M=4,K=4,N=12", "-c", str(mine), "-o", str(out)]) == 0
    compiled = load(out)
    assert compiled.config.lanes == 8 and compiled.config != PRESETS["small16"]
    assert main(["run", str(out)]) == 0


def test_opt_on_a_tile_module_schedules_for_its_own_target(tmp_path, capsys):
    """The tile level of a program compiled for a board core, scheduled again by `conveyor
    opt` with no config option, gives the compile's predicted cycles (it used to take the
    passes' default, small16)."""
    from conveyor.sw.ir import parse_module
    out = tmp_path / "mlp"
    board = "constraints/ulx3s-core.toml"
    assert main(["compile", "linear:M=1,K=64,N=32,relu=1", "-c", board, "-o", str(out)]) == 0
    predicted = json.loads((out / "manifest.json").read_text())["predicted_cycles"]
    micro = tmp_path / "micro.mlir"
    assert main(["opt", str(out / "program.tile.mlir"), "--passes", "schedule,emit-microcode",
                 "-o", str(micro)]) == 0
    module = parse_module(micro.read_text())
    summary = next(op for op in module.ops if op.NAME == "micro.summary")
    assert summary.attrs["cycles"] == predicted
    assert module.target.name == "ulx3s-core" and module.target.lanes == 8


def test_a_directory_for_another_config_is_refused(tmp_path, capsys):
    out = tmp_path / "mm"
    assert main(["compile", "matmul:M=4,K=4,N=4", "-c", "tiny", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out), "-c", "small16"]) == 1
    assert "built for config 'tiny'" in capsys.readouterr().err


# --- the levels ----------------------------------------------------------------------------------

def test_every_level_prints_parses_back_and_lowers_to_the_same_program():
    from conveyor.sw.asm.image import pack
    from conveyor.sw.compiler.passes import EmitMicrocode, Schedule, program_of
    from conveyor.sw.ir import PassManager, parse_module, print_module
    compiled = compile_spec("conv2d:H=5,W=5,C=3,K=4,R=3,S=3,stride=1,pad=1", "small16", seed=1)
    run = compiled.runs[0]
    assert set(run.levels) == {"graph", "tile", "schedule", "microcode"}
    for text in run.levels.values():
        assert print_module(parse_module(text)) == text
    tile = parse_module(run.levels["tile"])
    assert tile.target == PRESETS["small16"]  # the target travels with the text
    PassManager([Schedule(), EmitMicrocode()]).run(tile)
    assert print_module(tile) == run.levels["microcode"]
    micro = parse_module(run.levels["microcode"])
    assert pack(program_of(micro)) == pack(run.program)


def _target(name: str) -> str:
    from conveyor.sw.ir import print_attr
    return print_attr(PRESETS[name].to_dict())


def test_a_module_below_the_graph_level_needs_its_target():
    from conveyor.sw.ir import IRError, parse_module
    text = ('module @m attributes {level = "schedule"} {\n'
            '  sched.queue {queue = "mem0.rd", cycles = [3], code = "read 0 -> e0"}\n}\n')
    with pytest.raises(IRError, match="a schedule-level module needs its target"):
        parse_module(text)
    with_target = text.replace('"schedule"}', f'"schedule", target = {_target("tiny")}}}')
    assert parse_module(with_target).target == PRESETS["tiny"]


def test_a_bad_target_is_one_error_with_its_place():
    from conveyor.sw.ir import IRError, parse_module
    bad = _target("tiny").replace("lanes = 4", "lanes = 5")
    text = f'module @m attributes {{level = "graph", target = {bad}}} {{\n}}\n'
    with pytest.raises(IRError, match=r"<t>:1:\d+: module target: .*lanes must be a multiple of 4"):
        parse_module(text, "<t>")


def test_the_schedule_verifier_names_the_instruction():
    from conveyor.sw.ir import IRError, parse_module
    text = ('module @m attributes {level = "schedule"} {\n'
            '  sched.queue {queue = "mem0.rd", cycles = [3, 3], '
            'code = "read 0 -> e0\\nread 1 -> e0"}\n}\n')
    with pytest.raises(IRError, match="mem0.rd already issues 'read 0 -> e0' in cycle 3"):
        parse_module(text).verify()


def test_the_schedule_verifier_catches_two_writers_of_one_stream_cell():
    from conveyor.sw.ir import IRError, parse_module
    text = (f'module @m attributes {{level = "schedule", target = {_target("small16")}}} {{\n'
            '  sched.queue {queue = "vxm0.alu0", cycles = [2], '
            'code = "mov.i8 w1 -> e2"}\n'
            '  sched.queue {queue = "vxm0.alu1", cycles = [2], '
            'code = "mov.i8 w3 -> e2"}\n}\n')
    with pytest.raises(IRError, match="writes e2 at position 4 in cycle 3, as vxm0.alu0"):
        parse_module(text).verify()


def test_a_layer_the_config_has_too_few_streams_for_is_refused_in_one_line():
    g = Graph("pc")
    x = g.input("x", (3, 8))
    w = np.ones((8, 4), np.int8)
    g.output("y", g.linear(x, w, np.arange(1, 5, dtype=np.int32), mul=[1 << 30] * 4, shift=2))
    with pytest.raises(CompileError, match="too few streams per direction"):
        compile_graph(g, {"x": np.ones((3, 8), np.int8)}, PRESETS["tiny"])
