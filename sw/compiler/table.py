"""``graph.table`` (an int8 function by a 256-entry table) on the VXM and the SXM.

The SXM's ``permute s, m -> d`` gives lane j lane ``m[j]`` of s, and 0 where ``m[j]`` is not a
lane: a lookup among L entries. The table is C = 256 / L words (*chunks*); for chunk k the VXM
turns x into ``m = x + 128 - k L`` (wrapping), a lane of the chunk exactly where x's entry is in
it and L or more elsewhere, so ``permute(chunk k, m)`` is the entry there and 0 elsewhere, and
the OR of the C permutes is the table's value in every lane. Per word of x, one chunk a step
(the OR's latency, a cycle unless the VXM's operands are registered):
x is read again for each (a read a cycle costs nothing), its index made on the first VXM ALU,
the chunk read to meet it at the SXM, and the results OR-ed on the last ALU as they come back.
A core of 256 lanes or more (the TSP's 320) needs one permute.
"""

from __future__ import annotations

import numpy as np

from ...hw.machine.cells import travel
from ...hw.machine.isa import Instr
from .errors import CompileError
from .memory import Placed
from .schedule import Chain, Scheduler

__all__ = ["schedule_table", "table_words"]


def table_words(table: np.ndarray, lanes: int) -> np.ndarray:
    """The table as chunks: word k holds entries k L .. k L + L - 1 (zeros past 255)."""
    chunks = -(-256 // lanes)
    words = np.zeros(chunks * lanes, np.int8)
    words[:256] = table
    return words.reshape(chunks, lanes)


def _index_offset(k: int, lanes: int) -> int:
    """The int8 immediate that adds 128 - k L (mod 256)."""
    return (128 - k * lanes + 128) % 256 - 128


def schedule_table(s: Scheduler, x: Placed, out: Placed, copies: list[tuple[str, int]],
                   vxm: str, sxm: str, ready: dict) -> None:
    """out = table[x + 128], word by word (``copies``: the slice and first word of the
    table's chunks, one copy in a slice that holds no word of x, or two in two slices: each
    word reads the one its own slice does not hold)."""
    alus = [q.name for q in s.config.queues if q.slice.name == vxm]
    if len(alus) < 2:
        raise CompileError(f"a table lookup needs two VXM ALUs, and {vxm} has one")
    lanes = s.config.lanes
    chunks = -(-256 // lanes)
    pv, ps = s.position[vxm], s.position[sxm]
    assert s.latency("mov.i8") == s.latency("or.i8"), "mov and or are one ALU stage"
    step = s.latency("or.i8")  # a chunk each step: each OR is ready as the next result comes
    for t in range(len(x.tiles)):
        for m in range(x.rows):
            x_slice, x_addr = x.at(m, t)
            t_slice, t_first = next(c for c in copies if c[0] != x_slice)
            chain = Chain()
            px, pt = s.position[x_slice], s.position[t_slice]
            back = None  # the cycle the last permute's result is at the VXM
            for k in range(chunks):
                at_v = k * step + s.latency("read") + travel(px, pv)  # x, the k-th time
                chain.path(f"x{k}", px, pv, at_v)
                chain.add(s.config.mem_queue(x_slice, "read"), k * step,
                          lambda st, k=k, a=x_addr: Instr.make("read", addr=a, d=st[f"x{k}"]))
                at_s = at_v + s.latency("add.i8") + travel(pv, ps)  # its index, at the SXM
                chain.path(f"m{k}", pv, ps, at_s)
                chain.add(alus[0], at_v, lambda st, k=k: Instr.make(
                    "add.i8", a=st[f"x{k}"], b=_index_offset(k, lanes), d=st[f"m{k}"]))
                read_t = at_s - s.latency("read") - travel(pt, ps)  # the chunk meets it
                chain.path(f"t{k}", pt, ps, at_s)
                chain.add(s.config.mem_queue(t_slice, "read"), read_t,
                          lambda st, k=k, a=t_first + k: Instr.make("read", addr=a,
                                                                    d=st[f"t{k}"]))
                done = at_s + s.latency("permute")
                if chunks == 1:  # the permute's result is the value: straight to MEM
                    chain.add(sxm, at_s, lambda st: Instr.make("permute", s=st["t0"],
                                                               m=st["m0"], d=st["y"]))
                    _finish(s, chain, out, m, t, ps, done, ready, x)
                    break
                back = done + travel(ps, pv)
                chain.path(f"r{k}", ps, pv, back)
                chain.add(sxm, at_s, lambda st, k=k: Instr.make(
                    "permute", s=st[f"t{k}"], m=st[f"m{k}"], d=st[f"r{k}"]))
                # the OR so far meets each result as it arrives (one a cycle)
                acc = "y" if k == chunks - 1 else f"a{k}"
                if k < chunks - 1:
                    chain.path(acc, pv, pv, back + s.latency("or.i8"))
                if k == 0:
                    chain.add(alus[-1], back, lambda st, acc=acc: Instr.make(
                        "mov.i8", a=st["r0"], d=st[acc]))
                else:
                    chain.add(alus[-1], back, lambda st, k=k, acc=acc: Instr.make(
                        "or.i8", a=st[f"a{k - 1}"], b=st[f"r{k}"], d=st[acc]))
            else:
                _finish(s, chain, out, m, t, pv, back + s.latency("or.i8"), ready, x)


def _finish(s: Scheduler, chain: Chain, out: Placed, m: int, t: int, src: int, ready_at: int,
            ready: dict, x: Placed) -> None:
    """Write the value on ``y`` (at position ``src`` from ``ready_at``) into ``out`` and
    place the chain after x's word is written."""
    o_slice, o_addr = out.at(m, t)
    at = ready_at + travel(src, s.position[o_slice])
    chain.path("y", src, s.position[o_slice], at)
    chain.add(s.config.mem_queue(o_slice, "write"), at,
              lambda st: Instr.make("write", s=st["y"], addr=o_addr))
    start = s.place(chain, ready.get(x.at(m, t), 0))
    ready[out.at(m, t)] = start + at + s.latency("write")
