"""Element-wise layers on the VXM, one chain per output word: read, compute, write.

A value is at the VXM's position only in the cycle it arrives (then it moves on), so operands
that come from one MEM slice (one read per cycle) arrive in different cycles; a ``mov`` or a
partial result written at the VXM's own position carries a value its latency further, which is
how ``maxpool2x2`` combines four words of one slice and ``add`` two words of one slice.
"""

from __future__ import annotations

from ...hw.machine.cells import travel
from ...hw.machine.config import GROUP
from ...hw.machine.isa import Instr
from .errors import CompileError
from .matmul import Epilogue
from .memory import Placed
from .schedule import Chain, Scheduler

__all__ = ["schedule_add", "schedule_leaky_relu", "schedule_maxpool", "schedule_qadd",
           "schedule_qmul", "schedule_relu"]



def _alus(s: Scheduler, vxm: str) -> list[str]:
    return [q.name for q in s.config.queues if q.slice.name == vxm]


def _read(s: Scheduler, chain: Chain, key: str, placed: Placed, row: int, tile: int,
          vxm: str, offset: int) -> int:
    """Read a word at ``offset``; returns the offset at which it is at the VXM."""
    sl, addr = placed.at(row, tile)
    arrive = offset + s.latency("read") + travel(s.position[vxm], s.position[sl])
    chain.path(key, s.position[sl], s.position[vxm], arrive)
    chain.add(s.config.mem_queue(sl, "read"), offset,
              lambda st: Instr.make("read", addr=addr, d=st[key]))
    return arrive


def _write(s: Scheduler, chain: Chain, key: str, out: Placed, row: int, tile: int, vxm: str,
           ready_at: int) -> int:
    """Write the value the VXM puts on ``key`` at ``ready_at`` into ``out``; returns the
    write's offset."""
    sl, addr = out.at(row, tile)
    at = ready_at + travel(s.position[sl], s.position[vxm])
    chain.path(key, s.position[vxm], s.position[sl], at)
    chain.add(s.config.mem_queue(sl, "write"), at,
              lambda st: Instr.make("write", s=st[key], addr=addr))
    return at


def _place(s: Scheduler, chain: Chain, earliest: int, ready: dict, out: Placed, row: int,
           tile: int, write_at: int) -> None:
    start = s.place(chain, earliest)
    ready[out.at(row, tile)] = start + write_at + s.latency("write")


def _earliest(ready: dict, *words) -> int:
    return max([0] + [ready.get(w, 0) for w in words])


def schedule_relu(s: Scheduler, vxm: str, x: Placed, out: Placed, zp: int,
                  ready: dict) -> None:
    """out = max(x, zp), word by word."""
    alu = _alus(s, vxm)[0]
    for t in range(len(x.tiles)):
        for m in range(x.rows):
            chain = Chain()
            at = _read(s, chain, "x", x, m, t, vxm, 0)
            chain.add(alu, at, lambda st: Instr.make("max.i8", a=st["x"], b=zp, d=st["y"]))
            w = _write(s, chain, "y", out, m, t, vxm, at + s.latency("max.i8"))
            _place(s, chain, _earliest(ready, x.at(m, t)), ready, out, m,
                   t, w)


def schedule_add(s: Scheduler, vxm: str, a: Placed, b: Placed, out: Placed, ep: Epilogue,
                 ready: dict) -> None:
    """out = requant(int32(a) + int32(b)), word by word."""
    _schedule_sum(s, vxm, a, b, out, ep, ([], []), ready)


def schedule_qadd(s: Scheduler, a: Placed, b: Placed, out: Placed, attrs: dict,
                  ready: dict) -> None:
    """TFLite's ADD (graph.qadd), word by word: each side offset, shifted left and rescaled
    (add.i32, shl.i32, mulq.i32, rshr.i32 with immediates; steps that do nothing are left
    out on both sides alike), then summed and requantised."""
    sides = []
    for k in "ab":
        sides.append([("add.i32", -attrs[f"{k}_zp"]), ("shl.i32", attrs["left_shift"]),
                      ("mulq.i32", attrs[f"{k}_mul"]), ("rshr.i32", attrs[f"{k}_shift"])])
    identity = {"add.i32": 0, "shl.i32": 0, "rshr.i32": 0}
    keep = [i for i, (op, _) in enumerate(sides[0])
            if any(side[i][1] != identity.get(op) for side in sides)]
    steps = tuple([side[i] for i in keep] for side in sides)
    ep = Epilogue("requant", mul=attrs["mul"], shift=attrs["shift"], zp=attrs["zp"],
                  relu=attrs["relu"])
    _schedule_sum(s, attrs["vxm"], a, b, out, ep, steps, ready)


def schedule_qmul(s: Scheduler, a: Placed, b: Placed, out: Placed, attrs: dict,
                  ready: dict) -> None:
    """TFLite's MUL (graph.qmul), word by word: each side offset by its zero point (add.i32,
    left out when both are 0), the two multiplied (mul.i32) and requantised (requant, or
    requant.s rounding once)."""
    steps = ([("add.i32", -attrs["a_zp"])], [("add.i32", -attrs["b_zp"])])
    if not attrs["a_zp"] and not attrs["b_zp"]:
        steps = ([], [])
    kind = "requant_single" if attrs["rounding"] == "single" else "requant"
    ep = Epilogue(kind, mul=attrs["mul"], shift=attrs["shift"], zp=attrs["zp"],
                  relu=attrs["relu"])
    _schedule_sum(s, attrs["vxm"], a, b, out, ep, steps, ready, combine="mul.i32")


def _schedule_sum(s: Scheduler, vxm: str, a: Placed, b: Placed, out: Placed, ep: Epilogue,
                  steps: tuple[list, list], ready: dict, combine: str = "add.i32") -> None:
    """out = requant(f(int32(a)) op g(int32(b))), f and g ``steps`` of (op, immediate) of the
    same ops, a's on the first ALU and b's on the last in the same cycles, ``combine`` the op
    (add.i32, or mul.i32 for a product)."""
    alus = _alus(s, vxm)
    first, last = alus[0], alus[-1]
    if first == last:
        raise CompileError(f"an add needs two VXM ALUs, and {vxm} has one")
    p = s.position[vxm]
    name = ("requant.s" if ep.kind == "requant_single" else "requant") + ".relu" * ep.relu
    for t in range(len(a.tiles)):
        for m in range(a.rows):
            chain = Chain()
            same = a.at(m, t)[0] == b.at(m, t)[0]
            ta = _read(s, chain, "a", a, m, t, vxm, 0)
            step = s.latency("mov.i8")
            if same:  # b later from the same slice, while a waits on a mov
                tb = _read(s, chain, "b", b, m, t, vxm, step)
                chain.path("a1", p, p, ta + s.latency("mov.i8"))
                chain.add(last, ta, lambda st: Instr.make("mov.i8", a=st["a"], d=st["a1"]))
                src_a, tc = "a1", tb
            else:  # both arrive together
                db = travel(p, s.position[b.at(m, t)[0]])
                da = travel(p, s.position[a.at(m, t)[0]])
                tb = _read(s, chain, "b", b, m, t, vxm, da - db)
                src_a, tc = "a", ta
            assert tc == tb
            ts = tc + s.latency("cvt.i8.i32")
            chain.path("A", p, p, ts, GROUP)
            chain.path("B", p, p, ts, GROUP)
            chain.add(first, tc, lambda st, src_a=src_a: Instr.make("cvt.i8.i32", a=st[src_a],
                                                                    d=st["A"]))
            chain.add(last, tc, lambda st: Instr.make("cvt.i8.i32", a=st["b"], d=st["B"]))
            keys = {"A": "A", "B": "B"}
            for i, (op_a, op_b) in enumerate(zip(*steps, strict=True)):
                assert op_a[0] == op_b[0], "both sides run the same ops"
                lat = s.latency(op_a[0])
                for alu, side, (op, imm) in ((first, "A", op_a), (last, "B", op_b)):
                    key = f"{side}{i}"
                    chain.path(key, p, p, ts + lat, GROUP)
                    chain.add(alu, ts, lambda st, op=op, imm=imm, src=keys[side], key=key:
                              Instr.make(op, a=st[src], b=imm, d=st[key]))
                    keys[side] = key
                ts += lat
            chain.path("S", p, p, ts + s.latency(combine), GROUP)
            chain.add(first, ts, lambda st, ka=keys["A"], kb=keys["B"]: Instr.make(
                combine, a=st[ka], b=st[kb], d=st["S"]))
            tr = ts + s.latency(combine)
            chain.add(last, tr, lambda st: Instr.make(name, a=st["S"], d=st["y"], mul=ep.mul,
                                                      shift=ep.shift, zp=ep.zp))
            w = _write(s, chain, "y", out, m, t, vxm, tr + s.latency(name))
            words = [a.at(m, t), b.at(m, t)]
            start_min = _earliest(ready, *words)
            _place(s, chain, start_min + (step if same else 0), ready, out, m, t, w)


def schedule_leaky_relu(s: Scheduler, x: Placed, out: Placed, attrs: dict,
                        ready: dict) -> None:
    """TFLite's LEAKY_RELU (tile.leaky_relu), word by word: ``v = int32(x) - x_zp`` on the
    first ALU, then ``max(v, 0)`` there and ``min(v, 0)`` on the last ALU in the same cycle,
    each shifted left by its side's exponent (if either side has one) and requantised with
    its side's multiplier to ``zp``. The side that is 0 gives exactly ``zp``, so the result
    is ``a + b - zp`` in wrapping int8: exact, since the true value is an int8."""
    vxm = attrs["vxm"]
    alus = _alus(s, vxm)
    if len(alus) < 2:
        raise CompileError(f"a leaky relu needs two VXM ALUs, and {vxm} has one")
    p = s.position[vxm]
    rq = "requant.s" if attrs["rounding"] == "single" else "requant"
    sides = ((alus[0], "P", "max.i32", attrs["mul"], attrs["shift"]),
             (alus[-1], "N", "min.i32", attrs["alpha_mul"], attrs["alpha_shift"]))
    left = any(e > 0 for *_, e in sides)
    assert s.latency("max.i32") == s.latency("min.i32"), "max and min are one ALU stage"

    def step(chain: Chain, alu: str, at: int, op: str, key: str, width: int = GROUP,
             **fields) -> int:
        """``op`` on ``alu`` at ``at``, its result on ``key``; returns when it is there."""
        done = at + s.latency(op)
        chain.path(key, p, p, done, width)
        chain.add(alu, at, lambda st: Instr.make(op, d=st[key], **{
            k: st[v] if isinstance(v, str) else v for k, v in fields.items()}))
        return done

    for t in range(len(x.tiles)):
        for m in range(x.rows):
            chain = Chain()
            tx = _read(s, chain, "x", x, m, t, vxm, 0)
            ts = step(chain, alus[0], tx, "cvt.i8.i32", "X", a="x")
            ts = step(chain, alus[0], ts, "add.i32", "V", a="X", b=-attrs["x_zp"])
            for alu, key, op, _, _ in sides:
                end = step(chain, alu, ts, op, key, a="V", b=0)
            ts, keys = end, {key: key for _, key, *_ in sides}
            if left:
                for alu, key, _, _, e in sides:
                    end = step(chain, alu, ts, "shl.i32", key + "s", a=key, b=max(e, 0))
                    keys[key] = key + "s"
                ts = end
            for alu, key, _, mul, e in sides:
                end = step(chain, alu, ts, rq, key + "y", 1, a=keys[key], mul=mul,
                           shift=max(-e, 0), zp=attrs["zp"])
            ts = step(chain, alus[0], end, "add.i8", "S", 1, a="Py", b="Ny")
            at = ts
            chain.add(alus[-1], at, lambda st: Instr.make("sub.i8", a=st["S"], b=attrs["zp"],
                                                          d=st["y"]))
            w = _write(s, chain, "y", out, m, t, vxm, at + s.latency("sub.i8"))
            _place(s, chain, _earliest(ready, x.at(m, t)), ready, out, m, t, w)


def schedule_maxpool(s: Scheduler, vxm: str, x: Placed, out: Placed,
                     windows: list[list[int]], ready: dict) -> None:
    """out row i = the max of x's rows ``windows[i]``, tile by tile."""
    alus = _alus(s, vxm)
    p = s.position[vxm]
    step = s.latency("max.i8")
    assert s.latency("mov.i8") == step, "mov and max are one ALU stage"
    for t in range(len(x.tiles)):
        for row, rows in enumerate(windows):
            chain = Chain()
            # each word arrives as the partial max it meets is ready (read earlier from a
            # slice farther away: the rows of a spread tensor are in several)
            far = [travel(p, s.position[x.at(r, t)[0]]) for r in rows]
            arrive = [_read(s, chain, f"v{k}", x, r, t, vxm, k * step + max(far) - far[k])
                      for k, r in enumerate(rows)]
            last = len(rows) - 1
            # v0 is carried by a mov, then each partial max meets the next word
            first_key = "y" if last == 0 else "m0"
            if last:
                chain.path(first_key, p, p, arrive[0] + step)
            chain.add(alus[0], arrive[0], lambda st, key=first_key: Instr.make(
                "mov.i8", a=st["v0"], d=st[key]))
            for k in range(1, last + 1):
                key = f"m{k}" if k < last else "y"
                assert arrive[k] == arrive[0] + k * step
                if k < last:
                    chain.path(key, p, p, arrive[k] + step)
                chain.add(alus[k % len(alus)], arrive[k], lambda st, k=k, key=key: Instr.make(
                    "max.i8", a=st[f"m{k - 1}"], b=st[f"v{k}"], d=st[key]))
            wr = _write(s, chain, "y", out, row, t, vxm, arrive[last] + step)
            words = [x.at(r, t) for r in rows]
            _place(s, chain, _earliest(ready, *words), ready, out, row, t, wr)
