"""The docs' file maps match the tree: every source, test or example path a page names exists."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "examples" / "digits" / "README.md"]
#: A path in backticks under one of the tree's top folders, e.g. `hw/rtl/vxm.py`, `sw/ir/`.
_PATH = re.compile(r"`((?:hw|sw|sim|tests|conveyor|bench|examples|constraints|docs)/[\w./*-]*)`")


def _paths(page: Path) -> list[str]:
    found = []
    for text in _PATH.findall(page.read_text()):
        found += [p.strip() for p in text.split(",")]
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_a_page_names_exists(page):
    missing = [p for p in _paths(page) if not list(ROOT.glob(p.rstrip("/")))]
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


# --- figures: the numbers the pages give are the ones a run gives ------------------------------

README = (ROOT / "README.md").read_text()
COMPILER = (ROOT / "docs" / "compiler.md").read_text()


@pytest.fixture(scope="module")
def digits():
    """Per digits model: predicted cycles, useful MACs and MXM utilisation on small16, and the
    int8 accuracy over the held-out digits (the numpy reference, which the golden model and the
    RTL equal bit for bit: tests/sw/apps/test_demo.py)."""
    from conveyor.hw.machine.config import PRESETS
    from conveyor.hw.machine.program import mxm_utilization
    from conveyor.sw.apps.demo import MODELS, compile_model, model_files
    from conveyor.sw.frontends.datasets import digits_data
    from conveyor.sw.ir.reference import evaluate

    out = {}
    for model in ("mlp", "cnn"):
        onnx_path, calibration = model_files(model)
        x, y = digits_data("test", MODELS[model])
        imported, compiled = compile_model(onnx_path, calibration, PRESETS["small16"], x[:1])
        right = 0
        for i in range(len(x)):
            q = imported.quantize_inputs({imported.inputs[0].name: x[i:i + 1]})
            right += int(evaluate(imported.graph, q)["logits"].argmax() == y[i])
        out[model] = {"cycles": compiled.predicted_cycles, "macs": compiled.useful_macs,
                      "util": mxm_utilization(PRESETS["small16"], compiled.predicted_cycles,
                                              compiled.useful_macs),
                      "int8": 100 * right / len(x)}
    return out


def test_the_digits_figures(digits):
    mlp, cnn = digits["mlp"], digits["cnn"]
    assert f"cycles      predicted {mlp['cycles']} per inference" in README
    assert f"{mlp['macs']} useful MACs per inference, {mlp['util']:.1%} utilisation" in README
    assert f"int8 {mlp['int8']:.2f} %" in README
    assert f"its {mlp['cycles']} cycles" in README
    assert f"({cnn['int8']:.2f} % int8, {cnn['cycles']:,} cycles per inference" in README
    for model, what in (("mlp", "digits MLP"), ("cnn", "digits CNN")):
        row = re.search(rf"\| {what} [^|]*\| 1 \| ([\d,]+) \| ([\d.]+) \|", COMPILER)
        assert row, what
        assert int(row[1].replace(",", "")) == digits[model]["cycles"], what
        assert float(row[2]) == round(digits[model]["util"], 3), what


def test_the_examples_cycles():
    from example_configs import example_configs

    from conveyor.hw.machine.config import load_config
    from conveyor.hw.machine.program import cycle_count, issued_macs, mxm_utilization
    from conveyor.sw.asm import assemble_file

    cycles, util = {}, {}
    for path in sorted((ROOT / "examples").glob("*.s")):
        counts = set()
        for name in example_configs(path):
            program = assemble_file(path, load_config(name))
            counts.add(cycle_count(program))
            util[path.stem] = mxm_utilization(program.config, cycle_count(program),
                                              issued_macs(program))
        assert len(counts) == 1, path  # the same on every config it names
        cycles[path.stem] = counts.pop()
    assert (f"take {cycles['vector_add']}, {cycles['requant']} and {cycles['loop64']} cycles "
            "(vector_add, requant, loop64") in README
    assert f"{cycles['transpose']} (transpose" in README
    assert f"{cycles['matmul']:,}\n(`examples/matmul.s`" in README
    assert f"multiplying in {100 * util['matmul']:.1f} % of its cycles" in README


def _table(text: str, pattern: str) -> list[tuple]:
    rows = re.findall(pattern, text)
    assert rows, pattern
    return rows


def test_the_matmul_tables():
    """README's sweep and docs/compiler.md's table: runs, cycles and utilisation."""
    from conveyor.hw.machine.config import PRESETS
    from conveyor.hw.machine.program import mxm_utilization
    from conveyor.sw.frontends.specs import compile_spec

    small16 = PRESETS["small16"]

    def measured(spec):
        compiled = compile_spec(spec, small16)
        cycles = compiled.predicted_cycles
        return len(compiled.runs), cycles, mxm_utilization(small16, cycles, compiled.useful_macs)

    readme = _table(README, r"\| (\d+)×(\d+)×(\d+) \| (\d+) \| ([\d,]+)[^|]*\| ([\d.]+)% \| "
                            r"([\d.,]+) µs \|")
    for m, k, n, runs, cycles, util, us in readme:
        got = measured(f"matmul:M={m},K={k},N={n}")
        assert (int(runs), int(cycles.replace(",", ""))) == got[:2], (m, k, n)
        assert float(util) == round(100 * got[2], 1), (m, k, n)
        assert float(us.replace(",", "")) == round(got[1] / small16.clock_mhz, 1), (m, k, n)
    for spec, runs, cycles, util in _table(COMPILER, r"\| `(matmul:[^`]+)` \| (\d+) \| "
                                                     r"([\d,]+) \| ([\d.]+) \|"):
        got = measured(spec)
        assert (int(runs), int(cycles.replace(",", ""))) == got[:2], spec
        assert float(util) == round(got[2], 3), spec
    first = readme[2]
    assert f"# {int(first[4].replace(',', ''))} cycles predicted on small16" in README
