"""What every command shares: the one-line usage error, the ``-c/--config`` option, and file
reads and writes that fail in one line."""

from __future__ import annotations

import argparse
from pathlib import Path

from ....errors import ConveyorError
from ....hw.machine.config import PRESETS, board_cores

__all__ = ["UsageError", "config_arg", "config_names", "read_file", "write_file"]


class UsageError(ConveyorError):
    """Options that do not go together, or a file that cannot be read or written."""


def config_names() -> str:
    """The presets and board cores a ``-c`` takes by name."""
    return ", ".join([*PRESETS, *board_cores()])


def config_arg(p: argparse.ArgumentParser, default: str | None = "small16",
               default_text: str | None = None) -> None:
    """``-c/--config``: a preset or board core by name, or a TOML file."""
    after = default_text or f"default {default}"
    p.add_argument("-c", "--config", default=default, metavar="NAME|FILE.toml",
                   help=f"core configuration: a preset or board core ({config_names()}) or a "
                        f"TOML file; {after}")


def read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None


def write_file(path: Path | str, data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        raise UsageError(f"{path}: cannot write ({e.strerror})") from None
