"""Assembly and program images: the assembler (text -> :class:`Program`), the disassembler
(the way back), and the binary image format (docs/assembly.md, docs/image.md)."""

from .assembler import assemble, assemble_file, instr_problem, splitmix64

__all__ = ["assemble", "assemble_file", "instr_problem", "splitmix64"]
