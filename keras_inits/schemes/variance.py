"""Fan-based schemes: VarianceScaling and its Glorot, He and LeCun presets.

All of them keep `Var(W) = scale / n`, with `n` the fan chosen by `mode`, so that the variance of
activations (fan_in) or of back-propagated gradients (fan_out), or a compromise (fan_avg), stays
steady from layer to layer. Pick by activation: Glorot for tanh/sigmoid/softmax/linear, He for
the ReLU family, LeCun for SELU.

`VarianceScaling` subclasses Keras' own `VarianceScaling` as well, because EinsumDense and
MultiHeadAttention compute einsum-aware fans only for instances of that class.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import keras

from keras_inits import _checks, _sampling
from keras_inits._fans import compute_fans
from keras_inits._registry import register
from keras_inits.base import RandomInitializer

Mode = Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
Distribution = Literal["truncated_normal", "untruncated_normal", "uniform", "normal"]
MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
TRUNCATED_STD = 0.87962566103423978  # std of N(0, 1) truncated to (-2, 2)


@register()
class VarianceScaling(RandomInitializer, keras.initializers.VarianceScaling):
    """Variance scaling: `Var(W) = scale / n`, `n = max(1, fan)` with `fan` chosen by `mode`.

    - `mode="fan_in"`: `n = fan_in`; `"fan_out"`: `n = fan_out`;
      `"fan_avg"`: `n = (fan_in + fan_out) / 2`; `"fan_geo_avg"`: `n = sqrt(fan_in * fan_out)`
      (as `jax.nn.initializers.variance_scaling`). Fans follow `compute_fans`.
    - `distribution="truncated_normal"` (alias `"normal"`, as in Keras):
      `N(0, s**2)` cut at `±2s`, `s = sqrt(scale / n) / 0.8796...` so that the std after
      truncation is `sqrt(scale / n)`.
    - `"untruncated_normal"`: `N(0, scale / n)`.
    - `"uniform"`: `U[-l, l]`, `l = sqrt(3 * scale / n)`.

    Args:
        scale: positive scaling factor (default 1.0).
        mode: one of `"fan_in"`, `"fan_out"`, `"fan_avg"`, `"fan_geo_avg"` (default
            `"fan_in"`).
        distribution: one of `"truncated_normal"`, `"untruncated_normal"`, `"uniform"`
            (default `"truncated_normal"`); `"normal"` means `"truncated_normal"`.
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional axes whose dims multiply into the fans (both needed).

    Example:

    >>> init = keras_inits.VarianceScaling(2.0, "fan_geo_avg", "untruncated_normal", seed=0)
    >>> init.variance((3, 3, 16, 64))  # 2 / sqrt(144 * 576)
    0.006944444444444444
    >>> layer = keras.layers.Conv2D(64, 3, kernel_initializer=init)

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: Mode = "fan_in",
        distribution: Distribution = "truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        self.scale = _checks.real("scale", scale, positive=True)
        # Each error starts with Keras' own wording for the same value.
        self.mode = _checks.choice("mode", mode, MODES, keras=f"Invalid `mode` argument: {mode}. ")
        name: Any = distribution  # normalized: lower case, "normal" -> "truncated_normal"
        if isinstance(name, str):
            name = name.lower()
            name = "truncated_normal" if name == "normal" else name
        self.distribution = _checks.choice(
            "distribution",
            name,
            DISTRIBUTIONS,
            received=distribution,
            keras=f"Invalid `distribution` argument: {name}. ",
        )
        self.input_axes = _checks.axes("input_axes", input_axes)
        self.output_axes = _checks.axes("output_axes", output_axes)
        if (self.input_axes is None) != (self.output_axes is None):
            raise ValueError(
                "Arguments `input_axes` and `output_axes` must be given together: the fans use "
                f"both or neither. Received: input_axes={input_axes!r}, "
                f"output_axes={output_axes!r}"
            )
        super().__init__(seed=seed)

    def variance(self, shape) -> float:
        """The target variance `scale / n` for a weight of `shape`."""
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "fan_avg": (fan_in + fan_out) / 2.0,
            "fan_geo_avg": math.sqrt(fan_in * fan_out),
        }
        return self.scale / max(1.0, fan[self.mode])

    def _generate(self, shape, dtype):
        std = math.sqrt(self.variance(shape))
        if self.distribution == "truncated_normal":
            return _sampling.truncated_normal(shape, dtype, self.seed, 0.0, std / TRUNCATED_STD)
        if self.distribution == "untruncated_normal":
            return _sampling.normal(shape, dtype, self.seed, 0.0, std)
        limit = math.sqrt(3.0) * std
        return _sampling.uniform(shape, dtype, self.seed, -limit, limit)

    def _max_abs(self, shape):
        sigmas = {
            "uniform": math.sqrt(3.0),
            "truncated_normal": 2.0 / TRUNCATED_STD,
            "untruncated_normal": _checks.NORMAL_SIGMAS,
        }[self.distribution]
        return sigmas * math.sqrt(self.variance(shape)), {"scale": self.scale}

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _Preset(VarianceScaling):
    """A VarianceScaling with `scale`, `mode` and `distribution` fixed by the class."""

    preset: ClassVar[dict] = {}

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(**self.preset, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        config = super().get_config()
        return {k: v for k, v in config.items() if k not in self.preset}


@register()
class GlorotUniform(_Preset):
    """Glorot/Xavier uniform: `W ~ U[-l, l]`, `l = sqrt(6 / (fan_in + fan_out))`.

    For tanh, sigmoid, softmax and linear layers; Keras' default for Dense and Conv kernels.

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.GlorotUniform(seed=0)
    >>> layer = keras.layers.Dense(8, activation="tanh", kernel_initializer=init)

    Reference: Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    preset = dict(scale=1.0, mode="fan_avg", distribution="uniform")


@register()
class GlorotNormal(_Preset):
    """Glorot normal: `N(0, s**2)` cut at `±2s`, `s = sqrt(2 / (fan_in + fan_out)) / 0.8796...`.

    The std after truncation is `sqrt(2 / (fan_in + fan_out))`. For tanh, sigmoid, softmax, linear.

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Reference: Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    preset = dict(scale=1.0, mode="fan_avg", distribution="truncated_normal")


@register()
class HeUniform(_Preset):
    """He/Kaiming uniform: `W ~ U[-l, l]`, `l = sqrt(6 / fan_in)`. For the ReLU family.

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    preset = dict(scale=2.0, mode="fan_in", distribution="uniform")


@register()
class HeNormal(_Preset):
    """He/Kaiming normal: `N(0, s**2)` cut at `±2s`, `s = sqrt(2 / fan_in) / 0.8796...`.

    The std after truncation is `sqrt(2 / fan_in)`. For the ReLU family.

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    preset = dict(scale=2.0, mode="fan_in", distribution="truncated_normal")


@register()
class LecunUniform(_Preset):
    """LeCun uniform: `W ~ U[-l, l]`, `l = sqrt(3 / fan_in)`. For SELU.

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Reference: Klambauer et al. 2017, https://arxiv.org/abs/1706.02515
    """

    preset = dict(scale=1.0, mode="fan_in", distribution="uniform")


@register()
class LecunNormal(_Preset):
    """LeCun normal: `N(0, s**2)` cut at `±2s`, `s = sqrt(1 / fan_in) / 0.8796...`.

    The std after truncation is `sqrt(1 / fan_in)`. For SELU (self-normalizing networks).

    Args:
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Reference: Klambauer et al. 2017, https://arxiv.org/abs/1706.02515
    """

    preset = dict(scale=1.0, mode="fan_in", distribution="truncated_normal")
