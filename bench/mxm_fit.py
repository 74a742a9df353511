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
import time

from yosys_cells import PRESET_BOARD, capacity, cell_counts, resources, synth_command

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.rtl.mxm import MxmSlice


def synthesise(preset: str, lut_columns: int) -> dict[str, int]:
    """Cell counts of the MXM slice of ``preset``, by yosys cell type."""
    cfg = PRESETS[preset]
    dut = MxmSlice(config=cfg, slice=cfg.slices_of("mxm")[0], lut_columns=lut_columns)
    booth = "proc; booth mxm.lutmul; " if lut_columns else ""
    return cell_counts(dut, "mxm", synth_command(PRESET_BOARD[preset]), booth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", action="append", choices=sorted(PRESET_BOARD))
    parser.add_argument("--lut-columns", type=int,
                        help="LUT multiplier columns (default: what fits the board's DSPs)")
    args = parser.parse_args()
    for preset in args.preset or list(PRESET_BOARD):
        board, lanes = PRESET_BOARD[preset], PRESETS[preset].lanes
        # by default the columns whose products the board's DSP blocks cannot hold
        columns = (max(0, lanes - capacity(board)["DSP"] // lanes) if args.lut_columns is None
                   else args.lut_columns)
        started = time.perf_counter()
        cells = synthesise(preset, columns)
        seconds = time.perf_counter() - started
        used = resources(cells, board)
        print(f"{preset:8} {synth_command(board)}, lut_columns={columns}: {used['DSP']} DSP, "
              f"{used['LUT4']} LUT4, {used['FF']} FF, {used['BRAM']} BRAM [{seconds:.0f} s]")
        # one DSP block per product of the DSP columns; fewer means yosys lost or merged some
        dsp = used["DSP"]
        products = lanes * (lanes - columns)
        if dsp != products:
            print(f"  warning: {dsp} DSP blocks for {products} DSP-column products")


if __name__ == "__main__":
    main()
