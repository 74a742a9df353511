"""Speed of the golden model on a long, repeat-heavy program on ``small16``.

Two MEM slices stream vectors to the VXM, two chained ALUs add and turn the sum westward, and
two MEM slices store both results: six queues issuing every cycle
(:func:`conveyor.sw.apps.bench.golden_pipeline`, which ``conveyor bench`` runs too). Prints
simulated cycles and issued slice instructions per second of wall time.

    python bench/golden_speed.py [--blocks N]
"""

from __future__ import annotations

import argparse
import time

from conveyor.hw.machine.config import PRESETS
from conveyor.sim.golden import run
from conveyor.sw.apps.bench import golden_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=40, help="sweeps over every MEM word")
    args = parser.parse_args()
    prog = golden_pipeline(PRESETS["small16"], args.blocks)
    started = time.perf_counter()
    result = run(prog)
    seconds = time.perf_counter() - started
    print(f"small16: {result.cycles} cycles, {result.ops} ops in {seconds:.2f} s")
    print(f"{result.cycles / seconds:,.0f} simulated cycles/s, {result.ops / seconds:,.0f} ops/s")


if __name__ == "__main__":
    main()
