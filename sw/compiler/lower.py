"""Graph -> placed tensors and scheduled slice work, op by op in program order.

Every int8 tensor lives in the shared layout of :mod:`.memory` (rows of vectors, channel tiles);
a reshape is a *view* of its producer's words. A matmul-like op (``matmul``, ``linear``,
``conv2d``) becomes one :class:`~.matmul.MatmulJob` whose K tiles name, for every output row,
the word that holds its activation vector and the weight rows that vector multiplies: the plain
channel tiles of the input for ``linear``, one tap of the kernel for ``conv2d`` (padding reads a
word of zeros, so the convolution is computed on chip without an im2col copy), and one (pixel,
channel tile) word for a ``linear`` after a ``flatten``. Element-wise ops (``relu``, ``add``,
``maxpool2x2``) are VXM chains in :mod:`.vector`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...hw.config import GROUP, CoreConfig
from ..ir import Module, Value
from ..ir.graph import (
    AddOp,
    ConstOp,
    Conv2dOp,
    InputOp,
    LinearOp,
    MatmulOp,
    MaxPool2x2Op,
    OutputOp,
    ReluOp,
    ReshapeOp,
)
from .errors import CompileError
from .matmul import Epilogue, MatmulJob, schedule_matmul
from .memory import Allocator, Placed
from .schedule import Scheduler
from .vector import schedule_add, schedule_maxpool, schedule_relu

__all__ = ["Lowered", "View", "lower"]


@dataclass(frozen=True)
class View:
    """A tensor as a consumer sees it: placed words and the logical shape (a reshape of the
    placed tensor's shape, same elements in the same row-major order)."""

    placed: Placed
    shape: tuple[int, ...]


@dataclass
class Lowered:
    """The result of lowering: placements and scheduled instructions."""

    inputs: dict[str, View]
    outputs: dict[str, View]
    useful_macs: int
    jobs: list[str]  # one line per job: the tile level's text, in order


def _vxm_side(config: CoreConfig, vxm: str) -> tuple[str, ...]:
    """Four MEM slices on one side of the VXM (west first): where per-channel constants
    (bias, multipliers) live, so that a group of them reaches the VXM in one cycle."""
    p = config.slice_named(vxm).position
    west = [s.name for s in config.mem_slices if s.position < p]
    east = [s.name for s in config.mem_slices if s.position > p]
    side = west if len(west) >= GROUP else east
    if len(side) < GROUP:
        raise CompileError(f"config {config.name!r} needs {GROUP} MEM slices on one side of "
                           f"{vxm} for a layer's bias and multipliers")
    return tuple(sorted(side, key=lambda n: abs(config.slice_named(n).position - p))[:GROUP])


class _Lowering:
    def __init__(self, config: CoreConfig, inputs: dict[str, np.ndarray]):
        self.config = config
        self.L = config.lanes
        self.inputs = inputs
        self.alloc = Allocator(config)
        self.sched = Scheduler(config)
        self.env: dict[Value, object] = {}  # Value -> View or np.ndarray (constants)
        self.ready: dict[tuple[str, int], int] = {}
        self.result = Lowered({}, {}, 0, [])
        self.mxm = config.slices_of("mxm")[0].name if config.slices_of("mxm") else None
        self.vxm = config.slices_of("vxm")[0].name if config.slices_of("vxm") else None
        self.count = 0

    # --- ops ------------------------------------------------------------------------------

    def run(self, module: Module) -> Lowered:
        for op in module.ops:
            handler = {InputOp: self.input, ConstOp: self.const, MatmulOp: self.matmul,
                       LinearOp: self.linear, Conv2dOp: self.conv2d, ReshapeOp: self.reshape,
                       ReluOp: self.relu, AddOp: self.add, MaxPool2x2Op: self.maxpool,
                       OutputOp: self.output}.get(type(op))
            if handler is None:
                raise CompileError(f"{op.NAME} is not supported by the compiler")
            handler(op)
        return self.result

    def view(self, v: Value) -> View:
        found = self.env[v]
        if isinstance(found, np.ndarray):  # a constant used as an activation: preload it
            if found.dtype != np.int8:
                raise CompileError(f"%{v.name}: an int32 constant cannot be an activation")
            placed = self.alloc.place(v.name, found.shape, "i8", values=found)
            found = self.env[v] = View(placed, found.shape)
        return found

    def input(self, op: InputOp) -> None:
        name = op.attrs["name"]
        shape = op.result.type.shape
        placed = self.alloc.place(name, shape, "i8", values=np.asarray(self.inputs[name]))
        self.env[op.result] = self.result.inputs[name] = View(placed, shape)

    def const(self, op: ConstOp) -> None:
        self.env[op.result] = np.asarray(op.attrs["value"])

    def output(self, op: OutputOp) -> None:
        self.result.outputs[op.attrs["name"]] = self.view(op.value)

    def reshape(self, op: ReshapeOp) -> None:
        x = self.view(op.x)
        self.env[op.result] = View(x.placed, tuple(op.result.type.shape))

    def _need(self, what: str, kind: str) -> str:
        name = self.mxm if kind == "mxm" else self.vxm
        if name is None:
            raise CompileError(f"{what} needs an {kind.upper()} slice, and config "
                               f"{self.config.name!r} has none")
        return name

    # --- matrix products ---------------------------------------------------------------------

    def matmul(self, op: MatmulOp) -> None:
        self._product(op, op.x, self.env[op.w], None, Epilogue("int32"), "i32")

    def linear(self, op: LinearOp) -> None:
        b = self.env[op.b]
        self._product(op, op.x, self.env[op.w], b, self._requant(op, b), "i8")

    def _requant(self, op, bias) -> Epilogue:
        a = op.attrs
        return Epilogue("requant", bias=bias, mul=a["mul"], shift=a["shift"], zp=a["zp"],
                        relu=a["relu"])

    def _product(self, op, x_value: Value, w: np.ndarray, bias, epilogue: Epilogue,
                 dtype: str) -> None:
        """x (M, K) @ w (K, N) with x a view of placed words."""
        x = self.view(x_value)
        m_rows, k = x.shape
        placed = x.placed
        p_rows, p_cols = placed.rows, placed.shape[-1]
        if (m_rows, k) == (p_rows, p_cols):  # the natural layout: K tiles = channel tiles
            ktiles = [(lambda m, t=t: (placed.slice_of(t), placed.word(m, t)),
                       self._rows(t * self.L, k)) for t in range(len(placed.tiles))]
        elif m_rows == 1 and k == p_rows * p_cols:  # a flatten: one K tile per (row, tile)
            ktiles = [(lambda m, p=p, t=t: (placed.slice_of(t), placed.word(p, t)),
                       self._rows(p * p_cols + t * self.L, p * p_cols + p_cols))
                      for p in range(p_rows) for t in range(len(placed.tiles))]
        else:
            raise CompileError(f"{op.NAME} %{op.results[0].name}: x %{x_value.name} is "
                               f"{x.shape}, a view of a {placed.shape} tensor the compiler "
                               f"cannot read as rows")
        self._job(op, m_rows, ktiles, w, bias, epilogue, dtype, m_rows * k * w.shape[1])

    def conv2d(self, op: Conv2dOp) -> None:
        x = self.view(op.x)
        h, wd, c = x.shape
        w = self.env[op.w]  # (R, S, C, K)
        r_, s_, _, kout = w.shape
        stride, pad = op.attrs["stride"], op.attrs["pad"]
        oh, ow, _ = op.result.type.shape
        placed = x.placed
        if placed.shape != (h, wd, c) and placed.rows != h * wd:
            raise CompileError(f"{op.NAME}: x %{op.x.name} must be an (H, W, C) tensor")
        ktiles = []
        for r in range(r_):
            for s in range(s_):
                for t in range(len(placed.tiles)):
                    def act(m, r=r, s=s, t=t):
                        oy, ox = divmod(m, ow)
                        iy, ix = oy * stride + r - pad, ox * stride + s - pad
                        if not (0 <= iy < h and 0 <= ix < wd):
                            return None
                        return placed.slice_of(t), placed.word(iy * wd + ix, t)
                    base = (r * s_ + s) * c
                    ktiles.append((act, self._rows(base + t * self.L, base + c)))
        w2 = w.reshape(r_ * s_ * c, kout)
        self._job(op, oh * ow, ktiles, w2, self.env[op.b], self._requant(op, self.env[op.b]),
                  "i8", oh * ow * r_ * s_ * c * kout, shape=(oh, ow, kout))

    def _rows(self, first: int, end: int) -> list[int]:
        """The weight rows of one K tile: first .. first + L - 1, -1 (a zero row) past ``end``."""
        return [first + r if first + r < end else -1 for r in range(self.L)]

    def _job(self, op, m_rows: int, ktiles, w: np.ndarray, bias, epilogue: Epilogue,
             dtype: str, macs: int, shape=None) -> None:
        L, cfg = self.L, self.config
        mxm = self._need(op.NAME, "mxm")
        name = op.results[0].name
        n = w.shape[1]
        ntiles = -(-n // L)
        # weight tiles in order of use: (nt, kt, row)
        wpad = np.zeros((w.shape[0] + 1, ntiles * L), np.int8)
        wpad[:-1, :n] = w  # row -1 is the zero row
        tiles = np.stack([wpad[rows] for _, rows in ktiles])  # (KT, L, ntiles*L)
        words = tiles.reshape(len(ktiles), L, ntiles, L).transpose(2, 0, 1, 3)
        w_slice = self.alloc.roomiest()
        w_first = self.alloc.block(w_slice, words.reshape(-1, L), f"{name} weights")
        if epilogue.kind == "requant":
            self._constants(epilogue, n, ntiles, name)
        shape = shape or (m_rows, n)
        out = self.alloc.place(name, shape, dtype, avoid=(w_slice,))
        acts = [a for a, _ in ktiles]
        zero_slice = self.alloc.roomiest(avoid=(w_slice,))
        zero = {zero_slice: self.alloc.block(zero_slice, np.zeros((1, L)), f"{name} zeros")}
        job = MatmulJob(name, m_rows, len(ktiles), ntiles, lambda m, kt: acts[kt](m),
                        (w_slice, w_first), out, epilogue, mxm=mxm,
                        vxm=self.vxm or "")
        if epilogue.kind == "requant":
            self._need(op.NAME, "vxm")
        schedule_matmul(self.sched, job, self.ready, zero)
        self.env[op.results[0]] = View(out, tuple(shape))
        self.result.useful_macs += macs
        self.result.jobs.append(
            f"%{name} = tile.matmul rows={m_rows} ktiles={len(ktiles)} ntiles={ntiles} "
            f"weights={w_slice}@{w_first} epilogue={epilogue.kind} on {mxm} "
            f"out={out.tiles[0][0][0]}@{out.tiles[0][0][1]}")
        del cfg

    def _constants(self, ep: Epilogue, n: int, ntiles: int, name: str) -> None:
        """Place the bias (if not all zero) and per-channel multipliers next to the VXM."""
        side = _vxm_side(self.config, self.vxm)
        bias = np.asarray(ep.bias, np.int32)
        if bias.any():
            b = np.zeros(ntiles * self.L, np.int32)
            b[:n] = bias
            ep.bias_at = self._group(f"{name} bias", b, side)
        if isinstance(ep.mul, list):
            mul = np.zeros(ntiles * self.L, np.int32)
            mul[:n] = ep.mul
            ep.mul_at = self._group(f"{name} multipliers", mul, side)

    def _group(self, what: str, values: np.ndarray, side: tuple[str, ...]) -> Placed:
        placed = self.alloc.place_planes(what, values, side)
        return placed

    # --- element-wise ------------------------------------------------------------------------

    def relu(self, op: ReluOp) -> None:
        x = self.view(op.x)
        if x.placed.dtype != "i8":
            raise CompileError(f"{op.NAME} %{op.result.name}: only int8 relu is supported")
        out = self.alloc.place(op.result.name, x.placed.shape, "i8")
        schedule_relu(self.sched, self._need(op.NAME, "vxm"), x.placed, out, op.attrs["zp"],
                      self.ready)
        self.env[op.result] = View(out, x.shape)

    def add(self, op: AddOp) -> None:
        a, b = self.view(op.a), self.view(op.b)
        for v, name in ((a, op.a.name), (b, op.b.name)):
            if v.placed.dtype != "i8" or v.placed.shape != a.placed.shape:
                raise CompileError(f"{op.NAME} %{op.result.name}: %{name} must be an int8 "
                                   f"tensor laid out like the other operand")
        if isinstance(op.attrs["mul"], list):
            raise CompileError(f"{op.NAME} %{op.result.name}: per-channel scales on add are "
                               f"not supported")
        out = self.alloc.place(op.result.name, a.placed.shape, "i8")
        schedule_add(self.sched, self._need(op.NAME, "vxm"), a.placed, b.placed, out,
                     self._requant(op, None), self.ready)
        self.env[op.result] = View(out, a.shape)

    def maxpool(self, op: MaxPool2x2Op) -> None:
        x = self.view(op.x)
        out = self.alloc.place(op.result.name, tuple(op.result.type.shape), "i8")
        schedule_maxpool(self.sched, self._need(op.NAME, "vxm"), x.placed, out, self.ready)
        self.env[op.result] = View(out, tuple(op.result.type.shape))


def lower(module: Module, inputs: dict[str, np.ndarray], config: CoreConfig
          ) -> tuple[Lowered, Allocator, Scheduler]:
    """Place and schedule a graph-level module for ``config``."""
    low = _Lowering(config, inputs)
    result = low.run(module)
    return result, low.alloc, low.sched
