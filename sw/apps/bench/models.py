"""The models part of ``conveyor bench`` (``--models``): MLPerf Tiny's two int8 TFLite models
(``examples/mlperf-tiny``) compiled for every config of :func:`model_configs` and run on the
golden model, one JSON-ready row per (model, config) from :func:`measure_model`;
:func:`run_models` measures them all.

A row holds the model, the config, its clock (the one a board's build signs off at for a
board's core, else the config's nominal one), whether the model fits and, if not, the
compiler's one-line reason; if it fits, useful MACs, predicted and golden cycles, whether every
output byte equals LiteRT's reference kernels (the logits the core computes and the host's
softmax), RTL cycles and bit-exactness when it ran on the Verilator RTL, MXM utilisation, µs
and inferences per second at the clock, and compile and golden seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ....errors import ConveyorError
from ....hw.boards import signoff
from ....hw.machine.config import CONSTRAINTS_DIR, CoreConfig, board_cores, load_config
from ....hw.machine.program import mxm_utilization

if TYPE_CHECKING:
    from ...compiler import Compiled

__all__ = ["MLPERF16", "MLPERF_TINY_DIR", "MODELS", "OPEN_FPGA_US", "QUICK_SKIPS",
           "measure_model", "model_configs", "run_models"]

#: ``examples/mlperf-tiny`` of the source tree (the models are committed there).
MLPERF_TINY_DIR = CONSTRAINTS_DIR.parent / "examples" / "mlperf-tiny"

#: small16's geometry with MEM slices deep enough for both models (the README there says why).
MLPERF16 = CONSTRAINTS_DIR.parent / "bench" / "cores" / "mlperf16.toml"

#: Model name (``--models NAME``) -> (its label, its file in :data:`MLPERF_TINY_DIR`).
MODELS = {"kws": ("KWS DS-CNN", "kws_ref_model.tflite"),
          "resnet8": ("ResNet-8", "pretrainedResnet_quant.tflite")}

#: Pairs a quick run does not compile, with what the row says instead: ResNet-8 for ``tsp``
#: compiles for over a minute on a 2-core machine (320-lane tiles) before it is refused.
QUICK_SKIPS = {("resnet8", "tsp"): "not compiled by --quick (over a minute); the full run "
                                   "compiles it"}

#: MLPerf Tiny's open-division FPGA entries (hls4ml and FINN on Pynq-Z2 and Arty A7-100T):
#: latencies from 20 µs per inference (arXiv 2206.11791, /work/shared/FPGA-REFERENCE.md).
OPEN_FPGA_US = 20.0


def model_configs() -> list[str]:
    """The configs the models are measured on: every board core (``constraints/*-core.toml``),
    ``small16``, :data:`MLPERF16` and ``tsp``."""
    return [*board_cores(), "small16", str(MLPERF16), "tsp"]


def _clock(config: CoreConfig) -> tuple[float, str]:
    """The clock a run is timed at and where it comes from (as ``conveyor demo`` times it)."""
    board = signoff(config)
    return (board.mhz, f"{board.board} sign-off") if board else (config.clock_mhz, "nominal")


def _mxm(config: CoreConfig) -> str:
    n = len(config.slices_of("mxm"))
    shape = f"{config.lanes}×{config.lanes}"
    return "none" if not n else shape if n == 1 else f"{n} × {shape}"


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    """Random int8 inputs from ``seed``, as ``conveyor compile MODEL.tflite --seed`` draws."""
    rng = np.random.default_rng(seed)
    return {n: rng.integers(-128, 128, size=s, dtype=np.int8) for n, s in model.inputs.items()}


def measure_model(name: str, config: str | CoreConfig, *, seed: int = 0,
                  skip: str | None = None) -> tuple[dict, Compiled | None]:
    """Compile model ``name`` (a key of :data:`MODELS`) for ``config`` and run it on the golden
    model; return its row and the compiled model (None if it did not compile).

    Parameters
    ----------
    name : the model.
    config : a config, or what :func:`~conveyor.hw.machine.config.load_config` takes.
    seed : the inputs' random int8 data.
    skip : do not compile; the row says this instead of a reason.
    """
    from ....sim.golden import run
    from ...compiler import compile_graph
    from ...frontends.tflite import import_tflite

    label, file = MODELS[name]
    row: dict = {"model": name, "label": label, "file": file, "config": str(config),
                 "seed": seed, "clock_mhz": None, "clock": None, "mxm": None, "fits": False,
                 "reason": None, "skipped": skip, "runs": None, "useful_macs": None,
                 "predicted_cycles": None, "golden_cycles": None, "golden_bit_exact": None,
                 "rtl_cycles": None, "rtl_bit_exact": None, "mxm_utilization": None,
                 "microseconds": None, "inferences_per_second": None, "compile_seconds": None,
                 "golden_seconds": None}
    try:
        if isinstance(config, str):
            config = load_config(config)
        mhz, source = _clock(config)
        row.update(config=config.name, clock_mhz=mhz, clock=source, mxm=_mxm(config))
        if skip is not None:
            return row, None
        model = import_tflite(MLPERF_TINY_DIR / file)
        values = _inputs(model, seed)
        started = time.perf_counter()
        try:
            compiled = compile_graph(model.graph, model.graph_inputs(values), config,
                                     spec=str(MLPERF_TINY_DIR / file))
        finally:
            row["compile_seconds"] = round(time.perf_counter() - started, 3)
    except ConveyorError as e:
        row["reason"] = str(e)
        return row, None
    compiled.host = model.host
    compiled.expected = model.graph_oracle(values)  # LiteRT's reference kernels
    started = time.perf_counter()
    # a model in chained runs: the host relays each run's activations to the next
    results = compiled.execute(lambda programs, reads: [run(p) for p in programs])
    row["golden_seconds"] = round(time.perf_counter() - started, 3)
    cycles = sum(r.cycles for r in results)
    row.update(fits=True, runs=len(compiled.runs), useful_macs=compiled.useful_macs,
               predicted_cycles=compiled.predicted_cycles, golden_cycles=cycles,
               golden_bit_exact=compiled.bit_exact([r.mem for r in results]),
               # six digits: the page's one decimal of a percentage then rounds only once
               mxm_utilization=round(mxm_utilization(config, cycles, compiled.useful_macs), 6),
               microseconds=round(cycles / mhz, 2),
               inferences_per_second=round(mhz * 1e6 / cycles, 1))
    return row, compiled


def run_models(names: Sequence[str], configs: Sequence[str | CoreConfig] | None = None, *,
               quick: bool = True, rtl_macs: int | None = None, seed: int = 0,
               show_progress: bool | None = None,
               log: Callable[[str], None] | None = None) -> list[dict]:
    """A row per model of ``names`` and config of ``configs`` (default :func:`model_configs`),
    model by model; a quick run skips :data:`QUICK_SKIPS`. Models of at most ``rtl_macs``
    useful MACs (None: none) also run on the Verilator RTL, in one simulator per config."""
    from ....progress import progress

    configs = model_configs() if configs is None else list(configs)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ConveyorError(f"no model {unknown[0]!r} in the bench (have {', '.join(MODELS)})")
    rows, compiled = [], []
    with progress("MLPerf Tiny models", len(names) * len(configs), show=show_progress) as bar:
        for name in names:
            for config in configs:
                shown = config.name if isinstance(config, CoreConfig) else Path(str(config)).stem
                bar(0, description=f"compiling {name} for {shown}")
                skip = QUICK_SKIPS.get((name, shown)) if quick else None
                row, done = measure_model(name, config, seed=seed, skip=skip)
                rows.append(row)
                compiled.append(done)
                bar(1)
                if log is not None:
                    log(f"{name} on {row['config']}: " + (
                        f"{row['golden_cycles']:,} cycles (predicted {row['predicted_cycles']:,}"
                        f"), bit-exact {row['golden_bit_exact']}, compile "
                        f"{row['compile_seconds']:.1f} s" if row["fits"] else
                        row["skipped"] or f"does not fit: {row['reason']}"))
    if rtl_macs is not None:
        _rtl(rows, compiled, rtl_macs, show_progress, log)
    return rows


def _rtl(rows: list[dict], compiled: list, rtl_macs: int, show_progress, log) -> None:
    """The rows of at most ``rtl_macs`` MACs on the Verilator RTL, one simulator per model
    (per run for a model in chained runs)."""
    from ....progress import status
    from ....sim.batch import verilator_batch

    def runner(programs, reads):
        outcomes = verilator_batch(programs, reads)
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if failed:
            raise _Failed(str(failed[0]))
        return outcomes

    for row, c in zip(rows, compiled):
        if c is None or row["useful_macs"] > rtl_macs:
            continue
        with status(f"RTL: {row['model']} on {c.config.name}", show=show_progress):
            try:
                got = c.execute(runner)
            except _Failed as e:
                row["rtl_error"] = str(e)
                continue
            row["rtl_cycles"] = sum(o.cycles for o in got)
            row["rtl_bit_exact"] = c.bit_exact([o.mem for o in got])
            if log is not None:
                log(f"{row['model']} on {row['config']}: RTL {row['rtl_cycles']:,} cycles, "
                    f"bit-exact {row['rtl_bit_exact']}")


class _Failed(Exception):
    """A simulator run that failed: the row records it."""
