"""Built-in layer specs: ``matmul:M=64,K=64,N=64`` and friends, as graphs with random data.

=========================================================  =====================================
spec                                                       graph
=========================================================  =====================================
``matmul:M=..,K=..,N=..``                                  ``y = x @ w`` (int32)
``linear:M=..,K=..,N=..[,relu=1]``                         ``y = linear(x, w, b)`` (int8)
``conv2d:H=..,W=..,C=..,K=..,R=..,S=..[,stride=1][,pad=0]``  ``y = conv2d(x, w, b)`` (int8)
``[,relu=1]``
=========================================================  =====================================

Inputs and weights are uniform int8, biases int32, all from ``numpy.random.default_rng(seed)``.
The requant multiplier of a layer is chosen from its actual accumulators so that the largest
``|acc|`` maps to 127: the outputs use the whole int8 range without saturating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConveyorError
from ...hw.machine.config import CoreConfig, load_config
from ..compiler import Compiled, compile_graph
from ..ir import reference
from ..ir.builder import Graph, quantize_multiplier

__all__ = ["KINDS", "Spec", "SpecError", "compile_spec", "parse_spec", "spec_graph"]


class SpecError(ConveyorError):
    """A layer spec that cannot be read; the message names the key."""


#: kind -> (required keys, optional keys with defaults).
KINDS: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "matmul": (("M", "K", "N"), {}),
    "linear": (("M", "K", "N"), {"relu": 0}),
    "conv2d": (("H", "W", "C", "K", "R", "S"), {"stride": 1, "pad": 0, "relu": 0}),
}

#: Keys whose value may be 0 (everything else is a size, at least 1); relu is 0 or 1.
_MIN = {"pad": 0, "relu": 0}
_MAX = {"relu": 1}
_SIZE_LIMIT = 1 << 16


@dataclass(frozen=True)
class Spec:
    """A parsed spec: ``kind`` and every key's value (defaults filled in)."""

    kind: str
    params: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, key: str) -> int:
        return self.params[key]

    def __str__(self) -> str:
        """The canonical text: keys in the documented order, defaults left out."""
        required, optional = KINDS[self.kind]
        keys = [*required, *(k for k, d in optional.items() if self.params[k] != d)]
        return f"{self.kind}:" + ",".join(f"{k}={self.params[k]}" for k in keys)


def _usage(kind: str) -> str:
    required, optional = KINDS[kind]
    return f"{kind}:" + ",".join(f"{k}=.." for k in required) + "".join(
        f"[,{k}={d}]" for k, d in optional.items())


def parse_spec(text: str) -> Spec:
    """``"linear:M=4,K=8,N=16,relu=1"`` -> Spec; SpecError (one line, naming the key) if it is
    not one of the forms in this module's table."""
    kind, colon, body = text.strip().partition(":")
    if kind not in KINDS:
        raise SpecError(f"spec {text!r}: unknown layer {kind!r} (known: "
                        + "; ".join(_usage(k) for k in KINDS) + ")")
    if not colon:
        raise SpecError(f"spec {text!r}: expected {_usage(kind)}")
    required, optional = KINDS[kind]
    params: dict[str, int] = {}
    for item in body.split(","):
        key, eq, raw = (s.strip() for s in item.partition("="))
        if not key and not eq:
            raise SpecError(f"spec {text!r}: empty item (expected {_usage(kind)})")
        if not eq:
            raise SpecError(f"spec {text!r}: {key!r} needs a value, like {key}=16")
        if key not in required and key not in optional:
            raise SpecError(f"spec {text!r}: {kind} has no key {key!r} (expected "
                            f"{_usage(kind)})")
        if key in params:
            raise SpecError(f"spec {text!r}: {key} is given twice")
        try:
            value = int(raw, 10)
        except ValueError:
            raise SpecError(f"spec {text!r}: {key} must be an integer, not {raw!r}") from None
        low, high = _MIN.get(key, 1), _MAX.get(key, _SIZE_LIMIT)
        if not low <= value <= high:
            raise SpecError(f"spec {text!r}: {key}={value} is out of range {low}..{high}")
        params[key] = value
    missing = [k for k in required if k not in params]
    if missing:
        raise SpecError(f"spec {text!r}: missing {missing[0]} (expected {_usage(kind)})")
    for k, default in optional.items():
        params.setdefault(k, default)
    if kind == "conv2d":
        p = params
        for size, kernel in (("H", "R"), ("W", "S")):
            if p[size] + 2 * p["pad"] < p[kernel]:
                raise SpecError(f"spec {text!r}: {kernel}={p[kernel]} is larger than "
                                f"{size}={p[size]} plus twice pad={p['pad']}")
    return Spec(kind, params)


def _requant_for(acc: np.ndarray) -> tuple[int, int]:
    """mul, shift mapping the largest |acc| to 127 (at most scale 1/2, at least 2^-40)."""
    top = int(np.abs(acc.astype(np.int64)).max()) if acc.size else 0
    scale = min(0.5, 127.0 / top) if top else 0.5
    mul, shift = quantize_multiplier(max(scale, 2.0 ** -40))
    return int(mul), shift


def spec_graph(spec: Spec | str, seed: int = 0) -> tuple[Graph, dict[str, np.ndarray]]:
    """The graph of a spec (input ``x``, output ``y``) and its inputs ``{"x": array}``, all
    random from ``numpy.random.default_rng(seed)``."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    rng = np.random.default_rng(seed)
    p = spec.params

    def int8(*shape: int) -> np.ndarray:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)

    g = Graph(str(spec).replace(":", "_").replace(",", "_").replace("=", ""))
    if spec.kind == "matmul":
        x, w = int8(p["M"], p["K"]), int8(p["K"], p["N"])
        g.output("y", g.matmul(g.input("x", x.shape), w, name="y"))
        return g, {"x": x}
    # A bias of the order of one accumulator's spread: sqrt(K) * 128 * 128 / 4 or so.
    fan_in = p["K"] if spec.kind == "linear" else p["R"] * p["S"] * p["C"]
    bound = max(1, int(math.isqrt(fan_in) * 4096))
    if spec.kind == "linear":
        x, w = int8(p["M"], p["K"]), int8(p["K"], p["N"])
        b = rng.integers(-bound, bound + 1, size=p["N"], dtype=np.int32)
        acc = x.astype(np.int64) @ w.astype(np.int64) + b
        mul, shift = _requant_for(acc)
        y = g.linear(g.input("x", x.shape), w, b, mul=mul, shift=shift, zp=0,
                     relu=bool(p["relu"]), name="y")
    else:
        x, w = int8(p["H"], p["W"], p["C"]), int8(p["R"], p["S"], p["C"], p["K"])
        b = rng.integers(-bound, bound + 1, size=p["K"], dtype=np.int32)
        acc = reference.conv2d_acc(x, w, b, p["stride"], p["pad"])
        mul, shift = _requant_for(acc)
        y = g.conv2d(g.input("x", x.shape), w, b, stride=p["stride"], pad=p["pad"], mul=mul,
                     shift=shift, zp=0, relu=bool(p["relu"]), name="y")
    g.output("y", y)
    return g, {"x": x}


def compile_spec(spec: str, config: CoreConfig | str, seed: int = 0, *,
                 print_ir=None) -> Compiled:
    """Compile a built-in layer spec with random data from ``seed`` for ``config`` (a
    CoreConfig, or a name or file :func:`~conveyor.hw.machine.config.load_config` takes)."""
    if isinstance(config, str):
        config = load_config(config)
    graph, inputs = spec_graph(spec, seed)
    return compile_graph(graph, inputs, config, spec=spec, print_ir=print_ir)
