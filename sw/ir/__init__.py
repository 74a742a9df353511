"""Conveyor's IR: one small core shared by the compiler's levels (docs/compiler.md).

- :mod:`.core` — :class:`TensorType`, :class:`Value`, :class:`Op` (one class per op,
  registered by defining it), :class:`Module`, :class:`IRError`.
- :mod:`.printer` / :mod:`.parser` — MLIR-like text, round-tripping exactly.
- :mod:`.passes` — :class:`Pass` (named dataclasses), :class:`PassManager`, rewrite patterns.
- dialects, one module of op classes each: :mod:`.graph` (and its passes in
  :mod:`.transforms`); further levels add theirs to :data:`DIALECT_MODULES`.
"""

from __future__ import annotations

import importlib

from .core import (
    DTYPES,
    OPS,
    IRError,
    Module,
    Op,
    TensorType,
    Type,
    Value,
    module_verifier,
    op_class,
)
from .parser import parse_module
from .passes import (
    PASSES,
    Pass,
    PassManager,
    RewritePattern,
    Rewriter,
    apply_patterns,
    parse_pipeline,
)
from .printer import print_attr, print_module, print_op

__all__ = [
    "DIALECT_MODULES",
    "DTYPES",
    "OPS",
    "PASSES",
    "IRError",
    "Module",
    "Op",
    "Pass",
    "PassManager",
    "RewritePattern",
    "Rewriter",
    "TensorType",
    "Type",
    "Value",
    "apply_patterns",
    "load_dialects",
    "module_verifier",
    "op_class",
    "parse_module",
    "parse_pipeline",
    "print_attr",
    "print_module",
    "print_op",
]

#: Modules that define op classes or passes; :func:`load_dialects` imports them so that the
#: parser and ``conveyor opt`` know every op and pass. A new level adds its module here.
DIALECT_MODULES: list[str] = [
    "conveyor.sw.ir.graph",
    "conveyor.sw.ir.transforms",
    "conveyor.sw.compiler.dialects",
    "conveyor.sw.compiler.passes",
]


def load_dialects() -> None:
    """Import every module in :data:`DIALECT_MODULES` (a module that does not exist yet is
    skipped, so a level can be listed before it lands)."""
    for name in DIALECT_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise


load_dialects()
