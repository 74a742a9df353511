"""``conveyor compile`` (a layer spec or an ONNX model to a program directory) and ``conveyor
opt`` (compiler passes on IR text)."""

from __future__ import annotations

import re
import sys

from ....hw.machine.config import CoreConfig, load_config
from .common import UsageError, config_arg, read_file, write_file

__all__ = ["add"]


def add(sub) -> None:
    p = sub.add_parser("compile",
                       help="compile a layer spec, an ONNX or a TFLite model to a program",
                       description="Compile SPEC (matmul:M=..,K=..,N=.. | linear:M=..,K=..,N=..[,"
                       "relu=1] | conv2d:H=..,W=..,C=..,K=..,R=..,S=..,stride=..,pad=..; random "
                       "int8 data from --seed), MODEL.onnx (a float model quantised with "
                       "--calibration, or one quantised by onnxruntime: QDQ or QOperator) or "
                       "MODEL.tflite (int8 inside, float32 I/O through QUANTIZE and DEQUANTIZE at "
                       "its edges; random int8 inputs from --seed, expected bytes from "
                       "LiteRT's reference kernels) into "
                       "DIR: program image(s), assembly, every IR level (.mlir, each with its "
                       "target core), inputs, numpy expected outputs and a manifest with the "
                       "predicted cycle count. `conveyor run DIR` checks both.",
                       epilog="example: conveyor compile matmul:M=64,K=64,N=64 -o mm64 && "
                       "conveyor run mm64 --backend verilator --json")
    p.add_argument("model", metavar="SPEC|MODEL.onnx|MODEL.tflite",
                   help="a built-in layer spec, an ONNX file or a TFLite (int8) file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of a spec's random data or a quantised model's inputs (0)")
    p.add_argument("--calibration", metavar="CALIB.npy|.npz",
                   help="ONNX: calibration inputs in the model's input layout; the first "
                        "samples (as many as the model's batch) also become the compiled "
                        "inputs (a model quantised by onnxruntime needs none: its inputs are "
                        "then random, from --seed)")
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the IR after every pass and lowering, on stderr")
    config_arg(p)
    p.set_defaults(handler=compile_model)

    p = sub.add_parser("opt", help="run compiler passes on an IR text module",
                       description="Parse an IR module (MLIR-like text, docs/compiler.md), "
                       "verify it, run the passes in order (verifying after each) and print "
                       "the result. A module below the graph level carries its target core, "
                       "so the passes need no config.",
                       epilog="example: conveyor opt mm64/program.tile.mlir --passes "
                       "schedule,emit-microcode")
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
    p.set_defaults(handler=opt)


def compile_model(args) -> int:
    from ...frontends.specs import compile_spec
    config = load_config(args.config)
    print_ir = sys.stderr if args.print_ir_after_all else None
    if args.model.endswith(".onnx"):
        compiled = _compile_onnx(args, config, print_ir)
    elif args.model.endswith(".tflite"):
        compiled = _compile_tflite(args, config, print_ir)
    else:
        from ....progress import status
        with status(f"compiling {args.model} for {config.name}"):
            compiled = compile_spec(args.model, config, args.seed, print_ir=print_ir)
    out = compiled.save(args.output)
    runs = f" in {len(compiled.runs)} runs" if len(compiled.runs) > 1 else ""
    print(f"{args.model} -> {out}/: {compiled.predicted_cycles} cycles predicted on "
          f"{config.name}{runs}, {compiled.useful_macs} MACs")
    return 0


def _first_samples(path: str, specs, calib: dict) -> dict:
    """The compiled inputs: each input's first samples from the calibration data, as many as
    the model's batch (the N rows or N images of a fixed batch; one if it is symbolic)."""
    feeds = {}
    for spec in specs:
        n = spec.onnx_shape[0]
        values = calib[spec.name]
        if len(values) < n:
            raise UsageError(f"{path}: input {spec.name!r} has a batch of {n} and the "
                             f"calibration data only {len(values)} sample(s); give at least {n}")
        feeds[spec.name] = values[:n]
    return feeds


def _compile_onnx(args, config: CoreConfig, print_ir):
    """An ONNX model: a float one quantised with --calibration, whose first samples are
    compiled in; one the model quantised itself (QDQ, QOperator) needs none, and takes random int8
    inputs from --seed without it."""
    import numpy as np

    from ...compiler import compile_graph
    from ...frontends.calibration import load_calibration
    from ...frontends.onnx import check_model, import_onnx
    check_model(args.model)  # an unsupported op is the first thing to know
    model = import_onnx(args.model, args.calibration)
    if args.calibration:
        calib = load_calibration(args.calibration, [s.name for s in model.inputs])
        inputs = model.quantize_inputs(_first_samples(args.calibration, model.inputs, calib))
    else:
        rng = np.random.default_rng(args.seed)
        inputs = {s.name: rng.integers(-128, 128, size=s.graph_shape, dtype=np.int8)
                  for s in model.inputs}
    compiled = compile_graph(model.graph, inputs, config, spec=args.model, print_ir=print_ir)
    compiled.host = model.host
    compiled.expected = model.evaluate(inputs)
    compiled.io = {"inputs": {s.name: s.to_json() for s in model.inputs},
                   "outputs": {s.name: s.to_json() for s in model.outputs}}
    return compiled


def _compile_tflite(args, config: CoreConfig, print_ir):
    """A TFLite int8 model: random int8 inputs from --seed compiled in, the expected bytes from
    LiteRT's reference kernels (not from Conveyor's own reference). A float input is random int8
    too, given to LiteRT dequantised (its QUANTIZE gives the same int8 back); ``io`` records the
    float edges."""
    import numpy as np

    from ....progress import status
    from ...compiler import compile_graph
    from ...frontends.tflite import import_tflite
    model = import_tflite(args.model)
    rng = np.random.default_rng(args.seed)
    values = {n: rng.integers(-128, 128, size=s, dtype=np.int8)
              for n, s in model.inputs.items()}
    with status(f"compiling {args.model} for {config.name}"):
        compiled = compile_graph(model.graph, model.graph_inputs(values), config,
                                 spec=args.model, print_ir=print_ir)
    compiled.host = model.host
    compiled.expected = model.graph_oracle(values)
    compiled.io = model.io
    return compiled


def opt(args) -> int:
    from ...ir import IRError, PassManager, parse_module, parse_pipeline, print_module
    passes = parse_pipeline(args.passes)
    if args.input == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        text, name = read_file(args.input).decode("utf-8", errors="replace"), args.input
    dump = sys.stderr if args.print_ir_after_all else None
    target = load_config(args.config) if args.config else None
    if not args.split_input_file:
        module = _targeted(parse_module(text, name), target)
        out = print_module(PassManager(passes, print_ir_after_all=dump).run(module))
    else:
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
        write_file(args.output, out.encode())
    else:
        sys.stdout.write(out)
    return 1 if args.split_input_file and failed else 0


def _targeted(module, target: CoreConfig | None):
    """``module`` with the target ``-c`` names: a graph-level module takes it (its ops do not
    depend on the core); a lower one keeps its own and refuses another."""
    if target is None or target == module.target:
        return module
    if module.level != "graph" and module.target is not None:
        raise UsageError(f"module @{module.name} is a {module.level}-level module for "
                         f"{module.target.name!r}; it cannot be retargeted to "
                         f"{target.name!r} (drop -c)")
    module.target = target
    return module
