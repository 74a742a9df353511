"""The host port's address map, and a program in its words: which writes load it, which
reads bring MEM back (docs/architecture.md, "Host port").

Every side of the port uses this one description: the RTL decodes addresses with
:class:`HostMap`, the cocotb driver (:mod:`conveyor.sim.cocotb_host`) turns the writes into one
port access per cycle, and the board driver (:mod:`conveyor.sw.host.driver`) packs runs of
consecutive addresses into UART frames.
"""

from __future__ import annotations

import numpy as np

from .config import CoreConfig
from .isa import encode
from .program import Program, ProgramError

__all__ = ["HostMap", "load_writes", "mem_address", "mem_reads", "pack_lanes", "queue_address",
           "unpack_lanes"]


class HostMap:
    """The host address map of ``config`` (docs/architecture.md), as bit positions.

    Members
    -------
    region_lo : first bit of the region (0 = queues, 1 = MEM); 2 bits.
    index_lo, index_bits : the queue index or MEM slice ordinal.
    chunk_bits : bits of the MEM chunk number below the word address.
    indices : how many queues (and MEM slices) the index reaches.
    queue_words, mem_words : instruction words per queue, words per MEM slice, that the bits
        below the index reach.
    """

    region_lo = 30
    index_lo = 22
    index_bits = 8
    QUEUE, MEM = 0, 1

    indices = 1 << index_bits
    queue_words = 1 << (index_lo - 1)  # below the index: instruction, then its 32-bit half

    def __init__(self, config: CoreConfig):
        self.chunk_bits = (config.lanes // 4 - 1).bit_length()
        self.mem_words = 1 << (self.index_lo - self.chunk_bits)

    @classmethod
    def queue_addr(cls, queue: int, instr: int, half: int) -> int:
        """Host address of 32-bit half ``half`` of instruction ``instr`` of queue ``queue`` (the
        same for every config)."""
        return cls.QUEUE << cls.region_lo | queue << cls.index_lo | instr << 1 | half

    def mem_addr(self, ordinal: int, word: int, chunk: int) -> int:
        """Host address of chunk ``chunk`` (lanes 4*chunk ..) of word ``word`` of memK."""
        return (self.MEM << self.region_lo | ordinal << self.index_lo
                | word << self.chunk_bits | chunk)


def queue_address(queue_index: int, instruction: int, half: int) -> int:
    """Host word address of one 32-bit half of a queue's instruction (half 0 = bits 31:0)."""
    return HostMap.queue_addr(queue_index, instruction, half)


def mem_address(config: CoreConfig, slice_ordinal: int, word: int, chunk: int) -> int:
    """Host word address of lanes 4*chunk .. 4*chunk+3 of one MEM word."""
    return HostMap(config).mem_addr(slice_ordinal, word, chunk)


def pack_lanes(values: np.ndarray) -> np.ndarray:
    """(n, lanes) int8 -> (n, lanes/4) uint32, lane 4k in bits 7:0 of chunk k."""
    return np.ascontiguousarray(values, dtype=np.int8).view("<u4").reshape(len(values), -1)


def unpack_lanes(words: np.ndarray, lanes: int) -> np.ndarray:
    """The inverse of :func:`pack_lanes`: uint32 chunks -> (n, lanes) int8."""
    return np.ascontiguousarray(words, dtype="<u4").view(np.int8).reshape(-1, lanes)


def load_writes(program: Program) -> tuple[np.ndarray, np.ndarray]:
    """The host writes that load ``program``: every queue (all of them, since queue memories
    keep old contents) and every block of MEM data, as (addresses, words), both uint32.

    Raises ProgramError for a queue with no instructions or more than ``queue_depth``.
    """
    config = program.config
    addrs: list[np.ndarray] = []
    words: list[np.ndarray] = []
    for index, queue in enumerate(config.queues):
        instrs = program.queues.get(queue.name)
        if not instrs:
            raise ProgramError(f"program has no instructions for queue {queue.name}")
        if len(instrs) > config.queue_depth:
            raise ProgramError(f"queue {queue.name} holds {len(instrs)} instructions, more "
                               f"than queue_depth {config.queue_depth}")
        encoded = np.array([encode(instr) for instr in instrs], dtype=np.uint64)
        halves = np.stack([encoded & 0xFFFF_FFFF, encoded >> np.uint64(32)], axis=1)
        addrs.append(queue_address(index, 0, 0) + np.arange(2 * len(instrs), dtype=np.int64))
        words.append(halves.reshape(-1))
    for block in program.data:
        ordinal = config.slice_named(block.slice).index
        chunks = pack_lanes(block.values)
        addrs.append(np.array([mem_address(config, ordinal, block.addr + w, c)
                               for w in range(chunks.shape[0])
                               for c in range(chunks.shape[1])], dtype=np.int64))
        words.append(chunks.reshape(-1))
    if not addrs:
        return np.zeros(0, np.uint32), np.zeros(0, np.uint32)
    return (np.concatenate(addrs).astype(np.uint32),
            np.concatenate(words).astype(np.uint32))


def mem_reads(config: CoreConfig, slice_ordinal: int, first: int, count: int) -> np.ndarray:
    """Host addresses of words ``first .. first+count-1`` of MEM slice ``slice_ordinal``, all
    of each word's chunks in order; :func:`unpack_lanes` turns what they read into lanes."""
    per_word = config.lanes // 4
    return np.array([mem_address(config, slice_ordinal, first + w, c)
                     for w in range(count) for c in range(per_word)], dtype=np.uint32)
