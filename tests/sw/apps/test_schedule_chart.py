"""Pipeline charts (sw/apps/schedule_chart.py and `conveyor schedule`): well-formed SVG, one row per
queue, a bar for every issue, bins on a long program, stream occupancy, one-line errors."""

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import cycle_count, timeline
from conveyor.hw.machine.timing import latency
from conveyor.sw.apps import schedule_chart
from conveyor.sw.apps.bench import golden_pipeline
from conveyor.sw.apps.cli import main
from conveyor.sw.apps.schedule_chart import chart_data, render_html, render_svg, write_chart
from conveyor.sw.asm import assemble, assemble_file
from conveyor.sw.compiler import compile_spec

ROOT = Path(__file__).resolve().parents[3]
SVG = "{http://www.w3.org/2000/svg}"


def _issues(program):
    return [i for i in timeline(program) if i.instr.op.mnemonic != "halt"]


def _bars(svg_text: str) -> dict[str, list[dict]]:
    """queue name -> its bars' attributes, from the SVG."""
    root = ET.fromstring(svg_text)
    return {g.get("data-queue"): [r.attrib for r in g.iter(f"{SVG}rect")]
            for g in root.iter(f"{SVG}g") if g.get("class") == "queue"}


def test_a_small_program_has_one_row_per_queue_and_a_bar_per_issue():
    program = assemble_file(ROOT / "examples/vector_add.s", PRESETS["tiny"])
    chart = chart_data(program)
    svg = render_svg(chart)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and int(root.get("data-cycles")) == cycle_count(program)
    bars = _bars(svg)
    assert list(bars) == [q.name for q in PRESETS["tiny"].queues]
    assert chart.mode == "issues" and chart.bin == 1
    want = Counter((i.queue.name, i.cycle, i.cycle + latency(i.instr.op))
                   for i in _issues(program))
    got = Counter((q, int(b["data-start"]), int(b["data-end"]))
                  for q, rects in bars.items() for b in rects)
    assert got == want and sum(want.values()) == chart.issues == 32


def test_runs_of_issues_cover_every_issue():
    program = assemble_file(ROOT / "examples/matmul.s", PRESETS["small16"])
    chart = chart_data(program, width=2400)  # about 2 pixels per cycle: runs, not bins
    assert chart.mode == "runs" and chart.bin == 1
    bars = _bars(render_svg(chart))
    per_queue = Counter(i.queue.name for i in _issues(program))
    for queue, rects in bars.items():
        assert sum(int(b["data-n"]) for b in rects) == per_queue[queue], queue
        spans = [(int(b["data-start"]), int(b["data-end"])) for b in rects]
        for issue in (i for i in _issues(program) if i.queue.name == queue):
            assert any(a <= issue.cycle < b for a, b in spans), (queue, issue.cycle)
    assert sum(len(r) for r in bars.values()) < chart.issues / 5  # runs keep the file small


def test_a_long_program_is_binned():
    program = golden_pipeline(PRESETS["small16"], blocks=10)  # ~10k cycles, 6 busy queues
    chart = chart_data(program, width=1000)
    svg = render_svg(chart)
    root = ET.fromstring(svg)
    assert chart.mode == "bins" and chart.bin == -(-chart.cycles // (1000 - 150))
    assert int(root.get("data-bin")) == chart.bin > 1
    bars = _bars(svg)
    per_queue = Counter(i.queue.name for i in _issues(program))
    assert {q: sum(int(b["data-n"]) for b in r) for q, r in bars.items() if r} == per_queue
    assert sum(len(r) for r in bars.values()) < 60  # full queues merge into a few bars
    assert chart.busy["mem0.rd"] > 0.99 and chart.busy["sxm0"] == 0
    assert len(svg) < 40_000
    assert chart.inflight.shape == (2, chart.columns)


def test_stream_cells_in_flight_follow_a_value_from_write_to_last_read():
    # mem0 (position 0) puts a word on e0 in cycle 1; mem4 (position 5 on tiny) takes it in
    # cycle 6: one eastward cell is in use in cycles 1..6, nothing westward (mem4.wr's halt
    # issues in cycle 7, so the run takes 8 cycles).
    text = ".queue mem0.rd\n read 0 -> e0\n.queue mem4.wr\n nop 6\n write e0 -> 0\n"
    program = assemble(text, PRESETS["tiny"])
    chart = chart_data(program)
    assert chart.cycles == cycle_count(program) == 8
    assert chart.inflight[0].tolist() == [0, 1, 1, 1, 1, 1, 1, 0]
    assert not chart.inflight[1].any()
    # a group (int32) result is four cells; the three that nothing reads live one cycle
    program = assemble(".queue mem0.rd\n read 0 -> e0\n.queue vxm0.alu0\n nop 5\n"
                       " cvt.i8.i32 e0 -> w0:4\n.queue mem3.wr\n nop 7\n write w0 -> 0\n",
                       PRESETS["tiny"])
    chart = chart_data(program)
    assert chart.inflight[1].tolist()[5:9] == [0, 4, 1, 0]


def test_html_embeds_the_svg_with_a_title_and_a_legend(tmp_path):
    program = assemble_file(ROOT / "examples/transpose.s", PRESETS["small16"])
    chart = chart_data(program, title="corner turn")
    page = render_html(chart)
    assert "<title>corner turn</title>" in page
    for _, label, _ in schedule_chart.FAMILIES:
        assert f"<b>{label}</b>" in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert len(_bars(svg)) == len(PRESETS["small16"].queues)


# --- the command ----------------------------------------------------------------------------

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


def test_png_without_a_rasteriser_is_refused_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cairosvg", None)  # import fails
    monkeypatch.setattr(schedule_chart.shutil, "which", lambda name: None)
    code, _, err = run_cli(capsys, "schedule", ROOT / "examples/vector_add.s",
                           "-o", tmp_path / "c.png")
    assert code == 1 and err.count("\n") == 1 and "PNG needs an SVG rasteriser" in err


def test_write_chart_writes_svg_that_parses(tmp_path):
    program = assemble_file(ROOT / "examples/loop64.s", PRESETS["small16"])
    out = write_chart(chart_data(program), tmp_path / "loop.svg")
    root = ET.parse(out).getroot()
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert titles and all(t.startswith(tuple(q.name for q in PRESETS["small16"].queues))
                          for t in titles)
    assert np.isfinite(float(root.get("width")))
