"""An 8N1 UART: a receiver and a transmitter with byte streams on the inside.

The line side is one bit each way (``rx`` in, ``tx`` out, idle high); the fabric side is an
:class:`amaranth.lib.stream.Signature` of bytes with ``valid``/``ready``. Both ends run from the
core's clock: ``divisor`` clock cycles per bit, so the baud rate is ``f_clk / divisor``.
These live outside the core, where handshakes belong (the core itself has none).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["MIN_DIVISOR", "UARTRx", "UARTTx", "divisor_for"]

#: Fewest clock cycles per bit the receiver can sample reliably (mid-bit, after a 2-FF
#: synchroniser).
MIN_DIVISOR = 4


def divisor_for(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clock_hz``, checked: a UART tolerates about 2%
    of rate error between the two ends, so more than 1.5% here is refused."""
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"{baud} baud needs at least {MIN_DIVISOR} clock cycles per bit, "
                         f"a clock of {MIN_DIVISOR * baud / 1e6:g} MHz or more, not "
                         f"{clock_hz / 1e6:g} MHz")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.015:
        raise ValueError(f"{baud} baud from {clock_hz / 1e6:g} MHz is off by {error:.1%} "
                         f"(divisor {divisor}); pick another baud rate or clock")
    return divisor


def _check_divisor(divisor) -> None:
    if not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be an integer of at least {MIN_DIVISOR} clock cycles "
                         f"per bit, not {divisor!r}")


class UARTRx(wiring.Component):
    """8N1 receiver.

    Parameters
    ----------
    divisor : clock cycles per bit.

    Members
    -------
    rx : in, the line (idle high); synchronised here.
    stream : out, received bytes. A byte stays valid until taken; a byte that completes while
        the previous one is still waiting is dropped and ``overrun`` pulses.
    error : out, pulses when a byte's stop bit is low (a framing error); the byte is dropped.
    overrun : out, pulses when a byte is dropped because ``stream`` was not ready.
    """

    rx: In(1, init=1)
    stream: Out(stream.Signature(8))
    error: Out(1)
    overrun: Out(1)

    def __init__(self, *, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__()

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        # Cycles until the next sampling point.
        count = Signal(range(div))
        # Data bits still to sample.
        bits = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.stream.ready):
            m.d.sync += self.stream.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"), m.If(~line):
                m.d.sync += count.eq(div // 2 - 1)
                m.next = "START"
            with m.State("START"):
                # Mid start bit: still low is a start bit, high again was a glitch.
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(line):
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [count.eq(div - 1), bits.eq(8)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), count.eq(div - 1),
                                 bits.eq(bits - 1)]
                    with m.If(bits == 1):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(line):
                    with m.If(self.stream.valid & ~self.stream.ready):
                        m.d.comb += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.stream.payload.eq(shreg), self.stream.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.error.eq(1)
                    m.next = "BREAK"
            # A low stop bit: wait for the line to go idle before looking for a start bit.
            with m.State("BREAK"), m.If(line):
                m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter.

    Parameters
    ----------
    divisor : clock cycles per bit.

    Members
    -------
    stream : in, bytes to send; one is taken whenever the line is free.
    tx : out, the line (idle high).
    busy : out, a byte is on the line.
    """

    stream: In(stream.Signature(8))
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, *, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__()

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        count = Signal(range(div))
        # Bits still to send: start, 8 data, stop.
        bits = Signal(range(11))
        # The frame, least significant bit first; the stop bit shifts in ones behind it.
        shreg = Signal(10, init=1)

        m.d.comb += [self.tx.eq(shreg[0]), self.busy.eq(bits != 0),
                     self.stream.ready.eq(bits == 0)]
        with m.If(self.stream.valid & self.stream.ready):
            m.d.sync += [shreg.eq(Cat(0, self.stream.payload, 1)), bits.eq(10),
                         count.eq(div - 1)]
        with m.Elif(bits != 0):
            with m.If(count != 0):
                m.d.sync += count.eq(count - 1)
            with m.Else():
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1), count.eq(div - 1)]
        return m
