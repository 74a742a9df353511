"""``conveyor cosim``: random programs on the golden model and the RTL, mismatches shrunk to
files.

:func:`cosim` runs :func:`~conveyor.sim.randprog.random_program` for every seed on the golden
model (the reference) and on the Verilator model of the RTL (the candidate) and compares the
cycle count and the final contents of every MEM slice. A program on which they differ is
shrunk (:func:`conveyor.sim.shrink.shrink`) to a small program that still differs and still
runs on the golden model without a hazard, and written as assembly that ``conveyor run FILE -c
CONFIG --backend verilator`` replays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...hw.machine.config import CoreConfig
from ...hw.machine.program import Program
from ...progress import progress as progress_bar
from ...sim.batch import verilator_batch
from ...sim.outcomes import BatchRunner, chunks, compare, differing_words, outcome
from ...sim.randprog import DEFAULT_SIZE, random_program
from ...sim.shrink import queue_entries, shrink, valid_on
from ..asm.disasm import disassemble

__all__ = ["CosimReport", "Mismatch", "cosim", "write_mismatch"]

#: Programs per simulator process during the sweep.
SWEEP_BATCH = 16


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
        from ...sim import golden
        reference = golden.run
    candidate = verilator_batch if candidate is None else candidate
    seeds = list(seeds)
    report = CosimReport(config.name)
    with progress_bar(f"cosim {config.name}", len(seeds), show=progress) as advance:
        for chunk in chunks(seeds, SWEEP_BATCH):
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


def _count(counter: dict[str, int], program: Program) -> None:
    for instrs in program.queues.values():
        for instr in instrs:
            if instr.op.kind != "icu":
                counter[instr.op.mnemonic] = counter.get(instr.op.mnemonic, 0) + 1


# --- mismatch files -----------------------------------------------------------------------

def _shrink_and_write(program: Program, seed: int, reference: Callable[[Program], Any],
                      candidate: BatchRunner, names: tuple[str, str], out_dir: Path,
                      origin: str, budget: int) -> Mismatch:
    found: dict[int, list[str]] = {}  # id(program) -> its differences, for failing candidates
    focus: set[tuple[str, int]] = set()  # MEM words on which the first run differed

    def fails(programs: Sequence[Program]) -> list[bool]:
        wants = [outcome(reference, p) for p in programs]
        verdicts = []
        for p, want, got in zip(programs, wants, candidate(programs)):
            differences = compare(want, got, names)
            if differences:
                found[id(p)] = differences
                focus.update(() if focus else differing_words(want, got))
            verdicts.append(bool(differences))
        return verdicts

    if fails([program])[0]:
        small = shrink(program, fails, valid=lambda p: valid_on(reference, p), budget=budget,
                       focus=set(focus))
    else:  # a flaky candidate: report what the sweep saw, unshrunk
        found[id(program)] = ["differed once, agreed when run again"]
        small = program
    differences = found[id(small)]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"mismatch-{program.config.name}-{seed}.s"
    before, after = queue_entries(program), queue_entries(small)
    summary = (f"seed {seed} ({origin}), shrunk from {before} to {after} queue entries; "
               f"{names[0]} vs {names[1]}:")
    write_mismatch(path, small, [summary, *differences])
    return Mismatch(seed, differences, path, (before, after))


def write_mismatch(path: Path, program: Program, lines: list[str]) -> None:
    """Write ``program`` as assembly whose header comment holds ``lines`` and how to replay."""
    name = program.config.name
    header = [f"; cosim mismatch on config '{name}'", *[f";   {line}" for line in lines],
              f"; replay: conveyor run {path.name} -c {name} --backend verilator", ""]
    path.write_text("\n".join(header) + disassemble(program), encoding="utf-8")
