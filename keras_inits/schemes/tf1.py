"""TF1's `tf.contrib.layers` initializers and the presets its docs name (MSRA, Caffe, Xavier).

TF1's contrib `variance_scaling_initializer` differs from Keras' `VarianceScaling`: its normal
variant is a normal with std `sqrt(1.3 * factor / n)` cut at 2 std, so the weights' actual
std is `0.8796 * sqrt(1.3 * factor / n) = 1.0029 * sqrt(factor / n)`, where Keras corrects
exactly for the truncation. These classes draw from TF1's exact distributions, so training
scripts ported from TF1 start from the same statistics.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, cast

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.schemes.variance import TRUNCATED_STD, Mode, VarianceScaling

TF1Mode = Literal["FAN_IN", "FAN_OUT", "FAN_AVG", "FAN_GEO_AVG"]
# TF1's three modes, and jax.nn.initializers' geometric mean sqrt(fan_in * fan_out).
TF1_MODES = ("FAN_AVG", "FAN_GEO_AVG", "FAN_IN", "FAN_OUT")
TF1_TRUNCATED_FACTOR = 1.3  # TF1's approximate std correction for the truncation at 2 std


@register("variance_scaling_initializer")
class TF1VarianceScaling(VarianceScaling):
    """TF1 contrib variance scaling: `uniform=True`: `W ~ U[-l, l]`, `l = sqrt(3 * factor / n)`;
    `uniform=False`: `W ~ N(0, s**2)` cut at `±2s`, `s = sqrt(1.3 * factor / n)`.

    `n` is fan_in, fan_out, `(fan_in + fan_out) / 2` or `sqrt(fan_in * fan_out)` by `mode`,
    with Keras' (and TF1's) fans.
    A `VarianceScaling` subclass, so EinsumDense computes einsum-aware fans for it;
    `variance(shape)` is the weights' actual variance.

    Args:
        factor: positive multiplicative factor (default 2.0).
        mode: `"FAN_IN"` (default), `"FAN_OUT"`, `"FAN_AVG"` or `"FAN_GEO_AVG"`
            (`sqrt(fan_in * fan_out)`, as jax.nn.initializers; case-insensitive).
        uniform: uniform if True, else truncated normal (default False).
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.variance_scaling_initializer(factor=2.0, mode="FAN_IN", seed=0)
    >>> layer = keras.layers.Conv2D(32, 3, kernel_initializer=init)

    Reference: `tf.contrib.layers.variance_scaling_initializer` (TF 1.x); He et al. 2015,
    https://arxiv.org/abs/1502.01852
    """

    def __init__(
        self,
        factor: float = 2.0,
        mode: TF1Mode = "FAN_IN",
        uniform: bool = False,
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        self.factor = _checks.real("factor", factor, positive=True)
        upper = _checks.choice(
            "mode", mode.upper() if isinstance(mode, str) else mode, TF1_MODES, received=mode
        )
        self.uniform = _checks.boolean("uniform", uniform)
        # `scale` makes `variance()` the actual variance of the values drawn below.
        scale = self.factor
        if not self.uniform:
            scale = TF1_TRUNCATED_FACTOR * self.factor * TRUNCATED_STD**2
        if not scale < math.inf:  # 1.3 * factor * 0.8796**2 overflows
            raise ValueError(
                f"Argument `factor` must be finite, also after TF1's truncation "
                f"correction (1.3 * factor * 0.8796**2 = {scale!r}). Received: factor={factor!r}"
            )
        super().__init__(
            scale=scale,
            mode=cast(Mode, upper.lower()),
            distribution="uniform" if self.uniform else "truncated_normal",
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        n = self.scale / self.variance(shape)  # the fan chosen by mode, at least 1
        if self.uniform:
            limit = math.sqrt(3.0 * self.factor / n)
            return _sampling.uniform(shape, dtype, self.seed, -limit, limit)
        stddev = math.sqrt(TF1_TRUNCATED_FACTOR * self.factor / n)
        return _sampling.truncated_normal(shape, dtype, self.seed, 0.0, stddev)

    def _max_abs(self, shape):
        n = self.scale / self.variance(shape)
        if self.uniform:
            return math.sqrt(3.0 * self.factor / n), {"factor": self.factor}
        # cut at 2 stddev
        return 2.0 * math.sqrt(TF1_TRUNCATED_FACTOR * self.factor / n), {"factor": self.factor}

    def get_config(self):
        config = super().get_config()
        for key in ("scale", "distribution"):
            config.pop(key)
        return {**config, "factor": self.factor, "mode": self.mode.upper(), "uniform": self.uniform}


class _TF1Preset(TF1VarianceScaling):
    """A TF1VarianceScaling with `factor`, `mode` (and `uniform` unless given) fixed."""

    preset: ClassVar[dict] = {}

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(**self.preset, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {k: v for k, v in super().get_config().items() if k not in self.preset}


@register()
class MSRA(_TF1Preset):
    """MSRA ("Delving Deep into Rectifiers") as TF1 names it: `N(0, s**2)` cut at `±2s`,
    `s = sqrt(1.3 * 2 / fan_in)`. `variance_scaling_initializer(2.0, "FAN_IN", False)`.

    For ReLU networks ported from TF1.

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> layer = keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer="msra")

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    preset = dict(factor=2.0, mode="FAN_IN", uniform=False)


@register()
class Caffe(_TF1Preset):
    """Caffe's "xavier" filler as TF1 names it: `W ~ U[-l, l]`, `l = sqrt(3 / fan_in)`.
    `variance_scaling_initializer(1.0, "FAN_IN", True)`.

    For models ported from Caffe.

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> layer = keras.layers.Conv2D(32, 3, kernel_initializer="caffe")

    Reference: Jia et al. 2014, "Caffe: Convolutional Architecture for Fast Feature
    Embedding", https://arxiv.org/abs/1408.5093
    """

    preset = dict(factor=1.0, mode="FAN_IN", uniform=True)


@register("xavier_initializer")
class Xavier(TF1VarianceScaling):
    """TF1's `xavier_initializer`: `uniform=True`: `W ~ U[-l, l]`,
    `l = sqrt(6 / (fan_in + fan_out))`; `uniform=False`: `N(0, s**2)` cut at `±2s`,
    `s = sqrt(2.6 / (fan_in + fan_out))`. `variance_scaling_initializer(1.0, "FAN_AVG", uniform)`.

    Args:
        uniform: uniform (default True) or truncated normal.
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> layer = keras.layers.Dense(64, kernel_initializer="xavier")

    Reference: Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    def __init__(self, uniform: bool = True, seed=None, input_axes=None, output_axes=None):
        super().__init__(
            factor=1.0,
            mode="FAN_AVG",
            uniform=uniform,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        config = super().get_config()
        return {k: v for k, v in config.items() if k not in ("factor", "mode")}


def xavier_initializer(uniform: bool = True, seed=None) -> Xavier:
    """TF1's `tf.contrib.layers.xavier_initializer`: a serializable `Xavier` initializer.

    Args:
        uniform: uniform (default True) or truncated normal, as in `Xavier`.
        seed: None, an int or a `keras.random.SeedGenerator`.

    Returns:
        A `Xavier` instance.

    Example:

    >>> layer = keras.layers.Dense(64, kernel_initializer=keras_inits.xavier_initializer(seed=0))
    """
    return Xavier(uniform=uniform, seed=seed)


def variance_scaling_initializer(
    factor: float = 2.0, mode: TF1Mode = "FAN_IN", uniform: bool = False, seed=None
) -> TF1VarianceScaling:
    """TF1's `tf.contrib.layers.variance_scaling_initializer`: a serializable
    `TF1VarianceScaling` (truncated std `sqrt(1.3 * factor / n)` or uniform limit
    `sqrt(3 * factor / n)`).

    Args:
        factor: positive multiplicative factor (default 2.0).
        mode: `"FAN_IN"` (default), `"FAN_OUT"`, `"FAN_AVG"` or `"FAN_GEO_AVG"` (case-insensitive).
        uniform: uniform if True, else truncated normal (default False).
        seed: None, an int or a `keras.random.SeedGenerator`.

    Returns:
        A `TF1VarianceScaling` instance.

    Example:

    >>> init = keras_inits.variance_scaling_initializer()
    >>> layer = keras.layers.Conv2D(32, 3, kernel_initializer=init)
    """
    return TF1VarianceScaling(factor=factor, mode=mode, uniform=uniform, seed=seed)
