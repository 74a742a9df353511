"""The speed programs (sw/apps/bench/programs.py) are valid: the golden model runs them without
a hazard for the cycles asked for, and the busy one issues in every cycle."""

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import cycle_count
from conveyor.sim.golden import run
from conveyor.sw.apps.bench import busy, golden_pipeline, idle


def test_speed_programs_are_valid_on_the_golden_model():
    for config in (PRESETS["tiny"], PRESETS["small16"]):
        for program in (busy(config, 3000), idle(config, 3000)):
            result = run(program)  # a hazard (an empty read) would raise
            assert result.cycles == cycle_count(program) >= 3000
        assert run(busy(config, 3000)).ops >= 3 * 2900


def test_the_golden_pipeline_keeps_six_queues_issuing():
    config = PRESETS["small16"]
    result = run(golden_pipeline(config, 2))
    assert result.cycles >= 2 * config.mem_depth
    assert result.ops >= 6 * 2 * config.mem_depth
