"""The ``conveyor`` command line.

Every user error (bad assembly, bad config, a program built for another config, a missing file)
prints one line on stderr and exits 1; a traceback here is a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ...errors import AsmError, ConveyorError
from ...hw.machine.config import PRESETS, CoreConfig, load_config
from ...hw.machine.program import mxm_utilization

__all__ = ["main"]

_EPILOG = """\
examples:
  conveyor demo                                     digits MLP on the golden model and the RTL
  conveyor configs                                  list the preset cores
  conveyor asm examples/vector_add.s -o add.bin     assemble for the default config (small16)
  conveyor run examples/vector_add.s --dump mem4:0:4
  conveyor run add.bin --backend verilator --json   the same program on the RTL
  conveyor verilog -c tiny -o core.v                Verilog for the iCEBreaker-sized core
  conveyor cosim -c tiny --seeds 20                 random programs, golden model vs RTL
  conveyor schedule mm64 -o mm64.svg                pipeline chart of a compiled DIR
  conveyor bench --quick                            utilisation, cycles, simulator speeds
  conveyor build --board ulx3s-85f                  bitstream, report.json, timing sign-off
  conveyor flash --board ulx3s-85f                  load it with openFPGALoader
  conveyor compile matmul:M=8,K=8,N=8 -c constraints/ulx3s-core.toml -o mm8
  conveyor run mm8 --board ulx3s-85f --port /dev/ttyUSB0       on the board's core

Every command takes -c/--config: a preset name or a TOML file with the keys that
`conveyor configs --json` prints. Docs: docs/architecture.md, docs/assembly.md, docs/isa.md.
"""


class _UsageError(ConveyorError):
    pass


def _config_arg(p: argparse.ArgumentParser, default: str | None = "small16") -> None:
    after = ("default small16" if default else
             "default small16, with --board the board's core, or for a compiled DIR the "
             "config it was compiled for")
    p.add_argument("-c", "--config", default=default, metavar="NAME|FILE.toml",
                   help=f"core configuration: a preset ({', '.join(PRESETS)}) or a TOML file; "
                        f"{after}")


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="conveyor", description="Generate, simulate and run an assembly-line dataflow "
        "core (the architecture of Groq's LPU) at the size you choose.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("configs", help="list the preset core configurations")
    p.add_argument("--json", action="store_true", help="print them as JSON")

    p = sub.add_parser("asm", help="assemble a program into a binary image")
    p.add_argument("source", help="assembly file (.s)")
    p.add_argument("-o", "--output", help="image to write (default: SOURCE with .bin)")
    _config_arg(p)

    p = sub.add_parser("disasm", help="print a program image as assembly")
    p.add_argument("image", help="program image (.bin)")
    p.add_argument("-o", "--output", help="write the assembly here instead of stdout")
    _config_arg(p)

    p = sub.add_parser("compile", help="compile a layer spec or an ONNX model to a program",
                       description="Compile SPEC (matmul:M=..,K=..,N=.. | linear:M=..,K=..,N=..[,"
                       "relu=1] | conv2d:H=..,W=..,C=..,K=..,R=..,S=..,stride=..,pad=..; random "
                       "int8 data from --seed) or MODEL.onnx (quantised with --calibration) into "
                       "DIR: program image(s), assembly, inputs, numpy expected outputs and a "
                       "manifest with the predicted cycle count. `conveyor run DIR` checks both.",
                       epilog="example: conveyor compile matmul:M=64,K=64,N=64 -o mm64 && "
                       "conveyor run mm64 --backend verilator --json")
    p.add_argument("model", metavar="SPEC|MODEL.onnx", help="a built-in layer spec or an ONNX "
                   "file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write")
    p.add_argument("--seed", type=int, default=0, help="seed of a spec's random data (0)")
    p.add_argument("--calibration", metavar="CALIB.npy|.npz",
                   help="ONNX: calibration inputs in the model's input layout; the first "
                        "sample(s) also become the compiled inputs")
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the IR after every pass and lowering, on stderr")
    _config_arg(p)

    p = sub.add_parser("run", help="run a program or compiled model on the golden model or "
                       "the RTL",
                       description="Run a program (.s or image) and print its cycle count "
                       "and any MEM words asked for with --dump; or run a directory from "
                       "`conveyor compile` and check its cycles against the prediction and its "
                       "outputs against numpy (exit 1 if either differs).")
    p.add_argument("program", help="assembly (.s), program image, or compiled DIR")
    p.add_argument("--backend", choices=("golden", "verilator"), default="golden",
                   help="golden: the cycle-exact Python model; verilator: the generated RTL "
                        "(built once per config and cached)")
    p.add_argument("--dump", action="append", default=[], metavar="SLICE:ADDR:COUNT",
                   help="print COUNT words of a MEM slice from ADDR, e.g. mem3:0:4 (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--waves", metavar="FILE.fst",
                   help="verilator backend: write a waveform for GTKWave or Surfer")
    _board_run_args(p)
    _config_arg(p, default=None)

    _board_parsers(sub)

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
    _config_arg(p)

    p = sub.add_parser("demo", help="the digits classifier from ONNX to the golden model and "
                       "the RTL: accuracy, bit-exactness, cycles",
                       description="Compile the committed digits model (examples/digits) for "
                       "the core, run every held-out digit on the golden model and as many as "
                       "fit in --rtl-seconds on the Verilator RTL (built once per config and "
                       "cached), and report float and int8 accuracy, bit-exactness against "
                       "numpy, predicted and measured cycles, MXM utilisation and the time per "
                       "inference at the config's clock. Exit 1 if any inference is not "
                       "bit-exact or not exactly the predicted cycles.")
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp: 64-32-10 perceptron; cnn: conv 3x3, maxpool, linear (mlp)")
    p.add_argument("--rtl-seconds", type=float, default=60.0, metavar="S",
                   help="about how long to run inferences on the RTL, 0 for none (60)")
    p.add_argument("--digits", type=int, metavar="N",
                   help="only the first N of the 360 held-out digits")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _config_arg(p)

    p = sub.add_parser("verilog", help="write the core as Verilog")
    p.add_argument("-o", "--output", required=True, help="Verilog file to write")
    _config_arg(p)

    p = sub.add_parser("isa", help="print the instruction set reference (Markdown)")
    p.add_argument("-o", "--output", help="write it here (docs/isa.md) instead of stdout")

    p = sub.add_parser("opt", help="run compiler passes on an IR text module",
                       description="Parse an IR module (MLIR-like text, docs/compiler.md), "
                       "verify it, run the passes in order (verifying after each) and print "
                       "the result.")
    p.add_argument("input", help="IR text file (.mlir), or - for stdin")
    p.add_argument("--passes", default="", metavar="A,B{OPT=V}",
                   help="comma-separated pass pipeline, e.g. fuse-relu,canonicalize")
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the module to stderr after every pass")
    p.add_argument("--split-input-file", action="store_true",
                   help="treat each part between '// -----' lines as its own module; report "
                        "every part's error and go on (for verifier tests)")
    p.add_argument("-o", "--output", help="write the module here instead of stdout")
    p.add_argument("-c", "--config", metavar="NAME|FILE.toml",
                   help="the target core of a graph-level module (a module below the graph "
                        "level carries its own target)")
    _chart_and_bench_parsers(sub)
    return top


# --- commands -------------------------------------------------------------------------------

def _cmd_configs(args) -> int:
    if args.json:
        print(json.dumps({name: c.to_dict() for name, c in PRESETS.items()}, indent=2))
        return 0
    for c in PRESETS.values():
        print(f"{c.name}: {c.lanes} lanes, {c.streams}+{c.streams} streams, "
              f"{c.mem_depth} words/MEM slice, {c.vxm_alus} VXM ALUs/lane, "
              f"{c.queue_depth} words/queue, {c.clock_mhz:g} MHz")
        print(f"  floorplan (west to east): {c.floorplan_text()}")
        print(f"  {len(c.queues)} queues: " + _abbreviate([q.name for q in c.queues]))
    return 0


def _abbreviate(names: list[str], limit: int = 10) -> str:
    if len(names) <= limit:
        return " ".join(names)
    return " ".join(names[:limit // 2]) + " ... " + " ".join(names[-limit // 2:])


def _cmd_asm(args) -> int:
    from ..asm.assembler import assemble_file
    from ..asm.image import pack
    config = load_config(args.config)
    program = assemble_file(args.source, config)
    out = Path(args.output or Path(args.source).with_suffix(".bin"))
    _write(out, pack(program))
    words = sum(len(q) for q in program.queues.values())
    print(f"{out}: {words} instruction words in {len(program.queues)} queues, "
          f"{sum(len(b.values) for b in program.data)} data words, for {config.name}")
    return 0


def _cmd_disasm(args) -> int:
    from ..asm.disasm import disassemble
    from ..asm.image import unpack
    config = load_config(args.config)
    text = disassemble(unpack(_read(args.image), config, source=args.image))
    if args.output:
        _write(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
    return 0


def _cmd_compile(args) -> int:
    from ..compiler import compile_graph, compile_spec
    config = load_config(args.config)
    print_ir = sys.stderr if args.print_ir_after_all else None
    if args.model.endswith(".onnx"):
        from ..frontends.calibration import load_calibration
        from ..frontends.onnx import import_onnx
        if not args.calibration:
            raise _UsageError(f"{args.model}: a float ONNX model needs --calibration CALIB.npy")
        model = import_onnx(args.model, args.calibration)
        calib = load_calibration(args.calibration, [s.name for s in model.inputs])
        feeds = {name: values[:1] for name, values in calib.items()}
        compiled = compile_graph(model.graph, model.quantize_inputs(feeds), config,
                                 spec=args.model, print_ir=print_ir)
    else:
        from ...progress import status
        with status(f"compiling {args.model} for {config.name}"):
            compiled = compile_spec(args.model, config, args.seed, print_ir=print_ir)
    out = compiled.save(args.output)
    runs = f" in {len(compiled.runs)} runs" if len(compiled.runs) > 1 else ""
    print(f"{args.model} -> {out}/: {compiled.predicted_cycles} cycles predicted on "
          f"{config.name}{runs}, {compiled.useful_macs} MACs")
    return 0


def _default_config(args) -> str:
    """small16, or on a board the core that board builds by default."""
    if args.board:
        from ...hw.boards import board_named
        return board_named(args.board).constraints.config
    return "small16"


def _run_compiled(args) -> int:
    from ..compiler import load
    config = load_config(args.config) if args.config else None
    compiled = load(args.program, config)
    config = compiled.config
    programs = [r.program for r in compiled.runs]
    if args.board:
        args.backend = "board"
        results = [_run_on_board(args, p) for p in programs]
    elif args.backend == "golden":
        from ...sim.golden import run
        results = [run(p) for p in programs]
    elif args.waves:
        if len(programs) > 1:
            raise _UsageError(f"--waves takes one program; {args.program} has "
                              f"{len(programs)} runs")
        from ...sim.verilator import run
        results = [run(programs[0], waves=args.waves)]
    else:  # one simulator process for every run, reading back only the outputs
        from ...sim.batch import verilator_batch
        results = verilator_batch(programs, compiled.output_words())
        for r in results:
            if isinstance(r, Exception):
                raise r
    cycles = sum(r.cycles for r in results)
    exact = compiled.bit_exact([r.mem for r in results])
    report = {"cycles": cycles, "predicted_cycles": compiled.predicted_cycles,
              "bit_exact": exact, "backend": args.backend, "config": config.name,
              "program": args.program, "runs": len(programs),
              "mxm_utilization": round(mxm_utilization(config, cycles, compiled.useful_macs), 4)}
    if args.json:
        print(json.dumps(report))
    else:
        same = "= predicted" if cycles == compiled.predicted_cycles else (
            f"!= predicted {compiled.predicted_cycles}")
        print(f"{args.program}: {cycles} cycles {same} on {config.name} ({args.backend}), "
              f"bit-exact {'yes' if exact else 'NO'}, MXM utilisation "
              f"{report['mxm_utilization']:.1%}")
    return 0 if exact and cycles == compiled.predicted_cycles else 1


def _cmd_run(args) -> int:
    from ..compiler import is_compiled_dir
    if is_compiled_dir(args.program):
        if args.dump:
            raise _UsageError("--dump is for programs; a compiled DIR checks its outputs itself")
        return _run_compiled(args)
    from ..asm.image import load_program
    config = load_config(args.config or _default_config(args))
    dumps = [_parse_dump(d, config) for d in args.dump]
    if args.waves and args.backend != "verilator":
        raise _UsageError("--waves needs --backend verilator")
    program = load_program(args.program, config)
    if args.board:
        args.backend = "board"
        result = _run_on_board(args, program)
    elif args.backend == "golden":
        from ...sim.golden import run
        result = run(program)
    else:
        from ...sim.verilator import run
        result = run(program, waves=args.waves)
    from ...hw.machine.program import issued_macs
    report = {"cycles": result.cycles, "backend": args.backend, "config": config.name,
              "program": args.program,
              "mxm_utilization": round(mxm_utilization(config, result.cycles, issued_macs(program)), 4)}
    if getattr(result, "ops", None) is not None:
        report["ops"] = result.ops
    if args.waves:
        report["waves"] = args.waves
    report["dump"] = {spec: result.mem[name][addr:addr + count].tolist()
                      for spec, name, addr, count in dumps}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.program}: {result.cycles} cycles on {config.name} ({args.backend}), "
          f"MXM utilisation {report['mxm_utilization']:.1%}")
    for spec, name, addr, count in dumps:
        words = result.mem[name][addr:addr + count]
        for i, word in enumerate(words):
            print(f"  {name}[{addr + i}]: " + " ".join(f"{v:4d}" for v in word))
    if args.waves:
        print(f"waveform: {args.waves}")
    return 0


# --- boards (docs/boards.md) ----------------------------------------------------------------

def _board_names() -> str:
    from ...hw.boards import BOARD_NAMES
    return ", ".join(BOARD_NAMES)


def _board_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", metavar="BOARD",
                   help=f"run on a board through its UART bridge ({_board_names()})")
    p.add_argument("--port", metavar="DEV", help="--board: its serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, help="--board: baud rate (default: the board's, from "
                   "constraints/BOARD.toml)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="--board: seconds to wait for done (10)")


def _board_parsers(sub) -> None:
    p = sub.add_parser("build", help="build a bitstream for a board and sign off its timing",
                       description="Synthesise, place and route the core with its UART bridge "
                       "for a board with the YoWASP tools, write report.json (fmax, LUTs, FFs, "
                       "block RAM, DSPs) and fail if fmax is below the clock.")
    p.add_argument("--board", required=True, metavar="BOARD", help=_board_names())
    p.add_argument("-c", "--config", metavar="NAME|FILE.toml",
                   help="core configuration (default: the board's, from constraints/BOARD.toml)")
    p.add_argument("--freq", type=float, metavar="MHZ",
                   help="core clock (default: the board's target); the PLL makes the nearest "
                        "clock at or above it")
    p.add_argument("--lut-columns", type=int, metavar="N",
                   help="MXM product columns built as LUT multipliers (default: what leaves "
                        "the board's DSPs enough)")
    p.add_argument("-o", "--out-dir", metavar="DIR", help="build directory (build/BOARD)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the tools' output")
    p.add_argument("--echo", action="store_true",
                   help="build the bring-up design instead of the core: the UART echoes every "
                        "byte and an LED blinks (checks a board's clock, UART and the tools)")

    p = sub.add_parser("flash", help="load a bitstream onto a board with openFPGALoader")
    p.add_argument("bitstream", nargs="?",
                   help="bitstream (default: build/BOARD/top.bin or top.bit)")
    p.add_argument("--board", required=True, metavar="BOARD", help=_board_names())
    p.add_argument("--persist", action=argparse.BooleanOptionalAction, default=None,
                   help="write the SPI flash (the board boots from it) rather than SRAM; "
                        "default: the board's (iCEBreaker: flash, ULX3S: SRAM)")


def _cmd_build(args) -> int:
    from ...hw.boards import board_named
    from ...hw.boards.build import build_core, default_lut_columns
    board = board_named(args.board)
    out_dir = Path(args.out_dir or Path("build") / board.name)
    if args.echo:
        from ...hw.boards.build import build_echo
        report = build_echo(board, out_dir=out_dir, mhz=args.freq, verbose=args.verbose)
    else:
        config = load_config(args.config or board.constraints.config)
        lut_columns = (default_lut_columns(board, config) if args.lut_columns is None
                       else args.lut_columns)
        report = build_core(board, config, out_dir=out_dir, mhz=args.freq,
                            lut_columns=lut_columns, verbose=args.verbose)
    print(report.summary())
    print(f"report: {out_dir / 'report.json'}")
    return 0


def _cmd_flash(args) -> int:
    from ...hw.boards import board_named
    from ...hw.boards.flash import flash
    board = board_named(args.board)
    bitstream = Path(args.bitstream or Path("build") / board.name / f"top{board.bitstream}")
    print(f"{args.board}: {flash(board, bitstream, persist=args.persist)}")
    return 0


def _run_on_board(args, program):
    from ...hw.boards import board_named
    from ..host.driver import Board
    if not args.port:
        raise _UsageError("--board needs --port, e.g. --port /dev/ttyUSB0")
    if args.waves:
        raise _UsageError("--waves needs --backend verilator, not --board")
    baud = args.baud or board_named(args.board).constraints.baud
    with Board.open(args.port, baud=baud) as board:
        return board.run(program, timeout=args.timeout)


def _parse_dump(spec: str, config: CoreConfig) -> tuple[str, str, int, int]:
    parts = spec.split(":")
    try:
        name, addr, count = parts[0], int(parts[1], 0), int(parts[2], 0)
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise _UsageError(f"--dump {spec!r}: expected SLICE:ADDR:COUNT, e.g. mem0:0:4") from None
    names = [s.name for s in config.mem_slices]
    if name not in names:
        raise _UsageError(f"--dump {spec!r}: no MEM slice {name!r} in {config.name} "
                          f"(have {', '.join(names)})")
    if addr < 0 or count < 1 or addr + count > config.mem_depth:
        raise _UsageError(f"--dump {spec!r}: words {addr}..{addr + count - 1} are outside "
                          f"0..{config.mem_depth - 1}")
    return spec, name, addr, count


def _cmd_cosim(args) -> int:
    from .cosim import cosim
    config = load_config(args.config)
    if args.seeds < 1 or args.size < 1:
        raise _UsageError("--seeds and --size must be at least 1")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    report = cosim(config, seeds, out_dir=args.out_dir, size=args.size)
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


def _cmd_demo(args) -> int:
    from .demo import run_demo
    if args.rtl_seconds < 0:
        raise _UsageError(f"--rtl-seconds must be 0 or more, not {args.rtl_seconds:g}")
    report = run_demo(args.model, args.config, rtl_seconds=args.rtl_seconds, digits=args.digits)
    print(json.dumps(report.to_json()) if args.json else report.text())
    return 0 if report.ok else 1


def _cmd_verilog(args) -> int:
    from ...hw.rtl.core import to_verilog
    config = load_config(args.config)
    text = to_verilog(config)
    _write(Path(args.output), text.encode())
    print(f"{args.output}: {text.count(chr(10))} lines of Verilog for {config.name}")
    return 0


def _cmd_isa(args) -> int:
    from .isadoc import isa_markdown
    text = isa_markdown()
    if args.output:
        _write(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
    return 0


def _cmd_opt(args) -> int:
    from ..ir import PassManager, parse_module, parse_pipeline, print_module
    passes = parse_pipeline(args.passes)
    if args.input == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        text, name = _read(args.input).decode("utf-8", errors="replace"), args.input
    dump = sys.stderr if args.print_ir_after_all else None
    target = load_config(args.config) if args.config else None
    if not args.split_input_file:
        module = _targeted(parse_module(text, name), target)
        out = print_module(PassManager(passes, print_ir_after_all=dump).run(module))
    else:
        import re

        from ..ir import IRError
        parts, failed, line = [], 0, 0
        for chunk in re.split(r"^// -----.*\n?", text, flags=re.MULTILINE):
            try:  # padded with newlines so that errors give the line in the whole file
                module = _targeted(parse_module("\n" * line + chunk, name), target)
                parts.append(print_module(PassManager(passes, dump).run(module)))
            except IRError as e:
                print(f"conveyor: error: {e}", file=sys.stderr)
                failed += 1
            line += chunk.count("\n") + 1
        out = "// -----\n".join(parts)
    if args.output:
        _write(Path(args.output), out.encode())
    else:
        sys.stdout.write(out)
    return 1 if args.split_input_file and failed else 0


def _targeted(module, target: CoreConfig | None):
    """``module`` with the target ``-c`` names: a graph-level module takes it (its ops do not
    depend on the core); a lower one keeps its own and refuses another."""
    if target is None or target == module.target:
        return module
    if module.level != "graph" and module.target is not None:
        raise _UsageError(f"module @{module.name} is a {module.level}-level module for "
                          f"{module.target.name!r}; it cannot be retargeted to "
                          f"{target.name!r} (drop -c)")
    module.target = target
    return module


# --- schedule charts and the benchmark (sw/apps/chart/, sw/apps/bench/) -----------------

def _chart_and_bench_parsers(sub) -> None:
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
    _config_arg(p, default=None)

    p = sub.add_parser("bench", help="measure MXM utilisation, cycles, tool and simulator "
                       "speed; JSON results, and a Markdown page with --docs",
                       description="Compile a sweep of matmul sizes, run them on the golden "
                       "model and the small ones on the Verilator RTL (in one simulator), and "
                       "measure compile time, Verilog generation and the Verilator build (a "
                       "cached model is reported with its recorded build time), simulated "
                       "cycles per second, and fmax and resources from board reports. Prints "
                       "tables and writes the results as JSON; with --docs FILE.md, also as a "
                       "Markdown page (no page is written without it). Exit 1 if a cycle count "
                       "differs from the prediction or an output is not bit-exact.",
                       epilog="example: conveyor bench --quick --docs docs/performance.md")
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
    p.add_argument("-v", "--verbose", action="store_true",
                   help="a line per measurement as it completes, and the Verilator build log")
    _config_arg(p)


def _cmd_schedule(args) -> int:
    from ..compiler import is_compiled_dir
    from .chart import chart_data, check_output, write_chart
    out = check_output(args.output)
    if is_compiled_dir(args.program):
        from ..compiler import load
        compiled = load(args.program, load_config(args.config) if args.config else None)
        runs = len(compiled.runs)
        if not 0 <= args.run < runs:
            raise _UsageError(f"--run {args.run}: {args.program} has {runs} run"
                              f"{'s' if runs > 1 else ''} (0..{runs - 1})")
        run = compiled.runs[args.run]
        program, macs = run.program, run.useful_macs
        which = f", run {args.run} of {runs}" if runs > 1 else ""
        subject = f"{compiled.spec} on {compiled.config.name}{which}"
    else:
        from ..asm.image import load_program
        if args.run:
            raise _UsageError("--run is for a compiled DIR of several runs")
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


def _cmd_bench(args) -> int:
    from .bench import BenchPlan, render_table, results_ok, run_bench, write_outputs
    if args.docs is not None and Path(args.docs).is_dir():  # refused before minutes of work
        raise _UsageError(f"--docs {args.docs}: is a directory; name the page, e.g. "
                          f"{Path(args.docs) / 'performance.md'}")
    plan = (BenchPlan.quick_plan if args.quick else BenchPlan.full_plan)(
        config=args.config, rtl=not args.no_rtl, boards_dir=args.boards,
        **({"specs": tuple(args.spec)} if args.spec else {}))
    log = (lambda line: print(line, file=sys.stderr)) if args.verbose else None
    results = run_bench(plan, log=log, verbose=args.verbose)
    try:
        written = write_outputs(results, args.output, args.docs)
    except OSError as e:
        raise _UsageError(f"{e.filename}: cannot write ({e.strerror})") from None
    if args.json:
        print(json.dumps(results))
    else:
        render_table(results)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0 if results_ok(results) else 1


# --- plumbing -------------------------------------------------------------------------------

def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise _UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise _UsageError(f"{path}: is a directory") from None
    except OSError as e:
        raise _UsageError(f"{path}: cannot read ({e.strerror})") from None


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as e:
        raise _UsageError(f"{path}: cannot write ({e.strerror})") from None


_COMMANDS = {"configs": _cmd_configs, "asm": _cmd_asm, "disasm": _cmd_disasm, "run": _cmd_run,
             "compile": _cmd_compile, "demo": _cmd_demo,
             "cosim": _cmd_cosim, "verilog": _cmd_verilog, "isa": _cmd_isa, "opt": _cmd_opt,
             "build": _cmd_build, "flash": _cmd_flash,
             "schedule": _cmd_schedule, "bench": _cmd_bench}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    np.set_printoptions(linewidth=120)
    try:
        return _COMMANDS[args.command](args)
    except AsmError as e:
        print(e, file=sys.stderr)  # file:line:col: message, as compilers print it
        return 1
    except ConveyorError as e:
        print(f"conveyor: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("conveyor: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
