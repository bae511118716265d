"""Jacobian diagnostics: the input-output singular values and the partial Jacobian norms.

Dynamical isometry (Saxe et al. 2014; Pennington, Schoenholz & Ganguli 2017): a deep network
learns fast when every singular value of its input-output Jacobian `J = d f(x) / d x` is close
to 1, not merely their mean square. `jacobian_spectrum` measures them on a user's own model and
data. The partial Jacobian norms of Doshi, He & Gromov (2021) follow the same quantity through
the depth, from the input to every layer; `propagation_report` shows them as a column.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_inits import _autodiff, _capture


class JacobianSpectrum:
    """Singular values of the input-output Jacobian at each sample, and their summary.

    Attributes:
        singular_values: float64 array `(samples, k)`, `k = min(n_in, n_out)`, each row the
            singular values of one sample's Jacobian in decreasing order.
        mean_squared: the mean of `σ²` over every sample and singular value, that is
            `tr(J Jᵀ) / k` averaged over samples. 1 is the isometry's value.
        spread: the standard deviation of `σ²` over the same values (the spread of the
            spectrum of `J Jᵀ`; 0 for an exact isometry).
        n_in, n_out: the sizes of one sample's input and output.

    Args:
        singular_values: the `(samples, k)` array above (`jacobian_spectrum` builds it).
        n_in, n_out: the sizes of one sample's input and output.
    """

    def __init__(self, singular_values: np.ndarray, n_in: int, n_out: int):
        self.singular_values = singular_values
        self.n_in, self.n_out = n_in, n_out
        squared = singular_values**2
        self.mean_squared = float(squared.mean())
        self.spread = float(squared.std())

    @property
    def min(self) -> float:
        """The smallest singular value over all samples."""
        return float(self.singular_values.min())

    @property
    def max(self) -> float:
        """The largest singular value over all samples."""
        return float(self.singular_values.max())

    def to_dict(self) -> dict[str, Any]:
        """The summary numbers and the singular values as nested lists."""
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "samples": int(self.singular_values.shape[0]),
            "mean_squared": self.mean_squared,
            "spread": self.spread,
            "min": self.min,
            "max": self.max,
            "singular_values": self.singular_values.tolist(),
        }

    def __str__(self) -> str:
        s = self.singular_values
        quantiles = np.quantile(s, [0.05, 0.5, 0.95])
        rows = [
            ["samples", s.shape[0]],
            ["Jacobian shape (out x in)", f"{self.n_out} x {self.n_in}"],
            ["singular values per sample", s.shape[1]],
            ["mean sigma^2", self.mean_squared],
            ["std sigma^2 (spread)", self.spread],
            ["min sigma", self.min],
            ["5% / 50% / 95% sigma", " / ".join(_capture.fmt(q) for q in quantiles)],
            ["max sigma", self.max],
        ]
        return _capture.table(["input-output Jacobian", "value"], rows)

    def __repr__(self) -> str:
        return (
            f"<JacobianSpectrum: {self.singular_values.shape[0]} samples, "
            f"mean sigma^2={self.mean_squared:.4g}, spread={self.spread:.4g}>"
        )

    def plot(self, path, title: str | None = None, bins: int = 60) -> str:
        """Writes a PNG: the density of the singular values (log-spaced bins, log x axis).

        Uses matplotlib's Agg backend (no display needed).

        Args:
            path: where to write the PNG.
            title: the figure's title (default: the mean and std of `σ²`).
            bins: number of log-spaced histogram bins (default 60).

        Returns:
            `path` as a string.
        """
        plt = _capture.pyplot("JacobianSpectrum.plot")
        fig, ax = plt.subplots(figsize=(5.5, 4))
        plot_density(ax, self.singular_values, bins=bins)
        ax.axvline(1.0, color="gray", lw=0.8, ls="--")
        ax.set(xlabel="singular value σ of dF/dx", ylabel="density of log10 σ", xscale="log")
        ax.set_title(title or f"mean σ² = {self.mean_squared:.3g}, std σ² = {self.spread:.3g}")
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return str(path)


def plot_density(ax, values: np.ndarray, bins: int = 60, **kwargs) -> None:
    """The density of `log10(values)` (positive values), drawn as a step line over `values`.

    Per unit of `log10 σ`, so that on a log x axis equal areas hold equal fractions of the
    values, whatever their range.

    Args:
        ax: a matplotlib Axes.
        values: the values (any shape; those <= 0 are left out).
        bins: number of bins between the smallest and the largest value.
        **kwargs: passed to `ax.stairs` (color, label, ...).
    """
    logs = np.log10(np.asarray(values, dtype="float64").ravel())
    logs = logs[np.isfinite(logs)]
    lo, hi = logs.min(), logs.max()
    if hi - lo < 1e-6:  # all equal: one narrow bin around the value
        lo, hi = lo - 0.01, hi + 0.01
    density, edges = np.histogram(logs, bins=np.linspace(lo, hi, bins + 1), density=True)
    ax.stairs(density, 10.0**edges, **kwargs)


def jacobian_spectrum(model: keras.Model, x) -> JacobianSpectrum:
    """Singular values of the input-output Jacobian of `model` at each sample of `x`.

    For each sample `x_b`, `J_b = d model(x)_b / d x_b`, an `(n_out, n_in)` matrix with
    `n_out` the size of one sample's output and `n_in` of its input, is computed by the
    backend's reverse-mode autodiff (`n_out` vectorized reverse passes; no finite
    differences), and its singular values `σ` by SVD in float64. The model runs in inference
    mode (`training=False`), where samples do not interact, and nothing in it changes.

    Dynamical isometry means `σ ≈ 1` for all of them: `mean_squared` (the mean of `σ²`) says
    whether the signal keeps its size on average, `spread` (the std of `σ²`) whether it keeps
    its shape.

    Args:
        model: a `keras.Model` with one input and one output (built on `x` if needed).
        x: a float array `(samples, *input_shape)`, finite.

    Returns:
        A `JacobianSpectrum`: print it, `plot(path)` for a PNG of the density, `to_dict()`.

    Example:

    >>> spectrum = keras_inits.jacobian_spectrum(model, x[:32])
    >>> print(round(spectrum.mean_squared, 2), round(spectrum.spread, 2))
    0.56 0.72
    >>> spectrum.plot("spectrum.png")
    'spectrum.png'

    Reference: Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep
    learning through dynamical isometry", https://arxiv.org/abs/1711.04735
    """
    _capture.check_model(model)
    x = float_batch(x)
    if not model.built:
        _capture.run(model, x)
    batch = x.shape[0]

    def forward(inputs):
        outputs = model(inputs, training=False)
        if not hasattr(outputs, "shape") or not hasattr(outputs, "dtype"):
            raise ValueError(
                "`jacobian_spectrum` needs a model with a single tensor output. Received: "
                f"model={model.name!r} with outputs of type {type(outputs).__name__}"
            )
        return ops.reshape(outputs, (batch, -1))

    jac = _autodiff.per_sample_jacobian(forward, x, model=model, key="jacobian_spectrum")
    if not np.all(np.isfinite(jac)):
        raise ValueError(
            f"The Jacobian of model {model.name!r} at `x` is not finite (NaN or inf entries): "
            "its weights or outputs are not finite there."
        )
    singular_values = np.linalg.svd(jac, compute_uv=False)
    return JacobianSpectrum(singular_values, n_in=jac.shape[2], n_out=jac.shape[1])


def float_batch(x) -> np.ndarray:
    """`x` as a finite float array of floatx with a batch axis, or a ValueError/TypeError."""
    problem = None
    if isinstance(x, (dict, str, bytes)) or x is None:
        problem = "it is not an array"
    else:
        try:
            array = np.asarray(ops.convert_to_numpy(x) if hasattr(x, "dtype") else x)
        except (TypeError, ValueError):  # ragged lists, a list of inputs for several inputs
            problem = "it does not convert to one array"
        else:
            if array.dtype.kind not in "biufc":
                problem = f"dtype {array.dtype} is not numeric"
    if problem:
        raise TypeError(
            "Argument `x` must be one numeric array (a model with a single input): "
            f"{problem}. Received: x={_short(x)}"
        )
    if array.dtype.kind != "f":
        raise ValueError(
            "Argument `x` must be a floating-point array (the Jacobian is taken with respect "
            f"to it). Received: x with dtype {array.dtype}"
        )
    if array.ndim < 2 or array.shape[0] == 0 or math.prod(array.shape[1:]) == 0:
        raise ValueError(
            "Argument `x` must be a non-empty batch `(samples, *input_shape)`. "
            f"Received: x with shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("Argument `x` must be finite. Received: x with NaN or inf values")
    return array.astype(keras.backend.floatx())


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def partial_jacobian_norms(recorder: _capture.Recorder, x, probes: int, seed: int | None):
    """One pass per probe: the recorded tensors, and each one's partial Jacobian norm.

    The averaged partial Jacobian norm (APJN) of Doshi, He & Gromov from the input `x` to a
    layer output `h` with `N` elements per sample is `𝒥 = (1/N) Σ_ij (∂h_i/∂x_j)²`, averaged
    over samples: `‖∂h/∂x‖_F² / N`. It is estimated without forming the Jacobian, from
    `E_u ‖(∂h/∂x) u‖² = ‖∂h/∂x‖_F²` for `u ~ N(0, I)` (Hutchinson), with one forward-mode
    pass per probe `u`, which gives the tangent of every layer at once.

    Args:
        recorder: the forward pass that returns the tensors to follow (`_capture.Recorder`).
        x: the input batch, one float array.
        probes: number of random tangents per sample, >= 1.
        seed: seed of the tangents (numpy's `default_rng`).

    Returns:
        `(values, norms)`: the recorded tensors of the first pass, and per tensor the estimate
        of `𝒥` averaged over samples and probes.
    """
    rng = np.random.default_rng(seed)
    values, totals = None, None

    def forward(inputs, traced):
        outputs = recorder(inputs)
        traced["calls"] = recorder.calls  # compiled: recorded once, when the program is traced
        return outputs

    # On JAX and TensorFlow, one compiled program per model and input signature (`_autodiff`).
    key = ("partial_jacobian_norms", tuple(id(layer) for layer in recorder.layers))
    for _ in range(probes):
        tangent = rng.standard_normal(x.shape).astype(x.dtype)
        outputs, sums, traced = _autodiff.jvp_mean_squares(recorder.model, key, forward, x, tangent)
        recorder.calls = traced["calls"]
        totals = sums if totals is None else [a + b for a, b in zip(totals, sums)]
        values = outputs if values is None else values
    assert totals is not None  # probes >= 1 (the caller skips the column for 0)
    return values, [t / probes for t in totals]
