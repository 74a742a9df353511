"""Module -> text, in an MLIR-like form that :func:`conveyor.sw.ir.parse_module` reads back::

    module @mlp attributes {level = "graph"} {
      %x = graph.input {name = "x"} : tensor<4x8xi8>
      %w = graph.const {value = dense<"0x0102..."> : tensor<8x16xi8>} : tensor<8x16xi8>
      %y = graph.matmul %x, %w : tensor<4x16xi32>
      graph.output %y {name = "y"}
    }

Operand types are not repeated (the operand's definition has them); result types follow the
colon. Arrays print as little-endian hex of their row-major bytes, with their type.
"""

from __future__ import annotations

import json
import re

import numpy as np

from .core import Attr, Module, Op, TensorType

__all__ = ["print_attr", "print_module", "print_op"]


def print_attr(value: Attr) -> str:
    """The text of one attribute value."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return json.dumps(value)
    if type(value) is float:
        return repr(value)  # always has a '.' or an exponent, so it parses back as a float
    if type(value) is dict:
        return "{" + ", ".join(f"{k} = {print_attr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False)
        return f'dense<"0x{data.tobytes().hex().upper()}"> : {TensorType.of(value)}'
    if type(value) is list:
        return "[" + ", ".join(print_attr(v) for v in value) + "]"
    raise TypeError(f"cannot print attribute {value!r}")


def print_op(op: Op) -> str:
    """One op on one line, without indentation."""
    parts = []
    if op.results:
        parts.append(", ".join("%" + r.name for r in op.results) + " = ")
    parts.append(op.NAME)
    if op.operands:
        parts.append(" " + ", ".join("%" + v.name for v in op.operands))
    if op.attrs:
        parts.append(" {" + ", ".join(f"{k} = {print_attr(v)}" for k, v in op.attrs.items())
                     + "}")
    if op.results:
        parts.append(" : " + ", ".join(str(r.type) for r in op.results))
    return "".join(parts)


_BARE_SYMBOL = re.compile(r"[A-Za-z_][\w.$-]*")


def print_module(module: Module) -> str:
    """The whole module, ending with a newline."""
    name = module.name if _BARE_SYMBOL.fullmatch(module.name) else json.dumps(module.name)
    attrs: dict = {"level": module.level}
    if module.target is not None:
        attrs["target"] = module.target.to_dict()
    lines = [f"module @{name} attributes {print_attr(attrs)} {{"]
    lines.extend("  " + print_op(op) for op in module.ops)
    lines.append("}\n")
    return "\n".join(lines)
