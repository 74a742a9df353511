"""Every example on the RTL (Verilator) gives the golden model's MEM and exactly its cycles,
through the same `conveyor run` a user types."""

import json
from pathlib import Path

import numpy as np
import pytest

from conveyor.hw.config import PRESETS
from conveyor.sim import golden
from conveyor.sw.asm import assemble_file
from conveyor.sw.cli import main

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.s"))


@pytest.mark.parametrize("config", ["tiny", "small16"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_cycle_exact_on_rtl(capsys, example, config):
    program = assemble_file(example, PRESETS[config])
    expect = golden.run(program)
    dumps = [f"{s.name}:0:{PRESETS[config].mem_depth}" for s in PRESETS[config].mem_slices]
    argv = ["run", str(example), "-c", config, "--backend", "verilator", "--json"]
    for d in dumps:
        argv += ["--dump", d]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["backend"] == "verilator"
    assert report["cycles"] == expect.cycles
    for spec in dumps:
        name = spec.split(":")[0]
        np.testing.assert_array_equal(np.array(report["dump"][spec], np.int8), expect.mem[name],
                                      err_msg=f"{example.name} {config} {name}")
