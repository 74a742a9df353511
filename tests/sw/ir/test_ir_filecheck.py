"""FileCheck golden tests: every ``// RUN:`` line of the ``*.mlir`` files next to this one runs
in bash (``%s`` is the file, ``not CMD`` inverts CMD's exit status, pipefail on) and must exit
0. ``conveyor`` and ``filecheck`` come from PATH, as in xDSL's lit tests."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CASES = [(path, n, cmd) for path in sorted(HERE.glob("*.mlir"))
         for n, cmd in enumerate(re.findall(r"^// RUN: (.*)$", path.read_text(), re.MULTILINE))]
_PRELUDE = "set -o pipefail\nnot() { ! \"$@\"; }\n"


def test_every_file_has_a_run_line():
    assert {path for path, _, _ in CASES} == set(HERE.glob("*.mlir"))


@pytest.mark.skipif(shutil.which("filecheck") is None, reason="filecheck is not installed")
@pytest.mark.parametrize("path, n, cmd", CASES, ids=[f"{p.stem}-{n}" for p, n, _ in CASES])
def test_run_line(path: Path, n: int, cmd: str):
    script = _PRELUDE + cmd.replace("%s", shlex.quote(str(path)))
    done = subprocess.run(["bash", "-c", script], cwd=HERE, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"RUN: {cmd}\n{done.stdout}\n{done.stderr}"
