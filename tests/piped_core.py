"""The tiny core with every pipeline stage, a trimmed VXM and narrow queue counters, shared by
the tests that run it on the RTL, so that one Verilator model serves them all."""

import dataclasses

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.isa import OPS
from conveyor.hw.machine.timing import STAGES

#: Left out of this core's VXM: the 32-bit multiply and the per-lane requant.
LEFT_OUT = ("mul.i32", "requant.v", "requant.v.relu")
PIPED = dataclasses.replace(
    PRESETS["tiny"], name="tiny-piped", pipeline=tuple(STAGES),
    vxm_ops=tuple(op.mnemonic for op in OPS if op.kind == "vxm" and op.mnemonic not in LEFT_OUT),
    max_nop=15, max_repeat=15)
