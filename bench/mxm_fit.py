"""Cost of the MXM slice on its own: yosys synthesis, no place and route.

``small16`` goes through ``synth_ecp5`` (ULX3S 85F: 156 MULT18X18D), ``tiny`` through
``synth_ice40 -dsp`` (iCEBreaker's UP5K: 8 SB_MAC16). The last ``lut_columns`` weight columns
form their products in the ``lutmul`` submodule, on which yosys's ``booth`` pass runs before
synthesis (radix-4 Booth multipliers in LUTs); the other columns' products map to DSP blocks.
Prints the DSP blocks, logic cells, flip-flops and block RAMs yosys maps the slice to. The
slice's ports are module ports here, so nothing is optimised away across them.

    python bench/mxm_fit.py [--preset NAME ...] [--lut-columns N]
"""

from __future__ import annotations

import argparse
import re
import time

from yosys_cells import cell_counts

from conveyor.hw.config import PRESETS
from conveyor.hw.mxm import MxmSlice

#: Preset -> (yosys synthesis command, LUT columns that fit the board's DSP blocks, and the
#: cell-name patterns counted as DSP blocks, logic, flip-flops and block RAM).
FLOWS = {
    "tiny": ("synth_ice40 -dsp", 2, r"SB_MAC16$", r"SB_LUT4$", r"SB_DFF\w*$",
             r"SB_(RAM40_4K|SPRAM256KA)$"),
    "small16": ("synth_ecp5", 7, r"MULT18X18D$", r"LUT4$", r"TRELLIS_FF$", r"DP16KD$"),
}


def synthesise(preset: str, lut_columns: int) -> dict[str, int]:
    """Cell counts of the MXM slice of ``preset``, by yosys cell type."""
    cfg = PRESETS[preset]
    dut = MxmSlice(config=cfg, slice=cfg.slices_of("mxm")[0], lut_columns=lut_columns)
    booth = "proc; booth mxm.lutmul; " if lut_columns else ""
    return cell_counts(dut, "mxm", FLOWS[preset][0], booth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", action="append", choices=sorted(FLOWS))
    parser.add_argument("--lut-columns", type=int,
                        help="LUT multiplier columns (default: what fits the board's DSPs)")
    args = parser.parse_args()
    for preset in args.preset or list(FLOWS):
        synth, columns, *patterns = FLOWS[preset]
        columns = columns if args.lut_columns is None else args.lut_columns
        started = time.perf_counter()
        cells = synthesise(preset, columns)
        seconds = time.perf_counter() - started
        dsp, lut, ff, ram = (sum(n for name, n in cells.items() if re.match(p, name))
                             for p in patterns)
        other = ", ".join(f"{name} {n}" for name, n in sorted(cells.items())
                          if not any(re.match(p, name) for p in patterns))
        print(f"{preset:8} {synth}, lut_columns={columns}: {dsp} DSP, {lut} LUT4, {ff} FF, "
              f"{ram} BRAM ({other}) [{seconds:.0f} s]")
        # one DSP block per product of the DSP columns; fewer means yosys lost or merged some
        products = PRESETS[preset].lanes * (PRESETS[preset].lanes - columns)
        if dsp != products:
            print(f"  warning: {dsp} DSP blocks for {products} DSP-column products")


if __name__ == "__main__":
    main()
