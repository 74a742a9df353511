"""``conveyor run DIR --inputs IN.npz [--outputs OUT.npz]``: a compiled model on the user's own
arrays, checked against the reference it was compiled against.

IN.npz holds one array per input of the manifest, by name; each is shaped as that input (or
any shape of the same size, such as the TFLite model's own with its batch of one), or has one
extra leading axis of samples, in the model's own type: int8, or float for a model with float
inputs (an ONNX model's, or a TFLite model's into a QUANTIZE), quantised on the host as the
manifest's ``io`` says. Every sample runs the same compiled program with its input words
replaced; OUT.npz gets every output (the host steps' too) in the same convention and the model's
own type (a float output dequantised on the host). Each sample is checked in those types against
the reference: LiteRT's reference kernels on the sample as given for a TFLite model (if the file
is still where it was compiled from: its float outputs for float ones), else the graph saved in
DIR evaluated in numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import UsageError

__all__ = ["model_outputs", "read_inputs", "reference_outputs"]


def read_inputs(path: str, shapes: dict[str, tuple[int, ...]], io: dict | None = None
                ) -> tuple[list[dict], bool, list[dict]]:
    """The samples in ``path`` as {input name: int8 array in the compiled shape}, whether the
    file had a samples axis, and the samples as given (the model's own types, for its
    reference). ``io``: the manifest's model types (float inputs)."""
    specs = _specs(io, "inputs")
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
        if name in specs and a.dtype.kind == "f":
            pass  # the model's own float input, quantised below
        elif a.dtype != np.int8:
            kind = "float or int8" if name in specs else "int8"
            raise UsageError(f"{path}: {name!r} is {a.dtype}; the compiled model takes {kind}")
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
    def graph_value(k: str, a: np.ndarray) -> np.ndarray:
        if a.dtype.kind == "f":
            spec = specs[k]
            return spec.to_graph(a.reshape(spec.onnx_shape)).reshape(shapes[k])
        return a.reshape(shapes[k])

    given = [{k: a[i] if batched else a for k, a in arrays.items()} for i in range(n)]
    samples = [{k: graph_value(k, a) for k, a in sample.items()} for sample in given]
    return samples, bool(batched), given


def model_outputs(io: dict | None, got: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph's int8 outputs in the model's own types and shapes (float outputs
    dequantised), for OUT.npz."""
    specs = _specs(io, "outputs")
    return {n: specs[n].from_graph(v) if n in specs else v for n, v in got.items()}


def _specs(io: dict | None, side: str) -> dict:
    from ...frontends.onnx import TensorSpec
    return {n: TensorSpec.from_json(d) for n, d in (io or {}).get(side, {}).items()}


def reference_outputs(directory: str, compiled, sample: dict, given: dict | None = None
                      ) -> dict | None:
    """The expected outputs of one sample (``sample``: the graph's int8 inputs; ``given``: the
    same as the user gave them) in the model's own types, as :func:`model_outputs` gives the
    compiled ones; None when DIR keeps no reference to run."""
    spec = Path(compiled.spec)
    if compiled.spec.endswith(".tflite") and spec.exists():
        from ...frontends.tflite import import_tflite
        # the model's inputs by name, as given: a float model's floats go through its QUANTIZE
        return import_tflite(spec).oracle(sample if given is None else given)
    # one run's graph level, or the whole model's when it runs as several
    graph = Path(directory) / ("program.graph.mlir" if len(compiled.runs) == 1
                               else "model.graph.mlir")
    if not graph.exists():
        return None
    from ...compiler.host import apply_host_steps
    from ...ir import parse_module
    from ...ir.reference import evaluate
    module = parse_module(graph.read_text(), str(graph))
    return model_outputs(compiled.io, apply_host_steps(compiled.host, evaluate(module, sample)))
