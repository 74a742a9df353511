"""What ``conveyor bench`` measures: the plan (:class:`BenchPlan`) and the measurements
(:func:`run_bench`), returned as one JSON-ready dict; :func:`results_ok` judges them.

The dict holds ``generated``, ``quick``, ``config``, ``lanes``, ``clock_mhz``, ``host`` (Python,
machine, CPUs, load average), ``sweep`` (a row per spec: runs, useful MACs, predicted, golden
and RTL cycles, bit-exactness, MXM utilisation, µs at the config's clock, compile and golden
seconds), ``verilog``, ``verilator_build``, ``rtl_batch``, ``rtl_speed``, ``golden_speed``,
``rtl_macs``, ``boards`` (the reports under ``BOARD/report.json``) and ``models`` (a row per
MLPerf Tiny model and config, :mod:`.models`). What was not measured is None (``rtl_batch`` is
then absent).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ....hw.machine.config import CoreConfig, load_config
from ....hw.machine.program import Program, cycle_count, mxm_utilization
from .models import run_models
from .programs import busy, golden_pipeline

__all__ = ["FULL_SWEEP", "QUICK_SWEEP", "BenchPlan", "results_ok", "run_bench"]

#: Matmuls of the quick sweep (RTL for those of at most :attr:`BenchPlan.rtl_macs` MACs).
QUICK_SWEEP = ("matmul:M=16,K=16,N=16", "matmul:M=32,K=32,N=32", "matmul:M=64,K=64,N=64",
               "matmul:M=128,K=128,N=128", "matmul:M=256,K=256,N=256")

#: The full sweep adds rectangular products and a linear layer with its requant epilogue.
FULL_SWEEP = (*QUICK_SWEEP[:4], "matmul:M=256,K=64,N=16", "matmul:M=16,K=256,N=64",
              "matmul:M=64,K=64,N=256", "linear:M=64,K=64,N=64,relu=1", QUICK_SWEEP[4])


# --- the plan -------------------------------------------------------------------------------

@dataclass
class BenchPlan:
    """What :func:`run_bench` measures; its fields are the knobs.

    Members
    -------
    specs : the layer specs of the sweep.
    config : the core (a preset name or a TOML file).
    rtl : run the small specs on the Verilator RTL (builds the model if it is not cached).
    rtl_macs : specs of at most this many MACs run on the RTL.
    verilog : always time Verilog generation (else only when the model must be built anyway).
    rtl_speed_cycles : cycles of the busy program for the RTL's cycles/s (0: not measured).
    golden_blocks : sweeps of the golden pipeline program (0: not measured).
    boards_dir : where ``conveyor build`` left ``BOARD/report.json``.
    seed : the specs' and the models' random data.
    quick : recorded in the results, to say which kind of run measured them; a quick run
        skips the models' slowest compiles (:data:`~.models.QUICK_SKIPS`).
    models : MLPerf Tiny models to measure (keys of :data:`~.models.MODELS`; none: no models
        part).
    model_configs : the configs they are compiled for (None: :func:`~.models.model_configs`).
    """

    specs: Sequence[str] = QUICK_SWEEP
    config: str = "small16"
    rtl: bool = True
    rtl_macs: int = 128 ** 3
    verilog: bool = False
    rtl_speed_cycles: int = 200_000
    golden_blocks: int = 4
    boards_dir: str | Path = "build"
    seed: int = 0
    quick: bool = True
    models: Sequence[str] = ()
    model_configs: Sequence[str] | None = None

    @classmethod
    def quick_plan(cls, **changes) -> BenchPlan:
        """``conveyor bench --quick``: the quick sweep, short speed runs (fields: ``changes``)."""
        return cls(**changes)

    @classmethod
    def full_plan(cls, **changes) -> BenchPlan:
        """``conveyor bench``: the full sweep, Verilog timed, long speed runs."""
        options = {"specs": FULL_SWEEP, "verilog": True, "rtl_speed_cycles": 1_000_000,
                   "golden_blocks": 40, "quick": False}
        return cls(**{**options, **changes})


# --- the measurements -----------------------------------------------------------------------

def _note(log: Callable[[str], None] | None, text: str) -> None:
    if log is not None:
        log(text)


def run_bench(plan: BenchPlan, *, show_progress: bool | None = None,
              log: Callable[[str], None] | None = None, verbose: bool = False) -> dict:
    """Measure everything ``plan`` asks for; return the results (JSON-ready).

    Parameters
    ----------
    plan : what to measure.
    show_progress : progress bars on stderr (default: when stderr is a terminal).
    log : receives a line as each measurement completes.
    verbose : add the Verilator build log to ``log`` when a model is built.
    """
    from ....progress import progress, status

    config = load_config(plan.config)
    results: dict = {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": plan.quick,
                     "config": config.name, "lanes": config.lanes, "clock_mhz": config.clock_mhz,
                     "host": _host(), "sweep": [], "verilog": None, "verilator_build": None,
                     "rtl_speed": None, "golden_speed": None,
                     "rtl_macs": plan.rtl_macs if plan.rtl else None,
                     "boards": _boards(plan.boards_dir), "models": None}
    compiled = {}
    with progress("compiling and running on the golden model", len(plan.specs),
                  show=show_progress) as advance:
        for spec in plan.specs:
            advance(0, description=f"compiling {spec}")
            row, compiled[spec] = _sweep_one(spec, config, plan.seed)
            results["sweep"].append(row)
            advance(1)
            _note(log, f"{spec}: {row['runs']} run(s), {row['predicted_cycles']} cycles "
                       f"predicted, golden {row['golden_cycles']} "
                       f"({row['golden_seconds']:.2f} s), compile {row['compile_seconds']:.2f} s")
    golden_cycles = sum(r["golden_cycles"] for r in results["sweep"])
    golden_seconds = sum(r["golden_seconds"] for r in results["sweep"])
    golden_cpu = sum(r["golden_cpu_seconds"] for r in results["sweep"])
    speed: dict = {"matmul_cycles_per_second": round(golden_cycles / max(golden_seconds, 1e-9)),
                   "matmul_cycles_per_cpu_second": round(golden_cycles / max(golden_cpu, 1e-9))}
    program = _speed_program(golden_pipeline, config, plan.golden_blocks, log)
    if program is not None:
        from ....sim.golden import run
        with status(f"golden model: {plan.golden_blocks} sweeps of the pipeline",
                    show=show_progress):
            started, cpu = time.perf_counter(), time.process_time()
            result = run(program)
            seconds = time.perf_counter() - started
            cpu = max(time.process_time() - cpu, 1e-9)
        speed.update(pipeline_cycles=result.cycles, pipeline_ops=result.ops,
                     pipeline_seconds=round(seconds, 3),
                     cycles_per_second=round(result.cycles / seconds),
                     ops_per_second=round(result.ops / seconds),
                     cycles_per_cpu_second=round(result.cycles / cpu),
                     ops_per_cpu_second=round(result.ops / cpu))
        _note(log, f"golden: {speed['cycles_per_second']:,} cycles/s, "
                   f"{speed['ops_per_second']:,} ops/s on the pipeline")
    results["golden_speed"] = speed
    if plan.rtl:
        _rtl(plan, config, compiled, results, show_progress, log, verbose)
    if plan.models:
        results["models"] = run_models(plan.models, plan.model_configs, quick=plan.quick,
                                       rtl_macs=plan.rtl_macs if plan.rtl else None,
                                       seed=plan.seed, show_progress=show_progress, log=log)
    return results


def _speed_program(make: Callable, config: CoreConfig, size: int, log) -> Program | None:
    """``make(config, size)``, or None (with a note) for size 0 or a config without the slices
    and queues the program needs (2-port MEM on both sides of a VXM with two ALUs)."""
    if not size:
        return None
    try:
        return make(config, size)
    except (KeyError, IndexError, StopIteration):
        _note(log, f"{make.__name__}: {config.name} lacks the slices or queues it needs; "
                   f"not measured")
        return None


def _host() -> dict:
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {"python": platform.python_version(), "machine": platform.machine(),
            "system": platform.system(), "cpus": os.cpu_count(), "load_average": load}


def _sweep_one(spec: str, config: CoreConfig, seed: int):
    from ....sim.golden import run
    from ...frontends.specs import compile_spec
    started = time.perf_counter()
    compiled = compile_spec(spec, config, seed)
    compile_seconds = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    results = [run(r.program) for r in compiled.runs]
    golden_seconds = time.perf_counter() - started
    golden_cpu = time.process_time() - cpu
    cycles = sum(r.cycles for r in results)
    row = {"spec": spec, "runs": len(compiled.runs), "useful_macs": compiled.useful_macs,
           "predicted_cycles": compiled.predicted_cycles, "golden_cycles": cycles,
           "golden_bit_exact": compiled.bit_exact([r.mem for r in results]),
           "rtl_cycles": None, "rtl_bit_exact": None,
           "mxm_utilization": round(mxm_utilization(config, cycles, compiled.useful_macs), 4),
           "microseconds": round(cycles / config.clock_mhz, 2),
           "compile_seconds": round(compile_seconds, 3),
           "golden_seconds": round(golden_seconds, 3),
           "golden_cpu_seconds": round(golden_cpu, 3)}
    return row, compiled


def _rtl(plan: BenchPlan, config: CoreConfig, compiled: dict, results: dict,
         show_progress: bool | None, log, verbose: bool) -> None:
    from ....progress import status
    from ....sim import verilator
    from ....sim.batch import verilator_batch

    if plan.verilog:
        with status(f"generating Verilog for {config.name}", show=show_progress):
            started = time.perf_counter()
            text = verilator.verilog_text(config)
            results["verilog"] = {"seconds": round(time.perf_counter() - started, 2),
                                  "lines": len(text.splitlines()), "measured": True}
    started_wall = time.time()
    started = time.perf_counter()
    model = verilator.build(config, progress=show_progress is not False)
    elapsed = time.perf_counter() - started
    marker = _model_record(model)
    built_now = marker.get("built_epoch", 0) >= started_wall - 1
    results["verilator_build"] = {"cached": not built_now, "seconds": round(elapsed, 2),
                                  "recorded_seconds": marker.get("seconds"),
                                  "built": marker.get("built")}
    if built_now and results["verilog"] is None:
        # the build generated the Verilog first: the rest of the elapsed time
        text = verilator.verilog_text(config)
        results["verilog"] = {"seconds": round(elapsed - (marker.get("seconds") or 0), 2),
                              "lines": len(text.splitlines()), "measured": True}
    if results["verilog"] is None:
        results["verilog"] = {"seconds": None, "lines": None, "measured": False}
    _note(log, "verilator build: " + (
        f"{marker.get('seconds')} s (built now)" if built_now else
        f"cached (built {marker.get('built')} in {marker.get('seconds')} s)"))
    if verbose and built_now and (model / "build.log").exists():
        _note(log, (model / "build.log").read_text(errors="replace")[-4000:])
    small = [spec for spec in plan.specs if compiled[spec].useful_macs <= plan.rtl_macs]
    programs = [run.program for spec in small for run in compiled[spec].runs]
    if programs:
        with status(f"RTL: {len(programs)} programs in one simulator", show=show_progress):
            started = time.perf_counter()
            # reading back only the outputs: far faster than all of MEM through the host port
            reads = [w for spec in small for w in compiled[spec].output_words()]
            outcomes = verilator_batch(programs, reads)
            batch_seconds = time.perf_counter() - started
        k = 0
        for spec in small:
            n = len(compiled[spec].runs)
            mine, k = outcomes[k:k + n], k + n
            row = next(r for r in results["sweep"] if r["spec"] == spec)
            errors = [o for o in mine if isinstance(o, Exception)]
            if errors:
                row["rtl_error"] = str(errors[0])
                continue
            row["rtl_cycles"] = sum(o.cycles for o in mine)
            row["rtl_bit_exact"] = compiled[spec].bit_exact([o.mem for o in mine])
        results["rtl_batch"] = {"programs": len(programs), "seconds": round(batch_seconds, 2)}
        _note(log, f"RTL: {len(programs)} programs in {batch_seconds:.1f} s (one simulator)")
    program = _speed_program(busy, config, plan.rtl_speed_cycles, log)
    if program is not None:
        with status(f"RTL: {cycle_count(program):,} busy cycles", show=show_progress):
            result = verilator.run(program)
        results["rtl_speed"] = {"busy_cycles": result.cycles,
                                "run_seconds": round(result.run_seconds, 3),
                                "cycles_per_second": round(result.cycles / result.run_seconds)}
        _note(log, f"RTL: {results['rtl_speed']['cycles_per_second']:,} cycles/s busy")


def _model_record(model: Path) -> dict:
    """The record a finished Verilator model keeps (build seconds and date)."""
    try:
        data = json.loads((model / "conveyor-model.json").read_text())
    except (OSError, ValueError):
        return {}
    try:
        data["built_epoch"] = time.mktime(time.strptime(data["built"], "%Y-%m-%dT%H:%M:%S"))
    except (KeyError, ValueError):
        pass
    return data


def _boards(boards_dir: str | Path) -> list[dict]:
    """The board reports under ``boards_dir`` (``BOARD/report.json``), summarised."""
    from ....hw.boards import BOARD_NAMES
    out = []
    for name in BOARD_NAMES:
        path = Path(boards_dir) / name / "report.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        row = {"board": data.get("board", name), "config": data.get("config"),
               "report": str(path), "fits": data.get("fits", True)}
        for key in ("fmax_mhz", "target_mhz", "passed"):
            row[key] = data.get(key)
        for key in ("luts", "ffs", "brams", "dsps", "spram"):
            value = data.get(key)
            if isinstance(value, dict):
                row[key] = {"used": value.get("used"), "available": value.get("available")}
        out.append(row)
    return out


# --- the verdict ----------------------------------------------------------------------------

def results_ok(results: dict) -> bool:
    """Every measured cycle count equals the prediction and every output is bit-exact (a model
    that does not fit a config is a fact, not a failure)."""
    models = [r for r in results.get("models") or () if r["fits"]]
    return all(r["golden_cycles"] == r["predicted_cycles"] and r["golden_bit_exact"]
               and r["rtl_cycles"] in (None, r["predicted_cycles"])
               and r["rtl_bit_exact"] is not False and "rtl_error" not in r
               for r in [*results["sweep"], *models])
