"""The MEM slice: ``mem_depth`` vectors of L bytes, read onto and written from the streams.

``read addr -> d`` issued in cycle t drives stream d at this position in cycle
t + latency("read") from the RAM's synchronous read port; ``write s -> addr`` issued in cycle t
captures the cell of stream s at this position in cycle t. The read port is not transparent: a
read issued in the same cycle as a write to the same word returns the old word. While the core
is idle the host uses the same two ports, 32 bits (one chunk) at a time.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from ..machine.config import CoreConfig, Slice
from ..machine.isa import op_named
from .queue import HOST_BITS, HostSignature, IssueSignature, opcode_of
from .streams import select_stream, stream_codes, stream_ports

__all__ = ["MemSlice", "delay", "queue_port_name"]

_READ = op_named("read")
_WRITE = op_named("write")

#: Register stages the RAM itself gives a read (its synchronous read port) and a write (the
#: word lands at the end of the cycle its port is driven).
_RAM_READ_STAGES = 1
_RAM_WRITE_STAGES = 1


def queue_port_name(role: str) -> str:
    """The slice port a queue of ``role`` drives."""
    return {"mem.rd": "rd", "mem.wr": "wr", "mem": "rw", "vxm": "alu", "mxm.w": "w",
            "mxm.mm": "mm", "mxm.acc": "acc", "sxm": "ctl"}[role]


def delay(m: Module, value, cycles: int, *, name: str):
    """``value`` delayed by ``cycles`` sync registers (``value`` itself for 0)."""
    for k in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_d{k + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _field(word, op, name):
    f = op.field(name)
    return word[f.lo:f.lo + f.width]


class MemSlice(wiring.Component):
    """One MEM slice.

    Parameters
    ----------
    config : the core geometry (``lanes``, ``streams``, ``mem_depth``, ``mem_ports``).
    slice : which slice of ``config`` this is.

    Members
    -------
    east, west : the slice's stream ports (:func:`hw.streams.stream_ports`).
    rd, wr : in, the read and the write queue (``mem_ports == 2``).
    rw : in, the single queue (``mem_ports == 1``).
    host : in, host access while idle: ``addr`` is the word, ``wen`` one bit per 32-bit chunk.
    """

    def __init__(self, *, config: CoreConfig, slice: Slice):
        if slice.kind != "mem":
            raise ValueError(f"MemSlice needs a mem slice, not {slice.name!r}")
        self._config, self._slice = config, slice
        roles = [q.role for q in config.queues if q.slice == slice]
        super().__init__({
            **stream_ports(config),
            **{queue_port_name(r): In(IssueSignature()) for r in roles},
            "host": In(HostSignature(addr_width=config.addr_bits,
                                     chunks=config.lanes * 8 // HOST_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        latency = cfg.timing.latency
        chunks = cfg.lanes * 8 // HOST_BITS
        m.submodules.words = words = Memory(shape=8 * cfg.lanes, depth=cfg.mem_depth, init=[])
        wr = words.write_port(granularity=HOST_BITS)
        rd = words.read_port()
        rq = self.rd if cfg.mem_ports == 2 else self.rw
        wq = self.wr if cfg.mem_ports == 2 else self.rw
        abits = len(rd.addr)

        # --- read: RAM (1 stage), padded to latency("read"): the ram_out stage's register
        # sits right on the RAM's read data -------------------------------------------------
        assert _RAM_READ_STAGES <= latency(_READ), "read latency below the RAM's own stage"
        # A read issues in this cycle.
        read = Signal()
        m.d.comb += read.eq(rq.issue & (opcode_of(rq.instr) == _READ.opcode))
        read_addr = (_field(rq.instr, _READ, "addr") + rq.offset)[:abits]
        m.d.comb += rd.addr.eq(Mux(read, read_addr, self.host.addr))
        pad = latency(_READ) - _RAM_READ_STAGES
        out_valid = delay(m, read, latency(_READ), name="read_valid")
        out_dest = delay(m, _field(rq.instr, _READ, "d"), latency(_READ), name="read_dest")
        out_data = delay(m, rd.data, pad, name="read_data")
        for code, d, i in stream_codes(cfg):
            port = (self.east if d == "e" else self.west)[i]
            m.d.comb += [port.we.eq(out_valid & (out_dest == code)), port.data.eq(out_data)]
        m.d.comb += self.host.rdata.eq(rd.data)

        # --- write: captures the cell in the issue cycle, padded to latency("write") --------
        assert _RAM_WRITE_STAGES <= latency(_WRITE), "write latency below the RAM's own stage"
        # A write issues in this cycle.
        write = Signal()
        m.d.comb += write.eq(wq.issue & (opcode_of(wq.instr) == _WRITE.opcode))
        cell = select_stream(m, cfg, self.east, self.west, _field(wq.instr, _WRITE, "s"),
                             name="write_cell")
        pad = latency(_WRITE) - _RAM_WRITE_STAGES
        w_en = delay(m, write, pad, name="write_en")
        w_addr = delay(m, (_field(wq.instr, _WRITE, "addr") + wq.offset)[:abits], pad,
                       name="write_addr")
        w_data = delay(m, cell, pad, name="write_data")
        m.d.comb += [
            wr.addr.eq(Mux(w_en, w_addr, self.host.addr)),
            wr.data.eq(Mux(w_en, w_data, Cat(*[self.host.wdata] * chunks))),
            wr.en.eq(Mux(w_en, (1 << chunks) - 1, self.host.wen)),
        ]
        return m
