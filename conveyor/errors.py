"""Errors a user can cause. The CLI prints each as one line and exits 1, never a traceback."""

from __future__ import annotations

__all__ = [
    "AsmError",
    "ConfigError",
    "ConveyorError",
    "HazardError",
    "ImageError",
    "SimulationError",
]


class ConveyorError(Exception):
    """Base class of every error that is the user's input, not a bug in Conveyor."""


class ConfigError(ConveyorError):
    """A core configuration that cannot be built."""


class AsmError(ConveyorError):
    """Bad assembly, reported as ``file:line:col: message``."""

    def __init__(self, message: str, file: str = "<input>", line: int = 0, col: int = 0):
        self.message, self.file, self.line, self.col = message, file, line, col
        super().__init__(f"{file}:{line}:{col}: {message}")


class ImageError(ConveyorError):
    """A program image that is corrupt or was built for another config."""


class HazardError(ConveyorError):
    """A program that breaks the machine's rules at run time (golden model).

    Members
    -------
    cycle : the cycle in which it happened.
    kind : ``"collision"``, ``"empty-read"``, ``"address"``, or ``"undefined"`` (slice state
        that the run never wrote: MXM weights or accumulator rows, SXM transpose rows).
    """

    def __init__(self, kind: str, cycle: int, message: str):
        self.kind, self.cycle = kind, cycle
        super().__init__(f"cycle {cycle}: {message}")


class SimulationError(ConveyorError):
    """A simulator that cannot run (a missing tool, a build that failed)."""
