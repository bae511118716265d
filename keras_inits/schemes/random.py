"""Fixed-scale random schemes: RandomNormal, RandomUniform, TruncatedNormal.

Seeding follows Keras; see `keras_inits.base` and the README.
"""

from __future__ import annotations

import math

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.base import RandomInitializer


@register("normal")
class RandomNormal(RandomInitializer):
    """Normal: `W ~ N(mean, stddev**2)`.

    Args:
        mean: the mean (default 0.0).
        stddev: the standard deviation, >= 0 (default 0.05).
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Example:

    >>> w = keras_inits.RandomNormal(stddev=0.02, seed=0)((256, 256))
    >>> round(float(keras.ops.std(w)), 3)
    0.02
    >>> layer = keras.layers.Dense(4, kernel_initializer=keras_inits.RandomNormal(stddev=0.02))
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        self.mean = _checks.real("mean", mean)
        self.stddev = _checks.real("stddev", stddev, nonnegative=True)
        super().__init__(seed=seed)

    def _generate(self, shape, dtype):
        return _sampling.normal(shape, dtype, self.seed, self.mean, self.stddev)

    def _max_abs(self, shape):
        bound = abs(self.mean) + _checks.NORMAL_SIGMAS * self.stddev
        return bound, {"mean": self.mean, "stddev": self.stddev}

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


@register("uniform")
class RandomUniform(RandomInitializer):
    """Uniform: `W ~ U[minval, maxval)`.

    Args:
        minval: lower bound, inclusive (default -0.05).
        maxval: upper bound, exclusive, >= minval (default 0.05).
        seed: None, an int or a `keras.random.SeedGenerator`.

    Example:

    >>> w = keras_inits.RandomUniform(-0.1, 0.1, seed=0)((256, 256))
    >>> -0.1 <= float(keras.ops.min(w)) and float(keras.ops.max(w)) < 0.1
    True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed=None):
        self.minval = _checks.real("minval", minval)
        self.maxval = _checks.real("maxval", maxval)
        if self.maxval < self.minval:
            raise ValueError(
                "Argument `maxval` must be >= `minval`. "
                f"Received: minval={minval!r}, maxval={maxval!r}"
            )
        super().__init__(seed=seed)

    def _generate(self, shape, dtype):
        return _sampling.uniform(shape, dtype, self.seed, self.minval, self.maxval)

    def _max_abs(self, shape):
        # The sampler computes minval + (maxval - minval) * u: the width must fit as well.
        bound = max(abs(self.minval), abs(self.maxval), self.maxval - self.minval)
        return bound, {"minval": self.minval, "maxval": self.maxval}

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


@register()
class TruncatedNormal(RandomInitializer):
    """Exact truncated normal: `W ~ N(mean, stddev**2)` restricted to
    `[mean + lower*stddev, mean + upper*stddev]`.

    As in Keras, `stddev` is the standard deviation *before* truncation, and the defaults cut at
    two standard deviations. Unlike Keras' torch backend, no sample ever falls outside the
    bounds: samples come from the inverse CDF of the truncated law, not from re-drawing.

    Args:
        mean: the mean (default 0.0).
        stddev: the standard deviation before truncation, >= 0 (default 0.05).
        seed: None, an int or a `keras.random.SeedGenerator`.
        lower: lower bound in units of `stddev` (default -2.0, as Keras).
        upper: upper bound in units of `stddev`, > lower (default 2.0, as Keras).

    Example:

    >>> w = keras_inits.TruncatedNormal(stddev=0.02, seed=0)((256, 256))
    >>> float(keras.ops.max(keras.ops.abs(w))) <= 0.04  # never beyond 2 stddev
    True
    >>> w = keras_inits.TruncatedNormal(stddev=1.0, lower=-3.0, upper=3.0, seed=0)((256, 256))
    >>> float(keras.ops.max(keras.ops.abs(w))) <= 3.0
    True
    """

    def __init__(
        self,
        mean: float = 0.0,
        stddev: float = 0.05,
        seed=None,
        lower: float = -2.0,
        upper: float = 2.0,
    ):
        self.mean = _checks.real("mean", mean)
        self.stddev = _checks.real("stddev", stddev, nonnegative=True)
        self.lower = _checks.real("lower", lower)
        self.upper = _checks.real("upper", upper)
        if self.upper <= self.lower:
            raise ValueError(
                "Argument `upper` must be > `lower` (both in units of stddev). "
                f"Received: lower={lower!r}, upper={upper!r}"
            )
        # Phi(upper) - Phi(lower), accurate in either tail (erfc of the far side).
        if self.lower >= 0:
            mass = 0.5 * (
                math.erfc(self.lower / math.sqrt(2)) - math.erfc(self.upper / math.sqrt(2))
            )
        elif self.upper <= 0:
            mass = 0.5 * (
                math.erfc(-self.upper / math.sqrt(2)) - math.erfc(-self.lower / math.sqrt(2))
            )
        else:
            mass = 1.0 - 0.5 * (
                math.erfc(-self.lower / math.sqrt(2)) + math.erfc(self.upper / math.sqrt(2))
            )
        if mass < 1e-4:
            raise ValueError(
                "Arguments `lower` and `upper` must keep at least 1e-4 of the normal's mass "
                f"(here {mass:.3g}): the inverse-CDF draw in float32 cannot resolve an interval "
                "this far in a tail, and would return the bound instead of the law. "
                f"Received: lower={lower!r}, upper={upper!r}"
            )
        super().__init__(seed=seed)

    def _generate(self, shape, dtype):
        return _sampling.truncated_normal(
            shape, dtype, self.seed, self.mean, self.stddev, self.lower, self.upper
        )

    def _max_abs(self, shape):
        sigmas = min(max(abs(self.lower), abs(self.upper)), _checks.NORMAL_SIGMAS)
        return abs(self.mean) + sigmas * self.stddev, {"mean": self.mean, "stddev": self.stddev}

    def get_config(self):
        return {
            **super().get_config(),
            "mean": self.mean,
            "stddev": self.stddev,
            "lower": self.lower,
            "upper": self.upper,
        }
