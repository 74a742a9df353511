"""The one timing table: every latency in the machine, as a function of the config's pipeline.

An instruction issued in cycle t reads its stream operands in cycle t (at its own position) and,
if it has a result, puts it on its destination stream at its own position in cycle t + latency;
from there the value moves one position per cycle (``STREAM_HOP``). A MEM ``write`` issued in
cycle t captures the stream in cycle t and its word is readable by a ``read`` issued in cycle
t + latency.

A config may ask for extra register stages where a board needs them (:data:`STAGES`: the
VXM's operands, its multiplier's product, RAM outputs, the MXM's adder tree); each makes the ops
it lies on one cycle longer. :class:`Timing` is the table for one pipeline, and every part of
Conveyor takes it from the config (``config.timing``): the RTL, the golden model, the
assembler's checker and ``latency()``, the scheduler, the ISA reference. None of them writes a
latency of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from .isa import BINARY, OPS, UNARY, Op

__all__ = ["BASE_LATENCY", "HALT_LATENCY", "STAGES", "START_DELAY", "STREAM_HOP", "Timing"]

#: Cycles for a value to move from one slice position to the next.
STREAM_HOP = 1

#: A queue's ``halt`` counts for one cycle: a run ends no earlier than the cycle after the last
#: queue's halt (C > every halt's cycle).
HALT_LATENCY = 1

#: Cycles from the host's ``start`` pulse to cycle 0 of the run: the queues fetch their first
#: word in the cycle of ``start`` and hand cycle 0's issue to their slices through a register.
START_DELAY = 2


def _vxm_latencies() -> dict[str, int]:
    table = {}
    for t in ("i8", "i32"):
        for name in list(BINARY) + list(UNARY):
            table[f"{name}.{t}"] = 1
    table["mul.i8"] = 2        # one 8x8 multiply, registered
    table["mul.i32"] = 3       # a 32x32 multiply, pipelined in two stages
    table["cvt.i8.i32"] = 1
    table["cvt.i32.i8"] = 1
    table["requant"] = 4       # 32x31 high multiply (2), rounding shift (1), clamp (1)
    table["requant.relu"] = 4
    table["requant.s"] = 4     # the same unit: one rounding shift of the product instead
    table["requant.s.relu"] = 4
    table["requant.v"] = 4     # the same unit, its multiplier from a stream group
    table["requant.v.relu"] = 4
    table["requant.s.v"] = 4   # the same unit: requant.s with requant.v's multipliers
    table["requant.s.v.relu"] = 4
    table["mulq.i32"] = 2      # the 32x32 product (1), its rounded doubling high half (1)
    table["rshr.i32"] = 2      # the shift and its rounding bit (1), the increment (1)
    return table


#: Latency of every instruction that issues work (ICU ops have none) with no extra stages. For
#: an op whose effect is inside its slice, it is the distance to the first instruction that sees
#: the effect: an ``iw`` issued at t serves ``mm`` from t+1, an ``mm`` issued at t is in the
#: accumulator for an ``accrd`` (or the next ``mm.add``'s sum) issued from t+4.
BASE_LATENCY: dict[str, int] = {
    "read": 1,    # synchronous RAM read; the RAM's output drives the stream at this position
    "write": 1,   # captured at the end of the issue cycle
    **_vxm_latencies(),
    "lw": 1,      # the shadow rows are written at the end of the issue cycle
    "iw": 1,      # shadow copied into the active weights at the end of the issue cycle
    # operand register, products, two adder-tree stages, then the accumulator write (the
    # accumulator RAM is read-transparent, so an accrd in the write's cycle sees it)
    "mm.set": 4,
    "mm.add": 4,
    "accrd": 1,   # synchronous accumulator RAM read drives the group, like MEM read
    "shift": 1, "rotate": 1, "bcast": 1, "permute": 1,  # a lane multiplexer, registered
    "tr.in": 1,   # the row is written at the end of the issue cycle
    "tr.out": 1,  # a column multiplexer, registered
}


_VXM = tuple(op.mnemonic for op in OPS if op.kind == "vxm")
_MULTIPLYING = ("mul.i8", "mul.i32", "requant", "requant.relu", "requant.v", "requant.v.relu",
                "mulq.i32", "requant.s", "requant.s.relu", "requant.s.v", "requant.s.v.relu")

#: The register stages a config's ``pipeline`` may add, what each is, and the ops it makes one
#: cycle longer.
STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "vxm_operands": ("a register after the VXM's operand decode and stream choice", _VXM),
    "vxm_product": ("a second register after the VXM's shared multiplier", _MULTIPLYING),
    "ram_out": ("a register on MEM's and the accumulator RAM's read data", ("read", "accrd")),
    "mxm_tree": ("a third register stage in the MXM's column adder tree", ("mm.set", "mm.add")),
}


@dataclass(frozen=True)
class Timing:
    """The latencies of a core whose pipeline adds ``stages`` (names from :data:`STAGES`) to
    the base table; ``config.timing`` gives a config's."""

    stages: frozenset[str] = frozenset()
    table: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        unknown = sorted(set(self.stages) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown pipeline stage {unknown[0]!r}")
        table = dict(BASE_LATENCY)
        for stage in self.stages:
            for name in STAGES[stage][1]:
                table[name] += 1
        object.__setattr__(self, "table", table)

    @staticmethod
    @cache
    def of(stages: frozenset[str]) -> Timing:
        """The (shared) timing of a pipeline."""
        return Timing(frozenset(stages))

    def latency(self, op: Op | str) -> int:
        """Latency of ``op`` in cycles (0 for ICU ops, which produce nothing)."""
        return self.table.get(op if isinstance(op, str) else op.mnemonic, 0)

    def extra(self, stage: str) -> int:
        """1 if the pipeline has ``stage``, else 0: for the RTL that builds it."""
        return int(stage in self.stages)

    def finish(self, op: Op | str) -> int:
        """Cycles from the issue of ``op`` until a run may end for it: its latency, and
        :data:`HALT_LATENCY` for ``halt``."""
        name = op if isinstance(op, str) else op.mnemonic
        return HALT_LATENCY if name == "halt" else self.latency(name)

    def run_end(self, cycle: int, op: Op | str) -> int:
        """The fewest cycles of a run in which ``op`` issues in ``cycle`` and its queue halts
        as soon as it can (in the next cycle)."""
        return max(cycle + self.latency(op), cycle + 1 + HALT_LATENCY)

    def max_latency(self, kind: str) -> int:
        """Longest latency among the ops of a slice kind: the depth of its result pipeline."""
        return max(self.latency(op) for op in OPS if op.kind == kind)


assert all(op.mnemonic in BASE_LATENCY for op in OPS if op.kind != "icu"), "an op has no latency"
