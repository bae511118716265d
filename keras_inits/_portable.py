"""The portable stream: jax.random's values on TensorFlow and PyTorch (`seeding(portable=True)`).

The canonical stream is the one Keras on JAX draws: threefry-2x32 keyed by Keras' JAX seed
(`[seed, 0]` as uint32 for an int seed), counting the flat index of each element (jax's
partitionable counters), then jax.random's transforms (`_sampling._transform`). On JAX the
samplers already draw exactly that. Here are the same bits and transforms on the two others:

- **TensorFlow**: threefry and the transform in uint32/float32 ops compiled by XLA
  (`tf.function(jit_compile=True)`), so every law is *byte-identical* to JAX: XLA lowers
  `tf.math.erfinv` with the same algorithm as `jax.lax.erf_inv` and contracts the same
  multiply-adds into FMAs. One program per law and block size: tensors up to `BLOCK` elements
  take the smallest of a few fixed sizes (`BLOCK_SIZES`) and are sliced, larger ones get their
  own program (about 1x the output in memory).
- **PyTorch**: threefry in wrapping int32 arithmetic (a logical shift is an arithmetic one
  masked), in chunks of `TORCH_CHUNK` elements written into the output. The uniform's
  multiply-add is computed in float64 and rounded once, which is the FMA XLA uses (the product
  is exact in float64), so the uniform family is byte-identical. `erfinv` is jax's (Giles'
  single-precision polynomial, as XLA's `ErfInv`) with FMA Horner steps, but its
  `log1p(-x*x)` is torch's, correctly rounded, where XLA's own approximation can differ by an
  ulp: normal and truncated-normal values differ from JAX's by at most `NORMAL_ULPS` ulps
  (measured: most are identical).
"""

from __future__ import annotations

import functools
import math
import os

import keras
import numpy as np
from keras import ops

#: The largest difference, in float32 ulps, between portable normal / truncated-normal values
#: on PyTorch and JAX's (TensorFlow and the uniform family: none).
NORMAL_ULPS = 4
#: TensorFlow: tensors up to this many elements use one of the programs of `BLOCK_SIZES`.
BLOCK = 1 << 20
BLOCK_SIZES = tuple(1 << k for k in range(10, 21, 2))
#: PyTorch: elements per chunk, filled by parallel threads. At 2**15 torch runs each op on one
#: thread (its grain size), so the chunks don't compete for the intra-op pool, and a chunk's
#: temporaries stay in cache.
TORCH_CHUNK = 1 << 15

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA  # threefry's key-schedule constant
# Giles' single-precision erfinv (XLA's ErfInv): coefficients for w < 5 and w >= 5.
_ERFINV_SMALL = (
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
)
_ERFINV_LARGE = (
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
)
SQRT2 = math.sqrt(2.0)


def sample(kind: str, shape, dtype: str, seed, params: tuple):
    """Values of law `kind` ("uniform", "normal", "truncated"; `params` as for
    `_sampling._transform`), exactly or nearly as `jax.random` draws them for Keras' JAX seed."""
    n = math.prod(shape)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        x = _tf_sample(kind, n, _tf_key(seed), params)
    elif backend == "torch":
        x = _torch_sample(kind, n, _int_key(seed), params)
    else:
        raise NotImplementedError(f"No portable stream for the {backend!r} backend.")
    return ops.cast(ops.reshape(x, shape), dtype)


def threefry(key, x1, x2, add, xor, rotate):
    """Threefry-2x32 (20 rounds) of counters `(x1, x2)` under `key`, as jax's, returned as
    `x1 ^ x2` (jax.random's bits); `add`, `xor` and `rotate` are the backend's uint32 ops."""
    keys = (key[0], key[1], xor(xor(key[0], key[1]), _PARITY))
    x1, x2 = add(x1, keys[0]), add(x2, keys[1])
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = add(x1, x2)
            x2 = xor(x1, rotate(x2, r))
        x1 = add(x1, keys[(i + 1) % 3])
        x2 = add(add(x2, keys[(i + 2) % 3]), i + 1)
    return xor(x1, x2)


def _int_key(seed) -> tuple[int, int]:
    """Keras' JAX seed for `seed`, as two Python ints in [0, 2**32)."""
    if isinstance(seed, int):
        return seed & 0xFFFFFFFF, 0
    from keras.src.random.seed_generator import draw_seed

    words = np.asarray(ops.convert_to_numpy(draw_seed(seed))).astype(np.int64) & 0xFFFFFFFF
    return int(words[0]), int(words[1])


# --------------------------------------------------------------------------------------------
# TensorFlow: XLA-compiled programs.


def _tf_key(seed):
    import tensorflow as tf

    if isinstance(seed, int):
        return tf.constant(_int_key(seed), tf.uint32)
    from keras.src.random.seed_generator import draw_seed

    words = tf.bitwise.bitwise_and(tf.cast(draw_seed(seed), tf.int64), 0xFFFFFFFF)
    return tf.cast(words, tf.uint32)


def _tf_sample(kind, n, key, params):
    import tensorflow as tf

    params = tf.constant(tuple(params) + (0.0,) * (6 - len(params)), tf.float32)
    size = next((s for s in BLOCK_SIZES if s >= n), n)
    program = _tf_program(kind, size)
    if tf.executing_eagerly():
        x = program(key, params)
    else:
        # Inside a tf.function TF runs a nested XLA function with other rounding (no FMAs,
        # TF's erfinv): call it eagerly from the graph instead.
        x = tf.numpy_function(
            lambda k, p: program(k, p).numpy(), [key, params], tf.float32, stateful=False
        )
        x.set_shape([size])
    return x if size == n else x[:n]


@functools.lru_cache(maxsize=64)
def _tf_program(kind: str, size: int):
    import tensorflow as tf

    def rotate(x, d):
        return tf.bitwise.bitwise_or(
            tf.bitwise.left_shift(x, np.uint32(d)), tf.bitwise.right_shift(x, np.uint32(32 - d))
        )

    def xor(a, b):
        return tf.bitwise.bitwise_xor(a, tf.cast(b, tf.uint32) if isinstance(b, int) else b)

    def add(a, b):
        return a + (np.uint32(b) if isinstance(b, int) else b)

    signature = [tf.TensorSpec([2], tf.uint32), tf.TensorSpec([6], tf.float32)]

    @tf.function(input_signature=signature, jit_compile=True, autograph=False)
    def draw(key, params):
        counters = tf.bitcast(tf.range(size, dtype=tf.int32), tf.uint32)  # size < 2**31
        bits = threefry((key[0], key[1]), tf.zeros_like(counters), counters, add, xor, rotate)
        return _tf_transform(kind, bits, tf.unstack(params))

    return draw


def _tf_transform(kind, bits, params):
    """`_sampling._transform`, op for op, in TF (XLA fuses and contracts it as jax's)."""
    import tensorflow as tf

    def uniform(lo, hi):
        mantissa = tf.bitwise.bitwise_or(
            tf.bitwise.right_shift(bits, np.uint32(9)), np.uint32(0x3F800000)
        )
        floats = tf.bitcast(mantissa, tf.float32) - 1.0
        return tf.maximum(lo, floats * (hi - lo) + lo)

    if kind == "uniform":
        return uniform(params[0], params[1])
    if kind == "normal":
        lo, hi, stddev, mean = params[:4]
        return np.float32(SQRT2) * tf.math.erfinv(uniform(lo, hi)) * stddev + mean
    lo, hi, lower, upper, stddev, mean = params
    x = tf.clip_by_value(tf.math.erfinv(uniform(lo, hi)) * np.float32(SQRT2), lower, upper)
    return x * stddev + mean


# --------------------------------------------------------------------------------------------
# PyTorch: int32 threefry in chunks.


def _wrap32(value: int) -> int:
    """`value mod 2**32` as the int32 with the same bits."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _torch_sample(kind, n, key, params):
    import torch
    from keras.src.backend.torch.core import get_device

    out = torch.empty(n, dtype=torch.float32, device=get_device())
    key = (_wrap32(key[0]), _wrap32(key[1]))

    def rotate(x, d):  # int32 `>>` is arithmetic: mask the sign's copies off
        return (x << d) | ((x >> (32 - d)) & ((1 << d) - 1))

    def add(a, b):
        return a + (_wrap32(b) if isinstance(b, int) else b)

    def xor(a, b):
        return a ^ (_wrap32(b) if isinstance(b, int) else b)

    def fill(start):
        size = min(TORCH_CHUNK, n - start)
        with torch.no_grad():
            counters = torch.arange(start, start + size, dtype=torch.int64, device=out.device)
            counters = (
                counters.to(torch.int32) if start + size <= 1 << 31 else _torch_low32(counters)
            )
            bits = threefry(key, torch.zeros_like(counters), counters, add, xor, rotate)
            _torch_transform(kind, bits, params, out[start : start + size])

    starts = range(0, n, TORCH_CHUNK)
    workers = min(torch.get_num_threads(), len(starts))
    if workers > 1 and out.device.type == "cpu":
        from keras_inits._sampling import _torch_pool

        list(_torch_pool(workers, os.getpid()).map(fill, starts))
    else:
        for start in starts:
            fill(start)
    return out


def _torch_low32(counters):
    import torch

    return (counters & 0xFFFFFFFF).sub_((counters & 0x80000000) << 1).to(torch.int32)


def _torch_transform(kind, bits, params, out):
    """`_sampling._transform` into `out`, rounding as XLA's fused kernel does."""
    import torch

    def uniform(lo, hi):  # fma(floats, hi - lo, lo): the product is exact in float64
        lo, hi = np.float32(lo), np.float32(hi)
        mantissa = ((bits >> 9) & 0x7FFFFF) | 0x3F800000
        floats = mantissa.view(torch.float32).sub_(1.0).double()
        values = floats.mul_(float(hi - lo)).add_(float(lo)).float()
        return values.clamp_(min=float(lo))

    if kind == "uniform":
        return out.copy_(uniform(*params))
    if kind == "normal":
        lo, hi, stddev, mean = params  # XLA folds sqrt(2) * erfinv(u) * stddev as below
        return out.copy_(
            _torch_fma(_erfinv(uniform(lo, hi)), np.float32(SQRT2) * np.float32(stddev), mean)
        )
    lo, hi, lower, upper, stddev, mean = params
    x = _erfinv(uniform(lo, hi)).mul_(float(np.float32(SQRT2)))
    x = x.clamp_(float(np.float32(lower)), float(np.float32(upper)))
    return out.copy_(_torch_fma(x, stddev, mean))


def _torch_fma(x, scale, shift):
    """`x * scale + shift` rounded once (as XLA's FMA); exactly `x * scale` when shift is 0."""
    scale, shift = float(np.float32(scale)), float(np.float32(shift))
    if shift == 0.0:
        return x.mul_(scale)
    return x.double().mul_(scale).add_(shift).float()


def _erfinv(x):
    """XLA's float32 ErfInv (Giles 2010) with FMA Horner steps; `log1p` is torch's."""
    import torch

    w = torch.log1p(-(x * x)).neg_()
    small = w < 5.0
    w = torch.where(small, w - 2.5, torch.sqrt(w) - 3.0).double()
    p = torch.where(small, _ERFINV_SMALL[0], _ERFINV_LARGE[0]).float()
    for a, b in zip(_ERFINV_SMALL[1:], _ERFINV_LARGE[1:]):
        coefficient = torch.where(small, float(np.float32(a)), float(np.float32(b))).double()
        p = p.double().mul_(w).add_(coefficient).float()  # fma: the product is exact in float64
    result = p.mul_(x)
    return torch.where(x.abs() == 1.0, x * float(np.finfo(np.float32).max), result)


# --------------------------------------------------------------------------------------------
# Orthogonal on TensorFlow: the Householder product of `_sampling.haar_q`, which torch and JAX
# take from LAPACK's `orgqr` and TensorFlow lacks.


def householder_product(v, tau):
    """`Q = H_1 ... H_k` (its first `k` columns), `H_j = I - tau_j v_j v_j^T`, for TensorFlow.

    The compact WY form `Q = I - V T V^T`, with `T` upper triangular and
    `T^-1 = diag(1 / tau) + striu(V^T V)` (Joffrain et al. 2006, "Accumulating Householder
    transformations, revisited"): two matrix products and a triangular solve, in float64 and
    rounded once, so the result is within float32 rounding of LAPACK's float32 `orgqr`.

    Args:
        v: Householder vectors, `(..., m, k)`, unit diagonal, zeros above it.
        tau: their scales, `(..., k)`.

    Returns:
        `(..., m, k)` orthonormal columns, in `v`'s dtype.
    """
    import tensorflow as tf

    dtype = v.dtype
    v, tau = tf.cast(v, tf.float64), tf.cast(tau, tf.float64)
    m, k = v.shape[-2], v.shape[-1]
    gram = tf.linalg.matmul(v, v, transpose_a=True)
    inverse_t = tf.linalg.band_part(gram, 0, -1) - tf.linalg.band_part(gram, 0, 0)
    inverse_t = inverse_t + tf.linalg.diag(1.0 / tau)
    t_v1 = tf.linalg.triangular_solve(
        inverse_t, tf.linalg.matrix_transpose(v[..., :k, :]), lower=False
    )
    eye = tf.eye(m, k, batch_shape=tf.shape(v)[:-2], dtype=tf.float64)
    return tf.cast(eye - tf.linalg.matmul(v, t_v1), dtype)
