"""torch.nn.init's fan-based schemes under their PyTorch names: Xavier and Kaiming.

Same formulas as `torch.nn.init.xavier_*_` and `kaiming_*_`, with Keras' fan conventions
(`compute_fans`): a Keras kernel `(*kernel, in, out)` has the fans of the torch weight
`(out, in, *kernel)`, so porting a model gives the same distributions. Unlike Keras' Glorot and
He normals, the normal variants are *untruncated*, as in torch.

They are `VarianceScaling` subclasses, so EinsumDense and MultiHeadAttention compute
einsum-aware fans for them, and `variance(shape)` gives the target variance.
"""

from __future__ import annotations

import math
from typing import Literal

from keras_inits import _checks
from keras_inits._registry import register
from keras_inits.gains import _canonical, calculate_gain
from keras_inits.schemes.variance import VarianceScaling

TorchMode = Literal["fan_in", "fan_out", "fan_geo_avg"]
# torch's two modes, and jax.nn.initializers' geometric mean sqrt(fan_in * fan_out).
TORCH_MODES = ("fan_in", "fan_out", "fan_geo_avg")


class _TorchScaling(VarianceScaling):
    """A VarianceScaling whose config holds torch's arguments instead of scale/mode/distribution."""

    _derived = ("scale", "mode", "distribution")

    def _check_scale(self, name: str, value) -> None:
        """`scale = gain**2` must be a positive finite float (no underflow to 0, no overflow)."""
        if not 0 < self.gain**2 < math.inf:
            raise ValueError(
                f"Argument `{name}` gives gain {self.gain!r}, whose square (the variance scale) "
                f"is {self.gain**2!r}: it must be > 0 and finite. Received: {name}={value!r}"
            )

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        return super()._generate(shape, dtype)

    def _max_abs(self, shape):
        # uniform: |W| <= sqrt(3) std; untruncated normal: |W| < NORMAL_SIGMAS std.
        sigmas = math.sqrt(3.0) if self.distribution == "uniform" else _checks.NORMAL_SIGMAS
        args = {k: v for k, v in self.get_config().items()
                if k in ("gain", "negative_slope", "nonlinearity")}
        return sigmas * math.sqrt(self.variance(shape)), args

    def get_config(self):
        config = super().get_config()
        return {k: v for k, v in config.items() if k not in self._derived}


class _Xavier(_TorchScaling):
    distribution_name = ""

    def __init__(self, gain: float = 1.0, seed=None, input_axes=None, output_axes=None):
        self.gain = _checks.real("gain", gain, positive=True)
        if self.gain > 1e150:  # gain**2 would raise OverflowError
            raise ValueError(
                f"Argument `gain` must be <= 1e150, so that gain**2 (the variance scale) is "
                f"finite. Received: gain={gain!r}"
            )
        self._check_scale("gain", gain)
        super().__init__(
            scale=self.gain**2,
            mode="fan_avg",
            distribution=self.distribution_name,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


@register()
class XavierUniform(_Xavier):
    """Xavier uniform (torch's `xavier_uniform_`): `W ~ U[-l, l]`,
    `l = gain * sqrt(6 / (fan_in + fan_out))`.

    With `gain=1` this is `GlorotUniform`. For tanh/sigmoid/linear layers; pass
    `gain=calculate_gain("tanh")` to match torch code that does.

    Args:
        gain: positive scaling factor (default 1.0).
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.XavierUniform(gain=keras_inits.calculate_gain("tanh"), seed=0)
    >>> keras.layers.Dense(8, activation="tanh", kernel_initializer=init)

    Reference: Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    distribution_name = "uniform"


@register()
class XavierNormal(_Xavier):
    """Xavier normal (torch's `xavier_normal_`): `W ~ N(0, s**2)`, untruncated,
    `s = gain * sqrt(2 / (fan_in + fan_out))`.

    Unlike Keras' `GlorotNormal` (truncated at 2 std), the normal is not truncated.

    Args:
        gain: positive scaling factor (default 1.0).
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> keras.layers.Dense(8, kernel_initializer=keras_inits.XavierNormal(seed=0))

    Reference: Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    distribution_name = "untruncated_normal"


class _Kaiming(_TorchScaling):
    distribution_name = ""

    def __init__(
        self,
        negative_slope: float = 0.0,
        mode: TorchMode = "fan_in",
        nonlinearity: str = "leaky_relu",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        self.negative_slope = _checks.real("negative_slope", negative_slope)
        mode = _checks.choice("mode", mode, TORCH_MODES)
        if not isinstance(nonlinearity, str):
            raise TypeError(
                "Argument `nonlinearity` must be an activation name such as 'relu'. "
                f"Received: nonlinearity={nonlinearity!r}"
            )
        self.nonlinearity = _canonical(nonlinearity)
        # As torch: the slope only matters for leaky_relu (calculate_gain ignores it otherwise).
        param = self.negative_slope if self.nonlinearity == "leaky_relu" else None
        self.gain = calculate_gain(self.nonlinearity, param)
        self._check_scale("negative_slope", negative_slope)
        super().__init__(
            scale=self.gain**2,
            mode=mode,
            distribution=self.distribution_name,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "negative_slope": self.negative_slope,
            "mode": self.mode,
            "nonlinearity": self.nonlinearity,
        }


@register()
class KaimingUniform(_Kaiming):
    """Kaiming uniform (torch's `kaiming_uniform_`): `W ~ U[-l, l]`, `l = gain * sqrt(3 / fan)`,
    `gain = calculate_gain(nonlinearity, negative_slope)`, `fan` = fan_in, fan_out or
    sqrt(fan_in * fan_out) by `mode`.

    With the defaults (`leaky_relu` with slope 0, `gain = sqrt(2)`) this is `HeUniform`.

    Args:
        negative_slope: leaky_relu's negative slope, used only when
            `nonlinearity="leaky_relu"` (default 0.0, as torch's `a`).
        mode: `"fan_in"` (default; preserves activations' variance), `"fan_out"`
            (gradients') or `"fan_geo_avg"` (`sqrt(fan_in * fan_out)`, as jax.nn.initializers).
        nonlinearity: any name `calculate_gain` knows (default `"leaky_relu"`).
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.KaimingUniform(negative_slope=0.2, seed=0)
    >>> keras.layers.Conv2D(16, 3, activation=keras.layers.LeakyReLU(0.2), kernel_initializer=init)

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    distribution_name = "uniform"


@register()
class KaimingNormal(_Kaiming):
    """Kaiming normal (torch's `kaiming_normal_`): `W ~ N(0, s**2)`, untruncated,
    `s = gain / sqrt(fan)`, `gain = calculate_gain(nonlinearity, negative_slope)`, `fan` =
    fan_in, fan_out or sqrt(fan_in * fan_out) by `mode`.

    With the defaults (`gain = sqrt(2)`) it has He's variance `2 / fan_in`, but unlike Keras'
    `HeNormal` it is not truncated.

    Args:
        negative_slope: leaky_relu's negative slope, used only when
            `nonlinearity="leaky_relu"` (default 0.0, as torch's `a`).
        mode: `"fan_in"` (default), `"fan_out"` or `"fan_geo_avg"` (`sqrt(fan_in * fan_out)`).
        nonlinearity: any name `calculate_gain` knows (default `"leaky_relu"`).
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.KaimingNormal(mode="fan_out", nonlinearity="relu", seed=0)
    >>> keras.layers.Conv2D(64, 3, activation="relu", kernel_initializer=init)  # torchvision ResNet

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    distribution_name = "untruncated_normal"
