"""Pipeline charts of a program: which queue issues what in which cycle, and how full the
streams are, as SVG (written directly), HTML (the SVG with a title and a legend) or PNG (through
an SVG rasteriser, if one is installed).

One row per queue, grouped by slice from west to east; time runs left to right. Each slice
instruction is a bar from its issue cycle to issue + latency (``hw/machine/timing.py``), coloured by op
family; issues of one family in consecutive cycles are drawn as one bar. When a program has
more cycles than the plot has pixels, cycles are aggregated into bins of ``b`` cycles: a row's
bar in a bin is as tall as the fraction of the bin's cycles in which the queue issued, coloured
by the family that issued most. The panel below shows the *stream cells in flight* per cycle
(or the mean per bin, with the bin's peak as a line): every value from the cycle a slice puts it
on a stream until the last cycle a slice reads it, eastward up and westward down. A gap in the
``mxm.mm`` row is the MXM idling; the rows and the stream panel around it show what it waits for.

:func:`chart_data` computes the chart from a program's :func:`~conveyor.hw.machine.program.timeline`
alone (no simulation); :func:`render_svg` and :func:`render_html` draw it; :func:`write_chart`
picks the format from the file name.
"""

from __future__ import annotations

import html
import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ConveyorError
from ...hw.machine.config import CoreConfig, Queue
from ...hw.machine.isa import Stream
from ...hw.machine.program import Program, mxm_utilization, timeline
from ...hw.machine.timing import latency

__all__ = ["FAMILIES", "Chart", "ChartError", "Segment", "chart_data", "family", "render_html",
           "render_svg", "write_chart"]


class ChartError(ConveyorError):
    """A chart that cannot be written (an unknown format, no rasteriser for PNG)."""


#: Op families: key, legend label, colour (Tableau 10), in legend order.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("mem.read", "MEM read", "#4e79a7"),
    ("mem.write", "MEM write", "#76b7b2"),
    ("vxm", "VXM", "#f28e2b"),
    ("mxm.lw", "MXM lw", "#8cd17d"),
    ("mxm.iw", "MXM iw", "#b6992d"),
    ("mxm.mm", "MXM mm", "#2f7d32"),
    ("mxm.accrd", "MXM accrd", "#e15759"),
    ("sxm", "SXM", "#b07aa1"),
)
_FAMILY_INDEX = {key: i for i, (key, _, _) in enumerate(FAMILIES)}
_EAST_COLOUR, _WEST_COLOUR = "#4e79a7", "#f28e2b"

#: Formats :func:`write_chart` writes, by file suffix.
FORMATS = (".svg", ".html", ".png")

#: A binned row's bar height is rounded up to a multiple of 1/_LEVELS of the row.
_LEVELS = 8


def family(mnemonic: str, kind: str) -> str:
    """The family key of an op (:data:`FAMILIES`)."""
    if kind == "mem":
        return "mem.read" if mnemonic == "read" else "mem.write"
    if kind == "mxm":
        return "mxm.mm" if mnemonic.startswith("mm.") else f"mxm.{mnemonic}"
    return kind


@dataclass
class Segment:
    """One bar of a row: cycles ``start`` .. ``end`` (exclusive), its family, how many issues
    it stands for, the fraction of the row's height it fills, and a tooltip."""

    start: int
    end: int
    family: str
    issues: int
    fill: float = 1.0
    text: str = ""


@dataclass
class Chart:
    """Everything a renderer needs.

    Members
    -------
    config : the core.
    title : the chart's heading.
    cycles : the program's cycle count C.
    bin : cycles per column; 1 draws every issue, more means aggregated bins.
    mode : ``"issues"`` (a bar per issue), ``"runs"`` (a bar per run of issues in consecutive
        cycles: the plot has under 4 pixels per cycle) or ``"bins"``.
    queues : one row each, in config order (slices west to east).
    rows : queue name -> its bars.
    busy : queue name -> fraction of the C cycles in which it issued.
    issues : slice instructions issued (each repetition counted; ``halt`` not).
    inflight : (2, columns) mean stream cells in flight per column, eastward then westward.
    peak : (2, columns) the most in any cycle of each column.
    capacity : stream cells per direction (streams x positions).
    mxm_utilization : useful MACs / (L^2 x C x MXM slices).
    """

    config: CoreConfig
    title: str
    cycles: int
    bin: int
    queues: tuple[Queue, ...]
    rows: dict[str, list[Segment]]
    busy: dict[str, float]
    issues: int
    inflight: np.ndarray
    peak: np.ndarray
    capacity: int
    mxm_utilization: float
    width: int = 1200
    mode: str = "issues"

    @property
    def columns(self) -> int:
        return -(-self.cycles // self.bin)


# --- the data -------------------------------------------------------------------------------

def _total_issues(program: Program) -> int:
    """Slice instructions the program issues, from the queue lists (cheap: no timeline)."""
    total = 0
    for instrs in program.queues.values():
        for instr in instrs:
            name = instr.op.mnemonic
            if name == "repeat":
                total += instr["n"]
            elif instr.op.kind != "icu":
                total += 1
    return total


_Cell = tuple[int, int, int]  # (direction 0 east / 1 west, stream, q = +-position)


def _cells(stream: Stream, position: int) -> tuple[_Cell, ...]:
    east = stream.dir == "e"
    q = position if east else -position
    return tuple((0 if east else 1, s, q) for s in stream.lanes_of())


class _Streams:
    """Matches every stream read to the write it sees (the nearest upstream write on its
    diagonal, as the golden model does: docs/architecture.md) and keeps, per write, the last
    cycle in which it is read. Writes must be added before the reads that see them, which
    issue order guarantees (a result lands at least one cycle after its issue)."""

    def __init__(self) -> None:
        self.writers: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
        self.start: list[int] = []
        self.last: list[int] = []
        self.dir: list[int] = []

    def write(self, cells: tuple[_Cell, ...], cycle: int) -> None:
        for d, s, q in cells:
            self.writers.setdefault((d, s, cycle - q), []).append((q, len(self.start)))
            self.start.append(cycle)
            self.last.append(cycle)
            self.dir.append(d)

    def read(self, cells: tuple[_Cell, ...], cycle: int) -> None:
        last = self.last
        for d, s, q in cells:
            best_q, best = None, -1
            for q_w, w in self.writers.get((d, s, cycle - q), ()):
                if q_w <= q and (best_q is None or q_w > best_q):
                    best_q, best = q_w, w
            if best >= 0 and last[best] < cycle:
                last[best] = cycle

    def inflight(self, cycles: int) -> np.ndarray:
        """(2, cycles): stream cells holding a value that is still to be read, per cycle."""
        out = np.zeros((2, cycles + 1), np.int64)
        if self.start:
            start, last, d = np.array(self.start), np.array(self.last), np.array(self.dir)
            keep = start < cycles
            np.add.at(out, (d[keep], start[keep]), 1)
            np.add.at(out, (d[keep], np.minimum(last[keep] + 1, cycles)), -1)
        return np.cumsum(out, axis=1)[:, :cycles]


def _decode(queue: Queue, instr) -> tuple[int, int, tuple[_Cell, ...], tuple[_Cell, ...]]:
    """A queue entry's latency, family index (-1 for halt), and the stream cells it reads and
    writes; the same for every repetition (repeat's stride moves addresses, not streams)."""
    op = instr.op
    if op.mnemonic == "halt":
        return 0, -1, (), ()
    position = queue.slice.position
    reads = tuple(cell for name, value in instr.args
                  if isinstance(value, Stream) and name in op.reads
                  for cell in _cells(value, position))
    writes = _cells(instr["d"], position) if op.writes else ()
    return latency(op), _FAMILY_INDEX[family(op.mnemonic, op.kind)], reads, writes


class _Rows:
    """Per queue, every issue: cycle, family index, latency and instruction."""

    def __init__(self, queues: tuple[Queue, ...]) -> None:
        self.cycle: dict[str, list[int]] = {q.name: [] for q in queues}
        self.fam: dict[str, list[int]] = {q.name: [] for q in queues}
        self.lat: dict[str, list[int]] = {q.name: [] for q in queues}
        self.instr: dict[str, list] = {q.name: [] for q in queues}

    def add(self, queue: str, cycle: int, fam: int, lat: int, instr) -> None:
        self.cycle[queue].append(cycle)
        self.fam[queue].append(fam)
        self.lat[queue].append(max(lat, 1))
        self.instr[queue].append(instr)

    def singles(self, queue: str) -> list[Segment]:
        """One bar per issue."""
        return [Segment(c, c + lat, FAMILIES[f][0], 1, 1.0, f"{queue}: cycle {c}: {instr}")
                for c, f, lat, instr in zip(self.cycle[queue], self.fam[queue],
                                            self.lat[queue], self.instr[queue])]

    def runs(self, queue: str) -> list[Segment]:
        """One bar per run of issues of one family and latency in consecutive cycles."""
        out: list[Segment] = []
        cycles, fams, lats = self.cycle[queue], self.fam[queue], self.lat[queue]
        k = 0
        while k < len(cycles):
            j = k
            while (j + 1 < len(cycles) and cycles[j + 1] == cycles[j] + 1
                   and fams[j + 1] == fams[k] and lats[j + 1] == lats[k]):
                j += 1
            first, last, n = cycles[k], cycles[j], j - k + 1
            what = (f"{self.instr[queue][k]} ... ({n} issues, cycles {first}..{last})" if n > 1
                    else f"cycle {first}: {self.instr[queue][k]}")
            out.append(Segment(first, last + lats[k], FAMILIES[fams[k]][0], n, 1.0,
                               f"{queue}: {what}"))
            k = j + 1
        return out


#: Below this many pixels per cycle, issues in consecutive cycles share one bar.
_SINGLE_PX = 4.0


def chart_data(program: Program, *, width: int = 1200, title: str | None = None,
               subject: str | None = None, useful_macs: int | None = None,
               show_progress: bool | None = None) -> Chart:
    """The chart of ``program``, ``width`` pixels wide.

    Parameters
    ----------
    program : any valid program (its timeline is all that is read; nothing is simulated).
    width : the picture's width; the plot gets ``width - 150`` pixels, and a program with more
        cycles than that is aggregated into bins.
    title : heading (default: ``subject`` or the config, and the cycle count).
    subject : what the program is, for the default heading.
    useful_macs : for the MXM utilisation in the heading (default: L^2 per ``mm``).
    show_progress : a progress bar on stderr (default: when stderr is a terminal and the
        program is long).
    """
    from ...progress import progress

    cfg = program.config
    if width < 400:
        raise ChartError(f"--width must be at least 400 pixels, not {width}")
    total = _total_issues(program)
    show = show_progress if show_progress is not None else (None if total > 20_000 else False)
    rows, streams = _Rows(cfg.queues), _Streams()
    end, seen = 1, 0
    decoded: dict[tuple[str, int], tuple] = {}
    with progress(f"charting {total:,} issues", total, show=show) as advance:
        for issue in timeline(program):
            key = (issue.queue.name, issue.index)
            entry = decoded.get(key)
            if entry is None:
                entry = decoded[key] = _decode(issue.queue, issue.instr)
            lat, fam, reads, writes = entry
            cycle = issue.cycle
            if fam < 0:  # halt
                end = max(end, cycle + 1)
                continue
            end = max(end, cycle + lat)
            if reads:
                streams.read(reads, cycle)
            if writes:
                streams.write(writes, cycle + lat)
            rows.add(key[0], cycle, fam, lat, issue.instr)
            seen += 1
            if seen % 4096 == 0:
                advance(4096)
        advance(seen % 4096)
    plot = width - _LEFT - _RIGHT
    b = 1 if end <= plot else -(-end // plot)
    per_cycle = streams.inflight(end)
    columns = -(-end // b)
    padded = np.zeros((2, columns * b), np.int64)
    padded[:, :end] = per_cycle
    inflight = padded.reshape(2, columns, b).sum(axis=2) / np.minimum(
        b, end - np.arange(columns) * b)
    peak = padded.reshape(2, columns, b).max(axis=2)
    busy = {q.name: len(rows.cycle[q.name]) / end for q in cfg.queues}
    if b > 1:
        mode, segments = "bins", {q.name: _binned(q.name, rows, b, columns, end)
                                  for q in cfg.queues}
    elif plot / end >= _SINGLE_PX:
        mode, segments = "issues", {q.name: rows.singles(q.name) for q in cfg.queues}
    else:
        mode, segments = "runs", {q.name: rows.runs(q.name) for q in cfg.queues}
    util = mxm_utilization(program, end, useful_macs)
    heading = title or f"{subject or cfg.name}: {end:,} cycles"
    return Chart(cfg, heading, end, b, cfg.queues, segments, busy, seen, inflight, peak,
                 cfg.streams * cfg.positions, util, width, mode)


def _binned(queue: str, rows: _Rows, b: int, columns: int, end: int) -> list[Segment]:
    """A queue's bins: per bin the fraction of its cycles that issued and the family that
    issued most, adjacent bins with the same family and height merged into one bar."""
    if not rows.cycle[queue]:
        return []
    cols = np.array(rows.cycle[queue]) // b
    counts = np.zeros((len(FAMILIES), columns), np.int64)
    np.add.at(counts, (np.array(rows.fam[queue]), cols), 1)
    issued = counts.sum(axis=0)
    width = np.minimum(b, end - np.arange(columns) * b)
    level = np.ceil(issued / width * _LEVELS).astype(int)
    top = counts.argmax(axis=0)
    out: list[Segment] = []
    k = 0
    while k < columns:
        if issued[k] == 0:
            k += 1
            continue
        j = k
        while j + 1 < columns and issued[j + 1] and level[j + 1] == level[k] \
                and top[j + 1] == top[k]:
            j += 1
        n = int(issued[k:j + 1].sum())
        start, stop = k * b, min(end, (j + 1) * b)
        fam = FAMILIES[top[k]][0]
        share = n / (stop - start)
        names = ", ".join(FAMILIES[i][1] for i in np.nonzero(counts[:, k:j + 1].sum(axis=1))[0])
        out.append(Segment(start, stop, fam, n, level[k] / _LEVELS,
                           f"{queue}: cycles {start}..{stop - 1}, issuing in {share:.0%} of "
                           f"them ({n} issues: {names})"))
        k = j + 1
    return out


# --- SVG ------------------------------------------------------------------------------------

_LEFT, _RIGHT = 130, 20       # label column, right margin
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
    plot = c.width - _LEFT - _RIGHT
    sx = plot / c.cycles                       # pixels per cycle

    def x(cycle: float) -> str:
        return _fmt(_LEFT + cycle * sx)

    out: list[str] = []
    y = 4
    # heading and legend
    mode = {"issues": "a bar per issue, from issue to issue + latency",
            "runs": "a bar per run of issues in consecutive cycles",
            "bins": f"{c.bin} cycles per bin: bar height = share of cycles the queue issued"
            }[c.mode]
    out.append(f'<text class="title" x="{_LEFT}" y="{y + 13}">{html.escape(c.title)}</text>')
    y += 20
    util = f", MXM utilisation {c.mxm_utilization:.1%}" if c.mxm_utilization else ""
    out.append(f'<text class="note" x="{_LEFT}" y="{y + 10}">{c.issues:,} issues{util}; '
               f'{html.escape(mode)}</text>')
    y += 16
    lx = _LEFT
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
            body.append(f'<text class="label" x="{_LEFT - 36}" y="{ry + _ROW - 2}" '
                        f'text-anchor="end">{html.escape(label)}</text>'
                        f'<text class="busy" x="{_LEFT - 4}" y="{ry + _ROW - 2}" '
                        f'text-anchor="end">{c.busy[q.name]:.0%}</text>')
            bars = [f'<g class="queue" data-queue="{html.escape(q.name)}">']
            for s in c.rows[q.name]:
                h = max(1.0, (_ROW - 2) * s.fill)
                colour = FAMILIES[_FAMILY_INDEX[s.family]][2]
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
    out.append(f'<text class="tick" x="{_LEFT + plot}" y="{y + 10}" text-anchor="end">'
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
    right = f'x="{_LEFT - 4}" text-anchor="end"'
    out = [f'<text class="label" {right} y="{_fmt(y + 10)}">stream cells</text>',
           f'<text class="label" {right} y="{_fmt(y + 21)}">in flight</text>',
           f'<text class="tick" {right} y="{_fmt(mid - 3)}">east \u2191</text>',
           f'<text class="tick" {right} y="{_fmt(mid + 11)}">west \u2193</text>',
           (f'<text class="busy" {right} y="{_fmt(y + _PANEL - 2)}">scale \u00b1{top} of '
            f'{c.capacity}</text>'),
           (f'<line x1="{_LEFT}" y1="{_fmt(mid)}" x2="{_fmt(_LEFT + c.cycles * sx)}" '
            f'y2="{_fmt(mid)}" stroke="#999"/>')]
    for d, colour, sign in ((0, _EAST_COLOUR, 1), (1, _WEST_COLOUR, -1)):
        area = _step_path(np.round(c.inflight[d], 1), _LEFT, dx, mid, sign * scale)
        out.append(f'<path class="inflight" data-dir="{"ew"[d]}" fill="{colour}" '
                   f'fill-opacity="0.6" d="{area}"/>')
        if c.bin > 1:
            line = _step_path(c.peak[d], _LEFT, dx, mid, sign * scale)
            out.append(f'<path class="peak" data-dir="{"ew"[d]}" fill="none" '
                       f'stroke="{colour}" stroke-width="0.6" d="{line}"/>')
    return out


# --- HTML and files -------------------------------------------------------------------------

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


def _rasterise(svg: str, path: Path) -> None:
    try:
        import cairosvg  # type: ignore[import-not-found]
    except (ImportError, OSError):
        cairosvg = None
    if cairosvg is not None:
        cairosvg.svg2png(bytestring=svg.encode(), write_to=str(path))
        return
    tools = {"rsvg-convert": ["-o", "{out}", "{svg}"], "resvg": ["{svg}", "{out}"],
             "inkscape": ["{svg}", "--export-type=png", "--export-filename={out}"]}
    for tool, args in tools.items():
        exe = shutil.which(tool)
        if exe is None:
            continue
        with tempfile.TemporaryDirectory(prefix="conveyor-chart-") as tmp:
            source = Path(tmp) / "chart.svg"
            source.write_text(svg, encoding="utf-8")
            argv = [exe] + [a.format(out=path, svg=source) for a in args]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode == 0 and path.exists():
            return
        raise ChartError(f"{tool} could not rasterise the chart: "
                         f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    raise ChartError(f"{path}: PNG needs an SVG rasteriser and none is installed (cairosvg, "
                     f"rsvg-convert, resvg or inkscape); write .svg or .html instead")


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
            _rasterise(render_svg(chart), out)
    except OSError as e:
        raise ChartError(f"{out}: cannot write ({e.strerror})") from None
    return out
