"""Mean-field theory of signal propagation: fixed points, χ₁, depth scales, the critical line.

For a deep fully connected network with activation `φ`, weights `N(0, σ_w²/n)` and biases
`N(0, σ_b²)`, in the limit of infinite width (Poole et al. 2016; Schoenholz et al. 2017), with
`z, z₁, z₂ ~ N(0, 1)` independent:

- Length map: `q_{l+1} = V(q_l) = σ_w² E[φ(√q_l z)²] + σ_b²`; its fixed point is `q*`.
- `χ₁ = σ_w² E[φ'(√q* z)²]`: `χ₁ < 1` is the ordered phase (gradients vanish), `χ₁ > 1` the
  chaotic one (gradients explode), `χ₁ = 1` the critical line.
- Correlation map: `c_{l+1} = (σ_w² E[φ(u₁) φ(u₂)] + σ_b²) / q*` with `u₁ = √q* z₁`,
  `u₂ = √q* (c z₁ + √(1 - c²) z₂)`. `c = 1` is a fixed point; it is stable iff `χ₁ <= 1`, else
  the stable one is some `c* < 1`.
- Depth scales: `ξ_q⁻¹ = -log V'(q*)`, with `V'(q) = σ_w² E[φ'(√q z)² + φ(√q z) φ''(√q z)]
  = σ_w² E[z φ(√q z) φ'(√q z)] / √q` (Gaussian integration by parts, so no `φ''` is needed and
  kinks are fine); `ξ_c⁻¹ = -log χ_c`, `χ_c = σ_w² E[φ'(u₁) φ'(u₂)]` at `c*` (`χ_c = χ₁` in
  the ordered phase). `ξ_c` diverges on the critical line; networks train up to a depth of
  about `6 ξ_c` (Schoenholz et al. 2017).

Activations are Keras names (with Keras' definitions and defaults: `leaky_relu` has
`negative_slope=0.2`), Keras activation functions, or Python callables. Parameters go as
keyword arguments (`critical("leaky_relu", negative_slope=0.1)`, `chi1("elu", 1.5, alpha=0.5)`).
Named activations use exact formulas for `φ` and `φ'` and their known kinks; other callables
are evaluated on float64 numpy arrays and differentiated by central differences with one
Richardson step (`φ'` to about 1e-10 for smooth `φ`).

Quadrature: `E[f(X)]`, `X ~ N(m, s²)`, is a composite Gauss-Legendre rule (10 nodes per
panel) on `[m - 12 s, m + 12 s]` (the Gaussian tails beyond carry < 1e-31 of the mass), with
panel edges every `s` in `X`, every 1 in `X` for `|X| <= 40` (where every named activation
varies; they are flat or linear to double precision beyond) and at the activation's kinks.
Each panel's integrand is then analytic (piecewise-smooth activations have their kinks on
panel edges), so the rule converges geometrically: relative error below 1e-12 against an
adaptive reference for tanh, gelu, swish, sigmoid, softplus, elu and relu at
`q` from 1e-4 to 1e4 (`tests/test_meanfield.py`). Plain Gauss-Hermite (`hermegauss`) was
measured first and rejected: with 256 nodes `E[tanh(√q z)²]` is off by 3e-6 at `q = 10` and
1e-2 at `q = 100`, because `tanh(√q z)` varies on a scale `1/√q` that a global polynomial
rule cannot resolve. The 2-D expectations of the correlation map are nested 1-D rules.

Example:

>>> from keras_inits import meanfield
>>> meanfield.critical("tanh", sigma_b2=0.05)          # σ_w² on the χ₁ = 1 line
1.76095...
>>> round(meanfield.fixed_point("tanh", 1.5, 0.05), 4), round(meanfield.chi1("tanh", 1.5, 0.05), 4)
(0.418, 0.9386)
>>> meanfield.depth_scales("tanh", 1.5, 0.05)
DepthScales(xi_q=1.68..., xi_c=15.79...)
>>> print(meanfield.recommend("tanh", depth=100))
Activation tanh, 100 layers.
...

Reference: Poole et al. 2016, https://arxiv.org/abs/1606.05340; Schoenholz et al. 2017,
https://arxiv.org/abs/1611.01232
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from keras_inits import _checks

# ------------------------------------------------------------------------------ activations

_SELU_ALPHA = 1.6732632423543772848170429916717  # Keras' (and the paper's) SELU constants
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf(x):
    try:
        from scipy.special import erf
    except ImportError:  # scipy is optional; this is exact but slower
        return np.vectorize(math.erf, otypes=[float])(x)
    return erf(x)


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sech2(x):
    """`1 / cosh(x)**2 = (2 e^-|x| / (1 + e^-2|x|))**2`, without overflow."""
    e = np.exp(-np.abs(x))
    return (2.0 * e / (1.0 + e * e)) ** 2


def _gelu(approximate=False):
    if approximate:

        def f(x):
            return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))

        def df(x):
            t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
                1.0 + 3 * 0.044715 * x**2
            )

        return f, df, ()
    cdf = lambda x: 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))  # noqa: E731
    pdf = lambda x: np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)  # noqa: E731
    return (lambda x: x * cdf(x)), (lambda x: cdf(x) + x * pdf(x)), ()


def _leaky(negative_slope):
    return (
        lambda x: np.where(x > 0, x, negative_slope * x),
        lambda x: np.where(x > 0, 1.0, negative_slope),
        (0.0,),
    )


def _elu(alpha=1.0, scale=1.0):
    return (
        lambda x: scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
        lambda x: scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))),
        (0.0,),
    )


def _celu(alpha=1.0):
    return (
        lambda x: np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha),
        lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha)),
        (0.0,),
    )


def _clip(lo, hi, slope=1.0, shift=0.0):
    """`slope * clip(x + shift, lo, hi)`-style piecewise-linear activations."""
    return (
        lambda x: slope * (np.clip(x + shift, lo, hi)),
        lambda x: np.where((x + shift > lo) & (x + shift < hi), slope, 0.0),
        (lo - shift, hi - shift),
    )


def _swish():
    return (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1.0 + x * _sigmoid(-x)), ())


def _mish():
    def df(x):
        t = np.tanh(_softplus(x))
        return t + x * (1.0 - t * t) * _sigmoid(x)

    return (lambda x: x * np.tanh(_softplus(x))), df, ()


def _squareplus(b=4.0):
    return (
        lambda x: 0.5 * (x + np.sqrt(x * x + b)),
        lambda x: 0.5 * (1.0 + x / np.sqrt(x * x + b)),
        (),
    )


def _hard_silu():
    return (
        lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        lambda x: np.where(x <= -3.0, 0.0, np.where(x >= 3.0, 1.0, (2.0 * x + 3.0) / 6.0)),
        (-3.0, 3.0),
    )


def _sparse_plus():
    return (
        lambda x: np.where(x <= -1.0, 0.0, np.where(x >= 1.0, x, 0.25 * (x + 1.0) ** 2)),
        lambda x: np.where(x <= -1.0, 0.0, np.where(x >= 1.0, 1.0, 0.5 * (x + 1.0))),
        (-1.0, 1.0),
    )


# name -> (factory(**params) -> (φ, φ', kinks), default params). Keras' definitions and
# defaults (keras.activations); φ' at a kink is either one-sided value (a null set).
_TABLE: dict[str, tuple[Callable, dict[str, Any]]] = {
    "linear": (lambda: _leaky(1.0), {}),
    "relu": (lambda: _leaky(0.0), {}),
    "leaky_relu": (_leaky, {"negative_slope": 0.2}),
    "relu6": (lambda: _clip(0.0, 6.0), {}),
    "elu": (_elu, {"alpha": 1.0}),
    "selu": (lambda: _elu(_SELU_ALPHA, _SELU_SCALE), {}),
    "celu": (_celu, {"alpha": 1.0}),
    "gelu": (_gelu, {"approximate": False}),
    "tanh": (lambda: (np.tanh, _sech2, ()), {}),
    "sigmoid": (lambda: (_sigmoid, lambda x: _sigmoid(x) * _sigmoid(-x), ()), {}),
    "silu": (_swish, {}),
    "softplus": (lambda: (_softplus, _sigmoid, ()), {}),
    "softsign": (
        lambda: (lambda x: x / (1.0 + np.abs(x)), lambda x: 1.0 / (1.0 + np.abs(x)) ** 2, (0.0,)),
        {},
    ),
    "mish": (_mish, {}),
    "hard_sigmoid": (lambda: _clip(0.0, 6.0, 1.0 / 6.0, 3.0), {}),
    "hard_silu": (_hard_silu, {}),
    "hard_tanh": (lambda: _clip(-1.0, 1.0), {}),
    "log_sigmoid": (lambda: (lambda x: -_softplus(-x), lambda x: _sigmoid(-x), ()), {}),
    "tanh_shrink": (lambda: (lambda x: x - np.tanh(x), lambda x: np.tanh(x) ** 2, ()), {}),
    "squareplus": (_squareplus, {"b": 4.0}),
    "sparse_plus": (_sparse_plus, {}),
}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
#: Named activations, `φ(a x) = a φ(x)` for a > 0: the length map is linear and χ₁ does not
#: depend on q*. Their negative-side slope.
_HOMOGENEOUS = {
    "linear": lambda p: 1.0,
    "relu": lambda p: 0.0,
    "leaky_relu": lambda p: p["negative_slope"],
}
KNOWN = sorted({*_TABLE, *_ALIASES})


@dataclasses.dataclass(frozen=True)
class Activation:
    """A resolved activation: `fn` and its derivative `derivative` on float64 numpy arrays.

    Attributes:
        name: the Keras name, or the callable's `__name__` (`"<callable>"` without one).
        params: its parameters, defaults filled in (named activations only).
        fn, derivative: `φ` and `φ'`.
        kinks: where `φ` or `φ'` is not smooth (panel edges of the quadrature).
        exact: whether `φ'` is an exact formula (else central differences).
        negative_slope: for positively homogeneous activations (linear, relu, leaky_relu), the
            slope for x < 0; None otherwise.
    """

    name: str
    params: tuple[tuple[str, Any], ...]
    fn: Callable = dataclasses.field(compare=False, repr=False)
    derivative: Callable = dataclasses.field(compare=False, repr=False)
    kinks: tuple[float, ...] = ()
    exact: bool = True
    negative_slope: float | None = None
    source: Any = dataclasses.field(default=None, repr=False)  # a callable: compared by identity

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"{self.name}({args})" if args else self.name


def _numeric(fn: Callable) -> Callable:
    """`fn` on float64 numpy arrays, returning float64 numpy arrays."""

    def f(x):
        out = fn(x)
        if not isinstance(out, np.ndarray):
            import keras

            out = keras.ops.convert_to_numpy(out)
        return np.asarray(out, dtype="float64")

    return f


def _central_difference(f: Callable) -> Callable:
    """`φ'` by central differences at h and h/2 with one Richardson step: error O(h⁴)."""
    h = 1e-3

    def df(x):
        d1 = (f(x + h) - f(x - h)) / (2 * h)
        d2 = (f(x + h / 2) - f(x - h / 2)) / h
        return (4.0 * d2 - d1) / 3.0

    return df


def _key(activation: Any) -> str:
    key = activation.strip().lower().replace("-", "_")
    return _ALIASES.get(key, key)


def _keras_name(fn: Callable) -> str | None:
    """The name of a Keras activation function (by identity), or None."""
    import keras

    for name in KNOWN:
        try:
            if keras.activations.get(name) is fn:
                return _key(name)
        except ValueError:
            continue
    return None


def resolve(activation: Any, **params: Any) -> Activation:
    """An `Activation` from a Keras name, a Keras activation function or a Python callable.

    Args:
        activation: a name in `KNOWN` (case-insensitive, `-` or `_`), a Keras activation
            function (`keras.activations.tanh`), a Python callable on numpy arrays, or an
            `Activation` (returned as is).
        **params: the activation's parameters (`negative_slope` for leaky_relu, `alpha` for
            elu and celu, `approximate` for gelu, `b` for squareplus), or keyword arguments
            passed to a callable.

    Returns:
        The `Activation`.

    Example:

    >>> from keras_inits import meanfield
    >>> act = meanfield.resolve("leaky_relu", negative_slope=0.1)
    >>> str(act), act.kinks, float(act.derivative(np.array([-1.0]))[0])
    ('leaky_relu(negative_slope=0.1)', (0.0,), 0.1)
    """
    if isinstance(activation, Activation):
        if params:
            raise ValueError(
                f"An `Activation` carries its own parameters; pass them to `resolve`. "
                f"Received: activation={activation!r}, params={params!r}"
            )
        return activation
    if isinstance(activation, str):
        key = _key(activation)
        if key not in _TABLE:
            import difflib

            close = difflib.get_close_matches(key, KNOWN, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Argument `activation` must be one of {KNOWN}, a Keras activation function or "
                f"a callable.{hint} Received: activation={activation!r}"
            )
        return _named(key, params)
    if callable(activation) and not isinstance(activation, type):
        name = _keras_name(activation)
        if name is not None:
            return _named(name, params)
        f = _numeric(functools.partial(activation, **params) if params else activation)
        probe = np.linspace(-2.0, 2.0, 5)
        try:
            values = f(probe)
        except Exception as e:  # noqa: BLE001 - any failure means it is not usable
            raise TypeError(
                f"Argument `activation` must map a float64 numpy array to an array of the same "
                f"shape; calling it failed with {type(e).__name__}: {e}. "
                f"Received: activation={activation!r}"
            ) from None
        if values.shape != probe.shape or not np.isfinite(values).all():
            raise ValueError(
                f"Argument `activation` must map a float64 numpy array to finite values of the "
                f"same shape. Received: activation={activation!r}, which gave {values!r} on "
                f"{probe!r}"
            )
        name = getattr(activation, "__name__", "<callable>")
        return Activation(
            name,
            tuple(sorted(params.items())),
            f,
            _central_difference(f),
            exact=False,
            source=activation,
        )
    raise TypeError(
        f"Argument `activation` must be a name (one of {KNOWN}), a Keras activation function "
        f"or a callable. Received: activation={activation!r}"
    )


def _named(key: str, params: dict[str, Any]) -> Activation:
    factory, defaults = _TABLE[key]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {unknown} for activation {key!r}. Allowed: "
            f"{sorted(defaults)}. Received: "
            f"{', '.join(f'{k}={params[k]!r}' for k in sorted(params))}"
        )
    merged = dict(defaults)
    for name, value in params.items():
        if isinstance(defaults[name], bool):
            merged[name] = _checks.boolean(name, value)
        else:
            merged[name] = _checks.real(name, value, positive=name in ("alpha", "b"))
    fn, derivative, kinks = factory(**merged)
    slope = _HOMOGENEOUS[key](merged) if key in _HOMOGENEOUS else None
    return Activation(
        key, tuple(sorted(merged.items())), fn, derivative, tuple(kinks), negative_slope=slope
    )


# -------------------------------------------------------------------------------- quadrature

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(10)
_TAIL = 12.0  # in std units: the Gaussian mass beyond is < 4e-33
_Z_EDGES = np.arange(-_TAIL, _TAIL + 0.5, 1.0)  # panel edges every std
_X_EDGES = np.arange(-40.0, 41.0, 1.0)  # panel edges every 1 in x where activations vary


def _rule(mean: np.ndarray, std: float, kinks: tuple[float, ...]):
    """Nodes `x` and weights `w`, shape (rows, k), with `sum(w * f(x), -1) ≈ E[f(X)]`,
    `X ~ N(mean[i], std²)` per row: composite Gauss-Legendre on panels split as in the module
    docstring. Panels outside a row's range are clipped to zero width (weight 0)."""
    mean = np.atleast_1d(np.asarray(mean, dtype="float64"))[:, None]
    lo, hi = mean - _TAIL * std, mean + _TAIL * std
    # The unit edges inside each row's range: a window of the fixed grid from the first one
    # above `lo` (the same length for every row; the overhang is clipped to zero width).
    count = min(len(_X_EDGES), int(2 * _TAIL * std) + 2)
    first = np.searchsorted(_X_EDGES, lo[:, 0])
    window = _X_EDGES[np.minimum(first[:, None] + np.arange(count), len(_X_EDGES) - 1)]
    kink_grid = np.broadcast_to(np.asarray(kinks, dtype="float64"), (len(mean), len(kinks)))
    fixed = np.concatenate([window, kink_grid], axis=1)
    edges = np.concatenate([mean + std * _Z_EDGES, np.clip(fixed, lo, hi)], axis=1)
    edges = np.sort(edges, axis=1)
    left, width = edges[:, :-1, None], np.diff(edges, axis=1)[:, :, None]
    x = left + 0.5 * width * (1.0 + _GL_NODES)
    z = (x - mean[:, :, None]) / std
    w = 0.5 * width * _GL_WEIGHTS * np.exp(-0.5 * z * z) / (std * math.sqrt(2.0 * math.pi))
    rows = mean.shape[0]
    return x.reshape(rows, -1), w.reshape(rows, -1)


def gaussian_expectation(f: Callable, q: float, kinks: tuple[float, ...] = ()) -> float:
    """`E[f(√q z)]`, `z ~ N(0, 1)`, by the composite rule (exactly `f(0)` at `q = 0`)."""
    if q == 0:
        return float(f(np.zeros(1))[0])
    x, w = _rule(np.zeros(1), math.sqrt(q), kinks)
    return float(np.sum(w * f(x)))


def _pair_expectation(f: Callable, g: Callable, q: float, c: float, kinks) -> float:
    """`E[f(u₁) g(u₂)]` for `(u₁, u₂)` normal, variances `q`, correlation `c` in [0, 1): the
    outer rule over `u₁`, an inner rule per node for `u₂ | u₁ ~ N(c u₁, q (1 - c²))`."""
    x1, w1 = _rule(np.zeros(1), math.sqrt(q), kinks)
    keep = w1[0] > 0
    x1, w1 = x1[0, keep], w1[0, keep]
    x2, w2 = _rule(c * x1, math.sqrt(q * (1.0 - c * c)), kinks)
    inner = np.sum(w2 * g(x2), axis=1)
    return float(np.sum(w1 * f(x1) * inner))


# ----------------------------------------------------------------------------- root finding


def _root(
    g: Callable[[float], float], a: float, b: float, ga: float, gb: float, rtol: float = 4e-16
) -> float:
    """A root of `g` in the bracket [a, b] (`ga`, `gb` of opposite signs or zero): the
    Illinois variant of regula falsi, with bisection when it stalls (superlinear, safe)."""
    if ga == 0:
        return a
    if gb == 0:
        return b
    side = 0
    for _ in range(200):
        c = (a * gb - b * ga) / (gb - ga)
        if not (min(a, b) < c < max(a, b)) or side == 2:
            c, side = 0.5 * (a + b), 0
        gc = g(c)
        if gc == 0 or abs(b - a) <= rtol * max(abs(a), abs(b)) + 1e-300:
            return c
        if (gc > 0) == (gb > 0):
            b, gb = c, gc
            if side == -1:
                ga *= 0.5
            side = -1 if side != -1 else 2
        else:
            a, ga = c, gc
            if side == 1:
                gb *= 0.5
            side = 1 if side != 1 else 2
    return 0.5 * (a + b)


# ---------------------------------------------------------------------------- the theory

_Q_MAX = 1e60  # q growing past this (times q0) counts as diverging
_Q_MIN = 1e-30  # as a fraction of q0: q shrinking past this converges to 0


def _args(activation, sigma_w2, sigma_b2, params) -> tuple[Activation, float, float]:
    act = resolve(activation, **params)
    sigma_w2 = _checks.real("sigma_w2", sigma_w2, positive=True)
    sigma_b2 = _checks.real("sigma_b2", sigma_b2, nonnegative=True)
    return act, sigma_w2, sigma_b2


def _second_moment(act: Activation, q: float) -> float:
    """`E[φ(√q z)²]`."""
    if act.negative_slope is not None:
        return q * (1.0 + act.negative_slope**2) / 2.0
    return gaussian_expectation(lambda x: act.fn(x) ** 2, q, act.kinks)


def length_map(
    activation: Any, q: float, sigma_w2: float, sigma_b2: float = 0.0, **params: Any
) -> float:
    """One layer of the length map: `V(q) = σ_w² E[φ(√q z)²] + σ_b²`, `z ~ N(0, 1)`.

    Args:
        activation: a name, a Keras activation function or a callable (see `resolve`).
        q: the pre-activation variance of the layer below, >= 0.
        sigma_w2: `σ_w²`, the weight variance times fan-in, > 0.
        sigma_b2: `σ_b²`, the bias variance, >= 0 (default 0).
        **params: the activation's parameters (see `resolve`).

    Returns:
        The next layer's pre-activation variance.

    Example:

    >>> from keras_inits import meanfield
    >>> meanfield.length_map("relu", 4.0, 2.0, 0.1)   # 2 * 4/2 + 0.1
    4.1
    """
    act, sigma_w2, sigma_b2 = _args(activation, sigma_w2, sigma_b2, params)
    q = _checks.real("q", q, nonnegative=True)
    return sigma_w2 * _second_moment(act, q) + sigma_b2


def _fixed_point(act: Activation, sw: float, sb: float, q0: float) -> float:
    if act.negative_slope is not None:  # V(q) = sw m q + sb: closed form
        slope = sw * (1.0 + act.negative_slope**2) / 2.0
        if slope < 1.0:
            return sb / (1.0 - slope)
        return q0 if (slope == 1.0 and sb == 0.0) else math.inf

    def g(q):
        return sw * _second_moment(act, q) + sb - q

    g0 = g(q0)
    if g0 == 0:
        return q0
    if g0 > 0:  # the iteration moves up: the first root above q0, or divergence
        lo, glo, hi = q0, g0, 2.0 * q0
        while (ghi := g(hi)) > 0:
            lo, glo, hi = hi, ghi, 8.0 * hi
            if hi > _Q_MAX * q0:
                return math.inf
        return _root(g, lo, hi, glo, ghi)
    hi, ghi, lo = q0, g0, 0.5 * q0  # it moves down: the first root below q0, or 0
    # A gap within rounding of V(q) (relative 1e-13) is no sign change: near q = 0 with
    # σ_b = 0 and χ₁ = 1 (tanh at σ_w² = 1) it would give a spurious root of order 1e-16.
    while (glo := g(lo)) <= 1e-13 * lo:
        hi, ghi, lo = lo, glo, 0.25 * lo
        if lo < _Q_MIN * q0:
            g_zero = g(0.0)
            if g_zero <= 0:  # σ_b = 0 and φ(0) = 0: q* = 0 exactly
                return 0.0
            return _root(g, 0.0, hi, g_zero, ghi)
    return _root(g, lo, hi, glo, ghi)


def fixed_point(
    activation: Any, sigma_w2: float, sigma_b2: float = 0.0, *, q0: float = 1.0, **params: Any
) -> float:
    """The fixed point `q*` of the length map `q ↦ σ_w² E[φ(√q z)²] + σ_b²`.

    `q*` is the limit of the iteration started at `q0` (the input's pre-activation variance;
    1 for standardized inputs): the first fixed point above `q0` if the map moves up there,
    else the first below it. Found by bracketing and a safeguarded regula falsi, to about 1e-15
    relative (not by iterating, which converges slowly near the critical line).

    - `q* = 0` exactly when `σ_b = 0`, `φ(0) = 0` and the map contracts towards 0 (tanh with
      `σ_w² <= 1`, relu with `σ_w² < 2`).
    - `q* = inf` means there is no fixed point (none below `1e60 q0`): the variance grows
      without bound with depth
      (relu with `σ_w² > 2`, or `σ_w² = 2` and `σ_b > 0`).
    - For linear, relu and leaky_relu the map is linear, `V(q) = σ_w² (1 + a²)/2 q + σ_b²` (a
      the negative slope): `q* = σ_b² / (1 - σ_w² (1 + a²)/2)`, and on the critical line with
      `σ_b = 0` every `q` is fixed, so `q* = q0`.

    Args:
        activation: a name, a Keras activation function or a callable (see `resolve`).
        sigma_w2: `σ_w²`: weights are `N(0, σ_w² / fan_in)`; > 0.
        sigma_b2: `σ_b²`: biases are `N(0, σ_b²)`; >= 0 (default 0).
        q0: the input's pre-activation variance, > 0 (default 1).
        **params: the activation's parameters (see `resolve`).

    Returns:
        `q*`, a float (`math.inf` if the variance diverges).

    Example:

    >>> from keras_inits import meanfield
    >>> meanfield.fixed_point("tanh", 1.5, 0.05)
    0.41803...
    >>> meanfield.fixed_point("relu", 1.0, 0.1)   # 0.1 / (1 - 1/2)
    0.2

    Reference: Poole et al. 2016, https://arxiv.org/abs/1606.05340
    """
    act, sigma_w2, sigma_b2 = _args(activation, sigma_w2, sigma_b2, params)
    q0 = _checks.real("q0", q0, positive=True)
    return _fixed_point(act, sigma_w2, sigma_b2, q0)


def _chi1(act: Activation, sw: float, q: float) -> float:
    """`σ_w² E[φ'(√q z)²]`; at `q = 0` its limit `σ_w² (φ'(0⁻)² + φ'(0⁺)²) / 2`."""
    if act.negative_slope is not None:
        return sw * (1.0 + act.negative_slope**2) / 2.0
    if q == 0:
        return sw * float(np.mean(act.derivative(np.array([-1e-300, 1e-300])) ** 2))
    return sw * gaussian_expectation(lambda x: act.derivative(x) ** 2, q, act.kinks)


def _no_fixed_point(act, sw, sb, what) -> ValueError:
    return ValueError(
        f"{what} is defined at the fixed point q* of the length map, and there is none for "
        f"activation={str(act)!r}, sigma_w2={sw!r}, sigma_b2={sb!r}: the pre-activation variance "
        f"grows without bound with depth. Allowed: a smaller `sigma_w2` (see `critical`)."
    )


def chi1(
    activation: Any, sigma_w2: float, sigma_b2: float = 0.0, *, q0: float = 1.0, **params: Any
) -> float:
    """`χ₁ = σ_w² E[φ'(√q* z)²]`, the mean squared singular value of a layer's Jacobian.

    `χ₁ < 1`: ordered (gradients vanish with depth); `> 1`: chaotic (they explode); `= 1`:
    critical. At `q* = 0` it is `σ_w² φ'(0)²` exactly (the mean of the one-sided squares at a
    kink). For linear, relu and leaky_relu it is `σ_w² (1 + a²)/2` for every `q`, so it is
    defined even where `q*` is not.

    Args:
        activation, sigma_w2, sigma_b2, q0, **params: as in `fixed_point`.

    Returns:
        `χ₁`, a float.

    Raises:
        ValueError: when the variance diverges (no `q*`) for an activation whose `χ₁` depends
            on `q`.

    Example:

    >>> from keras_inits import meanfield
    >>> meanfield.chi1("relu", 2.0)   # He initialization: exactly 1
    1.0

    Reference: Poole et al. 2016, https://arxiv.org/abs/1606.05340
    """
    act, sigma_w2, sigma_b2 = _args(activation, sigma_w2, sigma_b2, params)
    q0 = _checks.real("q0", q0, positive=True)
    q = _fixed_point(act, sigma_w2, sigma_b2, q0)
    if math.isinf(q) and act.negative_slope is None:
        raise _no_fixed_point(act, sigma_w2, sigma_b2, "chi1")
    return _chi1(act, sigma_w2, q)


class DepthScales(NamedTuple):
    """The depth scales over which the length (`xi_q`) and the correlation (`xi_c`) of two
    inputs' pre-activations approach their fixed points: deviations decay like `exp(-l/ξ)`.
    `math.inf` where they diverge (on the critical line for `xi_c`)."""

    xi_q: float
    xi_c: float


def _inverse_log(x: float) -> float:
    """`-1 / log(x)`: 0 at x = 0, inf at x >= 1 (a slope at a stable fixed point is at most 1;
    rounding puts it a few ulps above on the critical line)."""
    if x >= 1.0:
        return math.inf
    return 0.0 if x <= 0.0 else -1.0 / math.log(x)


def _length_slope(act: Activation, sw: float, q: float) -> float:
    """`V'(q) = σ_w² E[z φ(√q z) φ'(√q z)] / √q` (`σ_w² φ'(0)²`-style limit at q = 0)."""
    if act.negative_slope is not None or q == 0:
        return _chi1(act, sw, q)
    return sw * gaussian_expectation(lambda x: x * act.fn(x) * act.derivative(x), q, act.kinks) / q


def _correlation(act: Activation, sw: float, sb: float, q: float) -> tuple[float, float]:
    """The stable fixed point `c*` of the correlation map and `χ_c` there, in the chaotic
    phase (`χ₁ > 1`): the root of `f(c) - c` in [0, 1), which exists since `f(0) >= 0` and
    `f(c) < c` just below 1."""

    def gap(c):
        return (sw * _pair_expectation(act.fn, act.fn, q, c, act.kinks) + sb) / q - c

    g0 = gap(0.0)
    for delta in (1e-2, 1e-4, 1e-6, 1e-8):
        g1 = gap(1.0 - delta)
        if g1 < 0:
            c = _root(gap, 0.0, 1.0 - delta, g0, g1, rtol=1e-13)
            return c, sw * _pair_expectation(act.derivative, act.derivative, q, c, act.kinks)
    return 1.0, 1.0  # within numerical precision of the critical line: ξ_c beyond 1e8


def depth_scales(
    activation: Any, sigma_w2: float, sigma_b2: float = 0.0, *, q0: float = 1.0, **params: Any
) -> DepthScales:
    """The depth scales `ξ_q` and `ξ_c` of Schoenholz et al. 2017.

    - `ξ_q⁻¹ = -log V'(q*)`, `V'(q) = σ_w² E[φ'(√q z)² + φ(√q z) φ''(√q z)]`, computed as
      `σ_w² E[z φ(√q z) φ'(√q z)] / √q` (integration by parts).
    - `ξ_c⁻¹ = -log χ_c`, `χ_c = σ_w² E[φ'(u₁) φ'(u₂)]` at the stable fixed point `c*` of
      the correlation map: `c* = 1` and `χ_c = χ₁` in the ordered phase (`χ₁ <= 1`); in the
      chaotic phase the root `c* < 1` of `c = (σ_w² E[φ(u₁) φ(u₂)] + σ_b²) / q*`.

    `ξ_c` diverges at `χ₁ = 1`; Schoenholz et al. find networks trainable up to about
    `6 ξ_c` layers.

    Args:
        activation, sigma_w2, sigma_b2, q0, **params: as in `fixed_point`.

    Returns:
        `DepthScales(xi_q, xi_c)`, in layers (`math.inf` where they diverge).

    Raises:
        ValueError: when the variance diverges (no `q*`), except for linear, relu and
            leaky_relu exactly on the critical line, where it grows linearly and both depth
            scales are infinite.

    Example:

    >>> from keras_inits import meanfield
    >>> meanfield.depth_scales("tanh", 1.5, 0.05)
    DepthScales(xi_q=1.68..., xi_c=15.79...)

    Reference: Schoenholz et al. 2017, https://arxiv.org/abs/1611.01232
    """
    act, sigma_w2, sigma_b2 = _args(activation, sigma_w2, sigma_b2, params)
    q0 = _checks.real("q0", q0, positive=True)
    return _depth_scales(act, sigma_w2, sigma_b2, _fixed_point(act, sigma_w2, sigma_b2, q0))


def _depth_scales(act: Activation, sw: float, sb: float, q: float) -> DepthScales:
    if math.isinf(q):
        if act.negative_slope is not None and _chi1(act, sw, q) == 1.0:
            # relu-like on the critical line with a bias: q grows linearly, not exponentially,
            # and both maps have slope 1.
            return DepthScales(math.inf, math.inf)
        raise _no_fixed_point(act, sw, sb, "depth_scales")
    xi_q = _inverse_log(_length_slope(act, sw, q))
    chi = _chi1(act, sw, q)
    if chi <= 1.0 + 1e-12 or q == 0:  # ordered, or critical up to rounding: c* = 1
        return DepthScales(xi_q, _inverse_log(chi))
    return DepthScales(xi_q, _inverse_log(_correlation(act, sw, sb, q)[1]))


_SCAN = [
    float(v) for v in np.geomspace(1e-2, 1e6, 57)
]  # σ_w² searched for χ₁ = 1 (factor 1.39 per step)


def _critical(act: Activation, sigma_b2: float, q0: float) -> float:
    try:
        return _critical_cached(act, sigma_b2, q0)
    except TypeError:  # a callable's unhashable keyword arguments
        return _critical_cached.__wrapped__(act, sigma_b2, q0)


@functools.lru_cache(maxsize=512)
def _critical_cached(act: Activation, sigma_b2: float, q0: float) -> float:
    if act.negative_slope is not None:
        return 2.0 / (1.0 + act.negative_slope**2)

    def excess(sw):
        q = _fixed_point(act, sw, sigma_b2, q0)
        return math.nan if math.isinf(q) else _chi1(act, sw, q) - 1.0

    previous = None
    for sw in _SCAN:
        value = excess(sw)
        if math.isnan(value) and previous is not None:
            # Bisect for where the variance starts to diverge: χ₁ may reach 1 just below it.
            lo, hi = previous[0], sw
            while hi - lo > 1e-10 * hi:
                mid = 0.5 * (lo + hi)
                value = excess(mid)
                if value >= 0:
                    return _root(excess, previous[0], mid, previous[1], value, rtol=1e-14)
                if math.isnan(value):
                    hi = mid
                else:
                    lo, previous = mid, (mid, value)
            sw, value = hi, math.nan
        if math.isnan(value):
            below = (
                ""
                if previous is None
                else (
                    f" Below that, chi1 stays under 1 (chi1 = {previous[1] + 1:.6g} at "
                    f"sigma_w2 = {previous[0]:.6g})."
                )
            )
            raise ValueError(
                f"No sigma_w2 gives chi1 = 1 for activation={str(act)!r} with "
                f"sigma_b2={sigma_b2!r}: from sigma_w2 = {sw:.6g} the variance diverges (the "
                f"length map has no fixed point above q0={q0!r}).{below} Allowed: an activation "
                f"and sigma_b2 whose fixed point reaches chi1 = 1 (for gelu, swish and other "
                f"smooth relu-likes try a larger sigma_b2, e.g. gelu at 0.2)."
            )
        if value >= 0:
            if previous is None:
                raise ValueError(
                    f"No sigma_w2 >= {_SCAN[0]:g} gives chi1 = 1 for activation={str(act)!r} "
                    f"with sigma_b2={sigma_b2!r}: chi1 is already {value + 1:.4g} there. "
                    f"Allowed: a smaller sigma_b2."
                )
            return _root(excess, previous[0], sw, previous[1], value, rtol=1e-14)
        previous = (sw, value)
    assert previous is not None  # every scanned point that neither returns nor raises sets it
    raise ValueError(
        f"No sigma_w2 in [{_SCAN[0]:g}, {_SCAN[-1]:g}] gives chi1 = 1 for "
        f"activation={str(act)!r} with sigma_b2={sigma_b2!r}: chi1 stays below 1 (it is "
        f"{previous[1] + 1:.4g} at sigma_w2 = {_SCAN[-1]:g}), so every such network is in the "
        f"ordered phase. Allowed: a smaller sigma_b2, or an activation whose slope can reach 1."
    )


def critical(activation: Any, sigma_b2: float = 0.0, *, q0: float = 1.0, **params: Any) -> float:
    """The weight variance `σ_w²` on the critical line `χ₁ = 1` for a given `σ_b²`.

    Closed forms: `2 / (1 + a²)` for leaky_relu with negative slope `a` (2 for relu: He
    initialization; 1 for linear), for every `σ_b²`; 1 for tanh at `σ_b² = 0`. Otherwise
    `σ_w²` is scanned on a geometric grid over [1e-2, 1e6] for the first sign change of
    `χ₁(σ_w², q*(σ_w²)) - 1`, then refined to about 1e-14 relative.

    Args:
        activation: a name, a Keras activation function or a callable (see `resolve`).
        sigma_b2: `σ_b²`, the bias variance, >= 0 (default 0).
        q0: the input's pre-activation variance, as in `fixed_point` (default 1).
        **params: the activation's parameters (see `resolve`).

    Returns:
        The critical `σ_w²`: weights `N(0, σ_w² / fan_in)`.

    Raises:
        ValueError: when no `σ_w²` gives `χ₁ = 1`, saying why: `χ₁` stays below 1, or the
            variance diverges before `χ₁` reaches 1 (gelu and swish at `σ_b² = 0`: `q*` jumps
            from 0, where `χ₁ = σ_w²/4 < 1`, to infinity).

    Example:

    >>> from keras_inits import meanfield
    >>> meanfield.critical("relu")
    2.0
    >>> meanfield.critical("tanh", 0.05)   # Schoenholz et al. 2017: about 1.76
    1.76095...
    >>> meanfield.critical("leaky_relu", negative_slope=0.1)  # 2 / 1.01
    1.98019...

    Reference: Schoenholz et al. 2017, https://arxiv.org/abs/1611.01232
    """
    act = resolve(activation, **params)
    sigma_b2 = _checks.real("sigma_b2", sigma_b2, nonnegative=True)
    q0 = _checks.real("q0", q0, positive=True)
    return _critical(act, sigma_b2, q0)


def critical_line(
    activation: Any, sigma_b2_values, *, q0: float = 1.0, **params: Any
) -> np.ndarray:
    """`critical(activation, σ_b²)` for each `σ_b²` in `sigma_b2_values`.

    Args:
        activation: a name, a Keras activation function or a callable (see `resolve`).
        sigma_b2_values: a sequence (or 1-D array) of `σ_b² >= 0`.
        q0, **params: as in `critical`.

    Returns:
        A float64 array of the critical `σ_w²`, one per `σ_b²` (NaN where there is none).

    Example:

    >>> from keras_inits import meanfield
    >>> meanfield.critical_line("tanh", [0.0, 0.05, 0.1]).round(4).tolist()
    [1.0, 1.761, 1.9861]
    """
    act = resolve(activation, **params)
    values = np.asarray(sigma_b2_values)
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise TypeError(
            "Argument `sigma_b2_values` must be a 1-D sequence of real numbers. "
            f"Received: sigma_b2_values={sigma_b2_values!r}"
        )
    out = np.empty(len(values))
    for i, value in enumerate(values):
        sigma_b2 = _checks.real("sigma_b2_values", value, nonnegative=True)
        try:
            out[i] = _critical(act, sigma_b2, _checks.real("q0", q0, positive=True))
        except ValueError:
            out[i] = math.nan
    return out


_DEFAULT_SIGMA_B2 = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """What `recommend` advises, as data (`str()` gives the reasoning as text).

    Attributes:
        activation: the activation, as resolved.
        depth: the depth asked about.
        sigma_w2, sigma_b2: the critical point chosen.
        q_star, chi1: its fixed point and `χ₁` (1 up to rounding).
        initializer: `CriticalInit` with these values, for the kernels.
        bias_initializer: `CriticalBias` with `sigma_b2`, for the biases.
        trainable_depth: the expected trainable depth `6 ξ_c` at the initializer's actual
            point (inf on the critical line in the infinite-width theory).
        alternatives: `(sigma_w2, 6 ξ_c)` at 0.75, 0.9, 1.1 and 1.25 times `sigma_w2`, for
            comparison (NaN where the variance diverges).
        reasoning: the explanation, as lines of text.
    """

    activation: str
    depth: int
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi1: float
    initializer: Any
    bias_initializer: Any
    trainable_depth: float
    alternatives: tuple[tuple[float, float], ...]
    reasoning: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.reasoning)


def recommend(
    activation: Any, depth: int, sigma_b2: float | None = None, *, q0: float = 1.0, **params: Any
) -> Recommendation:
    """An initialization for a deep network of `activation` layers, with the reasoning.

    It picks the critical point `σ_w²` (`χ₁ = 1`) for `sigma_b2` (default: the first of 0,
    0.05, 0.1, 0.2, 0.5, 1 with a critical point; gelu needs 0.2), where `ξ_c` diverges in
    the infinite-width theory, so the expected trainable depth `6 ξ_c` is unlimited; it also
    reports `6 ξ_c` at `σ_w²` 10% and 25% off the line, to show how fast it shrinks. Finite
    width, the optimizer and the data then set the limit.

    Args:
        activation: a name, a Keras activation function or a callable (see `resolve`). The
            initializers need a name.
        depth: the number of layers planned, an int >= 1.
        sigma_b2: `σ_b²`, or None to choose as above.
        q0, **params: as in `critical`.

    Returns:
        A `Recommendation`; `print` it for the text.

    Example:

    >>> from keras_inits import meanfield
    >>> rec = meanfield.recommend("tanh", depth=200)
    >>> rec.sigma_w2, rec.sigma_b2, rec.trainable_depth
    (1.0, 0.0, inf)
    >>> layer = keras.layers.Dense(64, "tanh", kernel_initializer=rec.initializer,
    ...                            bias_initializer=rec.bias_initializer)

    Reference: Schoenholz et al. 2017, https://arxiv.org/abs/1611.01232
    """
    act = resolve(activation, **params)
    depth = _checks.integer("depth", depth, minimum=1)
    q0 = _checks.real("q0", q0, positive=True)
    if sigma_b2 is None:
        for sigma_b2 in _DEFAULT_SIGMA_B2:  # the smallest with a critical point
            try:
                sigma_w2 = _critical(act, sigma_b2, q0)
                break
            except ValueError as e:
                error = e
        else:
            raise error
    else:
        sigma_b2 = _checks.real("sigma_b2", sigma_b2, nonnegative=True)
        sigma_w2 = _critical(act, sigma_b2, q0)
    q = _fixed_point(act, sigma_w2, sigma_b2, q0)
    chi = _chi1(act, sigma_w2, q) if not math.isinf(q) else 1.0
    trainable = 6.0 * _inverse_log(chi) if chi <= 1.0 else math.inf
    alternatives = []
    for factor in (0.75, 0.9, 1.1, 1.25):
        sw = factor * sigma_w2
        try:
            xi_c = _depth_scales(act, sw, sigma_b2, _fixed_point(act, sw, sigma_b2, q0)).xi_c
        except ValueError:
            xi_c = math.nan
        alternatives.append((sw, 6.0 * xi_c))
    initializer, bias = _initializers(act, sigma_b2)
    lines = [
        f"Activation {act}, {depth} layers.",
        f"Critical point (chi1 = 1) at sigma_b2 = {sigma_b2:g}: sigma_w2 = {sigma_w2:.6g}, "
        f"so weights N(0, {sigma_w2:.4g} / fan_in) and biases N(0, {sigma_b2:g}).",
        f"There q* = {q:.4g} and chi1 = {chi:.6g}: the correlation depth scale xi_c diverges, "
        f"so mean-field theory puts no limit on the trainable depth (about 6 xi_c, Schoenholz "
        f"et al. 2017); finite width (corrections of order depth/width), the optimizer and "
        f"the data set it in practice.",
        "Off the critical line the expected trainable depth 6 xi_c shrinks fast:",
        *(
            f"  sigma_w2 = {sw:.4g}: "
            + (
                f"6 xi_c = {d:.4g} layers"
                if d == d
                else "no fixed point (the variance grows without bound)"
            )
            for sw, d in alternatives
        ),
    ]
    short = [sw for sw, d in alternatives if not d >= depth]
    if short:
        lines.append(
            f"At {depth} layers, initializations with sigma_w2 in "
            f"{', '.join(f'{sw:.3g}' for sw in short)} would likely not train."
        )
    else:
        lines.append(f"At {depth} layers, all of these are within their trainable depth.")
    lines.append(
        f"Use: kernel_initializer={initializer!r}, bias_initializer={bias!r}"
        if initializer is not None
        else "CriticalInit needs the activation's name (a callable cannot be saved in a "
        f"config); use VarianceScaling(scale={sigma_w2:.6g}, mode='fan_in')."
    )
    return Recommendation(
        str(act),
        depth,
        sigma_w2,
        sigma_b2,
        q,
        chi,
        initializer,
        bias,
        trainable,
        tuple(alternatives),
        tuple(lines),
    )


def _initializers(act: Activation, sigma_b2: float):
    if act.name not in _TABLE:
        return None, None
    from keras_inits.schemes.critical import CriticalBias, CriticalInit

    params = {k: v for k, v in act.params}
    kernel = CriticalInit(act.name, sigma_b2=sigma_b2, activation_params=params or None)
    return kernel, CriticalBias(sigma_b2=sigma_b2)
