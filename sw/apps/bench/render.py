"""How ``conveyor bench`` presents its results (the dict of :func:`~.measure.run_bench`): rich
tables on the terminal (:func:`render_table`), a Markdown page (:func:`render_markdown`, the
page ``--docs`` writes, e.g. ``docs/performance.md``) and the files (:func:`write_outputs`).

The terminal and the page show the same cells: :func:`sweep_rows`, :func:`model_rows`,
:func:`tool_rows` and :func:`board_rows` under :data:`SWEEP_HEADER`, :data:`MODEL_HEADER`,
:data:`TOOL_HEADER` and :data:`BOARD_HEADER`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .models import OPEN_FPGA_US

__all__ = ["BOARD_HEADER", "MODEL_HEADER", "SWEEP_HEADER", "TOOL_HEADER", "board_rows",
           "model_comparison", "model_rows", "render_markdown", "render_table", "short_reason",
           "sweep_rows", "tool_rows", "write_outputs"]


# --- the cells ------------------------------------------------------------------------------

def _num(value, fmt: str = ",") -> str:
    return "—" if value is None else format(value, fmt)


def _use(d: dict | None) -> str:
    return f"{d['used']:,}/{d['available']:,}" if d else "—"


SWEEP_HEADER = ["spec", "runs", "MACs", "predicted", "golden", "RTL", "cycles equal",
                "bit-exact", "MXM util.", "µs @ clock", "compile s"]


def sweep_rows(results: dict) -> list[list[str]]:
    """The sweep as table cells (the same for the terminal and the Markdown)."""
    rows = []
    for r in results["sweep"]:
        same = r["golden_cycles"] == r["predicted_cycles"] and (
            r["rtl_cycles"] is None or r["rtl_cycles"] == r["predicted_cycles"])
        exact = r["golden_bit_exact"] and r["rtl_bit_exact"] is not False
        rtl = _num(r["rtl_cycles"]) if "rtl_error" not in r else "error"
        rows.append([r["spec"], str(r["runs"]), _num(r["useful_macs"]),
                     _num(r["predicted_cycles"]), _num(r["golden_cycles"]), rtl,
                     "yes" if same else "NO", "yes" if exact else "NO",
                     f"{r['mxm_utilization']:.1%}", f"{r['microseconds']:,.1f}",
                     f"{r['compile_seconds']:.2f}"])
    return rows


MODEL_HEADER = ["model", "config", "MXM", "clock", "MACs", "predicted", "golden", "RTL",
                "cycles equal", "bit-exact", "MXM util.", "µs", "inferences/s", "compile s",
                "note"]


def short_reason(reason: str) -> str:
    """The compiler's one-line reason, shortened for a table cell: its first clause (up to a
    semicolon), without parenthetical asides. The JSON keeps the whole line."""
    return re.sub(r" \([^()]*\)", "", reason.split("; ")[0]).strip()


def model_rows(results: dict) -> list[list[str]]:
    """The models part as table cells: a row per (model, config), a model that does not fit
    with the compiler's reason, one not compiled with why."""
    rows = []
    for r in results.get("models") or []:
        clock = f"{r['clock_mhz']:g} MHz ({r['clock']})" if r["clock_mhz"] else "—"
        head = [r["label"], r["config"], r["mxm"] or "—", clock]
        if not r["fits"]:
            note = r["skipped"] or f"does not fit: {short_reason(r['reason'] or '')}"
            rows.append([*head, *["—"] * (len(MODEL_HEADER) - len(head) - 2),
                         "—" if r["compile_seconds"] is None else f"{r['compile_seconds']:.1f}",
                         note])
            continue
        same = r["golden_cycles"] == r["predicted_cycles"] and (
            r["rtl_cycles"] is None or r["rtl_cycles"] == r["predicted_cycles"])
        exact = r["golden_bit_exact"] and r["rtl_bit_exact"] is not False
        rtl = _num(r["rtl_cycles"]) if "rtl_error" not in r else "error"
        runs = f"{r['runs']} runs" if r["runs"] > 1 else ""
        rows.append([*head, _num(r["useful_macs"]), _num(r["predicted_cycles"]),
                     _num(r["golden_cycles"]), rtl, "yes" if same else "NO",
                     "yes" if exact else "NO", f"{r['mxm_utilization']:.1%}",
                     f"{r['microseconds']:,.1f}", f"{r['inferences_per_second']:,.0f}",
                     f"{r['compile_seconds']:.1f}", runs])
    return rows


def model_comparison(results: dict) -> list[str]:
    """A sentence per model: its fastest fitting row against the open-FPGA entries' 20 µs,
    and whether a board core holds it."""
    lines = []
    models = results.get("models") or []
    for label in dict.fromkeys(r["label"] for r in models):
        mine = [r for r in models if r["label"] == label and r["fits"]]
        boards = [r for r in mine if r["clock"] != "nominal"]
        board = ("" if boards else "; no board core holds it yet, so that clock is a config's "
                 "nominal one, not a signed-off build")
        if not mine:
            lines.append(f"{label}: fits none of these configs.")
            continue
        best = min(mine, key=lambda r: r["microseconds"])
        ratio = best["microseconds"] / OPEN_FPGA_US
        against = (f"{ratio:.0f}× the open entries' {OPEN_FPGA_US:g} µs" if ratio >= 1.5 else
                   f"{ratio:.2f} of the open entries' {OPEN_FPGA_US:g} µs")
        lines.append(f"{label}: at best {best['microseconds']:,.1f} µs per inference "
                     f"({best['inferences_per_second']:,.0f} inferences/s) on `{best['config']}` "
                     f"at {best['clock_mhz']:g} MHz, {against}{board}.")
    return lines


TOOL_HEADER = ["what", "figure", "detail"]


def tool_rows(results: dict) -> list[list[str]]:
    """Verilog generation, the Verilator build and the simulators' speeds as table cells."""
    rows = []
    v = results.get("verilog")
    if v and v.get("measured"):
        rows.append(["Verilog generation", f"{v['seconds']:.1f} s", f"{v['lines']:,} lines"])
    elif v is not None:
        rows.append(["Verilog generation", "not measured", "the model was cached"])
    b = results.get("verilator_build")
    if b:
        if b["cached"]:
            rows.append(["Verilator build", "cached",
                         f"recorded {b['recorded_seconds']} s when built ({b['built']})"])
        else:
            rows.append(["Verilator build", f"{b['recorded_seconds']} s", "built in this run"])
    rtl = results.get("rtl_speed")
    if rtl:
        rows.append(["RTL simulation (Verilator)", f"{rtl['cycles_per_second']:,} cycles/s",
                     f"busy core, {rtl['busy_cycles']:,} cycles, clock running free"])
    batch = results.get("rtl_batch")
    if batch:
        rows.append(["RTL sweep runs", f"{batch['seconds']:.1f} s",
                     f"{batch['programs']} programs in one simulator process"])
    g = results.get("golden_speed") or {}
    if "cycles_per_second" in g:
        detail = (f"{g['ops_per_second']:,} ops/s; per CPU second {g['cycles_per_cpu_second']:,} "
                  f"cycles, {g['ops_per_cpu_second']:,} ops; six queues issuing every cycle, "
                  f"{g['pipeline_cycles']:,} cycles")
        rows.append(["golden model", f"{g['cycles_per_second']:,} cycles/s", detail])
    if "matmul_cycles_per_second" in g:
        detail = f"the matmuls above; per CPU second {g['matmul_cycles_per_cpu_second']:,} cycles"
        rows.append(["golden model, the sweep", f"{g['matmul_cycles_per_second']:,} cycles/s",
                     detail])
    return rows


BOARD_HEADER = ["board", "config", "fmax MHz", "target MHz", "timing", "LUTs", "FFs", "BRAM",
                "DSP"]


def board_rows(results: dict) -> list[list[str]]:
    """The board reports as table cells."""
    rows = []
    for b in results.get("boards", []):
        if not b.get("fits", True):
            rows.append([b["board"], str(b["config"]), "—", "—", "does not fit", "—", "—", "—",
                         "—"])
            continue
        rows.append([b["board"], str(b["config"]), _num(b.get("fmax_mhz"), ".2f"),
                     _num(b.get("target_mhz"), ".3f"), "met" if b.get("passed") else "MISSED",
                     _use(b.get("luts")), _use(b.get("ffs")), _use(b.get("brams")),
                     _use(b.get("dsps"))])
    return rows


# --- the terminal ---------------------------------------------------------------------------

def render_table(results: dict, console=None) -> None:
    """Print the results as rich tables."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: no 80-column squeeze
            console = Console(width=200)
    mode = "quick" if results["quick"] else "full"
    title = (f"MXM utilisation on {results['config']} ({results['lanes']} lanes, "
             f"{results['clock_mhz']:g} MHz), {mode} run")
    table = Table(title=title)
    for k, name in enumerate(SWEEP_HEADER):
        table.add_column(name, justify="left" if k == 0 else "right")
    for row in sweep_rows(results):
        table.add_row(*row)
    console.print(table)
    if results.get("models"):
        table = Table(title="MLPerf Tiny models (cycles per inference; µs at each config's "
                            "clock)")
        for k, name in enumerate(MODEL_HEADER):
            table.add_column(name, justify="right" if 4 <= k < len(MODEL_HEADER) - 1 else
                             "left")
        for row in model_rows(results):
            table.add_row(*row)
        console.print(table)
        for line in model_comparison(results):
            console.print(line)
    table = Table(title="Tools and simulators")
    for name in TOOL_HEADER:
        table.add_column(name)
    for row in tool_rows(results):
        table.add_row(*row)
    console.print(table)
    boards = board_rows(results)
    if boards:
        table = Table(title="Boards (conveyor build reports)")
        for name in BOARD_HEADER:
            table.add_column(name)
        for row in boards:
            table.add_row(*row)
        console.print(table)
    else:
        console.print("boards: no build/BOARD/report.json here (run `conveyor build --board "
                      "BOARD` for fmax and resources)")


# --- the page -------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)]) + "\n"


def render_markdown(results: dict) -> str:
    """The performance page (``docs/performance.md``) from the results."""
    flags = (" --quick" if results["quick"] else "") + (" --models" if results.get("models")
                                                        else "")
    mode = f"`conveyor bench{flags}`"
    host, cfg = results["host"], results["config"]
    rtl_macs = results.get("rtl_macs")
    rtl = (f"and, up to {rtl_macs:,} MACs, on the Verilator RTL" if rtl_macs else
           "(the RTL was not run)")
    boards = board_rows(results)
    parts = [
        ("<!-- Generated by `conveyor bench` from its JSON results; do not edit by hand: run "
         "`conveyor bench --models --docs docs/performance.md` (or with `--quick`) again. -->\n"),
        "# Performance\n",
        (f"Measured by {mode} on {results['generated']} ({host['system']} {host['machine']}, "
         f"{host['cpus']} CPUs, load average {host.get('load_average')} at the start, Python "
         f"{host['python']}). Cycles are exact and the same on every machine; seconds depend "
         f"on the machine and its load.\n"),
        f"## MXM utilisation on `{cfg}`\n",
        (f"Each spec is compiled (`conveyor compile SPEC -c {cfg}`) and run on the golden "
         f"model {rtl}. *predicted* is the compiler's cycle count; *golden* and *RTL* are "
         f"measured. MXM utilisation is useful MACs / ({results['lanes']}² × cycles); µs at "
         f"the config's {results['clock_mhz']:g} MHz clock. A product too big for MEM in one "
         f"program is split into runs over its output columns. `conveyor schedule DIR -o "
         f"chart.svg` shows where a compiled program's MXM idles and why "
         f"([the 64³ matmul](schedule-matmul64.svg)).\n"),
        _md_table(SWEEP_HEADER, sweep_rows(results)),
        *_models_part(results),
        "## Tools and simulators\n",
        _md_table(TOOL_HEADER, tool_rows(results)),
        "## Boards\n",
    ]
    if boards:
        parts.append(_md_table(BOARD_HEADER, boards))
    else:
        parts.append("No board reports were present when this was measured: `conveyor build "
                     "--board ulx3s-85f` (or `icebreaker`) writes `build/BOARD/report.json`, "
                     "which `conveyor bench` reads (see [boards.md](boards.md)).\n")
    commands = [
        ("conveyor bench --quick --models --docs docs/performance.md", "the sweep and the models"),
        ("conveyor bench --models --docs docs/performance.md",
         "the full sweep, Verilog, simulator speeds, every model compile"),
        ("conveyor bench --quick", "the sweep alone, a few minutes on 2 cores, no page"),
        ("conveyor schedule DIR -o chart.svg", "where a compiled program's MXM idles")]
    parts += ["## Reproducing\n",
              "```sh\n" + "".join(f"{c:<60}# {why}\n" for c, why in commands) + "```\n"]
    return "\n".join(parts)


def _models_part(results: dict) -> list[str]:
    """The page's section on MLPerf Tiny's models."""
    parts = ["## MLPerf Tiny models\n"]
    models = results.get("models")
    if not models:
        return [*parts, ("Not measured in this run: `conveyor bench --models` compiles and "
                         "runs them.\n")]
    rtl_macs = results.get("rtl_macs")
    ran = [f"{r['label']} on `{r['config']}`" for r in models if r["rtl_cycles"] is not None]
    rtl = ("The RTL was not run." if not rtl_macs else
           f"A model of at most {rtl_macs:,} useful MACs also runs on the Verilator RTL "
           f"(`--rtl-macs N`): " + (", ".join(ran) + "." if ran else
                                   "none did in this run, each has more."))
    quick = (" A quick run does not compile the pairs whose compile alone takes over a "
             "minute; the note says which." if results["quick"] else "")
    parts += [
        ("Keyword spotting (DS-CNN) and CIFAR-10 ResNet-8, MLPerf Tiny's int8 TFLite reference "
         "models in [examples/mlperf-tiny](../examples/mlperf-tiny/README.md), compiled "
         "(`conveyor compile MODEL.tflite -c CONFIG`) for every board core, at the clock its "
         "board's build signs off at, and for `small16`, `mlperf16` (`small16`'s geometry with "
         "deeper MEM slices and queues: `bench/cores/mlperf16.toml`) and `tsp`, at their "
         "nominal clocks, with random int8 inputs (seed "
         f"{models[0]['seed']}). A model that does not fit a config says why, in the "
         "compiler's words (shortened; the JSON has the whole line)." + quick + " Where it "
         "fits, the program runs on the golden model: *predicted* is the compiler's cycle "
         "count and *golden* the cycles measured, which are the cycles per inference; "
         "*bit-exact* compares every output byte (the logits the core computes and the "
         "softmax the host adds) with **LiteRT's reference kernels**. " + rtl + " MXM "
         "utilisation is useful MACs / (MXM rows × columns × MXM slices × cycles), as above.\n"),
        _md_table(MODEL_HEADER, model_rows(results)),
        ("Against MLPerf Tiny's open-division FPGA entries (hls4ml and FINN on Pynq-Z2 and "
         f"Arty A7-100T), whose latencies start at {OPEN_FPGA_US:g} µs per inference "
         "(arXiv 2206.11791):\n"),
        "\n".join(f"- {line}" for line in model_comparison(results)) + "\n",
    ]
    return parts


# --- the files ------------------------------------------------------------------------------

def write_outputs(results: dict, json_path: str | Path | None,
                  markdown_path: str | Path | None) -> list[Path]:
    """Write the results as JSON to ``json_path`` and as the page to ``markdown_path`` (either
    may be None: not written); return the paths written."""
    written = []
    for path, text in ((json_path, lambda: json.dumps(results, indent=1) + "\n"),
                       (markdown_path, lambda: render_markdown(results))):
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text())
            written.append(path)
    return written
