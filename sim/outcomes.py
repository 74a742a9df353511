"""Outcomes of a program on a backend, and how two of them differ: what co-simulation and the
shrinker compare.

An outcome is a result with ``cycles`` and ``mem`` (the golden model's, the RTL's), or the
exception that stopped the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConveyorError
from ..hw.machine.program import Program

__all__ = ["BatchRunner", "chunks", "compare", "differing_words", "each", "outcome"]

#: Runs programs, one outcome per program.
BatchRunner = Callable[[Sequence[Program]], list[Any]]


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


def differing_words(reference: Any, candidate: Any) -> set[tuple[str, int]]:
    """(slice, word) of every MEM word on which two results differ."""
    if isinstance(reference, BaseException) or isinstance(candidate, BaseException):
        return set()
    return {(name, int(w)) for name, want in reference.mem.items()
            for w in np.flatnonzero((np.asarray(candidate.mem[name]) != want).any(axis=1))}


def each(run: Callable[[Program], Any]) -> BatchRunner:
    """A batch runner that calls ``run`` once per program, keeping exceptions as outcomes."""
    def run_all(programs: Sequence[Program]) -> list[Any]:
        return [outcome(run, p) for p in programs]
    return run_all


def outcome(run: Callable[[Program], Any], program: Program) -> Any:
    try:
        return run(program)
    except ConveyorError as e:
        return e


def chunks(items: Sequence | Iterator, n: int) -> Iterator[list]:
    """``items`` in lists of ``n`` (the last may be shorter): programs per simulator run."""
    items, chunk = iter(items), []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
