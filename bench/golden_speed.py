"""Speed of the golden model on a long, repeat-heavy program on ``small16``.

Two MEM slices stream vectors to the VXM, two chained ALUs add and turn the sum westward, and
two MEM slices store both results: six queues issuing every cycle. Prints simulated cycles and
issued slice instructions per second of wall time.

    python bench/golden_speed.py [--blocks N]
"""

from __future__ import annotations

import argparse
import time

from conveyor.hw.config import PRESETS, CoreConfig
from conveyor.hw.isa import Instr, Stream
from conveyor.hw.timing import latency
from conveyor.sim.golden import run
from conveyor.sw.program import Program


def _queue(start: int, instr: Instr, blocks: int, words: int) -> list[Instr]:
    """``instr`` every cycle from ``start`` on, sweeping ``words`` addresses ``blocks`` times."""
    stride = 1 if instr.op.address else 0
    body = [instr, Instr.make("repeat", n=words - 1, d=1, stride=stride)] * blocks
    return ([Instr.make("nop", n=start)] if start else []) + body + [Instr.make("halt")]


def pipeline(cfg: CoreConfig, blocks: int) -> Program:
    e, w = (lambda i: Stream("e", i)), (lambda i: Stream("w", i))
    pos = {s.name: s.position for s in cfg.slices}
    v, east, words = pos["vxm0"], cfg.mem_slices[-1].name, cfg.mem_depth
    t = latency("read") + v  # mem0's first read meets mem1's at the VXM in cycle t
    t2 = t + latency("add.i8")
    prog = Program.empty(cfg)
    prog.queues.update({
        "mem0.rd": _queue(0, Instr.make("read", addr=0, d=e(0)), blocks, words),
        "mem1.rd": _queue(t - latency("read") - (v - pos["mem1"]), Instr.make("read", addr=0, d=e(1)), blocks, words),
        "vxm0.alu0": _queue(t, Instr.make("add.i8", a=e(0), b=e(1), d=e(2)), blocks, words),
        "vxm0.alu1": _queue(t2, Instr.make("mov.i8", a=e(2), d=w(0)), blocks, words),
        f"{east}.wr": _queue(t2 + pos[east] - v, Instr.make("write", s=e(2), addr=0), blocks,
                             words),
        "mem2.wr": _queue(t2 + latency("mov.i8") + v - pos["mem2"],
                          Instr.make("write", s=w(0), addr=0), blocks, words),
    })
    return prog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=40, help="sweeps over every MEM word")
    args = parser.parse_args()
    prog = pipeline(PRESETS["small16"], args.blocks)
    started = time.perf_counter()
    result = run(prog)
    seconds = time.perf_counter() - started
    print(f"small16: {result.cycles} cycles, {result.ops} ops in {seconds:.2f} s")
    print(f"{result.cycles / seconds:,.0f} simulated cycles/s, {result.ops / seconds:,.0f} ops/s")


if __name__ == "__main__":
    main()
