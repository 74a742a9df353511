"""How fast the Verilator backend is on one config (small16 by default).

Prints the Verilog generation time and line count, a cold Verilator build (into a temporary
cache, so nothing cached is reused or disturbed) and the simulated cycles per second of two
long preloaded programs while the clock runs free: an idle core (``nop 1000000``) and a busy
one (a MEM read, a VXM add and a MEM write in every cycle).

    python bench/verilator_speed.py [CONFIG]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from conveyor.hw.config import load_config
from conveyor.hw.isa import Instr, Stream
from conveyor.sim import verilator
from conveyor.sw.program import Program, cycle_count

#: Largest repeat count; a busy queue chains this many read/repeat pairs (~1M cycles).
_MAX_REPEAT = 65535
_SEGMENTS = 16


def idle(config) -> Program:
    program = Program.empty(config)
    program.queues["vxm0.alu0"] = [Instr.make("nop", n=1_000_000), Instr.make("halt")]
    return program


def busy(config) -> Program:
    """mem0 reads onto e0 every cycle, vxm0 (position 4) adds 1 onto e1, mem4 (position 5)
    writes e1 back: three slices busy for ~1M cycles."""
    def chain(instr: Instr, stride: int = 0) -> list[Instr]:
        return [instr, Instr.make("repeat", n=_MAX_REPEAT, d=1, stride=stride)] * _SEGMENTS

    program = Program.empty(config)
    e0, e1 = Stream("e", 0), Stream("e", 1)
    program.queues["mem0.rd"] = [*chain(Instr.make("read", addr=0, d=e0)), Instr.make("halt")]
    program.queues["vxm0.alu0"] = [Instr.make("nop", n=4),
                                   *chain(Instr.make("add.i8", a=e0, b=1, d=e1)),
                                   Instr.make("halt")]
    program.queues["mem4.wr"] = [Instr.make("nop", n=6),
                                 *chain(Instr.make("write", s=e1, addr=0)), Instr.make("halt")]
    return program


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
