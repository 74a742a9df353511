"""Bounded proofs of the instruction queue's issue rules (docs/architecture.md, "Queues and
issue"; :func:`conveyor.hw.machine.program.timeline` states the same rules in software).

The harness plays the core around one queue. The program is ``WORDS`` free words
(``AnyConst``); the harness writes them through the host port while idle, one 32-bit half per
cycle, and starts the queue; ``running`` is high from the next cycle until a free moment after
the queue's halt (the core waits for every queue's halt). The words after the program stay
zeros, which are ``halt``. From the words, the harness computes the cycle in which each word
starts, as sums of durations like ``_queue_issues`` does, not as a state machine that could
share a bug with the queue's, and asserts what issues in every cycle.

The issue rules are checked for every legal program (what the assembler accepts) with counts
up to ``NOP_MAX`` / ``REPEAT_MAX`` / ``EVERY_MAX``; "no issue while not running" for any words.
"""

import pytest
from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, Const, Module, Mux, Signal, signed
from amaranth.sim import Simulator

from conveyor.hw.machine.config import CoreConfig
from conveyor.hw.machine.isa import (
    OPCODE_BITS,
    WORD_BITS,
    Instr,
    Stream,
    encode,
    op_named,
    ops_for_role,
)
from conveyor.hw.machine.program import Program, timeline
from conveyor.hw.rtl.queue import HOST_BITS, OFFSET_BITS, InstructionQueue
from conveyor.sim.formal import bmc

# One MEM slice with a single queue: both slice ops (read, write) have an address.
CFG = CoreConfig(name="formal-queue", lanes=4, streams=4, floorplan=("mem",), mem_depth=16,
                 vxm_alus=1, mem_ports=1, queue_depth=16)
QUEUE = CFG.queues[0]
#: Free program words; a halt follows them.
WORDS = 4
#: Largest counts of a judged program: ``nop n``, ``repeat n, d``.
NOP_MAX, REPEAT_MAX, EVERY_MAX = 4, 3, 3
#: Cycles checked: 2 * WORDS host writes, the start, and 13 cycles of the run (CI time grows
#: steeply with it: 22 takes about 25 s on a shared 2-core machine, 24 about 40 s).
DEPTH = 22
#: Width of cycle numbers; the run's cycle counter stops at its largest value.
TIME_BITS = 6
assert WORDS * max(NOP_MAX, REPEAT_MAX * EVERY_MAX) + 1 < 1 << TIME_BITS

HALT, NOP, REPEAT = op_named("halt"), op_named("nop"), op_named("repeat")
SLICE_OPS = [op for op in ops_for_role(QUEUE.role).values() if op.kind != "icu"]
HALVES = WORD_BITS // HOST_BITS


def field(word, op, name: str):
    f = op.field(name)
    return word[f.lo:f.lo + f.width]


def any_of(terms) -> object:
    out = Const(0)
    for t in terms:
        out = out | t
    return out


def all_of(terms) -> object:
    out = Const(1)
    for t in terms:
        out = out & t
    return out


def opcode_in(word, ops) -> object:
    return any_of(word[:OPCODE_BITS] == op.opcode for op in ops)


class Word:
    """One program word from the shadow: its kind, fields, and whether it is legal (what the
    assembler accepts) and small (counts within the bounds) in its place."""

    def __init__(self, word: Signal, prev: "Word | None"):
        self.word = word
        self.halt = opcode_in(word, [HALT])
        self.nop = opcode_in(word, [NOP])
        self.repeat = opcode_in(word, [REPEAT])
        self.slice = opcode_in(word, SLICE_OPS)
        self.with_addr = opcode_in(word, [op for op in SLICE_OPS if op.address])
        self.wait = field(word, NOP, "n")
        self.times, self.every = field(word, REPEAT, "n"), field(word, REPEAT, "d")
        self.stride = field(word, REPEAT, "stride").as_signed()
        # A repeat follows a slice instruction, and has a stride only if that has an address.
        after_slice = Const(0) if prev is None else prev.slice
        stride_ok = (self.stride == 0) | (Const(0) if prev is None else prev.with_addr)
        self.legal = (
            self.halt | self.slice
            | (self.nop & (self.wait >= 1) & (self.wait <= NOP_MAX))
            | (self.repeat & (self.times >= 1) & (self.times <= REPEAT_MAX) & (self.every >= 1)
               & (self.every <= EVERY_MAX) & after_slice & stride_ok))
        # Cycles the word occupies; a repeat's begin in the cycle after the instruction it
        # repeats and end with its last repetition.
        # (Only the low bits count: a word is judged only if its counts are in bounds.)
        wait = self.wait[:NOP_MAX.bit_length()]
        times = self.times[:REPEAT_MAX.bit_length()]
        every = self.every[:EVERY_MAX.bit_length()]
        self.cycles = Mux(self.nop, wait, Mux(self.repeat, times * every, 1))


class Spec:
    """The program in the shadow words, and the cycle in which each word starts."""

    def __init__(self, m: Module, shadow: list[Signal]):
        self.words: list[Word] = []
        for w in shadow:
            self.words.append(Word(w, self.words[-1] if self.words else None))
        self.start = [Const(0, TIME_BITS)]
        # live[i]: no halt before word i, so word i is part of the run.
        self.live = [Const(1)]
        for i, w in enumerate(self.words):
            start = Signal(TIME_BITS, name=f"start{i + 1}")
            m.d.comb += start.eq(self.start[i] + w.cycles)
            self.start.append(start)
            self.live.append(self.live[i] & ~w.halt)
        self.legal = Signal()
        m.d.comb += self.legal.eq(all_of(~live | w.legal
                                         for live, w in zip(self.live, self.words)))
        # The first halt; the word after the shadow is a halt (memory zeros).
        self.halt_at = Signal(TIME_BITS)
        halt_at = self.start[-1]
        for w, start in reversed(list(zip(self.words, self.start))):
            halt_at = Mux(w.halt, start, halt_at)
        m.d.comb += self.halt_at.eq(halt_at)

    def repetitions(self, i: int):
        """(k, cycle of repetition k) of word i: k*d cycles after the repeated instruction."""
        return [(k, self.start[i] - 1 + k * self.words[i].every)
                for k in range(1, REPEAT_MAX + 1)]


def queue_in_a_core(*, nop_slack: int = 0) -> Module:
    """The queue, its environment, and the issue rules as assertions.

    ``nop_slack`` claims that a nop keeps the queue silent for that many extra cycles: a
    deliberately wrong property when not 0."""
    m = Module()
    m.submodules.dut = dut = InstructionQueue(config=CFG, queue=QUEUE)

    # --- the program: free words, written through the host port, one half per cycle ---
    program = [Signal(WORD_BITS, name=f"word{i}") for i in range(WORDS)]
    m.d.comb += [w.eq(AnyConst(WORD_BITS)) for w in program]
    writes = [(i, h) for i in range(WORDS) for h in range(HALVES)]
    step = Signal(range(len(writes) + 1))
    loaded = step == len(writes)
    with m.Switch(step):
        for n, (i, h) in enumerate(writes):
            with m.Case(n):
                m.d.comb += [dut.host.addr.eq(i), dut.host.wen.eq(1 << h),
                             dut.host.wdata.eq(program[i][HOST_BITS * h:HOST_BITS * (h + 1)])]
                m.d.sync += step.eq(n + 1)

    # --- then the core's run control: start, running from the next cycle, stop ---------
    # One run, started as soon as the words are in: a fixed schedule keeps cycle numbers
    # concrete in every step, which keeps the solver fast (a free start costs 3x).
    start, stop, started = Signal(), Signal(), Signal()
    m.d.comb += [start.eq(loaded & ~started), stop.eq(AnySeq(1))]
    with m.If(start):
        m.d.sync += started.eq(1)
    running = Signal()
    cycle = Signal(TIME_BITS)  # cycle of the run
    last = (1 << TIME_BITS) - 1
    go = start & ~running
    m.d.comb += [dut.start.eq(start), dut.running.eq(running)]
    with m.If(go):
        m.d.sync += [running.eq(1), cycle.eq(0)]
    with m.Elif(running):
        m.d.sync += cycle.eq(Mux(cycle == last, last, cycle + 1))
        with m.If(stop):
            m.d.sync += running.eq(0)

    spec = Spec(m, program)
    judged = Signal()
    m.d.comb += judged.eq(running & spec.legal)
    # A legal run lasts at least until its halt (the core waits for every queue's halt).
    m.d.comb += Assume(~(judged & stop) | (cycle > spec.halt_at))

    port = dut.port
    # --- whatever the words: nothing issues outside a run ------------------------------
    m.d.comb += Assert(running | ~(port.issue | dut.halt), "no issue while not running")

    # Halts of this run, counted apart from the cycle arithmetic of the spec.
    halts = Signal(2)
    with m.If(go):
        m.d.sync += halts.eq(0)
    with m.Elif(dut.halt & (halts != 3)):
        m.d.sync += halts.eq(halts + 1)
    with m.If(judged):
        issue_rules(m, dut, spec, cycle, nop_slack)
        halt_rules(m, dut, spec, cycle, stop, halts)
    return m


def issue_rules(m: Module, dut: InstructionQueue, spec: Spec, cycle, nop_slack: int):
    port = dut.port
    expect_issue = Signal()
    for i, w in enumerate(spec.words):
        start, live = spec.start[i], spec.live[i]
        # A slice instruction issues in the cycle it starts, as it is.
        with m.If(live & w.slice & (cycle == start)):
            m.d.comb += [expect_issue.eq(1),
                         Assert(port.issue & (port.instr == w.word) & (port.offset == 0),
                                "a slice instruction issues in its cycle")]
        # nop n: nothing issues for n cycles.
        with m.If(live & w.nop & (cycle >= start) & (cycle < start + w.wait + nop_slack)):
            m.d.comb += Assert(~port.issue & ~dut.halt, "nop n issues nothing for n cycles")
        # repeat n, d, stride: the previous instruction again, n times, every d cycles,
        # its address moved by k*stride the k-th time.
        if i == 0:
            continue
        for k, at in spec.repetitions(i):
            with m.If(live & w.repeat & (k <= w.times) & (cycle == at)):
                offset = Const(k, signed(OFFSET_BITS + 1)) * w.stride
                m.d.comb += [expect_issue.eq(1),
                             Assert(port.issue & (port.instr == spec.words[i - 1].word)
                                    & (port.offset.as_unsigned() == offset[:OFFSET_BITS]),
                                    "repeat issues the previous instruction every d cycles")]
    # Between those, nothing: not in a repeat's gaps, nor at or after the halt.
    m.d.comb += Assert(port.issue == expect_issue, "nothing else issues")


def halt_rules(m: Module, dut: InstructionQueue, spec: Spec, cycle, stop, halts):
    # halt: once, in the cycle it starts; halted from the next cycle; nothing after it.
    m.d.comb += [
        Assert(dut.halt == (cycle == spec.halt_at), "halt issues in its cycle"),
        Assert(dut.halted == (cycle > spec.halt_at), "halted from the cycle after the halt"),
        Assert(~((cycle >= spec.halt_at) & dut.port.issue), "nothing issues after halt"),
    ]
    # Exactly once per run: never a second time, and once before the run ends.
    m.d.comb += [Assert(~dut.halt | (halts == 0), "halt issues at most once per run"),
                 Assert(~stop | (halts + dut.halt == 1), "halt issues once per run")]


def test_issue_rules_hold_for_every_short_program(tmp_path):
    result = bmc(queue_in_a_core(), depth=DEPTH, name="queue", workdir=tmp_path)
    assert result.passed, str(result)


def test_the_harness_catches_a_wrong_property(tmp_path):
    # Not vacuous: a nop that is silent one cycle longer than it waits must be refuted.
    result = bmc(queue_in_a_core(nop_slack=1), depth=DEPTH, name="wrong", workdir=tmp_path)
    assert result.status == "FAIL"
    assert result.trace is not None and result.trace.stat().st_size > 0
    assert any(loc.startswith(__file__) for loc in result.failed), result.failed


def spec_timeline(instrs: list[Instr]) -> tuple[list[int], int, bool]:
    """The harness's spec for an encoded program, evaluated: issue cycles, halt cycle, legal."""
    m = Module()
    words = [Signal(WORD_BITS, name=f"w{i}") for i in range(WORDS)]
    spec = Spec(m, words)
    out = {}

    async def bench(ctx):
        for w, instr in zip(words, instrs + [Instr.make("halt")] * (WORDS - len(instrs))):
            ctx.set(w, encode(instr))
        cycles = []
        for i, instr in enumerate(instrs):
            if instr.op in SLICE_OPS:
                cycles.append(ctx.get(spec.start[i]))
            elif instr.op is REPEAT:
                cycles += [ctx.get(at) for k, at in spec.repetitions(i) if k <= instr["n"]]
        out["result"] = cycles, ctx.get(spec.halt_at), bool(ctx.get(spec.legal))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return out["result"]


def R(addr: int) -> Instr:
    return Instr.make("read", addr=addr, d=Stream("e", 0))


@pytest.mark.parametrize("instrs", [
    [R(3), Instr.make("repeat", n=3, d=2, stride=1), Instr.make("nop", n=4), R(1)],
    [Instr.make("nop", n=1), R(0), Instr.make("repeat", n=1, d=3, stride=-2)],
    [R(0), Instr.make("halt"), Instr.make("nop", n=2)],
])
def test_the_spec_agrees_with_the_software_timeline(instrs):
    # The proofs are only as good as the harness's spec: check it against sw.program.
    issues = list(timeline(Program(CFG, {QUEUE.name: instrs + [Instr.make("halt")]})))
    want = [i.cycle for i in issues if i.instr.op is not HALT]
    halt = next(i.cycle for i in issues if i.instr.op is HALT)
    assert spec_timeline(instrs) == (want, halt, True)


def test_the_spec_rejects_a_repeat_after_a_nop():
    assert spec_timeline([Instr.make("nop", n=1), Instr.make("repeat", n=1, d=1)])[2] is False
