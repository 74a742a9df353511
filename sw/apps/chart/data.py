"""The data of a pipeline chart: which queue issues what in which cycle, and how full the
streams are, computed from a program's :func:`~conveyor.hw.machine.program.timeline` alone
(nothing is simulated). The renderers (:mod:`.svg`, :mod:`.files`) draw a :class:`Chart` and
compute nothing about the program.

One row per queue, grouped by slice from west to east; time runs left to right. Each slice
instruction is a :class:`Segment` from its issue cycle to issue + latency
(``hw/machine/timing.py``), of one op family (:data:`FAMILIES`); issues of one family in
consecutive cycles become one segment when the plot has under 4 pixels per cycle. When a
program has more cycles than the plot has pixels, cycles are aggregated into bins of ``b``
cycles: a row's segment in a bin is as tall as the fraction of the bin's cycles in which the
queue issued, of the family that issued most. The stream panel counts the *stream cells in
flight* per cycle (the mean per bin, and the bin's peak): every value from the cycle a slice
puts it on a stream until the last cycle a slice reads it, eastward and westward. A gap in the
``mxm.mm`` row is the MXM idling; the rows and the stream panel around it show what it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ....errors import ConveyorError
from ....hw.machine.cells import DIRECTIONS, Tracks, operand_cells
from ....hw.machine.config import CoreConfig, Queue
from ....hw.machine.isa import Stream
from ....hw.machine.program import Program, issued_macs, mxm_utilization, timeline
from ....hw.machine.timing import Timing

__all__ = ["FAMILIES", "LEFT", "RIGHT", "Chart", "ChartError", "Segment", "chart_data",
           "family", "plot_width"]


class ChartError(ConveyorError):
    """A chart that cannot be drawn or written (a too narrow picture, an unknown format, a
    rasteriser that fails)."""


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

#: A binned row's bar height is rounded up to a multiple of 1/_LEVELS of the row.
_LEVELS = 8

#: The picture's label column (queue names, busy shares) and right margin, in pixels; the plot
#: between them is what :func:`chart_data` fits the cycles into.
LEFT, RIGHT = 130, 20


def plot_width(width: int) -> int:
    """Pixels of the plot in a picture ``width`` pixels wide."""
    return width - LEFT - RIGHT


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


_Place = tuple[str, int, int]  # (direction, stream, position): a stream cell less its cycle


def _places(stream: Stream, position: int) -> tuple[_Place, ...]:
    return tuple(cell[:3] for cell in operand_cells(stream, position, 0))


class _Streams:
    """Matches every stream read to the write it sees (the write its cell holds on its track,
    :mod:`conveyor.hw.machine.cells`, as the golden model finds it) and keeps, per write, the
    last cycle in which it is read. Writes must be added before the reads that see them, which
    issue order guarantees (a result lands at least one cycle after its issue)."""

    def __init__(self) -> None:
        self.tracks = Tracks()  # writer: the write's index in the lists below
        self.start: list[int] = []
        self.last: list[int] = []
        self.dir: list[int] = []

    def write(self, places: tuple[_Place, ...], cycle: int) -> None:
        for place in places:
            self.tracks.write((*place, cycle), len(self.start))
            self.start.append(cycle)
            self.last.append(cycle)
            self.dir.append(DIRECTIONS.index(place[0]))

    def read(self, places: tuple[_Place, ...], cycle: int) -> None:
        for place in places:
            found = self.tracks.source((*place, cycle))
            if found is not None and self.last[found[0]] < cycle:
                self.last[found[0]] = cycle

    def inflight(self, cycles: int) -> np.ndarray:
        """(2, cycles): stream cells holding a value that is still to be read, per cycle."""
        out = np.zeros((2, cycles + 1), np.int64)
        if self.start:
            start, last, d = np.array(self.start), np.array(self.last), np.array(self.dir)
            keep = start < cycles
            np.add.at(out, (d[keep], start[keep]), 1)
            np.add.at(out, (d[keep], np.minimum(last[keep] + 1, cycles)), -1)
        return np.cumsum(out, axis=1)[:, :cycles]


def _decode(queue: Queue, instr, timing: Timing
            ) -> tuple[int, int, tuple[_Place, ...], tuple[_Place, ...]]:
    """A queue entry's latency, family index (-1 for halt), and the stream cells it reads and
    writes; the same for every repetition (repeat's stride moves addresses, not streams)."""
    op = instr.op
    if op.mnemonic == "halt":
        return 0, -1, (), ()
    position = queue.slice.position
    reads = tuple(cell for name, value in instr.args
                  if isinstance(value, Stream) and name in op.reads
                  for cell in _places(value, position))
    writes = _places(instr["d"], position) if op.writes else ()
    return timing.latency(op), _FAMILY_INDEX[family(op.mnemonic, op.kind)], reads, writes


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
    from ....progress import progress

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
                entry = decoded[key] = _decode(issue.queue, issue.instr, cfg.timing)
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
    plot = plot_width(width)
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
    util = mxm_utilization(cfg, end, issued_macs(program) if useful_macs is None else useful_macs)
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
