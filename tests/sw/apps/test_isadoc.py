"""docs/isa.md is generated from hw/machine/isa.py and hw/machine/timing.py and must not go stale."""

from pathlib import Path

from conveyor.hw.machine.isa import OPS
from conveyor.hw.machine.timing import Timing
from conveyor.sw.apps.isadoc import isa_markdown

#: The presets' latencies (they add no pipeline stages).
latency = Timing().latency

DOC = Path(__file__).resolve().parents[3] / "docs" / "isa.md"


def test_committed_isa_doc_is_current():
    assert DOC.read_text() == isa_markdown(), "run: conveyor isa -o docs/isa.md"


def test_every_op_is_documented_with_its_latency():
    text = isa_markdown()
    for op in OPS:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{op.mnemonic}")
                   and line.count("|") > 4)
        if op.kind != "icu":
            assert f"| {op.opcode} | {latency(op)} |" in row
