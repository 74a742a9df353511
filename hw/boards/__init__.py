"""Boards: the iCEBreaker (iCE40 UP5K) and the ULX3S 85F (ECP5), their shared top level,
their builds with the YoWASP tools, and flashing with openFPGALoader (docs/boards.md).

The board modules import Amaranth; they are loaded when a board is asked for, so that naming
the boards (``conveyor --help``) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, NamedTuple

from ...errors import ConveyorError
from ..machine.config import CONSTRAINTS_DIR, CoreConfig, load_config

if TYPE_CHECKING:
    from .board import Board

__all__ = ["BOARD_NAMES", "BoardConfigError", "SignOff", "board_named", "signoff"]

#: ``--board`` name -> (module, object) of every supported board.
_BOARDS = {"icebreaker": ("icebreaker", "ICEBREAKER"), "ulx3s-85f": ("ulx3s", "ULX3S_85F")}

#: Every supported board's ``--board`` name.
BOARD_NAMES = tuple(_BOARDS)


class BoardConfigError(ConveyorError):
    """A board that does not exist, a constraints file that is broken, or a clock that its
    PLL cannot make."""


def board_named(name: str) -> Board:
    """The board called ``name``; BoardConfigError naming the boards there are if none."""
    try:
        module, obj = _BOARDS[name]
    except KeyError:
        raise BoardConfigError(f"unknown board {name!r} (have: {', '.join(BOARD_NAMES)})") \
            from None
    return getattr(import_module(f"{__name__}.{module}"), obj)


class SignOff(NamedTuple):
    """A board whose default build is ``config`` and the clock its timing is signed off at."""

    board: str
    mhz: float


def signoff(config: CoreConfig) -> SignOff | None:
    """The board that builds ``config`` by default (``constraints/BOARD.toml``), and the clock
    its build signs off at; None for a core no board builds by default (a preset): its
    ``clock_mhz`` is then nominal. Reads the constraints files alone (no Amaranth)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    for name in BOARD_NAMES:
        path = CONSTRAINTS_DIR / f"{name}.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            core = load_config(str(path.parent / data["board"]["config"]))
            mhz = float(data["clock"]["target_mhz"])
        except (OSError, KeyError, TypeError, ValueError, ConveyorError,
                tomllib.TOMLDecodeError):
            continue  # a broken constraints file is `conveyor build`'s to report
        if core == config:
            return SignOff(name, mhz)
    return None
