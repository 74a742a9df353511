"""A pipeline chart as a file, its format chosen by the suffix: ``.svg`` (:func:`~.svg.render_svg`),
``.html`` (:func:`~.svg.render_html`) or ``.png`` (the SVG rasterised by resvg, through the
``resvg-py`` wheel: no system libraries, no external program).

:func:`check_output` refuses an unknown suffix before any work is done; :func:`write_chart`
writes the file.
"""

from __future__ import annotations

from pathlib import Path

from .data import Chart, ChartError
from .svg import render_html, render_svg

__all__ = ["FORMATS", "check_output", "write_chart"]

#: Formats :func:`write_chart` writes, by file suffix.
FORMATS = (".svg", ".html", ".png")


def _png(svg: str) -> bytes:
    """``svg`` rasterised at its own size (one pixel per SVG unit)."""
    import resvg_py

    try:
        return resvg_py.svg_to_bytes(svg_string=svg)
    except ValueError as e:  # resvg's parse and render errors
        raise ChartError(f"resvg could not rasterise the chart: {e}") from None


def check_output(path: str | Path) -> Path:
    """``path`` if its suffix is a chart format, else ChartError (before any work is done)."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise ChartError(f"{out}: a chart is written as {', '.join(FORMATS)}, not "
                         f"{out.suffix or 'a file without a suffix'}")
    return out


def write_chart(chart: Chart, path: str | Path) -> Path:
    """Write ``chart`` as SVG, HTML or PNG, by the suffix of ``path``."""
    out = check_output(path)
    suffix = out.suffix.lower()
    try:
        if suffix == ".svg":
            out.write_text(render_svg(chart), encoding="utf-8")
        elif suffix == ".html":
            out.write_text(render_html(chart), encoding="utf-8")
        else:
            out.write_bytes(_png(render_svg(chart)))
    except OSError as e:
        raise ChartError(f"{out}: cannot write ({e.strerror})") from None
    return out
