"""``conveyor bench``: one command that measures the compiler, the simulators and the tools, and
writes the figures as JSON and as ``docs/performance.md``.

What it measures (on ``small16`` unless told otherwise):

- a sweep of matmul sizes: compile time, predicted cycles, cycles on the golden model (every
  spec) and on the Verilator RTL (the small ones, all runs in one simulator process), whether
  every output is bit-exact, and the MXM utilisation;
- Verilog generation and the Verilator build (a cached model is reported as cached, with the
  build time recorded when it was built);
- simulated cycles per second of the RTL (a busy core: MEM read, VXM add, MEM write every
  cycle) and of the golden model (six queues issuing every cycle, and the sweep's matmuls);
- fmax and resources from the board reports that ``conveyor build`` wrote, if there are any.

:func:`run_bench` returns the results as a JSON-ready dict; :func:`render_markdown` and
:func:`render_table` present them. The program builders :func:`idle`, :func:`busy` and
:func:`golden_pipeline` are shared with ``bench/verilator_speed.py`` and
``bench/golden_speed.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...hw.machine.config import CoreConfig, load_config
from ...hw.machine.isa import Instr, Stream
from ...hw.machine.program import Program, cycle_count
from ...hw.machine.timing import latency

__all__ = ["FULL_SWEEP", "QUICK_SWEEP", "BenchPlan", "busy", "golden_pipeline", "idle",
           "render_markdown", "render_table", "repo_docs", "results_ok", "run_bench",
           "write_outputs"]

#: Matmuls of the quick sweep (RTL for those of at most :attr:`BenchPlan.rtl_macs` MACs).
QUICK_SWEEP = ("matmul:M=16,K=16,N=16", "matmul:M=32,K=32,N=32", "matmul:M=64,K=64,N=64",
               "matmul:M=128,K=128,N=128", "matmul:M=256,K=256,N=256")

#: The full sweep adds rectangular products and a linear layer with its requant epilogue.
FULL_SWEEP = (*QUICK_SWEEP[:4], "matmul:M=256,K=64,N=16", "matmul:M=16,K=256,N=64",
              "matmul:M=64,K=64,N=256", "linear:M=64,K=64,N=64,relu=1", QUICK_SWEEP[4])

#: Largest repeat count; a long queue chains read/repeat pairs.
_MAX_REPEAT = 65535


# --- programs -------------------------------------------------------------------------------

def idle(config: CoreConfig, cycles: int = 1_000_000) -> Program:
    """A core that waits ``cycles`` cycles (one ``nop``): the simulator's floor."""
    program = Program.empty(config)
    program.queues[config.queues[0].name] = [Instr.make("nop", n=cycles), Instr.make("halt")]
    return program


def busy(config: CoreConfig, cycles: int = 1_000_000) -> Program:
    """About ``cycles`` cycles of mem0 reading onto e0 every cycle, the first VXM ALU adding 1
    onto e1, and the first MEM slice east of the VXM writing e1 back."""
    segments = max(1, -(-cycles // (_MAX_REPEAT + 1)))
    per = min(_MAX_REPEAT, max(1, cycles // segments - 1))

    def chain(instr: Instr, stride: int = 0) -> list[Instr]:
        return [instr, Instr.make("repeat", n=per, d=1, stride=stride)] * segments

    vxm = config.slices_of("vxm")[0]
    east = next(s for s in config.mem_slices if s.position > vxm.position)
    src = config.mem_slices[0]
    e0, e1 = Stream("e", 0), Stream("e", 1)
    rd, wr = _queue_for(config, src.name, "rd"), _queue_for(config, east.name, "wr")
    alu = next(q.name for q in config.queues if q.slice == vxm)
    t_add = latency("read") + vxm.position - src.position
    t_wr = t_add + latency("add.i8") + east.position - vxm.position
    program = Program.empty(config)
    program.queues[rd] = [*chain(Instr.make("read", addr=0, d=e0)), Instr.make("halt")]
    program.queues[alu] = [Instr.make("nop", n=t_add),
                           *chain(Instr.make("add.i8", a=e0, b=1, d=e1)), Instr.make("halt")]
    program.queues[wr] = [Instr.make("nop", n=t_wr),
                          *chain(Instr.make("write", s=e1, addr=0)), Instr.make("halt")]
    return program


def _queue_for(config: CoreConfig, slice_name: str, part: str) -> str:
    names = {q.name for q in config.queues}
    return f"{slice_name}.{part}" if f"{slice_name}.{part}" in names else slice_name


def golden_pipeline(config: CoreConfig, blocks: int = 40) -> Program:
    """Six queues issuing every cycle for ``blocks`` sweeps over every MEM word: two MEM slices
    stream vectors to the VXM, two chained ALUs add and turn the sum westward, and two MEM
    slices store both results (needs 2-port MEM, two VXM ALUs, MEM on both sides)."""
    def e(i):
        return Stream("e", i)

    def w(i):
        return Stream("w", i)

    def queue(start: int, instr: Instr) -> list[Instr]:
        stride = 1 if instr.op.address else 0
        body = [instr, Instr.make("repeat", n=words - 1, d=1, stride=stride)] * blocks
        return ([Instr.make("nop", n=start)] if start else []) + body + [Instr.make("halt")]

    pos = {s.name: s.position for s in config.slices}
    v, east, words = pos["vxm0"], config.mem_slices[-1].name, config.mem_depth
    t = latency("read") + v  # mem0's first read meets mem1's at the VXM in cycle t
    t2 = t + latency("add.i8")
    program = Program.empty(config)
    program.queues.update({
        "mem0.rd": queue(0, Instr.make("read", addr=0, d=e(0))),
        "mem1.rd": queue(t - latency("read") - (v - pos["mem1"]),
                         Instr.make("read", addr=0, d=e(1))),
        "vxm0.alu0": queue(t, Instr.make("add.i8", a=e(0), b=e(1), d=e(2))),
        "vxm0.alu1": queue(t2, Instr.make("mov.i8", a=e(2), d=w(0))),
        f"{east}.wr": queue(t2 + pos[east] - v, Instr.make("write", s=e(2), addr=0)),
        "mem2.wr": queue(t2 + latency("mov.i8") + v - pos["mem2"],
                         Instr.make("write", s=w(0), addr=0)),
    })
    return program


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
    seed : the specs' random data.
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

    @classmethod
    def quick_plan(cls, **changes) -> BenchPlan:
        return cls(**changes)

    @classmethod
    def full_plan(cls, **changes) -> BenchPlan:
        options = {"specs": FULL_SWEEP, "verilog": True, "rtl_speed_cycles": 1_000_000,
                   "golden_blocks": 40, "quick": False}
        return cls(**{**options, **changes})


def _note(log: Callable[[str], None] | None, text: str) -> None:
    if log is not None:
        log(text)


def run_bench(plan: BenchPlan, *, show_progress: bool | None = None,
              log: Callable[[str], None] | None = None, verbose: bool = False) -> dict:
    """Measure everything ``plan`` asks for; return the results (JSON-ready).

    ``log`` receives a line as each measurement completes; ``verbose`` adds the Verilator build
    log to it when a model is built.
    """
    from ...progress import progress, status

    config = load_config(plan.config)
    results: dict = {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": plan.quick,
                     "config": config.name, "lanes": config.lanes, "clock_mhz": config.clock_mhz,
                     "host": _host(), "sweep": [], "verilog": None, "verilator_build": None,
                     "rtl_speed": None, "golden_speed": None,
                     "rtl_macs": plan.rtl_macs if plan.rtl else None,
                     "boards": _boards(plan.boards_dir)}
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
        from ...sim.golden import run
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
    from ...sim.golden import run
    from ..compiler import compile_spec
    started = time.perf_counter()
    compiled = compile_spec(spec, config, seed)
    compile_seconds = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    results = [run(r.program) for r in compiled.runs]
    golden_seconds = time.perf_counter() - started
    golden_cpu = time.process_time() - cpu
    cycles = sum(r.cycles for r in results)
    mxms = max(1, len(config.slices_of("mxm")))
    row = {"spec": spec, "runs": len(compiled.runs), "useful_macs": compiled.useful_macs,
           "predicted_cycles": compiled.predicted_cycles, "golden_cycles": cycles,
           "golden_bit_exact": compiled.bit_exact([r.mem for r in results]),
           "rtl_cycles": None, "rtl_bit_exact": None,
           "mxm_utilization": round(compiled.useful_macs / (config.lanes ** 2 * cycles * mxms),
                                    4),
           "microseconds": round(cycles / config.clock_mhz, 2),
           "compile_seconds": round(compile_seconds, 3),
           "golden_seconds": round(golden_seconds, 3),
           "golden_cpu_seconds": round(golden_cpu, 3)}
    return row, compiled


def _rtl(plan: BenchPlan, config: CoreConfig, compiled: dict, results: dict,
         show_progress: bool | None, log, verbose: bool) -> None:
    from ...progress import status
    from ...sim import verilator
    from ...sim.cosim import verilator_batch

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
    from ...hw.boards import BOARD_NAMES
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


# --- presenting -----------------------------------------------------------------------------

def _yes(ok) -> str:
    return "—" if ok is None else ("yes" if ok else "NO")


def _num(value, fmt: str = ",") -> str:
    return "—" if value is None else format(value, fmt)


def _use(d: dict | None) -> str:
    return f"{d['used']:,}/{d['available']:,}" if d else "—"


def sweep_rows(results: dict) -> list[list[str]]:
    """The sweep as table cells (the same for the terminal and the Markdown)."""
    rows = []
    for r in results["sweep"]:
        same = r["golden_cycles"] == r["predicted_cycles"] and (
            r["rtl_cycles"] is None or r["rtl_cycles"] == r["predicted_cycles"])
        exact = r["golden_bit_exact"] and r["rtl_bit_exact"] is not False
        rtl = _num(r["rtl_cycles"]) if "rtl_error" not in r else "error"
        rows.append([r["spec"], str(r["runs"]), _num(r["useful_macs"]),
                     _num(r["predicted_cycles"]), _num(r["golden_cycles"]), rtl,
                     "yes" if same else "NO", "yes" if exact else "NO",
                     f"{r['mxm_utilization']:.1%}", f"{r['microseconds']:,.1f}",
                     f"{r['compile_seconds']:.2f}"])
    return rows


SWEEP_HEADER = ["spec", "runs", "MACs", "predicted", "golden", "RTL", "cycles equal",
                "bit-exact", "MXM util.", "µs @ clock", "compile s"]


def tool_rows(results: dict) -> list[list[str]]:
    rows = []
    v = results.get("verilog")
    if v and v.get("measured"):
        rows.append(["Verilog generation", f"{v['seconds']:.1f} s", f"{v['lines']:,} lines"])
    elif v is not None:
        rows.append(["Verilog generation", "not measured", "the model was cached"])
    b = results.get("verilator_build")
    if b:
        if b["cached"]:
            rows.append(["Verilator build", "cached",
                         f"recorded {b['recorded_seconds']} s when built ({b['built']})"])
        else:
            rows.append(["Verilator build", f"{b['recorded_seconds']} s", "built in this run"])
    rtl = results.get("rtl_speed")
    if rtl:
        rows.append(["RTL simulation (Verilator)", f"{rtl['cycles_per_second']:,} cycles/s",
                     f"busy core, {rtl['busy_cycles']:,} cycles, clock running free"])
    batch = results.get("rtl_batch")
    if batch:
        rows.append(["RTL sweep runs", f"{batch['seconds']:.1f} s",
                     f"{batch['programs']} programs in one simulator process"])
    g = results.get("golden_speed") or {}
    if "cycles_per_second" in g:
        detail = (f"{g['ops_per_second']:,} ops/s; per CPU second {g['cycles_per_cpu_second']:,} "
                  f"cycles, {g['ops_per_cpu_second']:,} ops; six queues issuing every cycle, "
                  f"{g['pipeline_cycles']:,} cycles")
        rows.append(["golden model", f"{g['cycles_per_second']:,} cycles/s", detail])
    if "matmul_cycles_per_second" in g:
        detail = f"the matmuls above; per CPU second {g['matmul_cycles_per_cpu_second']:,} cycles"
        rows.append(["golden model, the sweep", f"{g['matmul_cycles_per_second']:,} cycles/s",
                     detail])
    return rows


TOOL_HEADER = ["what", "figure", "detail"]
BOARD_HEADER = ["board", "config", "fmax MHz", "target MHz", "timing", "LUTs", "FFs", "BRAM",
                "DSP"]


def board_rows(results: dict) -> list[list[str]]:
    rows = []
    for b in results.get("boards", []):
        if not b.get("fits", True):
            rows.append([b["board"], str(b["config"]), "—", "—", "does not fit", "—", "—", "—",
                         "—"])
            continue
        rows.append([b["board"], str(b["config"]), _num(b.get("fmax_mhz"), ".2f"),
                     _num(b.get("target_mhz"), ".3f"), "met" if b.get("passed") else "MISSED",
                     _use(b.get("luts")), _use(b.get("ffs")), _use(b.get("brams")),
                     _use(b.get("dsps"))])
    return rows


def render_table(results: dict, console=None) -> None:
    """Print the results as rich tables."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: no 80-column squeeze
            console = Console(width=200)
    mode = "quick" if results["quick"] else "full"
    title = (f"MXM utilisation on {results['config']} ({results['lanes']} lanes, "
             f"{results['clock_mhz']:g} MHz), {mode} run")
    table = Table(title=title)
    for k, name in enumerate(SWEEP_HEADER):
        table.add_column(name, justify="left" if k == 0 else "right")
    for row in sweep_rows(results):
        table.add_row(*row)
    console.print(table)
    table = Table(title="Tools and simulators")
    for name in TOOL_HEADER:
        table.add_column(name)
    for row in tool_rows(results):
        table.add_row(*row)
    console.print(table)
    boards = board_rows(results)
    if boards:
        table = Table(title="Boards (conveyor build reports)")
        for name in BOARD_HEADER:
            table.add_column(name)
        for row in boards:
            table.add_row(*row)
        console.print(table)
    else:
        console.print("boards: no build/BOARD/report.json here (run `conveyor build --board "
                      "BOARD` for fmax and resources)")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)]) + "\n"


def render_markdown(results: dict) -> str:
    """``docs/performance.md`` from the results."""
    mode = "`conveyor bench --quick`" if results["quick"] else "`conveyor bench`"
    host, cfg = results["host"], results["config"]
    rtl_macs = results.get("rtl_macs")
    rtl = (f"and, up to {rtl_macs:,} MACs, on the Verilator RTL" if rtl_macs else
           "(the RTL was not run)")
    boards = board_rows(results)
    parts = [
        ("<!-- Generated by `conveyor bench` from its JSON results; do not edit by hand: run "
         "`conveyor bench` (or `--quick`) again. -->\n"),
        "# Performance\n",
        (f"Measured by {mode} on {results['generated']} ({host['system']} {host['machine']}, "
         f"{host['cpus']} CPUs, load average {host.get('load_average')} at the start, Python "
         f"{host['python']}). Cycles are exact and the same on every machine; seconds depend "
         f"on the machine and its load.\n"),
        f"## MXM utilisation on `{cfg}`\n",
        (f"Each spec is compiled (`conveyor compile SPEC -c {cfg}`) and run on the golden "
         f"model {rtl}. *predicted* is the compiler's cycle count; *golden* and *RTL* are "
         f"measured. MXM utilisation is useful MACs / ({results['lanes']}² × cycles); µs at "
         f"the config's {results['clock_mhz']:g} MHz clock. A product too big for MEM in one "
         f"program is split into runs over its output columns. `conveyor schedule DIR -o "
         f"chart.svg` shows where a compiled program's MXM idles and why "
         f"([the 64³ matmul](schedule-matmul64.svg)).\n"),
        _md_table(SWEEP_HEADER, sweep_rows(results)),
        "## Tools and simulators\n",
        _md_table(TOOL_HEADER, tool_rows(results)),
        "## Boards\n",
    ]
    if boards:
        parts.append(_md_table(BOARD_HEADER, boards))
    else:
        parts.append("No board reports were present when this was measured: `conveyor build "
                     "--board ulx3s-85f` (or `icebreaker`) writes `build/BOARD/report.json`, "
                     "which `conveyor bench` reads (see [boards.md](boards.md)).\n")
    parts += ["## Reproducing\n",
              ("```sh\nconveyor bench --quick                # a few minutes on 2 cores\n"
               "conveyor bench                        # the full sweep, Verilog and "
               "simulator speeds\n"
               "conveyor schedule DIR -o chart.svg    # where a compiled program's MXM "
               "idles\n```\n")]
    return "\n".join(parts)


def results_ok(results: dict) -> bool:
    """Every measured cycle count equals the prediction and every output is bit-exact."""
    return all(r["golden_cycles"] == r["predicted_cycles"] and r["golden_bit_exact"]
               and r["rtl_cycles"] in (None, r["predicted_cycles"])
               and r["rtl_bit_exact"] is not False and "rtl_error" not in r
               for r in results["sweep"])


def write_outputs(results: dict, json_path: str | Path | None,
                  markdown_path: str | Path | None) -> list[Path]:
    written = []
    if json_path is not None:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1) + "\n")
        written.append(path)
    if markdown_path is not None:
        path = Path(markdown_path)
        path.write_text(render_markdown(results))
        written.append(path)
    return written


def repo_docs() -> Path | None:
    """``docs/`` of the checkout this package runs from (an editable install), if any."""
    root = Path(__file__).resolve().parents[1]
    docs = root / "docs"
    return docs if (root / "pyproject.toml").exists() and docs.is_dir() else None
