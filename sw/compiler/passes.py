"""The lowering passes: graph -> tile -> schedule -> microcode, each rewriting the module in
place (its ``level`` changes), so the pass manager verifies and prints every level.

Every pass takes its core from the module's target (:attr:`conveyor.sw.ir.Module.target`),
which the module carries from level to level and prints in its text, so ``conveyor opt
prog.tile.mlir --passes schedule,emit-microcode`` schedules for the core it was compiled for.
``conveyor opt -c CONFIG`` gives a graph-level module its target (inputs are then zeros).
"""

from __future__ import annotations

import dataclasses

from ...hw.machine.config import CoreConfig
from ...hw.machine.program import DataBlock, Program
from ..asm.assembler import assemble
from ..ir import Module, Pass
from . import dialects as d
from .emit import emit
from .errors import CompileError
from .lower import lower_to_tile, schedule_tile
from .memory import Placed

__all__ = ["EmitMicrocode", "LowerToTile", "Schedule", "program_of"]


def _target(module: Module, want: str, name: str) -> CoreConfig:
    """The module's target, once the module is at level ``want``."""
    if module.level != want:
        raise CompileError(f"{name} needs a {want}-level module, not {module.level!r}")
    if module.target is None:
        raise CompileError(f"{name}: module @{module.name} has no target core (compile it "
                           f"with -c CONFIG, or give conveyor opt -c CONFIG)")
    return module.target


def _where(placed: Placed) -> dict:
    return {"dtype": placed.dtype, "shape": list(placed.shape), "rows": placed.rows,
            "at": d.placed_attr(placed)}


def placed_of(op) -> Placed:
    """The placement a sched/micro input or output op records."""
    a = op.attrs
    return d.placed_from(a["name"], a["at"], a["shape"], a["dtype"], a["rows"])


@dataclasses.dataclass
class LowerToTile(Pass):
    """graph -> tile: place every tensor in MEM and turn each op into tile work."""

    NAME = "lower-to-tile"
    inputs: dict | None = None

    def run(self, module: Module) -> None:
        config = _target(module, "graph", self.NAME)
        module.ops = lower_to_tile(module, self.inputs, config)
        module.level = "tile"


@dataclasses.dataclass
class Schedule(Pass):
    """tile -> schedule: every instruction gets its queue and issue cycle."""

    NAME = "schedule"

    def run(self, module: Module) -> None:
        config = _target(module, "tile", self.NAME)
        done = schedule_tile(module, config)
        ops: list = []
        for queue in (q.name for q in config.queues):
            timed = sorted(done.sched.timed.get(queue, ()), key=lambda t: t[0])
            if not timed:
                continue
            op = d.IssueOp([], [], {"queue": queue,
                                    "cycles": [c for c, _ in timed],
                                    "code": "\n".join(str(i) for _, i in timed)})
            op.decoded = [i for _, i in timed]  # so that no pass re-assembles the text
            ops.append(op)
        ops += [d.SchedDataOp([], [], {"slice": b.slice, "addr": b.addr, "value": b.values})
                for b in done.data]
        ops += [d.SchedInputOp([], [], {"name": n, **_where(p)})
                for n, p in done.inputs.items()]
        ops += [d.SchedOutputOp([], [], {"name": n, **_where(p), "view": list(v),
                                         "columns": list(c)})
                for n, (p, v, c) in done.outputs.items()]
        ops.append(d.SummaryOp([], [], {"cycles": done.sched.end, "macs": done.macs}))
        module.ops = ops
        module.level = "schedule"


@dataclasses.dataclass
class EmitMicrocode(Pass):
    """schedule -> microcode: each queue's instructions, nop/repeat-compressed."""

    NAME = "emit-microcode"

    def run(self, module: Module) -> None:
        config = _target(module, "schedule", self.NAME)
        timed = {op.attrs["queue"]: list(zip(op.attrs["cycles"], d.decoded(op, config)))
                 for op in module.ops if isinstance(op, d.IssueOp)}
        data = [DataBlock(o.attrs["slice"], o.attrs["addr"], o.attrs["value"])
                for o in module.ops if isinstance(o, d.SchedDataOp)]
        program = emit(config, timed, data)
        ops: list = [d.QueueOp([], [], {"name": q, "code": "\n".join(map(str, instrs))})
                     for q, instrs in program.queues.items()]
        ops += [d.MicroDataOp([], [], dict(o.attrs)) for o in module.ops
                if isinstance(o, d.SchedDataOp)]
        ops += [d.MicroInputOp([], [], dict(o.attrs)) for o in module.ops
                if isinstance(o, d.SchedInputOp)]
        ops += [d.MicroOutputOp([], [], dict(o.attrs)) for o in module.ops
                if isinstance(o, d.SchedOutputOp)]
        ops += [d.MicroSummaryOp([], [], dict(o.attrs)) for o in module.ops
                if isinstance(o, d.SummaryOp)]
        module.ops = ops
        module.level = "microcode"
        module.program = program


def program_of(module: Module) -> Program:
    """The Program of a microcode-level module (assembling its queues for its target if it was
    parsed)."""
    config = _target(module, "microcode", "program_of")
    program = getattr(module, "program", None)
    if program is not None:
        return program
    text = "".join(f".queue {o.attrs['name']}\n{o.attrs['code']}\n" for o in module.ops
                   if isinstance(o, d.QueueOp))
    program = assemble(text, config, f"<{module.name}>", check=False)
    program.data = [DataBlock(o.attrs["slice"], o.attrs["addr"], o.attrs["value"])
                    for o in module.ops if isinstance(o, d.MicroDataOp)]
    return program
