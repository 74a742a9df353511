"""How fast the Verilator backend is on one config (small16 by default).

Prints the Verilog generation time and line count, a cold Verilator build (into a temporary
cache, so nothing cached is reused or disturbed) and the simulated cycles per second of two
long preloaded programs while the clock runs free: an idle core (``nop 1000000``) and a busy
one (a MEM read, a VXM add and a MEM write in every cycle). ``conveyor bench`` measures the
same with the cached model; the programs are :func:`conveyor.sw.apps.bench.idle` and ``busy``.

    python bench/verilator_speed.py [CONFIG]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from conveyor.hw.machine.config import load_config
from conveyor.hw.machine.program import Program, cycle_count
from conveyor.sim import verilator
from conveyor.sw.apps.bench import busy, idle


def _speed(name: str, program: Program) -> None:
    started = time.perf_counter()
    result = verilator.run(program)
    wall = time.perf_counter() - started
    assert result.cycles == cycle_count(program), (result.cycles, cycle_count(program))
    print(f"{name:>5}: {result.cycles:,} cycles in {result.run_seconds:.2f} s running free "
          f"= {result.cycles / result.run_seconds:,.0f} cycles/s "
          f"(whole run() incl. start-up, load and MEM read-back: {wall:.2f} s)")


def main(argv: list[str]) -> None:
    config = load_config(argv[0] if argv else "small16")
    started = time.perf_counter()
    text = verilator.verilog_text(config)
    print(f"{config.name}: Verilog generation {time.perf_counter() - started:.1f} s, "
          f"{len(text.splitlines()):,} lines")
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as cache:
        os.environ["CONVEYOR_CACHE"] = cache
        started = time.perf_counter()
        verilator.build(config, progress=True)
        print(f"{config.name}: Verilator build (cold) {time.perf_counter() - started:.1f} s")
        _speed("idle", idle(config))
        _speed("busy", busy(config))


if __name__ == "__main__":
    main(sys.argv[1:])
