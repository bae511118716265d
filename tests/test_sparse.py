"""Sparse (Martens 2010): exact zeros per column, N(0, stddev^2) elsewhere, random positions."""

import math

import keras
import numpy as np
import pytest
import torch
from scipy import stats

import keras_inits
from tests.conftest import ks_critical, to_numpy

SHAPE = (200, 100)  # rows = 200 (fan-in), 100 columns


def _draw(sparsity=0.3, stddev=0.5, seed=0, shape=SHAPE):
    return to_numpy(keras_inits.Sparse(sparsity, stddev, seed=seed)(shape, dtype="float32"))


@pytest.mark.parametrize(
    "sparsity, shape, zeros",
    # Few distinct shapes: on JAX each new shape compiles its own kernels.
    [(0.3, SHAPE, 60), (0.0, (10, 7), 0), (0.9, (10, 7), 9), (0.3, (10, 7), 3),
     (0.01, (10, 7), 1), (0.25, (3, 3, 4, 5), 9)],
)
def test_exact_zero_count_per_column(sparsity, shape, zeros):
    # ceil(sparsity * rows), with 0.3 * 10 = 3.0000000000000004 counted as 3.
    w = _draw(sparsity, 1.0, shape=shape).reshape(-1, shape[-1])
    assert ((w == 0).sum(axis=0) == zeros).all()
    assert keras_inits.Sparse(sparsity).zeros_per_column(shape) == zeros


def test_nonzero_entries_are_normal():
    # 14000 non-zero entries; fixed seed; KS bound at alpha=1e-3. This would also fail if the
    # zeroed positions were correlated with the values (e.g. the smallest ones zeroed).
    w = _draw()
    values = w[w != 0]
    assert values.size == 140 * 100
    assert stats.kstest(values, stats.norm(0, 0.5).cdf).statistic < ks_critical(values.size)


def test_zero_positions_are_uniform_over_rows():
    # Each row is zero in a column with probability 0.3, independently across 100 columns:
    # the per-row counts (summed over 100 columns) are Binomial(100, 0.3). Chi-square of the
    # counts' spread, fixed seed, level 1e-3.
    zeros = (_draw(seed=1) == 0).sum(axis=1)
    expected = 100 * 0.3
    chi2 = ((zeros - expected) ** 2 / (100 * 0.3 * 0.7)).sum()
    assert stats.chi2.sf(chi2, df=SHAPE[0] - 1) > 1e-3
    # Columns are independent: not all the same pattern.
    w = _draw(seed=1)
    assert len({tuple(col) for col in (w == 0).T}) == SHAPE[1]


def test_matches_torch_values_distribution():
    # torch.nn.init.sparse_ draws its non-zero entries from N(0, std^2) as well.
    torch.manual_seed(0)
    theirs = torch.nn.init.sparse_(torch.empty(200, 100), 0.3, std=0.5).numpy()
    ours = _draw(seed=2)
    a, b = ours[ours != 0], theirs[theirs != 0]
    assert stats.ks_2samp(a, b).statistic < ks_critical(a.size, b.size)


def test_seeded_and_vectorized():
    np.testing.assert_array_equal(_draw(seed=3), _draw(seed=3))
    assert not np.array_equal(_draw(seed=3), _draw(seed=4))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"sparsity": 1.5}, ValueError, r"sparsity=1.5"),
        ({"sparsity": 1.0}, ValueError, r"\[0, 1\).*sparsity=1.0"),
        ({"sparsity": -0.1}, ValueError, r"sparsity=-0.1"),
        ({"stddev": -1.0}, ValueError, r"stddev=-1.0"),
        ({"sparsity": "0.1"}, TypeError, r"sparsity='0.1'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_inits.Sparse(**kwargs)


def test_rank_1_is_refused():
    with pytest.raises(ValueError, match=r"rank >= 2"):
        keras_inits.Sparse()((8,))


def test_in_a_dense_layer():
    layer = keras.layers.Dense(10, kernel_initializer="sparse")
    layer.build((None, 20))
    kernel = to_numpy(layer.kernel)
    assert ((kernel == 0).sum(axis=0) == math.ceil(0.1 * 20)).all()


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="jax.jit traceability")
def test_traceable_by_jax_jit():
    import jax

    init = keras_inits.Sparse(0.5, 1.0, seed=0)
    traced = np.asarray(jax.jit(lambda: init((6, 4)))())
    np.testing.assert_array_equal(traced, to_numpy(init((6, 4))))
