"""The stream conveyor: one L-byte register per (direction, stream, position).

A value that slice p writes to an eastward stream in cycle t is the *cell* at p in cycle t; the
conveyor register at p holds it during cycle t+1, where it is the incoming value at p+1 (the
mirror image for westward streams). A slice reads the cell at its own position: its own write
this cycle if it makes one, else the incoming register. Slices write from registers, so a read
never depends combinationally on the same slice's write logic.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..machine.config import GROUP, CoreConfig
from ..machine.isa import STREAM_DIR_BIT, Stream
from ..machine.timing import STREAM_HOP

__all__ = [
    "StreamConveyor",
    "StreamPortSignature",
    "group_lanes",
    "lane_bytes",
    "select_group",
    "select_stream",
    "stream_codes",
    "stream_ports",
]


class StreamPortSignature(wiring.Signature):
    """One stream at one position, seen from the slice there.

    Parameters
    ----------
    lanes : bytes per vector.

    Members
    -------
    we : out, the slice writes this stream in this cycle.
    data : out, the vector it writes (``8 * lanes`` bits, lane 0 in bits 7:0).
    cell : in, the value of the stream cell at this position in this cycle.
    """

    def __init__(self, *, lanes: int):
        self._lanes = lanes
        super().__init__({
            "we": Out(1),
            "data": Out(8 * lanes),
            "cell": In(8 * lanes),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    def __eq__(self, other):
        return isinstance(other, StreamPortSignature) and other.lanes == self.lanes

    def __repr__(self):
        return f"StreamPortSignature(lanes={self.lanes})"


def stream_ports(config: CoreConfig) -> dict:
    """The ``east`` and ``west`` port arrays of a slice: one :class:`StreamPortSignature` per
    stream of each direction."""
    sig = StreamPortSignature(lanes=config.lanes)
    return {"east": Out(sig).array(config.streams), "west": Out(sig).array(config.streams)}


class StreamConveyor(wiring.Component):
    """The eastward and westward stream registers of a whole core.

    Parameters
    ----------
    config : the core geometry (``lanes``, ``streams``, ``positions``).

    Members
    -------
    east, west : ``[position][stream]`` arrays of slice-facing stream ports (flipped
        :class:`StreamPortSignature`): the write enable and data of the slice at that position,
        and the cell it reads.
    """

    def __init__(self, *, config: CoreConfig):
        self._config = config
        sig = StreamPortSignature(lanes=config.lanes)
        dims = (config.positions, config.streams)
        super().__init__({"east": In(sig).array(*dims), "west": In(sig).array(*dims)})

    def elaborate(self, platform):
        assert STREAM_HOP == 1, "one register per position moves a value one position a cycle"
        m = Module()
        cfg = self._config
        for name, ports, step in (("e", self.east, 1), ("w", self.west, -1)):
            # The register at [p][s] holds cell(p, s) of the previous cycle: the incoming value
            # of the next position in this direction.
            regs = [[Signal(8 * cfg.lanes, name=f"{name}{s}_p{p}") for s in range(cfg.streams)]
                    for p in range(cfg.positions)]
            for p in range(cfg.positions):
                src = p - step
                for s in range(cfg.streams):
                    port = ports[p][s]
                    incoming = regs[src][s] if 0 <= src < cfg.positions else Const(0)
                    m.d.comb += port.cell.eq(Mux(port.we, port.data, incoming))
                    m.d.sync += regs[p][s].eq(port.cell)
        return m


# --- operand selection (shared by the slices) -----------------------------------------------

def stream_codes(config: CoreConfig, width: int = 1) -> list[tuple[int, str, int]]:
    """``(code, dir, index)`` of every stream (``width`` 1) or stream group (``width`` 4) of
    ``config``, ``code`` being the 6-bit operand encoding of :class:`hw.isa.Stream`."""
    return [(Stream(d, i, width).bits, d, i)
            for d in ("e", "w") for i in range(0, config.streams, width)]


def _tree(code, bits: list[int], leaves: list):
    """A binary multiplexer tree choosing ``leaves[i]``, i spelled by ``code``'s ``bits``
    (least significant first). Yosys maps this to a fraction of the LUTs of the one-hot
    ``$pmux`` that a ``Switch`` over every code becomes (the MXM's stream choice on small16:
    17.4K -> 5.4K LUT4)."""
    for bit in bits:
        leaves = [Mux(code[bit], leaves[k + 1], leaves[k]) for k in range(0, len(leaves), 2)]
    return leaves[0]


def select_stream(m: Module, config: CoreConfig, east, west, code, *, name: str) -> Signal:
    """A signal equal to the cell of the stream that the 6-bit ``code`` names. A code beyond
    this config's streams, which a valid program never reads, gives 0 or another stream's
    cell."""
    index_bits = max(1, (config.streams - 1).bit_length())
    zero = Const(0, 8 * config.lanes)
    leaves = [ports[i].cell if i < config.streams else zero
              for ports in (east, west) for i in range(1 << index_bits)]
    out = Signal(8 * config.lanes, name=name)
    m.d.comb += out.eq(_tree(code, [*range(index_bits), STREAM_DIR_BIT], leaves))
    return out


def select_group(m: Module, config: CoreConfig, east, west, code, *, name: str) -> list:
    """The cells of the int32 stream group whose base the 6-bit ``code`` names, as a list of
    :data:`GROUP` vectors, least significant byte first (the code's two low bits, zero in a
    valid program, are not looked at)."""
    index_bits = max(2, (config.streams - 1).bit_length())
    zero = Const(0, 8 * config.lanes)
    out = []
    for k in range(GROUP):
        leaves = [ports[i + k].cell if i + k < config.streams else zero
                  for ports in (east, west) for i in range(0, 1 << index_bits, GROUP)]
        sig = Signal(8 * config.lanes, name=f"{name}{k}")
        m.d.comb += sig.eq(_tree(code, [*range(2, index_bits), STREAM_DIR_BIT], leaves))
        out.append(sig)
    return out


def lane_bytes(vector, lanes: int) -> list:
    """The byte of each lane of an ``8 * lanes``-bit vector."""
    return [vector[8 * i:8 * i + 8] for i in range(lanes)]


def group_lanes(group: list, lanes: int) -> list:
    """The 32-bit value of each lane of a stream group (byte 0 from the lowest stream)."""
    return [Cat(*(v[8 * i:8 * i + 8] for v in group)) for i in range(lanes)]
