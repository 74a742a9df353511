"""Scheduling one matrix product on the MXM: weight tiles double-buffered, activations one row
per cycle, accumulator rows blocked, and the epilogue (int32 out, or bias + requant to int8)
on the way back west.

The work of ``out = x @ w`` is cut into weight tiles (kt, nt) of L x L. For each output tile
column nt and each block of rows (as many as half the accumulator rows, so the next block fills
the other half while this one is read out), the K tiles are installed one after another: their
16 rows are loaded into the shadow buffer while the previous tile computes, ``iw`` installs
them in the cycle the previous tile's last ``mm`` issues, and the block's rows stream through
``mm`` back to back. After the last K tile, each row's ``accrd`` goes west.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...hw.machine.cells import travel
from ...hw.machine.config import GROUP
from ...hw.machine.isa import Instr, Stream, op_named
from ..ir.graph import MUL_MAX
from .memory import Placed
from .schedule import Chain, Scheduler

__all__ = ["MatmulJob", "schedule_matmul"]

_OP_READ, _OP_LW = op_named("read"), op_named("lw")


@dataclass
class Epilogue:
    """What happens to an accumulator row: ``"int32"`` (stored as four byte planes) or
    ``"requant"`` (bias added, requantised to int8: ``mul``, ``shift``, ``zp``, ``relu``), or
    ``"requant_single"`` (the same rounded once: requant.s)."""

    kind: str
    bias: np.ndarray | None = None  # (N,) int32
    bias_at: Placed | None = None  # where the bias words live (four planes), if not all zero
    mul: int | list[int] = 0  # one multiplier, or one per output channel
    mul_at: Placed | None = None  # where per-channel multipliers live (four planes)
    shift_at: Placed | None = None  # where per-channel shifts live (four planes)
    shift: int | list[int] = 0
    zp: int = 0
    relu: bool = False


@dataclass
class MatmulJob:
    """``out = epilogue(x @ w)``, in the words of the tensors' placements.

    Members
    -------
    rows, ktiles, ntiles : M, and the K and N dimensions in tiles of L.
    act : (row, k tile) -> (slice, word) of the activation vector, or None for a zero vector.
    weights : where the stored weight tiles are (:func:`~.dialects.weights_from`): an
        activation's tiles (stored tile kt * ntiles + nt), or runs of
        (slice, first word, tiles; None for all the rest) in order, the i-th stored tile
        (``ktable``) the i-th tile of them; or G planes (slice, first word), plane g holding
        rows g, g + G, .. of every tile, L / G words a tile.
    out : where the result goes (rows x ntiles words; four slices for int32).
    ktable : per output tile, its (K tile, stored weight tile) pairs in order.
    """

    name: str
    rows: int
    ktiles: int
    ntiles: int
    act: Callable[[int, int], tuple[str, int] | None]
    weights: tuple[str, list]
    out: Placed
    epilogue: Epilogue
    ktable: list[list[tuple[int, int]]]
    mxm: str = "mxm0"
    vxm: str = "vxm0"


def schedule_matmul(s: Scheduler, job: MatmulJob, ready: dict, zero: tuple[str, int]) -> None:
    """Place every instruction of ``job``. ``ready`` maps (slice, word) to the first cycle a
    read of it sees its value (words written by earlier layers); ``zero`` is a (slice, word)
    holding zeros (the padding of convolutions)."""
    cfg = s.config
    L = cfg.lanes
    mx = job.mxm
    block = max(1, min(job.rows, cfg.acc_depth // 2))
    tile_at = _tile_places(job.weights, L)
    state = s.mxm[mx]  # carried over from the MXM's previous product
    reads = state["read"]
    for nt in range(job.ntiles):
        for b0 in range(0, job.rows, block):
            rows = range(b0, min(job.rows, b0 + block))
            acc0 = state["half"] * block
            state["half"] ^= 1
            done: dict[int, int] = {}
            for i, (kt, stored) in enumerate(job.ktable[nt]):
                places = tile_at(stored)
                if state.get("installed") != places:  # else the weights are in place
                    last_lw = _load_weights(s, mx, places, state["iw"], ready)
                    state["iw"] = s.place_alone(f"{mx}.w", Instr.make("iw"),
                                                max(last_lw + 1, state["mm"], 0))
                    state["installed"] = places
                iw = state["iw"]
                op = "mm.set" if i == 0 else "mm.add"
                for m in rows:
                    where = job.act(m, kt)
                    if where is None:
                        where = zero
                    acc = acc0 + m - b0
                    # the row's last accrd must still see the old value: land after it
                    after = reads.get(acc, -1) - s.latency(op) + 1
                    if m in done:  # and follow the row's previous mm (back-to-back mm.add
                        # accumulate; a K tile whose weights are in place has no iw between)
                        after = max(after, done[m] + 1)
                    t = _multiply(s, mx, op, where, acc, max(iw + 1, after),
                                  ready.get(where, 0))
                    state["mm"] = max(state["mm"], t)
                    done[m] = t
            for m in rows:
                acc = acc0 + m - b0
                reads[acc] = _epilogue(s, job, m, nt, acc, done[m] + s.latency("mm.set"), ready)


def _tile_places(weights, L: int):
    """stored weight tile -> where its rows are: ((slice, first word),) for a tile in one
    slice (an activation's, or a constant's), or one (slice, first word) per plane
    (:func:`~.dialects.weights_from`)."""
    kind, where = weights
    if kind == "act":
        def in_activation(stored: int) -> tuple[tuple[str, int], ...]:
            kt, nt = divmod(stored, len(where))  # (K, N): tile nt's rows kt L .. L - 1
            slice_name, first = where[nt]
            return ((slice_name, first + kt * L),)
        return in_activation
    if kind == "planes":
        per = L // len(where)
        return lambda stored: tuple((sl, first + stored * per) for sl, first in where)

    def in_runs(stored: int) -> tuple[tuple[str, int], ...]:
        for slice_name, first, count in where:
            if count is None or stored < count:
                return ((slice_name, first + stored * L),)
            stored -= count
        raise IndexError("weight tile past the layer's runs")
    return in_runs


def _load_weights(s: Scheduler, mx: str, places, after: int, ready: dict) -> int:
    """lw the L rows of one tile after the ``iw`` at ``after`` (one a cycle from one slice, or
    one from each of G planes' slices: G rows an lw), each read not before its word is
    written (an activation's); returns the cycle of the last lw."""
    if len(places) > 1:
        return _load_planes(s, mx, places, after)
    (w_slice, first), = places
    rd, wq = s.config.mem_queue(w_slice, "read"), f"{mx}.w"
    dist = s.latency("read") + s.travel(rd, wq)
    last = -1
    for r in range(s.config.lanes):
        def make(stream, addr=first + r, r=r):
            return (Instr(_OP_READ, (("addr", addr), ("d", stream))),
                    Instr(_OP_LW, (("s", stream), ("row", r))))
        start = s.place_transfer(rd, wq, max(after + 1 - dist,
                                             ready.get((w_slice, first + r), 0)), make)
        last = max(last, start + dist)
    return last


def _load_planes(s: Scheduler, mx: str, planes, after: int) -> int:
    """The G-row loads of one tile: for each, G reads (one from each plane's slice, timed to
    arrive together on G consecutive streams) and one lw of that window."""
    g = len(planes)
    wq = f"{mx}.w"
    dst = s.queue_position(wq)
    dists = [s.latency("read") + travel(s.position[sl], dst) for sl, _ in planes]
    lw_at = max(dists)  # the lw's offset in its chain: the farthest read issues at 0
    last = -1
    for i in range(s.config.lanes // g):
        chain = Chain()
        chain.path("w", tuple(s.position[sl] for sl, _ in planes), dst, lw_at)
        for k, ((sl, first), dist) in enumerate(zip(planes, dists)):
            chain.add(s.config.mem_queue(sl, "read"), lw_at - dist,
                      lambda st, k=k, addr=first + i: Instr(_OP_READ, (
                          ("addr", addr), ("d", Stream(st["w"].dir, st["w"].index + k)))))
        chain.add(wq, lw_at, lambda st, i=i: Instr(_OP_LW, (("s", st["w"]), ("row", i * g))))
        start = s.place(chain, after + 1 - lw_at)
        last = max(last, start + lw_at)
    return last


def _multiply(s: Scheduler, mx: str, op: str, where: tuple[str, int], acc: int, earliest_mm: int,
              ready: int) -> int:
    """Read one activation vector and multiply it; returns the mm's cycle."""
    slice_name, addr = where
    rd, mq = s.config.mem_queue(slice_name, "read"), f"{mx}.mm"
    dist = s.latency("read") + s.travel(rd, mq)
    mm = op_named(op)

    def make(stream):
        return (Instr(_OP_READ, (("addr", addr), ("d", stream))),
                Instr(mm, (("s", stream), ("a", acc))))

    return s.place_transfer(rd, mq, max(earliest_mm - dist, ready), make) + dist


def _epilogue(s: Scheduler, job: MatmulJob, m: int, nt: int, acc: int, earliest: int,
              ready: dict) -> int:
    """accrd row ``acc`` (complete from ``earliest``) and finish it into ``job.out``; returns
    the accrd's cycle."""
    aq = f"{job.mxm}.acc"
    p_mx = s.queue_position(aq)
    out = job.out
    chain = Chain()
    lat_a = s.latency("accrd")
    chain.add(aq, 0, lambda st: Instr.make("accrd", a=acc, d=st["acc"]))
    if job.epilogue.kind == "int32":
        planes = out.tiles[nt]
        positions = [s.position[sl] for sl, _ in planes]
        far = min(positions) if min(positions) < p_mx else max(positions)
        chain.path("acc", p_mx, far, lat_a + travel(p_mx, far), GROUP)
        for k, (sl, _) in enumerate(planes):
            at = lat_a + travel(p_mx, s.position[sl])
            chain.add(s.config.mem_queue(sl, "write"), at, lambda st, k=k: Instr.make(
                "write", s=_lane(st["acc"], k), addr=out.word(m, nt, k)))
        start = s.place(chain, earliest)
        for k, (sl, _) in enumerate(planes):
            ready[sl, out.word(m, nt, k)] = (start + lat_a + travel(p_mx, s.position[sl])
                                             + s.latency("write"))
        return start
    ep = job.epilogue
    p_v = s.position[job.vxm]
    t_v = lat_a + travel(p_mx, p_v)
    chain.path("acc", p_mx, p_v, t_v, GROUP)
    alus = [q.name for q in s.config.queues if q.slice.name == job.vxm]
    src = "acc"
    t_rq = t_v
    if ep.bias_at is not None:
        _constant(s, chain, "bias", ep.bias_at, nt, p_v, t_v)
        lat_add = s.latency("add.i32")
        chain.path("sum", p_v, p_v, t_v + lat_add, GROUP)
        chain.add(alus[0], t_v, lambda st: Instr.make("add.i32", a=st["acc"], b=st["bias"],
                                                       d=st["sum"]))
        src, t_rq = "sum", t_v + lat_add
    dest = s.position[out.slice_of(nt)]
    relu = ".relu" if ep.relu else ""
    if ep.mul_at is not None:  # per-channel multipliers: a group of them meets the sum
        _constant(s, chain, "mul", ep.mul_at, nt, p_v, t_rq)
    if ep.shift_at is not None:
        # per-channel shifts too: gemmlowp's two steps, each with its group of constants,
        # then a requant whose multiplier is one (2^31 - 1 is exact below 2^30, and a larger
        # value saturates either way) adds the zero point and saturates
        t_r = t_rq + s.latency("mulq.i32")
        chain.path("q", p_v, p_v, t_r, GROUP)
        chain.add(alus[-1], t_rq, lambda st: Instr.make(
            "mulq.i32", a=st[src], b=st["mul"] if ep.mul_at is not None else ep.mul,
            d=st["q"]))
        _constant(s, chain, "shift", ep.shift_at, nt, p_v, t_r)
        t_rq = t_r + s.latency("rshr.i32")
        chain.path("r", p_v, p_v, t_rq, GROUP)
        chain.add(alus[0], t_r, lambda st: Instr.make("rshr.i32", a=st["q"], b=st["shift"],
                                                       d=st["r"]))
        src, name, fields = "r", f"requant{relu}", {"mul": MUL_MAX, "shift": 0}
    else:
        single = ".s" if ep.kind == "requant_single" else ""
        if ep.mul_at is None:
            name, fields = f"requant{single}{relu}", {"mul": ep.mul, "shift": ep.shift}
        else:
            name, fields = f"requant{single}.v{relu}", {"shift": ep.shift}
    arrive = t_rq + s.latency(name) + travel(dest, p_v)
    chain.path("y", p_v, dest, arrive)

    def requant(st):
        extra = {"b": st["mul"]} if ep.mul_at is not None and ep.shift_at is None else {}
        return Instr.make(name, a=st[src], d=st["y"], zp=ep.zp, **fields, **extra)

    chain.add(alus[-1], t_rq, requant)
    word = out.word(m, nt)
    chain.add(s.config.mem_queue(out.slice_of(nt), "write"), arrive,
              lambda st: Instr.make("write", s=st["y"], addr=word))
    start = s.place(chain, earliest)
    ready[out.slice_of(nt), word] = start + arrive + s.latency("write")
    return start


def _constant(s: Scheduler, chain: Chain, key: str, at: Placed, nt: int, p_v: int,
              t: int) -> None:
    """Read output tile nt's group of per-channel constants (four byte planes) so that it is
    at the VXM in cycle ``t`` of the chain, on path ``key``."""
    planes = at.tiles[nt]
    chain.path(key, tuple(s.position[sl] for sl, _ in planes), p_v, t, GROUP)
    for k, (sl, _) in enumerate(planes):
        t_read = t - s.latency("read") - travel(p_v, s.position[sl])
        chain.add(s.config.mem_queue(sl, "read"), t_read, lambda st, k=k: Instr.make(
            "read", addr=at.word(0, nt, k), d=_lane(st[key], k)))


def _lane(group: Stream, k: int) -> Stream:
    """Byte stream k of a group (or window)."""
    return Stream(group.dir, group.index + k)
