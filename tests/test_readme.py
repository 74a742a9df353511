"""The README's commands are the ones CI runs, and they work when pasted."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.DOTALL)


def _commands(block: str) -> list[str]:
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def test_ci_runs_the_readme_setup_and_test_commands():
    setup = _commands(_code_blocks("sh")[0])
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
          if line.strip() and not line.startswith("#")
          and not line.startswith(("set ", "cd "))]
    assert ci == setup


def test_main_job_commands_work_when_pasted(tmp_path):
    for command in _commands(_code_blocks("sh")[1]):
        if "--backend verilator" in command:
            continue  # the RTL run is covered in tests/sim with a shared, cached model
        argv = shlex.split(command.replace(" core.v", f" {tmp_path / 'core.v'}"))
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        assert done.stdout.strip(), command


def test_the_digits_readme_snippet_runs_as_written():
    """The Python in examples/digits/README.md, pasted into a fresh interpreter at the root."""
    text = (ROOT / "examples" / "digits" / "README.md").read_text()
    snippet = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0]
    done = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert 0.95 < float(done.stdout.strip()) <= 1.0
