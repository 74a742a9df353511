"""The VXM slice: ``vxm_alus`` lane-wise ALUs, each driven by its own queue.

An ALU reads its operands from the stream cells at its position in the issue cycle and puts its
result on the destination stream (int8) or stream group (int32) exactly ``latency(op)`` cycles
later. Ops are computed by *units* with a natural number of register stages (a one-stage ALU, the
8-bit and 32-bit multiplies, the requantiser); the ALU builds one unit per (unit, latency) pair
that the timing table needs and pads each with delay registers up to that latency, so results
of different latencies are in flight side by side and never collide inside the ALU.

The hardware is shared as far as the ISA allows, because the VXM is the largest block of a
core: the i8 and i32 forms of an op are one 32-bit circuit per lane, and the three multiplying
units read one registered signed 32x32 product per lane (one issue per cycle, and every
multiplying unit takes its product in its first stage, so they never want it at once).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from ..machine.config import GROUP, CoreConfig, Slice
from ..machine.isa import IMMEDIATE_BIT, OPERAND_STREAM, OPERAND_VALUE, OPS, Op, op_named
from .mem import delay
from .queue import IssueSignature, decode_field, opcode_of
from .streams import (
    group_lanes,
    lane_bytes,
    select_group,
    stream_codes,
    stream_ports,
)

__all__ = ["UNITS", "VXM_OPS", "VxmAlu", "VxmSlice", "built_ops", "unit_of"]

#: Every VXM op, in declaration order.
VXM_OPS: tuple[Op, ...] = tuple(op for op in OPS if op.kind == "vxm")

#: Bits of an int32 lane (one stream group), the width every lane operand is worked at; the
#: shared multiplier is WORD x WORD.
WORD = 8 * GROUP

#: Fraction bits of requant's fixed-point multiplier (Q0.31): the width of its field.
_MUL_FRACTION = op_named("requant").field("mul").width

#: Units with their natural register stages.
UNITS = {"alu": 1, "mul8": 2, "mul32": 2, "requant": 4, "mulq": 2, "rshr": 2}

_UNIT_OF = {"mul.i8": "mul8", "mul.i32": "mul32", "requant": "requant",
            "requant.relu": "requant", "requant.v": "requant", "requant.v.relu": "requant",
            "mulq.i32": "mulq", "rshr.i32": "rshr", "requant.s": "requant",
            "requant.s.relu": "requant", "requant.s.v": "requant", "requant.s.v.relu": "requant"}

#: The units that read the shared product.
_MULTIPLYING_UNITS = ("mul8", "mul32", "requant", "mulq")


def built_ops(config: CoreConfig) -> list[Op]:
    """The VXM ops ``config``'s ALUs build (its ``vxm_ops``, or all)."""
    return [op for op in VXM_OPS if config.builds(op)]


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

    Every op sees its operands as 32-bit values: an int8 operand sign-extended, an int32 one
    as it is. An int8 op's result is the low byte of the same 32-bit computation (wrapping
    add, compare, shift by ``b mod 8``, ...), so the i8 and i32 forms of an op share one
    circuit per lane instead of two.

    Members
    -------
    a, b : per lane, operand a / b (32 bits; b is the immediate when the op has one).
    m : per lane, the multiplier's second operand (b, or requant's fixed-point multiplier).
    d : the destination stream or group code.
    narrow : the op works on int8 (shift amounts are taken mod 8).
    """

    def __init__(self, m: Module, config: CoreConfig, port, east, west):
        word = port.instr
        ops = built_ops(config)
        self.issue = port.issue
        self.opcode = opcode_of(word)

        def field(name, sig_name, among=ops):
            """The field ``name`` of the ops that have it; 0 where none of them is built."""
            if any(op.has(name) for op in among):
                return decode_field(m, word, among, name, sig_name=sig_name)
            return Const(0, next(op.field(name).width for op in VXM_OPS if op.has(name)))

        a = field("a", "a_code")
        b = field("b", "b_opnd")
        self.d = field("d", "d_code")
        mul = field("mul", "rq_mul")
        self.shift = field("shift", "rq_shift")
        self.zp = field("zp", "rq_zp")
        # requant.v's and requant.s.v's b is a plain group field (no immediate): the per-lane
        # multipliers
        per_lane_ops = [op for op in ops if op.mnemonic.startswith("requant") and op.has("b")]
        m_code = field("b", "m_code", per_lane_ops)

        wide_a, wide_b, per_lane, scalar_mul = (Signal(name=n) for n in (
            "wide_a", "wide_b", "per_lane", "scalar_mul"))
        self.narrow = Signal(name="narrow")
        with m.Switch(self.opcode):
            for op in ops:
                with m.Case(op.opcode):
                    m.d.comb += [
                        wide_a.eq(_is_wide(op, "a")),
                        wide_b.eq(op.has("b") and _is_wide(op, "b")),
                        self.narrow.eq(op.mnemonic.endswith(".i8")),
                        per_lane.eq(op in per_lane_ops),
                        scalar_mul.eq(op.has("mul")),
                    ]

        # b is an immediate or a stream (hw/machine/isa.py, "the encoding of operands"). An op
        # reads one stream or group per operand, so each operand is one group choice, and an
        # int8 operand is the byte of the group that its code's two low bits name.
        b_imm, imm = b[IMMEDIATE_BIT], b[OPERAND_VALUE]
        b_code = Mux(per_lane, m_code, b[OPERAND_STREAM])
        lanes = config.lanes
        a_grp = select_group(m, config, east, west, a, name="a_grp")
        b_grp = select_group(m, config, east, west, b_code, name="b_grp")
        a_byte, b_byte = _byte_of(m, a_grp, a, "a_byte"), _byte_of(m, b_grp, b_code, "b_byte")
        a8, a32 = lane_bytes(a_byte, lanes), group_lanes(a_grp, lanes)
        b8, b32 = lane_bytes(b_byte, lanes), group_lanes(b_grp, lanes)
        self.a, self.b, self.m = [], [], []
        for i in range(lanes):
            ai, bi, mi = (Signal(WORD, name=f"{n}{i}") for n in ("opa", "opb", "opm"))
            m.d.comb += [
                ai.eq(Mux(wide_a, a32[i], a8[i].as_signed())),
                bi.eq(Mux(wide_b, Mux(b_imm, imm, b32[i]),
                          Mux(b_imm, imm[:8], b8[i]).as_signed())),
                # requant: a fixed-point multiplier 0 .. 2^31-1, from the word or from b
                mi.eq(Mux(scalar_mul, mul, Mux(per_lane, b32[i][:len(mul)], bi))),
            ]
            self.a.append(ai)
            self.b.append(bi)
            self.m.append(mi)

    def registered(self, m: Module) -> _Operands:
        """The same operands one cycle later, through a register (the ``vxm_operands`` pipeline
        stage): what the units compute from then comes from flip-flops, not from the decode and
        the stream multiplexers of the issue cycle."""
        later = object.__new__(_Operands)
        for name in ("issue", "opcode", "d", "shift", "zp", "narrow"):
            later.__dict__[name] = delay(m, getattr(self, name), 1, name=f"op_{name}")
        for name in ("a", "b", "m"):
            later.__dict__[name] = [delay(m, v, 1, name=f"op_{name}{i}")
                                    for i, v in enumerate(getattr(self, name))]
        return later


def _byte_of(m: Module, group: list, code, name: str) -> Signal:
    """The stream of ``group`` that ``code``'s two low bits name."""
    out = Signal(len(group[0]), name=name)
    with m.Switch(code[:2]):
        for k, stream in enumerate(group):
            with m.Case(k):
                m.d.comb += out.eq(stream)
    return out


# --- the one-stage ops: five circuits per lane, steered by a decode shared by all lanes --------

#: One-stage op -> (result, control bits that are set). ``arith`` is one adder,
#: x + (y ^ inv) + inv with x = a or 0 and y = b or a, which makes add, sub, neg, abs, relu and
#: mov; ``pick`` chooses a or b by one comparison (max, min); ``logic`` is one LUT a bit;
#: ``shift`` is one right shifter that shifts left on a bit-reversed operand; ``sat8``
#: saturates to int8 (cvt.i32.i8).
_ALU_CONTROL = {
    "add": ("arith", {"x_a", "y_b"}), "sub": ("arith", {"x_a", "y_b", "inv"}),
    "neg": ("arith", {"inv"}), "abs": ("arith", {"abs"}), "relu": ("arith", {"relu"}),
    "mov": ("arith", set()), "cvt": ("arith", set()),
    "max": ("pick", set()), "min": ("pick", {"min"}),
    "and": ("logic", set()), "or": ("logic", {"f0"}), "xor": ("logic", {"f1"}),
    "shl": ("shift", {"left"}), "sra": ("shift", set()), "sat8": ("sat8", set()),
}
_RESULTS = ("arith", "pick", "logic", "shift", "sat8")
_CONTROLS = ("x_a", "y_b", "inv", "abs", "relu", "min", "f0", "f1", "left")


def _alu_kind(op: Op) -> str:
    if op.mnemonic == "cvt.i8.i32":
        return "cvt"   # a is already sign-extended
    if op.mnemonic == "cvt.i32.i8":
        return "sat8"
    return op.mnemonic.split(".")[0]


def _alu_lane(c: dict, a, b, narrow):
    """The one-stage result on one lane from 32-bit operands (an int8 op keeps the low byte)."""
    sa, sb = a.as_signed(), b.as_signed()
    negative = a[WORD - 1]
    x = Mux(c["x_a"], a, 0)
    inv = c["inv"] | (c["abs"] & negative)
    y = Mux(c["y_b"], b, Mux(c["relu"] & negative, 0, a))
    arith = (x + (y ^ inv.replicate(WORD)) + inv)[:WORD]
    pick = Mux((sa > sb) ^ c["min"], a, b)
    logic = Mux(c["f1"], a ^ b, Mux(c["f0"], a | b, a & b))
    amount = Mux(narrow, b[:ceil_log2(8)], b[:ceil_log2(WORD)])  # b mod width
    source = Mux(c["left"], a[::-1], a)
    shifted = (Cat(source, ~c["left"] & negative).as_signed() >> amount)[:WORD]
    shift = Mux(c["left"], shifted[::-1], shifted)
    return {"arith": arith, "pick": pick, "logic": logic, "shift": shift, "sat8": _sat8(sa)}


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
        timing = cfg.timing
        opnd = _Operands(m, cfg, self.port, self.east, self.west)
        if timing.extra("vxm_operands"):
            opnd = opnd.registered(m)
        ops = built_ops(cfg)
        self._product = []
        if any(unit_of(op) in _MULTIPLYING_UNITS for op in ops):
            for i in range(cfg.lanes):
                prod = Signal(signed(2 * WORD), name=f"prod{i}")
                m.d.sync += prod.eq(opnd.a[i].as_signed() * opnd.m[i].as_signed())
                # the vxm_product stage: a second register, which a DSP block's output
                # register can take
                self._product.append(delay(m, prod, timing.extra("vxm_product"),
                                           name=f"prod{i}_out"))

        # --- one result path per (unit, latency) ------------------------------------------
        paths = {}
        for op in ops:
            paths.setdefault((unit_of(op), timing.latency(op)), []).append(op)
        results = []
        for (unit, lat), unit_ops in paths.items():
            stages = self._stages(unit)
            assert stages <= lat, f"{unit} has {stages} stages, more than latency {lat}"
            name = f"{unit}_l{lat}"
            valid, dest, wide, lanes = self._path(m, unit, unit_ops, opnd, name)
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
        with m.If(opnd.issue), m.Switch(opnd.opcode):
            for op in ops:
                with m.Case(op.opcode):
                    m.d.comb += [valid.eq(1), wide.eq(_is_wide(op, "d"))]
        stages = self._stages(unit) - self._config.timing.extra("vxm_operands")
        lanes = getattr(self, f"_unit_{unit}")(m, ops, opnd, name)
        return (delay(m, valid, stages, name=f"{name}_v"), delay(m, opnd.d, stages,
                name=f"{name}_d"), delay(m, wide, stages, name=f"{name}_w"), lanes)

    def _stages(self, unit: str) -> int:
        """Register stages of ``unit`` from the issue: its own, the operand register and, for
        the multiplying units, the product's second register, as the pipeline has them."""
        timing = self._config.timing
        product = timing.extra("vxm_product") if unit in _MULTIPLYING_UNITS else 0
        return UNITS[unit] + timing.extra("vxm_operands") + product

    # --- units: each returns per-lane results registered after UNITS[unit] stages -------------

    def _unit_alu(self, m, ops, opnd, name):
        control = {c: Signal(name=f"{name}_{c}") for c in _CONTROLS}
        result = Signal(range(len(_RESULTS)), name=f"{name}_result")
        with m.Switch(opnd.opcode):
            for op in ops:
                kind, bits = _ALU_CONTROL[_alu_kind(op)]
                with m.Case(op.opcode):
                    m.d.comb += [result.eq(_RESULTS.index(kind)),
                                 *(control[c].eq(1) for c in bits)]
        out = []
        for i in range(self._config.lanes):
            values = _alu_lane(control, opnd.a[i], opnd.b[i], opnd.narrow)
            res = Signal(WORD, name=f"{name}_r{i}")
            with m.Switch(result):
                for k, kind in enumerate(_RESULTS):
                    with m.Case(k):
                        m.d.sync += res.eq(values[kind])
            out.append(res)
        return out

    # The multiplying units share one signed 32x32 product per lane (``self._product``),
    # registered in their first stage: mul.i8 keeps its low byte, mul.i32 its low word,
    # requant its rounded high half.

    def _unit_mul8(self, m, ops, opnd, name):
        return self._product_low(m, 8, name)

    def _unit_mul32(self, m, ops, opnd, name):
        return self._product_low(m, WORD, name)

    def _product_low(self, m, bits: int, name: str) -> list:
        """The low ``bits`` of each lane's product, registered."""
        out = []
        for i, prod in enumerate(self._product):
            reg = Signal(WORD, name=f"{name}_r{i}")
            m.d.sync += reg.eq(prod[:bits])
            out.append(reg)
        return out

    def _unit_requant(self, m, ops, opnd, name):
        """gemmlowp requantisation in four stages: the 32x31 product; the rounding doubling
        high half; the rounding right shift; the zero point, clamp and optional ReLU.
        requant.s (if built) rounds the product once by 31 + shift in stage 2 instead and
        passes stage 3."""
        relu = Signal(name=f"{name}_relu")
        single = Signal(name=f"{name}_single")
        built_single = any(op.mnemonic.startswith("requant.s") for op in ops)
        with m.Switch(opnd.opcode):
            for op in ops:
                with m.Case(op.opcode):
                    m.d.comb += relu.eq(op.mnemonic.endswith(".relu"))
                    if built_single:
                        m.d.comb += single.eq(op.mnemonic.startswith("requant.s"))
        # requant.s rounds the product once in stage 2 and passes stage 3; the shift is used
        # in stage 2 (requant.s) or 3, the zero point and ReLU flag in stage 4
        late = self._config.timing.extra("vxm_product")  # the product comes a cycle later
        if built_single:
            shift2 = delay(m, opnd.shift, 1 + late, name=f"{name}_shift2")
            single2 = delay(m, single, 1 + late, name=f"{name}_single2")
            single3 = delay(m, single2, 1, name=f"{name}_single3")
        shift3 = delay(m, opnd.shift, 2 + late, name=f"{name}_shift")
        zp4 = delay(m, opnd.zp.as_signed(), 3 + late, name=f"{name}_zp")
        relu4 = delay(m, relu, 3 + late, name=f"{name}_relu")
        out = []
        for i, prod in enumerate(self._product):
            # stage 1: a * mul, exact (mul is 0 .. 2^31-1), the shared product
            # stage 2: (a*mul + nudge) / 2^31 truncated, which equals floor((a*mul + 2^30) / 2^31)
            high = Signal(signed(WORD), name=f"{name}_high{i}")
            doubled = (prod + (1 << (_MUL_FRACTION - 1))) >> _MUL_FRACTION
            if built_single:
                half = Const(1, 2 * WORD) << (shift2 + (_MUL_FRACTION - 1))
                once = (prod + half) >> (shift2 + _MUL_FRACTION)
                m.d.sync += high.eq(Mux(single2, once, doubled))
            else:
                m.d.sync += high.eq(doubled)
            # stage 3: RoundingDivideByPOT(high, shift), half away from zero
            q = Signal(signed(WORD), name=f"{name}_q{i}")
            mask = (Const(1, WORD + 1) << shift3) - 1
            rem = high & mask
            threshold = (mask >> 1) + (high < 0)
            rounded = (high >> shift3) + (rem > threshold)
            m.d.sync += q.eq(Mux(single3, high, rounded) if built_single else rounded)
            # stage 4: zero point, clamp, fused ReLU (max with zp)
            res = Signal(WORD, name=f"{name}_r{i}")
            clamped = _sat8(q + zp4)
            m.d.sync += res.eq(Mux(relu4 & (clamped < zp4), zp4, clamped))
            out.append(res)
        return out

    def _unit_mulq(self, m, ops, opnd, name):
        """SaturatingRoundingDoublingHighMul: the shared product, then its rounded high half;
        only (-2^31)^2 overflows, to 2^31, and saturates."""
        out = []
        for i, prod in enumerate(self._product):
            high = (prod + (1 << (WORD - 2))) >> (WORD - 1)
            res = Signal(WORD, name=f"{name}_r{i}")
            m.d.sync += res.eq(Mux(high > (1 << (WORD - 1)) - 1, (1 << (WORD - 1)) - 1, high))
            out.append(res)
        return out

    def _unit_rshr(self, m, ops, opnd, name):
        """RoundingDivideByPOT by b mod 32: the arithmetic shift and its rounding bit, then the
        increment, one stage each."""
        out = []
        for i in range(self._config.lanes):
            a = opnd.a[i].as_signed()
            amount = opnd.b[i][:ceil_log2(WORD)]
            mask = (Const(1, WORD + 1) << amount) - 1
            q = Signal(signed(WORD), name=f"{name}_q{i}")
            up = Signal(name=f"{name}_up{i}")
            m.d.sync += [q.eq(a >> amount),
                         up.eq((a & mask) > ((mask >> 1) + (a < 0)))]
            res = Signal(WORD, name=f"{name}_r{i}")
            m.d.sync += res.eq(q + up)
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
