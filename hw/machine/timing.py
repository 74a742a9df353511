"""The one timing table: every latency in the machine.

An instruction issued in cycle t reads its stream operands in cycle t (at its own position) and,
if it has a result, puts it on its destination stream at its own position in cycle t + latency;
from there the value moves one position per cycle (``STREAM_HOP``). A MEM ``write`` issued in
cycle t captures the stream in cycle t and its word is readable by a ``read`` issued in cycle
t + latency. The RTL, the golden model, the assembler's checker and the scheduler read these
numbers; none of them writes a latency of its own.
"""

from __future__ import annotations

from .isa import BINARY, OPS, UNARY, Op

__all__ = ["HALT_LATENCY", "LATENCY", "START_DELAY", "STREAM_HOP", "finish", "latency",
           "max_latency", "run_end"]

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
    table["requant.v"] = 4     # the same unit, its multiplier from a stream group
    table["requant.v.relu"] = 4
    return table


#: Latency of every instruction that issues work (ICU ops have none). For an op whose effect
#: is inside its slice, it is the distance to the first instruction that sees the effect: an
#: ``iw`` issued at t serves ``mm`` from t+1, an ``mm`` issued at t is in the accumulator for
#: an ``accrd`` (or the next ``mm.add``'s sum) issued from t+4.
LATENCY: dict[str, int] = {
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


def latency(op: Op | str) -> int:
    """Latency of ``op`` in cycles (0 for ICU ops, which produce nothing)."""
    name = op if isinstance(op, str) else op.mnemonic
    return LATENCY.get(name, 0)


def finish(op: Op | str) -> int:
    """Cycles from the issue of ``op`` until a run may end for it: its latency, and
    :data:`HALT_LATENCY` for ``halt``."""
    name = op if isinstance(op, str) else op.mnemonic
    return HALT_LATENCY if name == "halt" else latency(name)


def run_end(cycle: int, op: Op | str) -> int:
    """The fewest cycles of a run in which ``op`` issues in ``cycle`` and its queue halts as
    soon as it can (in the next cycle)."""
    return max(cycle + latency(op), cycle + 1 + HALT_LATENCY)


def max_latency(kind: str) -> int:
    """Longest latency among the ops of a slice kind: the depth of its result pipeline."""
    return max(latency(op) for op in OPS if op.kind == kind)


assert all(op.mnemonic in LATENCY for op in OPS if op.kind != "icu"), "an op has no latency"
