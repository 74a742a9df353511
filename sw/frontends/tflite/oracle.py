"""LiteRT's reference kernels as the oracle: what a TFLite model's tensors hold for an input.

``OpResolverType.BUILTIN_REF`` selects the reference kernels, the definition Conveyor is
bit-exact against (LiteRT's default XNNPACK and optimised kernels differ from them on some
bytes: ../shared/models/README.md). Intermediate tensors are kept so that a compiled model's
every output, also one the host finishes, has its expected bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .load import TfliteImportError

__all__ = ["litert_reference"]


def litert_reference(path: str, inputs: dict[str, np.ndarray],
                     tensors: Iterable[str]) -> dict[str, np.ndarray]:
    """Run the model at ``path`` on ``inputs`` (input tensor name -> array in the model's
    shape and type) with LiteRT's reference kernels; return tensor name -> array for every
    name in ``tensors``."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise TfliteImportError("the LiteRT oracle needs ai-edge-litert "
                                "(pip install ai-edge-litert)") from None
    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    index = {d["name"]: d["index"] for d in it.get_tensor_details()}
    for name, value in inputs.items():
        it.set_tensor(index[name], np.asarray(value))
    it.invoke()
    return {name: it.get_tensor(index[name]).copy() for name in tensors}
