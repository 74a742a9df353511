"""Cost of the SXM slice on its own: yosys synthesis, no place and route.

``small16`` goes through ``synth_ecp5`` (ULX3S 85F), ``tiny`` through ``synth_ice40``
(iCEBreaker). Prints the logic cells and flip-flops yosys maps the slice to. The slice's ports
are module ports here, so nothing is optimised away across them; in a core the same logic is
driven by the conveyor and the queue.

    python bench/sxm_fit.py [--preset NAME ...]
"""

from __future__ import annotations

import argparse
import re

from yosys_cells import cell_counts

from conveyor.hw.config import PRESETS
from conveyor.hw.sxm import SxmSlice

#: Preset -> (yosys synthesis command, cell-name patterns counted as logic, as flip-flops).
FLOWS = {
    "tiny": ("synth_ice40", r"SB_LUT4$", r"SB_DFF\w*$"),
    "small16": ("synth_ecp5", r"LUT4$", r"TRELLIS_FF$"),
}


def synthesise(preset: str) -> dict[str, int]:
    """Cell counts of the SXM slice of ``preset``, by yosys cell type."""
    cfg = PRESETS[preset]
    dut = SxmSlice(config=cfg, slice=cfg.slices_of("sxm")[0])
    return cell_counts(dut, "sxm", FLOWS[preset][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", action="append", choices=sorted(FLOWS))
    for preset in parser.parse_args().preset or list(FLOWS):
        synth, lut, ff = FLOWS[preset]
        cells = synthesise(preset)
        luts = sum(n for name, n in cells.items() if re.match(lut, name))
        ffs = sum(n for name, n in cells.items() if re.match(ff, name))
        other = ", ".join(f"{name} {n}" for name, n in sorted(cells.items())
                          if name[0].isupper() and not re.match(f"{lut}|{ff}", name))
        print(f"{preset:8} {synth}: {luts} LUT4, {ffs} FF ({other})")


if __name__ == "__main__":
    main()
