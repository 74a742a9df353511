"""A program in the host port's words: which writes load it, which reads bring MEM back.

Every host of the core uses these: the cocotb driver (:mod:`conveyor.sim.cocotb_host`) turns
the writes into one port access per cycle, the board driver (:mod:`conveyor.sw.host.driver`)
packs runs of consecutive addresses into UART frames. The addresses come from
:mod:`conveyor.hw.machine.hostmap`.
"""

from __future__ import annotations

import numpy as np

from .config import CoreConfig
from .hostmap import mem_address, pack_lanes, queue_address
from .isa import encode
from .program import Program, ProgramError

__all__ = ["load_writes", "mem_reads"]


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
