"""A model too big for one program, cut at layer boundaries into runs that each fit.

A run is a whole program: its weights and instructions are loaded by the host, it runs to
``halt``, and the host reads back the activations the next runs need and writes them in as
those runs' inputs (*relayed* tensors, named :data:`RELAY` + the value's name). This is how
the host streams a model's weights through a core whose MEM or instruction queues cannot
hold them all at once: the core's cycles stay exact per run, and the host's transfers
between runs are not core cycles.

The cut is greedy: each layer is compiled alone, then each run takes the longest prefix of
the remaining layers whose instruction words (the sum of theirs alone) fit the queues and
whose tensors fit MEM, and shrinks while its program does not fit after all. Only int8
tensors cross a cut (inputs are int8). A convolution, a pool or an element-wise layer too big
for a program on its own is split over blocks of its output rows (a batch of images, image by
image), each run reading the window of input rows it needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ...hw.machine.config import CoreConfig
from ..ir import Module, Op, TensorType, Value
from ..ir.graph import (
    AddOp,
    AvgPoolOp,
    ConstOp,
    Conv2dOp,
    DepthwiseConv2dOp,
    InputOp,
    LeakyReluOp,
    MaxPool2x2Op,
    MaxPoolOp,
    OutputOp,
    QAddOp,
    ReluOp,
    TableOp,
    pads,
)
from ..ir.reference import evaluate
from .errors import CompileError, TooBig

__all__ = ["RELAY", "cut_into_runs", "segment"]

#: The name prefix of a tensor the host carries from one run to the next.
RELAY = "relay."

_EDGE = (InputOp.NAME, ConstOp.NAME, OutputOp.NAME)


def _layers(module: Module) -> list[Op]:
    return [op for op in module.ops if op.NAME not in _EDGE]


def segment(module: Module, lo: int, hi: int) -> Module:
    """Layers ``lo .. hi - 1`` as a module of their own: what they read from outside is an
    input (a model input under its name, an earlier layer's result as a relay, a constant
    copied), what later layers or the model's outputs read is an output."""
    layers = _layers(module)
    inside = layers[lo:hi]
    later = {id(op) for op in layers[hi:]}
    out = Module(f"{module.name}_layers{lo}_{hi}", "graph", target=module.target)
    values: dict[int, Value] = {}

    def bring(v: Value) -> Value:
        if id(v) in values:
            return values[id(v)]
        src = v.owner
        if isinstance(src, ConstOp):
            op = ConstOp([], [Value(v.name, v.type)], dict(src.attrs), src.loc)
        else:
            if v.type.dtype != "i8":
                raise CompileError(f"%{v.name} ({v.type}) would cross between runs: only int8 "
                                   "tensors do")
            name = src.attrs["name"] if isinstance(src, InputOp) else RELAY + v.name
            op = InputOp([], [Value(v.name, v.type)], {"name": name}, src.loc)
        out.append(op)
        values[id(v)] = op.results[0]
        return op.results[0]

    for op in inside:
        operands = [bring(v) for v in op.operands]
        copy = type(op)(operands, [Value(r.name, r.type) for r in op.results],
                        dict(op.attrs), op.loc)
        out.append(copy)
        values.update((id(r), c) for r, c in zip(op.results, copy.results))
    for op in inside:
        for r in op.results:
            users = r.uses
            for user in users:
                if isinstance(user, OutputOp):
                    out.append(OutputOp([values[id(r)]], [], dict(user.attrs), user.loc))
            if any(id(u) in later for u in users):
                out.append(OutputOp([values[id(r)]], [], {"name": RELAY + r.name}))
    out.verify()
    return out


def cut_into_runs(module: Module, inputs: dict[str, np.ndarray], config: CoreConfig,
                  one_run: Callable, fits_memory: Callable) -> list:
    """Runs that together compute ``module``, each from :func:`segment` (or a block of one
    layer's rows): ``fits_memory(seg, inputs)`` says whether a segment's tensors fit MEM;
    ``one_run(seg, inputs)`` compiles one (raising :class:`TooBig` when its program does not
    fit).

    Every layer is compiled alone first (about one schedule of the whole model), which gives
    each layer's instruction words per queue; a run then takes the next layers while the
    sums of their words fit the queues and their tensors fit MEM, and gives back its last
    layer while its program does not fit after all."""
    n = len(_layers(module))
    values = dict(inputs)
    alone = []  # per layer: its own run, or the TooBig it raised
    for i in range(n):
        seg = segment(module, i, i + 1)
        mine = _inputs_of(seg, values)
        try:
            alone.append(one_run(seg, mine))
        except TooBig as e:
            alone.append(e)
        values.update(evaluate(seg, mine))
    runs, lo = [], 0
    while lo < n:
        if isinstance(alone[lo], TooBig):
            runs.extend(_by_rows(module, lo, values, one_run, alone[lo], config))
            lo += 1
            continue
        hi, words = lo + 1, _words(alone[lo])
        while hi < n and not isinstance(alone[hi], TooBig):
            more = {q: w + _words(alone[hi]).get(q, 0) for q, w in words.items()}
            try:
                seg = segment(module, lo, hi + 1)
            except CompileError:  # an int32 tensor would cross after hi: not a cut
                break
            if max(more.values()) > config.queue_depth or not fits_memory(
                    seg, _inputs_of(seg, values)):
                break
            hi, words = hi + 1, more
        run, lo = _longest_run(module, lo, hi, values, one_run, alone[lo])
        runs.append(run)
    return runs


def _words(run) -> dict[str, int]:
    return {q: len(w) for q, w in run.program.queues.items()}


def _longest_run(module: Module, lo: int, hi: int, values: dict, one_run: Callable, first):
    """The run of layers lo .. hi - 1, or of fewer while it does not fit (``first``: layer
    lo's own run), and the layer after its last."""
    while hi > lo + 1:
        seg = segment(module, lo, hi)
        try:
            return one_run(seg, _inputs_of(seg, values)), hi
        except TooBig:
            hi -= 1
    return first, lo + 1


def _by_rows(module: Module, lo: int, values: dict, one_run: Callable, why: TooBig,
             config: CoreConfig) -> list:
    """One layer too big for a program, as runs over blocks of its output rows (the first
    axis; a batch of maps, image by image): each reads the input rows its block needs (the
    host hands it that window), a convolution or pool with the padding its block's edges
    need, and its output rows go into the whole result on the host."""
    op = _layers(module)[lo]
    n = len(_layers(module))
    where = f"layer {lo + 1} of {n} ({op.NAME} %{op.results[0].name})"
    rank = op.results[0].type.rank
    maps = isinstance(op, _WINDOWED)
    if not isinstance(op, _BY_ROWS) or (rank not in (3, 4) if maps else rank < 2):
        raise CompileError(f"{where} alone does not fit one program on config {config.name!r} "
                           f"(only convolutions, pools and element-wise layers split into runs "
                           f"by rows): {why}")
    oh = op.results[0].type.shape[0]
    parts = min(oh, max(2, math.ceil(why.over * 1.25)))
    while True:
        per = -(-oh // parts)
        try:
            return [_row_run(module, lo, a, min(oh, a + per), values, one_run)
                    for a in range(0, oh, per)]
        except TooBig as e:
            if per == 1:
                raise CompileError(f"{where} does not fit one program on config "
                                   f"{config.name!r} even one output row at a time: {e}"
                                   ) from None
            parts = min(oh, max(parts + 1, math.ceil(parts * max(e.over, 1.0) * 1.25)))


#: Layers whose output rows read windows of input rows; the others are element-wise.
_WINDOWED = (Conv2dOp, DepthwiseConv2dOp, AvgPoolOp, MaxPoolOp, MaxPool2x2Op)
_BY_ROWS = (*_WINDOWED, AddOp, QAddOp, ReluOp, LeakyReluOp, TableOp)


def _row_run(module: Module, lo: int, a: int, b: int, values: dict, one_run: Callable):
    """The run of output rows a .. b - 1 of layer ``lo``."""
    seg = segment(module, lo, lo + 1)
    layer = _layers(seg)[0]
    windows = {}
    for v in layer.operands:
        if isinstance(v.owner, InputOp):
            i0, i1 = _input_rows(layer, a, b)
            windows[v.owner.attrs["name"]] = (i0, i1)
            v.type = TensorType((i1 - i0, *v.type.shape[1:]), "i8")
    full = layer.results[0].type
    layer.results[0].type = TensorType((b - a, *full.shape[1:]), full.dtype)
    seg.name += f"_rows{a}_{b}"
    seg.verify()
    mine = _inputs_of(seg, {**values, **{n: values[n][i0:i1] for n, (i0, i1)
                                         in windows.items()}})
    run = one_run(seg, mine)
    run.windows = windows
    run.rows = {o: (a, b, tuple(full.shape)) for o in run.outputs}
    return run


def _input_rows(layer: Op, a: int, b: int) -> tuple[int, int]:
    """The input rows that output rows a .. b - 1 read (of a map's rows; a batch's images are
    independent), the layer's padding set to what that window needs."""
    if not isinstance(layer, _WINDOWED) or layer.x.type.rank == 4:  # element-wise, or images
        return a, b
    h = layer.x.type.shape[0]
    if isinstance(layer, MaxPool2x2Op):
        return 2 * a, 2 * b
    if isinstance(layer, AvgPoolOp):  # no padding
        (r, _), (sy, _) = layer.attrs["window"], layer.attrs["stride"]
        return a * sy, (b - 1) * sy + r
    if isinstance(layer, MaxPoolOp):
        r, sy, pad = layer.attrs["window"][0], layer.attrs["stride"][0], layer.attrs["pad"]
    else:
        r, sy, pad = layer.w.type.shape[0], layer.attrs["stride"], layer.attrs["pad"]
    top, left, _, right = pads(pad)
    layer.attrs["pad"] = [max(0, top - a * sy), left, max(0, (b - 1) * sy - top + r - h),
                          right]
    return max(0, a * sy - top), min(h, (b - 1) * sy - top + r)


def _inputs_of(seg: Module, values: dict) -> dict:
    return {op.attrs["name"]: values[op.attrs["name"]] for op in seg.ops
            if isinstance(op, InputOp)}
