"""Every example on the RTL (Verilator) gives the golden model's MEM and exactly its cycles,
through the same `conveyor run` a user types."""

import json

import numpy as np

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import issued_macs, mxm_utilization
from conveyor.sim import golden
from conveyor.sw.apps.cli import main
from conveyor.sw.asm import assemble_file


def test_example_is_cycle_exact_on_rtl(capsys, example, example_config):
    config = example_config
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
    assert report["mxm_utilization"] == round(mxm_utilization(program.config, expect.cycles, issued_macs(program)), 4)
    for spec in dumps:
        name = spec.split(":")[0]
        np.testing.assert_array_equal(np.array(report["dump"][spec], np.int8), expect.mem[name],
                                      err_msg=f"{example.name} {config} {name}")
