"""The iCEBreaker: an iCE40UP5K-SG48, a 12 MHz oscillator, an FT2232H for flash and UART.

The core clock comes from the UP5K's one PLL, an ``SB_PLL40_PAD`` on the oscillator's pin
(pin 35, the PLL's input pad). Its settings follow ``icepll``: PFD 10..133 MHz, VCO
533..1066 MHz, output 16..275 MHz.
"""

from __future__ import annotations

import functools
from typing import ClassVar

from amaranth.hdl import Const, Instance, Module, Signal
from amaranth.lib import io

from .board import Board, ClockPlan, nearest, platform_class

__all__ = ["ICEBREAKER", "ICEBreaker", "ice40_pll"]

_IN_MHZ = 12.0


@functools.cache
def _ice40_candidates(in_mhz: float) -> tuple:
    out = []
    for divr in range(16):
        pfd = in_mhz / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                mhz = vco / (1 << divq)
                if 16 <= mhz <= 275:
                    out.append((mhz, divr, divf, divq, pfd, vco))
    return tuple(out)


def ice40_pll(in_mhz: float, mhz: float) -> ClockPlan:
    """SB_PLL40 settings (SIMPLE feedback) for ``mhz`` from an ``in_mhz`` reference; asked
    for ``in_mhz`` itself, the plan bypasses the PLL (its output cannot go below 16 MHz)."""
    if mhz == in_mhz:
        return ClockPlan(requested_mhz=mhz, mhz=in_mhz, vco_mhz=0.0, params={})
    out, divr, divf, divq, pfd, vco = nearest(_ice40_candidates(in_mhz), mhz, family="iCE40",
                                            vco_mid=800)
    # The loop filter range follows the PFD frequency (as icepll chooses it).
    filter_range = next(i for i, top in enumerate((17, 26, 44, 66, 101, 1e9), 1) if pfd < top)
    return ClockPlan(requested_mhz=mhz, mhz=out, vco_mhz=vco, params={
        "p_FEEDBACK_PATH": "SIMPLE", "p_DIVR": divr, "p_DIVF": divf, "p_DIVQ": divq,
        "p_FILTER_RANGE": filter_range})


class ICEBreaker(Board):
    name = "icebreaker"
    family = "ice40"
    bitstream = ".bin"
    cells: ClassVar[dict[str, str]] = {"luts": "ICESTORM_LC", "ffs": "ICESTORM_LC", "brams": "ICESTORM_RAM",
             "spram": "ICESTORM_SPRAM", "dsps": "ICESTORM_DSP"}
    dsps = 8
    dsp_width = 16  # SB_MAC16

    def platform(self):
        ICEBreakerPlatform = platform_class("amaranth_boards.icebreaker", "ICEBreakerPlatform")

        platform = ICEBreakerPlatform()
        platform.add_resources(platform.break_off_pmod)
        return platform

    def plan_clock(self, mhz: float) -> ClockPlan:
        return ice40_pll(_IN_MHZ, mhz)

    def clock_domain(self, m: Module, platform, plan: ClockPlan, clk: Signal) -> Signal:
        pin = platform.request(self.constraints.clock_input, dir="-")
        if not plan.params:  # the oscillator itself, no PLL
            m.submodules.clk_in = clk_in = io.Buffer("i", pin)
            m.d.comb += clk.eq(clk_in.i)
            return Const(1)
        locked = Signal()
        m.submodules.pll = Instance("SB_PLL40_PAD", **plan.params,
                                    i_RESETB=1, i_BYPASS=0, io_PACKAGEPIN=pin.io,
                                    o_PLLOUTGLOBAL=clk, o_LOCK=locked)
        return locked

    def overrides(self, *, lut_columns: int) -> dict:
        # The UP5K's SB_MAC16 are used only when asked for; the MXM's LUT columns (submodules
        # ``lutmul``) become radix-4 Booth multipliers.
        return {"synth_opts": "-dsp",
                **({"script_after_read": "booth *.lutmul"} if lut_columns else {})}


ICEBREAKER = ICEBreaker()
