"""Pipeline charts as files (sw/apps/chart/files.py): SVG that parses, a real PNG of the SVG's
size, an unknown suffix refused before any work."""

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sw.apps.chart import ChartError, chart_data, check_output, render_svg, write_chart
from conveyor.sw.asm import assemble_file

ROOT = Path(__file__).resolve().parents[4]
SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first, right after the signature)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert kind == b"IHDR" and length == 13
    return width, height


def test_write_chart_writes_svg_that_parses(tmp_path):
    program = assemble_file(ROOT / "examples/loop64.s", PRESETS["small16"])
    out = write_chart(chart_data(program), tmp_path / "loop.svg")
    root = ET.parse(out).getroot()
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert titles and all(t.startswith(tuple(q.name for q in PRESETS["small16"].queues))
                          for t in titles)
    assert np.isfinite(float(root.get("width")))


def test_write_chart_writes_a_png_of_the_svg_size(tmp_path):
    program = assemble_file(ROOT / "examples/vector_add.s", PRESETS["tiny"])
    chart = chart_data(program, width=900)
    out = write_chart(chart, tmp_path / "c.PNG")  # the suffix in any case
    root = ET.fromstring(render_svg(chart))
    assert png_size(out.read_bytes()) == (900, int(root.get("height")))


@pytest.mark.parametrize("name", ["chart.pdf", "chart"])
def test_an_unknown_suffix_is_refused(tmp_path, name):
    with pytest.raises(ChartError, match="a chart is written as .svg, .html, .png"):
        check_output(tmp_path / name)
