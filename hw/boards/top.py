"""The top level every board shares: PLL clock, reset on lock, the core behind its UART
bridge, and status LEDs."""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.utils import ceil_log2

from ..machine.config import CoreConfig
from ..rtl.bridge import BridgedCore
from ..rtl.uart import divisor_for
from .board import Board, BoardConfigError, ClockPlan

__all__ = ["BoardTop", "EchoTop", "clock_and_reset", "led_pin", "uart_pins"]


def uart_pins(m: Module, platform, resource: tuple[str, int]):
    """The UART's rx input and tx output, through I/O buffers."""
    uart = platform.request(*resource, dir="-")
    m.submodules.uart_rx_pin = rx = io.Buffer("i", uart.rx)
    m.submodules.uart_tx_pin = tx = io.Buffer("o", uart.tx)
    return rx.i, tx.o


def led_pin(m: Module, platform, role: str, resource: tuple[str, int]):
    """The output that lights the LED of ``role`` (the buffer takes care of inverted pins)."""
    m.submodules[f"led_{role}"] = led = io.Buffer("o", platform.request(*resource, dir="-"))
    return led.o


def clock_and_reset(m: Module, platform, board: Board, clock: ClockPlan) -> None:
    """The ``sync`` domain from the board's PLL, constrained to its frequency, held in reset
    until the PLL locks."""
    m.domains.sync = ClockDomain("sync")
    # The PLL's output, named so that the clock constraint finds it in the netlist.
    pll_clk = Signal(name="pll_clk")
    locked = board.clock_domain(m, platform, clock, pll_clk)
    m.d.comb += ClockSignal("sync").eq(pll_clk)
    platform.add_clock_constraint(pll_clk, clock.hz)
    m.submodules.reset = ResetSynchronizer(~locked, domain="sync")


class EchoTop(Elaboratable):
    """Bring-up design: the board's PLL and UART, every received byte sent back, the
    heartbeat LED. Small and quick to build, it checks a board's clock, UART and build flow
    without a core (and is what the tests build for real).

    Parameters
    ----------
    board : the board.
    clock : the PLL plan (:meth:`Board.plan_clock`).
    """

    def __init__(self, *, board: Board, clock: ClockPlan):
        self.board, self.clock = board, clock
        try:
            self.divisor = divisor_for(clock.hz, board.constraints.baud)
        except ValueError as e:
            raise BoardConfigError(f"{board.constraints.path}: {e}") from None

    def elaborate(self, platform):
        from amaranth.lib import wiring

        from ..rtl.uart import UARTRx, UARTTx

        m = Module()
        constraints = self.board.constraints
        clock_and_reset(m, platform, self.board, self.clock)
        m.submodules.rx = rx = UARTRx(divisor=self.divisor)
        m.submodules.tx = tx = UARTTx(divisor=self.divisor)
        wiring.connect(m, rx.stream, tx.stream)
        line_in, line_out = uart_pins(m, platform, constraints.uart)
        m.d.comb += [rx.rx.eq(line_in), line_out.eq(tx.tx)]
        ticks = Signal(max(1, ceil_log2(self.clock.hz)))
        m.d.sync += ticks.eq(ticks + 1)
        if "heartbeat" in constraints.leds:
            m.d.comb += led_pin(m, platform, "heartbeat", constraints.leds["heartbeat"]).eq(
                ticks[-1])
        return m


class BoardTop(Elaboratable):
    """A core, its UART bridge and LEDs on ``board``, clocked by the board's PLL.

    Parameters
    ----------
    config : the core geometry.
    board : the board.
    clock : the PLL plan (:meth:`Board.plan_clock`).
    lut_columns : MXM product columns built as LUT multipliers (see ``hw/rtl/mxm.py``).

    Members
    -------
    divisor : clock cycles per UART bit at the board's baud rate.
    timeout : clock cycles of quiet line that end a broken frame.
    """

    def __init__(self, *, config: CoreConfig, board: Board, clock: ClockPlan,
                 lut_columns: int = 0):
        self.config, self.board, self.clock = config, board, clock
        self.lut_columns = lut_columns
        constraints = board.constraints
        try:
            self.divisor = divisor_for(clock.hz, constraints.baud)
        except ValueError as e:
            raise BoardConfigError(f"{constraints.path}: {e}") from None
        self.timeout = round(constraints.timeout_ms * 1e-3 * clock.hz)

    def elaborate(self, platform):
        m = Module()
        constraints = self.board.constraints

        clock_and_reset(m, platform, self.board, self.clock)

        # --- the core behind its bridge --------------------------------------------------------
        m.submodules.core = core = BridgedCore(
            config=self.config, divisor=self.divisor, clock_hz=self.clock.hz,
            timeout=self.timeout, lut_columns=self.lut_columns)
        line_in, line_out = uart_pins(m, platform, constraints.uart)
        m.d.comb += [core.rx.eq(line_in), line_out.eq(core.tx)]

        # --- LEDs -------------------------------------------------------------------------------
        # A counter whose top bit toggles about once a second: the heartbeat.
        ticks = Signal(max(1, ceil_log2(self.clock.hz)))
        m.d.sync += ticks.eq(ticks + 1)
        # An error reply lights the error LED for about a quarter of a second.
        glow = Signal(max(1, ceil_log2(self.clock.hz // 4)))
        with m.If(core.error):
            m.d.sync += glow.eq(-1)
        with m.Elif(glow != 0):
            m.d.sync += glow.eq(glow - 1)
        shows = {"running": core.running, "done": core.done, "error": glow != 0,
                 "heartbeat": ticks[-1]}
        for role, resource in constraints.leds.items():
            m.d.comb += led_pin(m, platform, role, resource).eq(shows[role])
        return m
