"""The one place a command picks where programs run: the golden model, the Verilator RTL, or a
board behind its UART bridge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ....hw.machine.program import Program
from .common import UsageError

__all__ = ["BACKENDS", "BoardPort", "run_programs"]

#: The ``--backend`` choices (a board is chosen with ``--board``).
BACKENDS = ("golden", "verilator")


@dataclass(frozen=True)
class BoardPort:
    """Where a board is: its ``--board`` name, serial port, baud rate (None: the board's own)
    and how long to wait for a run."""

    board: str
    port: str | None
    baud: int | None
    timeout: float


def run_programs(programs: Sequence[Program], backend: str, *, waves: str | None = None,
                 reads: Sequence[dict] | None = None, board: BoardPort | None = None) -> list:
    """Run ``programs`` (all for one config) one after another on ``backend``: ``"golden"``,
    ``"verilator"`` (one simulator process for them all; ``reads`` limits what MEM comes back,
    ``waves`` writes a waveform of a single program) or ``"board"``. Returns one result per
    program (``cycles``, ``mem``); the first failure is raised."""
    if waves is not None and backend != "verilator":
        raise UsageError(f"--waves needs --backend verilator, not {backend}")
    if backend == "board":
        return _on_board(programs, board)
    if backend == "golden":
        from ....sim.golden import run
        return [run(p) for p in programs]
    if waves is not None:
        if len(programs) != 1:
            raise UsageError(f"--waves takes one program, not {len(programs)} runs")
        from ....sim.verilator import run
        return [run(programs[0], waves=waves)]
    from ....sim.batch import verilator_batch
    results = verilator_batch(programs, reads)
    for r in results:
        if isinstance(r, Exception):
            raise r
    return results


def _on_board(programs: Sequence[Program], where: BoardPort) -> list:
    from ....hw.boards import board_named
    from ...host.driver import Board
    if not where.port:
        raise UsageError("--board needs --port, e.g. --port /dev/ttyUSB0")
    baud = where.baud or board_named(where.board).constraints.baud
    with Board.open(where.port, baud=baud) as board:
        return [board.run(p, timeout=where.timeout) for p in programs]
