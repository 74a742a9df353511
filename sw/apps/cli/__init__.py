"""The ``conveyor`` command line: one module per group of commands, each adding its parsers
(``add(sub)``) with the function that runs it.

Every user error (bad assembly, bad config, a program built for another config, a missing file)
prints one line on stderr and exits 1; a traceback here is a bug.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from ....errors import AsmError, ConveyorError
from . import boards, compiling, machine, programs, tools

__all__ = ["main"]

_EPILOG = """\
examples:
  conveyor demo                                     digits MLP on the golden model and the RTL
  conveyor configs                                  the preset cores and the board cores
  conveyor asm examples/vector_add.s -o add.bin     assemble for the default config (small16)
  conveyor run examples/vector_add.s --dump mem4:0:4
  conveyor run add.bin --backend verilator --json   the same program on the RTL
  conveyor verilog -c tiny -o core.v                Verilog for the 4-lane core
  conveyor cosim -c tiny --seeds 20                 random programs, golden model vs RTL
  conveyor compile matmul:M=64,K=64,N=64 -o mm64    a layer, its cycles predicted
  conveyor schedule mm64 -o mm64.svg                pipeline chart of a compiled DIR
  conveyor opt mm64/program.tile.mlir --passes schedule,emit-microcode
  conveyor bench --quick                            utilisation, cycles, simulator speeds
  conveyor build --board ulx3s-85f                  bitstream, report.json, timing sign-off
  conveyor flash --board ulx3s-85f                  load it with openFPGALoader
  conveyor compile matmul:M=8,K=8,N=8 -c ulx3s-core -o mm8
  conveyor run mm8 --board ulx3s-85f --port /dev/ttyUSB0       on the board's core

A command that works on a core takes -c/--config: a preset or board core by name (`conveyor
configs` lists them) or a TOML file with the keys that `conveyor configs --json` prints.
Docs: docs/architecture.md, docs/assembly.md, docs/compiler.md, docs/isa.md, docs/boards.md.
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="conveyor", description="Generate, simulate and run an assembly-line dataflow "
        "core (the architecture of Groq's LPU) at the size you choose.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (machine, programs, compiling, tools, boards):
        group.add(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    np.set_printoptions(linewidth=120)
    try:
        return args.handler(args)
    except AsmError as e:
        print(e, file=sys.stderr)  # file:line:col: message, as compilers print it
        return 1
    except ConveyorError as e:
        print(f"conveyor: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader left (`conveyor configs --json | head`): say nothing more, to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("conveyor: interrupted", file=sys.stderr)
        return 130
