"""Boards: the iCEBreaker (iCE40 UP5K) and the ULX3S 85F (ECP5), their shared top level,
their builds with the YoWASP tools, and flashing with openFPGALoader (docs/boards.md).

The board modules import Amaranth; they are loaded when a board is asked for, so that naming
the boards (``conveyor --help``) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ...errors import ConveyorError

if TYPE_CHECKING:
    from .board import Board

__all__ = ["BOARD_NAMES", "BoardConfigError", "board_named"]

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
