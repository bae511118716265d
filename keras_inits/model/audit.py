"""`audit`: is a model, fresh or loaded, initialized as intended?

For every float variable, the initializer it should have been drawn from (a policy's, resolved
as `apply` would, or the one it was created with, `initializer_of`) gives a law (`law_of`), and
the variable's values are tested against it:

- an i.i.d. law (normal, uniform, truncated normal, sums of uniforms, sparse normal): z-scores of
  the measured mean and std, `z_mean = (m - mu) / (sigma / sqrt(n))` and
  `z_std = (s - sigma) / (sigma * sqrt((kappa - 1) / (4 n)))` (the delta method on the sample
  variance, `kappa` the law's kurtosis: 3 for a normal, 1.8 for a uniform, so
  `sigma / sqrt(2 n)` for a normal), flagged beyond `Z_MAX` = 5 (a false alarm about once in
  a million variables per test); values outside the law's bounds are flagged too;
- a deterministic initializer (constants, identity, Dirac, STFT, ZerO, PriorBias): the values
  it gives, to the dtype's rounding;
- an orthogonal scheme: every singular value equals `gain` (Orthogonal, each block of
  BlockOrthogonal, and for the convolution schemes the `(in, taps * out)` matrix, whose Gram
  matrix `sum_t W_t W_t^T` is `gain**2 I`), to `ORTHO_TOL` relative (5e-2 in half precision);
- anything else: the law is reported unknown, and only the checks below apply.

Whatever the law, non-finite values, and a kernel (rank >= 2) that is all zeros where its law
is not, are flagged.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

from keras_inits import _capture
from keras_inits._fans import compute_fans
from keras_inits._registry import _counterpart, get
from keras_inits.base import Initializer, RandomInitializer
from keras_inits.model import policy as _policy
from keras_inits.model.reinit import initializer_of
from keras_inits.schemes import conv, orthogonal, random, sparse, variance
from keras_inits.schemes.depth import DepthScaled
from keras_inits.schemes.torch_names import _TorchUniform

#: |z| beyond which a mean or std is flagged: P(|N(0, 1)| > 5) = 5.7e-7 per test.
Z_MAX = 5.0
#: Relative tolerance on an orthogonal scheme's singular values (float32 and float64): float32
#: QR/Householder rounding leaves them within about 1e-6 of `gain`.
ORTHO_TOL = 1e-3
#: The same in float16/bfloat16 (8 to 11 significant bits per entry).
ORTHO_TOL_HALF = 5e-2
#: Relative rounding of each dtype (the gap above 1), for bounds and exact values.
ROUNDING = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}


@dataclasses.dataclass(frozen=True)
class Law:
    """What an initializer draws for one shape.

    Attributes:
        name: "normal", "uniform", "truncated normal", "sum of uniforms", "sparse normal",
            "exact" (deterministic), "orthogonal" or "unknown".
        mean, std: the law's mean and standard deviation (for "orthogonal", the exact root mean
            square of the entries), None if unknown.
        low, high: bounds of the values, None if unbounded or unknown.
        kurtosis: `E[(x - mean)^4] / std^4`, which sets the standard error of the std.
        values: "exact": the values themselves.
        gain: "orthogonal": every singular value.
        matrices: "orthogonal": the matrices (views of the weight) whose singular values are
            all `gain`.
    """

    name: str
    mean: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None
    kurtosis: float = 3.0
    values: np.ndarray | None = None
    gain: float | None = None
    matrices: Callable[[np.ndarray], list] | None = None

    def scaled(self, factor: float) -> Law:
        """The law of `factor * W`."""

        def times(x):
            return None if x is None else factor * x

        low, high = times(self.low), times(self.high)
        if factor < 0:
            low, high = high, low
        return dataclasses.replace(
            self,
            mean=times(self.mean),
            std=None if self.std is None else abs(factor) * self.std,
            low=low,
            high=high,
            values=times(self.values),
            gain=times(self.gain),
        )


UNKNOWN = Law("unknown")


def _truncated_moments(a: float, b: float) -> tuple[float, float, float]:
    """Mean, std and kurtosis of N(0, 1) restricted to [a, b]: the midpoint rule on 20000
    cells (std within 1e-9 of the closed form)."""
    step = (b - a) / 20000
    t = a + step * (np.arange(20000) + 0.5)
    w = np.exp(-t * t / 2)
    w /= w.sum()
    mean = float((t * w).sum())
    var = float(((t - mean) ** 2 * w).sum())
    return mean, math.sqrt(var), float(((t - mean) ** 4 * w).sum()) / var**2


def _truncated(mean: float, stddev: float, lower: float, upper: float) -> Law:
    shift, std, kurtosis = _truncated_moments(lower, upper)
    return Law(
        "truncated normal",
        mean + stddev * shift,
        stddev * std,
        mean + lower * stddev,
        mean + upper * stddev,
        kurtosis,
    )


def _uniform(low: float, high: float) -> Law:
    return Law("uniform", (low + high) / 2, (high - low) / math.sqrt(12.0), low, high, 1.8)


def _orthogonal_views(init, shape) -> Callable[[np.ndarray], list]:
    rows, cols = math.prod(shape[:-1]), shape[-1]
    if isinstance(init, orthogonal.BlockOrthogonal):
        k = init._blocks(shape)
        return lambda w: list(np.moveaxis(w.reshape(rows, k, cols // k), 1, 0))
    if isinstance(init, (conv.DeltaOrthogonal, conv.ConvolutionOrthogonal)):
        # (in, taps * out): its Gram matrix is sum_t W_t W_t^T.
        return lambda w: [np.moveaxis(w, -2, 0).reshape(shape[-2], -1)]
    return lambda w: [w.reshape(rows, cols)]


def _orthogonal_law(init, shape) -> Law:
    views = _orthogonal_views(init, shape)
    squares = sum(min(m.shape) for m in views(np.zeros(shape)))  # each singular value = gain
    rms = init.gain * math.sqrt(squares / math.prod(shape))
    return Law(
        "orthogonal",
        0.0,
        rms,
        -1.001 * init.gain,
        1.001 * init.gain,
        gain=init.gain,
        matrices=views,
    )


def law_of(init: Any, shape: tuple[int, ...], dtype: str = "float32") -> Law:
    """The law `init(shape, dtype)` draws from, in closed form where one is known.

    Args:
        init: an initializer: this package's, Keras' own (mapped to this package's
            counterpart) or any callable (law "unknown").
        shape: the weight's shape.
        dtype: the weight's dtype (deterministic initializers are evaluated in it).

    Returns:
        A `Law`; `Law("unknown")` where none is known.

    Example:

    >>> keras_inits.model.audit.law_of(keras_inits.HeNormal(), (256, 128))
    Law(name='truncated normal', mean=0.0, std=0.08838..., low=-0.20096..., high=0.20096..., ...)
    """
    shape = tuple(shape)
    if _counterpart(init) is not None:
        init = get(init)  # this package's counterpart, with the same config and seed
    n = math.prod(shape)
    if not isinstance(init, Initializer) or n == 0:
        return UNKNOWN
    if not isinstance(init, RandomInitializer):
        return Law("exact", values=_capture.to_float64(init(shape, dtype=dtype)))
    if isinstance(init, DepthScaled):
        return law_of(init.initializer, shape, dtype).scaled(init.factor)
    if isinstance(init, variance.VarianceScaling):
        std = math.sqrt(init.variance(shape))
        if init.distribution == "uniform":
            return _uniform(-math.sqrt(3.0) * std, math.sqrt(3.0) * std)
        if init.distribution == "truncated_normal":
            return _truncated(0.0, std / variance.TRUNCATED_STD, -2.0, 2.0)
        return Law("normal", 0.0, std)
    if isinstance(init, random.RandomNormal):
        return Law("normal", init.mean, init.stddev)
    if isinstance(init, random.RandomUniform):
        return _uniform(init.minval, init.maxval)
    if isinstance(init, random.TruncatedNormal):
        return _truncated(init.mean, init.stddev, init.lower, init.upper)
    if isinstance(init, _TorchUniform):
        s, b = init.summands or 1, init._resolved_limit()
        # A sum of s i.i.d. U(-b, b): variance s b^2 / 3, kurtosis 3 - 1.2 / s.
        return Law(
            "uniform" if s == 1 else "sum of uniforms",
            0.0,
            b * math.sqrt(s / 3.0),
            -s * b,
            s * b,
            3.0 - 1.2 / s,
        )
    if isinstance(init, sparse.Sparse) and len(shape) >= 2:
        kept = 1 - init.zeros_per_column(shape) / math.prod(shape[:-1])
        # A mixture of zeros (1 - kept) and N(0, stddev^2): kurtosis 3 / kept.
        return Law(
            "sparse normal",
            0.0,
            init.stddev * math.sqrt(kept),
            kurtosis=3.0 / kept if kept else 3.0,
        )
    if isinstance(
        init,
        (
            orthogonal.Orthogonal,
            orthogonal.BlockOrthogonal,
            conv.DeltaOrthogonal,
            conv.ConvolutionOrthogonal,
        ),
    ):
        return _orthogonal_law(init, shape)
    if hasattr(init, "sigma_b2"):  # CriticalBias: N(0, sigma_b^2)
        return Law("normal", 0.0, math.sqrt(init.sigma_b2))
    return UNKNOWN


# ---------------------------------------------------------------------------------------------
# The report


@dataclasses.dataclass
class VariableAudit:
    """The audit of one variable.

    Attributes:
        path: the variable's path.
        shape: its shape.
        dtype: its dtype.
        initializer: the initializer it is checked against (its repr), empty if none.
        source: where that initializer comes from: the policy key, "recorded" (the one it was
            created with), or why there is none.
        fan_in, fan_out: its fans (Keras' rule, or the initializer's einsum axes).
        law: the law's name ("unknown" if none is known, "skipped" for non-float variables).
        expected_mean, expected_std, expected_min, expected_max: the law's.
        mean, std, min, max: measured (float64).
        z_mean, z_std: the z-scores of the measured mean and std (i.i.d. laws).
        max_singular_error: orthogonal schemes: max |sigma_i / gain - 1|.
        flag: why the variable disagrees with its law; empty if it agrees.
    """

    path: str
    shape: tuple
    dtype: str
    initializer: str = ""
    source: str = ""
    fan_in: float | None = None
    fan_out: float | None = None
    law: str = "unknown"
    expected_mean: float | None = None
    expected_std: float | None = None
    expected_min: float | None = None
    expected_max: float | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    z_mean: float | None = None
    z_std: float | None = None
    max_singular_error: float | None = None
    flag: str = ""


class AuditReport(_capture.LayerTable):
    """The per-variable result of `audit`, in the model's variable order.

    Iterate over it, index it by position or variable path, print it (an aligned table) or call
    `to_list()` for dicts. `flagged` lists the variables that disagree with their law; `ok` is
    True when there are none.

    Args:
        layers: one `VariableAudit` per variable, in the model's variable order.
    """

    __getitem__ = _policy.InitReport.__getitem__  # by position or variable path

    @property
    def flagged(self) -> list[VariableAudit]:
        """The variables whose values disagree with their law (see `flag`)."""
        return [entry for entry in self.layers if entry.flag]

    @property
    def ok(self) -> bool:
        """Whether no variable is flagged."""
        return not self.flagged

    def __str__(self) -> str:
        headers = [
            "variable",
            "shape",
            "initializer",
            "fans",
            "law",
            "exp. mean",
            "exp. std",
            "mean",
            "std",
            "min",
            "max",
            "z mean",
            "z std",
            "flag",
        ]
        rows = []
        for e in self.layers:
            fans = None if e.fan_in is None else f"{e.fan_in:g}/{e.fan_out:g}"
            rows.append(
                [
                    e.path,
                    "x".join(map(str, e.shape)) or "()",
                    e.initializer.split("(")[0] or None,
                    fans,
                    e.law,
                    e.expected_mean,
                    e.expected_std,
                    e.mean,
                    e.std,
                    e.min,
                    e.max,
                    e.z_mean,
                    e.z_std,
                    e.flag or "ok",
                ]
            )
        title = (
            f"audited {len(self.layers)} variables, {len(self.flagged)} flagged "
            f"(|z| > {Z_MAX:g} for the mean or std, values out of the law's bounds, "
            "all-zero kernels, non-finite values)"
        )
        return title + "\n" + _capture.table(headers, rows)

    def __repr__(self) -> str:
        return f"<AuditReport: {len(self.layers)} variables, {len(self.flagged)} flagged>"


# ---------------------------------------------------------------------------------------------
# Checking one variable


def _measure(entry: VariableAudit, values: np.ndarray) -> bool:
    """Fills the measured statistics; False if there are non-finite values."""
    finite = np.isfinite(values)
    if not finite.all():
        entry.flag = f"{int((~finite).sum())} non-finite values"
        return False
    if values.size:
        entry.mean, entry.std = float(values.mean()), float(values.std())
        entry.min, entry.max = float(values.min()), float(values.max())
    return True


def _check(entry: VariableAudit, law: Law, values: np.ndarray) -> list[str]:
    """The ways `values` disagree with `law` (entry's z-scores filled on the way)."""
    rounding = ROUNDING.get(entry.dtype, 2.0**-23)
    flags = []
    if law.name == "exact":
        assert law.values is not None  # `law_of` gives every exact law its values
        error = float(np.abs(values - law.values).max()) if values.size else 0.0
        allowed = 2 * rounding * float(np.abs(law.values).max(initial=0.0))
        if error > allowed:
            flags.append(f"differs from the initializer's values by up to {error:.3g}")
        return flags
    if law.name == "orthogonal":
        assert law.matrices is not None and law.gain is not None  # set for every orthogonal law
        errors = [
            np.abs(np.linalg.svd(m, compute_uv=False) / law.gain - 1).max()
            for m in law.matrices(values)
        ]
        entry.max_singular_error = float(max(errors))
        tol = ORTHO_TOL_HALF if entry.dtype in ("float16", "bfloat16") else ORTHO_TOL
        if entry.max_singular_error > tol:
            flags.append(
                f"singular values off gain={law.gain:g} by up to "
                f"{entry.max_singular_error:.3g} (relative; allowed {tol:g})"
            )
        return flags
    # Only non-empty weights get a law other than UNKNOWN, so `_measure` filled the statistics.
    assert entry.mean is not None and entry.std is not None
    assert entry.min is not None and entry.max is not None
    n = values.size
    if law.std:
        assert law.mean is not None  # a law with a known std has a known mean
        entry.z_mean = (entry.mean - law.mean) / (law.std / math.sqrt(n))
        entry.z_std = (entry.std - law.std) / (law.std * math.sqrt((law.kurtosis - 1) / (4 * n)))
        for what, z in (("mean", entry.z_mean), ("std", entry.z_std)):
            if abs(z) > Z_MAX:
                flags.append(f"{what} z={z:+.1f}")
    rounding_slack = 2 * rounding * max(abs(b) for b in (law.low, law.high, 1e-45) if b is not None)
    below = law.low is not None and entry.min < law.low - rounding_slack
    above = law.high is not None and entry.max > law.high + rounding_slack
    if below or above:
        flags.append(
            f"values in [{entry.min:.4g}, {entry.max:.4g}] outside the law's bounds "
            f"[{law.low:.4g}, {law.high:.4g}]"
        )
    return flags


def _audit_one(entry: VariableAudit, init: Any, variable) -> None:
    values = _capture.to_float64(variable.value)
    shape = tuple(variable.shape)
    axes = (getattr(init, "input_axes", None), getattr(init, "output_axes", None))
    if len(shape) >= 1 and (axes[0] is None) == (axes[1] is None):
        entry.fan_in, entry.fan_out = compute_fans(shape, *axes)
    law = UNKNOWN
    if init is not None:
        try:
            law = law_of(init, shape, entry.dtype)
        except (ValueError, TypeError) as e:  # an initializer that cannot fill this shape
            entry.flag = f"its initializer cannot fill it: {e}"
    entry.law = law.name
    if law.name not in ("exact", "unknown"):
        entry.expected_mean, entry.expected_std = law.mean, law.std
        entry.expected_min, entry.expected_max = law.low, law.high
    elif law.name == "exact" and law.values is not None and law.values.size:
        entry.expected_mean, entry.expected_std = float(law.values.mean()), float(law.values.std())
        entry.expected_min, entry.expected_max = float(law.values.min()), float(law.values.max())
    if not _measure(entry, values) or entry.flag:
        return
    flags = _check(entry, law, values) if law is not UNKNOWN else []
    expects_zeros = law.name == "exact" and law.values is not None and not law.values.any()
    if len(shape) >= 2 and values.size and not values.any() and not expects_zeros:
        flags.insert(0, "all zeros")
    entry.flag = "; ".join(flags)


# ---------------------------------------------------------------------------------------------
# audit


def _initializers(model, policy) -> list[tuple[Any, Any, str]]:
    """(step, initializer or None, source) per variable: the policy's where it would assign one
    (resolved as `apply`'s dry run), else the recorded one."""
    steps = (
        _policy.variables_of(model)
        if policy is None
        else _policy.plan(model, _policy.as_policy(policy), 0, include_frozen=False)
    )
    out = []
    for step in steps:
        if step.initializer is not None:
            out.append((step, step.initializer, f"policy {step.entry.key}"))
            continue
        recorded = initializer_of(step.layers[-1], step.variable)
        if recorded is None:
            out.append((step, None, "not recorded"))
            continue
        try:
            init = _policy.bound(recorded, step)
            source = "applied" if getattr(step.variable, _policy.PASS_SEEDED, False) else "recorded"
            if init is None:
                source += "; its bind leaves it alone"
            out.append((step, init, source))
        except (ValueError, TypeError) as e:
            out.append((step, None, f"recorded, cannot bind: {e}"))
    return out


def audit(
    model: keras.layers.Layer, policy: _policy.InitMap | Mapping | str | None = None
) -> AuditReport:
    """Checks every float variable of a built model against the law of its initializer.

    The initializer is the one `policy` gives the variable, resolved as `apply`'s dry run does
    (a variable the policy leaves alone, or would skip, keeps the one it was created with), or
    with `policy=None` the one it was created with (`keras_inits.model.reinit.initializer_of`;
    Keras' built-ins are read as this package's counterparts). The checks and their
    tolerances are in the module docstring: z-scores beyond 5 for the mean and std of i.i.d.
    laws (standard errors `sigma / sqrt(n)` and `sigma * sqrt((kappa - 1) / (4 n))`), bounds,
    exact values of deterministic schemes, singular values of orthogonal ones, all-zero kernels
    and non-finite values. Nothing is changed. A trained model is expected to be flagged: the
    audit tells whether the values are still those of the initialization.

    Args:
        model: a built `keras.Model` or layer, fresh or loaded from a `.keras` file.
        policy: an `InitMap`, a dict or a preset name (`"torch"`, ...) the model was (or should
            have been) initialized with; None (default): the initializers its weights were
            created with.

    Returns:
        An `AuditReport`: per variable, the path, shape, initializer, fans, the law's expected
        mean/std/bounds, the measured mean/std/min/max, the z-scores and a `flag` (empty when
        the values agree with the law). Non-float variables are listed with law "skipped".

    Example:

    >>> report = keras_inits.audit(model)  # a freshly built model
    >>> print(report)            # one row per variable
    audited 6 variables, 0 flagged ...
    ...
    >>> report.flagged           # [] for a freshly built model
    []

    Reference: the standard error of a sample std, e.g. Rao, "Linear Statistical Inference"
    (1973), 6a.2 (the delta method): Var(s) ~ sigma^2 (kappa - 1) / (4 n).
    """
    _policy.check_target(model)
    entries = []
    for step, init, source in _initializers(model, policy):
        entry = VariableAudit(
            step.entry.path,
            step.entry.shape,
            step.entry.dtype,
            _policy.describe(init) if init is not None else "",
            source,
        )
        entries.append(entry)
        if "float" not in entry.dtype:
            entry.law, entry.source = "skipped", f"not floating point ({entry.dtype})"
            continue
        _audit_one(entry, init, step.variable)
    return AuditReport(entries)
