"""A core with every pipeline stage, a trimmed VXM and narrow queue counters, on the RTL: compiled
layers take exactly the cycles the compiler predicts for its timing and equal numpy, and random
programs agree with the golden model cycle for cycle. One Verilator model serves the module."""

import pytest
from piped_core import PIPED

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import OPS
from conveyor.sim import golden
from conveyor.sim.batch import verilator_batch
from conveyor.sw.apps.cosim import cosim
from conveyor.sw.frontends.specs import compile_spec

SPECS = ["matmul:M=9,K=7,N=5", "linear:M=3,K=5,N=2,relu=1",
         "conv2d:H=4,W=4,C=3,K=2,R=2,S=2,stride=1,pad=0"]


def test_the_core_is_what_the_test_claims():
    base = PRESETS["tiny"].timing
    assert PIPED.timing.latency("mm.set") == base.latency("mm.set") + 1
    assert PIPED.timing.latency("requant") == base.latency("requant") + 2
    assert PIPED.timing.latency("read") == base.latency("read") + 1


def test_compiled_layers_are_cycle_and_bit_exact_on_the_pipelined_rtl():
    compiled = [compile_spec(spec, PIPED, seed=5) for spec in SPECS]
    programs = [run.program for c in compiled for run in c.runs]
    results = verilator_batch(programs)
    k = 0
    for c in compiled:
        mine = results[k:k + len(c.runs)]
        k += len(c.runs)
        for r in mine:
            assert not isinstance(r, Exception), r
        expect = [golden.run(run.program) for run in c.runs]
        assert sum(r.cycles for r in mine) == sum(r.cycles for r in expect) == c.predicted_cycles
        assert c.bit_exact([r.mem for r in mine]), c.spec
        # slower than the presets' timing by the extra stages on its path, never faster
        assert c.predicted_cycles > compile_spec(c.spec, "tiny", seed=5).predicted_cycles


@pytest.mark.parametrize("seeds", [range(32)])
def test_random_programs_agree_with_the_golden_model_on_the_pipelined_rtl(tmp_path, seeds):
    report = cosim(PIPED, seeds, out_dir=tmp_path, progress=False)
    assert report.programs == len(seeds)
    assert report.mismatches == [], [m.differences for m in report.mismatches]
    built = {op.mnemonic for op in OPS if op.kind != "icu" and PIPED.builds(op)}
    assert set(report.mnemonics) == built
