"""The compiler's lower levels as IR dialects: tile, schedule (``sched``) and microcode
(``micro``), printed and parsed by :mod:`conveyor.sw.ir` like the graph level.

- **tile**: where every tensor lives (``tile.tensor``, its words per channel tile as
  ``"mem0@0 mem1@64"``), preloaded words (``tile.data``), and the work on them: ``tile.matmul``
  with its activation table (for every output row and K tile, the word it multiplies),
  ``tile.relu``, ``tile.add``, ``tile.qadd``, ``tile.qmul``, ``tile.leaky_relu``,
  ``tile.table``, ``tile.maxpool``, and ``tile.output``.
- **sched**: one ``sched.queue`` per queue, its instructions and their cycles; the verifier
  checks that no queue issues twice in a cycle and that no two instructions write one stream
  cell.

Every level here needs the module's target (:attr:`conveyor.sw.ir.Module.target`).
- **micro**: one ``micro.queue`` per queue, its ``nop``/``repeat``-compressed assembly.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ...hw.machine.cells import Tracks, result_cells
from ...hw.machine.config import CoreConfig
from ..ir import IRError, Module, Op, module_verifier
from ..ir.core import AttrKinds
from .memory import Placed

__all__ = ["placed_attr", "placed_from", "planes_attr", "runs_attr", "runs_from", "weights_from"]


# --- placements as attribute text ---------------------------------------------------------------

def placed_attr(placed: Placed) -> str:
    """``"mem0@0 mem1@64"`` (int8: one slice@word per tile) or ``"mem0@0,mem1@0,mem2@0,mem3@0
    ..."`` (int32: four planes per tile); a spread tensor's further blocks of rows follow, each
    after ``| ROW:`` (its first row), e.g. ``"mem4@0 | 512: mem5@0"``."""
    blocks = [(0, placed.tiles), *placed.more]
    return " | ".join(f"{first}: " * (first > 0) + _tiles_attr(tiles)
                      for first, tiles in blocks)


def _tiles_attr(tiles) -> str:
    return " ".join(",".join(f"{s}@{b}" for s, b in tile) for tile in tiles)


def placed_from(name: str, text: str, shape, dtype: str, rows: int) -> Placed:
    blocks = []
    for k, part in enumerate(text.split("|")):
        first, _, rest = part.rpartition(":") if k else ("0", "", part)
        tiles = tuple(tuple((s, int(b)) for s, b in (p.split("@") for p in t.split(",")))
                      for t in rest.split())
        blocks.append((int(first), tiles))
    return Placed(name, tuple(shape), dtype, rows, blocks[0][1], tuple(blocks[1:]))


def runs_attr(runs) -> str:
    """A layer's weight tiles, ``"mem4@0"`` in one slice or runs of consecutive tiles
    ``"mem4@0x40 mem5@0x24"`` (slice@first word x tiles) spread over several."""
    if len(runs) == 1:
        return f"{runs[0][0]}@{runs[0][1]}"
    return " ".join(f"{s}@{first}x{n}" for s, first, n in runs)


def planes_attr(planes) -> str:
    """A layer's weight tiles as planes in several slices, ``"mem4@0,mem5@0,mem6@0,mem7@0"``:
    plane g holds rows g, g + G, .. of every tile, G rows loaded by one ``lw``."""
    return ",".join(f"{s}@{first}" for s, first in planes)


def weights_from(text: str):
    """("planes", [(slice, first)]) from :func:`planes_attr`, ("act", [(slice, first)] per
    tile of an activation used as weights: ``"act:mem0@0 mem1@64"``), or ("runs",
    :func:`runs_from`)."""
    if text.startswith("act:"):
        return "act", [(s, int(first)) for s, first in (p.split("@") for p in text[4:].split())]
    if "," in text:
        return "planes", [(s, int(first)) for s, first in (p.split("@") for p in text.split(","))]
    return "runs", runs_from(text)


def runs_from(text: str) -> list[tuple[str, int, int | None]]:
    """(slice, first word, tiles or None: the rest) per run of :func:`runs_attr`."""
    runs = []
    for part in text.split():
        s, _, rest = part.partition("@")
        first, _, n = rest.partition("x")
        runs.append((s, int(first), int(n) if n else None))
    return runs


class TileOp(Op):
    """Shared checks of the tile ops."""

    def verify_(self) -> None:
        for key in ("rows", "ktiles", "ntiles"):
            if key in self.attrs and self.attrs[key] < 1:
                raise self.error(f"{key} must be at least 1, not {self.attrs[key]}")


class TensorOp(TileOp):
    """A tensor's placement: ``%x = tile.tensor {name, dtype, shape, rows, at}``."""

    NAME = "tile.tensor"
    RESULTS = ("result",)
    ATTRS: ClassVar[AttrKinds] = {"name": str, "dtype": str, "shape": "ints", "rows": int,
                                  "at": str}

    def verify_(self) -> None:
        super().verify_()
        a = self.attrs
        want = 4 if a["dtype"] == "i32" else 1
        try:
            placed = self.placed()
        except ValueError:
            raise self.error(f"%{self.result.name}: cannot read the placement "
                             f"{a['at']!r}") from None
        for first, block in placed.blocks():
            if block.rows < 1 or len(block.tiles) != len(placed.tiles):
                raise self.error(f"%{self.result.name}: the block of rows from {first} must "
                                 f"hold rows before the next and {len(placed.tiles)} tiles")
            for tile in block.tiles:
                if len(tile) != want:
                    raise self.error(f"%{self.result.name}: an {a['dtype']} tile needs {want} "
                                     f"slice@word place(s), not {_tiles_attr((tile,))!r}")

    def placed(self) -> Placed:
        a = self.attrs
        return placed_from(a["name"], a["at"], a["shape"], a["dtype"], a["rows"])


class DataOp(TileOp):
    """Words preloaded into MEM: ``tile.data {slice, addr, value}``."""

    NAME = "tile.data"
    ATTRS: ClassVar[AttrKinds] = {"slice": str, "addr": int, "value": np.ndarray}

    def verify_(self) -> None:
        if self.attrs["value"].ndim != 2 or self.attrs["value"].dtype != np.int8:
            raise self.error(f"data for {self.attrs['slice']} must be (words, lanes) int8")


class MatmulOp(TileOp):
    """``tile.matmul %x_tensor, %out_tensor {...}``: the product on an MXM. ``act`` is an
    (rows, ktiles, 2) int32 table of (slice index, word), slice index -1 for the padding word
    ``zero``; ``ktable`` (ntiles, n, 2) lists for each output tile the K tiles it multiplies
    and the stored weight tile of each (-1 pads), so zero tiles are skipped and equal tiles
    stored once. ``muls`` and ``shifts`` place per-channel multipliers and shifts."""

    NAME = "tile.matmul"
    OPERANDS = ("out",)
    ATTRS: ClassVar[AttrKinds] = {
        "rows": int, "ktiles": int, "ntiles": int, "act": np.ndarray, "ktable": np.ndarray,
        "slices": str, "zero": str, "weights": str, "epilogue": str, "bias": str, "muls": str,
        "shifts": str, "mul": (int, "ints"), "shift": (int, "ints"), "zp": int, "relu": bool,
        "mxm": str, "vxm": str, "macs": int}

    def verify_(self) -> None:
        super().verify_()
        a = self.attrs
        if a["act"].shape != (a["rows"], a["ktiles"], 2):
            raise self.error(f"act is {a['act'].shape}, not (rows, ktiles, 2) = "
                             f"({a['rows']}, {a['ktiles']}, 2)")
        if a["epilogue"] not in ("int32", "requant", "requant_single"):
            raise self.error(f"epilogue {a['epilogue']!r} is not int32, requant or "
                             f"requant_single")


class ReluOp(TileOp):
    NAME = "tile.relu"
    OPERANDS = ("x", "out")
    ATTRS: ClassVar[AttrKinds] = {"zp": int, "vxm": str}


class AddOp(TileOp):
    NAME = "tile.add"
    OPERANDS = ("a", "b", "out")
    ATTRS: ClassVar[AttrKinds] = {"mul": int, "shift": int, "zp": int, "relu": bool,
                                  "vxm": str}


class QAddOp(TileOp):
    """TFLite's int8 ADD (graph.qadd), word by word on the VXM."""

    NAME = "tile.qadd"
    OPERANDS = ("a", "b", "out")
    ATTRS: ClassVar[AttrKinds] = {"a_zp": int, "a_mul": int, "a_shift": int, "b_zp": int,
                                  "b_mul": int, "b_shift": int, "left_shift": int, "mul": int,
                                  "shift": int, "zp": int, "relu": bool, "vxm": str}


class QMulOp(TileOp):
    """TFLite's int8 MUL (graph.qmul), word by word on the VXM."""

    NAME = "tile.qmul"
    OPERANDS = ("a", "b", "out")
    ATTRS: ClassVar[AttrKinds] = {"a_zp": int, "b_zp": int, "mul": int, "shift": int, "zp": int,
                                  "relu": bool, "rounding": str, "vxm": str}


class LeakyReluOp(TileOp):
    """TFLite's int8 LEAKY_RELU (graph.leaky_relu), word by word on the VXM."""

    NAME = "tile.leaky_relu"
    OPERANDS = ("x", "out")
    ATTRS: ClassVar[AttrKinds] = {"x_zp": int, "mul": int, "shift": int, "alpha_mul": int,
                                  "alpha_shift": int, "zp": int, "rounding": str, "vxm": str}


class TableOp(TileOp):
    """``graph.table`` on the VXM and SXM: ``table`` is the slice@word of its chunks (one
    word of L entries each, in order), or of two copies, comma-separated."""

    NAME = "tile.table"
    OPERANDS = ("x", "out")
    ATTRS: ClassVar[AttrKinds] = {"table": str, "vxm": str, "sxm": str}


class MaxPoolOp(TileOp):
    """``windows`` (out rows, k) int32: each output row's input rows, -1 padding."""

    NAME = "tile.maxpool"
    OPERANDS = ("x", "out")
    ATTRS: ClassVar[AttrKinds] = {"windows": np.ndarray, "vxm": str}


class InputOp(TileOp):
    """``tile.input %t {name}``: the host writes input ``name`` into tensor %t."""

    NAME = "tile.input"
    OPERANDS = ("value",)
    ATTRS: ClassVar[AttrKinds] = {"name": str}


class OutputOp(TileOp):
    """A result the host reads: ``tile.output %t {name, shape, columns}``."""

    NAME = "tile.output"
    OPERANDS = ("value",)
    ATTRS: ClassVar[AttrKinds] = {"name": str, "shape": "ints", "columns": "ints"}


# --- schedule -------------------------------------------------------------------------------------

class IssueOp(Op):
    """``sched.queue {queue, cycles, code}``: the instructions one queue issues, one per line
    of ``code``, the k-th in cycle ``cycles[k]`` (ascending)."""

    NAME = "sched.queue"
    ATTRS: ClassVar[AttrKinds] = {"queue": str, "cycles": "ints", "code": str}

    def verify_(self) -> None:
        cycles = np.asarray(self.attrs["cycles"], np.int64)
        n = len(self.attrs["code"].splitlines())
        if cycles.ndim != 1 or len(cycles) != n:
            raise self.error(f"{self.attrs['queue']}: {len(cycles)} cycles for {n} "
                             f"instructions")
        if len(cycles) and cycles[0] < 0:
            raise self.error(f"{self.attrs['queue']}: cycle {cycles[0]} is negative")
        same = np.flatnonzero(np.diff(cycles) <= 0)
        if len(same):
            k = int(same[0]) + 1
            line = self.attrs["code"].splitlines()[k - 1]
            raise self.error(f"{self.attrs['queue']} already issues {line!r} in cycle "
                             f"{int(cycles[k - 1])}" if cycles[k] == cycles[k - 1] else
                             f"{self.attrs['queue']}: cycles must ascend (cycle "
                             f"{int(cycles[k])} after {int(cycles[k - 1])})")


class SchedDataOp(Op):
    NAME = "sched.data"
    ATTRS: ClassVar[AttrKinds] = {"slice": str, "addr": int, "value": np.ndarray}


class SchedOutputOp(Op):
    """``sched.output {name, dtype, shape, rows, at, columns}``: where an output lives (and,
    for a product split into runs, which of its columns this run computes)."""

    NAME = "sched.output"
    ATTRS: ClassVar[AttrKinds] = {"name": str, "dtype": str, "shape": "ints", "rows": int,
                                  "at": str, "view": "ints", "columns": "ints"}


class SummaryOp(Op):
    """``sched.summary {cycles, macs}``: the predicted cycle count and the useful MACs."""

    NAME = "sched.summary"
    ATTRS: ClassVar[AttrKinds] = {"cycles": int, "macs": int}


class SchedInputOp(Op):
    """``sched.input {name, dtype, shape, rows, at}``: where the host writes an input."""

    NAME = "sched.input"
    ATTRS: ClassVar[AttrKinds] = {"name": str, "dtype": str, "shape": "ints", "rows": int,
                                  "at": str}


def _needs_target(module: Module) -> None:
    if module.target is None:
        raise IRError(f"module @{module.name}: a {module.level}-level module needs its target "
                      f"(attributes {{level = ..., target = {{...}}}}): the core it is compiled "
                      f"for")


for _level in ("tile", "schedule", "microcode"):
    module_verifier(_level)(_needs_target)


@module_verifier("schedule")
def _one_writer_per_stream_cell(module: Module) -> None:
    """Two instructions writing one stream cell is the hazard the scheduler exists to avoid;
    re-check it from the instructions themselves (the same check as the assembler's)."""
    config = module.target
    written = Tracks()
    for op in module.ops:
        if not isinstance(op, IssueOp):
            continue
        queue = op.attrs["queue"]
        try:
            position = config.queue_named(queue).slice.position
        except KeyError:
            raise op.error(f"config {config.name!r} has no queue {queue}") from None
        lines = op.attrs["code"].splitlines()
        for k, (cycle, instr) in enumerate(zip(op.attrs["cycles"], decoded(op, config))):
            for cell in result_cells(instr, position, cycle, config.timing):
                other = written.write(cell, (queue, lines[k]))
                if other is not None:
                    raise op.error(f"{queue} {lines[k]!r} writes {cell.dir}{cell.stream} at "
                                   f"position {position} in cycle {cell.cycle}, as {other[0]} "
                                   f"{other[1]!r} does")


def decoded(op: IssueOp, config: CoreConfig) -> list:
    """The Instrs of a sched.queue: those the scheduler kept, or its code assembled for
    ``config``."""
    found = getattr(op, "decoded", None)
    if found is None:
        from ..asm import assemble
        queue = op.attrs["queue"]
        program = assemble(f".queue {queue}\n{op.attrs['code']}", config, f"<{queue}>",
                           check=False)
        found = op.decoded = program.queues[queue][:-1]  # without the appended halt
    return found


# --- microcode ------------------------------------------------------------------------------------

class QueueOp(Op):
    """``micro.queue {name, code}``: one queue's assembly, one instruction per line."""

    NAME = "micro.queue"
    ATTRS: ClassVar[AttrKinds] = {"name": str, "code": str}

    def verify_(self) -> None:
        lines = self.attrs["code"].splitlines()
        if not lines or lines[-1].strip() != "halt":
            raise self.error(f"queue {self.attrs['name']} must end with halt")


class MicroDataOp(Op):
    NAME = "micro.data"
    ATTRS: ClassVar[AttrKinds] = {"slice": str, "addr": int, "value": np.ndarray}


class MicroOutputOp(Op):
    NAME = "micro.output"
    ATTRS: ClassVar[AttrKinds] = SchedOutputOp.ATTRS


class MicroSummaryOp(Op):
    NAME = "micro.summary"
    ATTRS: ClassVar[AttrKinds] = SummaryOp.ATTRS


class MicroInputOp(Op):
    NAME = "micro.input"
    ATTRS: ClassVar[AttrKinds] = SchedInputOp.ATTRS
