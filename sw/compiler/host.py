"""Host steps: what the host computes from a compiled model's outputs after the core's runs.

A model may end in an op the core does not compute yet (TFLite's int8 SOFTMAX); the compiler
then stops at its input and records the op as a host step, saved in the manifest, so that
``conveyor run`` and :meth:`Compiled.outputs` give the model's own outputs. A step is a dict:
``{"op": name, "input": output name, "output": new output name, ...parameters}``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import CompileError
from .softmax import SoftmaxParams, softmax_int8

__all__ = ["HOST_OPS", "apply_host_steps"]


def _softmax(x: np.ndarray, step: dict) -> np.ndarray:
    return softmax_int8(x, SoftmaxParams(step["input_scale"], step["beta"]))


#: Host step name -> fn(array, step).
HOST_OPS: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {"softmax": _softmax}


def apply_host_steps(steps: list[dict], outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``outputs`` with every step's output added, in order."""
    out = dict(outputs)
    for step in steps:
        fn = HOST_OPS.get(step.get("op"))
        if fn is None or step.get("input") not in out:
            raise CompileError(f"host step {step!r} is unknown or has no input")
        out[step["output"]] = fn(out[step["input"]], step)
    return out
