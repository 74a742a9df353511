"""Random programs give the same MEM and cycle count on the RTL (Verilator) as on the golden
model; every difference would be shrunk and written as a replayable file."""

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import OPS
from conveyor.hw.machine.program import Program
from conveyor.sim import golden
from conveyor.sim.cosim import compare, cosim, verilator_batch
from conveyor.sim.randprog import random_program

SLICE_OPS = {op.mnemonic for op in OPS if op.kind != "icu"}

#: Seeds per preset in CI; one simulator process runs 16 programs. A small16 program costs
#: about 7 s, nearly all of it reading 8 x 1024 words of MEM back through the host port.
CI_SEEDS = {"tiny": 48, "small16": 24}


def _report(report) -> str:
    return "\n".join(f"seed {m.seed}: {m.file}: {'; '.join(m.differences)}"
                     for m in report.mismatches)


@pytest.mark.parametrize("preset", ["tiny", "small16"])
def test_random_programs_agree_with_the_golden_model(tmp_path, preset):
    report = cosim(PRESETS[preset], range(CI_SEEDS[preset]), out_dir=tmp_path, progress=False)
    assert report.programs == CI_SEEDS[preset]
    assert report.mismatches == [], _report(report)
    assert report.files == [] and not list(tmp_path.iterdir())
    assert set(report.mnemonics) == SLICE_OPS  # both presets: every op in these seeds


def test_a_batch_starts_every_program_from_clean_memory():
    config = PRESETS["tiny"]
    busy = random_program(config, 1)
    results = verilator_batch([busy, Program.empty(config), busy])
    assert compare(golden.run(busy), results[0]) == []
    assert any(word.any() for word in results[0].mem.values())
    assert results[1].cycles == 1
    assert not any(word.any() for word in results[1].mem.values())
    for name, words in results[0].mem.items():
        np.testing.assert_array_equal(words, results[2].mem[name])


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "small16"])
def test_thousands_of_random_programs_agree(tmp_path, preset):
    report = cosim(PRESETS[preset], range(1000, 4000), out_dir=tmp_path)
    assert report.mismatches == [], _report(report)
