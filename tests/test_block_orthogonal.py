"""BlockOrthogonal: every gate block of a fused recurrent kernel is orthogonal on its own."""


import keras
import numpy as np
import pytest
from scipy import stats

import keras_inits
from tests.conftest import ks_critical, to_numpy


def _blocks(w, k):
    w = w.reshape(-1, w.shape[-1])
    return np.split(w, k, axis=1)


@pytest.mark.parametrize(
    "shape, kwargs, k",
    [
        ((16, 64), {}, 4),  # LSTM recurrent kernel (u, 4u)
        ((16, 48), {}, 3),  # GRU recurrent kernel (u, 3u)
        ((12, 12), {}, 1),
        ((16, 64), {"gain": 0.5}, 4),
        ((16, 8), {"num_blocks": 2}, 2),  # tall blocks (16, 4): orthonormal columns
        ((4, 32), {"num_blocks": 2}, 2),  # wide blocks (4, 16): orthonormal rows
        ((2, 4, 24), {}, 3),  # viewed as (8, 24)
    ],
)
def test_every_block_has_singular_values_gain(shape, kwargs, k):
    init = keras_inits.BlockOrthogonal(**kwargs, seed=0)
    w = to_numpy(init(shape, dtype="float32"))
    gain = kwargs.get("gain", 1.0)
    blocks = _blocks(w, k)
    for block in blocks:
        np.testing.assert_allclose(np.linalg.svd(block, compute_uv=False), gain, atol=1e-5)
    # Independent blocks, not one block repeated.
    if k > 1:
        assert not np.allclose(blocks[0], blocks[1])


def test_keras_orthogonal_on_fused_kernel_is_not_per_gate():
    # The motivation (Keras issue 9149): the fused kernel's blocks are far from orthogonal.
    w = to_numpy(keras_inits.Orthogonal(seed=0)((16, 64), dtype="float32"))
    singular = np.linalg.svd(_blocks(w, 4)[0], compute_uv=False)
    assert singular.max() - singular.min() > 0.3


def test_blocks_are_haar_distributed():
    # For a Haar-random n x n orthogonal Q, (Q[0, 0] + 1) / 2 ~ Beta((n-1)/2, (n-1)/2), and
    # the sign correction is what makes it symmetric. One entry from each of 2000 independent
    # 4 x 4 blocks; fixed seed; KS bound at alpha=1e-3.
    n, k = 4, 2000
    w = to_numpy(keras_inits.BlockOrthogonal(seed=1)((n, n * k), dtype="float32"))
    first = w[0, ::n]
    assert first.shape == (k,)
    dist = stats.beta((n - 1) / 2, (n - 1) / 2, loc=-1, scale=2)
    assert stats.kstest(first, dist.cdf).statistic < ks_critical(k)


def test_lstm_recurrent_kernel_gates_are_orthogonal():
    layer = keras.layers.LSTM(8, recurrent_initializer=keras_inits.BlockOrthogonal(seed=2))
    layer.build((1, 3, 5))
    kernel = to_numpy(layer.cell.recurrent_kernel)
    assert kernel.shape == (8, 32)
    for block in _blocks(kernel, 4):
        np.testing.assert_allclose(block.T @ block, np.eye(8), atol=1e-5)


def test_half_precision():
    for dtype in ("float16", "bfloat16"):
        w = to_numpy(keras_inits.BlockOrthogonal(seed=0)((8, 24), dtype=dtype))
        for block in _blocks(w, 3):
            # Orthogonal in float32, then rounded: relative error ~ 2**-8 for bfloat16.
            np.testing.assert_allclose(block.T @ block, np.eye(8), atol=0.03)


@pytest.mark.parametrize(
    "kwargs, shape, error, match",
    [
        ({}, (16, 40), ValueError, r"num_blocks"),
        ({}, (16, 8), ValueError, r"shape=\(16, 8\)"),
        ({"num_blocks": 3}, (8, 32), ValueError, r"num_blocks=3"),
        ({}, (8,), ValueError, r"rank >= 2"),
    ],
)
def test_bad_shapes(kwargs, shape, error, match):
    with pytest.raises(error, match=match):
        keras_inits.BlockOrthogonal(**kwargs)(shape)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_blocks": 0}, ValueError, r"num_blocks=0"),
        ({"num_blocks": 2.0}, TypeError, r"num_blocks=2.0"),
        ({"gain": "2"}, TypeError, r"gain='2'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_inits.BlockOrthogonal(**kwargs)


def test_config():
    init = keras_inits.BlockOrthogonal(gain=2.0, num_blocks=4, seed=3)
    assert init.get_config() == {"seed": 3, "gain": 2.0, "num_blocks": 4}
    assert type(keras_inits.get("block_orthogonal")) is keras_inits.BlockOrthogonal


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="jax.jit traceability")
def test_traceable_by_jax_jit():
    import jax

    init = keras_inits.BlockOrthogonal(seed=0)
    np.testing.assert_allclose(
        np.asarray(jax.jit(lambda: init((8, 32)))()), to_numpy(init((8, 32))), atol=1e-6
    )
