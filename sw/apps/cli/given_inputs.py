"""``conveyor run DIR --inputs IN.npz [--outputs OUT.npz]``: a compiled model on the user's own
arrays, checked against the reference it was compiled against.

IN.npz holds one array per input of the manifest, by name; each is shaped as that input (or
any shape of the same size, such as the TFLite model's own with its batch of one), or has one
extra leading axis of samples. Every sample runs the same compiled program with its input
words replaced; OUT.npz gets every output (the host steps' too) in the same convention. The
reference is LiteRT's reference kernels for a TFLite model (if the file is still where it was
compiled from), else the graph saved in DIR evaluated in numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import UsageError

__all__ = ["read_inputs", "reference_outputs"]


def read_inputs(path: str, shapes: dict[str, tuple[int, ...]]) -> tuple[list[dict], bool]:
    """The samples in ``path`` as {input name: array in the compiled shape}, and whether the
    file had a samples axis."""
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a .npz file ({e})") from None
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise UsageError(f"{path}: needs the arrays {sorted(shapes)}, "
                         + (f"missing {missing}" if missing else f"has extra {extra}"))
    counts, batched = set(), None
    for name, a in arrays.items():
        size = int(np.prod(shapes[name]))
        if a.dtype != np.int8:
            raise UsageError(f"{path}: {name!r} is {a.dtype}; the compiled model takes int8")
        one = a.size == size  # one sample, in the input's shape or another of its size
        many = not one and a.ndim >= 1 and a.shape[0] >= 1 and int(np.prod(a.shape[1:])) == size
        if not one and not many:
            raise UsageError(f"{path}: {name!r} has shape {list(a.shape)}; the input is "
                             f"{list(shapes[name])} (or N samples of it)")
        is_batch = many
        if batched is not None and batched != is_batch:
            raise UsageError(f"{path}: some arrays have a samples axis and some do not")
        batched = is_batch
        counts.add(a.shape[0] if is_batch else 1)
    if len(counts) > 1:
        raise UsageError(f"{path}: the arrays hold different numbers of samples {sorted(counts)}")
    n = counts.pop()
    samples = [{k: (a[i] if batched else a).reshape(shapes[k]) for k, a in arrays.items()}
               for i in range(n)]
    return samples, bool(batched)


def reference_outputs(directory: str, compiled, sample: dict) -> dict | None:
    """The expected outputs of one sample, or None when DIR keeps no reference to run."""
    spec = Path(compiled.spec)
    if compiled.spec.endswith(".tflite") and spec.exists():
        from ...frontends.tflite import import_tflite
        return import_tflite(spec).oracle(sample)  # graph inputs are the model's, by name
    graph = Path(directory) / "program.graph.mlir"
    if len(compiled.runs) != 1 or not graph.exists():
        return None
    from ...compiler.host import apply_host_steps
    from ...ir import parse_module
    from ...ir.reference import evaluate
    module = parse_module(graph.read_text(), str(graph))
    return apply_host_steps(compiled.host, evaluate(module, sample))
