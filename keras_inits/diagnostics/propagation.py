"""Signal-propagation diagnostics: how activations and gradients change with depth.

Glorot & Bengio 2010 and He et al. 2015 explain initialization by one requirement: the variance
of the activations (forward) and of the gradients (backward) should stay steady from layer to
layer. `propagation_report` measures both on a user's own model and data.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_inits import _capture


@dataclasses.dataclass
class LayerStats:
    """Statistics of one layer call.

    Attributes:
        depth: 1-based position in the forward order.
        name: the layer's name (`name[k]` for the k-th call of a shared layer, k >= 2).
        class_name: the layer's class name.
        shape: the output shape (first floating-point output).
        mean, std: mean and standard deviation over every element of the output.
        zeros: fraction of output elements that are exactly 0 (dead ReLUs).
        grad_std, grad_norm: std and L2 norm of the gradient of the loss with respect to the
            layer's kernels (every trainable weight whose name ends in `kernel`, or
            `embeddings`), or None without `y` or for layers without a kernel.
    """

    depth: int
    name: str
    class_name: str
    shape: tuple
    mean: float | None
    std: float | None
    zeros: float | None
    grad_std: float | None = None
    grad_norm: float | None = None


class PropagationReport(_capture.LayerTable):
    """Per-layer activation (and gradient) statistics, in forward order.

    Print it for an aligned table, call `to_list()` for dicts, `plot(path)` for a PNG.
    """

    def __init__(self, layers: list[LayerStats], has_gradients: bool):
        super().__init__(layers)
        self.has_gradients = has_gradients

    def __str__(self) -> str:
        headers = ["depth", "layer", "class", "output shape", "mean", "std", "zeros"]
        if self.has_gradients:
            headers += ["grad std", "grad norm"]
        rows = []
        for r in self.layers:
            row = [r.depth, r.name, r.class_name, str(r.shape), r.mean, r.std, r.zeros]
            if self.has_gradients:
                row += [r.grad_std, r.grad_norm]
            rows.append(row)
        return _capture.table(headers, rows)

    def __repr__(self) -> str:
        return f"<PropagationReport: {len(self.layers)} layer calls>"

    def plot(self, path, title: str | None = None) -> str:
        """Writes a PNG: activation std and kernel-gradient std against depth (log scale).

        Returns `path` as a string. Uses matplotlib's Agg backend (no display needed).
        """
        plt = _pyplot()
        panels = 2 if self.has_gradients else 1
        fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
        depth = [r.depth for r in self.layers]
        _log_line(axes[0, 0], depth, [r.std for r in self.layers], "o-")
        axes[0, 0].set(xlabel="depth (layer call)", ylabel="activation std", yscale="log")
        axes[0, 0].set_title("forward: activation std")
        if self.has_gradients:
            rows = [r for r in self.layers if r.grad_std is not None]
            _log_line(axes[0, 1], [r.depth for r in rows], [r.grad_std for r in rows], "s-")
            axes[0, 1].set(xlabel="depth (layer call)", ylabel="kernel-gradient std", yscale="log")
            axes[0, 1].set_title("backward: kernel-gradient std")
        for ax in axes.flat:
            ax.grid(True, which="both", alpha=0.3)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return str(path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log_line(ax, xs, ys, style, **kwargs):
    """Plots on a log axis; values that are missing or <= 0 become gaps, not errors."""
    ys = [y if (y is not None and y > 0 and math.isfinite(y)) else np.nan for y in ys]
    ax.plot(xs, ys, style, markersize=3, **kwargs)


def propagation_report(model: keras.Model, x, y=None, loss=None) -> PropagationReport:
    """Per-layer activation statistics of `model` on `x`, and kernel gradients if `y` is given.

    Every layer of the model (nested models are looked into) is recorded each time it is
    called, in forward order: mean, std and fraction of exact zeros of its output, over every
    element of the batch. With `y`, the gradient of `loss(y, model(x))` with respect to each
    layer's kernel is computed once and its std and L2 norm reported. The model runs in
    inference mode (`training=False`) and nothing in it changes.

    Args:
        model: a built or unbuilt `keras.Model` (Sequential, Functional or subclassed).
        x: a batch of inputs.
        y: optional targets for `x`, to get gradients.
        loss: the loss for the gradients: a name, a `keras.losses.Loss` or a function
            `loss(y_true, y_pred)`. Defaults to the loss the model was compiled with.

    Returns:
        A `PropagationReport`.

    Example:

    >>> report = keras_inits.propagation_report(model, x[:256], y[:256],
    ...                                         loss="sparse_categorical_crossentropy")
    >>> print(report)
    >>> report.plot("propagation.png")
    """
    _capture.check_model(model)
    x = _capture.as_inputs(x)
    loss_fn = None
    if y is not None:
        loss_fn = _loss_function(model, loss)
    elif loss is not None:
        raise ValueError("Argument `loss` needs targets: pass `y` as well. Received: y=None")
    if not model.built:
        _capture.run(model, x)

    layers = _capture.top_layers(model)
    records: list[LayerStats] = []
    first_calls: list = []  # the layer of each record, or None for repeated calls
    calls: dict[int, int] = {}

    def record(layer, call, args, kwargs):
        output = call(*args, **kwargs)
        calls[id(layer)] = calls.get(id(layer), 0) + 1
        name = layer.name if calls[id(layer)] == 1 else f"{layer.name}[{calls[id(layer)]}]"
        records.append(_stats(len(records) + 1, name, layer, output))
        first_calls.append(layer if calls[id(layer)] == 1 else None)
        return output

    with _capture.hooked(layers, record):
        _capture.run(model, x)

    if loss_fn is not None:
        by_layer = {id(layer): _kernels(layer) for layer in layers}
        variables = [v for vs in by_layer.values() for v in vs]
        grads = dict(zip(map(id, variables), _gradients(model, x, y, loss_fn, variables)))
        for r, layer in zip(records, first_calls):
            if layer is None:  # a repeated call of a shared layer: the gradient is its total
                continue
            parts = [grads[id(v)] for v in by_layer[id(layer)] if grads[id(v)] is not None]
            if parts:
                flat = np.concatenate([p.ravel() for p in parts])
                r.grad_std = float(flat.std())
                r.grad_norm = float(np.linalg.norm(flat))
    return PropagationReport(records, has_gradients=loss_fn is not None)


def _stats(depth, name, layer, output) -> LayerStats:
    tensors = _capture.float_tensors(output)
    if not tensors:
        return LayerStats(depth, name, type(layer).__name__, (), None, None, None)
    a = _capture.to_float64(tensors[0])
    return LayerStats(
        depth=depth,
        name=name,
        class_name=type(layer).__name__,
        shape=tuple(int(d) for d in a.shape),
        mean=float(a.mean()),
        std=float(a.std()),
        zeros=float(np.mean(a == 0.0)),
    )


def _kernels(layer) -> list:
    """The layer's trainable kernels: weights named `*kernel` or `embeddings`, no biases."""
    return [
        v
        for v in layer.trainable_weights
        if v.name.endswith("kernel") or v.name == "embeddings"
    ]


def _loss_function(model, loss):
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ValueError(
                "Gradients need a loss: pass `loss=` (a name such as "
                "'sparse_categorical_crossentropy', a `keras.losses.Loss` or a function), or "
                "compile the model with one. Received: loss=None"
            )
    if isinstance(loss, (dict, list, tuple)):
        raise TypeError(
            f"Argument `loss` must be a single loss (multi-output losses are not supported). "
            f"Received: loss={loss!r}"
        )
    fn = keras.losses.get(loss)
    if fn is None or not callable(fn):
        raise ValueError(f"Could not interpret argument `loss`. Received: loss={loss!r}")

    def mean_loss(y_true, y_pred):  # loss functions are per sample; Loss objects reduce already
        return ops.mean(fn(y_true, y_pred))

    return mean_loss


def _accepts(fn, name: str) -> bool:
    parameters = inspect.signature(fn).parameters.values()
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def _gradients(model, x, y, loss_fn, variables) -> list[np.ndarray | None]:
    """`d loss_fn(y, model(x)) / d v` for each `v` in `variables`, as float64 numpy arrays.

    The only backend-specific code of the package's diagnostics: TensorFlow's GradientTape,
    `jax.grad` over `model.stateless_call`, or torch autograd. None where `v` does not
    influence the loss.
    """
    if not variables:
        return []
    backend = keras.backend.backend()
    y = ops.convert_to_tensor(y)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=False))
        grads = tape.gradient(value, variables)
    elif backend == "jax":
        import jax

        trainable = model.trainable_variables
        non_trainable = [v.value for v in model.non_trainable_variables]
        index = {id(v): i for i, v in enumerate(trainable)}
        # `stateless_call` hands its kwargs to `call` as they are, unlike `__call__`.
        kwargs = {"training": False} if _accepts(model.call, "training") else {}

        def compute(trainable_values):
            y_pred, _ = model.stateless_call(trainable_values, non_trainable, x, **kwargs)
            return loss_fn(y, y_pred)

        all_grads = jax.grad(compute)([v.value for v in trainable])
        grads = [all_grads[index[id(v)]] if id(v) in index else None for v in variables]
    elif backend == "torch":
        import torch

        value = loss_fn(y, model(x, training=False))
        grads = torch.autograd.grad(value, [v.value for v in variables], allow_unused=True)
    else:
        raise NotImplementedError(f"Gradients are not implemented for backend {backend!r}.")
    return [None if g is None else _capture.to_float64(g) for g in grads]
