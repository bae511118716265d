"""The samplers every scheme draws from, and the one place for backend-specific code.

All of it is `keras.ops` / `keras.random`, so it runs on TensorFlow, JAX and PyTorch and traces
under `jax.jit` with no host round-trip. Two rules hold everywhere:

- Half-precision outputs (float16, bfloat16) are computed in float32 and cast once at the end,
  so that QR and `erfinv` work and the values are as accurate as the dtype allows.
- The truncated normal is exact: it is the inverse CDF of a uniform draw restricted to the
  truncation interval, so no sample can fall outside the bounds, and it holds about two
  copies of the output at most (no rejection loop, no oversampling).
"""

from __future__ import annotations

import math

import keras
from keras import ops

SQRT2 = math.sqrt(2.0)


def compute_dtype(dtype: str) -> str:
    """The dtype to compute in: float32 for anything narrower, else `dtype` itself."""
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def normal(shape, dtype, seed, mean=0.0, stddev=1.0):
    """`N(mean, stddev**2)` samples."""
    x = keras.random.normal(shape, mean=mean, stddev=stddev, dtype=compute_dtype(dtype), seed=seed)
    return ops.cast(x, dtype)


def uniform(shape, dtype, seed, minval=0.0, maxval=1.0):
    """`U[minval, maxval)` samples."""
    x = keras.random.uniform(
        shape, minval=minval, maxval=maxval, dtype=compute_dtype(dtype), seed=seed
    )
    return ops.cast(x, dtype)


def truncated_normal(shape, dtype, seed, mean=0.0, stddev=1.0, lower=-2.0, upper=2.0):
    """`N(mean, stddev**2)` restricted to `[mean + lower*stddev, mean + upper*stddev]`, exactly.

    `x = mean + stddev * sqrt(2) * erfinv(v)` with `v ~ U[erf(lower/sqrt(2)), erf(upper/sqrt(2)))`
    is the inverse-CDF transform, so `x` has exactly the truncated law. The final clip only
    absorbs the last-ulp rounding of `erfinv` at the interval's ends.
    """
    cdtype = compute_dtype(dtype)
    lo, hi = math.erf(lower / SQRT2), math.erf(upper / SQRT2)
    if keras.backend.backend() == "torch":
        # Eager torch: draw U[0, 1) with Keras' own seed handling, then transform in place, so
        # the peak is the output itself (keras.random.uniform alone holds 3x).
        x = _torch_rand(shape, cdtype, seed)
        x.mul_(hi - lo).add_(lo).erfinv_().mul_(SQRT2).clamp_(lower, upper)
        return ops.cast(x.mul_(stddev).add_(mean), dtype)
    if keras.backend.backend() == "tensorflow" and (lower, upper) == (-2.0, 2.0):
        # TF's stateless truncated normal is exact (in-kernel rejection) and needs less memory
        # than the transform below: 3x the output instead of 4x, in eager mode.
        x = keras.random.truncated_normal(shape, mean=mean, stddev=stddev, dtype=cdtype, seed=seed)
        return ops.cast(x, dtype)
    v = keras.random.uniform(shape, minval=lo, maxval=hi, dtype=cdtype, seed=seed)
    x = ops.clip(ops.erfinv(v) * SQRT2, lower, upper)
    del v
    if mean == 0.0:
        x = x * stddev
    else:
        x = x * stddev + mean
    return ops.cast(x, dtype)


def _torch_rand(shape, dtype, seed):
    """`torch.rand` seeded exactly as Keras' torch backend seeds `keras.random.uniform`."""
    import torch
    from keras.src.backend.torch.core import get_device, to_torch_dtype
    from keras.src.backend.torch.random import torch_seed_generator

    return torch.rand(size=tuple(shape), generator=torch_seed_generator(seed),
                      dtype=to_torch_dtype(dtype), device=get_device())


def orthogonal(rows: int, cols: int, dtype, seed):
    """A `(rows, cols)` matrix with orthonormal columns (rows >= cols) or rows (rows < cols).

    QR of a standard normal `(max, min)` matrix with the columns of Q multiplied by
    `sign(diag(R))`, which makes Q Haar-distributed (Mezzadri 2007). Computed in float32 at
    least, because QR has no half-precision kernels.
    """
    cdtype = compute_dtype(dtype)
    a = keras.random.normal((max(rows, cols), min(rows, cols)), dtype=cdtype, seed=seed)
    q, r = ops.qr(a)
    q = q * ops.cast(ops.where(ops.diagonal(r) < 0, -1, 1), q.dtype)
    if rows < cols:
        q = ops.transpose(q)
    return ops.cast(q, dtype)
