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

from ..errors import AsmError, ConveyorError
from ..hw.config import PRESETS, CoreConfig, load_config

__all__ = ["main"]

_EPILOG = """\
examples:
  conveyor configs                                  list the preset cores
  conveyor asm examples/vector_add.s -o add.bin     assemble for the default config (small16)
  conveyor run examples/vector_add.s --dump mem4:0:4
  conveyor run add.bin --backend verilator --json   the same program on the RTL
  conveyor verilog -c tiny -o core.v                Verilog for the iCEBreaker-sized core
  conveyor cosim -c tiny --seeds 20                 random programs, golden model vs RTL

Every command takes -c/--config: a preset name or a TOML file with the keys that
`conveyor configs --json` prints. Docs: docs/architecture.md, docs/assembly.md, docs/isa.md.
"""


class _UsageError(ConveyorError):
    pass


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default="small16", metavar="NAME|FILE.toml",
                   help="core configuration: a preset ({}) or a TOML file; default small16".format(", ".join(PRESETS)))


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

    p = sub.add_parser("run", help="run a program on the golden model or the RTL",
                       description="Run a program (.s or image) and print its cycle count "
                       "and any MEM words asked for with --dump.")
    p.add_argument("program", help="assembly (.s) or program image")
    p.add_argument("--backend", choices=("golden", "verilator"), default="golden",
                   help="golden: the cycle-exact Python model; verilator: the generated RTL "
                        "(built once per config and cached)")
    p.add_argument("--dump", action="append", default=[], metavar="SLICE:ADDR:COUNT",
                   help="print COUNT words of a MEM slice from ADDR, e.g. mem3:0:4 (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--waves", metavar="FILE.fst",
                   help="verilator backend: write a waveform for GTKWave or Surfer")
    _config_arg(p)

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
    p.add_argument("-o", "--output", help="write the module here instead of stdout")
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
    from .asm import assemble_file
    from .image import pack
    config = load_config(args.config)
    program = assemble_file(args.source, config)
    out = Path(args.output or Path(args.source).with_suffix(".bin"))
    _write(out, pack(program))
    words = sum(len(q) for q in program.queues.values())
    print(f"{out}: {words} instruction words in {len(program.queues)} queues, "
          f"{sum(len(b.values) for b in program.data)} data words, for {config.name}")
    return 0


def _cmd_disasm(args) -> int:
    from .disasm import disassemble
    from .image import unpack
    config = load_config(args.config)
    text = disassemble(unpack(_read(args.image), config, source=args.image))
    if args.output:
        _write(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
    return 0


def _cmd_run(args) -> int:
    from .image import load_program
    config = load_config(args.config)
    dumps = [_parse_dump(d, config) for d in args.dump]
    if args.waves and args.backend != "verilator":
        raise _UsageError("--waves needs --backend verilator")
    program = load_program(args.program, config)
    if args.backend == "golden":
        from ..sim.golden import run
        result = run(program)
    else:
        from ..sim.verilator import run
        result = run(program, waves=args.waves)
    from .program import mxm_utilization
    report = {"cycles": result.cycles, "backend": args.backend, "config": config.name,
              "program": args.program,
              "mxm_utilization": round(mxm_utilization(program, result.cycles), 4)}
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
    from ..sim.cosim import cosim
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


def _cmd_verilog(args) -> int:
    from ..hw.core import to_verilog
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
    from .ir import PassManager, parse_module, parse_pipeline, print_module
    passes = parse_pipeline(args.passes)
    if args.input == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        text, name = _read(args.input).decode("utf-8", errors="replace"), args.input
    module = parse_module(text, name)
    dump = sys.stderr if args.print_ir_after_all else None
    PassManager(passes, print_ir_after_all=dump).run(module)
    if args.output:
        _write(Path(args.output), print_module(module).encode())
    else:
        sys.stdout.write(print_module(module))
    return 0


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
             "cosim": _cmd_cosim, "verilog": _cmd_verilog, "isa": _cmd_isa, "opt": _cmd_opt}


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
