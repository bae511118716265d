"""Sparse initialization (Martens 2010): most incoming weights of each unit are zero.

Each unit (column of the `(rows, cols)` view) gets the same number of zero incoming weights,
so every unit starts with a few strong, diverse inputs instead of many tiny ones.
"""

from __future__ import annotations

import math

from keras import ops

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.base import RandomInitializer


@register()
class Sparse(RandomInitializer):
    """Sparse: in each column, `z = ceil(sparsity * rows)` entries are 0 and the others are
    `N(0, stddev**2)`.

    The tensor is viewed as a `(rows, cols)` matrix, `rows = prod(shape[:-1])` (the fan-in of a
    Dense or Conv kernel), so each output unit has exactly `z` zero incoming weights, at
    positions chosen uniformly at random, independently per column. Vectorized: the zeros are
    the `z` lowest ranks of an independent normal draw per column. `sparsity * rows` is rounded
    to 9 decimals before the ceiling, so `0.3 * 10` gives 3 zeros (torch's `sparse_` gives 4).
    torch's `sparse_` zeroes entries in each column of its `(out, in)` weight, i.e. per
    *input* unit; this follows Martens' per-unit rule in Keras' `(in, out)` layout.

    Args:
        sparsity: fraction of each column set to zero, in [0, 1) (default 0.1); 1 would zero
            every weight, so it is refused (use `Zeros`).
        stddev: standard deviation of the non-zero entries, >= 0 (default 0.01).
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Example:

    >>> kernel = keras_inits.Sparse(sparsity=0.9, stddev=1.0, seed=0)((100, 10))
    >>> print(np.sum(keras.ops.convert_to_numpy(kernel) == 0, axis=0))  # 90 zeros per column
    [90 90 90 90 90 90 90 90 90 90]
    >>> layer = keras.layers.Dense(64, kernel_initializer=keras_inits.Sparse(0.9, 0.1))

    Reference: Martens 2010, "Deep learning via Hessian-free optimization",
    https://www.cs.toronto.edu/~jmartens/docs/Deep_HessianFree.pdf
    """

    example_shapes = ((16, 32), (3, 3, 8, 16))

    def __init__(self, sparsity: float = 0.1, stddev: float = 0.01, seed=None):
        self.sparsity = _checks.real("sparsity", sparsity)
        if not 0 <= self.sparsity < 1:
            raise ValueError(
                "Argument `sparsity` must be in [0, 1) (1 would zero every weight). "
                f"Received: sparsity={sparsity!r}"
            )
        self.stddev = _checks.real("stddev", stddev, nonnegative=True)
        super().__init__(seed=seed)

    def _check_shape(self, shape):
        _checks.rank("Sparse", shape, minimum=2)

    def zeros_per_column(self, shape) -> int:
        """`ceil(sparsity * rows)`, the number of zeros in each column."""
        return math.ceil(round(self.sparsity * math.prod(shape[:-1]), 9))

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        cdtype = _sampling.compute_dtype(dtype)
        xp = _sampling.ops_for(dtype)  # numpy eagerly on JAX/CPU: no compile per shape
        # One draw for values and positions: two calls with one int seed would be correlated.
        draw = _sampling.standard_normal((2, rows, cols), cdtype, self.seed, xp)
        ranks = xp.argsort(xp.argsort(draw[1], axis=0), axis=0)
        keep = ranks >= self.zeros_per_column(shape)
        w = xp.where(keep, draw[0] * self.stddev, xp.zeros_like(draw[0]))
        return ops.cast(xp.reshape(w, shape), dtype)

    def _max_abs(self, shape):
        return _checks.NORMAL_SIGMAS * self.stddev, {"stddev": self.stddev}  # untruncated normal

    def get_config(self):
        return {**super().get_config(), "sparsity": self.sparsity, "stddev": self.stddev}
