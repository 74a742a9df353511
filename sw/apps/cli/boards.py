"""``conveyor build`` and ``conveyor flash``, and the options that put ``conveyor run`` on a
board (docs/boards.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ....hw.machine.config import load_config
from .backends import BoardPort

__all__ = ["add", "board_port", "board_run_args", "default_config"]


def _board_names() -> str:
    from ....hw.boards import BOARD_NAMES
    return ", ".join(BOARD_NAMES)


def board_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", metavar="BOARD",
                   help=f"run on a board through its UART bridge ({_board_names()})")
    p.add_argument("--port", metavar="DEV", help="--board: its serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, help="--board: baud rate (default: the board's, from "
                   "constraints/BOARD.toml)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="--board: seconds to wait for done (10)")


def board_port(args) -> BoardPort | None:
    """Where ``--board`` says to run, or None."""
    if not args.board:
        return None
    return BoardPort(args.board, args.port, args.baud, args.timeout)


def default_config(args) -> str:
    """small16, or with ``--board`` the core that board builds by default."""
    if args.board:
        from ....hw.boards import board_named
        return board_named(args.board).constraints.config
    return "small16"


def add(sub) -> None:
    p = sub.add_parser("build", help="build a bitstream for a board and sign off its timing",
                       description="Synthesise, place and route the core with its UART bridge "
                       "for a board with the YoWASP tools, write report.json (fmax, LUTs, FFs, "
                       "block RAM, DSPs) and fail if fmax is below the clock.")
    p.add_argument("--board", required=True, metavar="BOARD", help=_board_names())
    p.add_argument("-c", "--config", metavar="NAME|FILE.toml",
                   help="core configuration (default: the board's, from constraints/BOARD.toml)")
    p.add_argument("--freq", type=float, metavar="MHZ",
                   help="core clock (default: the board's target); the PLL makes the nearest "
                        "clock at or above it")
    p.add_argument("--lut-columns", type=int, metavar="N",
                   help="MXM product columns built as LUT multipliers (default: what leaves "
                        "the board's DSPs enough)")
    p.add_argument("-o", "--out-dir", metavar="DIR", help="build directory (build/BOARD)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the tools' output")
    p.add_argument("--echo", action="store_true",
                   help="build the bring-up design instead of the core: the UART echoes every "
                        "byte and an LED blinks (checks a board's clock, UART and the tools)")
    p.set_defaults(handler=build)

    p = sub.add_parser("flash", help="load a bitstream onto a board with openFPGALoader")
    p.add_argument("bitstream", nargs="?",
                   help="bitstream (default: build/BOARD/top.bin or top.bit)")
    p.add_argument("--board", required=True, metavar="BOARD", help=_board_names())
    p.add_argument("--persist", action=argparse.BooleanOptionalAction, default=None,
                   help="write the SPI flash (the board boots from it) rather than SRAM; "
                        "default: the board's (iCEBreaker: flash, ULX3S: SRAM)")
    p.set_defaults(handler=flash)


def build(args) -> int:
    from ....hw.boards import board_named
    from ....hw.boards.build import build_core, build_echo, default_lut_columns
    board = board_named(args.board)
    out_dir = Path(args.out_dir or Path("build") / board.name)
    if args.echo:
        report = build_echo(board, out_dir=out_dir, mhz=args.freq, verbose=args.verbose)
    else:
        config = load_config(args.config or board.constraints.config)
        lut_columns = (default_lut_columns(board, config) if args.lut_columns is None
                       else args.lut_columns)
        report = build_core(board, config, out_dir=out_dir, mhz=args.freq,
                            lut_columns=lut_columns, verbose=args.verbose)
    print(report.summary())
    print(f"report: {out_dir / 'report.json'}")
    return 0


def flash(args) -> int:
    from ....hw.boards import board_named
    from ....hw.boards.flash import flash as load
    board = board_named(args.board)
    bitstream = Path(args.bitstream or Path("build") / board.name / f"top{board.bitstream}")
    print(f"{args.board}: {load(board, bitstream, persist=args.persist)}")
    return 0
