"""The data of a pipeline chart (sw/apps/chart/data.py): one row per queue, a segment for every
issue (or runs of them, or bins on a long program), stream cells in flight, the width checked."""

from collections import Counter
from pathlib import Path

import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import cycle_count, timeline
from conveyor.hw.machine.timing import Timing
from conveyor.sw.apps.bench import golden_pipeline
from conveyor.sw.apps.chart import ChartError, chart_data
from conveyor.sw.asm import assemble, assemble_file

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

ROOT = Path(__file__).resolve().parents[4]


def _issues(program):
    return [i for i in timeline(program) if i.instr.op.mnemonic != "halt"]


def test_a_small_program_has_one_row_per_queue_and_a_segment_per_issue():
    program = assemble_file(ROOT / "examples/vector_add.s", PRESETS["tiny"])
    chart = chart_data(program)
    assert chart.cycles == cycle_count(program)
    assert list(chart.rows) == [q.name for q in PRESETS["tiny"].queues]
    assert chart.mode == "issues" and chart.bin == 1
    want = Counter((i.queue.name, i.cycle, i.cycle + latency(i.instr.op))
                   for i in _issues(program))
    got = Counter((q, s.start, s.end) for q, segments in chart.rows.items() for s in segments)
    assert got == want and sum(want.values()) == chart.issues == 32


def test_runs_of_issues_cover_every_issue():
    program = assemble_file(ROOT / "examples/matmul.s", PRESETS["small16"])
    chart = chart_data(program, width=2400)  # about 2 pixels per cycle: runs, not bins
    assert chart.mode == "runs" and chart.bin == 1
    per_queue = Counter(i.queue.name for i in _issues(program))
    for queue, segments in chart.rows.items():
        assert sum(s.issues for s in segments) == per_queue[queue], queue
        for issue in (i for i in _issues(program) if i.queue.name == queue):
            assert any(s.start <= issue.cycle < s.end for s in segments), (queue, issue.cycle)
    assert sum(len(r) for r in chart.rows.values()) < chart.issues / 5  # runs keep it small


def test_a_long_program_is_binned():
    program = golden_pipeline(PRESETS["small16"], blocks=10)  # ~10k cycles, 6 busy queues
    chart = chart_data(program, width=1000)
    assert chart.mode == "bins" and chart.bin == -(-chart.cycles // (1000 - 150)) > 1
    per_queue = Counter(i.queue.name for i in _issues(program))
    assert {q: sum(s.issues for s in r) for q, r in chart.rows.items() if r} == per_queue
    assert sum(len(r) for r in chart.rows.values()) < 60  # full queues merge into a few bars
    assert all(0 < s.fill <= 1 for r in chart.rows.values() for s in r)
    assert chart.busy["mem0.rd"] > 0.99 and chart.busy["sxm0"] == 0
    assert chart.inflight.shape == chart.peak.shape == (2, chart.columns)


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


def test_a_too_narrow_picture_is_refused():
    program = assemble_file(ROOT / "examples/vector_add.s", PRESETS["tiny"])
    with pytest.raises(ChartError, match="at least 400 pixels, not 399"):
        chart_data(program, width=399)
