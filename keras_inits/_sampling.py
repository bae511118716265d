"""The samplers every scheme draws from, and the one place for backend-specific code.

Everything outside this module is `keras.ops` / `keras.random`. Here the three elementwise laws
(uniform, normal, exact truncated normal) have one fast path per backend:

- **TensorFlow**: one graph per law, traced once for every shape, where TF's kernels reuse
  their input's buffer (about 1x the output in memory; eager Keras 3x): TF's stateless uniform
  (Keras' values for the uniform family), and the normal and truncated normal as the inverse
  CDF of it, about twice as fast as TF's Box-Muller and rejection kernels.
- **PyTorch**: one in-place pass into a fresh tensor (`uniform_`, `normal_`, and the inverse-CDF
  truncated normal transformed in place); on CPU in chunks filled by parallel threads, the
  first seeded exactly as Keras seeds `torch.Generator` (`_torch_fill`).
- **JAX**: the values are *identical* to `jax.random` on Keras' seed: element `j` of the flat
  output is a function of the key and of `j` only (jax's partitionable threefry counter). That
  lets the same tensor be generated three ways, chosen per call:
  - eager on CPU: in blocks of a few fixed sizes (`BLOCK_SIZES`), by kernels compiled once
    per size, law and dtype, instead of a fresh XLA compile per shape (about 0.2-0.6 s each,
    which dominates building a model on JAX);
  - under `jax.jit`, or eager on an accelerator: `lax.map` over blocks that divide the tensor,
    so the compiled program's scratch memory is one block, not three copies of the output;
  - sharded (`layout=`): one partitionable draw, so each device computes only its shard.
  The threefry hash itself is unrolled (`_threefry2x32`), so XLA fuses it with the transform.

Haar-orthogonal matrices (`haar_q`) are products of Householder reflections read off a normal
draw where the backend has LAPACK's `orgqr` (torch, JAX), else Keras' QR with a sign fix (TF).

Two rules hold everywhere:

- Half-precision outputs (float16, bfloat16) are computed in float32 and cast once at the end,
  so that the factorizations and `erfinv` work and the values are as accurate as the dtype
  allows.
- The truncated normal is exact: it is the inverse CDF of a uniform draw restricted to the
  truncation interval, so no sample can fall outside the bounds.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading

import keras
import numpy as np
from keras import ops

from keras_inits import _portable, _seeds

SQRT2 = math.sqrt(2.0)
#: The largest block of the JAX paths (4 MiB of float32, about 1 ms of work on one CPU core):
#: eager tensors are assembled from blocks of at most this size, and under `jax.jit` tensors
#: larger than this are generated in blocks of at most this size (bounded scratch memory).
BLOCK = 1 << 20
#: The block sizes of the JAX eager path: one kernel per size, law and dtype, compiled on first
#: use (about 70 ms each). Powers of 4, so any tensor is a few dispatches.
BLOCK_SIZES = tuple(1 << k for k in range(10, 21, 2))
#: Under `jax.jit`, tensors at least this large are generated in blocks (bounded scratch memory).
JIT_BLOCKED_MIN = BLOCK


def compute_dtype(dtype: str) -> str:
    """The dtype to compute in: float32 for anything narrower, else `dtype` itself."""
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def normal(shape, dtype, seed, mean=0.0, stddev=1.0):
    """`N(mean, stddev**2)` samples."""
    backend = keras.backend.backend()
    if backend != "jax" and _seeds.portable():  # jax.random's values (`_portable`)
        return _portable.sample("normal", shape, dtype, seed, _normal_params(mean, stddev))
    if backend == "jax" and compute_dtype(dtype) == "float32":
        return _jax_sample("normal", shape, dtype, seed, _normal_params(mean, stddev))
    if backend == "torch":
        return _torch_fill(shape, dtype, seed, lambda x, g: x.normal_(mean, stddev, generator=g))
    if backend == "tensorflow":
        # TF's Box-Muller kernel is about 2x slower than the inverse CDF of a uniform draw.
        cdtype = np.dtype(compute_dtype(dtype))
        lo = float(np.nextafter(cdtype.type(-1.0), cdtype.type(0.0)))  # erfinv(-1) = -inf
        return _tf_draw("normal", shape, dtype, seed, lo, 1.0, SQRT2 * stddev, mean)
    x = keras.random.normal(shape, mean=mean, stddev=stddev, dtype=compute_dtype(dtype), seed=seed)
    return ops.cast(x, dtype)


def uniform(shape, dtype, seed, minval=0.0, maxval=1.0):
    """`U[minval, maxval)` samples."""
    backend = keras.backend.backend()
    if backend != "jax" and _seeds.portable():  # jax.random's values (`_portable`)
        return _portable.sample("uniform", shape, dtype, seed, (minval, maxval))
    if backend == "jax" and compute_dtype(dtype) == "float32":
        return _jax_sample("uniform", shape, dtype, seed, (minval, maxval))
    if backend == "torch":
        return _torch_fill(shape, dtype, seed, lambda x, g: x.uniform_(minval, maxval, generator=g))
    if backend == "tensorflow":
        return _tf_draw("uniform", shape, dtype, seed, minval, maxval)
    x = keras.random.uniform(
        shape, minval=minval, maxval=maxval, dtype=compute_dtype(dtype), seed=seed
    )
    return ops.cast(x, dtype)


def truncated_normal(shape, dtype, seed, mean=0.0, stddev=1.0, lower=-2.0, upper=2.0):
    """`N(mean, stddev**2)` restricted to `[mean + lower*stddev, mean + upper*stddev]`, exactly.

    `x = mean + stddev * sqrt(2) * erfinv(v)` with `v ~ U[erf(lower/sqrt(2)), erf(upper/sqrt(2)))`
    is the inverse-CDF transform, so `x` has exactly the truncated law. The clip only absorbs
    the last-ulp rounding of `erfinv` at the interval's ends.
    """
    cdtype = compute_dtype(dtype)
    # Beyond 40 stddev the normal has no mass a float can hold: a farther bound is no bound,
    # and a Python float beyond float32 would make torch's clamp fail.
    lower, upper = max(lower, -40.0), min(upper, 40.0)
    lo, hi = math.erf(lower / SQRT2), math.erf(upper / SQRT2)
    backend = keras.backend.backend()
    if backend != "jax" and _seeds.portable():  # jax.random's values (`_portable`)
        return _portable.sample(
            "truncated", shape, dtype, seed, (lo, hi, lower, upper, stddev, mean)
        )
    if backend == "jax" and cdtype == "float32":
        params = (lo, hi, lower, upper, stddev, mean)
        return _jax_sample("truncated", shape, dtype, seed, params)
    if backend == "torch":

        def transform(x, g):
            x.uniform_(lo, hi, generator=g).erfinv_().mul_(SQRT2).clamp_(lower, upper)
            return x.mul_(stddev).add_(mean) if mean != 0.0 else x.mul_(stddev)

        return _torch_fill(shape, dtype, seed, transform)
    bounds = (lower * stddev, upper * stddev)
    if backend == "tensorflow":
        return _tf_draw("truncated", shape, dtype, seed, lo, hi, SQRT2 * stddev, mean, *bounds)
    return _inverse_cdf(shape, dtype, seed, lo, hi, stddev, mean, bounds)


def _inverse_cdf(shape, dtype, seed, lo, hi, stddev, mean, bounds=None):
    """`mean + stddev * sqrt(2) * erfinv(v)`, `v ~ U[lo, hi)`, clipped to `mean + bounds`."""
    cdtype = compute_dtype(dtype)
    x = ops.erfinv(uniform(shape, cdtype, seed, lo, hi)) * (SQRT2 * stddev)
    if bounds is not None:
        x = ops.clip(x, *bounds)
    if mean != 0.0:
        x = x + mean
    return ops.cast(x, dtype)


def orthogonal(rows: int, cols: int, dtype, seed, xp=ops):
    """A Haar-random `(rows, cols)` matrix with orthonormal columns (rows >= cols) or rows
    (rows < cols), from a standard normal `(max, min)` draw by `haar_q`. Computed in float32 at
    least, because the factorizations have no half-precision kernels. `xp=HOST_OPS`: a float32
    numpy array (see `ops_for`)."""
    cdtype = compute_dtype(dtype)
    if xp is HOST_OPS:
        return _orthogonal(rows, cols, cdtype, seed, xp)
    if keras.backend.backend() == "jax":
        from keras.src.backend.jax.random import jax_draw_seed

        return _jax_orthogonal(rows, cols, cdtype)(jax_draw_seed(seed)).astype(dtype)
    return ops.cast(_orthogonal(rows, cols, cdtype, seed), dtype)


def _orthogonal(rows, cols, dtype, seed, xp=ops):
    q = haar_q(standard_normal((max(rows, cols), min(rows, cols)), dtype, seed, xp))
    return xp.transpose(q) if rows < cols else q


def haar_q(a):
    """Haar-random orthonormal columns from a standard normal batch `a`, `(..., m, k)`, m >= k.

    Keras' rule is the QR factor `Q` of `a` with its columns multiplied by `sign(diag(R))`,
    which makes `Q` Haar-distributed (Mezzadri 2007). Where the backend can form a product of
    Householder reflections (LAPACK's `orgqr`: torch, JAX), the reflections are instead
    read off `a` directly (Stewart 1980): column `j` gives `x = a[j:, j]` and the reflection
    that maps `x` to `beta * e_1`, `beta = -sign(x_1) ||x||`, with its column of `Q` multiplied
    by `sign(beta)`. That is the law of the QR rule (the reflections of a Gaussian matrix are
    those of independent Gaussian columns), without the factorization: about half the flops.
    TensorFlow has no `orgqr` and keeps the QR rule. A numpy `a` is computed in numpy (and
    LAPACK's `orgqr` through scipy: the routine jax calls on CPU).
    """
    xp = HOST_OPS if isinstance(a, np.ndarray) else ops
    product = _householder_product(xp)
    if product is None:
        q, r = ops.qr(a)
        d = ops.diagonal(r, axis1=-2, axis2=-1)
        return q * ops.expand_dims(ops.cast(ops.where(d < 0, -1, 1), q.dtype), -2)
    m, k = a.shape[-2:]
    rows, cols = xp.expand_dims(xp.arange(m), 1), xp.expand_dims(xp.arange(k), 0)
    alpha = xp.diagonal(a, axis1=-2, axis2=-1)  # x_1 of each column
    norm = xp.sqrt(xp.sum(xp.where(rows >= cols, a * a, xp.zeros_like(a)), axis=-2))
    sign = xp.cast(xp.where(alpha < 0, -1, 1), a.dtype)
    beta = -sign * norm
    # LAPACK's form (larfg): H = I - tau v v^T, v = (1, x_2:/(x_1 - beta)), tau = (beta - x_1)/beta.
    v = xp.where(rows > cols, a / xp.expand_dims(alpha - beta, -2), xp.cast(rows == cols, a.dtype))
    return product(v, (beta - alpha) / beta) * xp.expand_dims(-sign, -2)


def _householder_product(xp=ops):
    """The backend's `orgqr` (`Q` from Householder vectors and scales), or None."""
    if xp is HOST_OPS:
        return _host_householder_product
    backend = keras.backend.backend()
    if backend == "tensorflow" and _seeds.portable():  # the reflections torch and JAX use
        return _portable.householder_product
    if backend == "torch":
        import torch

        return torch.linalg.householder_product
    if backend == "jax":
        from jax.lax.linalg import householder_product

        return householder_product
    return None


def _host_householder_product(v, tau):
    """`orgqr` over a batch of numpy Householder vectors `v` and scales `tau`, by scipy's LAPACK
    (jax depends on scipy, and its own CPU `householder_product` calls this routine)."""
    from scipy.linalg import lapack

    orgqr = lapack.sorgqr if v.dtype == np.float32 else lapack.dorgqr
    q = np.empty_like(v)
    for index in np.ndindex(v.shape[:-2]):
        q[index], _, info = orgqr(v[index], tau[index])
        if info:  # an illegal argument: a bug here, never the data
            raise RuntimeError(f"LAPACK orgqr failed (info={info}) for shape {v.shape}.")
    return q


# The structured schemes (QR, sorts, small matmuls) run op by op. Eagerly on JAX, each op on a
# new shape is a fresh XLA compile (0.3-7 s per new shape for the QR-based schemes); in numpy
# they cost microseconds to milliseconds. So there they compute in numpy (`ops_for`), from the
# very values `jax.random.normal` gives (`standard_normal`), and hand one array to JAX.


class _HostOps:
    """The `keras.ops` functions the structured schemes use, in numpy."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def cast(x, dtype):
        return np.asarray(x).astype(dtype)

    @staticmethod
    def convert_to_tensor(x, dtype=None):
        return np.asarray(x, dtype=dtype)

    @staticmethod
    def argsort(x, axis=-1):
        return np.argsort(x, axis=axis, kind="stable")  # as jnp.argsort (ties keep their order)


HOST_OPS = _HostOps()


def ops_for(dtype):
    """`HOST_OPS` (numpy) where the structured schemes should compute on the host: JAX, eagerly
    on CPU, in float32 (see above); else `keras.ops`."""
    return HOST_OPS if compute_dtype(dtype) == "float32" and jax_eager_cpu() else ops


def standard_normal(shape, dtype, seed, xp=ops):
    """`keras.random.normal(shape, dtype=dtype, seed=seed)`; for `xp=HOST_OPS`, the same values
    (the JAX host blocks reproduce `jax.random.normal`) as a float32 numpy array."""
    if xp is HOST_OPS:
        return np.asarray(normal(tuple(shape), "float32", seed))
    if keras.backend.backend() != "jax" and _seeds.portable():  # jax.random's values
        return normal(tuple(shape), dtype, seed)
    return keras.random.normal(shape, dtype=dtype, seed=seed)


@functools.lru_cache(maxsize=64)
def _jax_orthogonal(rows, cols, dtype):
    """`_orthogonal` as one compiled program: one compile per shape instead of one per op."""
    import jax

    return jax.jit(lambda seed: _orthogonal(rows, cols, dtype, seed))


# --------------------------------------------------------------------------------------------
# TensorFlow: one graph per law and dtype (traced once, for every shape). In a graph, TF's
# element-wise kernels write into their input's buffer when nothing else holds it, so a draw
# peaks at about 1x the output (4096x4096: 1.03x) where the same ops run eagerly peak at 3-4x.


def _tf_draw(kind, shape, dtype, seed, lo, hi, scale=1.0, shift=0.0, lower=0.0, upper=0.0):
    """`U[lo, hi)`; for "normal" then `shift + scale * erfinv(.)`, clipped to
    `shift + [lower, upper]` for "truncated". The uniform is `tf.random.stateless_uniform`'s."""
    cdtype = compute_dtype(dtype)
    if isinstance(seed, int):  # Keras: int64 [seed, 0], floormod int32.max - 1, cast to int32
        seed = _tf_constant((seed % (2**31 - 2), 0), "int32")
    else:
        from keras.src.backend.tensorflow.random import _cast_seed
        from keras.src.random.seed_generator import draw_seed

        seed = _cast_seed(draw_seed(seed))
    params = _tf_constant((lo, hi, scale, shift, lower, upper), cdtype)
    x = _tf_program(kind, cdtype)(_tf_constant(tuple(shape), "int32"), seed, params)
    return x if cdtype == dtype else ops.cast(x, dtype)


def _tf_constant(values: tuple, dtype: str):
    """`tf.constant(values, dtype)`, cached while eager (a graph's constants belong to it)."""
    import tensorflow as tf

    if tf.executing_eagerly():
        return _tf_eager_constant(values, dtype)
    return tf.constant(values, dtype)


@functools.lru_cache(maxsize=1024)
def _tf_eager_constant(values: tuple, dtype: str):
    import tensorflow as tf

    return tf.constant(values, dtype)


@functools.cache
def _tf_program(kind: str, dtype: str):
    import tensorflow as tf
    from tensorflow.python.ops import gen_stateless_random_ops_v2 as kernels
    from tensorflow.python.ops import random_ops_util

    signature = [
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([2], tf.int32),
        tf.TensorSpec([6], dtype),
    ]

    @tf.function(input_signature=signature, autograph=False)
    def draw(shape, seed, params):
        lo, hi, scale, shift, lower, upper = tf.unstack(params)
        key, counter, alg = random_ops_util.get_key_counter_alg(seed, None)
        x = kernels.stateless_random_uniform_v2(
            shape, key=key, counter=counter, dtype=dtype, alg=alg
        )
        x = x * (hi - lo) + lo
        if kind == "uniform":
            return x
        x = tf.math.erfinv(x) * scale
        if kind == "truncated":
            x = tf.clip_by_value(x, lower, upper)
        return x + shift

    function = draw.get_concrete_function()
    # Calling the traced graph with the tensors as they are skips tf.function's dispatch and
    # argument binding (about 0.5 ms and 0.1 ms a call); a TF without it takes the public call.
    call_flat = getattr(getattr(function, "_inference_function", None), "call_flat", None)
    return function if call_flat is None else lambda *tensors: call_flat(*tensors)[0]


# --------------------------------------------------------------------------------------------
# PyTorch: in place; on CPU, large draws in chunks filled by parallel threads.


#: The chunk of the torch path on CPU: chunk `k` of the flat output is drawn by its own
#: generator, chunk 0 by Keras' own. 4 MiB of float32, a few ms of work.
TORCH_CHUNK = 1 << 20


def _torch_fill(shape, dtype, seed, fill):
    """`fill(x, generator)` on a fresh tensor, in place.

    A large draw on CPU is bound by one generator's sequence and by faulting in the fresh
    memory (a 4096x4096 `uniform_` takes 60 ms, 9 ms of it on resident memory). So a tensor
    beyond `TORCH_CHUNK` elements is cut into chunks of that size, filled by parallel threads,
    each with its own generator (4096x4096: about 36 ms): chunk 0 is seeded exactly as Keras'
    torch backend seeds its one generator (so tensors up to one chunk are Keras' values),
    chunk `k` from `(seed, k)` by numpy's `SeedSequence`. The chunks are fixed, so the values
    depend on the seed and the size only, not on the number of threads.
    """
    import torch
    from keras.src.backend.torch.core import get_device, to_torch_dtype
    from keras.src.random.seed_generator import draw_seed

    x = torch.empty(tuple(shape), dtype=to_torch_dtype(compute_dtype(dtype)), device=get_device())
    with torch.no_grad():
        if x.device.type == "meta":  # no generators there, as in Keras
            return ops.cast(fill(x, None), dtype)
        first, second = draw_seed(seed)  # Keras' torch_seed_generator, drawn once
        base = int(first + second) & 0xFFFFFFFF
        flat = x.view(-1)
        if x.device.type != "cpu" or flat.numel() <= TORCH_CHUNK:
            fill(flat, _torch_generator(base, 0, x.device))
        else:
            chunks = range(0, flat.numel(), TORCH_CHUNK)

            def fill_chunk(k):
                fill(
                    flat[k * TORCH_CHUNK : (k + 1) * TORCH_CHUNK],
                    _torch_generator(base, k, x.device),
                )

            workers = min(torch.get_num_threads(), len(chunks))
            if workers > 1:  # a forked child gets its own pool (its parent's threads are gone)
                list(_torch_pool(workers, os.getpid()).map(fill_chunk, range(len(chunks))))
            else:
                for k in range(len(chunks)):
                    fill_chunk(k)
    return ops.cast(x, dtype)


def _torch_generator(base: int, chunk: int, device):
    import torch

    generator = torch.Generator(device=device)
    if chunk == 0:
        return generator.manual_seed(base)
    seed = np.random.SeedSequence([base, chunk]).generate_state(1, np.uint64)[0]
    return generator.manual_seed(int(seed))


@functools.cache
def _torch_pool(workers: int, pid: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(workers, thread_name_prefix="keras_inits")


# --------------------------------------------------------------------------------------------
# JAX: jax.random's values, generated without a compile per shape.

_SHARDING = threading.local()


@contextlib.contextmanager
def _sharded_to(sharding):
    """Inside: JAX element-wise draws generate, on each device, only their shard of `sharding`."""
    previous = getattr(_SHARDING, "value", None)
    _SHARDING.value = sharding
    try:
        yield
    finally:
        _SHARDING.value = previous


def _normal_params(mean, stddev):
    # jax.random.normal: sqrt(2) * erfinv(U[nextafter(-1, 0), 1)); Keras then `* stddev + mean`.
    return (float(np.nextafter(np.float32(-1.0), np.float32(0.0))), 1.0, stddev, mean)


def _transform(kind, bits, params):
    """Values of law `kind` from uint32 `bits`, op for op as `jax.random` (float32)."""
    import jax.numpy as jnp
    from jax import lax

    def uniform(lo, hi):  # jax.random.uniform's mantissa trick, then scale and shift
        floats = lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32)
        lo, hi = jnp.float32(lo), jnp.float32(hi)
        return lax.max(lo, (floats - jnp.float32(1.0)) * (hi - lo) + lo)

    if kind == "uniform":
        return uniform(*params)
    if kind == "normal":
        lo, hi, stddev, mean = params
        return jnp.float32(SQRT2) * lax.erf_inv(uniform(lo, hi)) * stddev + mean
    lo, hi, lower, upper, stddev, mean = params
    x = jnp.clip(lax.erf_inv(uniform(lo, hi)) * jnp.float32(SQRT2), lower, upper)
    return x * stddev + mean


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(key1, key2, x1, x2):
    """Threefry-2x32 (20 rounds), op for op as jax's `threefry2x32_p`, but unrolled.

    jax lowers `threefry2x32_p` on CPU as a rolled loop of 5 iterations, each a separate pass
    over whole arrays; unrolled, XLA fuses the hash and the transform that follows into one
    loop, which is 2-4x faster and compiles in half the time, with the same bits. (Elsewhere
    jax's default lowering is this unrolled form.)
    """
    from jax import lax

    def rotate_left(x, d):
        return lax.shift_left(x, np.uint32(d)) | lax.shift_right_logical(x, np.uint32(32 - d))

    keys = (key1, key2, key1 ^ key2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + keys[0], x2 + keys[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ rotate_left(x2, r)
        x1 = x1 + keys[(i + 1) % 3]
        x2 = x2 + keys[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _jax_bits(seed, start_hi, start_lo, size):
    """The uint32 bits jax.random draws for flat indices `[start, start + size)`."""
    import jax.numpy as jnp
    from jax import lax

    seed = lax.convert_element_type(seed, jnp.uint32)
    lo = start_lo + lax.iota(jnp.uint32, size)
    hi = start_hi + (lo < start_lo).astype(jnp.uint32)  # carry into the high word
    bits1, bits2 = _threefry2x32(seed[0], seed[1], hi, lo)
    return bits1 ^ bits2


@functools.cache
def _block_kernel(kind: str, dtype: str, size: int):
    """One compiled program per law, dtype and block size: elements `[start, start + size)`
    of the flat draw of any tensor."""
    import jax

    def block(seed, start, params):  # start: uint32 [high, low] words; params: float32[k]
        bits = _jax_bits(seed, start[0], start[1], size)
        return _transform(kind, bits, tuple(params)).astype(dtype)

    return jax.jit(block)


#: Cost model of `_block_plan`, measured on the 2-core CPU: a dispatch costs about as much as
#: generating this many elements (30 us against 0.9 ns per element).
_DISPATCH_ELEMENTS = 1 << 15


@functools.lru_cache(maxsize=1024)
def _block_plan(n: int) -> tuple[int, ...]:
    """The block sizes (from `BLOCK_SIZES`, largest first) that cover `n` elements at the least
    cost, counting `_DISPATCH_ELEMENTS` per block plus every element generated (the last block
    may run past `n`; its surplus is dropped)."""

    def plan(n, level):  # (cost, sizes) covering n with blocks of BLOCK_SIZES[:level + 1]
        size = BLOCK_SIZES[level]
        full, rest = divmod(n, size)
        if rest == 0 or level == 0:
            count = full + (rest > 0)
            return count * (size + _DISPATCH_ELEMENTS), (size,) * count
        up = (full + 1) * (size + _DISPATCH_ELEMENTS), (size,) * (full + 1)
        cost, tail = plan(rest, level - 1)
        down = full * (size + _DISPATCH_ELEMENTS) + cost, (size,) * full + tail
        return min(up, down)

    return plan(n, len(BLOCK_SIZES) - 1)[1]


def _jax_sample(kind, shape, dtype, seed, params):
    from keras.src.backend.jax.random import jax_draw_seed

    n = math.prod(shape)
    sharding = getattr(_SHARDING, "value", None)
    if n < 2**32 and sharding is None and jax_eager_cpu():
        return _jax_host_blocks(kind, shape, dtype, _host_seed(seed), params)
    seed = jax_draw_seed(seed)
    if n >= 2**32:
        return _jax_whole(kind, shape, dtype, seed, params)
    if sharding is not None:
        return _jax_sharded(kind, shape, dtype, seed, params, sharding)
    return _jax_traced(kind, shape, dtype, seed, params)


def jax_eager_cpu() -> bool:
    """Whether this call runs on the JAX backend, eagerly (no jax transformation is tracing
    it), on CPU: there host memory is device memory, and arrays can be built in numpy."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    try:
        from jax._src.core import trace_state_clean  # a flag read; the fallback allocates
    except ImportError:  # pragma: no cover - a jax without it
        import jax.numpy as jnp

        tracing = isinstance(jnp.zeros(()), jax.core.Tracer)
    else:
        tracing = not trace_state_clean()
    return not tracing and jax.default_backend() == "cpu"


def host_eye(rows: int, cols: int, dtype: str, value=1.0):
    """`value` on the diagonal of a `(rows, cols)` matrix, zeros elsewhere, written in numpy
    and handed to JAX without a copy (`jax_eager_cpu()` only)."""
    import jax
    import jax.numpy as jnp

    out = _aligned_empty(rows * cols, jnp.dtype(dtype)).reshape(rows, cols)
    out.fill(0)
    np.fill_diagonal(out, value)
    return jax.device_put(out, may_alias=True)


def _host_seed(seed):
    """Keras' JAX seed for `seed` (`jax_draw_seed`), as a host array for an int seed."""
    if isinstance(seed, int):  # Keras: convert_to_tensor([seed, 0], dtype="uint32")
        return _int_seed(seed)
    from keras.src.backend.jax.random import jax_draw_seed

    return jax_draw_seed(seed)


@functools.lru_cache(maxsize=256)
def _int_seed(seed: int) -> np.ndarray:
    array = np.array([seed, 0], dtype=np.uint32)
    array.flags.writeable = False
    return array


def _jax_whole(kind, shape, dtype, seed, params):
    """One partitionable draw: `jax.random.bits` counts the flat index, like `_jax_bits`."""
    import jax

    bits = jax.random.bits(seed, tuple(shape))
    return _transform(kind, bits, params).astype(dtype)


def _jax_traced(kind, shape, dtype, seed, params):
    """`lax.map` over blocks that divide the tensor: scratch memory is one block."""
    import jax
    import jax.numpy as jnp

    n = math.prod(shape)
    size = _divisor_block(n) if n >= JIT_BLOCKED_MIN else n
    if size == n:
        return _jax_whole(kind, shape, dtype, seed, params)

    def block(i):
        start = i * jnp.uint32(size)  # n < 2**32, so no overflow
        return _transform(kind, _jax_bits(seed, jnp.uint32(0), start, size), params)

    blocks = jax.lax.map(block, jnp.arange(n // size, dtype=jnp.uint32))
    return blocks.astype(dtype).reshape(shape)


def _jax_sharded(kind, shape, dtype, seed, params, sharding):
    """Each device draws only its shard, by the global flat index of each of its elements, so
    the values are those of an unsharded call; rows are drawn in blocks (bounded scratch)."""
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.sharding import PartitionSpec

    mesh = sharding.mesh
    spec = tuple(sharding.spec) + (None,) * (len(shape) - len(sharding.spec))
    axes = [() if e is None else (e,) if isinstance(e, str) else tuple(e) for e in spec]
    parts = [math.prod(mesh.shape[a] for a in names) for names in axes]
    if not shape or any(d % p for d, p in zip(shape, parts)):
        return _jax_whole(kind, shape, dtype, seed, params)  # uneven: let XLA partition it
    local = tuple(d // p for d, p in zip(shape, parts))
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    rows = _divisor_block(local[0] * math.prod(local[1:])) // math.prod(local[1:]) or 1
    rows = math.gcd(rows, local[0])
    seed = lax.convert_element_type(seed, jnp.uint32)

    def shard():
        offset = jnp.uint32(0)  # global flat index of this shard's first element
        for names, size, stride in zip(axes, local, strides):
            position = jnp.uint32(0)
            for name in names:
                position = position * jnp.uint32(mesh.shape[name]) + lax.axis_index(name).astype(
                    jnp.uint32
                )
            offset = offset + position * jnp.uint32(size * stride)
        block_shape = (rows, *local[1:])

        def block(b):
            index = offset + b * jnp.uint32(rows * strides[0])
            for dim, stride in enumerate(strides):
                index = index + lax.broadcasted_iota(jnp.uint32, block_shape, dim) * jnp.uint32(
                    stride
                )
            bits1, bits2 = _threefry2x32(seed[0], seed[1], jnp.zeros_like(index), index)
            return _transform(kind, bits1 ^ bits2, params).astype(dtype)

        blocks = lax.map(block, jnp.arange(local[0] // rows, dtype=jnp.uint32))
        return blocks.reshape(local)

    return jax.shard_map(shard, mesh=mesh, in_specs=(), out_specs=PartitionSpec(*spec))()


@functools.lru_cache(maxsize=256)
def _divisor_block(n: int) -> int:
    """The largest divisor of `n` in `[BLOCK / 16, BLOCK]`, or `n` if there is none."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    fits = [d for d in small + [n // d for d in small] if BLOCK // 16 <= d <= BLOCK]
    return max(fits, default=n)


def _jax_host_blocks(kind, shape, dtype, seed, params):
    """Eager on CPU: blocks from kernels compiled once per block size (`_block_plan`), copied
    into one host buffer that the result then uses without a copy."""
    import jax
    import jax.numpy as jnp

    params = np.array(params, dtype=np.float32)
    n = math.prod(shape)
    plan = _block_plan(n)
    if plan == (n,):  # one block is the tensor: reshape its buffer, no copy
        block = _block_kernel(kind, dtype, n)(seed, np.zeros(2, np.uint32), params)
        return jax.device_put(np.asarray(block).reshape(shape), may_alias=True)
    out = _aligned_empty(n, jnp.dtype(dtype))
    pending, start = [], 0
    for size in plan:
        words = np.array([start >> 32, start & 0xFFFFFFFF], dtype=np.uint32)
        pending.append((start, _block_kernel(kind, dtype, size)(seed, words, params)))
        if len(pending) > 2:  # keep two blocks in flight while copying the oldest
            _copy_block(out, *pending.pop(0))
        start += size
    for item in pending:
        _copy_block(out, *item)
    # A 64-byte aligned host buffer becomes a CPU array without a copy; nothing writes to
    # `out` after this.
    return jax.device_put(out.reshape(shape), may_alias=True)


def _aligned_empty(n: int, dtype: np.dtype, alignment: int = 64) -> np.ndarray:
    """An uninitialized 1-D array of `n` elements whose data is `alignment`-byte aligned."""
    raw = np.empty(n * dtype.itemsize + alignment, dtype=np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset : offset + n * dtype.itemsize].view(dtype)


def _copy_block(out, start, block):
    block = np.asarray(block)
    stop = min(start + block.size, out.size)
    out[start:stop] = block[: stop - start]


# --------------------------------------------------------------------------------------------
# Sharded initialization (`layout=`, passed by Keras under `keras.distribution` on JAX).


def sharded(initializer, shape, dtype, layout):
    """`initializer(shape, dtype)` laid out as `layout`, each device generating its shard.

    On JAX the draw is compiled with `out_shardings=layout`; jax's threefry is partitionable, so
    XLA computes on each device only the counters of its shard. Element-wise laws therefore
    give exactly the values of an unsharded call. Schemes that need the whole matrix (QR for
    Orthogonal) are computed in full on each device and sliced, so they stay exact. Keras
    shards variables on JAX only, so other backends refuse `layout`.
    """
    from keras.distribution import TensorLayout

    if keras.backend.backend() != "jax":
        raise NotImplementedError(
            "Argument `layout` is supported on the JAX backend only, where Keras' distribution "
            f"API shards variables. Received: layout={layout!r} on the "
            f"{keras.backend.backend()!r} backend."
        )
    import jax

    sharding = layout.backend_layout if isinstance(layout, TensorLayout) else layout
    if not _worth_sharding(sharding, shape):
        # Small or replicated: generate once and place it, as Keras does for such variables,
        # rather than compile a program per variable. Keras passes a sharding over the
        # abstract mesh of `jax.set_mesh`; placing needs the concrete one.
        if isinstance(sharding.mesh, jax.sharding.AbstractMesh):
            sharding = jax.sharding.NamedSharding(jax.sharding.get_mesh(), sharding.spec)
        return jax.device_put(initializer(shape, dtype), sharding)
    initializer = initializer._stateless()

    def generate():
        with _sharded_to(sharding):
            return initializer(shape, dtype)

    return jax.jit(generate, out_shardings=sharding)()


def _worth_sharding(sharding, shape) -> bool:
    """Keras' rule (`should_shard_at_init`): shard at init from 250 MiB over all devices."""
    if all(axis is None for axis in sharding.spec):
        return False
    devices = math.prod(sharding.mesh.shape.values())
    return math.prod(shape) * 4 * devices >= 250 * 1024 * 1024
