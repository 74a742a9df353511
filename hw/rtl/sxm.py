"""The SXM slice: the switch, which moves bytes between the lanes of a vector.

One queue (role ``sxm``) drives the slice, one instruction per cycle. An instruction issued in
cycle t reads the stream cells at this position in cycle t and puts its result on its
destination stream at this position in cycle t + ``latency(op)``.

``shift``, ``rotate``, ``bcast`` and ``permute`` each give output lane j the byte of one
*source lane* of the operand, or 0: they differ only in how the source lane is found (``j - n``,
``(j - n) mod L``, ``i``, ``m[j]``). So they share one L x L byte crossbar whose per-lane select
is the source lane, or an out-of-range value for 0. ``tr.in`` writes a vector into a row of the
transpose buffer, L x L bytes of registers; ``tr.out`` reads a column of it (lane j from row j)
through a column multiplexer. Both multiplexers feed one result register; the result is then
padded with delay registers to the latency of its op, one delay line per latency that the
timing table gives a result op, so results of different latencies never collide.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from ..machine.config import CoreConfig, Slice
from ..machine.isa import OPS, Op, op_named
from .mem import delay, queue_port_name
from .queue import IssueSignature, decode_field, opcode_of
from .streams import lane_bytes, select_stream, stream_codes, stream_ports

__all__ = ["SXM_OPS", "SxmSlice"]

#: Every SXM op, in declaration order.
SXM_OPS: tuple[Op, ...] = tuple(op for op in OPS if op.kind == "sxm")

_SHIFT, _ROTATE, _BCAST, _PERMUTE, _TR_IN, _TR_OUT = (
    op_named(name) for name in ("shift", "rotate", "bcast", "permute", "tr.in", "tr.out"))

#: The ops that put a result on a stream.
_RESULT_OPS = tuple(op for op in SXM_OPS if op.writes)

#: Ops whose result comes through the crossbar (every other result op is ``tr.out``).
_CROSSBAR_OPS = (_SHIFT, _ROTATE, _BCAST, _PERMUTE)

#: Register stages the hardware itself gives a result (the multiplexers feed one register) and
#: a ``tr.in`` (the row registers load at the end of the cycle their write is driven).
_RESULT_STAGES = 1
_ROW_WRITE_STAGES = 1

assert set(_RESULT_OPS) == {*_CROSSBAR_OPS, _TR_OUT}, "an SXM result op has no datapath"


def _index_bits(lanes: int) -> int:
    """Width of a lane select: wide enough for a ``permute`` map byte to be a select as it
    stands, and for all ones to be no lane."""
    return max(8, lanes.bit_length())


def _no_lane(lanes: int) -> int:
    """The select of no lane (all ones): the multiplexers give 0 for it."""
    return (1 << _index_bits(lanes)) - 1


def _lane_index(m: Module, value, lanes: int, *, name: str) -> Signal:
    """``value`` as a lane select: itself if it is a lane (0..lanes-1), else no lane."""
    out = Signal(_index_bits(lanes), name=name)
    m.d.comb += out.eq(Mux((value >= 0) & (value < lanes), value, _no_lane(lanes)))
    return out


def _pick(m: Module, sources: list, select, *, name: str) -> Signal:
    """The byte ``sources[select]``, or 0 if ``select`` is not an index of ``sources``.

    A part select on the low bits of ``select`` maps to a binary multiplexer tree, about half
    the LUTs of a case per source (yosys builds those as a one-hot ``$pmux``)."""
    out = Signal(8, name=name)
    bits = ceil_log2(len(sources))
    m.d.comb += out.eq(Mux(select < len(sources), Cat(*sources).word_select(select[:bits], 8),
                           0))
    return out


class SxmSlice(wiring.Component):
    """One SXM slice.

    Parameters
    ----------
    config : the core geometry (``lanes``, ``streams``).
    slice : which slice of ``config`` this is.

    Members
    -------
    east, west : the slice's stream ports (:func:`hw.streams.stream_ports`).
    ctl : in, the slice's queue (role ``sxm``).
    """

    def __init__(self, *, config: CoreConfig, slice: Slice):
        if slice.kind != "sxm":
            raise ValueError(f"SxmSlice needs an sxm slice, not {slice.name!r}")
        self._config, self._slice = config, slice
        super().__init__({
            **stream_ports(config),
            queue_port_name("sxm"): In(IssueSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        latency = self._config.timing.latency
        cfg = self._config
        lanes = cfg.lanes
        port = self.ctl
        word = port.instr
        ops = list(SXM_OPS)
        opcode = opcode_of(word)

        # --- decode ---------------------------------------------------------------------
        s_code = decode_field(m, word, ops, "s", sig_name="s_code")
        m_code = decode_field(m, word, ops, "m", sig_name="m_code")
        d_code = decode_field(m, word, ops, "d", sig_name="d_code")
        # Only the low bits of n matter: a valid n is -(lanes-1)..lanes-1.
        n_field = decode_field(m, word, ops, "n", sig_name="n_field")
        n_bits = (lanes - 1).bit_length() + 1
        n = n_field[:n_bits].as_signed()
        lane = _lane_index(m, decode_field(m, word, ops, "i", sig_name="i_field"), lanes,
                           name="bcast_lane")
        # repeat's offset steps the address field of tr.in (a row) and tr.out (a column).
        row = _lane_index(m, decode_field(m, word, ops, _TR_IN.address, sig_name="row_field")
                          + port.offset, lanes, name="row")
        col = _lane_index(m, decode_field(m, word, ops, _TR_OUT.address, sig_name="col_field")
                          + port.offset, lanes, name="col")
        src = lane_bytes(select_stream(m, cfg, self.east, self.west, s_code, name="s_cell"),
                         lanes)
        perm_map = lane_bytes(select_stream(m, cfg, self.east, self.west, m_code,
                                            name="m_cell"), lanes)

        # --- transpose buffer: tr.in writes a row, padded to latency("tr.in") ----------------
        assert _ROW_WRITE_STAGES <= latency(_TR_IN), "tr.in latency below the row write stage"
        # A tr.in issues in this cycle.
        tr_in = Signal()
        m.d.comb += tr_in.eq(port.issue & (opcode == _TR_IN.opcode))
        pad = latency(_TR_IN) - _ROW_WRITE_STAGES
        w_en = delay(m, tr_in, pad, name="row_we")
        w_row = delay(m, row, pad, name="row_addr")
        w_data = delay(m, Cat(*src), pad, name="row_data")
        # rows[r] holds row r of the buffer, lane c in bits 8c+7..8c. Reading a row that no
        # tr.in of this run wrote is a program error, so the rows need no reset.
        rows = [Signal(8 * lanes, name=f"tr_row{r}", reset_less=True) for r in range(lanes)]
        for r, reg in enumerate(rows):
            with m.If(w_en & (w_row == r)):
                m.d.sync += reg.eq(w_data)

        # --- crossbar: output lane j takes the source lane the op names -------------------
        crossbar = []
        for j in range(lanes):
            # j - n, shared by shift (if it is a lane) and rotate (mod lanes).
            back = Signal(signed(n_bits + 1), name=f"back{j}")
            m.d.comb += back.eq(j - n)
            inside = _lane_index(m, back, lanes, name=f"inside{j}")
            select = Signal(_index_bits(lanes), name=f"select{j}")
            m.d.comb += select.eq(_no_lane(lanes))
            with m.Switch(opcode):
                with m.Case(_SHIFT.opcode):
                    m.d.comb += select.eq(inside)
                with m.Case(_ROTATE.opcode):
                    m.d.comb += select.eq(Mux(back < 0, back + lanes,
                                              Mux(back >= lanes, back - lanes, back)))
                with m.Case(_BCAST.opcode):
                    m.d.comb += select.eq(lane)
                with m.Case(_PERMUTE.opcode):
                    m.d.comb += select.eq(perm_map[j])
            crossbar.append(_pick(m, src, select, name=f"crossbar{j}"))

        # --- column multiplexer: output lane j takes lane col of row j --------------------
        column = [_pick(m, lane_bytes(rows[j], lanes), col, name=f"column{j}")
                  for j in range(lanes)]

        # --- result register, then one delay line per result latency ----------------------
        is_tr_out = opcode == _TR_OUT.opcode
        data = delay(m, Mux(is_tr_out, Cat(*column), Cat(*crossbar)), _RESULT_STAGES,
                     name="result")
        dest = delay(m, d_code, _RESULT_STAGES, name="dest")
        tails = []
        for lat in sorted({latency(op) for op in _RESULT_OPS}):
            assert _RESULT_STAGES <= lat, f"an SXM result latency of {lat} is below its stages"
            # A result op of this latency issues in this cycle.
            issue = Signal(name=f"issue_l{lat}")
            with m.If(port.issue), m.Switch(opcode):
                for op in _RESULT_OPS:
                    if latency(op) == lat:
                        with m.Case(op.opcode):
                            m.d.comb += issue.eq(1)
            valid = delay(m, issue, _RESULT_STAGES, name=f"valid_l{lat}")
            pad = lat - _RESULT_STAGES
            tails.append((delay(m, valid, pad, name=f"valid_l{lat}_pad"),
                          delay(m, dest, pad, name=f"dest_l{lat}"),
                          delay(m, data, pad, name=f"result_l{lat}")))

        # --- stream writes (two results due on one cell is a program error) ----------------
        for code, d, i in stream_codes(cfg):
            out = (self.east if d == "e" else self.west)[i]
            wes, datas = [], []
            for valid, tail_dest, tail_data in tails:
                we = Signal(name=f"we_{d}{i}_{len(wes)}")
                m.d.comb += we.eq(valid & (tail_dest == code))
                wes.append(we)
                datas.append(Mux(we, tail_data, 0))
            m.d.comb += out.we.eq(Cat(*wes).any())
            # The conveyor reads data only under we: a single result line needs no gating
            # (which would cost a LUT per bit of every stream).
            if len(tails) == 1:
                m.d.comb += out.data.eq(tails[0][2])
            else:
                merged = datas[0]
                for value in datas[1:]:
                    merged = merged | value
                m.d.comb += out.data.eq(merged)
        return m
