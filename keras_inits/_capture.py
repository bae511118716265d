"""What `lsuv` and `propagation_report` share: finding layers, capturing their calls, tables.

A layer's output is captured by temporarily replacing its `call` on the instance (never the
class) with a wrapper that hands the call to a hook. This works the same way for Sequential,
Functional and subclassed models, for nested models, and on every backend, because the model
runs eagerly (`model(x, training=False)`, not `predict`). The original `call` is always
restored, also when the forward pass raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_inits import _optional


class StopForward(Exception):
    """Raised by a hook to end a forward pass early (Keras re-raises it with a new message)."""


def as_inputs(x):
    """`x` with float numpy arrays cast to `floatx` (integer inputs, such as token ids, kept)."""

    def convert(a):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            return a.astype(keras.backend.floatx())
        return a

    return keras.tree.map_structure(convert, x)


def check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"Argument `model` must be a `keras.Model`. Received: model={model!r}")


def all_layers(model) -> list:
    """Every layer inside `model`, recursively (sublayers of layers and nested models)."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)]


def top_layers(model) -> list:
    """`model.layers`, with nested models replaced by their own layers (recursively)."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(top_layers(layer))
        else:
            out.append(layer)
    return out


@contextlib.contextmanager
def no_grad():
    """No autograd graph for pure measurement passes (torch records one otherwise)."""
    if keras.backend.backend() == "torch":
        import torch

        with torch.no_grad():
            yield
    else:
        yield


Hook = Callable[[Any, Callable, tuple, dict], Any]


@contextlib.contextmanager
def hooked(layers: Iterable, hook: Hook):
    """While active, calling any of `layers` runs `hook(layer, call, args, kwargs)` instead.

    `call` is the layer's own `call`; the hook returns what the layer should return.
    """
    saved = []

    def make_wrapper(layer, call):
        def wrapper(*args, **kwargs):
            return hook(layer, call, args, kwargs)

        return wrapper

    try:
        for layer in dict.fromkeys(layers):  # each layer once, in order
            had = "call" in layer.__dict__
            saved.append((layer, had, layer.__dict__.get("call")))
            # Through __dict__, so that no framework attribute tracking sees the patch.
            layer.__dict__["call"] = make_wrapper(layer, layer.call)
        yield
    finally:
        for layer, had, previous in reversed(saved):
            if had:
                layer.__dict__["call"] = previous
            else:
                layer.__dict__.pop("call", None)


def run(model, x) -> None:
    """One eager forward pass in inference mode; `StopForward` ends it quietly."""
    try:
        with no_grad():
            model(x, training=False)
    except StopForward:
        pass


class Recorder:
    """`recorder(x)` runs `model(x, training=False)` and returns what `layers` output.

    The result holds the first floating-point output tensor of every call of any of `layers`,
    in call order. `calls` then lists each call as `(layer, name, index)`: `name` is the
    layer's name, `name[k]` for its k-th call (k >= 2), and `index` the position of its tensor
    in the result (None for a call without a floating-point output). Runs under whatever
    autodiff context the caller sets (a torch no-grad block, a `jax.jvp`, a tape).
    """

    def __init__(self, model, layers: Iterable):
        self.model = model
        self.layers = list(layers)
        self.calls: list[tuple[Any, str, int | None]] = []

    def __call__(self, x) -> list:
        self.calls = []
        outputs: list[Any] = []
        counts: dict[int, int] = {}

        def record(layer, call, args, kwargs):
            output = call(*args, **kwargs)
            counts[id(layer)] = counts.get(id(layer), 0) + 1
            name = layer.name if counts[id(layer)] == 1 else f"{layer.name}[{counts[id(layer)]}]"
            tensors = float_tensors(output)
            self.calls.append((layer, name, len(outputs) if tensors else None))
            outputs.extend(tensors[:1])
            return output

        with hooked(self.layers, record):
            self.model(x, training=False)
        return outputs


def float_tensors(output) -> list:
    """The floating-point tensors in a layer's output structure."""
    out = []
    for t in keras.tree.flatten(output):
        if t is None or not hasattr(t, "dtype"):
            continue
        if "float" in keras.backend.standardize_dtype(t.dtype):
            out.append(t)
    return out


def to_float64(t) -> np.ndarray:
    """A tensor as a float64 numpy array (bfloat16 goes through float32)."""
    return np.asarray(ops.convert_to_numpy(ops.cast(t, "float32")), dtype="float64")


def pyplot(feature: str = "plotting"):
    """matplotlib's pyplot on the Agg backend (no display), imported only when plotting.

    Without matplotlib, an ImportError that names `feature` and the `[diagnostics]` extra.
    """
    matplotlib = _optional.require("matplotlib", "diagnostics", feature)
    matplotlib.use("Agg")
    return _optional.require("matplotlib.pyplot", "diagnostics", feature)


# ---------------------------------------------------------------------------------------------
# Text tables


def fmt(value: Any) -> str:
    """A cell: `-` for missing, 4 significant digits for floats, `str` otherwise."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table: text columns left-aligned, numeric columns right-aligned."""
    cells = [[fmt(v) for v in row] for row in rows]
    numeric = [
        all(_is_number(row[i]) or row[i] is None for row in rows)
        and any(row[i] is not None for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values):
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in cells])


class LayerTable:
    """A per-layer report: iterate, index by position or layer name, `to_list()` for dicts."""

    def __init__(self, layers: list):
        self.layers = layers

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str):
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(f"No layer named {key!r} in the report.")
        return self.layers[key]

    def to_list(self) -> list[dict[str, Any]]:
        """One dict per layer, with the fields of its dataclass."""
        return [dataclasses.asdict(layer) for layer in self.layers]
