"""The host port in words: which writes load a program, which reads bring MEM back.

Every host of the core uses this one description of the host port's address map
(:class:`conveyor.hw.core.HostMap`, docs/architecture.md "Host port"): the cocotb driver
(:mod:`conveyor.sim.cocotb_host`) turns the writes into one port access per cycle, the board
driver (:mod:`conveyor.sw.driver`) packs runs of consecutive addresses into UART frames.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..hw.config import CoreConfig
from ..hw.core import HostMap
from ..hw.isa import encode
from .program import Program, ProgramError

__all__ = ["load_writes", "mem_address", "mem_reads", "pack_lanes", "queue_address", "runs",
           "unpack_lanes"]


def queue_address(queue_index: int, instruction: int, half: int) -> int:
    """Host word address of one 32-bit half of a queue's instruction (half 0 = bits 31:0)."""
    return HostMap.QUEUE << HostMap.region_lo | queue_index << HostMap.index_lo \
        | instruction << 1 | half


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


def runs(addrs: np.ndarray, most: int) -> Iterator[tuple[int, slice]]:
    """Split ``addrs`` into runs of consecutive addresses of at most ``most`` words: yields
    (first address, slice of ``addrs``) for a bridge that writes or reads bursts."""
    addrs = np.asarray(addrs, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(addrs) != 1) + 1
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(addrs)]):
        for start in range(int(lo), int(hi), most):
            yield int(addrs[start]), slice(start, min(start + most, int(hi)))
