"""Random programs that are valid by construction, for co-simulation (:mod:`conveyor.sw.apps.cosim`).

A program is built cycle by cycle. The generator keeps, for the current cycle, which stream
cells hold a value (docs/architecture.md, "Streams") and which cells some instruction will
write later. Each queue that is free in a cycle either idles, repeats its last instruction (a
``repeat`` grows while the same instruction keeps recurring at one distance) or issues a new
instruction whose operands are cells that hold a value and whose result cells no other
instruction writes. It also tracks the state inside MXM and SXM slices (which weight rows,
accumulator rows and transpose rows the run has defined, and from which cycle), so an
instruction only uses state that is there. Idle stretches become ``nop``. So every program
runs on the golden model without a collision, an empty read, an address out of range or a
read of undefined state, and fits its queues.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from ..hw.machine.cells import DIRECTIONS, Tracks, operand_cells
from ..hw.machine.config import GROUP, CoreConfig, Queue
from ..hw.machine.isa import BINARY, MAX_WINDOW, UNARY, Instr, Stream, check_value, op_named
from ..hw.machine.program import DataBlock, Program

__all__ = ["DEFAULT_SIZE", "random_program"]

#: Cycles in which instructions may issue, by default.
DEFAULT_SIZE = 48

_EXTREMES = (-128, -127, -1, 0, 1, 127)


@dataclass
class _Last:
    """A queue's last slice instruction, which a ``repeat`` may still extend."""

    instr: Instr
    cycle: int
    reps: int = 0
    distance: int = 0
    stride: int = 0

    def next_slot(self) -> int | None:
        """The one cycle in which the repeat can grow, or None before its distance is set."""
        return self.cycle + (self.reps + 1) * self.distance if self.reps else None

    def at(self, k: int) -> Instr:
        """The k-th repetition, its address moved by the stride."""
        name = self.instr.op.address
        if name is None or self.stride == 0:
            return self.instr
        return Instr(self.instr.op, tuple((n, v + k * self.stride if n == name else v)
                                          for n, v in self.instr.args))


@dataclass
class _QueueGen:
    """The instructions of one queue so far and when it may issue next."""

    queue: Queue
    max_nop: int  # the longest nop the config's queues count
    instrs: list[Instr] = field(default_factory=list)
    free: int = 0  # first cycle the next instruction may issue
    last: _Last | None = None

    def close(self) -> None:
        """Emit the repeat that extends the last instruction, if it recurred."""
        last = self.last
        if last is not None and last.reps:
            self.instrs.append(Instr.make("repeat", n=last.reps, d=last.distance,
                                          stride=last.stride))
        self.last = None

    def issue(self, instr: Instr, cycle: int) -> None:
        self.close()
        wait = cycle - self.free
        while wait > 0:
            self.instrs.append(Instr.make("nop", n=min(wait, self.max_nop)))
            wait -= self.max_nop
        self.instrs.append(instr)
        self.last = _Last(instr, cycle)
        self.free = cycle + 1

    def repeat(self, cycle: int, stride: int) -> None:
        last = self.last
        if not last.reps:
            last.distance, last.stride = cycle - last.cycle, stride
        last.reps += 1
        self.free = cycle + 1

    def room(self, depth: int) -> bool:
        """Whether a new instruction still fits: the pending repeat, a nop before it and
        a repeat after it, a closing nop and the halt."""
        return len(self.instrs) + 6 <= depth


class _Streams:
    """Which stream cells hold a value in the current cycle, and which are written later: the
    program's writes on their tracks (:class:`conveyor.hw.machine.cells.Tracks`), recorded as
    soon as they are issued (a result lands ``latency`` cycles later)."""

    def __init__(self, config: CoreConfig):
        self.positions, self.streams = config.positions, config.streams
        self.tracks = Tracks()
        self.cycle = -1

    def advance(self) -> None:
        self.cycle += 1
        if len(self.tracks) > 4096:
            self.tracks.prune(self.cycle, self.positions)

    def full(self, stream: Stream, position: int) -> bool:
        return all(self.tracks.source(cell) is not None
                   for cell in operand_cells(stream, position, self.cycle))

    def free(self, stream: Stream, position: int, cycle: int) -> bool:
        return all(self.tracks.writer(cell) is None
                   for cell in operand_cells(stream, position, cycle))

    def write(self, stream: Stream, position: int, cycle: int) -> None:
        for cell in operand_cells(stream, position, cycle):
            self.tracks.write(cell, True)

    def held(self, position: int, width: int) -> list[Stream]:
        """Operands of ``width`` (1, or a group of 4) that hold a value at ``position``."""
        return [Stream(d, s, width) for d in DIRECTIONS
                for s in range(0, self.streams - width + 1, width)
                if self.full(Stream(d, s, width), position)]


class _MxmTrack:
    """What an MXM slice holds so far in the program being generated.

    Members
    -------
    loaded : shadow rows loaded.
    next_row : where the next sequential lw goes.
    active_from : first cycle an mm may use a full set of installed weights, if any.
    acc_from : accumulator row -> first cycle it is defined.
    """

    def __init__(self, config: CoreConfig):
        self.loaded: set[int] = set()
        self.next_row = 0
        self.active_from: int | None = None
        self.acc_from: dict[int, int] = {}

    @property
    def shadow_loaded(self) -> int:
        return len(self.loaded)

    def load(self, row: int, n: int, lanes: int) -> None:
        self.loaded.update(range(row, min(row + n, lanes)))
        self.next_row = (row + n) % lanes


class _Generator:
    """One random program; every choice comes from ``rng`` so a seed fixes the program."""

    def __init__(self, config: CoreConfig, rng: random.Random, size: int):
        self.config, self.rng, self.size = config, rng, size
        self.streams = _Streams(config)
        self.queues = [_QueueGen(q, config.max_nop) for q in config.queues]
        self.vxm_positions = [s.position for s in config.slices_of("vxm")]
        # Where MEM reads mostly go: the slices that compute.
        self.targets = [s.position for s in config.slices if s.kind in ("vxm", "sxm", "mxm")]
        self.mxm = {s.position: _MxmTrack(config) for s in config.slices_of("mxm")}
        self.sxm = {s.position: set() for s in config.slices_of("sxm")}  # transpose rows
        # Hot addresses make reads find data and written words; the top words test the edge.
        self.hot = min(config.mem_depth, 24)
        # Per-program appetites, so that some programs are dense and some sparse.
        self.p_issue = {"mem.rd": rng.uniform(0.2, 0.7), "mem.wr": rng.uniform(0.2, 0.8),
                        "mem": rng.uniform(0.3, 0.7), "vxm": rng.uniform(0.4, 0.9),
                        "sxm": rng.uniform(0.4, 0.9), "mxm.w": rng.uniform(0.4, 0.9),
                        "mxm.mm": rng.uniform(0.4, 0.9), "mxm.acc": rng.uniform(0.3, 0.8)}
        self.p_repeat = rng.uniform(0.3, 0.9)
        self.data = self._data()

    # --- top level ---------------------------------------------------------------------

    def program(self) -> Program:
        for _ in range(self.size):
            self.streams.advance()
            for gen in self.queues:
                if self.streams.cycle >= gen.free:
                    self._step(gen)
        queues = {}
        for gen in self.queues:
            gen.close()
            if gen.instrs and self.rng.random() < 0.2:
                gen.instrs.append(Instr.make("nop", n=self.rng.randint(1, 8)))
            queues[gen.queue.name] = gen.instrs + [Instr.make("halt")]
        return Program(self.config, queues, self.data)

    def _step(self, gen: _QueueGen) -> None:
        rng, cycle = self.rng, self.streams.cycle
        if self._try_repeat(gen, cycle):
            return
        if not gen.room(self.config.queue_depth) or rng.random() >= self.p_issue[gen.queue.role]:
            return
        for _ in range(4):
            instr = self._new_instr(gen.queue, cycle)
            if instr is not None and self._fits(instr, gen.queue, cycle):
                self._commit(instr, gen.queue, cycle)
                gen.issue(instr, cycle)
                return

    def _try_repeat(self, gen: _QueueGen, cycle: int) -> bool:
        last = gen.last
        if last is None or last.reps >= self.config.max_repeat:
            return False
        slot = last.next_slot()
        if slot is None and cycle - last.cycle > self.config.max_repeat:
            return False  # a distance the queues' counters do not hold
        if slot is None:
            # The first repetition sets the distance; short ones are the common case.
            if self.rng.random() >= self.p_repeat / (cycle - last.cycle):
                return False
            stride = self._stride(last.instr)
        elif slot == cycle and self.rng.random() < self.p_repeat:
            stride = last.stride
        else:
            return False
        again = _Last(last.instr, last.cycle, last.reps, last.distance, stride).at(last.reps + 1)
        if not self._fits(again, gen.queue, cycle):
            return False
        self._commit(again, gen.queue, cycle)
        gen.repeat(cycle, stride)
        return True

    def _stride(self, instr: Instr) -> int:
        if instr.op.address is None or self.rng.random() < 0.5:
            return 0
        return self.rng.choice((1, 1, -1, 2, 3))

    # --- validity ----------------------------------------------------------------------

    def _fits(self, instr: Instr, queue: Queue, cycle: int) -> bool:
        """Operands hold values now, result cells have no other writer, address in range,
        slice state defined."""
        op, position = instr.op, queue.slice.position
        if op.address is not None and check_value(op.field(op.address).kind,
                                                  instr[op.address], self.config):
            return False
        for value in self._operands(instr):
            if not self.streams.full(value, position):
                return False
        if not self._state_ok(instr, position, cycle):
            return False
        if op.writes:
            return self.streams.free(instr["d"], position, cycle + self.config.timing.latency(op))
        return True

    def _operands(self, instr: Instr) -> list[Stream]:
        """The streams ``instr`` reads (an lw does not read those for rows past the last)."""
        if instr.op.mnemonic == "lw":
            s = instr["s"]
            return [Stream(s.dir, s.index, min(s.width, self.config.lanes - instr["row"]))]
        return [v for v in (instr[name] for name in instr.op.reads) if isinstance(v, Stream)]

    def _state_ok(self, instr: Instr, position: int, cycle: int) -> bool:
        name = instr.op.mnemonic
        if name == "tr.out":
            return len(self.sxm[position]) == self.config.lanes
        if position not in self.mxm:
            return True
        mxm = self.mxm[position]
        if name == "iw":
            return mxm.shadow_loaded == self.config.lanes
        if name in ("mm.set", "mm.add"):
            if mxm.active_from is None or mxm.active_from > cycle:
                return False
            return name == "mm.set" or instr["a"] in mxm.acc_from
        if name == "accrd":
            return mxm.acc_from.get(instr["a"], cycle + 1) <= cycle
        return True

    def _commit(self, instr: Instr, queue: Queue, cycle: int) -> None:
        op, position = instr.op, queue.slice.position
        if op.writes:
            self.streams.write(instr["d"], position, cycle + self.config.timing.latency(op))
        if op.mnemonic == "tr.in":
            self.sxm[position].add(instr["row"])
        elif op.mnemonic == "lw":
            self.mxm[position].load(instr["row"], instr["s"].width, self.config.lanes)
        elif op.mnemonic == "iw":
            self.mxm[position].active_from = cycle + self.config.timing.latency(op)
        elif op.mnemonic == "mm.set":
            self.mxm[position].acc_from.setdefault(instr["a"], cycle + self.config.timing.latency(op))

    # --- choices -----------------------------------------------------------------------

    def _new_instr(self, queue: Queue, cycle: int) -> Instr | None:
        role, rng = queue.role, self.rng
        if role == "vxm":
            for _ in range(4):  # a core may build only some VXM ops: draw again
                instr = self._vxm(queue.slice.position)
                if instr is None or self.config.builds(instr.op):
                    return instr
            return None
        if role == "sxm":
            return self._sxm(queue.slice.position)
        if role.startswith("mxm"):
            return self._mxm(role, queue.slice.position)
        if role == "mem.rd" or (role == "mem" and rng.random() < 0.5):
            return Instr.make("read", addr=self._addr(), d=self._mem_dest(queue.slice.position))
        held = self.streams.held(queue.slice.position, 1)
        if not held:
            return None
        return Instr.make("write", s=rng.choice(held), addr=self._addr())

    def _addr(self) -> int:
        depth, rng = self.config.mem_depth, self.rng
        if rng.random() < 0.1:
            return depth - 1 - rng.randrange(4)
        return rng.randrange(self.hot)

    def _mem_dest(self, position: int) -> Stream:
        """A byte stream, mostly heading for a VXM and mostly on the stream that makes byte
        k of a group from the k-th slice upstream, so that int32 groups form."""
        rng, streams = self.rng, self.config.streams
        nearest = min(self.targets, key=lambda v: abs(v - position), default=position)
        if rng.random() < 0.4:
            nearest = rng.choice(self.targets or [position])
        toward = "e" if position < nearest else "w"
        direction = toward if rng.random() < 0.8 else rng.choice(DIRECTIONS)
        if rng.random() < 0.7:
            byte = (position if direction == "e" else nearest - position - 1) % GROUP
            return Stream(direction, rng.randrange(streams // GROUP) * GROUP + byte)
        return Stream(direction, rng.randrange(streams))

    def _stream_out(self, width: int) -> Stream:
        index = self.rng.randrange(self.config.streams // width) * width
        return Stream(self.rng.choice(DIRECTIONS), index, width)

    def _vxm(self, position: int) -> Instr | None:
        rng = self.rng
        bytes_, groups = self.streams.held(position, 1), self.streams.held(position, GROUP)
        kinds = []
        if bytes_:
            kinds += ["bin.i8", "un.i8", "cvt.i8.i32"]
        if groups:
            kinds += ["bin.i32", "un.i32", "cvt.i32.i8", "requant", "fixed.i32"]
        if not kinds:
            return None
        kind = rng.choice(kinds)
        if kind == "cvt.i8.i32":
            return Instr.make(kind, a=rng.choice(bytes_), d=self._stream_out(GROUP))
        if kind == "cvt.i32.i8":
            return Instr.make(kind, a=rng.choice(groups), d=self._stream_out(1))
        if kind == "requant":
            return self._requant(rng.choice(groups), groups)
        if kind == "fixed.i32":  # gemmlowp's primitives: b a group or an immediate
            name = rng.choice(("mulq.i32", "rshr.i32"))
            edges = (-(1 << 31), (1 << 31) - 1, 1 << 30) if name == "mulq.i32" else (32, 37)
            b = (rng.choice(groups) if rng.random() < 0.6 else rng.choice(edges)
                 if rng.random() < 0.3 else self._immediate("sra", "i32")
                 if name == "rshr.i32" else self._immediate("mul", "i32"))
            return Instr.make(name, a=rng.choice(groups), b=b, d=self._stream_out(GROUP))
        t = kind[-3:] if kind.endswith("i32") else "i8"
        width, held = (GROUP, groups) if t == "i32" else (1, bytes_)
        if kind.startswith("un"):
            return Instr.make(f"{rng.choice(list(UNARY))}.{t}", a=rng.choice(held),
                              d=self._stream_out(width))
        name = rng.choice(list(BINARY))
        b = rng.choice(held) if rng.random() < 0.6 else self._immediate(name, t)
        return Instr.make(f"{name}.{t}", a=rng.choice(held), b=b, d=self._stream_out(width))

    def _sxm(self, position: int) -> Instr | None:
        rng, lanes = self.rng, self.config.lanes
        held = self.streams.held(position, 1)
        if not held:
            return None
        full = len(self.sxm[position]) == lanes
        kind = rng.choice(("shift", "rotate", "bcast", "permute")
                          + (("tr.out",) * 2 if full else ("tr.in",) * 10))
        d = self._stream_out(1)
        if kind in ("shift", "rotate"):
            n = rng.choice((0, 1, -1, lanes - 1, 1 - lanes, rng.randint(1 - lanes, lanes - 1)))
            return Instr.make(kind, s=rng.choice(held), d=d, n=n)
        if kind == "bcast":
            return Instr.make(kind, s=rng.choice(held), i=rng.randrange(lanes), d=d)
        if kind == "permute":
            return Instr.make(kind, s=rng.choice(held), m=rng.choice(held), d=d)
        if kind == "tr.in":  # mostly the next row in order, so that all rows fill up
            loaded = self.sxm[position]
            row = min(set(range(lanes)) - loaded, default=0) if rng.random() < 0.7 else None
            return Instr.make(kind, s=rng.choice(held),
                              row=rng.randrange(lanes) if row is None else row)
        return Instr.make(kind, col=rng.randrange(lanes), d=d)

    def _mxm(self, role: str, position: int) -> Instr | None:
        rng, lanes = self.rng, self.config.lanes
        acc_row = rng.randrange(min(8, self.config.acc_depth))
        if rng.random() < 0.1:
            acc_row = self.config.acc_depth - 1 - rng.randrange(min(2, self.config.acc_depth))
        if role == "mxm.acc":
            return Instr.make("accrd", a=acc_row, d=self._stream_out(GROUP))
        held = self.streams.held(position, 1)
        if role == "mxm.mm":
            if not held:
                return None
            name = "mm.add" if rng.random() < 0.6 else "mm.set"
            return Instr.make(name, s=rng.choice(held), a=acc_row)
        if self.mxm[position].shadow_loaded == lanes and rng.random() < 0.3:
            return Instr.make("iw")
        windows = [Stream(s.dir, s.index, n) for s in held for n in range(1, MAX_WINDOW + 1)
                   if self.streams.full(Stream(s.dir, s.index, n), position)
                   and s.index + n <= self.config.streams]
        if not windows:
            return None
        row = self.mxm[position].next_row if rng.random() < 0.8 else rng.randrange(lanes)
        if rng.random() < 0.8:  # mostly the widest: 16 rows must load before an mm can issue
            widest = max(w.width for w in windows)
            windows = [w for w in windows if w.width == widest]
        return Instr.make("lw", s=rng.choice(windows), row=row)

    def _immediate(self, name: str, t: str) -> int:
        rng = self.rng
        if name in ("shl", "sra") or rng.random() < 0.3:
            return rng.choice((0, 1, 3, 7, 8, 31, 33, -1))
        if t == "i8":
            return rng.randint(-128, 127)
        return rng.choice((rng.randint(-300, 300), rng.randint(-(1 << 31), (1 << 31) - 1)))

    def _requant(self, a: Stream, groups: list[Stream]) -> Instr:
        rng = self.rng
        mul = rng.choice((rng.randrange(1 << 31), (1 << 31) - 1, 1 << 30, 0,
                          rng.randrange(1 << 28, 1 << 31)))
        shift = rng.choice((0, 1, rng.randint(0, 8), rng.randint(0, 31)))
        zp = rng.choice((0, rng.randint(-128, 127), -128, 127))
        name = rng.choice(("requant", "requant.relu", "requant.v", "requant.v.relu",
                           "requant.s", "requant.s.relu", "requant.s.v", "requant.s.v.relu"))
        if op_named(name).has("b"):  # per-lane multipliers from a group
            return Instr.make(name, a=a, b=rng.choice(groups), d=self._stream_out(1),
                              shift=shift, zp=zp)
        return Instr.make(name, a=a, d=self._stream_out(1), mul=mul, shift=shift, zp=zp)

    # --- data --------------------------------------------------------------------------

    def _data(self) -> list[DataBlock]:
        """Blocks in the hot words and now and then at the top of a slice, never
        overlapping within a slice."""
        rng, cfg, blocks = self.rng, self.config, []
        for s in cfg.mem_slices:
            if rng.random() < 0.25:
                continue
            start = rng.randrange(self.hot // 2)
            length = rng.randint(1, self.hot - start)
            blocks.append(DataBlock(s.name, start, self._values(length)))
            if cfg.mem_depth >= 2 * self.hot and rng.random() < 0.2:
                length = rng.randint(1, 4)
                blocks.append(DataBlock(s.name, cfg.mem_depth - length, self._values(length)))
        return blocks

    def _values(self, words: int) -> np.ndarray:
        seed = self.rng.getrandbits(32)
        values = np.random.default_rng(seed).integers(-128, 128, (words, self.config.lanes))
        edges = np.random.default_rng(seed + 1).random(values.shape) < 0.15
        values[edges] = np.random.default_rng(seed + 2).choice(_EXTREMES, int(edges.sum()))
        return values.astype(np.int8)


def random_program(config: CoreConfig, seed: int, *, size: int = DEFAULT_SIZE) -> Program:
    """A random program for ``config`` that is valid by construction; the same seed always
    gives the same program.

    Parameters
    ----------
    config : the core the program is for.
    seed : fixes every choice.
    size : cycles in which instructions may issue (the program runs a few cycles longer).
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    return _Generator(config, random.Random(seed), size).program()
