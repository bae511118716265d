"""Critical initialization: the weight variance on the χ₁ = 1 line of mean-field theory.

For weights `N(0, σ_w²/fan_in)` and biases `N(0, σ_b²)`, a deep network of activation `φ` is
at the edge of chaos when `χ₁ = σ_w² E[φ'(√q* z)²] = 1` (`keras_inits.meanfield`): signals and
gradients then neither vanish nor explode exponentially with depth, and the correlation depth
scale ξ_c diverges. `CriticalInit` draws kernels with that `σ_w²` for any activation and bias
variance; `CriticalBias` draws the matching biases. He initialization is the case of relu.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.base import RandomInitializer
from keras_inits.diagnostics import meanfield
from keras_inits.schemes.variance import Distribution, VarianceScaling


def _activation_name(activation: Any) -> str:
    """A name `meanfield` knows, from a name or a Keras activation function (a config stores
    a name, so other callables are refused)."""
    if isinstance(activation, str) or (callable(activation) and not isinstance(activation, type)):
        resolved = meanfield.resolve(activation)  # an unknown name raises, listing known ones
        if resolved.source is None:
            return resolved.name
    raise TypeError(
        f"Argument `activation` must be one of {meanfield.KNOWN} or the Keras activation "
        f"function of one (a config stores its name; for another callable use "
        f"`keras_inits.meanfield.critical` and `VarianceScaling`). Received: "
        f"activation={activation!r}"
    )


def _params(activation: str, params: Any) -> dict[str, Any] | None:
    if params is None:
        return None
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise TypeError(
            "Argument `activation_params` must be None or a dict of the activation's keyword "
            f"arguments. Received: activation_params={params!r}"
        )
    try:
        resolved = meanfield.resolve(activation, **params)
    except (TypeError, ValueError) as e:
        raise type(e)(
            f"Argument `activation_params` is not valid for {activation!r}: {e} "
            f"Received: activation_params={params!r}"
        ) from None
    return {k: v for k, v in resolved.params if k in params}


@register("critical_init", "edge_of_chaos")
class CriticalInit(VarianceScaling):
    """Critical (edge-of-chaos) initialization: `Var(W) = σ_w² / fan_in` with `σ_w²` on the
    `χ₁ = σ_w² E[φ'(√q* z)²] = 1` line, `q* = σ_w² E[φ(√q* z)²] + σ_b²` (z ~ N(0, 1)).

    `σ_w² = keras_inits.meanfield.critical(activation, sigma_b2)`: 2 for relu (He), `2/(1+a²)`
    for leaky_relu with slope `a`, 1 for tanh and linear at `σ_b² = 0`, about 1.76 for tanh at
    `σ_b² = 0.05`. Pair it with `CriticalBias(sigma_b2)` for the biases. The distribution is
    as in `VarianceScaling` (mode `"fan_in"`), so the weights' variance is exactly `σ_w²/fan_in`.

    Args:
        activation: the layer's activation: a name in `keras_inits.meanfield.KNOWN` or a Keras
            activation function.
        sigma_b2: `σ_b²`, the variance of the biases, >= 0 (default 0).
        distribution: `"truncated_normal"` (default; alias `"normal"`), `"untruncated_normal"`
            or `"uniform"`, as in `VarianceScaling`.
        seed: None, an int or a `keras.random.SeedGenerator`.
        activation_params: None or a dict of the activation's parameters, e.g.
            `{"negative_slope": 0.1}` for leaky_relu (Keras' defaults otherwise).
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Raises:
        ValueError: when the activation has no critical point at `sigma_b2` (see
            `keras_inits.meanfield.critical`).

    Example:

    >>> init = keras_inits.CriticalInit("tanh", sigma_b2=0.05, seed=0)
    >>> init.sigma_w2
    1.76095...
    >>> layer = keras.layers.Dense(64, "tanh", kernel_initializer=init,
    ...                            bias_initializer=keras_inits.CriticalBias(0.05, seed=1))

    Reference: Poole et al. 2016, https://arxiv.org/abs/1606.05340; Schoenholz et al. 2017,
    https://arxiv.org/abs/1611.01232
    """

    example_config = {"activation": "tanh"}

    def __init__(
        self,
        activation: str | Callable,
        sigma_b2: float = 0.0,
        distribution: Distribution = "truncated_normal",
        seed=None,
        activation_params: dict[str, Any] | None = None,
        input_axes=None,
        output_axes=None,
    ):
        self.activation = _activation_name(activation)
        self.activation_params = _params(self.activation, activation_params)
        self.sigma_b2 = _checks.real("sigma_b2", sigma_b2, nonnegative=True)
        try:
            self.sigma_w2 = meanfield.critical(
                self.activation, self.sigma_b2, **(self.activation_params or {})
            )
        except ValueError as e:
            raise ValueError(f"{e} Received: sigma_b2={sigma_b2!r}") from None
        super().__init__(self.sigma_w2, "fan_in", distribution, seed, input_axes, output_axes)

    def _max_abs(self, shape):
        bound = super()._max_abs(shape)
        return bound[0], {"activation": self.activation, "sigma_b2": self.sigma_b2}

    def get_config(self):
        return {
            **RandomInitializer.get_config(self),
            "activation": self.activation,
            "sigma_b2": self.sigma_b2,
            "distribution": self.distribution,
            "activation_params": self.activation_params,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


@register("critical_bias")
class CriticalBias(RandomInitializer):
    """The biases of mean-field theory: `b ~ N(0, σ_b²)` (zeros when `σ_b² = 0`).

    Pair it with `CriticalInit(activation, sigma_b2)`, whose critical `σ_w²` assumes exactly
    these biases.

    Args:
        sigma_b2: `σ_b²`, the variance, >= 0 (default 0).
        seed: None, an int or a `keras.random.SeedGenerator`.

    Example:

    >>> layer = keras.layers.Dense(64, "tanh",
    ...                            kernel_initializer=keras_inits.CriticalInit("tanh", 0.05),
    ...                            bias_initializer=keras_inits.CriticalBias(0.05))

    Reference: Schoenholz et al. 2017, https://arxiv.org/abs/1611.01232
    """

    example_config = {"sigma_b2": 0.05}  # random, so that the seed contract applies

    def __init__(self, sigma_b2: float = 0.0, seed=None):
        self.sigma_b2 = _checks.real("sigma_b2", sigma_b2, nonnegative=True)
        super().__init__(seed=seed)

    def _generate(self, shape, dtype):
        return _sampling.normal(shape, dtype, self.seed, 0.0, math.sqrt(self.sigma_b2))

    def _max_abs(self, shape):
        return _checks.NORMAL_SIGMAS * math.sqrt(self.sigma_b2), {"sigma_b2": self.sigma_b2}

    def get_config(self):
        return {**super().get_config(), "sigma_b2": self.sigma_b2}
