"""``conveyor demo``: the digits classifiers from ONNX to the core, checked end to end.

:func:`run_demo` compiles a committed digits model (``examples/digits``, see its README) for a
core, runs every held-out digit through the golden model and as many as fit in a time budget
on the Verilator RTL, and reports what the promise of the README is about: float and int8
accuracy, every inference bit-exact against numpy (:func:`conveyor.sw.ir.reference.evaluate`),
and the cycles every inference took against the compiler's prediction.

One compiled model serves every inference: :meth:`Compiled.programs_for` puts each digit's
quantised input into the same program. The RTL runs many inferences per simulator process
(:func:`conveyor.sim.batch.verilator_batch`); starting one costs seconds, so the first small
batch measures the rate and the next batches are sized to fill the budget.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConveyorError
from ...hw.boards import signoff
from ...hw.machine.config import CoreConfig, load_config
from ...hw.machine.program import mxm_utilization
from ...progress import Bar, Steps

__all__ = ["MODELS", "DemoError", "DemoReport", "compile_model", "digits_dir", "float_correct",
           "golden_sweep", "model_files", "next_batch_size", "rtl_sweep", "run_demo"]

#: Model name -> the input layout of :func:`conveyor.sw.frontends.datasets.digits_data`.
MODELS = {"mlp": "flat", "cnn": "nchw"}

#: Inferences in the first RTL batch, which measures the simulator's rate.
FIRST_BATCH = 2

#: Failures listed in a report (the count is always complete).
_LISTED = 10

#: Runs programs on the RTL, one outcome per program: a result with ``cycles`` and ``mem``, or
#: the exception that stopped it (:func:`conveyor.sim.batch.verilator_batch`).
BatchRunner = Callable[[Sequence[Any]], list[Any]]


class DemoError(ConveyorError):
    """The demo cannot start: a missing example file or an unknown model."""


# --- the example files ----------------------------------------------------------------------

def digits_dir() -> Path:
    """``examples/digits`` of the source tree this package runs from (an editable install)."""
    here = Path(__file__).resolve()
    for parent in here.parents[:3]:
        candidate = parent / "examples" / "digits"
        if candidate.is_dir():
            return candidate
    raise DemoError(f"examples/digits not found above {here.parent}: conveyor demo reads the "
                    f"committed models from a source checkout (pip install -e .)")


def model_files(model: str) -> tuple[Path, Path]:
    """The ONNX file and calibration file of ``model`` (``"mlp"`` or ``"cnn"``)."""
    if model not in MODELS:
        raise DemoError(f"no digits model {model!r} (have {', '.join(MODELS)})")
    folder = digits_dir()
    files = (folder / f"{model}.onnx", folder / f"{model}_calib.npy")
    for path in files:
        if not path.is_file():
            raise DemoError(f"{path}: missing (restore it with git, or rebuild with "
                            f"python {folder / 'train.py'})")
    return files


# --- the report -----------------------------------------------------------------------------

@dataclass
class DemoReport:
    """What a demo run found.

    Members
    -------
    model, config, clock_mhz : what ran where.
    clock : where the clock comes from: ``"BOARD sign-off"`` for a board's default core (its
        build is signed off at that clock), ``"nominal"`` for a core no board build reaches.
    digits : held-out digits on the golden model (and for the float accuracy).
    float_correct, int8_correct : digits classified right in float (onnx's reference
        evaluator) and in int8 (the golden model's outputs).
    predicted_cycles, useful_macs, runs : of one inference, from the compiler.
    mxm_utilization : of one inference at the predicted cycles.
    golden_cycles, rtl_cycles : how many inferences took each cycle count.
    rtl_inferences, rtl_correct, rtl_seconds : the RTL part, wall time included start-ups.
    inexact : inferences whose outputs differ from numpy, or whose run failed, as
        ``(backend, digit index, what)``; the first few listed, all counted.
    """

    model: str
    config: str
    clock_mhz: float
    clock: str
    digits: int
    float_correct: int
    predicted_cycles: int
    useful_macs: int
    mxm_utilization: float
    runs: int = 1
    int8_correct: int = 0
    golden_cycles: Counter = field(default_factory=Counter)
    rtl_cycles: Counter = field(default_factory=Counter)
    rtl_inferences: int = 0
    rtl_correct: int = 0
    rtl_seconds: float = 0.0
    inexact_count: int = 0
    inexact: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def float_accuracy(self) -> float:
        return self.float_correct / self.digits

    @property
    def int8_accuracy(self) -> float:
        return self.int8_correct / self.digits

    @property
    def bit_exact(self) -> bool:
        return self.inexact_count == 0

    @property
    def cycle_exact(self) -> bool:
        """Every inference on either backend took exactly the predicted cycles."""
        seen = set(self.golden_cycles) | set(self.rtl_cycles)
        return seen == {self.predicted_cycles}

    @property
    def ok(self) -> bool:
        return self.bit_exact and self.cycle_exact

    @property
    def cycles(self) -> int:
        """The golden model's cycles per inference (the most common count)."""
        return _most_common(self.golden_cycles)


    @property
    def us_per_inference(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def rtl_per_minute(self) -> float:
        return 60 * self.rtl_inferences / self.rtl_seconds if self.rtl_seconds else 0.0

    def add_inexact(self, backend: str, digit: int, what: str) -> None:
        self.inexact_count += 1
        if len(self.inexact) < _LISTED:
            self.inexact.append((backend, digit, what))

    def to_json(self) -> dict:
        return {
            "model": self.model, "config": self.config, "clock_mhz": self.clock_mhz,
            "clock": self.clock,
            "digits": self.digits, "float_accuracy": round(self.float_accuracy, 4),
            "int8_accuracy": round(self.int8_accuracy, 4), "float_correct": self.float_correct,
            "int8_correct": self.int8_correct, "bit_exact": self.bit_exact,
            "cycle_exact": self.cycle_exact, "cycles": self.cycles,
            "rtl_cycles": _most_common(self.rtl_cycles) if self.rtl_cycles else None,
            "predicted_cycles": self.predicted_cycles,
            "cycle_counts": {"golden": _counts(self.golden_cycles),
                             "rtl": _counts(self.rtl_cycles)},
            "golden_inferences": sum(self.golden_cycles.values()),
            "rtl_inferences": self.rtl_inferences, "rtl_correct": self.rtl_correct,
            "rtl_seconds": round(self.rtl_seconds, 1),
            "rtl_inferences_per_minute": round(self.rtl_per_minute, 1),
            "mxm_utilization": round(self.mxm_utilization, 4), "useful_macs": self.useful_macs,
            "us_per_inference": round(self.us_per_inference, 3), "runs": self.runs,
            "inexact": [{"backend": b, "digit": d, "what": w} for b, d, w in self.inexact],
            "inexact_count": self.inexact_count,
        }

    def text(self) -> str:
        """The human-readable summary that ``conveyor demo`` prints."""
        golden_n = sum(self.golden_cycles.values())
        differ = "" if self.bit_exact else f", {self.inexact_count} differ"
        lines = []
        lines.append(f"digits {self.model.upper()} on {self.config}: {self.digits} held-out "
                     f"digits")
        lines.append(f"  accuracy    float {_pct(self.float_correct, self.digits)}, int8 "
                     f"{_pct(self.int8_correct, self.digits)} (golden model)")
        lines.append(f"  bit-exact   {'yes' if self.bit_exact else 'NO'}: {golden_n} golden + "
                     f"{self.rtl_inferences} RTL inferences against numpy{differ}")
        lines.append(f"  cycles      {self._cycles_text()}")
        lines.append(f"  MXM         {self.useful_macs} useful MACs per inference, "
                     f"{self.mxm_utilization:.1%} utilisation")
        lines.append(f"  time        {self.us_per_inference:.2f} µs per inference at "
                     f"{self.clock_mhz:g} MHz, {self.clock} ({self._rate_text()})")
        if self.rtl_inferences:
            lines.append(f"  RTL         {self.rtl_inferences} inferences in "
                         f"{self.rtl_seconds:.0f} s on Verilator ({self.rtl_per_minute:.1f} "
                         f"per minute), {self.rtl_correct} classified right")
        for backend, digit, what in self.inexact:
            lines.append(f"  {backend} digit {digit}: {what}")
        return "\n".join(lines)

    def _rate_text(self) -> str:
        us = self.us_per_inference
        return f"{1e6 / us:,.0f} inferences/s" if us else "no inference finished"

    def _cycles_text(self) -> str:
        parts = [f"predicted {self.predicted_cycles} per inference", "golden " +
                 _counts_text(self.golden_cycles)]
        if self.rtl_cycles:
            parts.append("RTL " + _counts_text(self.rtl_cycles))
        verdict = "= predicted" if self.cycle_exact else "DIFFER from the prediction"
        return ", ".join(parts) + f" ({verdict})"


def _most_common(counts: Counter) -> int:
    return counts.most_common(1)[0][0] if counts else 0


def _counts(counts: Counter) -> dict[str, int]:
    return {str(c): n for c, n in sorted(counts.items())}


def _counts_text(counts: Counter) -> str:
    return " / ".join(str(c) if len(counts) == 1 else f"{c} ×{n}"
                      for c, n in sorted(counts.items()))


def _pct(correct: int, total: int) -> str:
    return f"{100 * correct / total:.2f} % ({correct}/{total})"


# --- one inference --------------------------------------------------------------------------

@dataclass
class _Job:
    """One digit: its index, label, int8 graph inputs and the numpy reference outputs."""

    digit: int
    label: int
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


def _jobs(imported, x: np.ndarray, y: np.ndarray) -> list[_Job]:
    from ..ir.reference import evaluate

    jobs = []
    for i in range(len(x)):
        q = imported.quantize_inputs({imported.inputs[0].name: x[i:i + 1]})
        jobs.append(_Job(i, int(y[i]), q, evaluate(imported.graph, q)))
    return jobs


def _check(report: DemoReport, backend: str, compiled, job: _Job, results: list) -> bool:
    """Record one inference's outcome (its runs' results) in ``report``; True if the digit was
    classified right."""
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        report.add_inexact(backend, job.digit, f"run failed: {failed[0]}")
        return False
    cycles = sum(r.cycles for r in results)
    (report.golden_cycles if backend == "golden" else report.rtl_cycles)[cycles] += 1
    got = compiled.outputs([r.mem for r in results])
    for name, want in job.expected.items():
        if not np.array_equal(got.get(name), want):
            report.add_inexact(backend, job.digit, f"output {name!r} differs from numpy")
    logits = got[next(iter(job.expected))]
    return int(np.argmax(logits)) == job.label


# --- the parts ------------------------------------------------------------------------------

def float_correct(onnx_path: Path, x: np.ndarray, y: np.ndarray) -> int:
    """Digits that the float ONNX model classifies right, by onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    session = ReferenceEvaluator(str(onnx_path))
    logits = session.run(None, {session.input_names[0]: x})[0]
    return int((np.argmax(logits, axis=1) == y).sum())


def compile_model(onnx_path: Path, calibration: Path, config: CoreConfig, first: np.ndarray):
    """Import, quantise and compile for one sample (``first``, in ONNX layout):
    ``(ImportedModel, Compiled)``."""
    from ..compiler import compile_graph
    from ..frontends.onnx import import_onnx

    imported = import_onnx(onnx_path, calibration)
    feeds = imported.quantize_inputs({imported.inputs[0].name: first})
    compiled = compile_graph(imported.graph, feeds, config, spec=str(onnx_path))
    return imported, compiled


def golden_sweep(report: DemoReport, compiled, jobs: list[_Job],
                 advance: Callable[[int], None]) -> None:
    """Every job on the golden model."""
    from ...sim import golden

    for job in jobs:
        results = [golden.run(p) for p in compiled.programs_for(job.inputs)]
        report.int8_correct += _check(report, "golden", compiled, job, results)
        advance(1)


def next_batch_size(samples: Sequence[tuple[int, float]], remaining: float) -> int:
    """How many inferences fit in ``remaining`` seconds, from the batches so far
    (``(inferences, seconds)`` each). One batch gives seconds per inference with its start-up
    spread over them (an underestimate of the rate); two batch sizes give the start-up and the
    per-inference cost apart, by least squares."""
    if remaining <= 0 or not samples:
        return 0
    n = np.array([s[0] for s in samples], float)
    t = np.array([s[1] for s in samples], float)
    startup, per = 0.0, float(t.sum() / n.sum())
    if len(set(n)) > 1:
        slope, intercept = np.polyfit(n, t, 1)
        if slope > 0 and intercept >= 0:
            startup, per = float(intercept), float(slope)
    return max(0, int((remaining - startup) / per + 1e-6)) if per > 0 else 0


def rtl_sweep(report: DemoReport, compiled, jobs: list[_Job], seconds: float,
              run_batch: BatchRunner, advance: Bar) -> None:
    """Jobs on the RTL, in batches, while they fit in about ``seconds``."""
    start, samples, done = time.monotonic(), [], 0
    size = min(FIRST_BATCH, len(jobs))
    while size > 0:
        advance.update(total=done + size)
        batch = jobs[done:done + size]
        programs = [p for job in batch for p in compiled.programs_for(job.inputs)]
        began = time.monotonic()
        outcomes = run_batch(programs)
        samples.append((size, time.monotonic() - began))
        per = len(compiled.runs)
        for k, job in enumerate(batch):
            right = _check(report, "rtl", compiled, job, outcomes[k * per:(k + 1) * per])
            report.rtl_correct += right
        done += size
        report.rtl_inferences = done
        advance(size)
        remaining = seconds - (time.monotonic() - start)
        size = min(next_batch_size(samples, remaining), len(jobs) - done)
    report.rtl_seconds = time.monotonic() - start


# --- the demo -------------------------------------------------------------------------------

def run_demo(model: str = "mlp", config: CoreConfig | str = "small16", *,
             rtl_seconds: float = 60.0, digits: int | None = None, progress: bool | None = None,
             rtl_runner: BatchRunner | None = None) -> DemoReport:
    """Compile the digits ``model`` for ``config`` and run it on the golden model and the RTL.

    Parameters
    ----------
    model : ``"mlp"`` or ``"cnn"`` (``examples/digits``).
    config : a :class:`CoreConfig` or a preset name or TOML file.
    rtl_seconds : about how long to run inferences on the Verilator RTL (its build, once per
        config and cached, not included); 0 for none. The first batch always runs.
    digits : the first this many held-out digits; all 360 by default.
    progress : a rich progress display on stderr; by default when stderr is a terminal.
    rtl_runner : runs a batch of programs on the RTL; :func:`verilator_batch` by default.
    """
    from ..frontends.datasets import digits_data

    onnx_path, calibration = model_files(model)
    if isinstance(config, str):
        config = load_config(config)
    x, y = digits_data("test", MODELS[model])
    if digits is not None:
        if digits < 1:
            raise DemoError(f"digits must be at least 1, not {digits}")
        x, y = x[:digits], y[:digits]
    show = sys.stderr.isatty() if progress is None else progress
    with Steps(show) as bar:
        with bar.step(f"compile {model} for {config.name}"):
            imported, compiled = compile_model(onnx_path, calibration, config, x[:1])
            jobs = _jobs(imported, x, y)
            clock = signoff(config)
            report = DemoReport(model, config.name,
                                clock.mhz if clock else config.clock_mhz,
                                f"{clock.board} sign-off" if clock else "nominal", len(jobs),
                                float_correct(onnx_path, x, y), compiled.predicted_cycles,
                                compiled.useful_macs,
                                mxm_utilization(config, compiled.predicted_cycles,
                                                compiled.useful_macs), len(compiled.runs))
        if rtl_seconds > 0 and rtl_runner is None:
            from ...sim import verilator
            from ...sim.batch import verilator_batch

            with bar.step(f"build the {config.name} RTL (cached)"), bar.paused():
                verilator.build(config)
            words = compiled.output_words() * 1  # the same words for every inference

            def rtl_runner(programs):  # read back only the outputs: far faster than all MEM
                return verilator_batch(programs, [words[k % len(words)]
                                                  for k in range(len(programs))])
        with bar.step("golden model", total=len(jobs)) as advance:
            golden_sweep(report, compiled, jobs, advance)
        if rtl_seconds > 0:
            with bar.step("RTL (Verilator)", total=min(FIRST_BATCH, len(jobs))) as advance:
                rtl_sweep(report, compiled, jobs, rtl_seconds, rtl_runner, advance)
    return report
