"""Convolution kernels that make a conv layer an identity or an isometry at initialization.

Kernels are Keras-shaped `(*kernel, in, out)` (Conv1D/2D/3D, any `data_format`). The "centre
tap" of a kernel dimension of size `k` is `(k - 1) // 2` in every scheme here: the tap that a
`padding="same"` convolution aligns with the output position on every backend (Keras pads
`(k - 1) // 2` before and `k // 2` after). For odd `k` it is the middle; for even `k` it is the
left of the two middle taps. jax's `delta_orthogonal` uses the same tap; torch's `dirac_` uses
`k // 2`, which differs only for even `k`.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.base import Initializer, RandomInitializer


def centre_mask(kernel: tuple[int, ...]) -> np.ndarray:
    """A `(*kernel, 1, 1)` float array: 1 at the centre tap `(k - 1) // 2` of every axis, else 0."""
    mask = np.zeros(tuple(kernel) + (1, 1), dtype="float32")
    mask[tuple((k - 1) // 2 for k in kernel)] = 1.0
    return mask


def _conv_rank(owner: str, shape) -> None:
    if len(shape) < 3:
        raise ValueError(
            f"`{owner}` needs a convolution kernel `(*kernel, in, out)` of rank >= 3 (Conv1D: 3, "
            f"Conv2D: 4, Conv3D: 5); use `Identity` or `Orthogonal` for Dense kernels. "
            f"Received: shape={shape} (rank {len(shape)})."
        )


def _in_le_out(owner: str, shape) -> None:
    if math.prod(shape) and shape[-2] > shape[-1]:
        raise ValueError(
            f"`{owner}` needs in_channels <= out_channels (shape[-2] <= shape[-1]), since "
            f"an orthogonal in x out matrix with in > out cannot preserve norms. Received: "
            f"shape={shape}"
        )


@register("ConvolutionDeltaOrthogonal")
class DeltaOrthogonal(RandomInitializer):
    """Delta-orthogonal: `W[c] = gain * Q` at the centre tap `c`, `W = 0` at every other tap.

    `Q` is a Haar-random `(in, out)` matrix with orthonormal rows (`in <= out`), and the
    centre tap is `c = ((k_1 - 1) // 2, ..., (k_d - 1) // 2)` (see the module docstring). At
    initialization the convolution is then the 1x1 convolution by `gain * Q`, an isometry of
    the channels at every position, which enables training very deep plain CNNs (dynamical
    isometry). As jax's `delta_orthogonal` and TF1's `ConvolutionDeltaOrthogonal`.

    Args:
        gain: multiplicative factor, > 0 (default 1.0), as in `Orthogonal`.
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Raises:
        ValueError: at call time, if the shape is not a conv kernel or `in > out`.

    Example:

    >>> kernel = keras_inits.DeltaOrthogonal(seed=0)((3, 3, 16, 32))
    >>> layer = keras.layers.Conv2D(32, 3, padding="same", kernel_initializer="delta_orthogonal")

    Reference: Xiao et al. 2018, "Dynamical Isometry and a Mean Field Theory of CNNs",
    https://arxiv.org/abs/1806.05393
    """

    example_shapes = ((3, 8, 16), (3, 3, 8, 16), (3, 3, 3, 4, 4), (4, 2, 2))

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain = _checks.real("gain", gain, positive=True)
        super().__init__(seed=seed)

    def _check_shape(self, shape):
        _conv_rank("DeltaOrthogonal", shape)
        _in_le_out("DeltaOrthogonal", shape)

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        cdtype = _sampling.compute_dtype(dtype)
        xp = _sampling.ops_for(dtype)  # numpy eagerly on JAX/CPU: no compile per shape
        q = _sampling.orthogonal(shape[-2], shape[-1], cdtype, self.seed, xp)
        mask = xp.convert_to_tensor(centre_mask(shape[:-2]), dtype=cdtype)
        return ops.cast(self.gain * mask * q, dtype)

    def _max_abs(self, shape):
        # |Q[i, j]| <= 1 for orthonormal rows or columns; the 1.001 absorbs QR's rounding.
        return 1.001 * self.gain, {"gain": self.gain}

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


def _two_tap_conv(kernel, projection, axis, xp):
    """`K * [P, I - P]` along `axis`: the full convolution `R[t] = K[t] P + K[t-1] (I - P)`.

    Written as `R = K_1 + (K_0 - K_1) P` with `K_0`, `K_1` the kernel padded by one tap after,
    resp. before, along `axis`: two pads and one matmul.
    """
    rank = len(kernel.shape)
    after = [(0, 0)] * rank
    before = [(0, 0)] * rank
    after[axis], before[axis] = (0, 1), (1, 0)
    k0, k1 = xp.pad(kernel, after), xp.pad(kernel, before)
    return k1 + xp.matmul(k0 - k1, projection)


def orthogonal_conv_kernel(kernel, cin, cout, dtype, seed, xp=ops):
    """Xiao et al.'s block-orthogonal kernel of shape `(*kernel, cin, cout)`, cin <= cout.

    `W[t] = H @ K[t]`, `H` the first `cin` rows of a Haar orthogonal `cout x cout` matrix and
    `K` the full matrix-valued convolution of 2-tap kernels `[P, I - P]`, one per step and
    kernel axis still growing, each along its own axis. TF1 convolves with
    `block_orth(P_1, ..., P_d)`, whose tap `s` is `prod_i (P_i if s_i = 0 else I - P_i)`: that
    is exactly the convolution of the per-axis 2-tap kernels, so both build the same kernel.
    All randomness comes from one normal draw (two draws from one int seed would be
    correlated): the first matrix gives `H`, each later one a symmetric projection
    `P = (Q diag(m)) (Q diag(m))^T` with `Q` Haar and the mask `m_j = [x_j > 0]` read off
    the draw's extra last row. `xp` is `keras.ops` or `_sampling.HOST_OPS` (numpy).
    """
    n = cout
    num_projections = sum(k - 1 for k in kernel)
    draw = _sampling.standard_normal((1 + num_projections, n + 1, n), dtype, seed, xp)
    q = _sampling.haar_q(draw[:, :n, :])
    result = xp.reshape(xp.eye(n, dtype=dtype), (1,) * len(kernel) + (n, n))
    if num_projections:
        mask = xp.cast(draw[1:, n, :] > 0, dtype)
        c = q[1:] * xp.expand_dims(mask, -2)
        projections = xp.matmul(c, xp.transpose(c, (0, 2, 1)))
        index = 0
        for step in range(max(kernel) - 1):
            for axis, k in enumerate(kernel):
                if k - 1 > step:  # this axis still grows
                    result = _two_tap_conv(result, projections[index], axis, xp)
                    index += 1
    return xp.matmul(q[0][:cin, :], result)


@register("ConvolutionOrthogonal1D", "ConvolutionOrthogonal2D", "ConvolutionOrthogonal3D")
class ConvolutionOrthogonal(RandomInitializer):
    """Orthogonal convolution (Xiao et al.): the kernel `W` makes the circular convolution an
    isometry times `gain`, `||conv(x, W)|| = gain * ||x||` for every input `x`.

    `W[t] = gain * H @ K[t]`, `t` the kernel taps. `H` is the first `in` rows of a Haar
    orthogonal `out x out` matrix. `K = B_1 * B_2 * ... * B_{k-1}` is a full matrix-valued
    convolution (`(A * B)[t] = sum_{u+v=t} A[u] B[v]`) of 2-tap factors
    `B[s] = prod_d (P_d if s_d = 0 else I - P_d)`, each `P_d` a random symmetric projection
    `(Q diag(m))(Q diag(m))^T` (`Q` Haar, `m` a fair 0/1 mask): each factor is an orthogonal
    convolution, so their product is one. This is TF1's
    `ConvolutionOrthogonal1D/2D/3D` for equal kernel sizes; unequal sizes (e.g. `(3, 1)`) are
    supported too, an axis stopping to grow once it reaches its size. The isometry is exact
    with circular padding; zero padding loses it near the borders.

    Args:
        gain: multiplicative factor, > 0 (default 1.0), as in `Orthogonal`.
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Raises:
        ValueError: at call time, if the shape is not a conv kernel or `in > out`.

    Example:

    >>> kernel = keras_inits.ConvolutionOrthogonal(seed=0)((3, 3, 16, 16))
    >>> layer = keras.layers.Conv2D(16, 3, padding="same",
    ...                             kernel_initializer="convolution_orthogonal")

    Reference: Xiao et al. 2018, "Dynamical Isometry and a Mean Field Theory of CNNs",
    http://proceedings.mlr.press/v80/xiao18a.html
    """

    example_shapes = ((3, 8, 16), (3, 3, 8, 8), (2, 2, 2, 4, 8), (3, 1, 4, 4))

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain = _checks.real("gain", gain, positive=True)
        super().__init__(seed=seed)

    def _check_shape(self, shape):
        _conv_rank("ConvolutionOrthogonal", shape)
        _in_le_out("ConvolutionOrthogonal", shape)

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        cdtype = _sampling.compute_dtype(dtype)
        xp = _sampling.ops_for(dtype)  # numpy eagerly on JAX/CPU: no compile per shape
        w = orthogonal_conv_kernel(shape[:-2], shape[-2], shape[-1], cdtype, self.seed, xp)
        return ops.cast(self.gain * w, dtype)

    def _max_abs(self, shape):
        # Each tap H K[t] has spectral norm <= 1 (the convolution is an isometry), so its
        # entries are <= 1 in magnitude; the 1.001 absorbs QR's rounding.
        return 1.001 * self.gain, {"gain": self.gain}

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


@register()
class Dirac(Initializer):
    """Dirac (identity) conv kernel: `W[c, i, g * m + i] = 1` for `i < min(m, in)` and each
    group `g`, `W = 0` elsewhere.

    `c` is the centre tap `(k - 1) // 2` of every kernel axis, `in = shape[-2]` the input
    channels per group and `m = shape[-1] / groups` the output channels per group. A conv with
    `padding="same"` then copies its input: output channel `g * m + i` is input channel `i` of
    group `g` (for `groups=1`, the first `min(in, out)` channels; extra outputs are zero).
    Use `groups` equal to the layer's `groups`. For even kernel sizes the tap is the left of the
    two middle ones, the one Keras' "same" padding aligns (torch's `dirac_` uses `k // 2`).

    Args:
        groups: positive int dividing `shape[-1]` (default 1).

    Example:

    >>> conv = keras.layers.Conv2D(16, 3, padding="same", kernel_initializer=keras_inits.Dirac())
    >>> grouped = keras.layers.Conv1D(8, 4, padding="same", groups=2,
    ...                               kernel_initializer=keras_inits.Dirac(2))

    Reference: torch.nn.init.dirac_; Zagoruyko & Komodakis 2017, "DiracNets",
    https://arxiv.org/abs/1706.00388
    """

    integer_dtypes = True
    example_shapes = ((3, 8, 8), (3, 3, 4, 8), (3, 3, 3, 2, 2), (4, 4, 6, 4))

    def __init__(self, groups: int = 1):
        self.groups = _checks.integer("groups", groups, minimum=1)

    def _check_shape(self, shape):
        _conv_rank("Dirac", shape)
        if shape[-1] % self.groups:
            raise ValueError(
                f"`Dirac` needs `groups` to divide the output channels shape[-1]. "
                f"Received: groups={self.groups}, shape={shape}"
            )

    def _generate(self, shape, dtype):
        per_group = shape[-1] // self.groups
        w = np.zeros(shape, dtype="float32")
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        for g in range(self.groups):
            for i in range(min(per_group, shape[-2])):
                w[centre + (i, g * per_group + i)] = 1.0
        return ops.convert_to_tensor(w, dtype=dtype)

    def get_config(self):
        return {"groups": self.groups}
