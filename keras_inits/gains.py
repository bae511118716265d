"""Activation gains: the factor that keeps the signal's scale steady through a nonlinearity.

`calculate_gain` returns torch.nn.init's values where torch defines one, so code ported from
PyTorch gives the same weights, and a documented, computed value for the activations torch
leaves out (gelu, silu/swish, elu, softplus, mish).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from keras_inits import _checks

# torch.nn.init.calculate_gain's table (torch/nn/init.py). tanh's 5/3 and selu's 3/4 are
# torch's empirical choices, kept as they are so that ported code draws the same weights.
_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
TORCH_GAINS: dict[str, float] = {
    **dict.fromkeys(_LINEAR, 1.0),
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}
# torch's default negative slope (Keras' `leaky_relu` uses 0.2, its LeakyReLU layer 0.3).
LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0  # Keras' and torch's default alpha


def _erf(x: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in x.ravel()]).reshape(x.shape)


def _softplus(x):
    return np.logaddexp(0.0, x)


# numpy versions of the activations whose gain is computed (same definitions as Keras, with
# Keras' defaults: exact-erf gelu, elu alpha=1).
_ACTIVATIONS: dict[str, Callable[..., np.ndarray]] = {
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "elu": lambda x, alpha=ELU_ALPHA: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
    "softplus": _softplus,
    "mish": lambda x: x * np.tanh(_softplus(x)),
}
_ALIASES = {"swish": "silu"}
_PARAMETRIZED = ("leaky_relu", "elu")

KNOWN = sorted({*TORCH_GAINS, "leaky_relu", *_ACTIVATIONS, *_ALIASES})

# Gauss-Legendre on [-12, 0] and [0, 12]: each activation is smooth on either side of 0 (where
# relu-like kinks sit), so the rule converges fast; phi(12) ~ 1e-32 makes the tails negligible.
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(200)
_HALF_WIDTH = 12.0


def second_moment(fn: Callable[[np.ndarray], np.ndarray]) -> float:
    """`E[f(z)**2]` for `z ~ N(0, 1)`, by Gauss-Legendre quadrature on each side of 0."""
    total = 0.0
    for lo, hi in ((-_HALF_WIDTH, 0.0), (0.0, _HALF_WIDTH)):
        z = 0.5 * (hi - lo) * _NODES + 0.5 * (hi + lo)
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        total += 0.5 * (hi - lo) * float(np.sum(_WEIGHTS * fn(z) ** 2 * pdf))
    return total


@functools.lru_cache(maxsize=64)
def _moment_gain(name: str, param: float | None) -> float:
    if name == "elu" and param is not None:
        return _elu_gain(param)
    return 1.0 / math.sqrt(second_moment(_ACTIVATIONS[name]))


def _elu_gain(alpha: float) -> float:
    """`1 / sqrt(E[elu(z)**2])` as `1 / hypot(sqrt(E[z**2; z > 0]), |alpha| sqrt(E[expm1(z)**2;
    z < 0]))`: the same quadrature, split so that a large alpha cannot overflow to a gain of 0."""
    positive = second_moment(lambda z: np.where(z > 0, z, 0.0))
    negative = second_moment(lambda z: np.where(z > 0, 0.0, np.expm1(np.minimum(z, 0.0))))
    return 1.0 / math.hypot(math.sqrt(positive), abs(alpha) * math.sqrt(negative))


def _canonical(nonlinearity: Any) -> str:
    if callable(nonlinearity) and not isinstance(nonlinearity, str):
        name = getattr(nonlinearity, "__name__", None)
        if name is None:
            raise TypeError(
                "Argument `nonlinearity` must be a name or an activation function with a "
                f"`__name__` (such as `keras.activations.relu`). Received: "
                f"nonlinearity={nonlinearity!r}"
            )
        nonlinearity = name
    if not isinstance(nonlinearity, str):
        raise TypeError(
            f"Argument `nonlinearity` must be a string or an activation function, one of {KNOWN}. "
            f"Received: nonlinearity={nonlinearity!r}"
        )
    key = nonlinearity.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in TORCH_GAINS and key not in _ACTIVATIONS and key != "leaky_relu":
        raise ValueError(
            f"Argument `nonlinearity` must be one of {KNOWN}. Received: "
            f"nonlinearity={nonlinearity!r}"
        )
    return key


def calculate_gain(nonlinearity: str | Callable, param: float | None = None) -> float:
    """The recommended gain `g` for an activation: scale weights by it so `Var` stays steady.

    `g = 1 / sqrt(E[f(z)**2])` with `z ~ N(0, 1)`: for weights with `Var(W) = g**2 / fan_in`
    and inputs `f(z)`, the next pre-activation has variance 1 again. torch's table is kept
    as is (linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); selu: 3/4;
    leaky_relu: `sqrt(2 / (1 + slope**2))`); relu and leaky_relu agree with the rule above
    exactly, tanh, sigmoid and selu are torch's empirical choices. The gains of gelu
    (1.5335), silu/swish (1.6765), elu (1.2452 for alpha=1), softplus (1.0419) and mish
    (1.4868) are `1 / sqrt(E[f(z)**2])`, computed by Gauss-Legendre quadrature of
    `f(z)**2 * phi(z)` on each side of 0 (accurate to ~1e-12).

    Args:
        nonlinearity: a name (`"relu"`, `"leaky_relu"`, `"gelu"`, `"swish"`, `"conv2d"`, ...,
            case-insensitive) or an activation function, matched by its `__name__`
            (`keras.activations.gelu`, `torch.nn.functional.silu`, ...).
        param: leaky_relu's negative slope (default 0.01, as torch; Keras' `leaky_relu` uses
            0.2 and its LeakyReLU layer 0.3, so pass it explicitly), or elu's `alpha`
            (default 1.0). Ignored for the other activations, as in torch, but it must still
            be a finite real number or None.

    Returns:
        The gain, a Python float.

    Example:

    >>> keras_inits.calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    >>> keras_inits.calculate_gain(keras.activations.gelu)
    1.5335...
    >>> init = keras_inits.KaimingNormal(nonlinearity="relu")  # std = gain / sqrt(fan_in)

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852;
    torch.nn.init.calculate_gain.
    """
    key = _canonical(nonlinearity)
    if param is not None:  # checked even where it is ignored, so a typo still fails loudly
        param = _checks.real("param", param)
    if key == "leaky_relu":
        slope = LEAKY_RELU_SLOPE if param is None else param
        if abs(slope) > 1e150:  # slope**2 would raise OverflowError; same value otherwise
            return math.sqrt(2.0) / math.hypot(1.0, slope)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if key in TORCH_GAINS:
        return TORCH_GAINS[key]
    if key == "elu":
        return _moment_gain(key, None if param is None else float(param))
    return _moment_gain(key, None)
