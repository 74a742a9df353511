"""The instruction queue (ICU) of one slice, and the decoding helpers the slices share.

A queue is a memory of 64-bit instruction words that the host fills while the core is idle.
From cycle 0 of a run it walks the words in order and issues them by the rules of
docs/architecture.md (the same rules as :func:`conveyor.hw.machine.program.timeline`): a slice
instruction issues in one cycle, ``nop n`` issues nothing for n cycles, ``repeat n, d, stride``
re-issues the previous instruction n more times every d cycles with a growing address offset,
``halt`` stops the queue. Every word occupies at least one cycle, so the queue reads at most one
word per cycle: the fetch address is the next pc when the current word finishes, which makes the
word at pc present in the cycle it starts.
"""


from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..machine.config import CoreConfig, Queue
from ..machine.isa import OPCODE_BITS, WORD_BITS, Op, op_named, ops_for_role

__all__ = ["HOST_BITS", "HostSignature", "InstructionQueue", "IssueSignature", "decode_field"]

#: Width of the host data bus (and of a memory write chunk).
HOST_BITS = 32

_REPEAT = op_named("repeat")
_NOP = op_named("nop")
_HALT = op_named("halt")

#: Width of repeat's address offset: the width of its stride field.
OFFSET_BITS = _REPEAT.field("stride").width


class IssueSignature(wiring.Signature):
    """What a queue hands its slice in every cycle, seen from the queue.

    Members
    -------
    issue : out, a slice instruction issues in this cycle.
    instr : out, its 64-bit word.
    offset : out, the signed amount ``repeat`` adds to its address field (0 otherwise).
    """

    def __init__(self):
        super().__init__({
            "issue": Out(1),
            "instr": Out(WORD_BITS),
            "offset": Out(signed(OFFSET_BITS)),
        })

    def __eq__(self, other):
        return isinstance(other, IssueSignature)

    def __repr__(self):
        return "IssueSignature()"


class HostSignature(wiring.Signature):
    """The host's access to one memory while the core is idle, seen from the core's decoder.

    Parameters
    ----------
    addr_width : bits of a row address.
    chunks : 32-bit chunks per row; ``wen`` has one bit per chunk.

    Members
    -------
    addr : out, row address.
    wdata : out, 32-bit data, written to every chunk whose ``wen`` bit is set.
    wen : out, chunk write enables (the core clears them while a run is in progress).
    rdata : in, the whole row at the address of the previous cycle.
    """

    def __init__(self, *, addr_width: int, chunks: int):
        self._addr_width, self._chunks = addr_width, chunks
        super().__init__({
            "addr": Out(addr_width),
            "wdata": Out(HOST_BITS),
            "wen": Out(chunks),
            "rdata": In(HOST_BITS * chunks),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def chunks(self) -> int:
        return self._chunks

    def __eq__(self, other):
        return (isinstance(other, HostSignature) and other.addr_width == self.addr_width
                and other.chunks == self.chunks)

    def __repr__(self):
        return f"HostSignature(addr_width={self.addr_width}, chunks={self.chunks})"


# --- decoding helpers ---------------------------------------------------------------------

def opcode_of(word):
    """The opcode bits of an instruction word."""
    return word[:OPCODE_BITS]


def decode_field(m: Module, word, ops: list[Op], name: str, *, sig_name: str):
    """The field ``name`` of ``word``, for whichever of ``ops`` its opcode is.

    Field positions come from :mod:`hw.isa`; where the ops that have the field place it
    differently, a switch on the opcode picks the right bits. Ops without the field give 0.
    """
    places = {(op.field(name).lo, op.field(name).width)
              for op in ops if op.has(name)}
    width = max(w for _, w in places)
    out = Signal(width, name=sig_name)
    if len(places) == 1:
        (lo, w), = places
        m.d.comb += out.eq(word[lo:lo + w])
        return out
    with m.Switch(opcode_of(word)):
        for op in ops:
            if op.has(name):
                f = op.field(name)
                with m.Case(op.opcode):
                    m.d.comb += out.eq(word[f.lo:f.lo + f.width])
    return out


def _field(word, op: Op, name: str):
    f = op.field(name)
    return word[f.lo:f.lo + f.width]


def _narrow(value, width: int):
    """The low ``width`` bits of ``value`` (``value`` itself if it is no wider): a field whose
    valid values the config keeps below what the encoding holds."""
    return value if len(value) <= width else value[:width]


# --- the queue ------------------------------------------------------------------------------

class InstructionQueue(wiring.Component):
    """One in-order instruction queue.

    Parameters
    ----------
    config : the core geometry (``queue_depth``).
    queue : which queue of ``config`` this is (its ``role`` decides the latency table).

    Members
    -------
    start : in, the run starts; the queue's first cycle is the next one.
    running : in, a run is in progress (cycles 0 .. C-1).
    host : in, host access to the queue memory while idle: ``addr`` is the instruction index,
        ``wen`` one bit per 32-bit half (bit 0 = bits 31:0).
    port : out, the instructions issued to the slice (:class:`IssueSignature`).
    halt : out, the queue's ``halt`` issues in this cycle.
    halted : out, the queue has issued its ``halt`` (in an earlier cycle).
    latency : out, latency of the instruction issuing in this cycle (0 if none).
    """

    def __init__(self, *, config: CoreConfig, queue: Queue):
        self._config, self._queue = config, queue
        self._ops = [op for op in ops_for_role(queue.role).values()
                     if op.kind != "icu" and config.builds(op)]  # no program has the others
        super().__init__({
            "start": In(1),
            "running": In(1),
            "halt": Out(1),
            "halted": Out(1),
            "host": In(HostSignature(addr_width=ceil_log2(config.queue_depth),
                                     chunks=WORD_BITS // HOST_BITS)),
            "port": Out(IssueSignature()),
            "latency": Out(range(max(config.timing.latency(op) for op in self._ops) + 1)),
        })

    @property
    def queue(self) -> Queue:
        return self._queue

    def elaborate(self, platform):
        m = Module()
        depth = self._config.queue_depth
        m.submodules.words = words = Memory(shape=WORD_BITS, depth=depth, init=[])
        wr = words.write_port(granularity=HOST_BITS)
        rd = words.read_port()

        # --- host access ----------------------------------------------------------------
        m.d.comb += [
            wr.addr.eq(self.host.addr),
            wr.data.eq(Cat(*[self.host.wdata] * (WORD_BITS // HOST_BITS))),
            wr.en.eq(self.host.wen),
            self.host.rdata.eq(rd.data),
        ]

        # --- state ----------------------------------------------------------------------
        pc = Signal(ceil_log2(depth))
        # The word at pc is a nop or repeat that started in an earlier cycle.
        busy = Signal()
        # nop: cycles left after this one; repeat: cycles until its next repetition.
        # Only as wide as the longest wait this config's programs may ask for (max_nop,
        # max_repeat): the encoding's 32-bit wait is far more than a board core needs.
        count = Signal(range(max(self._config.max_nop, self._config.max_repeat) + 1))
        # repeat: repetitions still to issue.
        left = Signal(range(self._config.max_repeat + 1))
        # repeat: the offset of the last repetition issued.
        offset = Signal(signed(OFFSET_BITS))
        # The last slice instruction issued: what repeat re-issues.
        prev = Signal(WORD_BITS)
        halted = Signal()

        word = Signal(WORD_BITS)
        m.d.comb += word.eq(rd.data)
        opcode = opcode_of(word)
        fresh = ~busy
        # The word at pc finishes in this cycle: fetch the next one.
        advance = Signal()
        # This cycle issues a repetition of prev.
        again = Signal()
        again_offset = Signal(signed(OFFSET_BITS))
        # This cycle issues the slice instruction at pc.
        single = Signal()

        # --- issue rules ------------------------------------------------------------------
        with m.If(self.running & ~halted), m.Switch(opcode):
            with m.Case(_HALT.opcode):
                m.d.comb += self.halt.eq(1)
                m.d.sync += halted.eq(1)
            with m.Case(_NOP.opcode):
                # cycles of this nop still to come, this one included
                remaining = Mux(fresh, _narrow(_field(word, _NOP, "n"), len(count)), count)
                with m.If(remaining <= 1):
                    m.d.comb += advance.eq(1)
                    m.d.sync += busy.eq(0)
                with m.Else():
                    m.d.sync += [busy.eq(1), count.eq(remaining - 1)]
            with m.Case(_REPEAT.opcode):
                self._repeat(m, word, fresh, busy, count, left, offset, advance, again,
                             again_offset)
            with m.Default():
                m.d.comb += [single.eq(1), advance.eq(1)]
                m.d.sync += prev.eq(word)

        m.d.comb += [
            self.port.issue.eq(single | again),
            self.port.instr.eq(Mux(again, prev, word)),
            self.port.offset.eq(Mux(again, again_offset, 0)),
            self.halted.eq(halted),
        ]

        # --- fetch ------------------------------------------------------------------------
        with m.If(self.start & ~self.running):
            m.d.comb += rd.addr.eq(0)
            m.d.sync += [pc.eq(0), busy.eq(0), halted.eq(0)]
        with m.Elif(~self.running):
            m.d.comb += rd.addr.eq(self.host.addr)
        with m.Elif(advance):
            m.d.comb += rd.addr.eq(pc + 1)
            m.d.sync += pc.eq(pc + 1)
        with m.Else():
            m.d.comb += rd.addr.eq(pc)

        # --- latency of what issues -------------------------------------------------------
        with m.If(self.port.issue), m.Switch(opcode_of(self.port.instr)):
            for op in self._ops:
                with m.Case(op.opcode):
                    m.d.comb += self.latency.eq(self._config.timing.latency(op))
        return m

    @staticmethod
    def _repeat(m, word, fresh, busy, count, left, offset, advance, again, again_offset):
        """``repeat n, d, stride``: its first cycle is the one after the repeated instruction,
        repetition k issues k*d cycles after that instruction."""
        d = _narrow(_field(word, _REPEAT, "d"), len(count))
        stride = _field(word, _REPEAT, "stride").as_signed()
        wait = Mux(fresh, d - 1, count)
        todo = Mux(fresh, _narrow(_field(word, _REPEAT, "n"), len(left)), left)
        base = Mux(fresh, Const(0, signed(OFFSET_BITS)), offset)
        with m.If(wait == 0):
            m.d.comb += [again.eq(1), again_offset.eq(base + stride)]
            m.d.sync += [offset.eq(again_offset), count.eq(d - 1), left.eq(todo - 1)]
            with m.If(todo <= 1):
                m.d.comb += advance.eq(1)
                m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += busy.eq(1)
        with m.Else():
            m.d.sync += [busy.eq(1), count.eq(wait - 1), left.eq(todo), offset.eq(base)]

