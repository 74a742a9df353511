"""The one machine description: :class:`CoreConfig` and its named presets.

Every other part of Conveyor (the Amaranth generator, the assembler, the golden model, the
compiler, the testbenches) takes a ``CoreConfig`` and derives what it needs from it: slice
positions, queue names, address widths. Nothing else declares geometry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ConfigError
from .isa import FIELD_KINDS, GROUP, OPS, STREAM_INDEX_BITS, Op, value_range
from .timing import STAGES, Timing

__all__ = [
    "CONSTRAINTS_DIR",
    "GROUP",
    "MAX_ACC_DEPTH",
    "MAX_LANES",
    "MAX_MEM_DEPTH",
    "MAX_STREAMS",
    "PRESETS",
    "SLICE_KINDS",
    "CoreConfig",
    "Queue",
    "Slice",
    "board_cores",
    "load_config",
]

#: Every VXM op, in declaration order.
_VXM_OPS = tuple(op.mnemonic for op in OPS if op.kind == "vxm")

#: Slice kinds: memory, vector ALUs, matrix (weight-stationary int8 MACs), switch (lane moves).
SLICE_KINDS = ("mem", "vxm", "mxm", "sxm")


def _field_values(kind: str) -> int:
    """How many values a field of ``kind`` holds (its width in ``hw/machine/isa.py``)."""
    return 1 << FIELD_KINDS[kind][0]


#: Limits that follow from the instruction encoding.
MAX_STREAMS = 1 << STREAM_INDEX_BITS   # streams per direction a stream operand can name
MAX_MEM_DEPTH = _field_values("addr")  # words a MEM address field can name
MAX_ACC_DEPTH = _field_values("acc")   # accumulator rows an accumulator field can name
MAX_LANES = _field_values("lane")      # lanes a lane field (lw's row, bcast's i) can name


@dataclass(frozen=True)
class Slice:
    """One functional slice of the floorplan.

    Members
    -------
    kind : "mem", "vxm", "mxm" or "sxm".
    index : ordinal among the slices of the same kind, west to east (``mem2`` has index 2).
    position : index in the floorplan, west = 0; a stream hop moves one position per cycle.
    """

    kind: str
    index: int
    position: int

    @property
    def name(self) -> str:
        return f"{self.kind}{self.index}"


@dataclass(frozen=True)
class Queue:
    """One in-order instruction queue.

    Members
    -------
    name : assembly section name, e.g. ``mem0.rd`` or ``vxm0.alu1``.
    slice : the slice this queue drives.
    role : which instructions it takes: ``"mem"`` (read and write), ``"mem.rd"``,
        ``"mem.wr"``, ``"vxm"``, ``"mxm.w"`` (weight loads), ``"mxm.mm"`` (matrix multiplies),
        ``"mxm.acc"`` (accumulator reads) or ``"sxm"``.
    """

    name: str
    slice: Slice
    role: str


@dataclass(frozen=True)
class CoreConfig:
    """Geometry of one Conveyor core, validated on construction.

    Parameters
    ----------
    name : a label; not part of the fingerprint.
    lanes : bytes per vector (L); a multiple of 4 so the 32-bit host port moves whole words.
    streams : stream registers per direction (S); a multiple of 4 (int32 stream groups).
    floorplan : slice kinds from west to east.
    mem_depth : vectors per MEM slice.
    vxm_alus : ALUs per lane in each VXM slice, each with its own queue.
    mem_ports : 2 gives each MEM slice a read queue and a write queue (one read and one
        write per cycle); 1 gives it a single queue.
    queue_depth : instruction words per queue.
    acc_depth : int32 accumulator rows in each MXM slice.
    clock_mhz : the board clock this config is built for, used to turn cycles into time.
    pipeline : extra register stages (names from :data:`~conveyor.hw.machine.timing.STAGES`):
        where a board needs them to close its clock; its latencies are ``timing``'s.
    vxm_ops : the VXM ops its ALUs build (mnemonics), or None for all of them; a program with
        another is refused.
    max_nop, max_repeat : the longest ``nop`` and the largest ``repeat`` count and distance the
        queues' counters hold (the encoding holds more; narrower counters are cheaper).
    """

    name: str
    lanes: int
    streams: int
    floorplan: tuple[str, ...]
    mem_depth: int
    vxm_alus: int
    mem_ports: int = 2
    queue_depth: int = 256
    acc_depth: int = 64
    clock_mhz: float = 25.0
    pipeline: tuple[str, ...] = ()
    vxm_ops: tuple[str, ...] | None = None
    max_nop: int = value_range("wait")[1]
    max_repeat: int = value_range("count")[1]
    slices: tuple[Slice, ...] = field(init=False, repr=False, compare=False)
    queues: tuple[Queue, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "floorplan", tuple(self.floorplan))
        for name in ("pipeline", "vxm_ops"):  # lists from TOML; kept in a canonical order
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                order = list(STAGES) if name == "pipeline" else list(_VXM_OPS)
                object.__setattr__(self, name, tuple(sorted(
                    value, key=lambda v: order.index(v) if v in order else len(order))))
        self._validate()
        object.__setattr__(self, "slices", self._make_slices())
        object.__setattr__(self, "queues", self._make_queues())
        self._check_host_port()

    # --- validation ---------------------------------------------------------------------

    def _validate(self):
        from .hostmap import HostMap  # the host map stands on this module

        def need(ok, message):
            if not ok:
                raise ConfigError(f"config {self.name!r}: {message}")

        def integer(name, lo, hi):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool),
                 f"{name} must be an integer, not {value!r}")
            need(lo <= value <= hi, f"{name} must be between {lo} and {hi}, not {value}")

        need(isinstance(self.name, str) and self.name != "", "name must be a non-empty string")
        integer("lanes", 4, MAX_LANES)
        need(self.lanes % 4 == 0, f"lanes must be a multiple of 4, not {self.lanes}")
        integer("streams", GROUP, MAX_STREAMS)
        need(self.streams % GROUP == 0,
             f"streams must be a multiple of {GROUP} (int32 groups), not {self.streams}")
        integer("mem_depth", 16, MAX_MEM_DEPTH)
        integer("vxm_alus", 1, 16)
        integer("mem_ports", 1, 2)
        integer("queue_depth", 16, HostMap.queue_words)
        integer("acc_depth", 1, MAX_ACC_DEPTH)
        need(isinstance(self.clock_mhz, (int, float)) and self.clock_mhz > 0,
             f"clock_mhz must be a positive number, not {self.clock_mhz!r}")
        need(len(self.floorplan) > 0, "floorplan must name at least one slice")
        for kind in self.floorplan:
            need(kind in SLICE_KINDS,
                 f"unknown slice kind {kind!r} in floorplan (have: {', '.join(SLICE_KINDS)})")
        need("mem" in self.floorplan, "floorplan needs at least one mem slice")
        need(isinstance(self.pipeline, tuple), "pipeline must be a list of stage names")
        for stage in self.pipeline:
            need(stage in STAGES, f"unknown pipeline stage {stage!r} (have: "
                 f"{', '.join(STAGES)})")
        need(len(set(self.pipeline)) == len(self.pipeline), "pipeline names a stage twice")
        if self.vxm_ops is not None:
            need(isinstance(self.vxm_ops, tuple) and self.vxm_ops,
                 "vxm_ops must be a non-empty list of VXM mnemonics")
            for name in self.vxm_ops:
                need(name in _VXM_OPS, f"vxm_ops: {name!r} is not a VXM op")
        integer("max_nop", 1, value_range("wait")[1])
        integer("max_repeat", 1, value_range("count")[1])

    def _check_host_port(self) -> None:
        """What the host port's address map can reach (hw/machine/hostmap.py)."""
        from .hostmap import HostMap  # the host map stands on this module

        hm = HostMap(self)
        for what, count in (("queues", len(self.queues)), ("MEM slices", len(self.mem_slices))):
            if count > hm.indices:
                raise ConfigError(f"config {self.name!r}: {count} {what} are more than the "
                                  f"host port addresses ({hm.indices})")
        if self.mem_depth > hm.mem_words:
            raise ConfigError(f"config {self.name!r}: mem_depth {self.mem_depth} is more than "
                              f"the host port addresses at {self.lanes} lanes ({hm.mem_words})")

    # --- derived geometry ---------------------------------------------------------------

    def _make_slices(self) -> tuple[Slice, ...]:
        counts: dict[str, int] = {}
        slices = []
        for position, kind in enumerate(self.floorplan):
            slices.append(Slice(kind, counts.get(kind, 0), position))
            counts[kind] = counts.get(kind, 0) + 1
        return tuple(slices)

    def mem_queue(self, slice_name: str, op: str) -> str:
        """The queue that issues ``op`` ("read" or "write") on MEM slice ``slice_name``: its
        read or write queue with two ports, its only queue with one."""
        if self.mem_ports == 1:
            return slice_name
        return f"{slice_name}.{'rd' if op == 'read' else 'wr'}"

    def _make_queues(self) -> tuple[Queue, ...]:
        queues = []
        for s in self.slices:
            if s.kind == "mem" and self.mem_ports == 2:
                queues += [Queue(f"{s.name}.rd", s, "mem.rd"), Queue(f"{s.name}.wr", s, "mem.wr")]
            elif s.kind == "mem":
                queues.append(Queue(s.name, s, "mem"))
            elif s.kind == "vxm":
                queues += [Queue(f"{s.name}.alu{i}", s, "vxm") for i in range(self.vxm_alus)]
            elif s.kind == "mxm":
                queues += [Queue(f"{s.name}.{part}", s, f"mxm.{part}")
                           for part in ("w", "mm", "acc")]
            else:
                queues.append(Queue(s.name, s, "sxm"))
        return tuple(queues)

    @property
    def positions(self) -> int:
        """Number of slice positions (stream register columns)."""
        return len(self.floorplan)

    def floorplan_text(self) -> str:
        """The floorplan with runs folded: ``mem×4 vxm mem×4``."""
        runs: list[list] = []
        for kind in self.floorplan:
            if runs and runs[-1][0] == kind:
                runs[-1][1] += 1
            else:
                runs.append([kind, 1])
        return " ".join(k if n == 1 else f"{k}×{n}" for k, n in runs)

    @property
    def mem_slices(self) -> tuple[Slice, ...]:
        return tuple(s for s in self.slices if s.kind == "mem")

    def slices_of(self, kind: str) -> tuple[Slice, ...]:
        """The slices of ``kind``, west to east."""
        return tuple(s for s in self.slices if s.kind == kind)

    def slice_named(self, name: str) -> Slice:
        for s in self.slices:
            if s.name == name:
                return s
        raise KeyError(name)

    def queue_named(self, name: str) -> Queue:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)

    @property
    def addr_bits(self) -> int:
        """Bits of a MEM word address."""
        return max(1, (self.mem_depth - 1).bit_length())

    # --- identity and serialisation ------------------------------------------------------

    @property
    def timing(self) -> Timing:
        """The latencies of this core's pipeline."""
        return Timing.of(frozenset(self.pipeline))

    def builds(self, op: Op) -> bool:
        """Whether this core builds ``op`` (every op but the VXM ops its ``vxm_ops`` leaves
        out)."""
        return op.kind != "vxm" or self.vxm_ops is None or op.mnemonic in self.vxm_ops

    def geometry(self) -> dict:
        """The fields that decide whether a program image fits this core (no name, no clock):
        its geometry and timing, and what its slices build. Fields at their defaults are left
        out, so that a core that does not use them keeps its fingerprint."""
        out = {
            "lanes": self.lanes, "streams": self.streams, "floorplan": list(self.floorplan),
            "mem_depth": self.mem_depth, "vxm_alus": self.vxm_alus,
            "mem_ports": self.mem_ports, "queue_depth": self.queue_depth,
            "acc_depth": self.acc_depth,
        }
        for f in dataclasses.fields(self):
            if f.name in ("pipeline", "vxm_ops", "max_nop", "max_repeat"):
                value = getattr(self, f.name)
                if value != f.default:
                    out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @property
    def fingerprint(self) -> bytes:
        """8 bytes that identify the geometry; stored in every program image."""
        text = json.dumps(self.geometry(), sort_keys=True).encode()
        return hashlib.sha256(text).digest()[:8]

    def to_dict(self) -> dict:
        return {"name": self.name, **self.geometry(), "clock_mhz": self.clock_mhz}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> CoreConfig:
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r} (allowed: "
                              f"{', '.join(sorted(names))})")
        data = dict(data)
        data.setdefault("name", Path(source).stem)
        missing = [n for n in ("lanes", "streams", "floorplan", "mem_depth", "vxm_alus")
                   if n not in data]
        if missing:
            raise ConfigError(f"{source}: missing key {missing[0]!r}")
        plan = data["floorplan"]
        if isinstance(plan, str):
            plan = plan.split()
        if not isinstance(plan, (list, tuple)) or not all(isinstance(k, str) for k in plan):
            raise ConfigError(f"{source}: floorplan must be a list of slice kinds or a string "
                              f"like \"mem vxm mem\"")
        data["floorplan"] = tuple(plan)
        return cls(**data)


def _preset(name, **kw) -> CoreConfig:
    return CoreConfig(name=name, **kw)


#: Named presets, smallest first.
PRESETS: dict[str, CoreConfig] = {c.name: c for c in (
    # iCEBreaker (iCE40 UP5K): the smallest complete core, and the fast test config.
    # Four MEM slices west of the VXM so an int32 stream group can come from MEM; SXM and MXM
    # at the east edge, as in the TSP's eastern hemisphere.
    _preset("tiny", lanes=4, streams=4,
            floorplan=("mem",) * 4 + ("vxm",) + ("mem",) * 2 + ("sxm", "mxm"),
            mem_depth=256, vxm_alus=2, queue_depth=256, acc_depth=64, clock_mhz=20.0),
    # ULX3S 85F (ECP5): the VTA-class 16-lane core, a 16x16 int8 MXM.
    _preset("small16", lanes=16, streams=8,
            floorplan=("mem",) * 4 + ("vxm",) + ("mem",) * 4 + ("sxm", "mxm"),
            mem_depth=1024, vxm_alus=2, queue_depth=1024, acc_depth=512, clock_mhz=100.0),
    # The full TSP geometry, both hemispheres (golden model; too large for our boards).
    _preset("tsp", lanes=320, streams=32,
            floorplan=("mxm", "mxm", "sxm") + ("mem",) * 44 + ("vxm",) + ("mem",) * 44
            + ("sxm", "mxm", "mxm"),
            mem_depth=8192, vxm_alus=16, queue_depth=4096, acc_depth=4096, clock_mhz=900.0),
)}


#: Where the boards' files live: ``constraints/`` at the top of the source tree. A board's core
#: is a config file there named ``BOARD-core.toml`` (``conveyor build`` makes it by default).
CONSTRAINTS_DIR = Path(__file__).resolve().parents[2] / "constraints"


def board_cores() -> dict[str, Path]:
    """The board cores (``constraints/*-core.toml``) by the name each file gives its config."""
    cores = {}
    for path in sorted(CONSTRAINTS_DIR.glob("*-core.toml")):
        cores[_read_toml(path, str(path)).get("name", path.stem)] = path
    return cores


def _read_toml(path: Path, spec: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{spec}: no such config file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{spec}: not a valid TOML file ({e})") from None
    except OSError as e:
        raise ConfigError(f"{spec}: cannot read ({e.strerror})") from None


def load_config(spec: str) -> CoreConfig:
    """A preset's name, a board core's name (``conveyor configs`` lists both), or the path of a
    TOML file -> a validated config. A file's config may take any name."""
    if spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if not (spec.endswith(".toml") or path.exists()):
        path = board_cores().get(spec)
        if path is None:
            raise ConfigError(f"unknown config {spec!r}: use a preset or board core "
                              f"({', '.join([*PRESETS, *board_cores()])}) or a .toml file")
    return CoreConfig.from_dict(_read_toml(path, spec), source=str(path))
