"""The assembler: Conveyor assembly text -> :class:`Program` (the language: docs/assembly.md).

No instruction syntax is written here. Each op's ``syntax`` template and ``fields`` in
:mod:`conveyor.hw.machine.isa` drive the operand parser and ``check_value`` decides every range, so a new
op needs no change in this file. After parsing, a static check walks the program's timeline and
reports two instructions that write the same stream cell.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np

from ...errors import AsmError, ConveyorError
from ...hw.machine import isa
from ...hw.machine.cells import Tracks, result_cells
from ...hw.machine.config import CoreConfig, Queue
from ...hw.machine.isa import (
    OPS,
    STREAM_KINDS,
    Field,
    Instr,
    Op,
    Stream,
    check_value,
    op_named,
    ops_for_role,
)
from ...hw.machine.program import DataBlock, Program, SrcLoc, timeline, unbuilt

__all__ = ["assemble", "assemble_file", "instr_problem", "splitmix64"]

#: Fields that may be left off the end of an instruction, and their value then (the ISA says
#: "stride may be omitted: 0"; ``Instr.__str__`` drops a zero stride).
OPTIONAL_KINDS = {"stride": 0}

_DIRECTIVES = (".equ", ".queue", ".data", ".i8", ".i32", ".random")


# --- lexer ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    """One lexeme: kind is "num", "name", "dir" (a directive) or "punct"; col is 1-based."""

    kind: str
    text: str
    col: int


_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<comment>[;\#].*)
  | (?P<num>[0-9][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<dir>\.[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>->|//|[,:=+\-*()@\[\]])
""", re.VERBOSE | re.ASCII)

_STREAM = re.compile(r"([ew])([0-9]+)", re.ASCII)
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+", re.ASCII)
# Characters that never occur in text: a file holding one is binary.
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


class _LexError(Exception):
    def __init__(self, message: str, col: int):
        super().__init__(message)
        self.message, self.col = message, col


def tokenize(text: str) -> list[Token]:
    """Split one line into tokens, dropping whitespace and the comment."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _LexError(f"unexpected character {text[pos]!r}", pos + 1)
        if m.lastgroup == "comment":
            break
        if m.lastgroup != "ws":
            tokens.append(Token(m.lastgroup, m.group(), pos + 1))
        pos = m.end()
    return tokens


def _number(text: str) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    base = {"0x": 16, "0b": 2}.get(text[:2].lower(), 10)
    return int(text[2:] if base != 10 else text, base)


# --- one line -------------------------------------------------------------------------------

class _Line:
    """The tokens of one source line and a cursor over them; errors carry this line's place."""

    def __init__(self, tokens: list[Token], file: str, line: int, end: int):
        self.tokens, self.file, self.line, self.end, self.pos = tokens, file, line, end, 0

    def error(self, message: str, col: int | None = None) -> NoReturn:
        raise AsmError(message, self.file, self.line, self.col() if col is None else col)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def col(self) -> int:
        """Column of the next token, or just past the end of the line."""
        tok = self.peek()
        return tok.col if tok else self.end

    def take(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            self.error(f"expected {what} before the end of the line")
        self.pos += 1
        return tok

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str, hint: str = "") -> None:
        if not self.accept(text):
            tok = self.peek()
            found = f", found '{tok.text}'" if tok else " before the end of the line"
            self.error(f"expected '{text}'{found}{hint}")

    def done(self, what: str) -> None:
        tok = self.peek()
        if tok is not None:
            self.error(f"unexpected '{tok.text}' after {what}")

    def loc(self, col: int) -> SrcLoc:
        return SrcLoc(self.file, self.line, col)


# --- operand templates, derived from hw.isa ------------------------------------------------

def _template(op: Op) -> list[str | Field]:
    """An op's syntax as a list of literal token texts and fields, e.g. [a, ',', b, '->', d]."""
    items: list[str | Field] = []
    for k, part in enumerate(re.split(r"\{(\w+)\}", op.syntax)):
        if k % 2:
            items.append(op.field(part))
        else:
            items += [t.text for t in tokenize(part)]
    return items


_TEMPLATES = {op.mnemonic: _template(op) for op in OPS}


def _omittable(items: list[str | Field]) -> bool:
    return bool(items) and all(isinstance(i, str) or i.kind in OPTIONAL_KINDS for i in items)


def _describe(f: Field) -> str:
    return f"{f.name} ({isa.FIELD_KINDS[f.kind][1].replace('`', '')})"


# --- checks shared with the image loader ---------------------------------------------------

def instr_problem(before: list[Instr], instr: Instr,
                  config: CoreConfig) -> tuple[str | None, str] | None:
    """Why ``instr`` cannot follow ``before`` in one queue of ``config``.

    Returns (the field at fault or None for the whole instruction, message), or None if it can.
    These are the ICU's rules (docs/architecture.md, "Queues and issue") plus field ranges.
    """
    for f in instr.op.fields:
        problem = check_value(f.kind, instr[f.name], config)
        if problem:
            return f.name, problem
    problem = unbuilt(instr, config)
    if problem:
        return problem
    prev = before[-1] if before else None
    if prev is not None and prev.op.mnemonic == "halt":
        return None, f"'{instr.op.mnemonic}' follows halt, so it would never issue"
    if instr.op.mnemonic != "repeat":
        return None
    if prev is None or prev.op.kind == "icu":
        what = f"'{prev.op.mnemonic}'" if prev else "the start of the queue"
        return None, f"repeat must follow a slice instruction, not {what}"
    return _stride_problem(prev, instr, config)


def _stride_problem(prev: Instr, rep: Instr, config: CoreConfig) -> tuple[str, str] | None:
    stride = rep["stride"]
    if stride == 0:
        return None
    name = prev.op.address
    if name is None:
        return "stride", (f"repeat's stride steps an address, and '{prev.op.mnemonic}' has "
                          f"none (use stride 0)")
    last = prev[name] + rep["n"] * stride  # the address moves monotonically: check the end
    problem = check_value(prev.op.field(name).kind, last, config)
    if problem:
        return "stride", f"repeat steps {prev.op.mnemonic}'s {name} to {last}: {problem}"
    return None


# --- .random ----------------------------------------------------------------------------------

_GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(seed: int, count: int) -> np.ndarray:
    """The first ``count`` outputs of splitmix64 seeded with ``seed``, as uint64.

    state += 0x9E3779B97F4A7C15; z = state; z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9;
    z = (z ^ z >> 27) * 0x94D049BB133111EB; output z ^ z >> 31 (all mod 2^64). Output i only
    depends on seed + (i + 1) * golden, so numpy computes all of them at once.
    """
    u = np.uint64
    z = u(seed) + np.arange(1, count + 1, dtype=u) * u(_GOLDEN)
    z = (z ^ (z >> u(30))) * u(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> u(27))) * u(0x94D049BB133111EB)
    return z ^ (z >> u(31))


# --- the assembler --------------------------------------------------------------------------

@dataclass
class _Block:
    """An open ``.data`` section: one byte plane per slice, filled in step."""

    slices: list[str]
    addr: int
    loc: SrcLoc
    planes: list[bytearray] = field(default_factory=list)


class _Assembler:
    def __init__(self, config: CoreConfig, file: str):
        self.config, self.file = config, file
        self.consts: dict[str, tuple[int, SrcLoc]] = {}
        self.section: Queue | _Block | None = None
        self.queues: dict[str, list[Instr]] = {}
        self.locs: dict[str, list[SrcLoc]] = {}
        self.headers: dict[str, SrcLoc] = {}
        self.data: list[DataBlock] = []
        self.owner: dict[tuple[str, int], tuple[_Block, SrcLoc]] = {}

    # --- driver ---

    def run(self, text: str) -> Program:
        lines = text.split("\n")
        for number, raw in enumerate(lines, 1):
            self.line(raw.rstrip("\r"), number)
        self.close_block()
        return self.program()

    def line(self, raw: str, number: int) -> None:
        bad = _BINARY.search(raw)
        if bad:
            at = (1, 1) if number == 1 else (number, bad.start() + 1)
            raise AsmError("not a text file" + ("" if number == 1 else
                           f" (control character {bad.group()!r})"), self.file, *at)
        try:
            tokens = tokenize(raw)
        except _LexError as e:
            raise AsmError(e.message, self.file, number, e.col) from None
        if not tokens:
            return
        end = tokens[-1].col + len(tokens[-1].text)
        cur = _Line(tokens, self.file, number, end)
        head = cur.take("a statement")
        if head.kind == "dir":
            self.directive(cur, head)
        elif head.kind == "name":
            self.instruction(cur, head)
        else:
            cur.error(f"expected an instruction or a directive, found '{head.text}'", head.col)

    # --- expressions ---

    def expr(self, cur: _Line) -> int:
        value = self.term(cur)
        while (tok := cur.peek()) is not None and tok.text in ("+", "-"):
            cur.pos += 1
            rhs = self.term(cur)
            value = value + rhs if tok.text == "+" else value - rhs
        return value

    def term(self, cur: _Line) -> int:
        value = self.unary(cur)
        while (tok := cur.peek()) is not None and tok.text in ("*", "//"):
            cur.pos += 1
            rhs = self.unary(cur)
            if tok.text == "*":
                value *= rhs
            elif rhs == 0:
                cur.error("division by zero", tok.col)
            else:
                value //= rhs
        return value

    def unary(self, cur: _Line) -> int:
        if cur.accept("-"):
            return -self.unary(cur)
        if cur.accept("+"):
            return self.unary(cur)
        return self.atom(cur)

    def atom(self, cur: _Line) -> int:
        tok = cur.take("a number")
        if tok.text == "(":
            value = self.expr(cur)
            cur.expect(")")
            return value
        if tok.kind == "num":
            value = _number(tok.text)
            if value is None:
                cur.error(f"bad number '{tok.text}'", tok.col)
            return value
        if tok.kind == "name" and _STREAM.fullmatch(tok.text):
            cur.error(f"expected a number, found the stream {tok.text}", tok.col)
        if tok.kind == "name" and cur.accept("("):
            return self.builtin(cur, tok)
        if tok.kind == "name":
            if tok.text not in self.consts:
                cur.error(f"undefined constant '{tok.text}'", tok.col)
            return self.consts[tok.text][0]
        cur.error(f"expected a number, found '{tok.text}'", tok.col)

    def builtin(self, cur: _Line, func: Token) -> int:
        """``latency(MNEMONIC)`` and ``position(SLICE)``: hand-written timing derived from the
        timing table and the floorplan instead of repeating their numbers."""
        arg = cur.take("an argument")
        cur.expect(")")
        if func.text == "latency":
            op = op_named(arg.text)
            if op is None or op.kind == "icu":
                cur.error(f"latency() takes a slice instruction, not '{arg.text}'"
                          f"{_suggest(arg.text, [o.mnemonic for o in OPS if o.kind != 'icu'])}",
                          arg.col)
            return self.config.timing.latency(op)
        if func.text == "position":
            names = [sl.name for sl in self.config.slices]
            if arg.text not in names:
                cur.error(f"no slice '{arg.text}' in {self.config.name} (have "
                          f"{', '.join(names)})", arg.col)
            return self.config.slice_named(arg.text).position
        cur.error(f"unknown function '{func.text}' (have latency, position)", func.col)

    def value(self, cur: _Line, kind: str) -> int:
        """An expression that must fit a field of ``kind`` (hw.isa.check_value decides)."""
        col = cur.col()
        value = self.expr(cur)
        problem = check_value(kind, value, self.config)
        if problem:
            cur.error(problem, col)
        return value

    # --- operands ---

    def stream(self, cur: _Line) -> Stream:
        tok = cur.take("a stream")
        m = _STREAM.fullmatch(tok.text) if tok.kind == "name" else None
        if m is None:
            s = self.config.streams
            what = "bad stream name" if tok.kind == "name" else "expected a stream, found"
            cur.error(f"{what} '{tok.text}' (streams are e0..e{s - 1} and w0..w{s - 1}, "
                      f"int32 groups e0:4, e4:4, ...)", tok.col)
        width = 1
        if cur.accept(":"):
            w = cur.take("a group width")
            width = _number(w.text) if w.kind == "num" else None
            if width is None:
                cur.error(f"expected a group width like 4, found '{w.text}'", w.col)
        return Stream(m.group(1), int(m.group(2)), width)

    def operand(self, cur: _Line, f: Field):
        tok = cur.peek()
        if tok is None:
            cur.error(f"expected {_describe(f)} before the end of the line")
        is_stream = tok.kind == "name" and _STREAM.fullmatch(tok.text)
        if f.kind in STREAM_KINDS or (f.kind.startswith("opnd") and is_stream):
            return self.stream(cur)
        return self.expr(cur)

    def operands(self, cur: _Line, op: Op) -> tuple[dict[str, object], dict[str, int]]:
        """Match the rest of the line against the op's template: values and their columns."""
        items = _TEMPLATES[op.mnemonic]
        hint = f" (syntax: {op.mnemonic} {op.syntax})".replace(" )", ")")
        values: dict[str, object] = {}
        cols: dict[str, int] = {}
        for k, item in enumerate(items):
            if cur.peek() is None and _omittable(items[k:]):
                values.update({i.name: OPTIONAL_KINDS[i.kind] for i in items[k:]
                               if isinstance(i, Field)})
                break
            if isinstance(item, str):
                cur.expect(item, hint)
                continue
            cols[item.name] = cur.col()
            values[item.name] = self.operand(cur, item)
            problem = check_value(item.kind, values[item.name], self.config)
            if problem:
                cur.error(problem, cols[item.name])
        cur.done(f"the operands of {op.mnemonic}{hint}")
        return values, cols

    # --- instructions ---

    def instruction(self, cur: _Line, head: Token) -> None:
        op = op_named(head.text)
        if op is None:
            cur.error(f"unknown mnemonic '{head.text}'{_suggest(head.text)}", head.col)
        queue = self.section
        if not isinstance(queue, Queue):
            where = "a .data section" if queue else "any .queue section"
            cur.error(f"instruction '{op.mnemonic}' outside {where}; start one with "
                      f"'.queue NAME'", head.col)
        if queue.role not in op.roles:
            cur.error(_wrong_queue(op, queue, self.config), head.col)
        values, cols = self.operands(cur, op)
        instr = Instr(op, tuple((f.name, values[f.name]) for f in op.fields))
        self.append(queue, instr, cur.loc(head.col), cols)

    def append(self, queue: Queue, instr: Instr, loc: SrcLoc, cols: dict[str, int]) -> None:
        instrs = self.queues.setdefault(queue.name, [])
        problem = instr_problem(instrs, instr, self.config)
        if problem:
            name, message = problem
            raise AsmError(message, loc.file, loc.line, cols.get(name, loc.col))
        depth = self.config.queue_depth
        if len(instrs) >= depth:
            raise AsmError(f"'{instr.op.mnemonic}' does not fit: {queue.name} holds "
                           f"{depth} instruction words (queue_depth), including the final "
                           f"halt", loc.file, loc.line, loc.col)
        instrs.append(instr)
        self.locs.setdefault(queue.name, []).append(loc)

    # --- directives ---

    def directive(self, cur: _Line, head: Token) -> None:
        handlers = {".equ": self.equ, ".queue": self.queue, ".data": self.data_header,
                    ".i8": self.i8, ".i32": self.i32, ".random": self.random}
        if head.text not in handlers:
            cur.error(f"unknown directive '{head.text}'{_suggest(head.text, _DIRECTIVES)} "
                      f"(have: {', '.join(_DIRECTIVES)})", head.col)
        handlers[head.text](cur, head)

    def equ(self, cur: _Line, head: Token) -> None:
        tok = cur.take("a constant name")
        if tok.kind != "name" or "." in tok.text:
            cur.error(f"expected a constant name, found '{tok.text}'", tok.col)
        if _STREAM.fullmatch(tok.text):
            cur.error(f"'{tok.text}' is a stream name and cannot be a constant", tok.col)
        if tok.text in self.consts:
            cur.error(f"duplicate constant '{tok.text}' (first defined at "
                      f"{self.consts[tok.text][1]})", tok.col)
        cur.expect(",")
        value = self.expr(cur)
        cur.done(".equ's value")
        self.consts[tok.text] = (value, cur.loc(tok.col))

    def queue(self, cur: _Line, head: Token) -> None:
        tok = cur.take("a queue name")
        names = [q.name for q in self.config.queues]
        if tok.text not in names:
            cur.error(f"unknown queue '{tok.text}' (config '{self.config.name}' has: "
                      f"{', '.join(names)})", tok.col)
        cur.done("the queue name")
        self.close_block()
        self.section = self.config.queue_named(tok.text)
        self.headers[tok.text] = cur.loc(head.col)

    def data_header(self, cur: _Line, head: Token) -> None:
        slices = [self.mem_slice(cur)]
        while cur.accept(","):
            slices.append(self.mem_slice(cur))
        cur.expect("@")
        addr = self.value(cur, "addr")
        cur.done("the address")
        self.close_block()
        self.section = _Block(slices, addr, cur.loc(head.col),
                              [bytearray() for _ in slices])

    def mem_slice(self, cur: _Line) -> str:
        tok = cur.take("a MEM slice name")
        names = [s.name for s in self.config.mem_slices]
        if tok.text not in names:
            cur.error(f"unknown MEM slice '{tok.text}' (config '{self.config.name}' has: "
                      f"{', '.join(names)})", tok.col)
        if any(t.text == tok.text for t in cur.tokens[:cur.pos - 1]):
            cur.error(f"MEM slice '{tok.text}' is named twice", tok.col)
        return tok.text

    def block(self, cur: _Line, head: Token, planes: int) -> _Block:
        b = self.section
        if not isinstance(b, _Block):
            cur.error(f"'{head.text}' outside a .data section", head.col)
        if len(b.slices) != planes:
            need = ("a block of one MEM slice" if planes == 1 else
                    f"a block of {planes} MEM slices (one per byte)")
            cur.error(f"'{head.text}' needs {need}; this block has {len(b.slices)}", head.col)
        return b

    def values(self, cur: _Line, kind: str) -> list[int]:
        out = [self.value(cur, kind)]
        while cur.accept(","):
            out.append(self.value(cur, kind))
        cur.done("the values")
        return out

    def i8(self, cur: _Line, head: Token) -> None:
        b = self.block(cur, head, 1)
        self.fill(b, [bytes(v & 0xFF for v in self.values(cur, "opnd8"))], cur.loc(head.col))

    def i32(self, cur: _Line, head: Token) -> None:
        b = self.block(cur, head, 4)
        values = self.values(cur, "opnd32")
        planes = [bytes(v >> 8 * k & 0xFF for v in values) for k in range(4)]
        self.fill(b, planes, cur.loc(head.col))

    def random(self, cur: _Line, head: Token) -> None:
        b = self.block(cur, head, 1)
        count = self.value(cur, "count")
        cur.expect(",")
        cur.expect("seed")
        cur.expect("=")
        col = cur.col()
        seed = self.expr(cur)
        if not 0 <= seed < 1 << 64:
            cur.error(f"seed {seed} is out of range 0..2^64-1", col)
        cur.done("the seed")
        self.pad(b)
        data = splitmix64(seed, count * self.config.lanes).astype(np.uint8).tobytes()
        self.fill(b, [data], cur.loc(head.col))

    # --- data blocks ---

    def pad(self, b: _Block) -> None:
        lanes = self.config.lanes
        for plane in b.planes:
            plane.extend(bytes(-len(plane) % lanes))

    def fill(self, b: _Block, planes: list[bytes], loc: SrcLoc) -> None:
        """Append bytes to each plane and claim the MEM words they touch for this line."""
        lanes = self.config.lanes
        start = len(b.planes[0])
        for plane, data in zip(b.planes, planes):
            plane.extend(data)
        first, last = start // lanes, (len(b.planes[0]) - 1) // lanes
        if b.addr + last >= self.config.mem_depth:
            raise AsmError(f"data runs past the end of MEM: word {b.addr + last} is beyond "
                           f"mem_depth {self.config.mem_depth}", loc.file, loc.line, loc.col)
        for name in b.slices:
            for word in range(b.addr + first, b.addr + last + 1):
                owner = self.owner.setdefault((name, word), (b, loc))
                if owner[0] is not b:
                    raise AsmError(f"{name} word {word} is already given by the data line at "
                                   f"{owner[1]}", loc.file, loc.line, loc.col)

    def close_block(self) -> None:
        b = self.section
        if isinstance(b, _Block):
            self.pad(b)
            for name, plane in zip(b.slices, b.planes):
                values = np.frombuffer(bytes(plane), np.int8).reshape(-1, self.config.lanes)
                self.data.append(DataBlock(name, b.addr, values.copy(), b.loc))
        self.section = None

    # --- the result ---

    def program(self) -> Program:
        """The queues in config order, each ending in halt; an appended halt's location is its
        queue's last .queue line."""
        program = Program.empty(self.config)
        halt = Instr.make("halt")
        for name, instrs in self.queues.items():
            if instrs[-1].op.mnemonic != "halt":
                if len(instrs) >= self.config.queue_depth:
                    loc = self.locs[name][-1]
                    raise AsmError(f"{name} is full: no room for the halt that ends it "
                                   f"(queue_depth {self.config.queue_depth})",
                                   loc.file, loc.line, loc.col)
                instrs.append(halt)
                self.locs[name].append(self.headers[name])
            program.queues[name] = instrs
        program.data = self.data
        program.locs = self.locs
        return program


def _suggest(word: str, choices=None) -> str:
    choices = [op.mnemonic for op in OPS] if choices is None else list(choices)
    close = difflib.get_close_matches(word, choices, n=3)
    close += [c for c in choices if c.lower() == word.lower() and c not in close]
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _wrong_queue(op: Op, queue: Queue, config: CoreConfig) -> str:
    present = {q.role for q in config.queues}
    roles = " or ".join(r for r in op.roles if r in present)
    takes = ", ".join(ops_for_role(queue.role))
    return f"'{op.mnemonic}' is a {roles} instruction; {queue.name} takes: {takes}"


def _check_hazards(program: Program) -> None:
    """Two instructions writing one stream cell (docs/architecture.md, "Streams") is an error at
    the one that issues later."""
    written = Tracks()
    for issue in timeline(program):
        cells = result_cells(issue.instr, issue.queue.slice.position, issue.cycle,
                             program.config.timing)
        for cell in cells:
            other = written.write(cell, (issue.queue.name, issue.index))
            if other is not None:
                loc = program.locs[issue.queue.name][issue.index]
                raise AsmError(f"stream {cell.dir}{cell.stream} at position {cell.position} in "
                               f"cycle {cell.cycle} is also written by {program.where(*other)}",
                               loc.file, loc.line, loc.col)


def assemble(text: str, config: CoreConfig, filename: str = "<input>", *,
             check: bool = True) -> Program:
    """Assemble ``text`` for ``config``; raise :class:`AsmError` at the first problem.

    ``check=False`` skips the static stream-collision check (the program is then only known to
    be well-formed, not free of collisions).
    """
    asm = _Assembler(config, filename)
    program = asm.run(text)
    if check:
        _check_hazards(program)
    return program


def assemble_file(path: str | Path, config: CoreConfig, *, check: bool = True) -> Program:
    """Read and assemble a file; a file that is not UTF-8 text is an :class:`AsmError`."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConveyorError(f"{name}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        if line == 1:
            raise AsmError("not a text file", name, 1, 1) from None
        start = data.rfind(b"\n", 0, e.start) + 1
        col = len(data[start:e.start].decode("utf-8", "replace")) + 1
        raise AsmError(f"not a text file (byte {data[e.start]:#04x} is not UTF-8)",
                       name, line, col) from None
    return assemble(text, config, name, check=check)
