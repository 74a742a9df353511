"""Text -> Module: the inverse of :mod:`conveyor.sw.ir.printer`.

Grammar (``//`` starts a comment; newlines only matter in that an op's operands start on the
line of its name)::

    module  := 'module' '@'name ['attributes' attrs] '{' op* '}'
    op      := [value (',' value)* '='] opname [value (',' value)*] [attrs] [':' type (',' type)*]
    attrs   := '{' [key '=' attr (',' key '=' attr)*] '}'
    attr    := int | 'true' | 'false' | string | '[' [attr (',' attr)*] ']'
             | 'dense<"0xHEX">' ':' type | 'dense<' int-or-nested-list '>' ':' type
    type    := keyword '<' body '>'            e.g. tensor<4x8xi8>

Every error is an :class:`IRError` with ``file:line:col``. The ops are built with their
registered classes and the module is verified before it is returned.
"""

from __future__ import annotations

import bisect
import json
import re

import numpy as np

from .core import OPS, Attr, IRError, Module, Op, TensorType, Type, Value

__all__ = ["parse_module"]

_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<dense>dense<[^<>]*>)
  | (?P<type>[A-Za-z_][\w.]*<[^<>"]*>)
  | (?P<value>%[\w.$-]+)
  | (?P<symbol>@(?:[\w.$-]+|"(?:[^"\\\n]|\\.)*"))
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<int>-?(?:0x[0-9a-fA-F]+|[0-9]+))
  | (?P<ident>[A-Za-z_][\w.]*)
  | (?P<punct>->|[{}()\[\],:=])
  | (?P<bad>.)
""", re.VERBOSE)


class _Parser:
    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.tokens: list[tuple[str, str, int]] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "ws":
                continue
            if kind == "bad":
                self.pos = len(self.tokens)
                raise self.error(f"unexpected character {m.group()!r}", m.start())
            self.tokens.append((kind, m.group(), m.start()))
        self.tokens.append(("eof", "", len(text)))
        self.pos = 0
        self._line_starts: list[int] | None = None
        self.values: dict[str, Value] = {}

    # -- tokens ------------------------------------------------------------------------------

    def place(self, offset: int) -> tuple[int, int]:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def error(self, message: str, offset: int | None = None) -> IRError:
        if offset is None:
            offset = self.tokens[self.pos][2]
        return IRError(message, self.file, *self.place(offset))

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.pos]

    def next(self) -> tuple[str, str, int]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.tokens[self.pos][1] == text and self.tokens[self.pos][0] in ("punct", "ident"):
            self.pos += 1
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> None:
        if not self.accept(text):
            raise self.error(f"expected {what or repr(text)}, found {self._found()}")

    def expect_kind(self, kind: str, what: str) -> tuple[str, str, int]:
        if self.peek()[0] != kind:
            raise self.error(f"expected {what}, found {self._found()}")
        return self.next()

    def _found(self) -> str:
        kind, text, _ = self.peek()
        return "end of input" if kind == "eof" else repr(text)

    # -- grammar -----------------------------------------------------------------------------

    def module(self) -> Module:
        if not self.accept("module"):
            raise self.error(f"expected 'module', found {self._found()}")
        _, sym, _ = self.expect_kind("symbol", "a module name like @mlp")
        name = json.loads(sym[1:]) if sym[1] == '"' else sym[1:]
        level = "graph"
        if self.accept("attributes"):
            start = self.peek()[2]
            attrs = self.attr_dict()
            for key, value in attrs.items():
                if key != "level" or type(value) is not str:
                    raise self.error("a module's only attribute is level = \"...\"", start)
            level = attrs.get("level", level)
        self.expect("{")
        ops = []
        while not self.accept("}"):
            if self.peek()[0] == "eof":
                raise self.error("expected '}' to close the module, found end of input")
            ops.append(self.op())
        if self.peek()[0] != "eof":
            raise self.error(f"expected end of input after the module, found {self._found()}")
        module = Module(name, level, ops)
        module.verify()
        return module

    def op(self) -> Op:
        start = self.peek()[2]
        result_toks = []
        if self.peek()[0] == "value":
            result_toks.append(self.next())
            while self.accept(","):
                result_toks.append(self.expect_kind("value", "a result name like %y"))
            self.expect("=")
        kind, name, name_at = self.next()
        if kind != "ident":
            raise self.error(f"expected an op name, found {text_of(kind, name)}", name_at)
        cls = OPS.get(name)
        if cls is None:
            raise self.error(f"unknown op '{name}'", name_at)
        operands = []
        kind, _, at = self.peek()
        if kind == "value" and "\n" not in self.text[name_at:at]:
            operands.append(self.use())
            while self.accept(","):
                operands.append(self.use())
        attrs = self.attr_dict() if self.peek()[1] == "{" else {}
        types = []
        if self.accept(":"):
            types.append(self.type())
            while self.accept(","):
                types.append(self.type())
        if len(types) != len(result_toks):
            raise self.error(f"{name} has {len(result_toks)} result names but "
                             f"{len(types)} result types", start)
        results = []
        for (_, rname, at), t in zip(result_toks, types):
            if rname[1:] in self.values:
                raise self.error(f"value {rname} is defined twice", at)
            results.append(Value(rname[1:], t))
        op = cls(operands, results, attrs, loc=(self.file, *self.place(name_at)))
        for r in results:
            self.values[r.name] = r
        return op

    def use(self) -> Value:
        _, text, at = self.expect_kind("value", "an operand like %x")
        try:
            return self.values[text[1:]]
        except KeyError:
            raise self.error(f"use of undefined value {text}", at) from None

    def type(self) -> Type:
        kind, text, at = self.next()
        if kind != "type":
            raise self.error(f"expected a type like tensor<4x8xi8>, found {text_of(kind, text)}",
                             at)
        keyword, _, body = text[:-1].partition("<")
        cls = Type.registry.get(keyword)
        if cls is None:
            raise self.error(f"unknown type '{keyword}<...>'", at)
        try:
            return cls.parse_body(body)
        except IRError as e:
            raise self.error(e.message, at) from None

    def attr_dict(self) -> dict[str, Attr]:
        self.expect("{")
        attrs: dict[str, Attr] = {}
        if self.accept("}"):
            return attrs
        while True:
            kind, key, at = self.next()
            if kind != "ident":
                raise self.error(f"expected an attribute name, found {text_of(kind, key)}", at)
            if key in attrs:
                raise self.error(f"attribute '{key}' is given twice", at)
            self.expect("=", f"'=' after attribute name '{key}'")
            attrs[key] = self.attr()
            if self.accept("}"):
                return attrs
            self.expect(",", "',' or '}' in the attribute list")

    def attr(self) -> Attr:
        kind, text, at = self.next()
        if kind == "int":
            return int(text, 0)
        if kind == "string":
            return json.loads(text)
        if kind == "ident" and text in ("true", "false"):
            return text == "true"
        if kind == "punct" and text == "[":
            items: list = []
            if self.accept("]"):
                return items
            while True:
                item_at = self.peek()[2]
                item = self.attr()
                if type(item) not in (int, str):
                    raise self.error("list attributes hold ints or strings", item_at)
                items.append(item)
                if self.accept("]"):
                    return items
                self.expect(",", "',' or ']' in the list")
        if kind == "dense":
            self.expect(":", "':' and the type of the dense array")
            type_at = self.peek()[2]
            t = self.type()
            if not isinstance(t, TensorType):
                raise self.error("a dense array needs a tensor type", type_at)
            return self.dense(text[6:-1], t, at)
        raise self.error(f"expected an attribute value, found {text_of(kind, text)}", at)

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
            data = json.loads(body)
            array = np.array(data)
        except (ValueError, TypeError):
            raise self.error("dense data must be hex, a number, or a list of numbers", at) \
                from None
        if array.dtype.kind not in "iub" and not (array.dtype.kind == "f" and
                                                  t.np_dtype.kind == "f"):
            raise self.error(f"dense data does not fit {t}", at)
        if array.ndim == 0:
            array = np.broadcast_to(array, t.shape)
        elif array.size != t.size:
            raise self.error(f"dense data has {array.size} elements but {t} needs {t.size}", at)
        converted = array.astype(t.np_dtype).reshape(t.shape)
        if not np.array_equal(converted, array.reshape(t.shape)):
            raise self.error(f"dense data has values that do not fit {t.dtype}", at)
        return converted


def text_of(kind: str, text: str) -> str:
    return "end of input" if kind == "eof" else repr(text)


def parse_module(text: str, file: str = "<input>") -> Module:
    """Parse one module; ``file`` names it in error messages (``file:line:col: message``).
    The module is verified; verifier errors carry the place of the op that failed."""
    return _Parser(text, file).module()
