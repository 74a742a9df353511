"""What the MXM and SXM slices hold between instructions, and their lane arithmetic, in numpy.

The golden model (:mod:`conveyor.sim.golden`) decides *when* each of these methods runs (issue
cycle, or the cycle the timing table says an effect lands); this module says *what* it does,
as docs/architecture.md ("MXM", "SXM") defines it. Every piece of state starts undefined in a
run, and reading it before the run wrote it is a program error: the RTL keeps whatever an
earlier run left there.
"""

from __future__ import annotations

import numpy as np

from ..hw.machine.config import CoreConfig

__all__ = ["MxmState", "SxmState", "join_i32", "matmul_i32", "split_i32"]


def split_i32(value: np.ndarray) -> np.ndarray:
    """int32 vector -> (4, lanes) int8, row k = byte k of every lane."""
    return value.astype("<i4", copy=False).view(np.int8).reshape(-1, 4).T.copy()


def join_i32(parts) -> np.ndarray:
    """Four byte vectors (byte 0 first) -> one int32 vector."""
    return np.array(parts).T.copy().view("<i4").reshape(-1)


def matmul_i32(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` for int8 operands with exact int64 sums, wrapped to int32 as the MXM's
    accumulators wrap."""
    return (x.astype(np.int64) @ w.astype(np.int64)).astype(np.int32)


class MxmState:
    """One MXM slice: shadow and active L x L int8 weights (row i feeds input lane i), and
    ``acc_depth`` int32 accumulator rows.

    Members
    -------
    shadow, active : (lanes, lanes) int8 weights, ``[row i][lane j]``.
    shadow_loaded, active_loaded : per row, whether this run has defined it.
    acc : (acc_depth, lanes) int32.
    written : per accumulator row, whether an ``mm.set`` of this run has defined it.
    """

    def __init__(self, config: CoreConfig):
        n = self.lanes = config.lanes
        self.shadow = np.zeros((n, n), np.int8)
        self.active = np.zeros((n, n), np.int8)
        self.shadow_loaded = np.zeros(n, bool)
        self.active_loaded = np.zeros(n, bool)
        self.acc = np.zeros((config.acc_depth, n), np.int32)
        self.written = np.zeros(config.acc_depth, bool)

    def load_row(self, row: int, value: np.ndarray) -> None:
        """``lw``: one shadow row."""
        self.shadow[row] = value
        self.shadow_loaded[row] = True

    def shadow_copy(self) -> tuple[np.ndarray, np.ndarray]:
        """The shadow buffer as ``iw`` captures it in its issue cycle."""
        return self.shadow.copy(), self.shadow_loaded.copy()

    def install(self, cycle: int, copy: tuple[np.ndarray, np.ndarray]) -> None:
        """``iw`` lands: the captured shadow is copied into the active weights (the shadow keeps
        its rows, so the next tile loads over it while this one computes)."""
        self.active, self.active_loaded = copy

    def missing_weights(self) -> list[int]:
        """Active rows this run has not defined (an ``mm`` needs all of them)."""
        return [int(i) for i in np.flatnonzero(~self.active_loaded)]

    def multiply(self, x: np.ndarray) -> np.ndarray:
        """``mm``'s product: lane j = sum over rows i of x[i] * active[i][j]."""
        return matmul_i32(x, self.active)

    def accumulate(self, row: int, y: np.ndarray, add: bool) -> None:
        """``mm.set`` / ``mm.add`` lands in accumulator ``row``."""
        self.acc[row] = (self.acc[row] + y) if add else y  # int32 + int32 wraps
        self.written[row] = True


class SxmState:
    """One SXM slice: the L x L transpose buffer and the lane moves.

    Members
    -------
    rows : (lanes, lanes) int8, the transpose buffer, ``[row][lane]``.
    loaded : per row, whether this run has defined it.
    """

    def __init__(self, config: CoreConfig):
        n = self.lanes = config.lanes
        self.rows = np.zeros((n, n), np.int8)
        self.loaded = np.zeros(n, bool)

    def write_row(self, row: int, value: np.ndarray) -> None:
        """``tr.in``."""
        self.rows[row] = value
        self.loaded[row] = True

    def missing_rows(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(~self.loaded)]

    def column(self, col: int) -> np.ndarray:
        """``tr.out``: lane j gets lane ``col`` of row j."""
        return self.rows[:, col].copy()

    def move(self, mnemonic: str, values: list[np.ndarray], args: dict) -> np.ndarray:
        """``shift``, ``rotate``, ``bcast`` or ``permute`` of the operand vectors."""
        s, n = values[0], self.lanes
        lanes = np.arange(n)
        if mnemonic == "shift":
            src = lanes - args["n"]
            return np.where((src >= 0) & (src < n), s[np.clip(src, 0, n - 1)], 0).astype(np.int8)
        if mnemonic == "rotate":
            return s[(lanes - args["n"]) % n]
        if mnemonic == "bcast":
            return np.full(n, s[args["i"]], np.int8)
        if mnemonic == "permute":
            index = values[1].view(np.uint8).astype(np.int64)
            return np.where(index < n, s[np.minimum(index, n - 1)], 0).astype(np.int8)
        raise ValueError(f"not an SXM lane move: {mnemonic}")
