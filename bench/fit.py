"""Will a config fit a board? Every kind of block synthesised once with Yosys, then summed.

A whole-core place and route takes from minutes to half an hour and says only "does not fit";
this takes a few minutes and says where the logic goes. Each distinct block of the config (an
instruction queue of each role, a MEM slice, a VXM ALU, the MXM with its LUT multiplier
columns, the SXM, the stream conveyor) is synthesised on its own for the board's FPGA family
and counted as many times as the core has it. A block's ports are module ports here, so nothing
is optimised away across them: the sum is an upper estimate of what nextpnr will place (the
real build also adds the UART bridge, a few hundred LUTs).

With ``--report``, the placed figures of a real build (``conveyor build``'s ``report.json``) are
printed under the estimate: what nextpnr used, fmax, the critical path and the GOPS that fmax
gives (two operations per MAC, every MXM product each cycle).

    python bench/fit.py -c small16 --board ulx3s-85f [--lut-columns N] [--report report.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from yosys_cells import BOARDS, capacity, cell_counts, resources, synth_command

from conveyor.hw.machine.config import load_config
from conveyor.hw.rtl.mem import MemSlice
from conveyor.hw.rtl.mxm import MxmSlice
from conveyor.hw.rtl.queue import InstructionQueue
from conveyor.hw.rtl.streams import StreamConveyor
from conveyor.hw.rtl.sxm import SxmSlice
from conveyor.hw.rtl.vxm import VxmAlu


def blocks(config, lut_columns: int):
    """(label, count, component, extra yosys commands) for every distinct block."""
    roles = Counter(q.role for q in config.queues)
    for role, count in roles.items():
        queue = next(q for q in config.queues if q.role == role)
        yield f"queue ({role})", count, InstructionQueue(config=config, queue=queue), ""
    for kind, make, per in (
            ("mem", lambda s: MemSlice(config=config, slice=s), 1),
            ("vxm", lambda s: VxmAlu(config=config), config.vxm_alus),
            ("mxm", lambda s: MxmSlice(config=config, slice=s, lut_columns=lut_columns), 1),
            ("sxm", lambda s: SxmSlice(config=config, slice=s), 1)):
        found = config.slices_of(kind)
        if found:
            label = "VXM ALU" if kind == "vxm" else f"{kind.upper()} slice"
            before = "proc; booth block.lutmul; " if kind == "mxm" and lut_columns else ""
            yield label, len(found) * per, make(found[0]), before
    yield "stream conveyor", 1, StreamConveyor(config=config), ""


def placed(report: dict, config, kinds: list[str]) -> list[str]:
    """Lines for a build's report.json: used resources in the estimate's columns, fmax, the
    critical path and GOPS."""
    used = {"LUT4": report["luts"], "FF": report["ffs"], "BRAM": report["brams"],
            "DSP": report["dsps"]}
    macs = config.lanes ** 2 * len(config.slices_of("mxm"))
    path = report.get("critical_path") or {}
    verdict = "signed off" if report.get("passed") else "MISSES"
    lines = [f"{'placed (nextpnr)':24} {'':5} "
             + " ".join(f"{used[r]['used'] if used[r] else '-':>8}" for r in kinds),
             (f"fmax {report['fmax_mhz']:.2f} MHz ({verdict} {report['target_mhz']:.3f} MHz): "
             f"{macs} MACs x 2 x fmax = {2 * macs * report['fmax_mhz'] / 1000:.1f} GOPS")]
    if path:
        lines.append(f"critical path {path['from']} -> {path['to']}: {path['ns']:.1f} ns "
                     f"({path['logic_ns']:.1f} logic, {path['routing_ns']:.1f} routing), "
                     f"{path['steps']} steps")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", default="small16", help="preset name or .toml file")
    parser.add_argument("--board", choices=BOARDS, default="ulx3s-85f")
    parser.add_argument("--lut-columns", type=int, default=0,
                        help="MXM weight columns built as LUT multipliers (default 0)")
    parser.add_argument("--report", metavar="report.json",
                        help="a build of this config: print its placed figures and fmax too")
    args = parser.parse_args()
    config = load_config(args.config)
    synth, device = synth_command(args.board), capacity(args.board)
    kinds = list(device)
    total = Counter()
    print(f"{config.name} on {args.board} ({synth}), lut_columns={args.lut_columns}")
    print(f"{'block':24} {'count':>5} " + " ".join(f"{r:>8}" for r in kinds) + "   each")
    for label, count, component, before in blocks(config, args.lut_columns):
        started = time.perf_counter()
        cells = cell_counts(component, "block", synth, before)
        each = resources(cells, args.board)
        for r, n in each.items():
            total[r] += n * count
        print(f"{label:24} {count:5} " + " ".join(f"{each[r] * count:8}" for r in kinds)
              + "   " + ", ".join(f"{each[r]} {r}" for r in kinds if each[r])
              + f" [{time.perf_counter() - started:.0f} s]", flush=True)
    print(f"{'total':24} {'':5} " + " ".join(f"{total[r]:8}" for r in kinds))
    print(f"{'device':24} {'':5} " + " ".join(f"{device[r]:8}" for r in kinds))
    print(f"{'use':24} {'':5} " + " ".join(f"{100 * total[r] / device[r]:7.0f}%" for r in kinds))
    if args.report:
        print("\n".join(placed(json.loads(Path(args.report).read_text()), config, kinds)))


if __name__ == "__main__":
    main()
