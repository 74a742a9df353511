"""Many programs run in one simulator process, each from clean memory, each as it would alone."""

import numpy as np

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import Program
from conveyor.sim import golden
from conveyor.sim.batch import verilator_batch
from conveyor.sim.outcomes import compare
from conveyor.sim.randprog import random_program


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
