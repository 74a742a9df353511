"""Pipeline charts drawn (sw/apps/chart/svg.py): well-formed SVG with a bar for every segment of
the chart's data, small on a long program; HTML with the SVG, a title and a legend."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sw.apps.bench import golden_pipeline
from conveyor.sw.apps.chart import FAMILIES, chart_data, render_html, render_svg
from conveyor.sw.asm import assemble_file

ROOT = Path(__file__).resolve().parents[4]
SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg_text: str) -> dict[str, list[dict]]:
    """queue name -> its bars' attributes, from the SVG."""
    root = ET.fromstring(svg_text)
    return {g.get("data-queue"): [r.attrib for r in g.iter(f"{SVG}rect")]
            for g in root.iter(f"{SVG}g") if g.get("class") == "queue"}


@pytest.mark.parametrize("program, width, mode", [
    (lambda: assemble_file(ROOT / "examples/vector_add.s", PRESETS["tiny"]), 1200, "issues"),
    (lambda: assemble_file(ROOT / "examples/matmul.s", PRESETS["small16"]), 2400, "runs"),
    (lambda: golden_pipeline(PRESETS["small16"], blocks=10), 1000, "bins"),
], ids=["issues", "runs", "bins"])
def test_the_svg_has_a_row_per_queue_and_a_bar_per_segment(program, width, mode):
    program = program()
    chart = chart_data(program, width=width)
    assert chart.mode == mode
    svg = render_svg(chart)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and int(root.get("width")) == width
    assert int(root.get("data-cycles")) == chart.cycles
    assert int(root.get("data-bin")) == chart.bin
    assert int(root.get("data-issues")) == chart.issues
    bars = _bars(svg)
    assert list(bars) == [q.name for q in program.config.queues]
    for queue, rects in bars.items():
        got = [(int(b["data-start"]), int(b["data-end"]), int(b["data-n"])) for b in rects]
        assert got == [(s.start, s.end, s.issues) for s in chart.rows[queue]], queue
    assert len(svg) < 40_000 or mode != "bins"  # a long program draws a small file


def test_html_embeds_the_svg_with_a_title_and_a_legend():
    program = assemble_file(ROOT / "examples/transpose.s", PRESETS["small16"])
    chart = chart_data(program, title="corner turn")
    page = render_html(chart)
    assert "<title>corner turn</title>" in page
    for _, label, _ in FAMILIES:
        assert f"<b>{label}</b>" in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert len(_bars(svg)) == len(PRESETS["small16"].queues)
