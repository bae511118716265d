"""ZerO (Zhao et al.): a deterministic start from only zeros, ones and a Hadamard matrix.

Not to be confused with `Zeros` (all zeros, in `constant.py`).
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from keras_inits import _checks
from keras_inits._registry import register
from keras_inits.base import Initializer


def hadamard(rows: int, cols: int) -> np.ndarray:
    """The top-left `(rows, cols)` block of Sylvester's Hadamard matrix: `(-1)**popcount(i & j)`."""
    bits = np.arange(rows)[:, None] & np.arange(cols)[None, :]
    parity = np.zeros_like(bits)
    while bits.any():
        parity ^= bits & 1
        bits = bits >> 1
    return 1.0 - 2.0 * parity


def zero_matrix(m: int, n: int) -> np.ndarray:
    """The ZerO `(m, n)` matrix in Keras' `(in, out)` layout (see `ZerO`)."""
    if n <= m:
        return np.eye(m, n)
    p = 1 << (n - 1).bit_length()  # 2**ceil(log2(n))
    return hadamard(m, n) / math.sqrt(p)


@register("ZerOInit")
class ZerO(Initializer):
    """ZerO: for an `(m, n) = (in, out)` kernel, `W = I_{m x n}` if `n <= m`, else
    `W = H_p[:m, :n] / sqrt(p)`, `p = 2**ceil(log2(n))`.

    - `n == m`: the identity.
    - `n < m` (narrowing): the partial identity, `W[i, j] = 1` if `i == j` else 0; the layer
      keeps the first `n` inputs.
    - `n > m` (widening): `H_p` is Sylvester's `p x p` Hadamard matrix,
      `H_p[i, j] = (-1)**popcount(i & j)`, so `W[i, j] = +-1/sqrt(p)`. `W` has full rank `m`
      (its rows are orthogonal when `n = p`), so the input spreads over all outputs and no
      direction is lost, where a partial identity would leave `n - m` outputs dead.
    - Conv kernels `(*kernel, m, n)`: that matrix at the centre tap `(k - 1) // 2` of each axis
      (see `keras_inits.schemes.conv`), zeros elsewhere.

    This is the paper's Algorithm 1 (for the torch `(out, in)` matrix, transposed; the Hadamard
    block is symmetric) and Algorithm 2 for convolutions, whose reference code puts the matrix
    at tap `k // 2` (the same for odd `k`). Deterministic: no seed. Use it with zero-initialized
    residual branches (ZerO's ResNets) or to start a deep net from the identity.

    Example:

    >>> w = keras.ops.convert_to_numpy(keras_inits.ZerO()((4, 8)))  # +-1/sqrt(8) Hadamard rows
    >>> bool(np.all(np.abs(w) == np.float32(1 / math.sqrt(8))))
    True
    >>> layer = keras.layers.Dense(256, kernel_initializer="ZerO")

    Reference: Zhao et al. 2022, "ZerO Initialization: Initializing Neural Networks with only
    Zeros and Ones", https://arxiv.org/abs/2110.12661
    """

    example_shapes = ((16, 32), (32, 16), (3, 3, 8, 16), (12, 12))

    def __init__(self):
        """Takes no arguments (so a stray one, or a config key, is a clear TypeError)."""

    def _check_shape(self, shape):
        _checks.rank("ZerO", shape, minimum=2)

    def _generate(self, shape, dtype):
        matrix = zero_matrix(shape[-2], shape[-1])
        w = np.zeros(shape, dtype="float64")
        w[tuple((k - 1) // 2 for k in shape[:-2])] = matrix
        return ops.convert_to_tensor(
            w.astype("float32" if dtype != "float64" else "float64"), dtype=dtype
        )

    def get_config(self):
        return {}
