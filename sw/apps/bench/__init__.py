"""``conveyor bench``: one command that measures the compiler, the simulators and the tools, and
writes the figures as JSON and, when asked (``--docs FILE.md``), as a Markdown page such as
``docs/performance.md``.

What it measures (on ``small16`` unless told otherwise):

- a sweep of matmul sizes: compile time, predicted cycles, cycles on the golden model (every
  spec) and on the Verilator RTL (the small ones, all runs in one simulator process), whether
  every output is bit-exact, and the MXM utilisation;
- Verilog generation and the Verilator build (a cached model is reported as cached, with the
  build time recorded when it was built);
- simulated cycles per second of the RTL (a busy core: MEM read, VXM add, MEM write every
  cycle) and of the golden model (six queues issuing every cycle, and the sweep's matmuls);
- fmax and resources from the board reports that ``conveyor build`` wrote, if there are any;
- with ``--models``, MLPerf Tiny's KWS and ResNet-8 (int8 TFLite) on every board core,
  ``small16``, ``mlperf16`` and ``tsp``: whether each fits (if not, the compiler's reason),
  predicted and golden cycles per inference, bit-exactness against LiteRT's reference kernels,
  MXM utilisation, µs and inferences/s at the config's clock.

The modules:

- :mod:`.programs`: the speed programs :func:`idle`, :func:`busy` and :func:`golden_pipeline`,
  shared with ``bench/verilator_speed.py`` and ``bench/golden_speed.py``;
- :mod:`.measure`: :class:`BenchPlan` and :func:`run_bench`, which returns the results as a
  JSON-ready dict, and :func:`results_ok`;
- :mod:`.models`: the models part, :func:`measure_model` (one model on one config) and
  :func:`run_models`;
- :mod:`.render`: :func:`render_table`, :func:`render_markdown` and :func:`write_outputs`.
"""

from __future__ import annotations

from .measure import FULL_SWEEP, QUICK_SWEEP, BenchPlan, results_ok, run_bench
from .models import MODELS, measure_model, model_configs, run_models
from .programs import busy, golden_pipeline, idle
from .render import model_rows, render_markdown, render_table, write_outputs

__all__ = ["FULL_SWEEP", "MODELS", "QUICK_SWEEP", "BenchPlan", "busy", "golden_pipeline", "idle",
           "measure_model", "model_configs", "model_rows", "render_markdown", "render_table",
           "results_ok", "run_bench", "run_models", "write_outputs"]
