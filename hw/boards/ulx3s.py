"""The ULX3S with an LFE5U-85F: a 25 MHz oscillator, an FT231X for JTAG and UART.

The core clock comes from an ``EHXPLLL`` fed by the oscillator, its output fed back to itself.
Its settings follow ``ecppll``: PFD 3.125..400 MHz, VCO 400..800 MHz.

A 16x16 int8 MXM needs 256 multipliers and the 85F has 156 MULT18X18D, so the last MXM columns
are built as LUT multipliers (``lut_columns``), in a submodule ``lutmul`` that Yosys's ``booth``
pass turns into radix-4 Booth logic (docs/boards.md).
"""

from __future__ import annotations

import functools
from typing import ClassVar

from amaranth.hdl import Instance, Module, Signal
from amaranth.lib import io

from .board import Board, ClockPlan, nearest, platform_class

__all__ = ["ULX3S85F", "ULX3S_85F", "ecp5_pll"]

_IN_MHZ = 25.0


@functools.cache
def _ecp5_candidates(in_mhz: float) -> tuple:
    out = []
    for clki in range(1, 129):
        pfd = in_mhz / clki
        if not 3.125 <= pfd <= 400:
            continue
        for clkfb in range(1, 81):
            for clkop in range(1, 129):
                vco = pfd * clkfb * clkop
                if 400 <= vco <= 800:
                    out.append((pfd * clkfb, clki, clkfb, clkop, vco))
    return tuple(out)


def ecp5_pll(in_mhz: float, mhz: float) -> ClockPlan:
    """EHXPLLL settings (CLKOP fed back) for ``mhz`` from an ``in_mhz`` reference."""
    out, clki, clkfb, clkop, vco = nearest(_ecp5_candidates(in_mhz), mhz, family="ECP5",
                                       vco_mid=600)
    return ClockPlan(requested_mhz=mhz, mhz=out, vco_mhz=vco, params={
        "p_CLKI_DIV": clki, "p_CLKFB_DIV": clkfb, "p_CLKOP_DIV": clkop,
        "p_CLKOP_CPHASE": clkop - 1, "p_CLKOP_FPHASE": 0, "p_CLKOP_ENABLE": "ENABLED",
        "p_FEEDBK_PATH": "CLKOP", "p_PLLRST_ENA": "DISABLED", "p_INTFB_WAKE": "DISABLED",
        "p_STDBY_ENABLE": "DISABLED", "p_DPHASE_SOURCE": "DISABLED",
        "p_OUTDIVIDER_MUXA": "DIVA", "p_OUTDIVIDER_MUXB": "DIVB",
        "p_OUTDIVIDER_MUXC": "DIVC", "p_OUTDIVIDER_MUXD": "DIVD",
        "a_FREQUENCY_PIN_CLKI": f"{in_mhz:g}", "a_FREQUENCY_PIN_CLKOP": f"{out:.6f}",
        "a_ICP_CURRENT": "12", "a_LPF_RESISTOR": "8", "a_MFG_ENABLE_FILTEROPAMP": "1",
        "a_MFG_GMCREF_SEL": "2"})


class ULX3S85F(Board):
    name = "ulx3s-85f"
    family = "ecp5"
    bitstream = ".bit"
    cells: ClassVar[dict[str, str]] = {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "brams": "DP16KD",
             "dsps": "MULT18X18D"}
    dsps = 156
    # router1 left ulx3s-core (74 % of the LUTs) with ~850 congested arcs after 16 minutes
    nextpnr_opts = "--router router2"
    dsp_width = 18  # MULT18X18D

    def platform(self):
        ULX3S_85F_Platform = platform_class("amaranth_boards.ulx3s", "ULX3S_85F_Platform")

        return ULX3S_85F_Platform()

    def plan_clock(self, mhz: float) -> ClockPlan:
        return ecp5_pll(_IN_MHZ, mhz)

    def clock_domain(self, m: Module, platform, plan: ClockPlan, clk: Signal) -> Signal:
        m.submodules.clk_in = clk_in = io.Buffer(
            "i", platform.request(self.constraints.clock_input, 0, dir="-"))
        locked = Signal()
        m.submodules.pll = Instance("EHXPLLL", **plan.params,
                                    i_CLKI=clk_in.i, i_CLKFB=clk, i_RST=0, i_STDBY=0,
                                    i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
                                    i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                                    o_CLKOP=clk, o_LOCK=locked)
        return locked

    def overrides(self, *, lut_columns: int) -> dict:
        # The MXM's LUT columns (submodules ``lutmul``) become radix-4 Booth multipliers; every
        # other multiply is left for the DSPs.
        return {"script_after_read": "booth *.lutmul"} if lut_columns else {}

ULX3S_85F = ULX3S85F()
