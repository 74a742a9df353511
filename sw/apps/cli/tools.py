"""``conveyor demo``, ``cosim``, ``schedule`` and ``bench``: the digits model end to end,
random co-simulation, pipeline charts and the benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ....hw.machine.config import load_config
from .common import UsageError, config_arg

__all__ = ["add"]


def add(sub) -> None:
    p = sub.add_parser("demo", help="the digits classifier from ONNX to the golden model and "
                       "the RTL: accuracy, bit-exactness, cycles",
                       description="Compile the committed digits model (examples/digits) for "
                       "the core, run every held-out digit on the golden model and as many as "
                       "fit in --rtl-seconds on the Verilator RTL (built once per config and "
                       "cached), and report float and int8 accuracy, bit-exactness against "
                       "numpy, predicted and measured cycles, MXM utilisation and the time per "
                       "inference: at the clock its board build signs off at for a board's "
                       "core, else at the config's nominal clock. Exit 1 if any inference is "
                       "not bit-exact or not exactly the predicted cycles.")
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp: 64-32-10 perceptron; cnn: conv 3x3, maxpool, linear (mlp)")
    p.add_argument("--rtl-seconds", type=float, default=60.0, metavar="S",
                   help="about how long to run inferences on the RTL, 0 for none (60)")
    p.add_argument("--digits", type=int, metavar="N",
                   help="only the first N of the 360 held-out digits")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    config_arg(p)
    p.set_defaults(handler=demo)

    p = sub.add_parser("cosim", help="random programs on the golden model and the RTL",
                       description="Generate random valid programs (every slice kind, random "
                       "data, nop and repeat, no stream collisions by construction), run each on "
                       "the golden model and on the Verilator RTL, and compare final MEM and "
                       "cycle counts. A mismatch is shrunk to a small program and written as "
                       "assembly that `conveyor run` replays; the exit status is 1 if any.")
    p.add_argument("--seeds", type=int, default=20, metavar="N", help="programs to run (20)")
    p.add_argument("--first-seed", type=int, default=0, metavar="S", help="first seed (0)")
    p.add_argument("--size", type=int, default=48, metavar="K",
                   help="rough number of slice instructions per program (48)")
    p.add_argument("-o", "--out-dir", default=".", metavar="DIR",
                   help="where mismatch-CONFIG-SEED.s files go (.)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    config_arg(p)
    p.set_defaults(handler=cosim)

    _schedule_parser(sub)
    _bench_parser(sub)


def demo(args) -> int:
    from ..demo import run_demo
    if args.rtl_seconds < 0:
        raise UsageError(f"--rtl-seconds must be 0 or more, not {args.rtl_seconds:g}")
    report = run_demo(args.model, args.config, rtl_seconds=args.rtl_seconds, digits=args.digits)
    print(json.dumps(report.to_json()) if args.json else report.text())
    return 0 if report.ok else 1


def cosim(args) -> int:
    from ..cosim import cosim as sweep
    config = load_config(args.config)
    if args.seeds < 1 or args.size < 1:
        raise UsageError("--seeds and --size must be at least 1")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    report = sweep(config, seeds, out_dir=args.out_dir, size=args.size)
    if args.json:
        print(json.dumps({"config": config.name, "programs": report.programs,
                          "mismatches": len(report.mismatches),
                          "mismatch_files": [str(f) for f in report.files],
                          "ops": report.mnemonics}))
    else:
        ops = sum(report.mnemonics.values())
        print(f"{config.name}: {report.programs} programs, {ops} slice instructions, "
              f"{len(report.mnemonics)} kinds, {len(report.mismatches)} mismatches")
        for m in report.mismatches:
            print(f"  seed {m.seed}: {m.differences[0]} -> {m.file}")
    return 1 if report.mismatches else 0


# --- schedule charts and the benchmark (sw/apps/chart/, sw/apps/bench/) -----------------

def _schedule_parser(sub) -> None:
    p = sub.add_parser("schedule", help="draw a program's pipeline chart (SVG, HTML or PNG)",
                       description="Draw when every queue issues what: one row per queue "
                       "(slices west to east), a bar per instruction from issue to issue + "
                       "latency coloured by op family, and below it the stream cells in "
                       "flight per cycle, eastward and westward. A program with more cycles "
                       "than the picture has pixels is drawn in bins. Nothing is simulated: "
                       "the chart comes from the timing rules alone.",
                       epilog="example: conveyor compile matmul:M=64,K=64,N=64 -o mm64 && "
                       "conveyor schedule mm64 -o mm64.svg")
    p.add_argument("program", metavar="DIR|PROGRAM",
                   help="a directory from `conveyor compile`, assembly (.s) or a program image")
    p.add_argument("-o", "--output", required=True, metavar="FILE.svg|.html|.png",
                   help="the chart, in the format its suffix names: SVG, HTML (the SVG with a "
                        "title and a legend) or PNG")
    p.add_argument("--run", type=int, default=0, metavar="K",
                   help="a compiled DIR of several runs: chart run K (0)")
    p.add_argument("--width", type=int, default=1200, metavar="PX",
                   help="picture width in pixels (1200)")
    p.add_argument("--title", help="heading (default: the program, config and cycles)")
    config_arg(p, default=None, default_text="default small16, or for a compiled DIR the "
               "config it was compiled for")
    p.set_defaults(handler=schedule)


def _bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure MXM utilisation, cycles, tool and simulator "
                       "speed; JSON results, and a Markdown page with --docs",
                       description="Compile a sweep of matmul sizes, run them on the golden "
                       "model and the small ones on the Verilator RTL (in one simulator), and "
                       "measure compile time, Verilog generation and the Verilator build (a "
                       "cached model is reported with its recorded build time), simulated "
                       "cycles per second, and fmax and resources from board reports. Prints "
                       "tables and writes the results as JSON; with --docs FILE.md, also as a "
                       "Markdown page (no page is written without it). Exit 1 if a cycle count "
                       "differs from the prediction or an output is not bit-exact. With "
                       "--models, also compile MLPerf Tiny's KWS and ResNet-8 (int8 TFLite, "
                       "examples/mlperf-tiny) for every board core, small16, mlperf16 and tsp, "
                       "and report for each whether it fits (if not, the compiler's reason), "
                       "cycles per inference on the golden model against the prediction, "
                       "bit-exactness against LiteRT's reference kernels, MXM utilisation, "
                       "and µs and inferences/s at the clock a board signs off at (else the "
                       "config's nominal one).",
                       epilog="example: conveyor bench --quick --models --docs "
                       "docs/performance.md")
    p.add_argument("--quick", action="store_true",
                   help="a few minutes on 2 cores: short speed runs, Verilog timed only if "
                        "the model must be built")
    p.add_argument("--json", action="store_true", help="print the results as JSON, not tables")
    p.add_argument("-o", "--output", default="build/bench.json", metavar="RESULTS.json",
                   help="write the results here (build/bench.json)")
    p.add_argument("--docs", metavar="FILE.md",
                   help="also write the results as this Markdown page, e.g. "
                        "docs/performance.md (default: no page)")
    p.add_argument("--no-rtl", action="store_true",
                   help="golden model only: no Verilator build, no RTL runs")
    p.add_argument("--boards", default="build", metavar="DIR",
                   help="where `conveyor build` left BOARD/report.json (build)")
    p.add_argument("--spec", action="append", metavar="SPEC",
                   help="measure this layer spec instead of the sweep (repeatable)")
    p.add_argument("--models", nargs="?", const="kws,resnet8", metavar="kws,resnet8",
                   help="also MLPerf Tiny's models on every board core, small16, mlperf16 and "
                        "tsp (all of them, or those named): minutes; --quick does not compile "
                        "ResNet-8 for tsp (over a minute itself)")
    p.add_argument("--rtl-macs", type=int, metavar="N",
                   help="run specs and models of at most N MACs on the RTL (default: the "
                        "sweep's smaller specs, neither model; each model's config builds its "
                        "own Verilator model, minutes for mlperf16)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="a line per measurement as it completes, and the Verilator build log")
    config_arg(p)
    p.set_defaults(handler=bench)


def schedule(args) -> int:
    from ...compiler import is_compiled_dir
    from ..chart import chart_data, check_output, write_chart
    out = check_output(args.output)
    if is_compiled_dir(args.program):
        from ...compiler import load
        compiled = load(args.program, load_config(args.config) if args.config else None)
        runs = len(compiled.runs)
        if not 0 <= args.run < runs:
            raise UsageError(f"--run {args.run}: {args.program} has {runs} run"
                              f"{'s' if runs > 1 else ''} (0..{runs - 1})")
        run = compiled.runs[args.run]
        program, macs = run.program, run.useful_macs
        which = f", run {args.run} of {runs}" if runs > 1 else ""
        subject = f"{compiled.spec} on {compiled.config.name}{which}"
    else:
        from ...asm.image import load_program
        if args.run:
            raise UsageError("--run is for a compiled DIR of several runs")
        config = load_config(args.config or "small16")
        program, macs = load_program(args.program, config), None
        subject = f"{Path(args.program).name} on {config.name}"
    chart = chart_data(program, width=args.width, title=args.title, subject=subject,
                       useful_macs=macs)
    write_chart(chart, out)
    binned = f", {chart.bin} cycles per bin" if chart.bin > 1 else ""
    print(f"{out}: {chart.cycles:,} cycles, {chart.issues:,} issues in {len(chart.queues)} "
          f"queues{binned}")
    return 0


def bench(args) -> int:
    from ..bench import MODELS, BenchPlan, render_table, results_ok, run_bench, write_outputs
    if args.docs is not None and Path(args.docs).is_dir():  # refused before minutes of work
        raise UsageError(f"--docs {args.docs}: is a directory; name the page, e.g. "
                          f"{Path(args.docs) / 'performance.md'}")
    models = tuple(m for m in (args.models or "").split(",") if m)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise UsageError(f"--models {args.models}: no model {unknown[0]!r} (have "
                         f"{', '.join(MODELS)})")
    if args.rtl_macs is not None and args.rtl_macs < 0:
        raise UsageError(f"--rtl-macs must be 0 or more, not {args.rtl_macs}")
    plan = (BenchPlan.quick_plan if args.quick else BenchPlan.full_plan)(
        config=args.config, rtl=not args.no_rtl, boards_dir=args.boards, models=models,
        **({"specs": tuple(args.spec)} if args.spec else {}),
        **({"rtl_macs": args.rtl_macs} if args.rtl_macs is not None else {}))
    log = (lambda line: print(line, file=sys.stderr)) if args.verbose else None
    results = run_bench(plan, log=log, verbose=args.verbose)
    try:
        written = write_outputs(results, args.output, args.docs)
    except OSError as e:
        raise UsageError(f"{e.filename}: cannot write ({e.strerror})") from None
    if args.json:
        print(json.dumps(results))
    else:
        render_table(results)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0 if results_ok(results) else 1
