"""The MXM slice: a weight-stationary L x L int8 matrix unit with int32 accumulators.

Three queues drive it. ``mxm.w`` loads weight rows into the *shadow* buffer (``lw``, up to
:data:`hw.isa.MAX_WINDOW` rows per cycle, one per stream) and installs the shadow buffer as the
*active* weights (``iw``). ``mxm.mm`` multiplies the vector on a stream by the active weights
and sets or adds the int32 product row into the accumulator memory (``mm.set``, ``mm.add``).
``mxm.acc`` puts an accumulator row on an int32 stream group (``accrd``).

The ``mm`` pipeline, for an ``mm`` issued in cycle t (latency("mm.set") = 4 with no extra
stages; the ``mxm_tree`` stage cuts the adder tree into three):

==========  =============================================================================
cycle       work
==========  =============================================================================
t           the stream cell is selected and registered (the operand stage)
t+1         the L x L products x[i] * A[i][j], registered: a plain signed multiply per
            product of the DSP columns (its operands come straight from registers, which
            a DSP block may absorb), LUT multipliers in the ``lutmul`` submodule for the
            last ``lut_columns`` columns
t+2, t+3    the column sums, an adder tree split over two register stages; in t+3 the
            accumulator's read-modify-write port is given the row
t+4         acc[a] <- y or acc[a] + y, written at the end of the cycle
==========  =============================================================================

Because the products are formed one cycle after the issue, the weight register they read
(``active``) takes the shadow buffer one cycle after an ``iw``: an ``mm`` issued in the ``iw``'s
cycle still multiplies by the old weights, one issued a cycle later by the new ones, as the
timing table says. Both accumulator read ports are transparent for the write port, so an
``mm.add`` sees the row that the ``mm`` one cycle ahead of it writes, and an ``accrd`` sees a
row written at the end of its own issue cycle; its synchronous read data drives the group in
cycle t + latency("accrd"), like a MEM ``read``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..machine.config import GROUP, CoreConfig, Slice
from ..machine.isa import MAX_WINDOW, STREAM_BITS, WINDOW_BASE, WINDOW_EXTRA, op_named
from ..machine.timing import Timing
from .mem import delay, queue_port_name
from .queue import IssueSignature, decode_field, opcode_of
from .streams import lane_bytes, select_stream, stream_codes, stream_ports

__all__ = ["MxmSlice"]

_LW = op_named("lw")
_IW = op_named("iw")
_MM_SET = op_named("mm.set")
_MM_ADD = op_named("mm.add")
_ACCRD = op_named("accrd")

#: Bits of an int8 weight or activation, of one product, and of an accumulator lane.
_BYTE = 8
_PRODUCT_BITS = 2 * _BYTE
_ACC_BITS = 32

#: Register stages of the ``mm`` pipeline before its accumulator write: the operand register,
#: the product register and the adder-tree registers (two, or three with the ``mxm_tree``
#: pipeline stage).
_OPERAND_STAGES = 1
_PRODUCT_STAGES = 1
_TREE_STAGES = 2

#: The shadow rows are registers written at the end of the ``lw``'s cycle.
_LW_STAGES = 1

#: The accumulator RAM's synchronous read port is the one stage of an ``accrd`` (two with the
#: ``ram_out`` pipeline stage: a register on its read data).
_RAM_READ_STAGES = 1

assert MAX_WINDOW == 1 << ceil_log2(MAX_WINDOW), "lw's window rotation needs a power of two"


def _tree_stages(timing: Timing) -> int:
    return _TREE_STAGES + timing.extra("mxm_tree")


def _check_timing(timing: Timing) -> None:
    """The latencies the timing table gives are the ones this pipeline makes."""
    assert timing.latency(_LW) == _LW_STAGES, "lw latency must be the shadow register's stage"
    # Cycles between an iw and the end of the cycle in which ``active`` takes the shadow: an mm
    # issued latency("iw") cycles after the iw reads ``active`` _OPERAND_STAGES cycles after its
    # own issue. ``active`` copies the shadow as it was in the iw's cycle: lw and iw share a
    # queue, so the shadow cannot change before the end of the cycle after the iw.
    iw_delay = timing.latency(_IW) + _OPERAND_STAGES - 1
    assert 0 <= iw_delay <= 1, f"iw latency {timing.latency(_IW)} cannot be met"
    assert timing.latency(_MM_SET) == timing.latency(_MM_ADD), "mm.set and mm.add: one pipeline"
    stages = _OPERAND_STAGES + _PRODUCT_STAGES + _tree_stages(timing)
    assert stages <= timing.latency(_MM_SET), (
        f"the mm pipeline has {stages} stages, more than latency {timing.latency(_MM_SET)}")
    assert _RAM_READ_STAGES <= timing.latency(_ACCRD), "accrd latency below the RAM's stage"


def _stage(m: Module, value, *, name: str, keep: bool = False) -> Signal:
    """``value`` through one data register. Data registers have no reset (a program never reads
    state it has not written), which leaves DSP blocks free to absorb them; ``keep`` stops Yosys
    from absorbing this one."""
    reg = Signal(value.shape(), name=name, reset_less=True, attrs={"keep": 1} if keep else {})
    m.d.sync += reg.eq(value)
    return reg


def _product(m: Module, x, w, *, name: str) -> Signal:
    """The registered int16 product of two int8 lanes (unsigned views).

    The register is kept out of the DSP block: Yosys 0.70's ``ice40_dsp`` pass, given two
    product registers feeding one adder, takes one of them as the output register of its own
    multiplier and as the C/D input register of the other, and drops that multiplier (a SAT
    miter of two registered products and their sum fails after ``synth_ice40 -dsp``, and passes
    with the product registers kept).
    """
    return _stage(m, x.as_signed() * w.as_signed(), name=name, keep=True)


def _field(word, op, name):
    f = op.field(name)
    return word[f.lo:f.lo + f.width]


def _adder_levels(m: Module, values: list, levels: int, *, name: str) -> list:
    """``levels`` levels of a pairwise adder tree over ``values`` (an odd one passes through).

    Every sum is a signal of its own marked ``keep``: otherwise Yosys merges the levels into
    one multi-operand ``$macc``, which it maps to carry-save adders in LUTs (on ECP5, one
    16-product column took 408 LUT4 and 46 CCU2C that way, 138 CCU2C as two-operand adders).
    """
    for level in range(levels):
        sums = []
        for k in range(0, len(values), 2):
            if k + 1 == len(values):
                sums.append(values[k])
                continue
            a, b = values[k], values[k + 1]
            total = Signal(signed(max(len(a), len(b)) + 1), name=f"{name}_l{level}_{k // 2}",
                           attrs={"keep": 1})
            m.d.comb += total.eq(a + b)
            sums.append(total)
        values = sums
    return values


class _LutMul(wiring.Component):
    """The products of the last ``columns`` weight columns, for multipliers built from LUTs.

    A separate module so that a board build can run Yosys's ``booth`` pass on it alone (the
    rest of the array maps to DSP blocks). It computes exactly what the DSP columns compute.

    Parameters
    ----------
    lanes : rows of the array (bytes per vector).
    columns : weight columns it holds.

    Members
    -------
    x : in, the activation vector (``8 * lanes`` bits, lane i in bits 8i+7:8i).
    w : in, ``[c]`` the weights of column c, row i in bits 8i+7:8i.
    p : out, ``[c]`` the registered products of column c, row i's int16 in bits 16i+15:16i.
    """

    def __init__(self, *, lanes: int, columns: int):
        self._lanes, self._columns = lanes, columns
        super().__init__({
            "x": In(_BYTE * lanes),
            "w": In(_BYTE * lanes).array(columns),
            "p": Out(_PRODUCT_BITS * lanes).array(columns),
        })

    def elaborate(self, platform):
        m = Module()
        xs = lane_bytes(self.x, self._lanes)
        for c in range(self._columns):
            ws = lane_bytes(self.w[c], self._lanes)
            m.d.comb += self.p[c].eq(Cat(*(_product(m, xs[i], ws[i], name=f"prod{i}_{c}")
                                           for i in range(self._lanes))))
        return m


class MxmSlice(wiring.Component):
    """One MXM slice.

    Parameters
    ----------
    config : the core geometry (``lanes``, ``streams``, ``acc_depth``).
    slice : which slice of ``config`` this is.
    lut_columns : how many of the L weight columns (the last ones) form their products in the
        ``lutmul`` submodule, for LUT multipliers, instead of with DSP-mapped multiplies.
        Behaviour is the same for every value, 0 to L.

    Members
    -------
    east, west : the slice's stream ports (:func:`hw.streams.stream_ports`).
    w : in, the ``mxm.w`` queue (``lw``, ``iw``).
    mm : in, the ``mxm.mm`` queue (``mm.set``, ``mm.add``).
    acc : in, the ``mxm.acc`` queue (``accrd``).
    """

    def __init__(self, *, config: CoreConfig, slice: Slice, lut_columns: int = 0):
        if slice.kind != "mxm":
            raise ValueError(f"MxmSlice needs a mxm slice, not {slice.name!r}")
        if (not isinstance(lut_columns, int) or isinstance(lut_columns, bool)
                or not 0 <= lut_columns <= config.lanes):
            raise ValueError(f"lut_columns must be an integer between 0 and {config.lanes}, "
                             f"not {lut_columns!r}")
        self._config, self._slice, self._lut_columns = config, slice, lut_columns
        roles = [q.role for q in config.queues if q.slice == slice]
        super().__init__({
            **stream_ports(config),
            **{queue_port_name(r): In(IssueSignature()) for r in roles},
        })

    @property
    def lut_columns(self) -> int:
        return self._lut_columns

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        _check_timing(cfg.timing)
        lanes = cfg.lanes
        shadow = [Signal(_BYTE * lanes, name=f"shadow{i}", reset_less=True)
                  for i in range(lanes)]
        # The weights the product stage multiplies by: the active weights of the cycle before.
        active = [Signal(_BYTE * lanes, name=f"active{i}", reset_less=True)
                  for i in range(lanes)]
        self._weights(m, shadow, active)
        y = self._products_and_sums(m, active)
        self._accumulators(m, y)
        return m

    # --- weights: lw into the shadow rows, iw into the active rows ---------------------------

    def _weights(self, m, shadow, active):
        cfg, port = self._config, self.w
        lanes = cfg.lanes
        opcode = opcode_of(port.instr)
        lw = Signal()
        iw = Signal()
        m.d.comb += [lw.eq(port.issue & (opcode == _LW.opcode)),
                     iw.eq(port.issue & (opcode == _IW.opcode))]
        window = _field(port.instr, _LW, "s")
        base = window[WINDOW_BASE]
        # Streams in the window, less one (the window field's top two bits).
        extra = window[WINDOW_EXTRA]
        # The first row: a valid lw names one of rows 0..lanes-1.
        row = Signal(range(lanes), name="lw_row")
        m.d.comb += row.eq(_field(port.instr, _LW, "row") + port.offset)
        # Row i takes stream (i - row) of the window. That index is (i - row) mod MAX_WINDOW,
        # so the window is rotated by row on the 6-bit stream codes, and row i always takes
        # rotated cell i mod MAX_WINDOW: no data multiplexer per row, only a write enable.
        slot_bits = ceil_log2(MAX_WINDOW)
        rotated = [select_stream(m, cfg, self.east, self.west,
                                 (base + (c - row)[:slot_bits])[:STREAM_BITS], name=f"lw_cell{c}")
                   for c in range(MAX_WINDOW)]
        for i in range(lanes):
            # rows past lanes-1 do not exist, so a window that runs past the last row loses them
            with m.If(lw & (row <= i) & (row + extra >= i)):
                m.d.sync += shadow[i].eq(rotated[i % MAX_WINDOW])

        install = delay(m, iw, cfg.timing.latency(_IW) + _OPERAND_STAGES - 1, name="iw")
        with m.If(install):
            m.d.sync += [a.eq(s) for a, s in zip(active, shadow)]

    # --- mm: operand, products, adder tree ---------------------------------------------------

    def _products_and_sums(self, m, active) -> list:
        """The registered column sums y[j] of the mm issued its pipeline's stages ago."""
        cfg, port = self._config, self.mm
        lanes = cfg.lanes
        mm_ops = [_MM_SET, _MM_ADD]
        s = decode_field(m, port.instr, mm_ops, "s", sig_name="mm_s")
        x_cell = select_stream(m, cfg, self.east, self.west, s, name="mm_cell")
        assert _OPERAND_STAGES == 1 and _PRODUCT_STAGES == 1, "stages are built below"
        x = _stage(m, x_cell, name="mm_x")
        xs = lane_bytes(x, lanes)

        # Products, by weight column j: products[j][i] = x[i] * active[i][j] (int16).
        weights = [lane_bytes(a, lanes) for a in active]  # weights[i][j]
        dsp_columns = lanes - self._lut_columns
        products = []
        for j in range(dsp_columns):
            column = []
            for i in range(lanes):
                column.append(_product(m, xs[i], weights[i][j], name=f"prod{i}_{j}"))
            products.append(column)
        if self._lut_columns:
            m.submodules.lutmul = lutmul = _LutMul(lanes=lanes, columns=self._lut_columns)
            m.d.comb += lutmul.x.eq(x)
            for c in range(self._lut_columns):
                j = dsp_columns + c
                m.d.comb += lutmul.w[c].eq(Cat(*(weights[i][j] for i in range(lanes))))
                products.append([lutmul.p[c][_PRODUCT_BITS * i:_PRODUCT_BITS * (i + 1)]
                                 .as_signed() for i in range(lanes)])

        # Adder tree: ceil(log2 L) levels cut into the tree's register stages, the earlier
        # stages taking the extra level when they do not divide evenly.
        levels = ceil_log2(lanes)
        stages = _tree_stages(cfg.timing)
        cuts = [-(-levels * (k + 1) // stages) for k in range(stages)]
        sums = []
        for j, column in enumerate(products):
            values, done = column, 0
            for k, upto in enumerate(cuts):
                values = _adder_levels(m, values, upto - done, name=f"tree{j}{'abcdefgh'[k]}")
                done = upto
                if k == stages - 1:
                    (total,) = values
                    sums.append(_stage(m, total, name=f"y{j}"))
                else:
                    prefix = "sum" if k == 0 else f"sum{k}x"
                    values = [_stage(m, v, name=f"{prefix}{i}_{j}") for i, v in enumerate(values)]
        return sums

    # --- accumulators: the mm's read-modify-write and accrd ----------------------------------

    def _accumulators(self, m, y):
        cfg = self._config
        lanes = cfg.lanes
        m.submodules.acc_rows = rows = Memory(shape=_ACC_BITS * lanes, depth=cfg.acc_depth,
                                              init=[])
        wr = rows.write_port()
        rmw = rows.read_port(transparent_for=(wr,))
        rd = rows.read_port(transparent_for=(wr,))
        abits = len(wr.addr)

        # --- mm: the row is read in the cycle before the write, then set or added ----------
        port = self.mm
        lat = cfg.timing.latency(_MM_SET)
        mm_stages = _OPERAND_STAGES + _PRODUCT_STAGES + _tree_stages(cfg.timing)
        mm_ops = [_MM_SET, _MM_ADD]
        mm = Signal()
        add = Signal()
        opcode = opcode_of(port.instr)
        m.d.comb += [mm.eq(port.issue & ((opcode == _MM_SET.opcode) | (opcode == _MM_ADD.opcode))),
                     add.eq(opcode == _MM_ADD.opcode)]
        addr = (decode_field(m, port.instr, mm_ops, "a", sig_name="mm_a") + port.offset)[:abits]
        y = [delay(m, v, lat - mm_stages, name=f"y{j}_pad") for j, v in enumerate(y)]
        w_en = delay(m, mm, lat, name="mm_valid")
        w_add = delay(m, add, lat, name="mm_add")
        m.d.comb += [
            rmw.addr.eq(delay(m, addr, lat - 1, name="mm_addr")),
            wr.addr.eq(delay(m, rmw.addr, 1, name="mm_waddr")),
            wr.en.eq(w_en),
        ]
        old = [rmw.data[_ACC_BITS * j:_ACC_BITS * (j + 1)].as_signed() for j in range(lanes)]
        new = [Signal(_ACC_BITS, name=f"acc_new{j}") for j in range(lanes)]
        with m.If(w_add):
            m.d.comb += [n.eq(o + v) for n, o, v in zip(new, old, y)]
        with m.Else():
            m.d.comb += [n.eq(v) for n, v in zip(new, y)]
        m.d.comb += wr.data.eq(Cat(*new))

        # --- accrd: the RAM's read data drives the group, padded to latency("accrd") -------
        port = self.acc
        lat = cfg.timing.latency(_ACCRD)
        read = Signal()
        m.d.comb += [
            read.eq(port.issue & (opcode_of(port.instr) == _ACCRD.opcode)),
            rd.addr.eq((_field(port.instr, _ACCRD, "a") + port.offset)[:abits]),
        ]
        out_valid = delay(m, read, lat, name="accrd_valid")
        out_dest = delay(m, _field(port.instr, _ACCRD, "d"), lat, name="accrd_dest")
        out_data = delay(m, rd.data, lat - _RAM_READ_STAGES, name="accrd_data")
        values = [out_data[_ACC_BITS * j:_ACC_BITS * (j + 1)] for j in range(lanes)]
        for code, d, i in stream_codes(cfg):
            stream = (self.east if d == "e" else self.west)[i]
            byte = i % GROUP
            m.d.comb += [
                stream.we.eq(out_valid & (out_dest == code - byte)),
                stream.data.eq(Cat(*(v[_BYTE * byte:_BYTE * (byte + 1)] for v in values))),
            ]
