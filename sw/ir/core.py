"""The IR core every level shares: types, values, ops, modules, and their verifier.

An op is one class with a dotted ``NAME`` (``"graph.linear"``), named operand and result
slots, declared attributes, and ``verify_()`` for the rules of that op. Defining the class
registers it, so the parser and the printer know it; a dialect is one module of op classes
(see :mod:`conveyor.sw.ir.graph`). A :class:`Module` is a flat list of ops in SSA order.

Values keep their use lists (``value.uses``), so a rewrite can replace all uses of a value
without a scan; that is why an op's operands are a tuple, changed only by
:meth:`Op.set_operand`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ...errors import ConveyorError
from ...hw.machine.config import CoreConfig

__all__ = [
    "DTYPES",
    "OPS",
    "Attr",
    "AttrKinds",
    "IRError",
    "Module",
    "Op",
    "SourceLoc",
    "TensorType",
    "Type",
    "Value",
    "module_verifier",
    "op_class",
]


class IRError(ConveyorError):
    """IR that cannot be parsed or does not verify, or a bad argument to an IR builder.

    Parse errors carry their place and print as ``file:line:col: message``; verifier errors
    name the op and the value: ``graph.linear %y: ...``.
    """

    def __init__(self, message: str, file: str | None = None, line: int = 0, col: int = 0):
        self.message, self.file, self.line, self.col = message, file, line, col
        where = f"{file}:{line}:{col}: " if file is not None else ""
        super().__init__(where + message)


# --- types ----------------------------------------------------------------------------------

#: Element type names and their numpy dtypes. The graph level uses ``i8`` and ``i32``; the rest
#: are there so that any integer or float array can be an attribute.
DTYPES: dict[str, np.dtype] = {name: np.dtype(dt) for name, dt in (
    ("i8", np.int8), ("i16", np.int16), ("i32", np.int32), ("i64", np.int64),
    ("ui8", np.uint8), ("ui16", np.uint16), ("ui32", np.uint32), ("ui64", np.uint64),
    ("f32", np.float32), ("f64", np.float64), ("i1", np.bool_))}
_DTYPE_NAMES = {dt: name for name, dt in DTYPES.items()}


class Type:
    """Base of IR types. A subclass sets ``KEYWORD`` and prints as ``KEYWORD<body>``;
    :meth:`parse_body` reads the body back. Subclasses register themselves by keyword."""

    KEYWORD: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Type]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.KEYWORD:
            Type.registry[cls.KEYWORD] = cls

    @classmethod
    def parse_body(cls, body: str) -> Type:
        raise NotImplementedError


class TensorType(Type):
    """A tensor of ``shape`` (a tuple of positive ints, empty for a scalar) and ``dtype``
    (a name from :data:`DTYPES`); text ``tensor<64x64xi8>``, ``tensor<i32>`` for a scalar."""

    KEYWORD = "tensor"
    __slots__ = ("_hash", "dtype", "shape")
    _interned: ClassVar[dict[tuple, TensorType]] = {}

    def __new__(cls, shape: Iterable[int], dtype: str):
        shape = tuple(shape)
        key = (shape, dtype)
        try:
            return cls._interned[key]  # types repeat: build and check each one once
        except (KeyError, TypeError):
            pass
        if not all(type(d) is int or isinstance(d, np.integer) for d in shape):
            raise IRError(f"tensor shape must be integers, not {shape!r}")
        shape = tuple(int(d) for d in shape)
        if any(d < 1 for d in shape):
            raise IRError(f"tensor dimensions must be at least 1, not {shape}")
        if dtype not in DTYPES:
            raise IRError(f"unknown element type {dtype!r} (known: {', '.join(DTYPES)})")
        self = super().__new__(cls)
        self.shape, self.dtype = shape, dtype
        self._hash = hash((shape, dtype))
        if len(cls._interned) < 1 << 16:
            cls._interned[(shape, dtype)] = self
        return self

    def __reduce__(self):
        return (TensorType, (self.shape, self.dtype))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def np_dtype(self) -> np.dtype:
        return DTYPES[self.dtype]

    @classmethod
    def of(cls, array: np.ndarray) -> TensorType:
        """The type of a numpy array."""
        try:
            return cls(array.shape, _DTYPE_NAMES[array.dtype])
        except KeyError:
            raise IRError(f"arrays of dtype {array.dtype} have no IR element type") from None

    @classmethod
    def parse_body(cls, body: str) -> TensorType:
        *dims, dtype = body.split("x") if body else [""]
        try:
            shape = tuple(int(d) for d in dims)
        except ValueError:
            raise IRError(f"bad tensor shape in 'tensor<{body}>'") from None
        return cls(shape, dtype)

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, TensorType) and self.shape == other.shape
                                 and self.dtype == other.dtype)

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return "tensor<" + "".join(f"{d}x" for d in self.shape) + self.dtype + ">"

    def __repr__(self) -> str:
        return f"TensorType({self.shape}, {self.dtype!r})"


# --- values ---------------------------------------------------------------------------------

class Value:
    """An SSA value: ``%name`` of ``type``, defined by ``owner`` (the op whose result it is) and
    used by the ops in ``uses`` (an op that uses it twice is there twice). Compared by
    identity."""

    __slots__ = ("name", "owner", "type", "uses")

    def __init__(self, name: str, type: Type | None, owner: Op | None = None):
        self.name, self.type, self.owner = name, type, owner
        self.uses: list[Op] = []

    def replace_all_uses_with(self, new: Value) -> None:
        """Make every op that uses this value use ``new`` instead."""
        if new is self:
            return
        for op in list(self.uses):
            op.operands = tuple(new if v is self else v for v in op.operands)
            new.uses.append(op)
        self.uses.clear()

    def __repr__(self) -> str:
        return f"Value(%{self.name}: {self.type})"


# --- attributes -----------------------------------------------------------------------------

#: An attribute value: int, bool, str, float, a list of ints or strs, a numpy array, or a dict
#: of attributes (a module's target).
Attr = int | bool | str | float | list | np.ndarray | dict

#: An op's declared attributes: name -> kind (see :class:`Op`).
AttrKinds = dict[str, Any]


def _attr_ok(kind: Any, value: object) -> bool:
    """Does ``value`` have the declared attribute kind? Kinds: ``int``, ``bool``, ``str``,
    ``"ints"`` (a list of ints), ``np.ndarray``, or a tuple of these (any of them)."""
    if isinstance(kind, tuple):
        return any(_attr_ok(k, value) for k in kind)
    if kind is int:
        return type(value) is int
    if kind is bool:
        return type(value) is bool
    if kind is str:
        return type(value) is str
    if kind == "ints":
        return type(value) is list and all(type(v) is int for v in value)
    if kind is np.ndarray:
        return isinstance(value, np.ndarray)
    raise TypeError(f"unknown attribute kind {kind!r}")


def _kind_text(kind: Any) -> str:
    if isinstance(kind, tuple):
        return " or ".join(_kind_text(k) for k in kind)
    return {int: "an int", bool: "a bool", str: "a string", "ints": "a list of ints",
            np.ndarray: "an array"}[kind]


# --- ops ------------------------------------------------------------------------------------

class SourceLoc:
    """Where a parsed op came from, ``(file, line, col)`` when iterated. The parser makes these
    for every op but works out lines and columns only when one is asked for (an error)."""

    __slots__ = ("_index", "_place", "_resolve")

    def __init__(self, resolve: Callable[[int], tuple[str, int, int]], index: int):
        self._resolve, self._index = resolve, index
        self._place: tuple[str, int, int] | None = None

    @property
    def place(self) -> tuple[str, int, int]:
        if self._place is None:
            self._place = self._resolve(self._index)
        return self._place

    def __iter__(self):
        return iter(self.place)

    def __deepcopy__(self, memo: dict) -> SourceLoc:
        return self  # a place does not change; copying would copy the parser and its text

    def __repr__(self) -> str:
        return "SourceLoc({}:{}:{})".format(*self.place)


#: Every op class, by name. Filled in when an op class is defined.
OPS: dict[str, type[Op]] = {}


def op_class(name: str) -> type[Op]:
    """The op class called ``name``; IRError if there is none."""
    try:
        return OPS[name]
    except KeyError:
        raise IRError(f"unknown op '{name}'") from None


class Op:
    """One operation. Subclasses declare:

    ``NAME``
        the op's text name, ``dialect.op``; defining the class registers it.
    ``OPERANDS`` / ``RESULTS``
        names of the operand and result slots (each becomes a property, ``op.x``); ``None``
        for OPERANDS means any number of operands.
    ``ATTRS``
        attribute name -> kind (``int``, ``bool``, ``str``, ``"ints"``, ``np.ndarray``, or a
        tuple of kinds); every declared attribute is required, others are rejected.
    ``verify_()``
        the op's own rules, raising ``self.error(...)``. :meth:`verify` checks the slots and
        attribute kinds first.
    ``PURE``
        True if the op has no effect but its results (canonicalize erases it when unused).

    Attributes are read as ``op.attrs["mul"]`` or, when the name is not taken, ``op.mul``.
    """

    NAME: ClassVar[str] = ""
    OPERANDS: ClassVar[tuple[str, ...] | None] = ()
    RESULTS: ClassVar[tuple[str, ...]] = ()
    ATTRS: ClassVar[AttrKinds] = {}
    PURE: ClassVar[bool] = False

    __slots__ = ("attrs", "loc", "operands", "results")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.NAME:
            return
        if cls.NAME in OPS:
            raise TypeError(f"op {cls.NAME!r} is defined twice ({OPS[cls.NAME].__qualname__} "
                            f"and {cls.__qualname__})")
        if "." not in cls.NAME:
            raise TypeError(f"op name {cls.NAME!r} must be 'dialect.name'")
        OPS[cls.NAME] = cls
        for i, slot in enumerate(cls.OPERANDS or ()):
            setattr(cls, slot, property(lambda self, i=i: self.operands[i]))
        for i, slot in enumerate(cls.RESULTS):
            setattr(cls, slot, property(lambda self, i=i: self.results[i]))
        for attr in cls.ATTRS:
            if not hasattr(cls, attr):
                setattr(cls, attr, property(lambda self, a=attr: self.attrs[a]))

    def __init__(self, operands: Sequence[Value] = (), results: Sequence[Value] = (),
                 attrs: Mapping[str, Attr] | None = None,
                 loc: tuple[str, int, int] | SourceLoc | None = None):
        self.operands: tuple[Value, ...] = tuple(operands)
        self.results: list[Value] = list(results)
        attrs = dict(attrs or {})
        if self.ATTRS and attrs.keys() != self.ATTRS.keys():
            # Declared order first, so that printing does not depend on how the op was built.
            declared = {k: attrs[k] for k in self.ATTRS if k in attrs}
            declared.update((k, v) for k, v in attrs.items() if k not in self.ATTRS)
            attrs = declared
        self.attrs: dict[str, Attr] = attrs
        self.loc = loc
        for v in self.operands:
            v.uses.append(self)
        for r in self.results:
            r.owner = self

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def build(cls, operands: Sequence[Value], attrs: Mapping[str, Attr], names: Sequence[str],
              types: Sequence[Type] | None = None) -> Op:
        """A new op whose results are called ``names``: of ``types`` if given, else of the
        type(s) that :meth:`infer_types` derives. The op is verified before it is returned, so
        a builder reports a bad argument as a verifier error that names the op."""
        op = cls(operands, [Value(n, None) for n in names], attrs)
        if types is None:
            op._check_slots()
            types = op.infer_types()
        for r, t in zip(op.results, types):
            r.type = t
        op.verify()
        return op

    def infer_types(self) -> list[Type]:
        """Result types from operand types and attributes; ops that can infer override it."""
        raise NotImplementedError(f"{self.NAME} cannot infer its result types")

    # -- editing -----------------------------------------------------------------------------

    def set_operand(self, index: int, value: Value) -> None:
        """Use ``value`` as operand ``index``, keeping use lists right."""
        old = self.operands[index]
        old.uses.remove(self)
        self.operands = self.operands[:index] + (value,) + self.operands[index + 1:]
        value.uses.append(self)

    def drop_uses(self) -> None:
        """Remove this op from its operands' use lists (before erasing it)."""
        for v in self.operands:
            v.uses.remove(self)

    # -- verifying ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """How error messages name this op's value: ``%y``, else its ``name`` attribute."""
        if self.results:
            return "%" + self.results[0].name
        if "name" in self.attrs:
            return repr(self.attrs["name"])
        if self.operands:
            return "(" + ", ".join("%" + v.name for v in self.operands) + ")"
        return ""

    def error(self, message: str) -> IRError:
        """An IRError ``NAME %value: message``, with the op's source place if it was parsed."""
        text = f"{self.NAME} {self.label}: {message}" if self.label else f"{self.NAME}: {message}"
        if self.loc is not None:
            return IRError(text, *self.loc)
        return IRError(text)

    def _check_slots(self) -> None:
        if self.OPERANDS is not None and len(self.operands) != len(self.OPERANDS):
            raise self.error(f"takes {len(self.OPERANDS)} operands "
                             f"({', '.join(self.OPERANDS) or 'none'}), not {len(self.operands)}")
        if len(self.results) != len(self.RESULTS):
            raise self.error(f"has {len(self.RESULTS)} results, not {len(self.results)}")
        for name, value in self.attrs.items():
            kind = self.ATTRS.get(name)
            if kind is None:
                raise self.error(f"unknown attribute '{name}' (known: "
                                 f"{', '.join(self.ATTRS) or 'none'})")
            if not _attr_ok(kind, value):
                raise self.error(f"attribute '{name}' must be {_kind_text(kind)}, "
                                 f"not {value!r}")
        missing = [k for k in self.ATTRS if k not in self.attrs]
        if missing:
            raise self.error(f"missing attribute '{missing[0]}'")

    def verify(self) -> None:
        """Check the slots and attribute kinds, then the op's own rules (:meth:`verify_`)."""
        self._check_slots()
        for v in self.operands:
            if v.type is None:
                raise self.error(f"operand %{v.name} has no type")
        self.verify_()

    def verify_(self) -> None:
        """The op's own rules; raise ``self.error(...)``."""

    def __repr__(self) -> str:
        from .printer import print_op
        return f"<{print_op(self)}>"


# --- modules --------------------------------------------------------------------------------

_VALUE_NAME = re.compile(r"[\w.$-]+")

#: Module-level checks of a level (e.g. "graph": input and output names are unique).
_MODULE_VERIFIERS: dict[str, list[Callable[[Module], None]]] = {}


def module_verifier(level: str) -> Callable[[Callable[[Module], None]], Callable[[Module], None]]:
    """Decorator: run ``fn(module)`` when a module of ``level`` is verified."""
    def register(fn: Callable[[Module], None]) -> Callable[[Module], None]:
        _MODULE_VERIFIERS.setdefault(level, []).append(fn)
        return fn
    return register


class Module:
    """A named list of ops at one ``level`` ("graph", "tile", "schedule", "microcode"), in SSA
    order: every operand is the result of an earlier op of the module.

    ``target`` is the core the module is compiled for (printed as the module's ``target``
    attribute and parsed back), as MLIR keeps a target on its module: every pass below the
    graph level reads it from here. A graph-level module may have none.
    """

    def __init__(self, name: str, level: str, ops: Iterable[Op] = (),
                 target: CoreConfig | None = None):
        self.name, self.level = name, level
        self.ops: list[Op] = list(ops)
        self.target = target

    # -- editing -----------------------------------------------------------------------------

    def append(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    def erase(self, ops: Iterable[Op]) -> None:
        """Remove ``ops`` (whose results must be unused) from the module."""
        gone = {id(op) for op in ops}
        for op in self.ops:
            if id(op) in gone:
                for r in op.results:
                    if r.uses:
                        raise op.error(f"cannot erase: %{r.name} is still used by "
                                       f"{r.uses[0].NAME}")
                op.drop_uses()
        self.ops = [op for op in self.ops if id(op) not in gone]

    def fresh_name(self, base: str) -> str:
        """A value name not yet used in the module: ``base``, else ``base_1``, ``base_2``..."""
        taken = {r.name for op in self.ops for r in op.results}
        if base not in taken:
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def ops_named(self, name: str) -> list[Op]:
        return [op for op in self.ops if op.NAME == name]

    # -- verifying ---------------------------------------------------------------------------

    def clone(self) -> Module:
        """A deep copy: new ops and values, the same text."""
        return copy.deepcopy(self)

    def verify(self) -> None:
        """Every op's verifier, SSA order and unique, printable value names, then the level's
        checks."""
        defined: dict[str, Value] = {}
        for op in self.ops:
            for v in op.operands:
                if defined.get(v.name) is not v:
                    raise op.error(f"operand %{v.name} is not defined before its use")
            op.verify()
            for r in op.results:
                if r.name in defined:
                    raise op.error(f"value %{r.name} is defined twice")
                if not _VALUE_NAME.fullmatch(r.name):
                    raise op.error(f"value name {r.name!r} must be letters, digits and _ . $ -")
                if r.owner is not op:
                    raise op.error(f"result %{r.name} does not know its op")
                defined[r.name] = r
        for check in _MODULE_VERIFIERS.get(self.level, ()):
            check(self)

    def __str__(self) -> str:
        from .printer import print_module
        return print_module(self)

    def __repr__(self) -> str:
        return f"<Module @{self.name} ({self.level}), {len(self.ops)} ops>"
