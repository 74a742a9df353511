"""``conveyor configs``, ``verilog`` and ``isa``: the cores there are, one core as Verilog, and
the instruction set reference."""

from __future__ import annotations

import json
import sys

from ....hw.machine.config import PRESETS, CoreConfig, board_cores, load_config
from .common import config_arg, write_file

__all__ = ["add"]


def add(sub) -> None:
    p = sub.add_parser("configs", help="list the preset cores and the board cores",
                       description="List the named cores that -c takes: the presets and the "
                       "board cores (constraints/*-core.toml, what `conveyor build` makes by "
                       "default), with their geometry and queues.")
    p.add_argument("--json", action="store_true",
                   help="print them as JSON (the keys a TOML config file takes)")
    p.add_argument("-c", "--config", metavar="NAME|FILE.toml",
                   help="show only this core (a name, or any TOML config file)")
    p.set_defaults(handler=configs)

    p = sub.add_parser("verilog", help="write the core as Verilog")
    p.add_argument("-o", "--output", required=True, help="Verilog file to write")
    config_arg(p)
    p.set_defaults(handler=verilog)

    p = sub.add_parser("isa", help="print the instruction set reference (Markdown)",
                       description="Print the instruction set reference: every op's syntax, "
                       "opcode, latency, queues and encoding. With -c, also the operand "
                       "ranges and queues of that core.")
    p.add_argument("-o", "--output", help="write it here (docs/isa.md) instead of stdout")
    p.add_argument("-c", "--config", metavar="NAME|FILE.toml",
                   help="add the ranges and queues of this core")
    p.set_defaults(handler=isa)


def _named() -> dict[str, CoreConfig]:
    return {**PRESETS, **{name: load_config(name) for name in board_cores()}}


def configs(args) -> int:
    cores = {args.config: load_config(args.config)} if args.config else _named()
    if args.json:
        print(json.dumps({c.name: c.to_dict() for c in cores.values()}, indent=2))
        return 0
    boards = board_cores()
    for c in cores.values():
        where = f" ({boards[c.name].name})" if c.name in boards else ""
        print(f"{c.name}{where}: {c.lanes} lanes, {c.streams}+{c.streams} streams, "
              f"{c.mem_depth} words/MEM slice, {c.vxm_alus} VXM ALUs/lane, "
              f"{c.queue_depth} words/queue, {c.clock_mhz:g} MHz")
        print(f"  floorplan (west to east): {c.floorplan_text()}")
        print(f"  {len(c.queues)} queues: " + _abbreviate([q.name for q in c.queues]))
    return 0


def _abbreviate(names: list[str], limit: int = 10) -> str:
    if len(names) <= limit:
        return " ".join(names)
    return " ".join(names[:limit // 2]) + " ... " + " ".join(names[-limit // 2:])


def verilog(args) -> int:
    from ....hw.rtl.core import to_verilog
    config = load_config(args.config)
    text = to_verilog(config)
    write_file(args.output, text.encode())
    print(f"{args.output}: {text.count(chr(10))} lines of Verilog for {config.name}")
    return 0


def isa(args) -> int:
    from ..isadoc import isa_markdown
    text = isa_markdown(load_config(args.config) if args.config else None)
    if args.output:
        write_file(args.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0
