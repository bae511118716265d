"""Signal-propagation diagnostics: how activations and gradients change with depth.

Glorot & Bengio 2010 and He et al. 2015 explain initialization by one requirement: the variance
of the activations (forward) and of the gradients (backward) should stay steady from layer to
layer. `propagation_report` measures both on a user's own model and data.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
from keras import ops

from keras_inits import _autodiff, _capture
from keras_inits.diagnostics import jacobian


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
        jacobian: the averaged partial Jacobian norm from the model's input to this output,
            `(1/N) Σ_ij (∂h_i/∂x_j)²` averaged over samples (an unbiased estimate, see
            `propagation_report`), or None when it was not computed.
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
    jacobian: float | None = None


class PropagationReport(_capture.LayerTable):
    """Per-layer activation (and gradient) statistics, in forward order.

    Print it for an aligned table, call `to_list()` for dicts, `plot(path)` for a PNG. The
    `jacobian` column is the averaged partial Jacobian norm from the input to each output.

    Args:
        layers: one `LayerStats` per layer call, in forward order.
        has_gradients: whether the kernel-gradient columns were computed.
        has_jacobian: whether the Jacobian column was computed.
    """

    def __init__(self, layers: list[LayerStats], has_gradients: bool, has_jacobian: bool = False):
        super().__init__(layers)
        self.has_gradients = has_gradients
        self.has_jacobian = has_jacobian

    def __str__(self) -> str:
        headers = ["depth", "layer", "class", "output shape", "mean", "std", "zeros"]
        if self.has_jacobian:
            headers += ["jacobian"]
        if self.has_gradients:
            headers += ["grad std", "grad norm"]
        rows = []
        for r in self.layers:
            row = [r.depth, r.name, r.class_name, str(r.shape), r.mean, r.std, r.zeros]
            if self.has_jacobian:
                row += [r.jacobian]
            if self.has_gradients:
                row += [r.grad_std, r.grad_norm]
            rows.append(row)
        return _capture.table(headers, rows)

    def __repr__(self) -> str:
        return f"<PropagationReport: {len(self.layers)} layer calls>"

    def plot(self, path, title: str | None = None) -> str:
        """Writes a PNG against depth (log scale): activation std, and where measured, the
        partial Jacobian norm and the kernel-gradient std.

        Uses matplotlib's Agg backend (no display needed).

        Args:
            path: where to write the PNG.
            title: an optional title above the panels.

        Returns:
            `path` as a string.
        """
        plt = _capture.pyplot("PropagationReport.plot")
        panels = [("std", "activation std", "forward: activation std", "o-")]
        if self.has_jacobian:
            panels.append(("jacobian", "partial Jacobian norm", "input -> layer: APJN", "^-"))
        if self.has_gradients:
            panels.append(
                ("grad_std", "kernel-gradient std", "backward: kernel-gradient std", "s-")
            )
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
        for ax, (field, label, panel_title, style) in zip(axes.flat, panels):
            rows = [r for r in self.layers if getattr(r, field) is not None]
            _log_line(ax, [r.depth for r in rows], [getattr(r, field) for r in rows], style)
            ax.set(xlabel="depth (layer call)", ylabel=label, yscale="log")
            ax.set_title(panel_title)
            ax.grid(True, which="both", alpha=0.3)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return str(path)


# `diagnostics/compare.py` draws with these two.
_pyplot = _capture.pyplot


def _log_line(ax, xs, ys, style, **kwargs):
    """Plots on a log axis; values that are missing or <= 0 become gaps, not errors."""
    ys = [y if (y is not None and y > 0 and math.isfinite(y)) else np.nan for y in ys]
    ax.plot(xs, ys, style, markersize=3, **kwargs)


def propagation_report(
    model: keras.Model,
    x,
    y=None,
    loss=None,
    *,
    probes: int = 1,
    seed: int | None = 0,
) -> PropagationReport:
    """Per-layer activation statistics and partial Jacobian norms of `model` on `x`, and
    kernel gradients if `y` is given.

    Every layer of the model (nested models are looked into) is recorded each time it is
    called, in forward order: mean, std and fraction of exact zeros of its output, over every
    element of the batch, and the averaged partial Jacobian norm (APJN, Doshi, He & Gromov)
    from the input to that output, `𝒥 = (1/N) Σ_ij (∂h_i/∂x_j)²` for an output `h` of `N`
    elements per sample, averaged over samples. Its trend with depth tells the phase: flat
    (or a power law) at criticality, exponential decay in the ordered phase (vanishing
    gradients), exponential growth in the chaotic one (exploding gradients). It is an unbiased
    random-projection estimate, `‖(∂h/∂x) u‖² / N` with `u ~ N(0, I)`, from `probes` forward-mode
    passes, each of which gives every layer's value; its relative standard error is about
    `sqrt(2 / (rank · samples · probes))` for a Jacobian of effective rank `rank`.

    With `y`, the gradient of `loss(y, model(x))` with respect to each layer's kernel is
    computed once and its std and L2 norm reported. The model runs in inference mode
    (`training=False`) and nothing in it changes.

    Args:
        model: a built or unbuilt `keras.Model` (Sequential, Functional or subclassed).
        x: a batch of inputs. The Jacobian column needs one floating-point array (a model
            with a single float input); for other inputs (token ids, several inputs) it is
            left out and `has_jacobian` is False.
        y: optional targets for `x`, to get gradients.
        loss: the loss for the gradients: a name, a `keras.losses.Loss` or a function
            `loss(y_true, y_pred)`. Defaults to the loss the model was compiled with.
        probes: random tangents per sample for the Jacobian column, an int >= 0 (default 1;
            0 leaves the column out and skips the forward-mode pass).
        seed: seed of the random tangents, an int or None (default 0).

    Returns:
        A `PropagationReport`.

    Example:

    >>> report = keras_inits.propagation_report(model, x[:256], y[:256],
    ...                                         loss="sparse_categorical_crossentropy")
    >>> print(report)
    depth  layer    class  output shape     mean     std   zeros  jacobian  grad std  grad norm
    ...
    >>> report.plot("propagation.png")
    'propagation.png'

    Reference: Doshi, He & Gromov 2021, "Critical initialization of wide and deep neural
    networks through partial Jacobians", https://arxiv.org/abs/2111.12143
    """
    _capture.check_model(model)
    _check_probes(probes, seed)
    x = _capture.as_inputs(x)
    loss_fn = loss_key = None
    if y is not None:
        loss_fn, loss_key = _loss_function(model, loss)
    elif loss is not None:
        raise ValueError("Argument `loss` needs targets: pass `y` as well. Received: y=None")
    if not model.built:
        _capture.run(model, x)

    layers = _capture.top_layers(model)
    recorder = _capture.Recorder(model, layers)
    norms = None
    if probes and _differentiable(x):
        values, norms = jacobian.partial_jacobian_norms(recorder, x, probes, seed)
    else:
        with _capture.no_grad():
            values = recorder(x)
    records = []
    for depth, (layer, name, index) in enumerate(recorder.calls, start=1):
        value = None if index is None else values[index]
        r = _stats(depth, name, layer, value)
        r.jacobian = None if norms is None or index is None else norms[index]
        records.append(r)

    if loss_fn is not None:
        called = [c[0] for c in recorder.calls]
        _add_gradients(model, x, y, loss_fn, loss_key, layers, records, called)
    return PropagationReport(
        records, has_gradients=loss_fn is not None, has_jacobian=norms is not None
    )


def _check_probes(probes, seed) -> None:
    if isinstance(probes, bool) or not isinstance(probes, int):
        raise TypeError(f"Argument `probes` must be an int >= 0. Received: probes={probes!r}")
    if probes < 0:
        raise ValueError(f"Argument `probes` must be an int >= 0. Received: probes={probes!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"Argument `seed` must be None or an int. Received: seed={seed!r}")


def _differentiable(x) -> bool:
    """Whether `x` is one floating-point array, so that `d h / d x` exists."""
    return hasattr(x, "dtype") and "float" in keras.backend.standardize_dtype(x.dtype)


def _add_gradients(model, x, y, loss_fn, loss_key, layers, records, called) -> None:
    """Fills `grad_std` and `grad_norm` of each layer's first call (`called[i]`: the layer of
    `records[i]`). `loss_key` stands for `loss_fn` in the JAX program cache (None: no cache)."""
    by_layer = {id(layer): _kernels(layer) for layer in layers}
    variables = [v for vs in by_layer.values() for v in vs]
    computed = _autodiff.gradients(model, x, y, loss_fn, variables, key=loss_key)
    grads = {
        id(v): None if g is None else _capture.to_float64(g) for v, g in zip(variables, computed)
    }
    seen = set()
    for r, layer in zip(records, called):
        if id(layer) in seen:  # a repeated call of a shared layer: the gradient is its total
            continue
        seen.add(id(layer))
        parts = [g for v in by_layer[id(layer)] if (g := grads[id(v)]) is not None]
        if parts:
            flat = np.concatenate([p.ravel() for p in parts])
            r.grad_std = float(flat.std())
            r.grad_norm = float(np.linalg.norm(flat))


def _stats(depth, name, layer, tensor) -> LayerStats:
    if tensor is None:
        return LayerStats(depth, name, type(layer).__name__, (), None, None, None)
    a = _capture.to_float64(tensor)
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
        v for v in layer.trainable_weights if v.name.endswith("kernel") or v.name == "embeddings"
    ]


def _loss_function(model, loss):
    """`(mean_loss, key)`: the batch-mean loss function, and a hashable key that stands for it
    (the loss as given, or None where it is not hashable)."""
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

    try:
        key = ("loss", loss, hash(loss))
    except TypeError:
        key = None
    return mean_loss, key
