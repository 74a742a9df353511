"""The VXM slice: ``vxm_alus`` lane-wise ALUs, each driven by its own queue.

An ALU reads its operands from the stream cells at its position in the issue cycle and puts its
result on the destination stream (int8) or stream group (int32) exactly ``latency(op)`` cycles
later. Ops are computed by *units* with a natural number of register stages (a one-stage ALU, a
pipelined 8-bit and 32-bit multiplier, the requantiser); the ALU builds one unit per
(unit, latency) pair that the timing table needs and pads each with delay registers up to that
latency, so results of different latencies are in flight side by side and never collide inside
the ALU.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .config import GROUP, CoreConfig, Slice
from .isa import OPS, Op
from .mem import delay
from .queue import IssueSignature, decode_field, opcode_of
from .streams import (
    group_lanes,
    lane_bytes,
    select_group,
    select_stream,
    stream_codes,
    stream_ports,
)
from .timing import latency

__all__ = ["UNITS", "VXM_OPS", "VxmAlu", "VxmSlice", "unit_of"]

#: Every VXM op, in declaration order.
VXM_OPS: tuple[Op, ...] = tuple(op for op in OPS if op.kind == "vxm")

#: Units with their natural register stages.
UNITS = {"alu": 1, "mul8": 2, "mul32": 2, "requant": 4}

_UNIT_OF = {"mul.i8": "mul8", "mul.i32": "mul32", "requant": "requant",
            "requant.relu": "requant", "requant.v": "requant", "requant.v.relu": "requant"}


def unit_of(op: Op) -> str:
    """The unit that computes ``op``."""
    return _UNIT_OF.get(op.mnemonic, "alu")


def _is_wide(op: Op, name: str) -> bool:
    """The operand ``name`` of ``op`` is an int32 stream group (or int32 immediate)."""
    return op.field(name).kind in ("group", "opnd32")


def _sat8(value):
    """``value`` (signed) saturated to -128..127."""
    return Mux(value > 127, 127, Mux(value < -128, -128, value))


class _Operands:
    """The decoded fields and per-lane operand values of the instruction an ALU issues.

    Members
    -------
    a8, a32, b8, b32 : per lane, operand a / b as an int8 or an int32 (unsigned views).
    d : the destination stream or group code.
    """

    def __init__(self, m: Module, config: CoreConfig, port, east, west):
        word = port.instr
        ops = list(VXM_OPS)
        self.opcode = opcode_of(word)
        a = decode_field(m, word, ops, "a", sig_name="a_code")
        b = decode_field(m, word, ops, "b", sig_name="b_opnd")
        self.d = decode_field(m, word, ops, "d", sig_name="d_code")
        self.mul = decode_field(m, word, ops, "mul", sig_name="rq_mul")
        self.shift = decode_field(m, word, ops, "shift", sig_name="rq_shift")
        self.zp = decode_field(m, word, ops, "zp", sig_name="rq_zp")
        # b's bit 0 flags an immediate (bits 32:1); otherwise bits 6:1 name a stream.
        b_imm, imm, b_code = b[0], b[1:33], b[1:7]
        lanes = config.lanes
        a_byte = select_stream(m, config, east, west, a, name="a_byte")
        b_byte = select_stream(m, config, east, west, b_code, name="b_byte")
        a_grp = select_group(m, config, east, west, a, name="a_grp")
        b_grp = select_group(m, config, east, west, b_code, name="b_grp")
        self.a8 = lane_bytes(a_byte, lanes)
        self.a32 = group_lanes(a_grp, lanes)
        self.b8 = [Mux(b_imm, imm[:8], v) for v in lane_bytes(b_byte, lanes)]
        self.b32 = [Mux(b_imm, imm, v) for v in group_lanes(b_grp, lanes)]
        # requant.v's b is a plain group field (no immediate): the per-lane multipliers
        per_lane = [op for op in ops if op.mnemonic.startswith("requant.v")]
        m_code = decode_field(m, word, per_lane, "b", sig_name="m_code")
        self.m32 = group_lanes(select_group(m, config, east, west, m_code, name="m_grp"), lanes)

    def a(self, op: Op, lane: int):
        return self.a32[lane] if _is_wide(op, "a") else self.a8[lane]

    def b(self, op: Op, lane: int):
        return self.b32[lane] if _is_wide(op, "b") else self.b8[lane]


# --- lane-wise semantics of the one-stage ops --------------------------------------------------

def _alu_expr(op: Op, a, b):
    """The result of a one-stage op on one lane (unsigned views in, value of any width out;
    the caller keeps the low 8 or 32 bits)."""
    name = op.mnemonic.split(".")[0]
    if op.mnemonic == "cvt.i8.i32":
        return a.as_signed()
    if op.mnemonic == "cvt.i32.i8":
        return _sat8(a.as_signed())
    width = len(a)
    amount = b[:(width - 1).bit_length()] if b is not None else None  # b mod width
    sa, sb = a.as_signed(), (b.as_signed() if b is not None else None)
    return {
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
        "max": lambda: Mux(sa > sb, a, b), "min": lambda: Mux(sa < sb, a, b),
        "and": lambda: a & b, "or": lambda: a | b, "xor": lambda: a ^ b,
        "shl": lambda: a << amount, "sra": lambda: sa >> amount,
        "mov": lambda: a, "relu": lambda: Mux(sa < 0, 0, a), "neg": lambda: -sa,
        "abs": lambda: Mux(sa < 0, -sa, sa),
    }[name]()


class VxmAlu(wiring.Component):
    """One VXM ALU (all lanes), driven by one queue.

    Parameters
    ----------
    config : the core geometry (``lanes``, ``streams``).

    Members
    -------
    port : in, the instructions its queue issues.
    east, west : its stream ports; the slice merges the ALUs' writes.
    """

    def __init__(self, *, config: CoreConfig):
        self._config = config
        super().__init__({"port": In(IssueSignature()), **stream_ports(config)})

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        opnd = _Operands(m, cfg, self.port, self.east, self.west)

        # --- one result path per (unit, latency) ------------------------------------------
        paths = {}
        for op in VXM_OPS:
            paths.setdefault((unit_of(op), latency(op)), []).append(op)
        results = []
        for (unit, lat), ops in paths.items():
            stages = UNITS[unit]
            assert stages <= lat, f"{unit} has {stages} stages, more than latency {lat}"
            name = f"{unit}_l{lat}"
            valid, dest, wide, lanes = self._path(m, unit, ops, opnd, name)
            pad = lat - stages
            results.append((
                delay(m, valid, pad, name=f"{name}_valid"),
                delay(m, dest, pad, name=f"{name}_dest"),
                delay(m, wide, pad, name=f"{name}_wide"),
                [delay(m, v, pad, name=f"{name}_lane{i}") for i, v in enumerate(lanes)],
            ))

        # --- stream writes: a result on a stream, or byte k of it on stream k of a group --
        for code, d, i in stream_codes(cfg):
            port = (self.east if d == "e" else self.west)[i]
            base = code & ~(GROUP - 1)
            byte = i % GROUP
            wes, datas = [], []
            for valid, dest, wide, lanes in results:
                we = Signal(name=f"we_{d}{i}_{len(wes)}")
                m.d.comb += we.eq(valid & Mux(wide, dest == base, dest == code))
                data = Mux(wide, Cat(*(v[8 * byte:8 * byte + 8] for v in lanes)),
                           Cat(*(v[:8] for v in lanes)))
                wes.append(we)
                datas.append(Mux(we, data, 0))
            m.d.comb += [port.we.eq(Cat(*wes).any()), port.data.eq(_or(datas))]
        return m

    def _path(self, m, unit, ops, opnd, name):
        """Build ``unit`` for ``ops``; returns (valid, dest, wide, lane results) after the
        unit's stages."""
        valid = Signal(name=f"{name}_issue")
        wide = Signal(name=f"{name}_wide")
        with m.If(self.port.issue), m.Switch(opnd.opcode):
            for op in ops:
                with m.Case(op.opcode):
                    m.d.comb += [valid.eq(1), wide.eq(_is_wide(op, "d"))]
        stages = UNITS[unit]
        lanes = getattr(self, f"_unit_{unit}")(m, ops, opnd, name)
        return (delay(m, valid, stages, name=f"{name}_v"), delay(m, opnd.d, stages,
                name=f"{name}_d"), delay(m, wide, stages, name=f"{name}_w"), lanes)

    # --- units: each returns per-lane results registered after UNITS[unit] stages -------------

    def _unit_alu(self, m, ops, opnd, name):
        out = []
        for i in range(self._config.lanes):
            res = Signal(32, name=f"{name}_r{i}")
            with m.Switch(opnd.opcode):
                for op in ops:
                    with m.Case(op.opcode):
                        b = opnd.b(op, i) if "b" in (f.name for f in op.fields) else None
                        m.d.sync += res.eq(_alu_expr(op, opnd.a(op, i), b))
            out.append(res)
        return out

    def _unit_mul8(self, m, ops, opnd, name):
        """Stage 1 registers the operands, stage 2 the low byte of their product."""
        (op,) = ops
        out = []
        for i in range(self._config.lanes):
            a = delay(m, opnd.a(op, i), 1, name=f"{name}_a{i}")
            b = delay(m, opnd.b(op, i), 1, name=f"{name}_b{i}")
            res = Signal(32, name=f"{name}_r{i}")
            m.d.sync += res.eq((a * b)[:8])
            out.append(res)
        return out

    def _unit_mul32(self, m, ops, opnd, name):
        """Stage 1 registers three 16x16 partial products, stage 2 their sum mod 2^32."""
        (op,) = ops
        out = []
        for i in range(self._config.lanes):
            a, b = opnd.a(op, i), opnd.b(op, i)
            lo = delay(m, a[:16] * b[:16], 1, name=f"{name}_ll{i}")
            mid1 = delay(m, (a[16:] * b[:16])[:16], 1, name=f"{name}_hl{i}")
            mid2 = delay(m, (a[:16] * b[16:])[:16], 1, name=f"{name}_lh{i}")
            res = Signal(32, name=f"{name}_r{i}")
            m.d.sync += res.eq(lo + ((mid1 + mid2) << 16))
            out.append(res)
        return out

    def _unit_requant(self, m, ops, opnd, name):
        """gemmlowp requantisation in four stages: the 32x31 product; the rounding doubling
        high half; the rounding right shift; the zero point, clamp and optional ReLU."""
        relu = Signal(name=f"{name}_relu")
        per_lane = Signal(name=f"{name}_per_lane")  # requant.v: multipliers from b
        with m.Switch(opnd.opcode):
            for op in ops:
                with m.Case(op.opcode):
                    m.d.comb += [relu.eq(op.mnemonic.endswith(".relu")),
                                 per_lane.eq(op.mnemonic.startswith("requant.v"))]
        # the shift is used in stage 3, the zero point and ReLU flag in stage 4
        shift3 = delay(m, opnd.shift, 2, name=f"{name}_shift")
        zp4 = delay(m, opnd.zp.as_signed(), 3, name=f"{name}_zp")
        relu4 = delay(m, relu, 3, name=f"{name}_relu")
        op = ops[0]
        out = []
        for i in range(self._config.lanes):
            # stage 1: a * mul, exact (mul is 0 .. 2^31-1)
            mul = Mux(per_lane, opnd.m32[i][:31], opnd.mul)
            prod = Signal(signed(64), name=f"{name}_prod{i}")
            m.d.sync += prod.eq(opnd.a(op, i).as_signed() * mul)
            # stage 2: (a*mul + nudge) / 2^31 truncated, which equals floor((a*mul + 2^30) / 2^31)
            high = Signal(signed(32), name=f"{name}_high{i}")
            m.d.sync += high.eq((prod + (1 << 30)) >> 31)
            # stage 3: RoundingDivideByPOT(high, shift), half away from zero
            q = Signal(signed(32), name=f"{name}_q{i}")
            mask = (Const(1, 33) << shift3) - 1
            rem = high & mask
            threshold = (mask >> 1) + (high < 0)
            m.d.sync += q.eq((high >> shift3) + (rem > threshold))
            # stage 4: zero point, clamp, fused ReLU (max with zp)
            res = Signal(32, name=f"{name}_r{i}")
            clamped = _sat8(q + zp4)
            m.d.sync += res.eq(Mux(relu4 & (clamped < zp4), zp4, clamped))
            out.append(res)
        return out


def _or(values):
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out


class VxmSlice(wiring.Component):
    """One VXM slice: ``vxm_alus`` ALUs sharing the stream cells at one position.

    Parameters
    ----------
    config : the core geometry.
    slice : which slice of ``config`` this is.

    Members
    -------
    east, west : the slice's stream ports.
    alu : in, ``[k]`` the queue of ALU k.
    """

    def __init__(self, *, config: CoreConfig, slice: Slice):
        if slice.kind != "vxm":
            raise ValueError(f"VxmSlice needs a vxm slice, not {slice.name!r}")
        self._config, self._slice = config, slice
        super().__init__({"alu": In(IssueSignature()).array(config.vxm_alus),
                          **stream_ports(config)})

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        alus = []
        for k in range(cfg.vxm_alus):
            alu = m.submodules[f"alu{k}"] = VxmAlu(config=cfg)
            wiring.connect(m, wiring.flipped(self.alu[k]), alu.port)
            alus.append(alu)

        # --- merge the ALUs' writes (two ALUs writing one cell is a program error) ------------
        for d in ("east", "west"):
            for s in range(cfg.streams):
                port = getattr(self, d)[s]
                wes = [getattr(alu, d)[s].we for alu in alus]
                m.d.comb += [getattr(alu, d)[s].cell.eq(port.cell) for alu in alus]
                m.d.comb += [
                    port.we.eq(Cat(*wes).any()),
                    port.data.eq(_or([Mux(getattr(alu, d)[s].we, getattr(alu, d)[s].data, 0)
                                      for alu in alus])),
                ]
        return m
