"""What a board is to Conveyor: a platform, a PLL, and the constraints file it reads.

A :class:`Board` names the amaranth-boards platform, the FPGA family's PLL (a board computes
its divider settings for the clock asked for), the openFPGALoader board name and which nextpnr
cells count as LUTs, flip-flops, block RAM and DSPs. :class:`Constraints` is what
``constraints/<board>.toml`` adds: the default core config, the clock target, the UART and its
baud rate, and which LED shows what.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from math import ceil
from pathlib import Path

from amaranth.hdl import Module, Signal

from ..machine.config import CONSTRAINTS_DIR
from ..rtl.vxm import WORD
from . import BoardConfigError

__all__ = ["CONSTRAINTS_DIR", "Board", "BoardConfigError", "ClockPlan", "Constraints", "nearest",
           "platform_class"]



@dataclass(frozen=True)
class ClockPlan:
    """The core clock a PLL makes.

    Members
    -------
    requested_mhz : what was asked for.
    mhz : what the PLL's dividers give (the sign-off target).
    params : the PLL primitive's parameters (``p_`` names for ``Instance``).
    vco_mhz : the PLL's VCO frequency.
    """

    requested_mhz: float
    mhz: float
    params: dict
    vco_mhz: float

    @property
    def hz(self) -> int:
        return round(self.mhz * 1e6)


@dataclass(frozen=True)
class Constraints:
    """A board's ``constraints/<board>.toml``.

    Members
    -------
    config : the core config built when none is given.
    programmer : openFPGALoader's ``-b`` name for the board.
    flash : ``conveyor flash`` writes the SPI flash by default (else it loads SRAM).
    clock_input : amaranth-boards resource of the oscillator.
    target_mhz : the core clock.
    uart : (resource, number) of the UART to the host.
    baud : its baud rate.
    timeout_ms : quiet time that ends a broken frame.
    leds : role (``running``, ``done``, ``error``, ``heartbeat``) -> (resource, number).
    path : the file.
    """

    config: str
    programmer: str
    flash: bool
    clock_input: str
    target_mhz: float
    uart: tuple[str, int]
    baud: int
    timeout_ms: float
    leds: dict[str, tuple[str, int]]
    path: Path

    @classmethod
    def load(cls, path: Path) -> Constraints:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BoardConfigError(f"{path}: no such constraints file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise BoardConfigError(f"{path}: cannot read ({e})") from None
        try:
            board, clock, uart = data["board"], data["clock"], data["uart"]
            leds = {role: (str(name), int(number))
                    for role, (name, number) in data.get("leds", {}).items()}
            unknown = sorted(set(leds) - {"running", "done", "error", "heartbeat"})
            if unknown:
                raise ValueError(f"unknown LED role {unknown[0]!r}")
            name, number = uart["resource"]
            config = str(board["config"])
            if config.endswith(".toml"):  # a config file next to the constraints file
                config = str(path.parent / config)
            return cls(config=config, programmer=str(board["openfpgaloader"]),
                       flash=bool(board.get("flash", False)), clock_input=str(clock["input"]),
                       target_mhz=float(clock["target_mhz"]), uart=(str(name), int(number)),
                       baud=int(uart["baud"]), timeout_ms=float(uart["timeout_ms"]),
                       leds=leds, path=path)
        except KeyError as e:
            raise BoardConfigError(f"{path}: missing key {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise BoardConfigError(f"{path}: {e}") from None


class Board:
    """One supported board; subclasses fill in the class attributes and :meth:`plan_clock`,
    :meth:`clock_domain`.

    Members
    -------
    name : the ``--board`` name; also the constraints file's stem.
    family : ``"ice40"`` or ``"ecp5"``.
    bitstream : the bitstream's file suffix.
    cells : report key -> nextpnr cell type for LUTs, FFs, block RAM, large RAM and DSPs.
    """

    name: str
    family: str
    bitstream: str
    cells: dict[str, str]
    #: Multiplier blocks of the FPGA, and the operand width of one.
    dsps: int
    dsp_width: int
    #: Extra nextpnr options for this FPGA.
    nextpnr_opts: str = ""

    @property
    def vxm_dsps_per_lane(self) -> int:
        """Blocks for one VXM lane of one ALU: its WORD x WORD product (mul.i8, mul.i32 and
        requant share it), split by Yosys into blocks of ``dsp_width`` (4 on both boards, as
        measured in docs/boards.md)."""
        return ceil(WORD / self.dsp_width) ** 2

    def dsp_budget(self, config) -> int:
        """Multiplier blocks left for the MXM once the VXM has taken its own."""
        vxm = config.floorplan.count("vxm") * config.vxm_alus * config.lanes
        return self.dsps - vxm * self.vxm_dsps_per_lane

    def platform(self):
        """A fresh amaranth-boards platform object."""
        raise NotImplementedError

    @property
    def constraints(self) -> Constraints:
        return Constraints.load(CONSTRAINTS_DIR / f"{self.name}.toml")

    def plan_clock(self, mhz: float) -> ClockPlan:
        """The PLL settings nearest to ``mhz``."""
        raise NotImplementedError

    def clock_domain(self, m: Module, platform, plan: ClockPlan, clk: Signal) -> Signal:
        """Instantiate the PLL for ``plan`` driving ``clk``; return its lock signal."""
        raise NotImplementedError

    def overrides(self, *, lut_columns: int) -> dict:
        """Toolchain overrides for a core with ``lut_columns`` MXM LUT columns."""
        return {}


def platform_class(module: str, name: str) -> type:
    """An amaranth-boards platform class; BoardConfigError if amaranth-boards is missing."""
    try:
        return getattr(import_module(module), name)
    except ImportError:
        raise BoardConfigError("amaranth-boards is not installed: pip install "
                               "'conveyor-lpu[dev]' (or pip install amaranth-boards)") from None


def nearest(candidates, mhz: float, *, family: str, vco_mid: float) -> tuple:
    """The candidate (output MHz, ..., VCO MHz) at or just above ``mhz`` (a board runs at least
    as fast as asked, so timing is signed off against at least that), the VCO nearest
    ``vco_mid`` among equals; BoardConfigError if none is within 2 %."""
    above = [c for c in candidates if mhz <= c[0] <= 1.02 * mhz]
    if not above:
        best = min(candidates, key=lambda c: abs(c[0] - mhz), default=None)
        reach = f" (nearest {best[0]:.3f} MHz)" if best is not None else ""
        raise BoardConfigError(f"the {family} PLL cannot make {mhz:g} MHz from this board's "
                               f"oscillator{reach}")
    return min(above, key=lambda c: (round(c[0] - mhz, 9), abs(c[-1] - vco_mid)))
