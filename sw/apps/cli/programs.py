"""``conveyor asm``, ``disasm`` and ``run``: programs as text, as images, and run on a backend
(a program with its cycle count and MEM, or a compiled directory checked against its
prediction and numpy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ....hw.machine.config import CoreConfig, load_config
from ....hw.machine.program import issued_macs, mxm_utilization
from .backends import BACKENDS, run_programs
from .boards import board_port, board_run_args, default_config
from .common import UsageError, config_arg, read_file, write_file

__all__ = ["add"]


def add(sub) -> None:
    p = sub.add_parser("asm", help="assemble a program into a binary image")
    p.add_argument("source", help="assembly file (.s)")
    p.add_argument("-o", "--output", help="image to write (default: SOURCE with .bin)")
    config_arg(p)
    p.set_defaults(handler=asm)

    p = sub.add_parser("disasm", help="print a program image as assembly")
    p.add_argument("image", help="program image (.bin)")
    p.add_argument("-o", "--output", help="write the assembly here instead of stdout")
    config_arg(p)
    p.set_defaults(handler=disasm)

    p = sub.add_parser("run", help="run a program or compiled model on the golden model or "
                       "the RTL",
                       description="Run a program (.s or image) and print its cycle count "
                       "and any MEM words asked for with --dump; or run a directory from "
                       "`conveyor compile` and check its cycles against the prediction and its "
                       "outputs against numpy (exit 1 if either differs).")
    p.add_argument("program", help="assembly (.s), program image, or compiled DIR")
    p.add_argument("--backend", choices=BACKENDS, default="golden",
                   help="golden: the cycle-exact Python model; verilator: the generated RTL "
                        "(built once per config and cached)")
    p.add_argument("--dump", action="append", default=[], metavar="SLICE:ADDR:COUNT",
                   help="print COUNT words of a MEM slice from ADDR, e.g. mem3:0:4 (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--inputs", metavar="IN.npz",
                   help="compiled DIR: run on these arrays (one per input name, shaped as the "
                        "input or with a leading axis of samples, int8) instead of the "
                        "compiled-in inputs")
    p.add_argument("--outputs", metavar="OUT.npz",
                   help="with --inputs: write every output here (same shape convention)")
    p.add_argument("--waves", metavar="FILE.fst",
                   help="verilator backend: write a waveform for GTKWave or Surfer")
    board_run_args(p)
    config_arg(p, default=None, default_text="default small16, with --board the board's "
               "core, or for a compiled DIR the config it was compiled for")
    p.set_defaults(handler=run)


def asm(args) -> int:
    from ...asm import assemble_file
    from ...asm.image import pack
    config = load_config(args.config)
    program = assemble_file(args.source, config)
    out = Path(args.output or Path(args.source).with_suffix(".bin"))
    write_file(out, pack(program))
    words = sum(len(q) for q in program.queues.values())
    print(f"{out}: {words} instruction words in {len(program.queues)} queues, "
          f"{sum(len(b.values) for b in program.data)} data words, for {config.name}")
    return 0


def disasm(args) -> int:
    from ...asm.disasm import disassemble
    from ...asm.image import unpack
    config = load_config(args.config)
    text = disassemble(unpack(read_file(args.image), config, source=args.image))
    if args.output:
        write_file(args.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0


def _backend(args) -> str:
    return "board" if args.board else args.backend


def run(args) -> int:
    from ...compiler import is_compiled_dir
    if is_compiled_dir(args.program):
        if args.dump:
            raise UsageError("--dump is for programs; a compiled DIR checks its outputs itself")
        return _run_compiled(args)
    from ...asm.image import load_program
    config = load_config(args.config or default_config(args))
    dumps = [_parse_dump(d, config) for d in args.dump]
    program = load_program(args.program, config)
    result, = run_programs([program], _backend(args), waves=args.waves,
                           board=board_port(args))
    utilization = mxm_utilization(config, result.cycles, issued_macs(program))
    report = {"cycles": result.cycles, "backend": _backend(args), "config": config.name,
              "program": args.program, "mxm_utilization": round(utilization, 4)}
    if getattr(result, "ops", None) is not None:
        report["ops"] = result.ops
    if args.waves:
        report["waves"] = args.waves
    report["dump"] = {spec: result.mem[name][addr:addr + count].tolist()
                      for spec, name, addr, count in dumps}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.program}: {result.cycles} cycles on {config.name} ({_backend(args)}), "
          f"MXM utilisation {utilization:.1%}")
    for _, name, addr, count in dumps:
        for i, word in enumerate(result.mem[name][addr:addr + count]):
            print(f"  {name}[{addr + i}]: " + " ".join(f"{v:4d}" for v in word))
    if args.waves:
        print(f"waveform: {args.waves}")
    return 0


def _run_compiled(args) -> int:
    """A compiled DIR: every run, its cycles against the prediction, outputs against numpy."""
    from ...compiler import load
    compiled = load(args.program, load_config(args.config) if args.config else None)
    if args.inputs:
        return _run_given(args, compiled)
    if args.outputs:
        raise UsageError("--outputs goes with --inputs")
    config = compiled.config
    # the RTL reads back only the outputs: far faster than all of MEM
    results = compiled.execute(lambda programs, reads: run_programs(
        programs, _backend(args), waves=args.waves, reads=reads, board=board_port(args)))
    cycles = sum(r.cycles for r in results)
    exact = compiled.bit_exact([r.mem for r in results])
    utilization = mxm_utilization(config, cycles, compiled.useful_macs)
    report = {"cycles": cycles, "predicted_cycles": compiled.predicted_cycles,
              "bit_exact": exact, "backend": _backend(args), "config": config.name,
              "program": args.program, "runs": len(results),
              "mxm_utilization": round(utilization, 4)}
    if args.json:
        print(json.dumps(report))
    else:
        same = "= predicted" if cycles == compiled.predicted_cycles else (
            f"!= predicted {compiled.predicted_cycles}")
        runs = f" in {len(results)} runs" if len(results) > 1 else ""
        print(f"{args.program}: {cycles} cycles {same} on {config.name} ({_backend(args)})"
              f"{runs}, bit-exact {'yes' if exact else 'NO'}, MXM utilisation {utilization:.1%}")
    return 0 if exact and cycles == compiled.predicted_cycles else 1


def _run_given(args, compiled) -> int:
    """A compiled DIR on the arrays of --inputs: cycles per sample, outputs to --outputs."""
    import numpy as np

    from .given_inputs import model_outputs, read_inputs, reference_outputs
    shapes = {name: tuple(v.shape) for name, v in compiled.inputs.items()}
    samples, batched, given = read_inputs(args.inputs, shapes, compiled.io)
    outs, cycles, exact, checked = [], [], True, 0
    for sample, as_given in zip(samples, given):
        results = compiled.execute(lambda programs, reads: run_programs(
            programs, _backend(args), reads=reads, board=board_port(args)), sample)
        cycles.append(sum(r.cycles for r in results))
        # checked in the model's own types: a float output after the host's dequantisation
        got = model_outputs(compiled.io, compiled.outputs([r.mem for r in results]))
        want = reference_outputs(args.program, compiled, sample, as_given)
        if want is not None:
            checked += 1
            exact &= all(np.array_equal(got.get(n), v) for n, v in want.items())
        outs.append(got)
    if args.outputs:
        np.savez(args.outputs, **{n: np.stack([o[n] for o in outs]) if batched else outs[0][n]
                                  for n in outs[0]})
    same = all(c == compiled.predicted_cycles for c in cycles)
    report = {"samples": len(samples), "cycles": cycles[0] if len(set(cycles)) == 1 else cycles,
              "predicted_cycles": compiled.predicted_cycles, "bit_exact": exact if checked
              else None, "checked": checked, "backend": _backend(args),
              "outputs": args.outputs}
    if args.json:
        print(json.dumps(report))
    else:
        check = (f"bit-exact {'yes' if exact else 'NO'} on {checked}" if checked
                 else "no reference kept in DIR")
        print(f"{args.program}: {len(samples)} sample(s) from {args.inputs}, "
              f"{'every one' if same else 'NOT all'} {compiled.predicted_cycles} cycles "
              f"= predicted ({_backend(args)}), {check}"
              + (f"; outputs -> {args.outputs}" if args.outputs else ""))
    return 0 if same and exact else 1


def _parse_dump(spec: str, config: CoreConfig) -> tuple[str, str, int, int]:
    parts = spec.split(":")
    try:
        name, addr, count = parts[0], int(parts[1], 0), int(parts[2], 0)
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise UsageError(f"--dump {spec!r}: expected SLICE:ADDR:COUNT, e.g. mem0:0:4") from None
    names = [s.name for s in config.mem_slices]
    if name not in names:
        raise UsageError(f"--dump {spec!r}: no MEM slice {name!r} in {config.name} "
                         f"(have {', '.join(names)})")
    if addr < 0 or count < 1 or addr + count > config.mem_depth:
        raise UsageError(f"--dump {spec!r}: words {addr}..{addr + count - 1} are outside "
                         f"0..{config.mem_depth - 1}")
    return spec, name, addr, count
