"""Pipeline charts of a program (``conveyor schedule``): which queue issues what in which cycle,
and how full the streams are, as SVG, HTML (the SVG with a title and a legend) or PNG.

- :mod:`.data`: :func:`chart_data` computes a :class:`Chart` (rows of :class:`Segment`, bins,
  stream cells in flight) from a program's timeline alone; nothing is simulated.
- :mod:`.svg`: :func:`render_svg` and :func:`render_html` draw it.
- :mod:`.files`: :func:`write_chart` picks the format from the file name (PNG through resvg).
"""

from __future__ import annotations

from .data import FAMILIES, Chart, ChartError, Segment, chart_data, family
from .files import FORMATS, check_output, write_chart
from .svg import render_html, render_svg

__all__ = ["FAMILIES", "FORMATS", "Chart", "ChartError", "Segment", "chart_data",
           "check_output", "family", "render_html", "render_svg", "write_chart"]
