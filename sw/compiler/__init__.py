"""The compiler: a graph-level model -> a program image whose cycle count it predicts exactly
(docs/compiler.md).

:func:`compile_graph` runs the graph passes, places every tensor in MEM and list-schedules every
slice instruction (:mod:`.lower`, :mod:`.matmul`, :mod:`.vector`, :mod:`.schedule`), then
compresses the queues into microcode (:mod:`.emit`). A product too large for MEM in one run
is split along its output columns into several runs, each a program of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import ConveyorError
from ...hw.machine.config import CoreConfig
from ...hw.machine.program import Program
from ..asm.disasm import disassemble
from ..asm.image import load_program, pack
from ..ir import Module, PassManager, print_module
from ..ir.graph import LinearOp, MatmulOp
from ..ir.reference import evaluate
from ..ir.transforms import Canonicalize, FuseRelu
from . import dialects as d
from .errors import CompileError, TooBig
from .host import apply_host_steps
from .lower import lower_to_tile
from .memory import Allocator, Placed
from .passes import EmitMicrocode, LowerToTile, Schedule, placed_of, program_of
from .segments import RELAY, cut_into_runs

__all__ = ["CompileError", "Compiled", "Run", "compile_graph", "load"]

MANIFEST = "manifest.json"


@dataclass
class Run:
    """One program: its image, predicted cycles, and where its outputs are (name -> placement,
    logical shape, and the columns of the whole output it holds).

    A run of a block of a layer's rows takes ``windows`` (input name -> the rows of the whole
    tensor it is given) and gives ``rows`` (output name -> its first and end row in the whole
    output, and the whole output's shape)."""

    program: Program
    predicted_cycles: int
    useful_macs: int
    outputs: dict[str, tuple[Placed, tuple[int, ...], tuple[int, int]]]
    inputs: dict[str, Placed] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    rows: dict[str, tuple[int, int, tuple[int, ...]]] = field(default_factory=dict)

    def values(self, mem: dict[str, np.ndarray], lanes: int) -> dict[str, np.ndarray]:
        """Each output's value from this run's final MEM."""
        return {name: placed.read(mem, lanes).reshape(shape)
                for name, (placed, shape, _) in self.outputs.items()}

    def with_inputs(self, values: dict[str, np.ndarray]) -> Program:
        """This run's program with other input values (the whole tensors: a run of a block of
        rows takes its window of them) in MEM: how one compiled model serves many
        inferences."""
        alloc = Allocator(self.program.config)
        for name, placed in self.inputs.items():
            value = np.asarray(values[name])
            if name in self.windows:
                value = value[slice(*self.windows[name])]
            alloc.fill(placed, value)
        words = {(b.slice, b.addr) for b in alloc.data}
        kept = [b for b in self.program.data if (b.slice, b.addr) not in words]
        return Program(self.program.config, self.program.queues, kept + alloc.data,
                       self.program.locs)


@dataclass
class Compiled:
    """A compiled model: its runs, inputs, and numpy reference outputs."""

    config: CoreConfig
    spec: str
    runs: list[Run]
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    host: list[dict] = field(default_factory=list)  # host steps after the runs (.host)
    # the model's own input and output types: {"inputs"|"outputs": {name: TensorSpec json}}
    # (an ONNX model's float tensors and their quantisation)
    io: dict = field(default_factory=dict)
    # a model in several runs: the whole model at the graph level (saved as model.graph.mlir,
    # the reference a run on other inputs is checked against)
    graph: str = ""

    @property
    def predicted_cycles(self) -> int:
        return sum(r.predicted_cycles for r in self.runs)

    @property
    def useful_macs(self) -> int:
        return sum(r.useful_macs for r in self.runs)

    @property
    def chained(self) -> bool:
        """Whether a run takes tensors an earlier run computes (the host relays them)."""
        return any(name.startswith(RELAY) for run in self.runs for name in run.inputs)

    def execute(self, run_programs, values: dict[str, np.ndarray] | None = None) -> list:
        """Every run's result, in order, from ``run_programs(programs, reads)`` (which runs a
        list of programs and returns a result with ``cycles`` and ``mem`` for each; ``reads``
        is :meth:`output_words` of those runs), for ``values`` (default: the compiled
        inputs). Independent runs go in one call; in a chained model each run waits for the
        run before it, whose relayed outputs become its inputs."""
        if not self.chained:
            programs = ([r.program for r in self.runs] if values is None
                        else self.programs_for(values))
            return list(run_programs(programs, self.output_words()))
        known = dict(self.inputs if values is None else values)
        words, results = self.output_words(), []
        for k, run in enumerate(self.runs):
            result = run_programs([run.with_inputs(known)], [words[k]])[0]
            results.append(result)
            for name, value in run.values(result.mem, self.config.lanes).items():
                if name.startswith(RELAY):
                    known[name] = _into(known.get(name), value, run.rows.get(name))
        return results

    def outputs(self, mems: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Output name -> value, from the final MEM of every run (relayed tensors left out)."""
        parts: dict[str, list] = {}
        whole: dict[str, np.ndarray] = {}
        for run, mem in zip(self.runs, mems):
            for name, value in run.values(mem, self.config.lanes).items():
                if name.startswith(RELAY):
                    continue
                if name in run.rows:
                    whole[name] = _into(whole.get(name), value, run.rows[name])
                else:
                    parts.setdefault(name, []).append((run.outputs[name][2], value))
        whole.update((name, np.concatenate([v for _, v in sorted(p, key=lambda c: c[0])],
                                           axis=-1)) for name, p in parts.items())
        return apply_host_steps(self.host, whole)

    def output_words(self) -> list[dict[str, list[tuple[int, int]]]]:
        """Per run, the MEM words that hold its outputs, ``{slice: [(first, count), ...]}``:
        all a simulator needs to read back."""
        out = []
        for run in self.runs:
            words: dict[str, list[tuple[int, int]]] = {}
            for placed, _, _ in run.outputs.values():
                for _, block in placed.blocks():
                    for tile in block.tiles:
                        for s, base in tile:
                            words.setdefault(s, []).append((base, block.rows))
            out.append(words)
        return out

    def programs_for(self, values: dict[str, np.ndarray]) -> list[Program]:
        """Every run's program for other input values (not for a chained model, whose later
        runs' inputs come from the runs before: :meth:`execute`)."""
        assert not self.chained, "a chained model's runs are programs only one by one"
        return [run.with_inputs(values) for run in self.runs]

    def bit_exact(self, mems: list[dict[str, np.ndarray]]) -> bool:
        got = self.outputs(mems)
        return all(np.array_equal(got.get(name), value) for name, value in self.expected.items())

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        runs = []
        for k, run in enumerate(self.runs):
            stem = "program" if len(self.runs) == 1 else f"program{k}"
            (out / f"{stem}.bin").write_bytes(pack(run.program))
            (out / f"{stem}.s").write_text(disassemble(run.program))
            for level, text in run.levels.items():
                (out / f"{stem}.{level}.mlir").write_text(text)
            runs.append({"image": f"{stem}.bin", "predicted_cycles": run.predicted_cycles,
                         "useful_macs": run.useful_macs,
                         "inputs": {n: p.to_json() for n, p in run.inputs.items()},
                         "windows": {n: list(w) for n, w in run.windows.items()},
                         "rows": {n: [a, b, list(shape)] for n, (a, b, shape)
                                  in run.rows.items()},
                         "outputs": {n: {"placed": p.to_json(), "shape": list(s),
                                         "columns": list(c)}
                                     for n, (p, s, c) in run.outputs.items()}})
        if self.graph and len(self.runs) > 1:
            (out / "model.graph.mlir").write_text(self.graph)
        np.savez(out / "inputs.npz", **self.inputs)
        np.savez(out / "expected.npz", **self.expected)
        manifest = {"spec": self.spec, "config": self.config.to_dict(),
                    "predicted_cycles": self.predicted_cycles,
                    "useful_macs": self.useful_macs, "runs": runs,
                    "inputs": {n: list(v.shape) for n, v in self.inputs.items()},
                    "outputs": {n: list(v.shape) for n, v in self.expected.items()},
                    "host": self.host, "io": self.io}
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
        return out


def _into(whole: np.ndarray | None, part: np.ndarray, rows) -> np.ndarray:
    """``part`` put in its rows of the whole output (``rows``: first, end, whole shape), or
    ``part`` itself when it is all of it."""
    if rows is None:
        return part
    first, end, shape = rows
    if whole is None:
        whole = np.zeros(shape, part.dtype)
    whole[first:end] = part
    return whole


def is_compiled_dir(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load(directory: str | Path, config: CoreConfig | None = None) -> Compiled:
    """A compiled directory back, its images checked against ``config`` (default: the config
    it was compiled for)."""
    d = Path(directory)
    try:
        manifest = json.loads((d / MANIFEST).read_text())
        cfg_data = manifest["config"]
        built_for = CoreConfig.from_dict(cfg_data, source=str(d / MANIFEST))
        config = config or built_for
        runs = []
        for r in manifest["runs"]:
            program = load_program(str(d / r["image"]), config)
            outputs = {n: (Placed.from_json(o["placed"]), tuple(o["shape"]),
                           tuple(o["columns"])) for n, o in r["outputs"].items()}
            inputs_at = {n: Placed.from_json(p) for n, p in r.get("inputs", {}).items()}
            windows = {n: tuple(w) for n, w in r.get("windows", {}).items()}
            rows = {n: (a, b, tuple(shape)) for n, (a, b, shape) in r.get("rows", {}).items()}
            runs.append(Run(program, r["predicted_cycles"], r["useful_macs"], outputs,
                            inputs_at, windows=windows, rows=rows))
        with np.load(d / "inputs.npz") as f:
            inputs = {k: f[k] for k in f.files}
        with np.load(d / "expected.npz") as f:
            expected = {k: f[k] for k in f.files}
    except ConveyorError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ConveyorError(f"{d}: not a complete compiled directory ({e})") from None
    return Compiled(config, manifest["spec"], runs, inputs, expected, manifest.get("host", []),
                    manifest.get("io", {}))


# --- compiling ----------------------------------------------------------------------------------

#: The levels a run's text is saved at (the schedule level only for small programs).
_SAVED = ("graph", "tile", "schedule", "microcode")
_BIG = 200000


def _one_run(module: Module, inputs: dict, config: CoreConfig,
             columns: tuple[int, int] | None = None, print_ir=None) -> Run:
    """graph -> tile -> schedule -> microcode through the pass manager (every level verified),
    keeping each level's text."""
    module = module.clone()
    module.target = config  # every pass reads its core from the module
    levels = {}
    passes = [FuseRelu(), Canonicalize(), LowerToTile(inputs), Schedule(), EmitMicrocode()]
    for p in passes:
        PassManager([p], print_ir_after_all=print_ir).run(module)
        if module.level in _SAVED and (module.level != "schedule" or len(module.ops) < _BIG):
            levels[module.level] = print_module(module)
    program = program_of(module)
    summary = next(o for o in module.ops if isinstance(o, d.MicroSummaryOp)).attrs
    outputs, inputs_at = {}, {}
    for op in module.ops:
        if isinstance(op, d.MicroOutputOp):
            a = op.attrs
            cols = columns or tuple(a["columns"])
            outputs[a["name"]] = (placed_of(op), tuple(a["view"]), cols)
        elif isinstance(op, d.MicroInputOp):
            inputs_at[op.attrs["name"]] = placed_of(op)
    return Run(program, summary["cycles"], summary["macs"], outputs, inputs_at, levels)


def _split_product(module: Module, inputs: dict, config: CoreConfig) -> list[Run]:
    """A single matmul/linear too big for MEM: one run per group of output columns."""
    ops = [op for op in module.ops if isinstance(op, (MatmulOp, LinearOp))]
    others = [o for o in module.ops if o.NAME not in ("graph.input", "graph.const",
                                                       "graph.output")]
    if len(ops) != 1 or others != ops or op_count(module, "graph.output") != 1:
        raise CompileError("only a single matmul or linear splits into runs")
    from ..ir.builder import Graph
    op = ops[0]
    w = np.asarray(op.w.owner.attrs["value"])
    n, L = w.shape[1], config.lanes
    x_name = op.x.owner.attrs["name"]
    x = inputs[x_name]
    out_name = next(o.attrs["name"] for o in module.ops if o.NAME == "graph.output")
    tiles = -(-n // L)
    for parts in range(_first_split(config, x.shape[0], w.shape[0], tiles, op), tiles + 1):
        per = -(-tiles // parts) * L
        try:
            runs = []
            for c0 in range(0, n, per):
                c1 = min(n, c0 + per)
                g = Graph(f"{module.name}_cols{c0}")
                xi = g.input(x_name, x.shape)
                if isinstance(op, MatmulOp):
                    y = g.matmul(xi, w[:, c0:c1])
                else:
                    a = op.attrs
                    b = np.asarray(op.b.owner.attrs["value"])[c0:c1]
                    mul = a["mul"][c0:c1] if isinstance(a["mul"], list) else a["mul"]
                    y = g.linear(xi, w[:, c0:c1], b, mul=mul, shift=a["shift"], zp=a["zp"],
                                 relu=a["relu"], rounding=a["rounding"])
                g.output(out_name, y)
                runs.append(_one_run(g, {x_name: x}, config, (c0, c1)))
            return runs
        except CompileError:
            continue
    raise CompileError(f"{module.name}: does not fit in MEM even split into {tiles} runs")


def op_count(module: Module, name: str) -> int:
    return sum(1 for o in module.ops if o.NAME == name)


def _first_split(config: CoreConfig, m: int, k: int, ntiles: int, op) -> int:
    """The fewest runs whose words (input, weights, output) could fit MEM, so that the search
    does not schedule splits that cannot fit."""
    L = config.lanes
    ktiles = -(-k // L)
    total = config.mem_depth * len(config.mem_slices)
    out_words = 4 if isinstance(op, MatmulOp) else 1
    for parts in range(2, ntiles + 1):
        per = -(-ntiles // parts)
        need = m * ktiles + per * ktiles * L + m * per * out_words + 8 * per + 1
        if need <= total:
            return parts
    return ntiles


def compile_graph(module: Module, inputs: dict[str, np.ndarray], config: CoreConfig, *,
                  spec: str = "", print_ir=None) -> Compiled:
    """Compile a graph-level module with its input values for ``config``."""
    expected = evaluate(module, inputs)
    try:
        runs = [_one_run(module, inputs, config, print_ir=print_ir)]
    except TooBig:
        runs = _several_runs(module, inputs, config)
    whole = print_module(module) if len(runs) > 1 and module.level == "graph" else ""
    return Compiled(config, spec or module.name, runs, dict(inputs), expected, graph=whole)


def _several_runs(module: Module, inputs: dict, config: CoreConfig) -> list[Run]:
    """Runs of a model too big for one program: a lone product split over its output
    columns, any other model cut between layers (:mod:`.segments`)."""
    try:
        return _split_product(module, inputs, config)
    except CompileError:
        pass
    module = module.clone()
    module.target = config
    PassManager([FuseRelu(), Canonicalize()]).run(module)
    return cut_into_runs(module, inputs, config, lambda seg, values: _one_run(seg, values, config),
                         _fits_memory)


def _fits_memory(seg: Module, values: dict, raise_error: bool = False) -> bool:
    """Whether a graph-level segment's tensors fit MEM (its placement alone, not scheduled)."""
    seg = seg.clone()
    PassManager([FuseRelu(), Canonicalize()]).run(seg)
    try:
        lower_to_tile(seg, values, seg.target)
    except TooBig:
        if raise_error:
            raise
        return False
    return True
