"""Orthogonal schemes.

An orthogonal `W` preserves the norm of every vector it maps (all singular values equal `gain`),
so the signal neither shrinks nor grows however many times it is applied: the recommended start
for recurrent kernels (Saxe et al. 2014).
"""

from __future__ import annotations

import math

from keras import ops

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.base import RandomInitializer


@register("OrthogonalInitializer")
class Orthogonal(RandomInitializer):
    """Orthogonal: `W = gain * Q`, `Q` Haar-random with orthonormal columns (or rows if wider).

    The tensor is filled as a `(prod(shape[:-1]), shape[-1])` matrix and reshaped. `Q` is the QR
    factor of a standard normal matrix with its columns multiplied by `sign(diag(R))`. It is
    computed in float32 and cast, so float16 and bfloat16 work on every backend (Keras' built-in
    fails there).

    Args:
        gain: multiplicative factor (default 1.0).
        seed: None, an int or a `keras.random.SeedGenerator`.

    Example:

    >>> keras.layers.LSTM(32, recurrent_initializer=keras_inits.Orthogonal(seed=0))

    Reference: Saxe et al. 2014, https://arxiv.org/abs/1312.6120
    """

    example_shapes = ((16, 32), (32, 16), (3, 3, 8, 16))

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain = _checks.real("gain", gain)
        super().__init__(seed=seed)

    def _check_shape(self, shape):
        _checks.rank("Orthogonal", shape, minimum=2)

    def _generate(self, shape, dtype):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q = _sampling.orthogonal(rows, cols, _sampling.compute_dtype(dtype), self.seed)
        return ops.cast(self.gain * ops.reshape(q, shape), dtype)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}
