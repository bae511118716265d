"""Orthogonal schemes.

An orthogonal `W` preserves the norm of every vector it maps (all singular values equal `gain`),
so the signal neither shrinks nor grows however many times it is applied: the recommended start
for recurrent kernels (Saxe et al. 2014). `BlockOrthogonal` makes each gate block of a fused
LSTM/GRU recurrent kernel orthogonal on its own.
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
        gain: multiplicative factor, > 0 (default 1.0): every singular value equals `gain`. A
            negative gain would draw from the same law (`-Q` is Haar too), so it is refused as
            a likely mistake, and 0 gives no orthogonal matrix at all.
        seed: None, an int or a `keras.random.SeedGenerator`.

    Example:

    >>> lstm = keras.layers.LSTM(32, recurrent_initializer=keras_inits.Orthogonal(seed=0))

    Reference: Saxe et al. 2014, https://arxiv.org/abs/1312.6120
    """

    example_shapes = ((16, 32), (32, 16), (3, 3, 8, 16))

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain = _checks.real("gain", gain, positive=True)
        super().__init__(seed=seed)

    def _check_shape(self, shape):
        _checks.rank(
            "Orthogonal",
            shape,
            minimum=2,
            keras=(  # Keras' wording, then ours
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}. "
            ),
        )

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        xp = _sampling.ops_for(dtype)  # numpy eagerly on JAX/CPU: no compile per shape
        q = _sampling.orthogonal(rows, cols, _sampling.compute_dtype(dtype), self.seed, xp)
        q = xp.reshape(q, shape)
        return ops.cast(q if self.gain == 1.0 else self.gain * q, dtype)

    def _max_abs(self, shape):
        # |Q[i, j]| <= 1 for orthonormal rows or columns; the 1.001 absorbs QR's rounding.
        return 1.001 * self.gain, {"gain": self.gain}

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


@register()
class BlockOrthogonal(RandomInitializer):
    """Per-gate orthogonal: `W = [gain * Q_1, ..., gain * Q_k]`, each `Q_i` Haar-orthogonal.

    The tensor is filled as a `(rows, cols)` matrix, `rows = prod(shape[:-1])`, split along its
    columns into `k = num_blocks` blocks of width `b = cols / k`. Each block `Q_i` is an
    independent Haar-random `(rows, b)` matrix with orthonormal columns (or rows if `b > rows`),
    so a fused LSTM recurrent kernel `(u, 4u)` or GRU kernel `(u, 3u)` has every gate orthogonal
    with all singular values equal to `gain`. Keras' `Orthogonal` on the fused kernel does not:
    its gate blocks have singular values spread between about 0.001 and 0.87.

    Args:
        gain: multiplicative factor, > 0 (default 1.0), as in `Orthogonal`.
        num_blocks: the number of blocks `k`, a positive int dividing `shape[-1]`. Default None
            infers `k = cols / rows`, which needs `cols` to be a multiple of `rows` (square
            blocks, as in recurrent kernels).
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Example:

    >>> kernel = keras_inits.BlockOrthogonal(seed=0)((32, 128))  # 4 orthogonal (32, 32) blocks
    >>> lstm = keras.layers.LSTM(32, recurrent_initializer=keras_inits.BlockOrthogonal())
    >>> gru = keras.layers.GRU(32, recurrent_initializer="keras_inits>block_orthogonal")

    Reference: Saxe et al. 2014, https://arxiv.org/abs/1312.6120; Keras issue 9149.
    """

    example_shapes = ((8, 32), (16, 48), (12, 12), (2, 4, 24))

    def __init__(self, gain: float = 1.0, num_blocks: int | None = None, seed=None):
        self.gain = _checks.real("gain", gain, positive=True)
        self.num_blocks = (
            None if num_blocks is None else _checks.integer("num_blocks", num_blocks, minimum=1)
        )
        super().__init__(seed=seed)

    def _blocks(self, shape) -> int:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        if self.num_blocks is not None:
            if cols % self.num_blocks:
                raise ValueError(
                    f"`BlockOrthogonal` needs `num_blocks` to divide the last dimension. "
                    f"Received: num_blocks={self.num_blocks}, shape={shape}"
                )
            return self.num_blocks
        if cols < rows or cols % rows:
            raise ValueError(
                "`BlockOrthogonal` infers square blocks, so it needs shape[-1] to be a multiple "
                f"of prod(shape[:-1]) = {rows}; pass `num_blocks` otherwise. Received: "
                f"shape={shape}"
            )
        return cols // rows

    def _check_shape(self, shape):
        _checks.rank("BlockOrthogonal", shape, minimum=2)
        if math.prod(shape):
            self._blocks(shape)

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        k = self._blocks(shape)
        width = cols // k
        cdtype = _sampling.compute_dtype(dtype)
        xp = _sampling.ops_for(dtype)  # numpy eagerly on JAX/CPU: no compile per shape
        draw_shape = (k, max(rows, width), min(rows, width))
        a = _sampling.standard_normal(draw_shape, cdtype, self.seed, xp)
        q = _sampling.haar_q(a)  # (k, max, min)
        if rows < width:
            q = xp.transpose(q, (0, 2, 1))  # (k, rows, width)
        w = xp.reshape(xp.transpose(q, (1, 0, 2)), shape)  # blocks side by side along columns
        return ops.cast(self.gain * w, dtype)

    def _max_abs(self, shape):
        # |Q[i, j]| <= 1 for orthonormal rows or columns; the 1.001 absorbs QR's rounding.
        return 1.001 * self.gain, {"gain": self.gain}

    def get_config(self):
        return {**super().get_config(), "gain": self.gain, "num_blocks": self.num_blocks}
