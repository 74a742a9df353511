"""Random programs give the same MEM and cycle count on the RTL (Verilator) as on the golden
model; every difference would be shrunk and written as a replayable file."""

import pytest

from conveyor.hw.machine.config import PRESETS, board_cores, load_config
from conveyor.hw.machine.isa import OPS, op_named
from conveyor.sw.apps.cosim import cosim

SLICE_OPS = {op.mnemonic for op in OPS if op.kind != "icu"}

#: Seeds per preset in CI; one simulator process runs 16 programs. A small16 program costs
#: about 7 s, nearly all of it reading 8 x 1024 words of MEM back through the host port.
CI_SEEDS = {"tiny": 48, "small16": 36}  # small16: the fewest seeds that draw every op
#: Seeds per board core in CI (each with its own timing): ~30 s and ~1 min with the model build.
BOARD_SEEDS = {"icebreaker-core": 32, "ulx3s-core": 16}


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


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "small16"])
def test_thousands_of_random_programs_agree(tmp_path, preset):
    report = cosim(PRESETS[preset], range(1000, 4000), out_dir=tmp_path)
    assert report.mismatches == [], _report(report)


@pytest.mark.parametrize("core", sorted(board_cores()))
def test_the_board_cores_agree_with_the_golden_model(tmp_path, core):
    """What `conveyor build` flashes, with its own pipeline and VXM: 0 mismatches, and every
    slice kind of the core exercised with ops it builds."""
    config = load_config(core)
    report = cosim(config, range(BOARD_SEEDS[core]), out_dir=tmp_path, progress=False)
    assert report.mismatches == [], _report(report)
    ops = [op_named(m) for m in report.mnemonics]
    assert all(config.builds(op) for op in ops)
    kinds = {s.kind for s in config.slices}
    assert {op.kind for op in ops} == kinds, kinds


@pytest.mark.slow
@pytest.mark.parametrize("core", sorted(board_cores()))
def test_thousands_of_random_programs_agree_on_the_board_cores(tmp_path, core):
    report = cosim(load_config(core), range(1000, 3000), out_dir=tmp_path)
    assert report.mismatches == [], _report(report)
