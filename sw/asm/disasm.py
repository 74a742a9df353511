"""The disassembler: :class:`Program` -> canonical assembly text.

The text assembles back to the same program image (``image.pack(assemble(disassemble(p)))`` is
``image.pack(p)``): every queue that holds more than a lone ``halt`` gets one section with its
instructions as ``str(Instr)`` and an explicit final ``halt``, and every data block becomes one
``.data`` section of its own, one ``.i8`` line per word, in the program's order.
"""

from __future__ import annotations

import numpy as np

from ...hw.machine.program import DataBlock, Program

__all__ = ["disassemble"]


def disassemble(program: Program) -> str:
    """Canonical assembly text for ``program``."""
    lines = [f"; Conveyor program for config '{program.config.name}'"]
    for queue in program.config.queues:
        instrs = program.queues.get(queue.name, [])
        if len(instrs) == 1 and instrs[0].op.mnemonic == "halt":
            continue
        lines += ["", f".queue {queue.name}"] + [f"    {instr}" for instr in instrs]
    for block in program.data:
        lines += [""] + _block_lines(block)
    return "\n".join(lines) + "\n"


def _block_lines(block: DataBlock) -> list[str]:
    values = np.asarray(block.values, dtype=np.int8)
    return [f".data {block.slice} @ {block.addr}"] + [
        "    .i8 " + ", ".join(str(int(v)) for v in word) for word in values]
