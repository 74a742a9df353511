"""Random-program co-simulation: the golden model against the RTL, mismatches shrunk to files.

:func:`cosim` runs :func:`~conveyor.sim.randprog.random_program` for every seed on the golden
model (the reference) and on the Verilator model of the RTL (the candidate) and compares the
cycle count and the final contents of every MEM slice. A program on which they differ is
shrunk (:func:`shrink`) to a small program that still differs and still runs on the golden
model without a hazard, and written as assembly that ``conveyor run FILE -c CONFIG --backend
verilator`` replays.

Starting a simulator costs seconds, so the RTL runs many programs in one simulator process:
:func:`verilator_batch` starts the cached model once with this module as its cocotb test
module, which (only when ``$CONVEYOR_COSIM_BATCH`` names a batch) runs every program of the
batch in turn through :class:`~conveyor.sim.cocotb_host.HostPort`, resetting the core and
clearing the MEM words the previous program left non-zero.
"""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConveyorError, SimulationError
from ..hw.machine.cells import Cell, Tracks, operand_cells, result_cells
from ..hw.machine.config import CoreConfig
from ..hw.machine.isa import Instr
from ..hw.machine.program import DataBlock, Program, cycle_count, timeline
from ..hw.machine.timing import latency
from .randprog import DEFAULT_SIZE, random_program

__all__ = ["ENV_BATCH", "BatchRunner", "CosimReport", "Mismatch", "compare", "cosim", "each",
           "shrink", "verilator_batch", "write_mismatch"]

#: Runs programs, one outcome per program: a result with ``cycles`` and ``mem``, or the
#: exception that stopped it.
BatchRunner = Callable[[Sequence[Program]], list[Any]]

#: Names the pickled batch that the simulator-side half of :func:`verilator_batch` runs.
ENV_BATCH = "CONVEYOR_COSIM_BATCH"

#: Programs per simulator process during the sweep, and candidates per process while shrinking.
SWEEP_BATCH = 16
SHRINK_BATCH = 12


# --- report -------------------------------------------------------------------------------

@dataclass
class Mismatch:
    """One seed on which the backends differ.

    Members
    -------
    seed : the seed of :func:`random_program`.
    differences : what differed in the shrunk program (first lines of :func:`compare`).
    file : the assembly file of the shrunk program.
    instructions : queue entries (halts not counted) before and after shrinking.
    """

    seed: int
    differences: list[str]
    file: Path
    instructions: tuple[int, int]

    def to_dict(self) -> dict:
        return {"seed": self.seed, "differences": self.differences, "file": str(self.file),
                "instructions": list(self.instructions)}


@dataclass
class CosimReport:
    """Outcome of :func:`cosim`.

    Members
    -------
    config : the config's name.
    programs : programs co-simulated.
    mismatches : one per seed whose program the backends disagree on.
    files : the assembly files written (one per mismatch).
    mnemonics : slice instructions issued, by mnemonic, over all programs (the coverage).
    """

    config: str
    programs: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    mnemonics: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict:
        return {"config": self.config, "programs": self.programs,
                "mismatches": [m.to_dict() for m in self.mismatches],
                "files": [str(f) for f in self.files], "mnemonics": self.mnemonics}


# --- comparing ----------------------------------------------------------------------------

def compare(reference: Any, candidate: Any, names: tuple[str, str] = ("golden", "rtl"),
            limit: int = 4) -> list[str]:
    """What differs between two outcomes (results or exceptions), one line per finding;
    empty when they agree on the cycle count and every MEM slice."""
    ref, cand = names
    if isinstance(candidate, BaseException):
        return [f"{cand} failed: {candidate}"]
    if isinstance(reference, BaseException):
        return [f"{ref} failed: {reference}"]
    out = []
    if reference.cycles != candidate.cycles:
        out.append(f"cycles: {ref} {reference.cycles}, {cand} {candidate.cycles}")
    for name, want in reference.mem.items():
        got = np.asarray(candidate.mem.get(name, np.zeros_like(want)))
        words = np.flatnonzero((got != want).any(axis=1))
        for w in words[:limit]:
            out.append(f"{name} word {w}: {ref} {want[w].tolist()}, {cand} {got[w].tolist()}")
        if len(words) > limit:
            out.append(f"{name}: {len(words) - limit} more words differ")
    return out


def _differing_words(reference: Any, candidate: Any) -> set[tuple[str, int]]:
    """(slice, word) of every MEM word on which two results differ."""
    if isinstance(reference, BaseException) or isinstance(candidate, BaseException):
        return set()
    return {(name, int(w)) for name, want in reference.mem.items()
            for w in np.flatnonzero((np.asarray(candidate.mem[name]) != want).any(axis=1))}


def each(run: Callable[[Program], Any]) -> BatchRunner:
    """A batch runner that calls ``run`` once per program, keeping exceptions as outcomes."""
    def run_all(programs: Sequence[Program]) -> list[Any]:
        return [_outcome(run, p) for p in programs]
    return run_all


def _outcome(run: Callable[[Program], Any], program: Program) -> Any:
    try:
        return run(program)
    except ConveyorError as e:
        return e


# --- the sweep ----------------------------------------------------------------------------

def cosim(config: CoreConfig, seeds: Iterable[int], *, out_dir: Path | str = Path("."),
          size: int = DEFAULT_SIZE, reference: Callable[[Program], Any] | None = None,
          candidate: BatchRunner | None = None, names: tuple[str, str] = ("golden", "rtl"),
          shrink_budget: int = 240, progress: bool | None = None) -> CosimReport:
    """Co-simulate the random program of every seed; shrink and write each mismatch.

    Parameters
    ----------
    config : the core.
    seeds : seeds of :func:`random_program`.
    out_dir : where ``mismatch-<config>-<seed>.s`` files go (created when needed).
    size : passed to :func:`random_program`.
    reference : the specification, :func:`conveyor.sim.golden.run` by default. While
        shrinking, a program counts as valid only if it runs on it without an error.
    candidate : the implementation under test, :func:`verilator_batch` by default.
    names : labels of the two in messages and file headers.
    shrink_budget : most candidate programs tried while shrinking one mismatch.
    progress : show a progress bar on stderr; by default when stderr is a terminal.
    """
    if reference is None:
        from . import golden
        reference = golden.run
    candidate = verilator_batch if candidate is None else candidate
    seeds = list(seeds)
    report = CosimReport(config.name)
    with _progress(len(seeds), f"cosim {config.name}", progress) as advance:
        for chunk in _chunks(seeds, SWEEP_BATCH):
            programs = [random_program(config, s, size=size) for s in chunk]
            expected = [reference(p) for p in programs]  # valid by construction: no error
            for seed, program, want, got in zip(chunk, programs, expected, candidate(programs)):
                report.programs += 1
                _count(report.mnemonics, program)
                if compare(want, got, names):
                    mismatch = _shrink_and_write(
                        program, seed, reference, candidate, names, Path(out_dir),
                        f"random_program size {size}", shrink_budget)
                    report.mismatches.append(mismatch)
                    report.files.append(mismatch.file)
            advance(len(chunk))
    report.mnemonics = dict(sorted(report.mnemonics.items()))
    return report


def _chunks(items: Sequence | Iterator, n: int) -> Iterator[list]:
    items, chunk = iter(items), []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count(counter: dict[str, int], program: Program) -> None:
    for instrs in program.queues.values():
        for instr in instrs:
            if instr.op.kind != "icu":
                counter[instr.op.mnemonic] = counter.get(instr.op.mnemonic, 0) + 1


class _progress:
    """A context manager yielding ``advance(n)``; a rich bar on stderr when shown."""

    def __init__(self, total: int, label: str, show: bool | None):
        self.total, self.label = total, label
        self.show = sys.stderr.isatty() if show is None else show
        self.bar = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda n: None
        from rich import progress as rp
        from rich.console import Console

        self.bar = rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(),
                               rp.MofNCompleteColumn(), rp.TimeElapsedColumn(),
                               console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


# --- mismatch files -----------------------------------------------------------------------

def _shrink_and_write(program: Program, seed: int, reference: Callable[[Program], Any],
                      candidate: BatchRunner, names: tuple[str, str], out_dir: Path,
                      origin: str, budget: int) -> Mismatch:
    found: dict[int, list[str]] = {}  # id(program) -> its differences, for failing candidates
    focus: set[tuple[str, int]] = set()  # MEM words on which the first run differed

    def fails(programs: Sequence[Program]) -> list[bool]:
        wants = [_outcome(reference, p) for p in programs]
        verdicts = []
        for p, want, got in zip(programs, wants, candidate(programs)):
            differences = compare(want, got, names)
            if differences:
                found[id(p)] = differences
                focus.update(() if focus else _differing_words(want, got))
            verdicts.append(bool(differences))
        return verdicts

    if fails([program])[0]:
        small = shrink(program, fails, valid=lambda p: _valid(reference, p), budget=budget,
                       focus=set(focus))
    else:  # a flaky candidate: report what the sweep saw, unshrunk
        found[id(program)] = ["differed once, agreed when run again"]
        small = program
    differences = found[id(small)]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"mismatch-{program.config.name}-{seed}.s"
    before, after = _entries(program), _entries(small)
    summary = (f"seed {seed} ({origin}), shrunk from {before} to {after} queue entries; "
               f"{names[0]} vs {names[1]}:")
    write_mismatch(path, small, [summary, *differences])
    return Mismatch(seed, differences, path, (before, after))


def write_mismatch(path: Path, program: Program, lines: list[str]) -> None:
    """Write ``program`` as assembly whose header comment holds ``lines`` and how to replay."""
    from ..sw.asm.disasm import disassemble

    name = program.config.name
    header = [f"; cosim mismatch on config '{name}'", *[f";   {line}" for line in lines],
              f"; replay: conveyor run {path.name} -c {name} --backend verilator", ""]
    path.write_text("\n".join(header) + disassemble(program), encoding="utf-8")


def _valid(reference: Callable[[Program], Any], program: Program) -> bool:
    return not isinstance(_outcome(reference, program), BaseException)


def _entries(program: Program) -> int:
    return sum(len(v) - 1 for v in program.queues.values())


# --- shrinking ----------------------------------------------------------------------------

#: An edit turns a program into a smaller candidate. Edits name what they change by queue,
#: cycle and MEM address, not by list index, so edits that keep timing also apply on top of
#: one another: that is how one batch of verdicts can remove many instructions at once.
Edit = Callable[[Program], Program]


def shrink(program: Program, fails: Callable[[Sequence[Program]], list[bool]], *,
           valid: Callable[[Program], bool], budget: int = 240, batch: int = SHRINK_BATCH,
           focus: Iterable[tuple[str, int]] = ()) -> Program:
    """A smaller program that still fails, found greedily.

    Edits are tried coarse to fine (:data:`_PHASES`: cut every queue at a cycle, empty
    queues, turn what issues in a window of cycles into ``nop``s of the same length, drop or
    halve data, the same per queue, then shorten ``repeat``s and ``nop``s and turn stream
    operands into immediates). A candidate must be smaller (:func:`_cost`) and ``valid``;
    ``fails`` judges ``batch`` of them at a time. When several fail, all their edits together
    are tried next; otherwise the first failing one, in order, is kept. Stops when no edit
    fails or after ``budget`` candidates were judged.

    ``focus`` names MEM words ``(slice, word)`` that differ; the first edit then keeps only
    the instructions those words depend on (their cone of influence).
    """
    phases = _PHASES
    if focus:
        phases = (functools.partial(_cones, words=frozenset(focus)), *_PHASES)
    tried, changed = 0, True
    while changed and tried < budget:
        changed = False
        for phase in phases:
            resume = 0  # after a success, go on with the edits that came after it
            while tried < budget:
                found = _first_failures(program, phase(program)[resume:], fails, valid,
                                        batch, budget - tried)
                tried += found.judged
                if not found.edits:
                    break
                resume += found.index
                program, changed = found.program, True
                rest = found.edits[1:]  # found.program has edits[0]; try the others with it
                while rest and tried < budget:
                    more = _apply(program, rest)
                    if more is not None and _cost(more) < _cost(program) and valid(more):
                        tried += 1
                        if fails([more])[0]:
                            program = more
                            break
                    rest = rest[:len(rest) // 2]
    return program


@dataclass
class _Found:
    judged: int = 0
    index: int = 0  # of the first failing edit among those offered
    edits: list[Edit] = field(default_factory=list)  # every failing edit of that batch
    program: Program | None = None  # the first failing candidate


def _first_failures(program: Program, edits: list[Edit], fails, valid, batch: int,
                    budget: int) -> _Found:
    found, cost = _Found(), _cost(program)
    pool = ((k, e, c) for k, e in enumerate(edits)
            for c in [_try(e, program)] if c is not None and _cost(c) < cost and valid(c))
    for group in _chunks(pool, min(batch, budget)):
        found.judged += len(group)
        bad = [item for item, verdict in zip(group, fails([c for _, _, c in group])) if verdict]
        if bad:
            found.index, found.program = bad[0][0], bad[0][2]
            found.edits = [e for _, e, _ in bad]
            return found
        if found.judged >= budget:
            break
    return found


def _try(edit: Edit, program: Program) -> Program | None:
    try:
        return edit(program)
    except ValueError:  # the edit no longer fits the program (its unit moved)
        return None


def _apply(program: Program, edits: list[Edit]) -> Program | None:
    for edit in edits:
        program = _try(edit, program)
        if program is None:
            return None
    return program


def _cost(program: Program) -> tuple[int, ...]:
    """What shrinking reduces, most important first: slice instructions, their issues, data
    words, stream operands, queue entries, nop cycles."""
    ops = issues = reads = entries = waits = 0
    for instrs in program.queues.values():
        for unit in _units(instrs):
            head = unit[0]
            entries += len(unit)
            if head.op.mnemonic == "nop":
                waits += head["n"]
                continue
            ops += 1
            issues += 1 + (unit[1]["n"] if len(unit) > 1 else 0)
            reads += sum(not isinstance(head[f], int) for f in head.op.reads)
    words = sum(len(b.values) for b in program.data)
    return ops, issues, words, reads, entries, waits


# --- queues as units ----------------------------------------------------------------------

def _units(instrs: list[Instr]) -> list[list[Instr]]:
    """A queue without its halt as units: ``[nop]``, ``[op]`` or ``[op, repeat]``."""
    units: list[list[Instr]] = []
    for instr in instrs:
        name = instr.op.mnemonic
        if name == "halt":
            break
        if name == "repeat" and units:
            units[-1].append(instr)
        else:
            units.append([instr])
    return units


def _timed(instrs: list[Instr]) -> list[tuple[int, list[Instr]]]:
    """Units with the cycle of their first slot."""
    out, cycle = [], 0
    for unit in _units(instrs):
        out.append((cycle, unit))
        cycle += _duration(unit)
    return out


def _duration(unit: list[Instr]) -> int:
    """Cycles from the unit's first issue slot to the next unit's."""
    head = unit[0]
    if head.op.mnemonic == "nop":
        return head["n"]
    return 1 + (unit[1]["n"] * unit[1]["d"] if len(unit) > 1 else 0)


def _nop(n: int) -> list[Instr]:
    return [Instr.make("nop", n=n)] if n > 0 else []


def _repeat(repeat: Instr, n: int) -> Instr:
    return Instr.make("repeat", n=n, d=repeat["d"], stride=repeat["stride"])


def _join(units: list[list[Instr]]) -> list[Instr]:
    """Units back to a queue: adjacent nops merged, a halt at the end."""
    out: list[Instr] = []
    for unit in units:
        for instr in unit:
            if instr.op.mnemonic == "nop" and out and out[-1].op.mnemonic == "nop":
                out[-1] = Instr.make("nop", n=out[-1]["n"] + instr["n"])
            else:
                out.append(instr)
    return out + [Instr.make("halt")]


def _with(program: Program, queues: dict | None = None, data: list | None = None) -> Program:
    return Program(program.config, {**program.queues, **(queues or {})},
                   program.data if data is None else data)


def _busy(program: Program) -> list[str]:
    return [name for name, instrs in program.queues.items() if len(instrs) > 1]


def _halves(n: int, least: int = 1) -> Iterator[int]:
    """n/2, n/4, ... down to ``least``: the granularities of a delta-debugging pass."""
    size = max(least, n // 2)
    while True:
        yield size
        if size <= least:
            return
        size = max(least, size // 2)


# --- edits --------------------------------------------------------------------------------

def _truncations(program: Program) -> list[Edit]:
    """Every queue cut at cycle T (nothing issues from T on), shortest first."""
    end = cycle_count(program)
    return [functools.partial(_truncate, limit=end * k // 8) for k in range(1, 8)]


def _truncate(program: Program, limit: int) -> Program:
    return _with(program, {name: _cut(instrs, limit) for name, instrs in program.queues.items()})


def _cut(instrs: list[Instr], limit: int) -> list[Instr]:
    kept = []
    for cycle, unit in _timed(instrs):
        if cycle >= limit:
            break
        head = unit[0]
        if head.op.mnemonic == "nop":
            kept.append(_nop(min(head["n"], limit - cycle)))
        elif len(unit) == 1:
            kept.append(unit)
        else:
            reps = min(unit[1]["n"], (limit - 1 - cycle) // unit[1]["d"])
            kept.append([head] + ([_repeat(unit[1], reps)] if reps else []))
    return _join(kept)


def _clears(program: Program) -> list[Edit]:
    """Groups of queues emptied: half of the busy queues at a time, down to single ones."""
    busy, edits = _busy(program), []
    for size in _halves(len(busy)):
        edits += [functools.partial(_clear, names=tuple(busy[i:i + size]))
                  for i in range(0, len(busy), size)]
    return edits


def _clear(program: Program, names: tuple[str, ...]) -> Program:
    return _with(program, {name: [Instr.make("halt")] for name in names})


def _windows(program: Program) -> list[Edit]:
    """What every queue issues within a window of cycles turned into nops, so nothing else
    moves; halves of the run first, down to 4 cycles."""
    end, edits = cycle_count(program), []
    for size in _halves(end, 4):
        edits += [functools.partial(_blank, names=None, start=a, stop=a + size)
                  for a in range(0, end, size)]
    return edits


def _queue_windows(program: Program) -> list[Edit]:
    """The same per queue, on unit boundaries, down to single units."""
    edits = []
    for name in _busy(program):
        timed = _timed(program.queues[name])
        bounds = [c for c, _ in timed] + [timed[-1][0] + _duration(timed[-1][1])]
        for size in _halves(len(timed)):
            edits += [functools.partial(_blank, names=(name,), start=bounds[i],
                                        stop=bounds[min(i + size, len(timed))])
                      for i in range(0, len(timed), size)]
    return edits


def _blank(program: Program, names: tuple[str, ...] | None, start: int, stop: int) -> Program:
    """Units of ``names`` (all queues: None) that lie within [start, stop) become nops."""
    queues = {}
    for name in names or program.queues:
        units = [_nop(_duration(u)) if start <= c and c + _duration(u) <= stop else u
                 for c, u in _timed(program.queues[name])]
        queues[name] = _join(units)
    return _with(program, queues)


def _data_cuts(program: Program) -> list[Edit]:
    edits = []
    for block in program.data:
        key = (block.slice, block.addr)
        edits.append(functools.partial(_cut_data, key=key, keep=None))
        if len(block.values) > 1:
            edits += [functools.partial(_cut_data, key=key, keep=k) for k in (0, 1)]
    return edits


def _cut_data(program: Program, key: tuple[str, int], keep: int | None) -> Program:
    """Drop the block at ``key``, or keep only its first (0) or second (1) half."""
    data = []
    for block in program.data:
        if (block.slice, block.addr) != key:
            data.append(block)
        elif keep is not None:
            half = len(block.values) // 2
            values = block.values[:half] if keep == 0 else block.values[half:]
            data.append(DataBlock(block.slice, block.addr + half * keep, values))
    return _with(program, data=data)


def _unit_edits(program: Program) -> list[Edit]:
    """Small edits of single units: fewer repetitions, shorter or no nops, immediates."""
    edits = []
    for name in _busy(program):
        for cycle, unit in _timed(program.queues[name]):
            edits += [functools.partial(_edit_unit, name=name, cycle=cycle, variant=k)
                      for k in range(len(_variants(unit)))]
    return edits


def _edit_unit(program: Program, name: str, cycle: int, variant: int) -> Program:
    timed = _timed(program.queues[name])
    for i, (c, unit) in enumerate(timed):
        if c == cycle:
            variants = _variants(unit)
            if variant >= len(variants):
                break
            units = [u for _, u in timed]
            return _with(program, {name: _join(units[:i] + [variants[variant]] + units[i + 1:])})
    raise ValueError(f"{name} has no such unit at cycle {cycle}")


def _variants(unit: list[Instr]) -> list[list[Instr]]:
    head, out = unit[0], []
    if head.op.mnemonic == "nop":
        n = head["n"]
        return [[]] + [_nop(m) for m in sorted({1, n // 2, n - 1} - {0, n})]
    if len(unit) > 1:
        rep = unit[1]
        n, d = rep["n"], rep["d"]
        fewer = sorted({0, n // 2, n - 1} - {n})
        # fewer repetitions, a nop in their place keeping the rest put; then without the nop
        out += [[head] + ([_repeat(rep, m)] if m else []) + _nop((n - m) * d) for m in fewer]
        out += [[head] + ([_repeat(rep, m)] if m else []) for m in fewer]
    if "b" in head.op.reads and not isinstance(head["b"], int):
        args = dict(head.args)
        args["b"] = 1
        out.append([Instr.make(head.op.mnemonic, **args)] + unit[1:])
    return out


#: Edit generators, coarse to fine.
_PHASES: tuple[Callable[[Program], list[Edit]], ...] = (
    _truncations, _clears, _windows, _data_cuts, _queue_windows, _unit_edits)


# --- the cone of influence ------------------------------------------------------------------

def _cones(program: Program, words: frozenset[tuple[str, int]]) -> list[Edit]:
    """Keep only what one differing word depends on (smallest first), or what all do."""
    edits = [functools.partial(_keep_cone, words=frozenset([w])) for w in sorted(words)[:8]]
    edits.sort(key=lambda e: _cost(e(program)))
    return edits + [functools.partial(_keep_cone, words=words)]


def _keep_cone(program: Program, words: frozenset[tuple[str, int]]) -> Program:
    """Every unit that no differing MEM word depends on becomes a nop of its length."""
    keep = _cone(program, words)
    queues = {}
    for name in _busy(program):
        units, index = [], 0
        for unit in _units(program.queues[name]):
            inside = unit[0].op.mnemonic == "nop" or (name, index) in keep
            units.append(unit if inside else _nop(_duration(unit)))
            index += len(unit)
        queues[name] = _join(units)
    return _with(program, queues)


def _cone(program: Program, words: frozenset[tuple[str, int]]) -> set[tuple[str, int]]:
    """(queue, instruction index) of every instruction that the final value of ``words``
    depends on, through streams (the nearest writer upstream on the cell's track), MEM (the
    last write that landed before a read) and the state inside MXM and SXM slices (taken
    whole: an instruction there depends on every earlier one of its slice)."""
    config = program.config
    written = Tracks()  # every stream write, by its issue
    stores: dict[tuple[int, int], list] = {}  # (position, address) -> [(landing cycle, issue)]
    repeats: dict[tuple[str, int], list] = {}  # (queue, index) -> its issues
    stateful: dict[int, list] = {}  # MXM/SXM position -> its issues in cycle order
    for issue in timeline(program):
        repeats.setdefault((issue.queue.name, issue.index), []).append(issue)
        op, p = issue.instr.op, issue.queue.slice.position
        if op.kind in ("mxm", "sxm"):
            stateful.setdefault(p, []).append(issue)
        for cell in result_cells(issue.instr, p, issue.cycle):
            written.write(cell, issue)
        if op.mnemonic == "write":
            stores.setdefault((p, issue.instr["addr"]), []).append(
                (issue.cycle + latency(op), issue))

    def source(cell: Cell):
        found = written.source(cell)
        return None if found is None else found[0]

    def last_store(p: int, addr: int, before: int):
        landed = [i for c, i in stores.get((p, addr), []) if c <= before]
        return landed[-1] if landed else None

    end = cycle_count(program)
    stack = [last_store(config.slice_named(name).position, w, end) for name, w in words]
    keep: set[tuple[str, int]] = set()
    seen: set[tuple[str, int]] = set()  # (queue, cycle): every repetition has its own sources
    while stack:
        issue = stack.pop()
        if issue is None or (issue.queue.name, issue.cycle) in seen:
            continue
        seen.add((issue.queue.name, issue.cycle))
        key = (issue.queue.name, issue.index)
        if key not in keep:  # a kept instruction keeps every repetition and their sources
            keep.add(key)
            stack += repeats[key]
        p, instr = issue.queue.slice.position, issue.instr
        for name in instr.op.reads:
            if not isinstance(instr[name], int):
                stack += [source(cell) for cell in operand_cells(instr[name], p, issue.cycle)]
        if instr.op.mnemonic == "read":
            stack.append(last_store(p, instr["addr"], issue.cycle))
        if instr.op.kind in ("mxm", "sxm"):
            stack += [i for i in stateful[p] if i.cycle < issue.cycle]
    return keep


# --- the RTL, many programs per simulator process -------------------------------------------

def verilator_batch(programs: Sequence[Program], reads: Sequence[dict] | None = None
                    ) -> list[Any]:
    """Run ``programs`` (all for one config) on its cached Verilator model in one simulator
    process; one outcome per program: a :class:`~conveyor.sim.verilator.VerilatorResult` or a
    :class:`~conveyor.errors.SimulationError`.

    ``reads``, one per program, limits the MEM read back to ``{slice: [(first, count), ...]}``
    (other words come back as zeros, and the batch then does not clear the words a program
    leaves): reading all of MEM through the host port costs far more than a short run."""
    from cocotb_tools.runner import get_runner

    from . import verilator

    programs = list(programs)
    if not programs:
        return []
    config = programs[0].config
    if any(p.config != config for p in programs):
        raise ValueError("a batch must share one config")
    model = verilator.build(config)
    timeouts = [verilator.default_timeout(p) for p in programs]
    with tempfile.TemporaryDirectory(prefix="conveyor-cosim-") as tmp:
        tmp = Path(tmp)
        batch, results, log = tmp / "batch.pkl", tmp / "results.pkl", tmp / "sim.log"
        batch.write_bytes(pickle.dumps({"programs": programs, "timeouts": timeouts,
                                        "reads": list(reads) if reads else None}))
        crash = ""
        try:
            get_runner("verilator").test(
                test_module=__name__, hdl_toplevel=verilator.TOPLEVEL,
                hdl_toplevel_lang="verilog", build_dir=model, test_dir=tmp,
                results_xml=str(tmp / "results.xml"), extra_env={ENV_BATCH: str(batch)},
                log_file=log)
        except (subprocess.SubprocessError, OSError, RuntimeError, SystemExit) as e:
            crash = f" ({e})"  # the results file says how far the simulator got
        done = pickle.loads(results.read_bytes()) if results.exists() else []
        outcomes = [_result(r) for r in done]
        if len(outcomes) < len(programs):  # the simulator died on program len(outcomes)
            outcomes.append(SimulationError(
                f"the simulator ended without a result{crash}; log: {_keep_log(log)}"))
            outcomes += verilator_batch(programs[len(outcomes):],
                                        reads[len(outcomes):] if reads else None)
    return outcomes


def _result(data: dict) -> Any:
    from .verilator import VerilatorResult

    if data.get("error"):
        return SimulationError(data["error"])
    return VerilatorResult(cycles=data["cycles"], mem=data["mem"])


def _keep_log(log: Path) -> Path:
    from .verilator import cache_root

    target = cache_root() / "logs" / f"cosim-{os.getpid()}-{id(log)}.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(log.read_text(errors="replace")[-20000:] if log.exists() else "(no log)")
    return target


async def _run_batch(dut, path: Path) -> None:
    """The simulator side: run every program of the batch, writing results as they come."""
    from cocotb.triggers import SimTimeoutError

    from .cocotb_host import HostPort, mem_address

    job = pickle.loads(path.read_bytes())
    config = job["programs"][0].config
    host, out, results = HostPort(dut, config), path.with_name("results.pkl"), []
    dirty: dict[int, np.ndarray] = {}  # MEM slice ordinal -> words the last run left non-zero
    per_word = config.lanes // 4
    reads = job.get("reads") or [None] * len(job["programs"])
    for program, timeout, read in zip(job["programs"], job["timeouts"], reads):
        await host.begin()
        for ordinal, words in dirty.items():
            addrs = [mem_address(config, ordinal, int(w), c) for w in words
                     for c in range(per_word)]
            await host.write_many(addrs, [0] * len(addrs))
        try:
            result = {"cycles": await host.run(program, timeout)}
        except SimTimeoutError:
            await host.begin()  # stop the core before reading MEM back
            result = {"error": f"{config.name}: done did not rise within {timeout} cycles"}
        if read is None:
            mem = {s.name: await host.read_mem(s.index) for s in config.mem_slices}
            dirty = {s.index: np.flatnonzero(mem[s.name].any(axis=1))
                     for s in config.mem_slices}
        else:
            mem = await _read_some(host, config, read)
        results.append({**result, "mem": mem})
        tmp = out.with_suffix(".part")
        tmp.write_bytes(pickle.dumps(results))
        tmp.replace(out)


async def _read_some(host, config, read: dict) -> dict[str, np.ndarray]:
    """MEM with only the ``read`` ranges filled in, zeros elsewhere."""
    mem = {s.name: np.zeros((config.mem_depth, config.lanes), np.int8)
           for s in config.mem_slices}
    for s in config.mem_slices:
        for first, count in read.get(s.name, ()):
            mem[s.name][first:first + count] = await host.read_mem(s.index, first, count)
    return mem


if os.environ.get(ENV_BATCH):  # only inside the simulator that verilator_batch starts
    import cocotb

    @cocotb.test()
    async def run_batch(dut) -> None:
        await _run_batch(dut, Path(os.environ[ENV_BATCH]))
