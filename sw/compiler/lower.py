"""graph -> tile (placement) -> schedule: the compiler's two lowering steps.

:func:`lower_to_tile` places every tensor in the shared layout of :mod:`.memory` (rows of
vectors, channel tiles; a reshape is a *view* of its producer's words) and turns each op into a
tile op. A matmul-like op (``matmul``, ``linear``, ``conv2d``) becomes ``tile.matmul`` with an
activation table that names, for every output row and K tile, the word that holds its
activation vector, and the weight rows that vector multiplies: the input's channel tiles for
``linear``, one tap of the kernel for ``conv2d`` (padding reads a word of zeros, so the
convolution runs on chip with no im2col copy), one (pixel, channel tile) word for a ``linear``
after a ``flatten``. :func:`schedule_tile` list-schedules the tile ops in order
(:mod:`.matmul`, :mod:`.vector`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...hw.machine.config import GROUP, CoreConfig
from ...hw.machine.isa import MAX_WINDOW
from ...hw.machine.program import DataBlock
from ...hw.machine.semantics import requantize
from ..ir import Module, Value
from ..ir import graph as g
from ..ir.graph import MUL_MAX, SHIFT_MAX
from . import dialects as tile
from .errors import CompileError
from .matmul import Epilogue, MatmulJob, schedule_matmul
from .memory import Allocator, OutOfMemory, Placed
from .schedule import Scheduler
from .table import schedule_table, table_words
from .vector import (
    schedule_add,
    schedule_leaky_relu,
    schedule_maxpool,
    schedule_qadd,
    schedule_qmul,
    schedule_relu,
)

__all__ = ["View", "lower_to_tile", "schedule_tile"]


@dataclass(frozen=True)
class View:
    """A tensor as a consumer sees it: placed words and the logical shape (a reshape of the
    placed tensor's shape, same elements in the same row-major order)."""

    placed: Placed
    shape: tuple[int, ...]
    value: Value  # the tile.tensor value


def _vxm_side(config: CoreConfig, vxm: str) -> tuple[str, ...]:
    """Four MEM slices on one side of the VXM, nearest first: where per-channel constants (bias,
    multipliers) live, so that a group of them reaches the VXM in one cycle."""
    p = config.slice_named(vxm).position
    west = [s.name for s in config.mem_slices if s.position < p]
    east = [s.name for s in config.mem_slices if s.position > p]
    side = west if len(west) >= GROUP else east
    if len(side) < GROUP:
        raise CompileError(f"config {config.name!r} needs {GROUP} MEM slices on one side of "
                           f"{vxm} for a layer's bias and multipliers")
    return tuple(sorted(side, key=lambda n: abs(config.slice_named(n).position - p))[:GROUP])


class _ToTile:
    """Graph ops -> tile ops, placing tensors as it goes."""

    def __init__(self, config: CoreConfig, inputs: dict[str, np.ndarray] | None,
                 pack: tuple[str, ...] = ()):
        self.config, self.L = config, config.lanes
        self.inputs = inputs or {}
        self.alloc = Allocator(config, pack)
        self.env: dict[Value, object] = {}  # graph Value -> View or np.ndarray (constants)
        self.ops: list = []
        self.slices = [s.name for s in config.mem_slices]
        self.mxm = config.slices_of("mxm")[0].name if config.slices_of("mxm") else None
        self.vxm = config.slices_of("vxm")[0].name if config.slices_of("vxm") else None

    def run(self, module: Module) -> list:
        self.reserve_constants(module)
        for op in module.ops:
            handler = {g.InputOp: self.input, g.ConstOp: self.const, g.MatmulOp: self.matmul,
                       g.LinearOp: self.linear, g.Conv2dOp: self.conv2d,
                       g.ReshapeOp: self.reshape, g.ReluOp: self.relu, g.AddOp: self.add,
                       g.MaxPool2x2Op: self.maxpool, g.MaxPoolOp: self.maxpool,
                       g.OutputOp: self.output,
                       g.QAddOp: self.qadd, g.AvgPoolOp: self.avgpool,
                       g.DepthwiseConv2dOp: self.depthwise_conv2d,
                       g.LeakyReluOp: self.leaky_relu, g.TableOp: self.table,
                       g.QMulOp: self.qmul}.get(type(op))
            if handler is None:
                raise CompileError(f"{op.NAME} is not supported by the compiler")
            handler(op)
        data = [tile.DataOp([], [], {"slice": b.slice, "addr": b.addr,
                                     "value": np.asarray(b.values, np.int8)})
                for b in self.alloc.data]
        return data + self.ops

    def reserve_constants(self, module: Module) -> None:
        """Set aside next to the VXM the words of every layer's per-channel constants (they
        can go nowhere else) before any tensor takes them."""
        words = 0
        for op in module.ops:
            if isinstance(op, (g.LinearOp, g.Conv2dOp, g.DepthwiseConv2dOp)) \
                    and isinstance(op.b.owner, g.ConstOp):
                ntiles = -(-op.result.type.shape[-1] // self.L)
                words += ntiles * len(_per_channel(op.attrs, op.b.owner.attrs["value"]))
        if words and self.vxm is not None:
            self.alloc.reserve(_vxm_side(self.config, self.vxm), words)

    # --- tensors ----------------------------------------------------------------------------

    def tensor(self, placed: Placed, shape) -> View:
        op = tile.TensorOp.build([], {"name": placed.name, "dtype": placed.dtype,
                                      "shape": list(placed.shape), "rows": placed.rows,
                                      "at": tile.placed_attr(placed)},
                                 [placed.name.replace(" ", "_")], [_type(placed)])
        self.ops.append(op)
        return View(placed, tuple(shape), op.result)

    def place(self, name: str, shape, dtype: str, avoid=(), values=None) -> View:
        return self.tensor(self.alloc.place(name, tuple(shape), dtype, avoid=avoid,
                                            values=values), shape)

    def view(self, v: Value) -> View:
        found = self.env[v]
        if isinstance(found, np.ndarray):  # a constant used as an activation: preload it
            if found.dtype != np.int8:
                raise CompileError(f"%{v.name}: an int32 constant cannot be an activation")
            found = self.env[v] = self.place(v.name, found.shape, "i8", values=found)
        return found

    def need(self, what: str, kind: str) -> str:
        name = self.mxm if kind == "mxm" else self.vxm
        if name is None:
            raise CompileError(f"{what} needs an {kind.upper()} slice, and config "
                               f"{self.config.name!r} has none")
        return name

    # --- simple ops ---------------------------------------------------------------------------

    def input(self, op) -> None:
        name, shape = op.attrs["name"], op.result.type.shape
        values = self.inputs.get(name)
        values = np.zeros(shape, np.int8) if values is None else np.asarray(values)
        view = self.env[op.result] = self.place(name, shape, "i8", values=values)
        self.ops.append(tile.InputOp([view.value], [], {"name": name}))

    def const(self, op) -> None:
        self.env[op.result] = np.asarray(op.attrs["value"])

    def output(self, op) -> None:
        v = self.view(op.value)
        self.ops.append(tile.OutputOp([v.value], [], {"name": op.attrs["name"],
                                                      "shape": list(v.shape),
                                                      "columns": [0, v.shape[-1]]}))

    def reshape(self, op) -> None:
        x = self.view(op.x)
        self.env[op.result] = View(x.placed, tuple(op.result.type.shape), x.value)

    # --- matrix products ------------------------------------------------------------------------

    def matmul(self, op) -> None:
        self.product(op, op.x, self.env[op.w], None, "i32")

    def linear(self, op) -> None:
        self.product(op, op.x, self.env[op.w], self.env[op.b], "i8")

    def product(self, op, x_value: Value, w: np.ndarray, bias, dtype: str) -> None:
        """x (M, K) @ w (K, N) with x a view of placed words."""
        x = self.view(x_value)
        m_rows, k = x.shape
        p = x.placed
        p_rows, p_cols = p.rows, p.shape[-1]
        nt = len(p.tiles)
        per = p_rows // m_rows  # placed rows per row of x: 1, or a flattened map's pixels
        if p_rows == m_rows * per and k == per * p_cols:  # one K tile per (pixel, tile)
            act = [[(t, m * per + r) for r in range(per) for t in range(nt)]
                   for m in range(m_rows)]
            rows = [self.rows(r * p_cols + t * self.L, r * p_cols + p_cols)
                    for r in range(per) for t in range(nt)]
        else:
            raise CompileError(f"{op.NAME} %{op.results[0].name}: x %{x_value.name} is "
                               f"{x.shape}, a view of a {p.shape} tensor the compiler cannot "
                               f"read as rows")
        if isinstance(w, View):
            self.check_weights_view(op, w, k)
        table = [[None if t is None else p.at(r, t) for t, r in row] for row in act]
        self.job(op, x, table, rows, w, bias, dtype, m_rows * k * w.shape[1], (m_rows,
                                                                              w.shape[1]))

    def check_weights_view(self, op, w: View, k: int) -> None:
        """An activation as a product's weights (Q Kᵀ, P V): its words are the weight tiles'
        rows as they lie (tile nt's rows kt L .. in the slice of its tile nt), so it must be
        laid out as (K, N) rows, in one block, K a multiple of the lanes (no padding rows)."""
        pw = w.placed
        if pw.dtype != "i8" or tuple(w.shape) != tuple(pw.shape) or pw.more or k % self.L:
            raise CompileError(f"{op.NAME} %{op.results[0].name}: w %{op.w.name} is an "
                               f"activation: it must be an int8 (K, N) tensor in one block "
                               f"with K a multiple of {self.L} lanes, not {pw.dtype} "
                               f"{tuple(w.shape)} of a {pw.shape} tensor")

    def conv2d(self, op) -> None:
        a = op.attrs
        self.convolve(op, self.env[op.w], self.env[op.b], (a["stride"],) * 2, a["pad"],
                      a["pad_value"])

    def depthwise_conv2d(self, op) -> None:
        """A convolution whose kernel is diagonal in (input, output) channel: its weight tiles
        off the diagonal are zero and skipped."""
        a = op.attrs
        w = self.env[op.w]                                   # (R, S, C)
        diagonal = w[:, :, :, None] * np.eye(w.shape[-1], dtype=np.int8)
        self.convolve(op, diagonal, self.env[op.b], (a["stride"],) * 2, a["pad"],
                      a["pad_value"], per_channel=True)

    def avgpool(self, op) -> None:
        """A mean over windows is a convolution whose every tap is the identity (its weight
        tiles off the diagonal are zero and skipped, the diagonal ones are one tile), with a
        requant that divides by the window's size exactly as TFLite rounds."""
        a = op.attrs
        (r, s), c = a["window"], op.x.type.shape[-1]
        eye = np.broadcast_to(np.eye(c, dtype=np.int8), (r, s, c, c))
        mul, shift = exact_divisor(r * s)
        self.convolve(op, eye, np.zeros(c, np.int32), tuple(a["stride"]), 0, 0,
                      {"mul": mul, "shift": shift, "zp": 0, "relu": False}, per_channel=True)

    def convolve(self, op, w: np.ndarray, bias, stride: tuple[int, int], pad,
                 pad_value: int, requant: dict | None = None, per_channel: bool = False
                 ) -> None:
        """x (H, W, C) * w (R, S, C, K): one K tile per kernel tap and input channel tile.
        ``per_channel``: output channel k uses only input channel k (its useful MACs)."""
        x = self.view(op.x)
        *batch, h, wd, c = x.shape
        images = int(np.prod(batch))  # a batch of maps: their rows one after another
        r_, s_, _, kout = w.shape
        oh, ow, _ = op.result.type.shape[-3:]
        p = x.placed
        if p.rows != images * h * wd:
            raise CompileError(f"{op.NAME}: x %{op.x.name} must be an (H, W, C) tensor")
        taps = [(r, s, t) for r in range(r_) for s in range(s_) for t in range(len(p.tiles))]
        top, left, _, _ = g.pads(pad)
        table = []
        for m in range(images * oh * ow):
            n, (oy, ox) = m // (oh * ow), divmod(m % (oh * ow), ow)
            row = []
            for r, s, t in taps:
                iy, ix = oy * stride[0] + r - top, ox * stride[1] + s - left
                inside = 0 <= iy < h and 0 <= ix < wd
                row.append(p.at((n * h + iy) * wd + ix, t) if inside else None)
            table.append(row)
        rows = [self.rows((r * s_ + s) * c + t * self.L, (r * s_ + s) * c + c)
                for r, s, t in taps]
        self.job(op, x, table, rows, w.reshape(r_ * s_ * c, kout), bias, "i8",
                 images * oh * ow * r_ * s_ * c * (1 if per_channel else kout),
                 (*batch, oh, ow, kout), pad_value, requant)

    def rows(self, first: int, end: int) -> list[int]:
        """The weight rows of one K tile: first .. first + L - 1, -1 (a zero row) past ``end``."""
        return [first + r if first + r < end else -1 for r in range(self.L)]

    def job(self, op, x: View, table, ktile_rows, w: np.ndarray, bias, dtype: str, macs: int,
            shape, pad_value: int = 0, requant_attrs: dict | None = None) -> None:
        L = self.L
        mxm = self.need(op.NAME, "mxm")
        name = op.results[0].name
        n = w.shape[1]
        ntiles = -(-n // L)
        ktable, w_attr, w_slices = self.weights(w, ktile_rows, ntiles, len(table), name,
                                                {s for s, _ in x.placed.tiles[0]})
        a = requant_attrs or op.attrs
        requant = dtype == "i8"
        at = {}
        shift = _layer_shift(a)
        if requant:
            self.need(op.NAME, "vxm")
            side = _vxm_side(self.config, self.vxm)
            at = {k: self.constants(f"{name}_{k}", v, ntiles, side)
                  for k, v in _per_channel(a, bias).items()}
        bias_at, muls_at, shifts_at = (at.get(k, "") for k in ("bias", "mul", "shift"))
        out = self.place(name, shape, dtype, avoid=w_slices)
        zero_slice = self.alloc.slice_for(1, avoid=w_slices, kind="blocks")
        zero = self.alloc.block(zero_slice, np.full((1, L), pad_value), f"{name} padding")
        act = np.array([[(-1, 0) if at is None else (self.slices.index(at[0]), at[1])
                         for at in row] for row in table], np.int32)
        attrs = {"rows": len(table), "ktiles": len(ktile_rows), "ntiles": ntiles, "act": act,
                 "ktable": ktable, "slices": " ".join(self.slices),
                 "zero": f"{zero_slice}@{zero}", "weights": w_attr,
                 "epilogue": (("requant_single" if a.get("rounding") == "single" else "requant")
                              if requant else "int32"), "bias": bias_at,
                 "muls": muls_at, "shifts": shifts_at, "mul": a.get("mul", 0),
                 "shift": shift, "zp": a.get("zp", 0), "relu": a.get("relu", False),
                 "mxm": mxm, "vxm": self.vxm or "", "macs": macs}
        matmul = tile.MatmulOp([out.value], [], attrs)
        matmul.verify()
        self.ops.append(matmul)
        self.env[op.results[0]] = out

    def weights(self, w, ktile_rows, ntiles: int, rows: int, name: str, x_slices):
        """Where a product's weight tiles are: (ktable, the ``weights`` attribute, their
        slices). An activation's words are the tiles as they lie; constant tiles go as planes
        when the product has fewer rows than lanes (one-row loads would keep the MXM
        waiting), else in one slice (or spread, as a last resort)."""
        L = self.L
        if isinstance(w, View):
            ktable = np.array([[(kt, kt * ntiles + nt) for kt in range(len(ktile_rows))]
                               for nt in range(ntiles)], np.int32)
            return (ktable, "act:" + tile.placed_attr(w.placed),
                    tuple(s for t in w.placed.tiles for s, _ in t))
        words, ktable = _weight_tiles(w, ktile_rows, ntiles, L)
        words = words.reshape(-1, L)
        if rows < L:
            # a window's streams run one way: the planes on one side of the MXM
            here = self.config.slice_named(self.mxm).position
            sides = ([s.name for s in self.config.mem_slices if s.position < here],
                     [s.name for s in self.config.mem_slices if s.position > here])
            for side in sorted(sides, key=lambda names: -sum(map(self.alloc.free, names))):
                planes = self.alloc.tile_planes(words, f"{name} weights",
                                                _load_width(self.config), side, avoid=x_slices)
                if planes is not None:  # G rows an lw, one from each plane's slice
                    return ktable, tile.planes_attr(planes), tuple(s for s, _ in planes)
        runs = self.alloc.tiles_spread(words, f"{name} weights", avoid=x_slices)
        return ktable, tile.runs_attr(runs), tuple(s for s, _, _ in runs)

    def constants(self, name: str, values: np.ndarray, ntiles: int, side) -> str:
        """A per-channel int32 vector as four byte planes next to the VXM."""
        padded = np.zeros(ntiles * self.L, np.int32)
        padded[:len(values)] = values
        return tile.placed_attr(self.alloc.place_planes(name, padded, side))

    # --- element-wise ---------------------------------------------------------------------------

    def relu(self, op) -> None:
        x = self.view(op.x)
        if x.placed.dtype != "i8":
            raise CompileError(f"{op.NAME} %{op.result.name}: only int8 relu is supported")
        out = self.place(op.result.name, x.placed.shape, "i8")
        self.ops.append(tile.ReluOp([x.value, out.value], [],
                                    {"zp": op.attrs["zp"], "vxm": self.need(op.NAME, "vxm")}))
        self.env[op.result] = View(out.placed, x.shape, out.value)

    def leaky_relu(self, op) -> None:
        x = self.view(op.x)
        if x.placed.dtype != "i8":
            raise CompileError(f"{op.NAME} %{op.result.name}: x must be an int8 tensor")
        out = self.place(op.result.name, x.placed.shape, "i8")
        self.ops.append(tile.LeakyReluOp([x.value, out.value], [],
                                         {**op.attrs, "vxm": self.need(op.NAME, "vxm")}))
        self.env[op.result] = View(out.placed, x.shape, out.value)

    def table(self, op) -> None:
        """The table's chunks (L entries a word) in a slice that holds no word of x, so that
        x's reads and the chunks' reads never meet in one cycle; if x is in every slice, two
        copies in two slices (each word reads the copy its slice does not hold)."""
        x = self.view(op.x)
        vxm = self.need(op.NAME, "vxm")
        sxm = self.config.slices_of("sxm")
        if not sxm:
            raise CompileError(f"{op.NAME} needs an SXM slice, and config "
                               f"{self.config.name!r} has none")
        words = table_words(op.attrs["table"], self.L)
        used = {s for _, block in x.placed.blocks() for tile in block.tiles for s, _ in tile}
        room = [n for n in self.alloc.next if self.alloc.free(n) >= len(words)]
        free = [n for n in room if n not in used]
        chosen = free[:1] or sorted(room, key=lambda n: -self.alloc.free(n))[:2]
        if len(chosen) < (1 if free else 2):
            raise CompileError(f"{op.NAME} %{op.result.name}: its {len(words)}-word table needs "
                               f"a MEM slice that holds no word of %{op.x.name}, or two slices")
        copies = [f"{n}@{self.alloc.block(n, words, f'{op.result.name} table')}"
                  for n in sorted(chosen, key=lambda n: self.alloc.free(n), reverse=True)]
        out = self.place(op.result.name, x.placed.shape, "i8", avoid=(*used, *chosen))
        self.ops.append(tile.TableOp([x.value, out.value], [], {
            "table": ",".join(copies), "vxm": vxm, "sxm": sxm[0].name}))
        self.env[op.result] = View(out.placed, x.shape, out.value)

    def add(self, op) -> None:
        attrs = {k: op.attrs[k] for k in ("mul", "shift", "zp", "relu")}
        self.elementwise_sum(op, tile.AddOp, attrs)

    def qadd(self, op) -> None:
        self.elementwise_sum(op, tile.QAddOp, dict(op.attrs))

    def qmul(self, op) -> None:
        self.elementwise_sum(op, tile.QMulOp, dict(op.attrs))

    def elementwise_sum(self, op, tile_op, attrs: dict) -> None:
        """add / qadd / qmul: two int8 tensors of one layout, word by word, one scale per
        layer."""
        a, b = self.view(op.a), self.view(op.b)
        for v, name in ((a, op.a.name), (b, op.b.name)):
            if v.placed.dtype != "i8" or v.placed.shape != a.placed.shape:
                raise CompileError(f"{op.NAME} %{op.result.name}: %{name} must be an int8 "
                                   f"tensor laid out like the other operand")
        if isinstance(op.attrs["mul"], list) or isinstance(op.attrs["shift"], list):
            raise CompileError(f"{op.NAME} %{op.result.name}: per-channel scales on add are "
                               f"not supported")
        out = self.place(op.result.name, a.placed.shape, "i8")
        self.ops.append(tile_op([a.value, b.value, out.value], [],
                                {**attrs, "vxm": self.need(op.NAME, "vxm")}))
        self.env[op.result] = View(out.placed, a.shape, out.value)

    def maxpool(self, op) -> None:
        x = self.view(op.x)
        if isinstance(op, g.MaxPool2x2Op):
            *batch, h, w, _ = x.shape
            windows = [[((n * h + 2 * oy + dy) * w + 2 * ox + dx) for dy in (0, 1)
                        for dx in (0, 1)]
                       for n in range(int(np.prod(batch))) for oy in range(h // 2)
                       for ox in range(w // 2)]
        else:
            windows = op.windows()
        table = np.full((len(windows), max(map(len, windows))), -1, np.int32)
        for i, rows in enumerate(windows):
            table[i, :len(rows)] = rows
        out = self.place(op.result.name, tuple(op.result.type.shape), "i8")
        self.ops.append(tile.MaxPoolOp([x.value, out.value], [],
                                       {"windows": table, "vxm": self.need(op.NAME, "vxm")}))
        self.env[op.result] = out


def _layer_shift(a: dict):
    """A product's shift: one for the layer, or a list of one per output channel."""
    shift = a.get("shift", 0)
    return shift[0] if isinstance(shift, list) and len(set(shift)) == 1 else shift


def _per_channel(a: dict, bias) -> dict[str, np.ndarray]:
    """A requantising product's per-channel int32 constants by name, in the order they are
    placed: its bias unless all zero, its multipliers and shifts if given per channel."""
    found = {}
    b = np.asarray(bias, np.int32)
    if b.any():
        found["bias"] = b
    if isinstance(a["mul"], list):
        found["mul"] = np.asarray(a["mul"], np.int32)
    if isinstance(_layer_shift(a), list):
        found["shift"] = np.asarray(_layer_shift(a), np.int32)
    return found


def _weight_tiles(w: np.ndarray, ktile_rows, ntiles: int, L: int):
    """The weight words to store and the K tiles each output tile multiplies.

    A tile of zeros adds nothing and is skipped (a depthwise or pooling kernel is zero off
    its diagonal), unless an output tile would have none; equal tiles are stored once (every
    tap of a pooling kernel is the identity). Returns (words (T*L, L), ktable (ntiles, n, 2):
    for output tile nt its i-th K tile and the stored tile it multiplies, padded with (-1,
    -1))."""
    wpad = np.zeros((w.shape[0] + 1, ntiles * L), np.int8)  # row -1 is the zero row
    wpad[:-1, :w.shape[1]] = w
    tiles = np.stack([wpad[rows] for rows in ktile_rows])  # (KT, L, ntiles*L)
    tiles = tiles.reshape(len(ktile_rows), L, ntiles, L).transpose(2, 0, 1, 3)
    stored: dict[bytes, int] = {}
    uses = []
    for nt in range(ntiles):
        kts = [kt for kt in range(len(ktile_rows)) if tiles[nt, kt].any()] or [0]
        uses.append([(kt, stored.setdefault(tiles[nt, kt].tobytes(), len(stored)))
                     for kt in kts])
    words = np.frombuffer(b"".join(stored), np.int8).reshape(-1, L)
    width = max(len(u) for u in uses)
    ktable = np.full((ntiles, width, 2), -1, np.int32)
    for nt, u in enumerate(uses):
        ktable[nt, :len(u)] = u
    return words, ktable


def exact_divisor(count: int) -> tuple[int, int]:
    """(mul, shift) with which requant divides any sum of ``count`` int8 values by ``count``
    exactly as TFLite's average pool does (``(sum +- count/2) / count``, truncated): tried
    on every such sum."""
    sums = np.arange(-128 * count, 127 * count + 1, dtype=np.int64)
    rounded = sums + np.where(sums > 0, count // 2, -(count // 2))
    want = np.clip(np.sign(rounded) * (np.abs(rounded) // count), -128, 127)
    for shift in range(SHIFT_MAX + 1):
        guess = round((1 << (31 + shift)) / count)
        for mul in sorted({min(max(guess + d, 0), MUL_MAX) for d in (0, -1, 1, -2, 2)}):
            if np.array_equal(requantize(sums, mul, shift, 0), want):
                return mul, shift
    raise CompileError(f"no requant divides by {count} exactly as TFLite's average pool")


def _type(placed: Placed):
    from ..ir import TensorType
    return TensorType(placed.shape, placed.dtype)


def _load_width(config: CoreConfig) -> int:
    """Rows one ``lw`` loads from as many MEM slices when a layer's weights are in planes: a
    window of at most MAX_WINDOW streams, half a direction's streams at most (the activations
    need the rest), a power of two dividing the lanes."""
    width = min(MAX_WINDOW, config.lanes, config.streams // 2)
    while config.lanes % width:
        width -= 1
    return width


#: The placements tried in turn (:class:`.memory.Allocator`'s ``pack``): weights spread over
#: slices only when no placement keeps each layer's in one.
_PLACEMENTS = ((), ("blocks",), ("blocks", "tensors"), ("spread",), ("blocks", "tensors", "spread"))


def lower_to_tile(module: Module, inputs: dict[str, np.ndarray] | None,
                  config: CoreConfig) -> list:
    """The tile ops of a graph-level module (inputs' values preloaded; zeros if not given).

    Every tensor goes to the roomiest slice first, which spreads the work over the slices'
    queues and ports. If the model does not fit so (tensors spread over every slice leave
    none empty enough for a layer's weights), it is placed again with the weights packed into
    the fullest slices that have room, then with everything packed, then with weights that no
    slice holds spread over several (unpacked, then packed)."""
    for pack in _PLACEMENTS[:-1]:
        try:
            return _ToTile(config, inputs, pack).run(module)
        except OutOfMemory:
            pass
    return _ToTile(config, inputs, _PLACEMENTS[-1]).run(module)


# --- tile -> schedule ---------------------------------------------------------------------------

@dataclass
class Scheduled:
    """The tile level scheduled: instructions, preloaded words, outputs, useful MACs."""

    sched: Scheduler
    data: list[DataBlock]
    outputs: dict[str, tuple[Placed, tuple[int, ...], tuple[int, int]]]
    inputs: dict[str, Placed]
    macs: int


def schedule_tile(module: Module, config: CoreConfig) -> Scheduled:
    """List-schedule the tile ops of ``module`` in order."""
    s = Scheduler(config)
    ready: dict = {}
    placed: dict[Value, Placed] = {}
    out = Scheduled(s, [], {}, {}, 0)
    for op in module.ops:
        if isinstance(op, tile.TensorOp):
            placed[op.result] = op.placed()
        elif isinstance(op, tile.DataOp):
            out.data.append(DataBlock(op.attrs["slice"], op.attrs["addr"], op.attrs["value"]))
        elif isinstance(op, tile.MatmulOp):
            _schedule_product(s, op, placed[op.out], ready, config)
            out.macs += op.attrs["macs"]
        elif isinstance(op, tile.ReluOp):
            schedule_relu(s, op.attrs["vxm"], placed[op.x], placed[op.out], op.attrs["zp"],
                          ready)
        elif isinstance(op, tile.AddOp):
            a = op.attrs
            ep = Epilogue("requant", mul=a["mul"], shift=a["shift"], zp=a["zp"],
                          relu=a["relu"])
            schedule_add(s, a["vxm"], placed[op.a], placed[op.b], placed[op.out], ep, ready)
        elif isinstance(op, tile.QAddOp):
            schedule_qadd(s, placed[op.a], placed[op.b], placed[op.out], op.attrs, ready)
        elif isinstance(op, tile.QMulOp):
            schedule_qmul(s, placed[op.a], placed[op.b], placed[op.out], op.attrs, ready)
        elif isinstance(op, tile.LeakyReluOp):
            schedule_leaky_relu(s, placed[op.x], placed[op.out], op.attrs, ready)
        elif isinstance(op, tile.TableOp):
            copies = [(n, int(first)) for n, first in
                      (c.split("@") for c in op.attrs["table"].split(","))]
            schedule_table(s, placed[op.x], placed[op.out], copies, op.attrs["vxm"],
                           op.attrs["sxm"], ready)
        elif isinstance(op, tile.MaxPoolOp):
            windows = [[int(r) for r in row if r >= 0] for row in op.attrs["windows"]]
            schedule_maxpool(s, op.attrs["vxm"], placed[op.x], placed[op.out], windows, ready)
        elif isinstance(op, tile.OutputOp):
            a = op.attrs
            out.outputs[a["name"]] = (placed[op.value], tuple(a["shape"]), tuple(a["columns"]))
        elif isinstance(op, tile.InputOp):
            out.inputs[op.attrs["name"]] = placed[op.value]
    return out


def _schedule_product(s: Scheduler, op, out: Placed, ready: dict, config: CoreConfig) -> None:
    a = op.attrs
    slices = a["slices"].split()
    table = a["act"]
    zero_slice, zero_word = a["zero"].split("@")
    weights = tile.weights_from(a["weights"])

    def act(m: int, kt: int):
        si, word = table[m, kt]
        return None if si < 0 else (slices[si], int(word))

    def planes(text: str, what: str):
        return tile.placed_from(what, text, (1, a["ntiles"] * config.lanes), "i32", 1) \
            if text else None

    ep = Epilogue(a["epilogue"], bias_at=planes(a["bias"], "bias"),
                  mul_at=planes(a["muls"], "mul"), shift_at=planes(a["shifts"], "shift"),
                  mul=a["mul"], shift=a["shift"], zp=a["zp"], relu=a["relu"])
    ktable = [[(int(kt), int(w)) for kt, w in row if kt >= 0] for row in a["ktable"]]
    for first, block in out.blocks():  # a spread output: one product per block of its rows
        job = MatmulJob(out.name, block.rows, a["ktiles"], a["ntiles"],
                        lambda m, kt, first=first: act(first + m, kt), weights,
                        block, ep, ktable, mxm=a["mxm"], vxm=a["vxm"])
        schedule_matmul(s, job, ready, (zero_slice, int(zero_word)))
