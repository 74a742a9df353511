"""A mismatch shrinks to a small program that still mismatches (against a deliberately broken
copy of the golden model), and the shrinker only ever offers valid, smaller, failing programs."""

import json

from conveyor.errors import ConveyorError
from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import OPS, Instr
from conveyor.sim import golden
from conveyor.sim.outcomes import compare, each
from conveyor.sim.randprog import random_program
from conveyor.sim.shrink import _cost, shrink
from conveyor.sw.apps.cli import main
from conveyor.sw.apps.cosim import cosim
from conveyor.sw.asm import assemble
from conveyor.sw.asm.disasm import disassemble

# --- shrinking against an artificial bug ----------------------------------------------------

def _sub_as_add(program):
    """A broken 'implementation': it decodes sub.i8 as add.i8."""
    queues = {name: [Instr(_op("add.i8"), i.args) if i.op.mnemonic == "sub.i8"
                     else i for i in instrs] for name, instrs in program.queues.items()}
    return golden.run(type(program)(program.config, queues, program.data))


def _op(mnemonic):
    return next(op for op in OPS if op.mnemonic == mnemonic)


def test_cosim_shrinks_a_mismatch_to_a_small_replayable_file(tmp_path, capsys):
    config = PRESETS["tiny"]
    report = cosim(config, range(10), out_dir=tmp_path, candidate=each(_sub_as_add),
                   names=("golden", "broken"), progress=False)
    assert report.programs == 10
    assert report.mismatches and report.files == [m.file for m in report.mismatches]
    for mismatch in report.mismatches:
        before, after = mismatch.instructions
        assert after < before / 10 and after <= 30, mismatch
        text = mismatch.file.read_text()
        assert mismatch.file.name == f"mismatch-tiny-{mismatch.seed}.s"
        assert "golden vs broken" in text and "mem" in text.split(".queue")[0]
        small = assemble(text, config)
        mnemonics = {i.op.mnemonic for q in small.queues.values() for i in q}
        assert {"read", "sub.i8", "write"} <= mnemonics
        differences = compare(golden.run(small), _sub_as_add(small), ("golden", "broken"))
        assert differences == mismatch.differences
        # the file replays through the CLI (here on the golden model)
        assert main(["run", str(mismatch.file), "-c", "tiny", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["cycles"] == golden.run(small).cycles


def test_shrink_keeps_only_valid_failing_smaller_programs():
    config = PRESETS["small16"]

    def has_mul(p):
        return any(i.op.mnemonic == "mul.i32" for q in p.queues.values() for i in q)

    program = next(p for p in (random_program(config, s) for s in range(100)) if has_mul(p))

    judged = []

    def fails(candidates):
        judged.extend(candidates)
        return [has_mul(c) for c in candidates]

    def valid(p):
        try:
            golden.run(p)
        except ConveyorError:
            return False
        return True

    assert has_mul(program)
    small = shrink(program, fails, valid=valid, budget=800)
    assert has_mul(small) and valid(small)
    assert _cost(small) < _cost(program)
    assert len(judged) <= 800 and all(valid(c) for c in judged[:50])
    ops = [i for q in small.queues.values() for i in q if i.op.kind != "icu"]
    assert 1 <= len(ops) <= 4, disassemble(small)
