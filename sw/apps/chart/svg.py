"""A pipeline chart (:class:`~.data.Chart`) drawn: a standalone SVG document
(:func:`render_svg`) and an HTML page with the SVG, a title and a legend (:func:`render_html`).

One row per queue, slices west to east, shaded by slice; each segment is a bar coloured by its
op family, as tall as its share of the row; a queue's busy share after its name. Below the rows,
the stream panel: the stream cells in flight, eastward up and westward down (area: the mean over
a bin, line: its peak). Every bar carries ``data-start``, ``data-end`` and ``data-n`` and a
tooltip; the root carries ``data-cycles``, ``data-bin`` and ``data-issues``.
"""

from __future__ import annotations

import html
import math

import numpy as np

from ....hw.machine.config import Queue
from .data import FAMILIES, LEFT, Chart, plot_width

__all__ = ["render_html", "render_svg"]

_COLOURS = {key: colour for key, _, colour in FAMILIES}
_EAST_COLOUR, _WEST_COLOUR = "#4e79a7", "#f28e2b"

# --- SVG ------------------------------------------------------------------------------------

_ROW, _GROUP_GAP = 12, 3      # row height, extra space between slices
_PANEL = 90                   # stream panel height (both directions)


def _nice_step(span: float, target: int) -> int:
    """A tick step of 1, 2 or 5 x 10^k giving about ``target`` ticks over ``span``."""
    raw = max(1.0, span / max(1, target))
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return int(m * power)
    return int(10 * power)


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def render_svg(chart: Chart) -> str:
    """The chart as a standalone SVG document."""
    c = chart
    plot = plot_width(c.width)
    sx = plot / c.cycles                       # pixels per cycle

    def x(cycle: float) -> str:
        return _fmt(LEFT + cycle * sx)

    out: list[str] = []
    y = 4
    # heading and legend
    mode = {"issues": "a bar per issue, from issue to issue + latency",
            "runs": "a bar per run of issues in consecutive cycles",
            "bins": f"{c.bin} cycles per bin: bar height = share of cycles the queue issued"
            }[c.mode]
    out.append(f'<text class="title" x="{LEFT}" y="{y + 13}">{html.escape(c.title)}</text>')
    y += 20
    util = f", MXM utilisation {c.mxm_utilization:.1%}" if c.mxm_utilization else ""
    out.append(f'<text class="note" x="{LEFT}" y="{y + 10}">{c.issues:,} issues{util}; '
               f'{html.escape(mode)}</text>')
    y += 16
    lx = LEFT
    for key, label, colour in FAMILIES:
        out.append(f'<rect x="{lx}" y="{y + 2}" width="10" height="10" fill="{colour}"/>'
                   f'<text class="legend" x="{lx + 13}" y="{y + 11}">{label}</text>')
        lx += 16 + 6 * len(label) + 10
    y += 20
    top_axis = y
    y += 14
    rows_top = y
    # rows, grouped by slice
    groups: list[tuple[str, list[Queue]]] = []
    for q in c.queues:
        if groups and groups[-1][0] == q.slice.name:
            groups[-1][1].append(q)
        else:
            groups.append((q.slice.name, [q]))
    body: list[str] = []
    kind = "issue single" if c.mode == "issues" else "issue"
    for g, (slice_name, queues) in enumerate(groups):
        height = len(queues) * _ROW
        shade = "#f3f3f3" if g % 2 == 0 else "#ffffff"
        body.append(f'<rect x="0" y="{y - 1}" width="{c.width}" height="{height + 2}" '
                    f'fill="{shade}"/>')
        for i, q in enumerate(queues):
            ry = y + i * _ROW
            label = q.name
            body.append(f'<text class="label" x="{LEFT - 36}" y="{ry + _ROW - 2}" '
                        f'text-anchor="end">{html.escape(label)}</text>'
                        f'<text class="busy" x="{LEFT - 4}" y="{ry + _ROW - 2}" '
                        f'text-anchor="end">{c.busy[q.name]:.0%}</text>')
            bars = [f'<g class="queue" data-queue="{html.escape(q.name)}">']
            for s in c.rows[q.name]:
                h = max(1.0, (_ROW - 2) * s.fill)
                colour = _COLOURS[s.family]
                w = max(0.5, (s.end - s.start) * sx)
                bars.append(f'<rect class="{kind}" x="{x(s.start)}" y="{_fmt(ry + _ROW - 1 - h)}" '
                            f'width="{_fmt(w)}" height="{_fmt(h)}" fill="{colour}" '
                            f'data-start="{s.start}" data-end="{s.end}" data-n="{s.issues}">'
                            f'<title>{html.escape(s.text)}</title></rect>')
            bars.append("</g>")
            body.append("".join(bars))
        y += height + _GROUP_GAP
    rows_bottom = y
    # time grid and axis
    step = _nice_step(c.cycles, plot // 90)
    grid, ticks = [], []
    for t in range(0, c.cycles + 1, step):
        grid.append(f'<line x1="{x(t)}" y1="{rows_top - 2}" x2="{x(t)}" '
                    f'y2="{rows_bottom + 8 + _PANEL}" class="grid"/>')
        ticks.append(f'<text class="tick" x="{x(t)}" y="{top_axis + 10}" '
                     f'text-anchor="middle">{t:,}</text>')
    end_line = (f'<line x1="{x(c.cycles)}" y1="{rows_top - 2}" x2="{x(c.cycles)}" '
                f'y2="{rows_bottom + 8 + _PANEL}" class="end"/>')
    out += body + grid + ticks + [end_line]
    # the stream panel
    y = rows_bottom + 8
    out += _stream_panel(c, y, sx)
    y += _PANEL + 4
    out.append(f'<text class="tick" x="{LEFT + plot}" y="{y + 10}" text-anchor="end">'
               f'cycle</text>')
    height = y + 16
    style = ("text{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;fill:#222}"
             ".title{font-size:14px;font-weight:bold}.note,.legend,.tick{font-size:10px}"
             ".label{font-size:10px;font-family:DejaVu Sans Mono,Menlo,monospace}"
             ".busy{font-size:9px;fill:#666}.grid{stroke:#000;stroke-opacity:.08}"
             ".end{stroke:#c00;stroke-dasharray:3 2}.single{stroke:#fff;stroke-width:.6}")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{c.width}" height="{height}" '
            f'viewBox="0 0 {c.width} {height}" data-cycles="{c.cycles}" data-bin="{c.bin}" '
            f'data-issues="{c.issues}">\n<style>{style}</style>\n'
            f'<rect width="100%" height="100%" fill="#fff"/>\n' + "\n".join(out) + "\n</svg>\n")


def _step_path(values: np.ndarray, x0: float, dx: float, base: float, scale: float) -> str:
    """A closed step area from the baseline: ``values[k]`` over ``x0 + k*dx`` .. ``+dx``."""
    parts = [f"M{_fmt(x0)} {_fmt(base)}"]
    last = None
    for k, v in enumerate(values):
        if v != last:
            parts.append(f"H{_fmt(x0 + k * dx)}V{_fmt(base - v * scale)}")
            last = v
    parts.append(f"H{_fmt(x0 + len(values) * dx)}V{_fmt(base)}Z")
    return "".join(parts)


def _stream_panel(c: Chart, y: float, sx: float) -> list[str]:
    half = _PANEL / 2
    mid = y + half
    top = max(1, int(c.peak.max()))
    scale = (half - 2) / top
    dx = c.bin * sx
    right = f'x="{LEFT - 4}" text-anchor="end"'
    out = [f'<text class="label" {right} y="{_fmt(y + 10)}">stream cells</text>',
           f'<text class="label" {right} y="{_fmt(y + 21)}">in flight</text>',
           f'<text class="tick" {right} y="{_fmt(mid - 3)}">east \u2191</text>',
           f'<text class="tick" {right} y="{_fmt(mid + 11)}">west \u2193</text>',
           (f'<text class="busy" {right} y="{_fmt(y + _PANEL - 2)}">scale \u00b1{top} of '
            f'{c.capacity}</text>'),
           (f'<line x1="{LEFT}" y1="{_fmt(mid)}" x2="{_fmt(LEFT + c.cycles * sx)}" '
            f'y2="{_fmt(mid)}" stroke="#999"/>')]
    for d, colour, sign in ((0, _EAST_COLOUR, 1), (1, _WEST_COLOUR, -1)):
        area = _step_path(np.round(c.inflight[d], 1), LEFT, dx, mid, sign * scale)
        out.append(f'<path class="inflight" data-dir="{"ew"[d]}" fill="{colour}" '
                   f'fill-opacity="0.6" d="{area}"/>')
        if c.bin > 1:
            line = _step_path(c.peak[d], LEFT, dx, mid, sign * scale)
            out.append(f'<path class="peak" data-dir="{"ew"[d]}" fill="none" '
                       f'stroke="{colour}" stroke-width="0.6" d="{line}"/>')
    return out


# --- HTML -----------------------------------------------------------------------------------

_DESCRIPTIONS = {
    "mem.read": "read: a MEM word onto a stream",
    "mem.write": "write: a stream into a MEM word",
    "vxm": "lane-wise ALU ops (add, requant, ...)",
    "mxm.lw": "lw: weight rows into the shadow buffer",
    "mxm.iw": "iw: shadow weights become active",
    "mxm.mm": "mm.set / mm.add: one vector times the weights (L\u00b2 MACs)",
    "mxm.accrd": "accrd: an accumulator row onto a stream group",
    "sxm": "lane moves and the transpose",
}


def render_html(chart: Chart) -> str:
    """A page with the chart's title, the SVG and a legend that explains it."""
    items = "".join(f'<li><span style="background:{colour}"></span><b>{label}</b> '
                    f"{html.escape(_DESCRIPTIONS[key])}</li>" for key, label, colour in FAMILIES)
    binned = ("" if chart.bin == 1 else
              f"<p>{chart.cycles:,} cycles do not fit {chart.width} pixels: each column is a "
              f"bin of {chart.bin} cycles; a bar's height is the share of the bin's cycles in "
              f"which the queue issued, its colour the family that issued most.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(chart.title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;color:#222}}
ul.legend{{list-style:none;padding:0;columns:2}}
ul.legend span{{display:inline-block;width:.9em;height:.9em;margin-right:.4em;
vertical-align:middle}}</style></head>
<body><h1>{html.escape(chart.title)}</h1>
<p>{chart.issues:,} slice instructions in {chart.cycles:,} cycles on {chart.config.name};
MXM utilisation {chart.mxm_utilization:.1%}. One row per queue, slices west to east; the
percentage after a queue's name is the share of cycles in which it issued. Each bar runs from an
instruction's issue to issue + latency. Hover over a bar for its instructions.</p>
{binned}
{render_svg(chart)}
<h2>Legend</h2><ul class="legend">{items}</ul>
<p>Stream panel: stream cells holding a value that a slice will still read (from the cycle it is
put on a stream to the last cycle it is read), eastward above the line, westward below
{"" if chart.bin == 1 else "(area: the mean over the bin, line: its peak)"}; the streams hold
{chart.capacity} cells per direction ({chart.config.streams} streams \u00d7
{chart.config.positions} positions).</p>
</body></html>
"""
