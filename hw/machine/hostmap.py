"""The host port's address map (docs/architecture.md, "Host port"): where each queue's
instruction words and each MEM slice's words are, and how a vector's lanes are packed into the
port's 32-bit words. The RTL decodes addresses with :class:`HostMap`;
:mod:`conveyor.hw.machine.hostwords` puts a program into those words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the config checks itself against this map
    from .config import CoreConfig

__all__ = ["HostMap", "mem_address", "pack_lanes", "queue_address", "unpack_lanes"]


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
