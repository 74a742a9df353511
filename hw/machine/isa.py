"""The instruction set, declared once.

Every instruction word is 64 bits: an 8-bit opcode in bits [7:0], then the instruction's fields
packed upward from bit 8 in the order they are declared here. Opcodes are per queue role, with
the ICU opcodes (``halt``, ``nop``, ``repeat``) shared by every queue. The RTL decoders, the
assembler, the disassembler, the golden model and ``docs/isa.md`` are all derived from the
tables in this module; latencies live in :mod:`conveyor.hw.machine.timing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import CoreConfig

__all__ = [
    "GROUP",
    "IMMEDIATE_BIT",
    "MAX_WINDOW",
    "OPCODE_BITS",
    "OPERAND_STREAM",
    "OPERAND_VALUE",
    "OPS",
    "ROLES",
    "STREAM_BITS",
    "STREAM_DIR_BIT",
    "STREAM_INDEX_BITS",
    "STREAM_KINDS",
    "WINDOW_BASE",
    "WINDOW_EXTRA",
    "WORD_BITS",
    "Field",
    "Instr",
    "Op",
    "Stream",
    "check_value",
    "decode",
    "encode",
    "op_named",
    "ops_for_role",
    "value_range",
]

WORD_BITS = 64
OPCODE_BITS = 8

#: Queue roles (see :class:`conveyor.hw.machine.config.Queue`) and the slice kind each belongs to.
ROLES = {"mem": "mem", "mem.rd": "mem", "mem.wr": "mem", "vxm": "vxm",
         "mxm.w": "mxm", "mxm.mm": "mxm", "mxm.acc": "mxm", "sxm": "sxm"}

#: Most byte streams one instruction takes at once (``lw``'s window).
MAX_WINDOW = 4

#: An int32 value travels on a group of 4 consecutive streams, byte 0 on the lowest.
GROUP = 4

# --- the encoding of operands --------------------------------------------------------------
# A stream operand is 6 bits: the index in bits 4:0, the direction in bit 5 (1 = west). An
# operand that may be an immediate (``opnd8``, ``opnd32``) sets bit 0 for an immediate, whose
# value is in bits 32:1; with bit 0 clear, bits 6:1 are a stream. A window (``lw``) is a stream
# in bits 5:0 and the number of streams less one in bits 7:6. The RTL slices instruction
# fields with these constants (Python slices work on Amaranth values), as _pack and _unpack do.

#: Bits of a stream index; a config has at most 2**STREAM_INDEX_BITS streams per direction.
STREAM_INDEX_BITS = 5
#: The direction bit of a stream operand (set: westward).
STREAM_DIR_BIT = STREAM_INDEX_BITS
#: Bits of a stream operand.
STREAM_BITS = STREAM_INDEX_BITS + 1
#: The bit of an ``opnd`` field that marks an immediate.
IMMEDIATE_BIT = 0
#: The stream of an ``opnd`` field that holds one (bit IMMEDIATE_BIT clear).
OPERAND_STREAM = slice(IMMEDIATE_BIT + 1, IMMEDIATE_BIT + 1 + STREAM_BITS)
#: The immediate of an ``opnd`` field (bit IMMEDIATE_BIT set), 32 bits.
OPERAND_VALUE = slice(IMMEDIATE_BIT + 1, IMMEDIATE_BIT + 33)
#: A window field: its first stream, and the number of streams less one.
WINDOW_BASE = slice(0, STREAM_BITS)
WINDOW_EXTRA = slice(STREAM_BITS, STREAM_BITS + (MAX_WINDOW - 1).bit_length())


@dataclass(frozen=True)
class Stream:
    """A stream operand: direction ``"e"`` (eastward) or ``"w"`` (westward), index, and
    width: 1 (one byte stream), 4 (an int32 stream group whose base is ``index``), or 1..4 for
    a *window* of consecutive byte streams (``lw``)."""

    dir: str
    index: int
    width: int = 1

    def __str__(self) -> str:
        return f"{self.dir}{self.index}" + (f":{self.width}" if self.width > 1 else "")

    @property
    def bits(self) -> int:
        """The 6-bit encoding: the direction in bit STREAM_DIR_BIT (1 = west), the index below."""
        return (self.dir == "w") << STREAM_DIR_BIT | self.index

    @classmethod
    def from_bits(cls, bits: int, width: int = 1) -> Stream:
        west = bits >> STREAM_DIR_BIT & 1
        return cls("w" if west else "e", bits & ((1 << STREAM_INDEX_BITS) - 1), width)

    def lanes_of(self) -> range:
        """The stream indices this operand covers."""
        return range(self.index, self.index + self.width)


# --- fields -------------------------------------------------------------------------------

#: Field kinds: their width in the word and what they hold.
FIELD_KINDS = {
    "stream": (STREAM_BITS, "a byte stream, `e<n>` or `w<n>`"),
    "group": (STREAM_BITS, "an int32 stream group, `e<n>:4` or `w<n>:4`, n a multiple of 4"),
    "addr": (16, "a MEM word address, 0 to mem_depth - 1"),
    "opnd8": (33, "a byte stream or an int8 immediate (-128..127); bit 0 set = immediate"),
    "opnd32": (33, "an int32 stream group or an int32 immediate; bit 0 set = immediate"),
    "count": (16, "an unsigned count, 1..65535"),
    "wait": (32, "an unsigned cycle count, 1..2^32-1"),
    "stride": (16, "a signed address step, -32768..32767"),
    "mult": (31, "a fixed-point multiplier, 0..2^31-1 (Q0.31: value / 2^31)"),
    "shift": (5, "a right shift, 0..31"),
    "zp": (8, "an int8 zero point, -128..127"),
    "window": (WINDOW_EXTRA.stop, "1 to 4 consecutive byte streams, `e<n>` or `e<n>:k` (k = 1..4)"),
    "lane": (10, "a lane, row or column index, 0..lanes-1"),
    "acc": (16, "an MXM accumulator row, 0..acc_depth-1"),
    "lshift": (11, "a signed lane count, -(lanes-1)..lanes-1"),
}

#: Field kinds that name streams.
STREAM_KINDS = ("stream", "group", "window")


@dataclass(frozen=True)
class Field:
    """One operand field of an instruction word."""

    name: str
    kind: str
    lo: int = 0  # first bit in the word; set by Op

    @property
    def width(self) -> int:
        return FIELD_KINDS[self.kind][0]

    @property
    def hi(self) -> int:
        return self.lo + self.width - 1


def value_range(kind: str) -> tuple[int, int]:
    """The values a numeric field of ``kind`` holds that do not depend on the config."""
    return {"count": (1, 65535), "wait": (1, (1 << 32) - 1), "stride": (-32768, 32767),
            "mult": (0, (1 << 31) - 1), "shift": (0, 31), "zp": (-128, 127),
            "opnd8": (-128, 127), "opnd32": (-(1 << 31), (1 << 31) - 1)}[kind]


def check_value(kind: str, value, config: CoreConfig) -> str | None:
    """Why ``value`` does not fit a field of ``kind`` on ``config``, or None if it does."""
    if kind == "window":
        if not isinstance(value, Stream):
            return f"expected a stream, got {value!r}"
        if not 1 <= value.width <= MAX_WINDOW:
            return f"a stream window takes 1 to {MAX_WINDOW} streams, not {value.width}"
        if value.index + value.width > config.streams:
            return (f"streams {value} reach beyond this config's {config.streams} streams per "
                    f"direction (0..{config.streams - 1})")
        return None
    if kind in ("stream", "group") or (kind.startswith("opnd") and isinstance(value, Stream)):
        if not isinstance(value, Stream):
            return f"expected a stream, got {value!r}"
        want = 4 if kind in ("group", "opnd32") else 1
        if value.width != want:
            return (f"expected an int32 stream group like {value.dir}{value.index}:4, "
                    f"got {value}" if want == 4 else
                    f"expected a single byte stream, got the group {value}")
        if value.index + value.width > config.streams:
            return (f"stream {value} is beyond this config's {config.streams} streams per "
                    f"direction (0..{config.streams - 1})")
        if want == 4 and value.index % GROUP:
            return f"an int32 stream group must start at a multiple of {GROUP}, not {value}"
        return None
    if isinstance(value, Stream) or not isinstance(value, int):
        return f"expected a number, got {value}"
    if kind == "addr":
        if not 0 <= value < config.mem_depth:
            return f"address {value} is out of range 0..{config.mem_depth - 1}"
        return None
    if kind == "acc":
        if not 0 <= value < config.acc_depth:
            return f"accumulator row {value} is out of range 0..{config.acc_depth - 1}"
        return None
    if kind == "lane":
        if not 0 <= value < config.lanes:
            return f"lane {value} is out of range 0..{config.lanes - 1}"
        return None
    if kind == "lshift":
        if not -config.lanes < value < config.lanes:
            return f"lane count {value} is out of range {1 - config.lanes}..{config.lanes - 1}"
        return None
    lo, hi = value_range(kind)
    if not lo <= value <= hi:
        return f"value {value} is out of range {lo}..{hi}"
    return None


def _bits(raw: int, part: slice) -> int:
    """Bits ``part`` of ``raw``, as the RTL's ``value[part]`` takes them."""
    return raw >> part.start & ((1 << (part.stop - part.start)) - 1)


def _pack(f: Field, value) -> int:
    if f.kind in ("stream", "group"):
        return value.bits
    if f.kind == "window":
        return (value.width - 1) << WINDOW_EXTRA.start | value.bits << WINDOW_BASE.start
    if f.kind.startswith("opnd"):
        if isinstance(value, Stream):
            return value.bits << OPERAND_STREAM.start
        width = OPERAND_VALUE.stop - OPERAND_VALUE.start
        return (value & ((1 << width) - 1)) << OPERAND_VALUE.start | 1 << IMMEDIATE_BIT
    return value & ((1 << f.width) - 1)


def _unpack(f: Field, raw: int):
    if f.kind == "stream":
        return Stream.from_bits(raw)
    if f.kind == "group":
        return Stream.from_bits(raw, GROUP)
    if f.kind == "window":
        return Stream.from_bits(_bits(raw, WINDOW_BASE), _bits(raw, WINDOW_EXTRA) + 1)
    if f.kind.startswith("opnd"):
        if not raw >> IMMEDIATE_BIT & 1:
            width = GROUP if f.kind == "opnd32" else 1
            return Stream.from_bits(_bits(raw, OPERAND_STREAM), width)
        raw = _bits(raw, OPERAND_VALUE)
        return raw - (1 << 32) if raw >> 31 else raw
    if f.kind in ("stride", "zp", "lshift"):
        return raw - (1 << f.width) if raw >> (f.width - 1) else raw
    return raw


# --- instructions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One instruction.

    Members
    -------
    mnemonic : assembly name, e.g. ``add.i8``.
    opcode : value of bits [7:0].
    roles : queue roles that accept it (all roles for ICU ops).
    syntax : operand template for assembly; ``{name}`` stands for a field, ``[, relu]``-style
        optional parts are not used: every variant is its own opcode.
    fields : operand fields, packed upward from bit 8.
    reads, writes : names of the fields that are stream operands read and written.
    address : the field that ``repeat``'s stride steps, or None.
    doc : one-line meaning, for docs/isa.md.
    """

    mnemonic: str
    opcode: int
    roles: tuple[str, ...]
    syntax: str
    fields: tuple[Field, ...]
    doc: str
    address: str | None = None
    kind: str = field(default="")  # "icu", "mem", "vxm", "mxm" or "sxm"

    @cached_property
    def reads(self) -> tuple[str, ...]:
        """Fields naming streams the instruction reads (immediates are skipped at run time)."""
        return tuple(f.name for f in self.fields
                     if f.kind in (*STREAM_KINDS, "opnd8", "opnd32") and f.name != "d")

    @cached_property
    def writes(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.name == "d")

    def has(self, name: str) -> bool:
        """The op has a field called ``name``."""
        return any(f.name == name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _op(mnemonic, opcode, roles, syntax, fields, doc, address=None, kind="") -> Op:
    placed, lo = [], OPCODE_BITS
    for name, fkind in fields:
        placed.append(Field(name, fkind, lo))
        lo += FIELD_KINDS[fkind][0]
    assert lo <= WORD_BITS, f"{mnemonic} needs {lo} bits"
    return Op(mnemonic, opcode, tuple(roles), syntax, tuple(placed), doc, address, kind)


_ALL = tuple(ROLES)
_MEM_RD = ("mem", "mem.rd")
_MEM_WR = ("mem", "mem.wr")
_VXM = ("vxm",)

_ICU = [
    _op("halt", 0, _ALL, "", [], "stop this queue; the core is done when every queue has "
        "halted and no result is still in flight", kind="icu"),
    _op("nop", 1, _ALL, "{n}", [("n", "wait")], "issue nothing for n cycles", kind="icu"),
    _op("repeat", 2, _ALL, "{n}, {d}, {stride}",
        [("n", "count"), ("d", "count"), ("stride", "stride")],
        "issue the previous instruction n more times, one every d cycles, adding stride to "
        "its address each time (stride may be omitted: 0)", kind="icu"),
]

_MEM = [
    _op("read", 8, _MEM_RD, "{addr} -> {d}", [("addr", "addr"), ("d", "stream")],
        "put word addr of this slice on stream d at this position", address="addr",
        kind="mem"),
    _op("write", 9, _MEM_WR, "{s} -> {addr}", [("s", "stream"), ("addr", "addr")],
        "capture the value of stream s at this position into word addr", address="addr",
        kind="mem"),
]

#: Lane-wise binary VXM ops and their meaning (a, b -> d).
BINARY = {
    "add": "a + b, wrapping",
    "sub": "a - b, wrapping",
    "mul": "a * b, low half (wrapping)",
    "max": "larger of a and b (signed)",
    "min": "smaller of a and b (signed)",
    "and": "bitwise and",
    "or": "bitwise or",
    "xor": "bitwise exclusive or",
    "shl": "a shifted left by (b mod width) bits",
    "sra": "a shifted right arithmetically by (b mod width) bits",
}

#: Lane-wise unary VXM ops (a -> d).
UNARY = {
    "mov": "a (copy; turns a value onto another stream or direction)",
    "relu": "max(a, 0)",
    "neg": "-a, wrapping (-(-128) = -128)",
    "abs": "|a|, wrapping (|-128| = -128)",
}


def _vxm_ops() -> list[Op]:
    ops = []
    for t, (base_bin, base_un, grp, opnd) in {
        "i8": (16, 48, "stream", "opnd8"), "i32": (32, 56, "group", "opnd32"),
    }.items():
        for k, (name, doc) in enumerate(BINARY.items()):
            ops.append(_op(f"{name}.{t}", base_bin + k, _VXM, "{a}, {b} -> {d}",
                           [("a", grp), ("b", opnd), ("d", grp)], f"{t}: {doc}", kind="vxm"))
        for k, (name, doc) in enumerate(UNARY.items()):
            ops.append(_op(f"{name}.{t}", base_un + k, _VXM, "{a} -> {d}",
                           [("a", grp), ("d", grp)], f"{t}: {doc}", kind="vxm"))
    ops += [
        _op("cvt.i8.i32", 64, _VXM, "{a} -> {d}", [("a", "stream"), ("d", "group")],
            "sign-extend int8 to int32", kind="vxm"),
        _op("cvt.i32.i8", 65, _VXM, "{a} -> {d}", [("a", "group"), ("d", "stream")],
            "int32 to int8, saturating to -128..127", kind="vxm"),
    ]
    rq_fields = [("a", "group"), ("d", "stream"), ("mul", "mult"), ("shift", "shift"),
                 ("zp", "zp")]
    rq_syntax = "{a} -> {d}, mul={mul}, shift={shift}, zp={zp}"
    ops += [
        _op("requant", 72, _VXM, rq_syntax, rq_fields,
            "int32 to int8: zp + RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(a, mul), "
            "shift), saturated to -128..127 (TFLite/gemmlowp)", kind="vxm"),
        _op("requant.relu", 73, _VXM, rq_syntax, rq_fields,
            "requant, then max(result, zp): ReLU fused in the quantised domain", kind="vxm"),
        # one rounding of the whole product (TFLITE_SINGLE_ROUNDING, LiteRT's FULLY_CONNECTED)
        _op("requant.s", 78, _VXM, rq_syntax, rq_fields,
            "int32 to int8, rounded once: zp + ((a*mul + 2^(30+shift)) >> (31+shift)), "
            "saturated to -128..127", kind="vxm"),
        _op("requant.s.relu", 79, _VXM, rq_syntax, rq_fields,
            "requant.s, then max(result, zp)", kind="vxm"),
    ]
    # Per-lane multipliers (per-output-channel quantisation): lane j's multiplier is the low 31
    # bits of lane j of b, an int32 stream group.
    rqv_fields = [("a", "group"), ("b", "group"), ("d", "stream"), ("shift", "shift"),
                  ("zp", "zp")]
    rqv_syntax = "{a}, {b} -> {d}, shift={shift}, zp={zp}"
    ops += [
        _op("requant.v", 74, _VXM, rqv_syntax, rqv_fields,
            "requant with lane j's multiplier the low 31 bits of b[j] (per-channel scales)",
            kind="vxm"),
        _op("requant.v.relu", 75, _VXM, rqv_syntax, rqv_fields,
            "requant.v, then max(result, zp)", kind="vxm"),
        # both: onnxruntime's per-channel QLinearConv/QLinearMatMul round once
        _op("requant.s.v", 82, _VXM, rqv_syntax, rqv_fields,
            "requant.s with lane j's multiplier the low 31 bits of b[j]", kind="vxm"),
        _op("requant.s.v.relu", 83, _VXM, rqv_syntax, rqv_fields,
            "requant.s.v, then max(result, zp)", kind="vxm"),
    ]
    # gemmlowp's two fixed-point primitives on their own, int32 to int32: with them a program
    # rescales by per-lane multipliers *and* shifts (TFLite's per-channel quantisation) and
    # keeps an int32 rescaled value (TFLite's ADD rescales each input before the sum).
    fx_fields = [("a", "group"), ("b", "opnd32"), ("d", "group")]
    ops += [
        _op("mulq.i32", 76, _VXM, "{a}, {b} -> {d}", fx_fields,
            "SaturatingRoundingDoublingHighMul(a, b): (a*b + 2^30) / 2^31 rounded half up, "
            "the one overflow (both -2^31) saturated to 2^31-1 (gemmlowp)", kind="vxm"),
        _op("rshr.i32", 77, _VXM, "{a}, {b} -> {d}", fx_fields,
            "RoundingDivideByPOT(a, b mod 32): a / 2^(b mod 32) rounded half away from zero "
            "(gemmlowp)", kind="vxm"),
    ]
    return ops


_MXM = [
    _op("lw", 80, ("mxm.w",), "{s} -> row[{row}]", [("s", "window"), ("row", "lane")],
        "load weight rows row, row+1, .. of the shadow buffer from the streams s (one row per "
        "stream, rows past lanes-1 are not written)", address="row", kind="mxm"),
    _op("iw", 81, ("mxm.w",), "", [],
        "install: copy the shadow buffer into the active weights, for mm issued from the next "
        "cycle on (the shadow keeps its rows)", kind="mxm"),
    _op("mm.set", 84, ("mxm.mm",), "{s} -> acc[{a}]", [("s", "stream"), ("a", "acc")],
        "acc[a] = x W: lane j gets the sum over rows i of x[i] * W[i][j] (int32), x the "
        "vector on stream s, W the active weights", address="a", kind="mxm"),
    _op("mm.add", 85, ("mxm.mm",), "{s} -> acc[{a}]", [("s", "stream"), ("a", "acc")],
        "acc[a] += x W, wrapping", address="a", kind="mxm"),
    _op("accrd", 88, ("mxm.acc",), "acc[{a}] -> {d}", [("a", "acc"), ("d", "group")],
        "put accumulator row a on the int32 stream group d", address="a", kind="mxm"),
]

_SXM_ = ("sxm",)
_SXM = [
    _op("shift", 96, _SXM_, "{s} -> {d}, {n}", [("s", "stream"), ("d", "stream"),
                                                  ("n", "lshift")],
        "lane j gets lane j - n of s, 0 where j - n is not a lane (n > 0 moves toward higher "
        "lanes)", kind="sxm"),
    _op("rotate", 97, _SXM_, "{s} -> {d}, {n}", [("s", "stream"), ("d", "stream"),
                                                   ("n", "lshift")],
        "lane j gets lane (j - n) mod lanes of s", kind="sxm"),
    _op("bcast", 98, _SXM_, "{s}[{i}] -> {d}", [("s", "stream"), ("i", "lane"),
                                                 ("d", "stream")],
        "every lane gets lane i of s", kind="sxm"),
    _op("permute", 99, _SXM_, "{s}, {m} -> {d}", [("s", "stream"), ("m", "stream"),
                                                  ("d", "stream")],
        "lane j gets lane m[j] of s (m[j] an unsigned byte; 0 if m[j] >= lanes)", kind="sxm"),
    _op("tr.in", 100, _SXM_, "{s} -> row[{row}]", [("s", "stream"), ("row", "lane")],
        "write s into row row of the transpose buffer", address="row", kind="sxm"),
    _op("tr.out", 101, _SXM_, "col[{col}] -> {d}", [("col", "lane"), ("d", "stream")],
        "lane j gets column col of row j of the transpose buffer: tr.in rows 0..L-1 then "
        "tr.out columns 0..L-1 turns an L x L tile", address="col", kind="sxm"),
]

#: Every instruction, in declaration order.
OPS: tuple[Op, ...] = tuple(_ICU + _MEM + _vxm_ops() + _MXM + _SXM)


def ops_for_role(role: str) -> dict[str, Op]:
    """Mnemonic -> Op for the instructions a queue of ``role`` accepts."""
    return {op.mnemonic: op for op in OPS if role in op.roles}


_BY_NAME = {op.mnemonic: op for op in OPS}


def op_named(mnemonic: str) -> Op | None:
    return _BY_NAME.get(mnemonic)


def _opcode_table() -> dict[tuple[str, int], Op]:
    table = {}
    for op in OPS:
        for role in op.roles:
            assert (role, op.opcode) not in table, f"opcode clash: {op.mnemonic}"
            table[role, op.opcode] = op
    return table


_BY_OPCODE = _opcode_table()


@dataclass(frozen=True)
class Instr:
    """One decoded instruction: an op and its field values (Stream or int)."""

    op: Op
    args: tuple[tuple[str, object], ...] = ()

    @cached_property
    def _by_name(self) -> dict:
        return dict(self.args)

    def __getitem__(self, name):
        return self._by_name[name]

    def get(self, name, default=None):
        return self._by_name.get(name, default)

    @classmethod
    def make(cls, mnemonic: str, **args) -> Instr:
        op = op_named(mnemonic)
        if op is None:
            raise KeyError(mnemonic)
        if op.mnemonic == "repeat":
            args.setdefault("stride", 0)
        if len(args) != len(op.fields):
            raise TypeError(f"{mnemonic} takes {[f.name for f in op.fields]}, got {list(args)}")
        return cls(op, tuple((f.name, args[f.name]) for f in op.fields))

    def __str__(self) -> str:
        text = self.op.syntax.format(**{k: v for k, v in self.args})
        if self.op.mnemonic == "repeat" and self["stride"] == 0:
            text = text.rsplit(",", 1)[0]
        return f"{self.op.mnemonic} {text}".rstrip()


def encode(instr: Instr) -> int:
    """Instruction -> 64-bit word."""
    word = instr.op.opcode
    for f in instr.op.fields:
        word |= _pack(f, instr[f.name]) << f.lo
    return word


def decode(word: int, role: str) -> Instr:
    """64-bit word -> Instruction, for a queue of ``role``. Raises ValueError if unknown."""
    op = _BY_OPCODE.get((role, word & ((1 << OPCODE_BITS) - 1)))
    if op is None:
        raise ValueError(f"opcode {word & 0xFF} is not an instruction of a {role} queue")
    args = tuple((f.name, _unpack(f, word >> f.lo & ((1 << f.width) - 1))) for f in op.fields)
    instr = Instr(op, args)
    if encode(instr) != word:
        raise ValueError(f"{op.mnemonic}: word {word:#018x} sets bits outside its fields")
    return instr
