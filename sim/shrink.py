"""Shrinking a program on which two backends differ: a smaller program that still differs and
still runs on the reference without a hazard, found greedily by edits that keep its timing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..hw.machine.cells import Cell, Tracks, operand_cells, result_cells
from ..hw.machine.isa import Instr
from ..hw.machine.program import DataBlock, Program, cycle_count, timeline
from .outcomes import chunks, outcome

__all__ = ["SHRINK_BATCH", "Edit", "queue_entries", "shrink", "valid_on"]

#: Candidates judged per batch (one simulator process) while shrinking.
SHRINK_BATCH = 12


def valid_on(reference: Callable[[Program], Any], program: Program) -> bool:
    return not isinstance(outcome(reference, program), BaseException)


def queue_entries(program: Program) -> int:
    return sum(len(v) - 1 for v in program.queues.values())


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
    for group in chunks(pool, min(batch, budget)):
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
        for cell in result_cells(issue.instr, p, issue.cycle, config.timing):
            written.write(cell, issue)
        if op.mnemonic == "write":
            stores.setdefault((p, issue.instr["addr"]), []).append(
                (issue.cycle + config.timing.latency(op), issue))

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
