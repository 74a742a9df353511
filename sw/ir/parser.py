"""Text -> Module: the inverse of :mod:`conveyor.sw.ir.printer`.

Grammar (``//`` starts a comment that runs to the end of the line)::

    module  := 'module' '@'name ['attributes' attrs] '{' op* '}'
    op      := [value (',' value)* '='] opname [value (',' value)*] [attrs] [':' type (',' type)*]
    attrs   := '{' [key '=' attr (',' key '=' attr)*] '}'
    attr    := int | float | 'true' | 'false' | string | '[' [attr (',' attr)*] ']' | attrs
             | 'dense<"0xHEX">' ':' type | 'dense<' number-or-nested-list '>' ':' type

A module's attributes are its ``level`` and its ``target``, the core it is compiled for (a
dict of :class:`~conveyor.hw.machine.config.CoreConfig`'s fields).
    type    := keyword '<' body '>'            e.g. tensor<4x8xi8>

After an op name, values followed by ``=`` are the next op's results, not operands. Every
error is an :class:`IRError` with ``file:line:col``; the module is verified before it is
returned, and a verifier error carries the place of the op that failed.

Speed: the text is cut into token strings by one ``findall`` and token kinds are told by their
first character; places (line, column) are only worked out for an error.
"""

from __future__ import annotations

import bisect
import json
import re

import numpy as np

from ...errors import ConfigError
from ...hw.machine.config import CoreConfig
from .core import OPS, Attr, IRError, Module, Op, SourceLoc, TensorType, Type, Value

__all__ = ["parse_module"]

_TOKEN = re.compile(r"""
    (?:\s|//[^\n]*)*                        # skipped: white space and comments
    ( dense<[^<>]*>                         # dense<...>: one token
    | [A-Za-z_][\w.]*(?:<[^<>"]*>)?         # a keyword, an op name, or a type like tensor<..>
    | %[\w.$-]+                             # a value
    | @(?:[\w.$-]+|"(?:[^"\\\n]|\\.)*")     # a symbol
    | "(?:[^"\\\n]|\\.)*"                   # a string
    | -?[0-9]+(?:\.[0-9]*(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)  # a float
    | -?(?:0x[0-9a-fA-F]+|[0-9]+)           # an integer
    | ->
    | .                                     # punctuation, or a character that is wrong here
    )""", re.VERBOSE | re.DOTALL)

_PUNCT = frozenset("{}()[],:=")
_EOF = ""
_SENTINEL = "\n\0"


class _Parser:
    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        # The sentinel keeps the white-space skip from ever backtracking (it would hand a
        # trailing newline or comment to the catch-all); it becomes the end-of-input token.
        self.tokens: list[str] = _TOKEN.findall(text + _SENTINEL)
        self.tokens[-1] = _EOF
        self.pos = 0
        self._starts: list[int] | None = None
        self._line_starts: list[int] | None = None
        self.values: dict[str, Value] = {}
        self.types: dict[str, Type] = {}

    # -- places ------------------------------------------------------------------------------

    def place(self, index: int) -> tuple[str, int, int]:
        """(file, line, col) of token ``index``; tokenises again (once) to find it."""
        if self._starts is None:
            self._starts = [m.start(1) for m in _TOKEN.finditer(self.text + _SENTINEL)]
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        offset = min(self._starts[min(index, len(self._starts) - 1)], len(self.text))
        line = bisect.bisect_right(self._line_starts, offset)
        return self.file, line, offset - self._line_starts[line - 1] + 1

    def error(self, message: str, index: int | None = None) -> IRError:
        return IRError(message, *self.place(self.pos if index is None else index))

    def found(self, index: int | None = None) -> str:
        tok = self.tokens[self.pos if index is None else index]
        return "end of input" if tok is _EOF else repr(tok)

    # -- tokens ------------------------------------------------------------------------------

    def accept(self, text: str) -> bool:
        if self.tokens[self.pos] == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> None:
        if self.tokens[self.pos] != text:
            raise self.error(f"expected {what or repr(text)}, found {self.found()}")
        self.pos += 1

    def is_value(self, index: int) -> bool:
        tok = self.tokens[index]
        return tok[:1] == "%" and len(tok) > 1

    # -- grammar -----------------------------------------------------------------------------

    def module(self) -> Module:
        self.expect("module")
        sym = self.tokens[self.pos]
        if sym[:1] != "@" or len(sym) < 2:
            raise self.error(f"expected a module name like @mlp, found {self.found()}")
        self.pos += 1
        name = json.loads(sym[1:]) if sym[1] == '"' else sym[1:]
        level, target = "graph", None
        if self.accept("attributes"):
            start = self.pos
            attrs = self.attr_dict()
            for key, value in attrs.items():
                if (key, type(value)) not in (("level", str), ("target", dict)):
                    raise self.error('a module\'s attributes are level = "..." and '
                                     'target = {...}', start)
            level = attrs.get("level", level)
            if "target" in attrs:
                target = self.target(attrs["target"], start)
        self.expect("{")
        ops = []
        while not self.accept("}"):
            if self.tokens[self.pos] is _EOF:
                raise self.error("expected '}' to close the module, found end of input")
            ops.append(self.op())
        if self.tokens[self.pos] is not _EOF:
            raise self.error(f"expected end of input after the module, found {self.found()}")
        module = Module(name, level, ops, target)
        module.verify()
        return module

    def target(self, attrs: dict, at: int) -> CoreConfig:
        """The module's target core from its attribute dict."""
        try:
            return CoreConfig.from_dict(attrs, source="target")
        except ConfigError as e:
            raise self.error(f"module target: {e}", at) from None

    def op(self) -> Op:
        tokens = self.tokens
        start = self.pos
        result_names: list[tuple[str, int]] = []
        if self.is_value(self.pos):
            result_names.append((tokens[self.pos][1:], self.pos))
            self.pos += 1
            while self.accept(","):
                if not self.is_value(self.pos):
                    raise self.error(f"expected a result name like %y, found {self.found()}")
                result_names.append((tokens[self.pos][1:], self.pos))
                self.pos += 1
            self.expect("=")
        name_at = self.pos
        name = tokens[name_at]
        cls = OPS.get(name)
        if cls is None:
            if not name[:1].isalpha():
                raise self.error(f"expected an op name, found {self.found()}")
            raise self.error(f"unknown op '{name}'")
        self.pos += 1
        operands: list[Value] = []
        if self.is_value(self.pos) and not self._results_ahead():
            operands.append(self.use())
            while self.accept(","):
                operands.append(self.use())
        attrs = self.attr_dict() if tokens[self.pos] == "{" else {}
        types: list[Type] = []
        if self.accept(":"):
            types.append(self.type())
            while self.accept(","):
                types.append(self.type())
        if len(types) != len(result_names):
            raise self.error(f"{name} has {len(result_names)} result names but "
                             f"{len(types)} result types", start)
        results = []
        for (rname, at), t in zip(result_names, types):
            if rname in self.values:
                raise self.error(f"value %{rname} is defined twice", at)
            results.append(Value(rname, t))
        op = cls(operands, results, attrs, loc=SourceLoc(self.place, name_at))
        for r in results:
            self.values[r.name] = r
        return op

    def _results_ahead(self) -> bool:
        """Are the values at the cursor ``%a, %b =``, the results of the next op?"""
        i = self.pos
        while self.is_value(i) and self.tokens[i + 1] == ",":
            i += 2
        return self.is_value(i) and self.tokens[i + 1] == "="

    def use(self) -> Value:
        tok = self.tokens[self.pos]
        if not self.is_value(self.pos):
            raise self.error(f"expected an operand like %x, found {self.found()}")
        value = self.values.get(tok[1:])
        if value is None:
            raise self.error(f"use of undefined value {tok}")
        self.pos += 1
        return value

    def type(self) -> Type:
        tok = self.tokens[self.pos]
        t = self.types.get(tok)
        if t is None:
            keyword, lt, body = tok.partition("<")
            if not lt or not tok.endswith(">") or keyword == "dense":
                raise self.error(f"expected a type like tensor<4x8xi8>, found {self.found()}")
            cls = Type.registry.get(keyword)
            if cls is None:
                raise self.error(f"unknown type '{keyword}<...>'")
            try:
                t = cls.parse_body(body[:-1])
            except IRError as e:
                raise self.error(e.message) from None
            self.types[tok] = t
        self.pos += 1
        return t

    def attr_dict(self) -> dict[str, Attr]:
        self.expect("{")
        attrs: dict[str, Attr] = {}
        if self.accept("}"):
            return attrs
        while True:
            key = self.tokens[self.pos]
            if not (key[:1].isalpha() or key[:1] == "_") or "<" in key:
                raise self.error(f"expected an attribute name, found {self.found()}")
            if key in attrs:
                raise self.error(f"attribute '{key}' is given twice")
            self.pos += 1
            self.expect("=", f"'=' after attribute name '{key}'")
            attrs[key] = self.attr()
            if self.accept("}"):
                return attrs
            self.expect(",", "',' or '}' in the attribute list")

    def attr(self) -> Attr:
        at = self.pos
        tok = self.tokens[at]
        first = tok[:1]
        self.pos += 1
        if first.isdigit() or (first == "-" and tok[1:2].isdigit()):
            if "x" in tok:
                return int(tok, 16)
            return float(tok) if "." in tok or "e" in tok or "E" in tok else int(tok)
        if first == '"' and len(tok) > 1:
            return json.loads(tok)
        if tok == "true" or tok == "false":
            return tok == "true"
        if tok == "{":
            self.pos = at
            return self.attr_dict()
        if tok == "[":
            items: list = []
            if self.accept("]"):
                return items
            while True:
                item_at = self.pos
                item = self.attr()
                if type(item) not in (int, str):
                    raise self.error("list attributes hold ints or strings", item_at)
                items.append(item)
                if self.accept("]"):
                    return items
                self.expect(",", "',' or ']' in the list")
        if tok.startswith("dense<"):
            self.expect(":", "':' and the type of the dense array")
            type_at = self.pos
            t = self.type()
            if not isinstance(t, TensorType):
                raise self.error("a dense array needs a tensor type", type_at)
            return self.dense(tok[6:-1], t, at)
        raise self.error(f"expected an attribute value, found {self.found(at)}", at)

    def dense(self, body: str, t: TensorType, at: int) -> np.ndarray:
        dtype = t.np_dtype.newbyteorder("<")
        body = body.strip()
        if body.startswith('"'):
            hexdigits = body[1:-1]
            if not hexdigits.startswith("0x"):
                raise self.error('dense hex data must look like "0x0102..."', at)
            try:
                raw = bytes.fromhex(hexdigits[2:])
            except ValueError:
                raise self.error("dense hex data has a non-hex digit", at) from None
            if len(raw) != t.size * dtype.itemsize:
                raise self.error(f"dense data has {len(raw)} bytes but {t} needs "
                                 f"{t.size * dtype.itemsize}", at)
            return np.frombuffer(raw, dtype=dtype).astype(t.np_dtype).reshape(t.shape)
        try:
            array = np.array(json.loads(body))
        except (ValueError, TypeError):
            raise self.error("dense data must be hex, a number, or a list of numbers", at) \
                from None
        if array.dtype.kind not in "iub" and not (array.dtype.kind == "f"
                                                  and t.np_dtype.kind == "f"):
            raise self.error(f"dense data does not fit {t}", at)
        if array.ndim == 0:
            array = np.broadcast_to(array, t.shape)
        elif array.size != t.size:
            raise self.error(f"dense data has {array.size} elements but {t} needs {t.size}", at)
        converted = array.astype(t.np_dtype).reshape(t.shape)
        if not np.array_equal(converted, array.reshape(t.shape)):
            raise self.error(f"dense data has values that do not fit {t.dtype}", at)
        return converted


def parse_module(text: str, file: str = "<input>") -> Module:
    """Parse one module; ``file`` names it in error messages (``file:line:col: message``).
    The module is verified; verifier errors carry the place of the op that failed."""
    return _Parser(text, file).module()
