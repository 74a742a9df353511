"""Passes, rewrite patterns and the pass manager.

A pass is a dataclass with a ``NAME`` (its command-line name) whose fields are its options;
defining it registers it. A pipeline text is ``name,name{option=value other=value}``, as in
``mlir-opt --pass-pipeline``, with ``-`` or ``_`` in option names. Rewrites are one class each
(:class:`RewritePattern`), applied to a fixpoint by :func:`apply_patterns`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import ClassVar, TextIO

from .core import IRError, Module, Op, Value
from .printer import print_module

__all__ = [
    "PASSES",
    "Pass",
    "PassManager",
    "RewritePattern",
    "Rewriter",
    "apply_patterns",
    "parse_pipeline",
]

#: Every pass class, by command-line name.
PASSES: dict[str, type[Pass]] = {}


@dataclasses.dataclass
class Pass:
    """Base of every pass: subclass it as a ``@dataclass`` with a ``NAME``, and override
    :meth:`run` to change the module in place."""

    NAME: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.NAME:
            if cls.NAME in PASSES:
                raise TypeError(f"pass {cls.NAME!r} is defined twice")
            PASSES[cls.NAME] = cls

    def run(self, module: Module) -> None:
        raise NotImplementedError

    def __str__(self) -> str:
        opts = " ".join(f"{f.name.replace('_', '-')}={_option_text(getattr(self, f.name))}"
                        for f in dataclasses.fields(self))
        return f"{self.NAME}{{{opts}}}" if opts else self.NAME


def _option_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


_PIPELINE_ITEM = re.compile(r"\s*([\w-]+)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def parse_pipeline(text: str) -> list[Pass]:
    """``"fuse-relu,canonicalize{max-iterations=8}"`` -> pass objects; IRError naming the
    pass or option that is wrong."""
    passes: list[Pass] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _PIPELINE_ITEM.match(text, pos)
        if m is None or m.end() == pos:
            raise IRError(f"bad pass pipeline at {text[pos:]!r}: expected name or "
                          f"name{{option=value ...}}")
        pos = m.end()
        name, opts = m.group(1), m.group(2)
        cls = PASSES.get(name)
        if cls is None:
            raise IRError(f"unknown pass '{name}' (known: {', '.join(sorted(PASSES))})")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for item in (opts or "").split():
            key, eq, raw = item.partition("=")
            field = fields.get(key.replace("-", "_"))
            if not eq or field is None:
                known = ", ".join(f.replace("_", "-") for f in fields) or "none"
                raise IRError(f"pass '{name}': bad option {item!r} (options: {known})")
            kwargs[field.name] = _option_value(name, key, raw, field)
        passes.append(cls(**kwargs))
    return passes


def _option_value(pass_name: str, key: str, raw: str, field: dataclasses.Field) -> object:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    if kind == "bool":
        if raw not in ("true", "false", "1", "0"):
            raise IRError(f"pass '{pass_name}': option {key} must be true or false, not {raw!r}")
        return raw in ("true", "1")
    if kind == "int":
        try:
            return int(raw, 0)
        except ValueError:
            raise IRError(f"pass '{pass_name}': option {key} must be an integer, "
                          f"not {raw!r}") from None
    return raw


class PassManager:
    """Runs passes in order on a module, verifying it before the first and after every pass.

    ``print_ir_after_all``: a text stream that gets ``// -----// IR Dump After NAME //----- //``
    and the module after each pass (as ``mlir-opt --mlir-print-ir-after-all`` prints it).
    """

    def __init__(self, passes: Sequence[Pass], print_ir_after_all: TextIO | None = None,
                 verify: bool = True):
        self.passes = list(passes)
        self.print_ir_after_all = print_ir_after_all
        self.verify = verify

    def run(self, module: Module) -> Module:
        if self.verify:
            module.verify()
        for p in self.passes:
            p.run(module)
            if self.verify:
                try:
                    module.verify()
                except IRError as e:
                    raise IRError(f"after pass '{p.NAME}': {e}") from e
            if self.print_ir_after_all is not None:
                self.print_ir_after_all.write(f"// -----// IR Dump After {p.NAME} //----- //\n")
                self.print_ir_after_all.write(print_module(module))
                self.print_ir_after_all.write("\n")
        return module


# --- rewrites -------------------------------------------------------------------------------

class Rewriter:
    """What a pattern may do to the module while :func:`apply_patterns` walks it. Changes to
    the op list are collected and applied at the end of each sweep."""

    def __init__(self, module: Module):
        self.module = module
        self.erased: set[int] = set()
        self.before: dict[int, list[Op]] = {}
        self.changed = False

    def insert_before(self, anchor: Op, op: Op) -> None:
        self.before.setdefault(id(anchor), []).append(op)
        self.changed = True

    def replace_op(self, op: Op, new_values: Sequence[Value]) -> None:
        """Use ``new_values`` wherever ``op``'s results were used, and erase ``op``."""
        if len(new_values) != len(op.results):
            raise ValueError(f"{op.NAME} has {len(op.results)} results, not {len(new_values)}")
        for old, new in zip(op.results, new_values):
            old.replace_all_uses_with(new)
        self.erase_op(op)

    def erase_op(self, op: Op) -> None:
        for r in op.results:
            if r.uses:
                raise op.error(f"cannot erase: %{r.name} is still used by {r.uses[0].NAME}")
        op.drop_uses()
        self.erased.add(id(op))
        self.changed = True

    def is_erased(self, op: Op) -> bool:
        return id(op) in self.erased

    def commit(self) -> None:
        ops = []
        for op in self.module.ops:
            ops.extend(self.before.pop(id(op), ()))
            if id(op) not in self.erased:
                ops.append(op)
        self.module.ops = ops
        self.erased.clear()


class RewritePattern:
    """One rewrite: ``OPS`` names the ops it looks at (empty: every op), and
    :meth:`match_and_rewrite` returns True if it changed something."""

    OPS: ClassVar[tuple[str, ...]] = ()

    def match_and_rewrite(self, op: Op, rewriter: Rewriter) -> bool:
        raise NotImplementedError


def apply_patterns(module: Module, patterns: Iterable[RewritePattern],
                   max_iterations: int = 16) -> bool:
    """Apply the patterns to every op, sweep after sweep, until a sweep changes nothing (or
    ``max_iterations`` sweeps). Returns whether anything changed."""
    patterns = list(patterns)
    by_op: dict[str, list[RewritePattern]] = {}
    generic = [p for p in patterns if not p.OPS]
    for p in patterns:
        for name in p.OPS:
            by_op.setdefault(name, []).append(p)
    changed_any = False
    for _ in range(max_iterations):
        rewriter = Rewriter(module)
        for op in list(module.ops):
            for p in by_op.get(op.NAME, []) + generic:
                if rewriter.is_erased(op):
                    break
                if p.match_and_rewrite(op, rewriter):
                    break
        rewriter.commit()
        if not rewriter.changed:
            break
        changed_any = True
    return changed_any
