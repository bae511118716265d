"""The samplers (`keras_inits._sampling`): one law, the same values on every path.

On JAX an element-wise draw is generated in fixed blocks when eager on CPU, in `lax.map`
blocks under `jax.jit`, and per shard when sharded; element `j` depends only on the seed and
`j`, so every path gives the same tensor, equal to `jax.random`'s on Keras' seed.
"""

import math

import keras
import numpy as np
import pytest
from scipy import stats

import keras_inits
from keras_inits import _sampling
from tests.conftest import BACKEND, ks_critical, to_numpy

# Sizes around the block boundaries: below one block, exactly one, one and a bit, many.
B = _sampling.BLOCK
SHAPES = [(7,), (3, 3, 4, 5), (B,), (B + 3,), (3, B // 2 + 1), (1000, 1001)]


# Same seed, same values as Keras' built-ins wherever the law is drawn the same way: the
# uniform family on every backend, Orthogonal on TF (elsewhere `haar_q` builds Q from
# Householder reflections without a QR: same law, test_haar_q_is_haar), and on JAX every
# element-wise law (our blocks reproduce jax.random's counters). Elsewhere ours draws
# differently by design, so only the law is compared (test_parity, test_truncated_bounds):
# torch's truncated normal is an exact inverse-CDF draw where Keras' re-draw loop leaks samples
# beyond 2 sigma, and TF's normal and truncated normal are the inverse CDF of a uniform draw,
# twice as fast as TF's kernels.
SAME_AS_KERAS = ["GlorotUniform", "HeUniform", "LecunUniform", "RandomUniform"] + {
    "jax": ["RandomNormal", "GlorotNormal", "HeNormal", "LecunNormal", "TruncatedNormal"],
    "torch": ["RandomNormal"],
    "tensorflow": ["Orthogonal"],
}[BACKEND]


@pytest.mark.parametrize("shape", SHAPES[:2] + SHAPES[-2:])
@pytest.mark.parametrize("name", SAME_AS_KERAS)
def test_same_values_as_keras_for_the_same_seed(name, shape):
    if name == "Orthogonal" and len(shape) < 2:
        shape = (shape[0], 3)
    ours = to_numpy(getattr(keras_inits, name)(seed=11)(shape, dtype="float32"))
    theirs = to_numpy(getattr(keras.initializers, name)(seed=11)(shape, dtype="float32"))
    if BACKEND == "torch" and name != "Orthogonal" and ours.size > _sampling.TORCH_CHUNK:
        # Beyond the first chunk, torch draws from per-chunk generators (test_torch_chunks).
        ours, theirs = (a.reshape(-1)[:_sampling.TORCH_CHUNK] for a in (ours, theirs))
    # Identical bits, up to the rounding of `u * (max - min) + min` done as one fused op
    # (torch's uniform_, an FMA under XLA) or two (Keras): a few ulps of the largest value.
    atol = 4 * np.finfo(np.float32).eps * np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=atol)


@pytest.mark.skipif(BACKEND != "jax", reason="the block paths are JAX's; other backends have one")
@pytest.mark.parametrize("shape", [(B + 3,), (1024, 1024 + 8), (2048, 1024)])
@pytest.mark.parametrize("name", ["HeNormal", "GlorotUniform", "TruncatedNormal", "RandomNormal"])
def test_jax_eager_and_jit_paths_agree(name, shape):
    # Eager on CPU: host-assembled blocks; under jit: lax.map blocks (>= 2**20 elements) or
    # one draw. Element j depends only on (seed, j), so both give the same tensor.
    import jax

    init = getattr(keras_inits, name)(seed=2)
    eager = to_numpy(init(shape, dtype="float32"))
    traced = to_numpy(jax.jit(lambda: init(shape, dtype="float32"))())
    np.testing.assert_allclose(eager, traced, rtol=0, atol=4 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_every_law_exact_at_block_boundaries(dtype):
    # One draw of B + 3 elements per law, KS against the exact law at alpha=1e-3 (n ~ 2.6e5,
    # bound ~0.004). Rounding to bfloat16 (relative step 2**-8) shifts each value by up to
    # 0.4%, which moves the empirical CDF by up to pdf_max * 0.4% * |x| < 0.004: that is added
    # to the bound for bfloat16. float16's step (2**-11) moves it by < 0.0005, inside the bound.
    n = B + 3
    slack = 0.004 if dtype == "bfloat16" else 0.0
    cases = [
        (_sampling.uniform((n,), dtype, 1, -0.5, 1.5), stats.uniform(-0.5, 2.0)),
        (_sampling.normal((n,), dtype, 2, 0.25, 2.0), stats.norm(0.25, 2.0)),
        (_sampling.truncated_normal((n,), dtype, 3, 0.0, 0.5, -1.0, 2.0),
         stats.truncnorm(-1.0, 2.0, scale=0.5)),
    ]
    for x, law in cases:
        assert keras.backend.standardize_dtype(x.dtype) == dtype
        values = to_numpy(x)
        assert values.shape == (n,)
        assert stats.kstest(values, law.cdf).statistic < ks_critical(n) + slack, law.dist.name


@pytest.mark.skipif(BACKEND != "torch", reason="the chunked fill is torch's (CPU generators)")
def test_torch_chunks_are_independent_of_threads_and_of_each_other():
    import torch

    n = 4 * _sampling.TORCH_CHUNK + 5
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        sequential = to_numpy(_sampling.normal((n,), "float32", 5))
        torch.set_num_threads(2)
        parallel = to_numpy(_sampling.normal((n,), "float32", 5))
    finally:
        torch.set_num_threads(threads)
    # Fixed chunks, one generator each: the values depend on the seed only.
    np.testing.assert_array_equal(sequential, parallel)
    # Each chunk is its own stream: the correlation of two chunks of independent N(0, 1) is
    # ~ N(0, 1/m); 5/sqrt(m) is a 5-sigma bound (a repeated stream would give 1).
    m = _sampling.TORCH_CHUNK
    chunks = sequential[: 4 * m].reshape(4, m)
    corr = np.corrcoef(chunks)
    assert np.abs(corr[np.triu_indices(4, 1)]).max() < 5 / math.sqrt(m)


@pytest.mark.parametrize("m, k", [(4, 4), (5, 3)])
def test_haar_q_is_haar(m, k):
    # Every entry of a Haar-random matrix with orthonormal columns in R^m is a coordinate of a
    # uniform unit vector: (q + 1) / 2 ~ Beta((m-1)/2, (m-1)/2). The sign correction makes it
    # symmetric, and the last column of a square matrix is the one the rules treat specially;
    # so entries (0, 0), (k-1, k-1) and (m-1, k-1) of 2000 independent draws are each KS-tested
    # against it (alpha = 1e-3). Fixed seed.
    n = 2000
    q = to_numpy(_sampling.haar_q(keras.random.normal((n, m, k), seed=4, dtype="float32")))
    gram = np.einsum("bij,bil->bjl", q, q)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(k), gram.shape), atol=1e-5)
    law = stats.beta((m - 1) / 2, (m - 1) / 2, loc=-1, scale=2)
    for i, j in [(0, 0), (k - 1, k - 1), (m - 1, k - 1)]:
        assert stats.kstest(q[:, i, j], law.cdf).statistic < ks_critical(n), (i, j)


def _draw_in_child(queue):
    queue.put(to_numpy(_sampling.uniform((_sampling.TORCH_CHUNK + 7,), "float32", 9)))


@pytest.mark.skipif(BACKEND != "torch", reason="the chunk threads are torch's")
# Other tests in this process may have imported JAX, which warns at any fork; the child uses
# torch only.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_torch_chunks_in_a_forked_child():
    # A forked child has none of its parent's threads: a pool inherited from the parent would
    # never run the child's chunks (it hung before the pool was keyed by process id).
    import multiprocessing

    parent = to_numpy(_sampling.uniform((_sampling.TORCH_CHUNK + 7,), "float32", 9))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_draw_in_child, args=(queue,))
    child.start()
    try:
        np.testing.assert_array_equal(queue.get(timeout=60), parent)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
