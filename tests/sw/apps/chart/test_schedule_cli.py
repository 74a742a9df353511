"""`conveyor schedule` (sw/apps/cli.py): a compiled DIR and one of its runs, HTML and PNG, and
one-line errors."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conveyor.sw.apps.cli import main
from conveyor.sw.frontends.specs import compile_spec

ROOT = Path(__file__).resolve().parents[4]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_schedule_a_compiled_dir_and_one_of_its_runs(capsys, tmp_path):
    compiled = compile_spec("matmul:M=8,K=64,N=16", "tiny")
    assert len(compiled.runs) == 2
    compiled.save(tmp_path / "mm")
    code, out, err = run_cli(capsys, "schedule", tmp_path / "mm", "--run", "1",
                             "-o", tmp_path / "run1.svg")
    assert code == 0, err
    assert out.startswith(f"{tmp_path / 'run1.svg'}: {compiled.runs[1].predicted_cycles:,} cycles")
    root = ET.parse(tmp_path / "run1.svg").getroot()
    assert int(root.get("data-cycles")) == compiled.runs[1].predicted_cycles
    assert "run 1 of 2" in ET.tostring(root, encoding="unicode")
    code, _, err = run_cli(capsys, "schedule", tmp_path / "mm", "-o", tmp_path / "c.html")
    assert code == 0 and (tmp_path / "c.html").read_text().startswith("<!doctype html>")
    code, _, err = run_cli(capsys, "schedule", tmp_path / "mm", "--run", "2",
                           "-o", tmp_path / "x.svg")
    assert code == 1 and err.count("\n") == 1 and "2 runs (0..1)" in err


def test_schedule_writes_a_png(capsys, tmp_path):
    code, out, err = run_cli(capsys, "schedule", ROOT / "examples/vector_add.s", "--width", 800,
                             "-o", tmp_path / "c.png")
    assert code == 0, err
    assert out.startswith(f"{tmp_path / 'c.png'}: ")
    data = (tmp_path / "c.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 800


@pytest.mark.parametrize("target, output, message", [
    ("examples/vector_add.s", "chart.pdf", "a chart is written as .svg, .html, .png"),
    ("examples/vector_add.s", "chart", "a chart is written as"),
    ("README.md", "chart.svg", "not a Conveyor program image"),
    ("docs", "chart.svg", "docs: cannot read"),
    ("examples/nope.s", "chart.svg", "nope.s"),
])
def test_errors_are_one_line(capsys, tmp_path, target, output, message):
    code, out, err = run_cli(capsys, "schedule", ROOT / target, "-o", tmp_path / output)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / output).exists()
