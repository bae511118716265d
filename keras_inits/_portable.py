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
- **PyTorch on CPU**: a small C kernel (`_C_SOURCE`) that computes threefry, the uniform and
  the normal transforms in one pass, vectorized (AVX-512 / AVX2 clones chosen at run time on
  x86-64), in chunks filled by parallel threads (ctypes releases the GIL). It is compiled on
  first use with the system's C compiler (`$CC`, else `cc` / `gcc`: about 0.3 s) into a cache
  directory (`$KERAS_INITS_CACHE`, else `$XDG_CACHE_HOME/keras_inits`, else
  `~/.cache/keras_inits`), and loaded from there by every later process. The uniform is
  `fmaf`, as XLA's FMA, so the uniform family is byte-identical; `erfinv` is jax's (Giles'
  single-precision polynomial, as XLA's `ErfInv`) with `fmaf` Horner steps, but its
  `log1p(-x*x)` is computed in double and rounded once where XLA uses its own float
  approximation: normal and truncated-normal values differ from JAX's by at most `NORMAL_ULPS`
  ulps (measured: 99% are identical). `kernel_status()` says whether the kernel is in use.
- **PyTorch otherwise** (no compiler, `KERAS_INITS_PORTABLE_KERNEL=0`, or a non-CPU device):
  the eager fallback, threefry in wrapping int32 torch ops (a logical shift is an arithmetic
  one masked), in chunks of `TORCH_CHUNK` elements. The uniform's multiply-add is computed in
  float64 and rounded once (the product is exact in float64), so the uniform family is the
  same bytes. Its `erfinv` uses torch's float `log1p`: normal values are within `NORMAL_ULPS`
  ulps of JAX's too, but can differ from the kernel's by an ulp or few. About 4-12x slower
  than the kernel.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import platform
import shlex
import shutil
import subprocess
import sysconfig
import tempfile

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
        x = _tf_sample(kind, tuple(shape), _tf_key(seed), params)
    elif backend == "torch":
        x = _torch_sample(kind, n, _int_key(seed), params).view(tuple(shape))
    else:
        raise NotImplementedError(f"No portable stream for the {backend!r} backend.")
    return x if dtype == "float32" else ops.cast(x, dtype)


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
        from keras_inits._sampling import _tf_constant  # cached while eager

        return _tf_constant(_int_key(seed), "uint32")
    from keras.src.random.seed_generator import draw_seed

    words = tf.bitwise.bitwise_and(tf.cast(draw_seed(seed), tf.int64), 0xFFFFFFFF)
    return tf.cast(words, tf.uint32)


def _tf_sample(kind, shape, key, params):
    import tensorflow as tf

    from keras_inits._sampling import _tf_constant  # cached while eager

    n = math.prod(shape)
    params = _tf_constant(tuple(map(float, params)) + (0.0,) * (6 - len(params)), "float32")
    size = next((s for s in BLOCK_SIZES if s >= n), n)
    if tf.executing_eagerly():
        # The raw kernels: `x[:n]` and `tf.reshape` cost about 0.25 ms of Python per small draw.
        from tensorflow.python.ops import gen_array_ops

        x = _tf_call(kind, size)(key, params)
        if size != n:
            x = gen_array_ops._slice(x, _tf_constant((0,), "int32"), _tf_constant((n,), "int32"))
        return gen_array_ops.reshape(x, _tf_constant(shape, "int32"))
    # Inside a tf.function TF runs a nested XLA function with other rounding (no FMAs, TF's
    # erfinv): call it eagerly from the graph instead.
    program = _tf_program(kind, size)
    x = tf.numpy_function(
        lambda k, p: program(k, p).numpy(), [key, params], tf.float32, stateful=False
    )
    x.set_shape([size])
    return tf.reshape(x if size == n else x[:n], shape)


@functools.lru_cache(maxsize=64)
def _tf_call(kind: str, size: int):
    """`_tf_program(kind, size)`, called on its traced graph directly: that skips
    tf.function's dispatch and argument binding (about 1-2 ms a call, most of a small draw)."""
    function = _tf_program(kind, size).get_concrete_function()
    call_flat = getattr(getattr(function, "_inference_function", None), "call_flat", None)
    return function if call_flat is None else lambda *tensors: call_flat(*tensors)[0]


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
    fill = _c_fill if out.device.type == "cpu" and _c_kernel() is not None else _eager_fill
    return fill(kind, out, key, params)


def _eager_fill(kind, out, key, params):
    """The eager fallback: `out` filled by int32 torch ops, `TORCH_CHUNK` elements at a time."""
    import torch

    n = out.numel()
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

    _run_chunks(fill, range(0, n, TORCH_CHUNK), out.device.type == "cpu")
    return out


def _run_chunks(fill, starts, parallel: bool) -> None:
    """`fill(start)` for every start, on the torch chunk pool's threads where that helps (a
    forked child runs torch single-threaded, hence serially here)."""
    import torch

    workers = min(torch.get_num_threads(), len(starts))
    if workers > 1 and parallel:
        from keras_inits._sampling import _torch_pool

        list(_torch_pool(workers, os.getpid()).map(fill, starts))
    else:
        for start in starts:
            fill(start)


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
    return torch.where(x.abs() == 1.0, x * math.inf, result)  # XLA: x * inf


# --------------------------------------------------------------------------------------------
# PyTorch on CPU: the C kernel, compiled on first use and cached.

#: Elements per call of the C kernel (a power of two, so no call's counters cross 2**32): 1 MiB
#: of float32, about 1-4 ms of work, so a large draw spreads over the chunk pool's threads.
C_CHUNK = 1 << 18
_KIND = {"uniform": 0, "normal": 1, "truncated": 2}
_C_FLAGS = (
    "-O3",
    "-shared",
    "-fPIC",
    "-ffp-contract=off",
    "-fno-math-errno",
    "-fno-trapping-math",
)  # no contraction but the explicit fmaf; no errno, no traps
_C_SOURCE = r"""
/* keras_inits' portable stream on PyTorch/CPU: jax.random's threefry-2x32 bits and transforms
   (see keras_inits/_portable.py), fused in one pass. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KI_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KI_CLONES
#endif
#define KI_INLINE static inline __attribute__((always_inline))
#define KI_BLOCK 1024

#define MIX(r) x0 += x1; x1 = (x1 << r) | (x1 >> (32 - r)); x1 ^= x0;
#define ROUNDS_A MIX(13) MIX(15) MIX(26) MIX(6)
#define ROUNDS_B MIX(17) MIX(29) MIX(16) MIX(24)

/* U[lo, lo + span) from jax.random's bits for the counters (hi, lo0 + i), i < m:
   max(lo, fma(mantissa - 1, span, lo)), as XLA compiles jax.random.uniform. */
KI_INLINE void uniform_block(float *restrict out, uint32_t m, uint32_t hi, uint32_t lo0,
                             uint32_t k0, uint32_t k1, float lo, float span) {
    const uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t x0 = hi + k0, x1 = lo0 + i + k1;
        ROUNDS_A x0 += k1; x1 += k2 + 1u;
        ROUNDS_B x0 += k2; x1 += k0 + 2u;
        ROUNDS_A x0 += k0; x1 += k1 + 3u;
        ROUNDS_B x0 += k1; x1 += k2 + 4u;
        ROUNDS_A x0 += k2; x1 += k0 + 5u;
        /* bitcast((bits >> 9) | 0x3F800000) - 1, exactly */
        float floats = (float)(int32_t)((x0 ^ x1) >> 9) * 0x1p-23f;
        float u = fmaf(floats, span, lo);
        out[i] = u < lo ? lo : u;
    }
}

/* log(y) for y in (0, 2], in double: y = m 2**e, m in (sqrt(1/2), sqrt(2)], log m = 2 atanh(s),
   s = (m - 1) / (m + 1), |s| < 0.172: the series to s**21 is within 1e-16 relative. */
KI_INLINE double log_double(double y) {
    uint64_t b;
    memcpy(&b, &y, 8);
    double e = (double)(int32_t)(b >> 52) - 1023.0;
    b = (b & 0xFFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
    double m;
    memcpy(&m, &b, 8);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    double s = (m - 1.0) / (m + 1.0), z = s * s;
    double p = 1.0 / 21;
    for (int k = 19; k >= 1; k -= 2) p = 1.0 / k + z * p;
    return e * 0.6931471805599453 + 2.0 * s * p;
}

/* Giles' single-precision erfinv (XLA's ErfInv) with FMA Horner steps; -log1p(-x*x) in
   double (log(1 + t) * t / ((1 + t) - 1), Goldberg's form), rounded once. */
#define HORNER(k) p = fmaf(p, t, small ? S##k : L##k);
KI_INLINE float erfinv(float x) {
    const float S0 = 2.81022636e-08f, S1 = 3.43273939e-07f, S2 = -3.5233877e-06f,
        S3 = -4.39150654e-06f, S4 = 0.00021858087f, S5 = -0.00125372503f,
        S6 = -0.00417768164f, S7 = 0.246640727f, S8 = 1.50140941f;
    const float L0 = -0.000200214257f, L1 = 0.000100950558f, L2 = 0.00134934322f,
        L3 = -0.00367342844f, L4 = 0.00573950773f, L5 = -0.0076224613f, L6 = 0.00943887047f,
        L7 = 1.00167406f, L8 = 2.83297682f;
    float t = -(x * x);
    double y = 1.0 + (double)t;
    double l = log_double(y) * ((double)t / (y - 1.0));
    float w = (float)-(y == 1.0 ? (double)t : l);
    int small = w < 5.0f;
    t = small ? w - 2.5f : sqrtf(w) - 3.0f;
    float p = small ? S0 : L0;
    HORNER(1) HORNER(2) HORNER(3) HORNER(4) HORNER(5) HORNER(6) HORNER(7) HORNER(8)
    return fabsf(x) == 1.0f ? x * INFINITY : p * x;
}

/* kind 0: uniform; 1: normal; 2: truncated normal. p: lo, span, scale, lower, upper, stddev,
   mean, has_mean (see _portable._c_params). The counters (hi, lo0 + i), i < n, do not wrap. */
KI_CLONES void ki_fill(int kind, float *restrict out, uint32_t n, uint32_t hi, uint32_t lo0,
                       uint32_t k0, uint32_t k1, const float *restrict p) {
    const float lo = p[0], span = p[1], scale = p[2], lower = p[3], upper = p[4],
        stddev = p[5], mean = p[6];
    const int has_mean = p[7] != 0.0f;
    for (uint32_t s = 0; s < n; s += KI_BLOCK) {
        uint32_t m = n - s < KI_BLOCK ? n - s : KI_BLOCK;
        float *restrict x = out + s;
        uniform_block(x, m, hi, lo0 + s, k0, k1, lo, span);
        if (kind == 1 && has_mean) {
            for (uint32_t i = 0; i < m; i++) x[i] = fmaf(erfinv(x[i]), scale, mean);
        } else if (kind == 1) {
            for (uint32_t i = 0; i < m; i++) x[i] = erfinv(x[i]) * scale;
        } else if (kind == 2) {
            for (uint32_t i = 0; i < m; i++) {
                float y = erfinv(x[i]) * scale;
                y = y < lower ? lower : y;
                y = y > upper ? upper : y;
                x[i] = has_mean ? fmaf(y, stddev, mean) : y * stddev;
            }
        }
    }
}
"""
_KERNEL_STATUS = "not loaded yet"


def kernel_status() -> str:
    """Where the portable torch draws run: `"C kernel: <path>"`, or why the eager fallback."""
    _c_kernel()
    return _KERNEL_STATUS


def _c_fill(kind, out, key, params):
    """`out` (float32, contiguous, CPU) filled by the C kernel, `C_CHUNK` elements a call."""
    kernel = _c_kernel()
    p = _c_params(kind, params)
    address, n = out.data_ptr(), out.numel()
    k0, k1 = key[0] & 0xFFFFFFFF, key[1] & 0xFFFFFFFF

    def fill(start):
        size = min(C_CHUNK, n - start)
        kernel(
            _KIND[kind],
            address + 4 * start,
            size,
            start >> 32,
            start & 0xFFFFFFFF,
            k0,
            k1,
            p.ctypes.data,
        )

    _run_chunks(fill, range(0, n, C_CHUNK), True)
    return out


def _c_params(kind, params) -> np.ndarray:
    """The kernel's float32 parameters: lo, span, scale, lower, upper, stddev, mean, has_mean;
    each rounded as the eager path (and XLA's constant folding) rounds it."""
    f32 = np.float32
    lo, hi = f32(params[0]), f32(params[1])
    row = [lo, hi - lo, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    if kind == "normal":  # sqrt(2) * erfinv(u) * stddev + mean: scale = sqrt(2) * stddev
        stddev, mean = params[2:]
        row[2], row[6], row[7] = f32(SQRT2) * f32(stddev), mean, float(mean != 0.0)
    elif kind == "truncated":  # clip(erfinv(u) * sqrt(2), lower, upper) * stddev + mean
        lower, upper, stddev, mean = params[2:]
        row[2:] = [f32(SQRT2), lower, upper, stddev, mean, float(mean != 0.0)]
    array = np.array(row, np.float32)
    array.flags.writeable = False
    return array


@functools.cache
def _c_kernel():
    """The C kernel's `ki_fill`, compiled on first use into the cache directory (or loaded from
    it), or None where it can't be (no compiler, a read-only disk, a failed compile, or
    `KERAS_INITS_PORTABLE_KERNEL=0`): then torch draws take the eager fallback."""
    global _KERNEL_STATUS
    if os.environ.get("KERAS_INITS_PORTABLE_KERNEL", "1").strip().lower() in ("0", "false", "off"):
        _KERNEL_STATUS = "eager fallback: KERAS_INITS_PORTABLE_KERNEL=0"
        return None
    try:
        path = _compiled_kernel()
        library = ctypes.CDLL(path)
    except (OSError, subprocess.SubprocessError, RuntimeError) as error:
        _KERNEL_STATUS = f"eager fallback: {type(error).__name__}: {error}"
        return None
    function = library.ki_fill
    function.restype = None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.c_void_p,
    ]
    _KERNEL_STATUS = f"C kernel: {path}"
    return function


def _compiler() -> list[str]:
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or ""
    words = shlex.split(command)
    if words and shutil.which(words[0]):
        return words
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return [name]
    raise RuntimeError("no C compiler found ($CC, cc, gcc or clang)")


def _cache_dir() -> str:
    root = os.environ.get("KERAS_INITS_CACHE")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "keras_inits")
    return root


def _compiled_kernel() -> str:
    """The path of the compiled kernel: named by a hash of the source, the flags, the compiler
    and the machine, so a change to any of them compiles anew. Written to a temporary name and
    renamed, so concurrent processes never load a partial file."""
    compiler = _compiler()
    tag = "\0".join([_C_SOURCE, *_C_FLAGS, *compiler, platform.machine(), platform.system()])
    digest = hashlib.sha256(tag.encode()).hexdigest()[:16]
    directory = _cache_dir()
    path = os.path.join(directory, f"portable-{digest}.so")
    if os.path.exists(path):
        return path
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        source = os.path.join(scratch, "portable.c")
        with open(source, "w") as f:
            f.write(_C_SOURCE)
        target = os.path.join(scratch, "portable.so")
        result = subprocess.run(
            [*compiler, *_C_FLAGS, "-o", target, source, "-lm"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{compiler[0]} failed: {result.stderr.strip()[-500:]}")
        os.replace(target, path)
    return path


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

    if tf.executing_eagerly():  # in numpy: a dozen eager TF ops cost ~3 ms, numpy ~0.1 ms
        return tf.convert_to_tensor(_host_householder_product(v.numpy(), tau.numpy()))
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


def _host_householder_product(v: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """`householder_product` in float64 numpy, rounded once to `v`'s dtype."""
    dtype = v.dtype
    v, tau = v.astype(np.float64), tau.astype(np.float64)
    m, k = v.shape[-2], v.shape[-1]
    gram = np.swapaxes(v, -1, -2) @ v
    inverse_t = np.triu(gram, 1)
    inverse_t[..., range(k), range(k)] = 1.0 / tau
    t_v1 = np.linalg.solve(inverse_t, np.swapaxes(v[..., :k, :], -1, -2))
    return (np.eye(m, k) - v @ t_v1).astype(dtype)
