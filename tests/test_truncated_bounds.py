"""TruncatedNormal's `lower`/`upper` bounds (in stddev units): the exact law, never outside."""

import math

import keras
import numpy as np
import pytest
from scipy import stats

import keras_inits
from tests.conftest import FLOAT_DTYPES, ks_critical, to_numpy

N = 20000


@pytest.mark.parametrize(
    "mean, stddev, lower, upper",
    [
        (0.0, 0.05, -2.0, 2.0),  # Keras' default
        (0.0, 1.0, -1.0, 3.0),
        (0.5, 2.0, 0.0, 2.0),  # half-normal
        (0.0, 1.0, -3.0, -0.5),
        (-1.0, 0.1, 1.5, 4.0),  # one tail only
        (0.0, 0.02, -0.1, 0.1),  # nearly uniform
    ],
)
def test_exact_truncated_law(mean, stddev, lower, upper):
    # Fixed seed; KS bound at alpha=1e-3 for n=20000 (~0.014).
    init = keras_inits.TruncatedNormal(mean, stddev, seed=3, lower=lower, upper=upper)
    x = to_numpy(init((N,), dtype="float32"))
    law = stats.truncnorm(lower, upper, loc=mean, scale=stddev)
    assert stats.kstest(x, law.cdf).statistic < ks_critical(N)
    # Mean within 5 SE (SE = std / sqrt(N)).
    assert abs(x.mean() - law.mean()) < 5 * law.std() / math.sqrt(N)


def test_defaults_match_keras_builtin():
    ours = to_numpy(keras_inits.TruncatedNormal(stddev=0.05, seed=1)((N,), dtype="float32"))
    theirs = to_numpy(keras.initializers.TruncatedNormal(stddev=0.05, seed=2)((N,)))
    assert stats.ks_2samp(ours, theirs).statistic < ks_critical(N, N)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("lower, upper", [(-2.0, 2.0), (-0.5, 3.0), (2.5, 2.6)])
def test_no_sample_outside_bounds(dtype, lower, upper):
    # 2**16 draws, several seeds: the bounds hold exactly. In half precision, samples are
    # rounded to the dtype, so the bound they may reach is the bound rounded the same way.
    mean, stddev = 0.1, 0.3
    lo = keras.ops.cast(np.float64(mean + lower * stddev), dtype)
    hi = keras.ops.cast(np.float64(mean + upper * stddev), dtype)
    lo, hi = to_numpy(lo), to_numpy(hi)
    for seed in range(3):
        init = keras_inits.TruncatedNormal(mean, stddev, seed=seed, lower=lower, upper=upper)
        x = to_numpy(init((2**16,), dtype=dtype))
        assert lo <= x.min() and x.max() <= hi, (x.min(), x.max(), lo, hi)


def test_bounds_in_config():
    init = keras_inits.TruncatedNormal(stddev=1.0, seed=0, lower=-1.0, upper=3.0)
    config = init.get_config()
    assert (config["lower"], config["upper"]) == (-1.0, 3.0)
    restored = keras_inits.TruncatedNormal.from_config(config)
    np.testing.assert_array_equal(to_numpy(restored((64,))), to_numpy(init((64,))))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lower": 1.0, "upper": 1.0}, ValueError, r"lower=1.0, upper=1.0"),
        ({"lower": 2.0, "upper": -2.0}, ValueError, r"upper"),
        ({"lower": "a"}, TypeError, r"lower='a'"),
        ({"upper": float("inf")}, ValueError, r"upper=inf"),
    ],
)
def test_bad_bounds(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_inits.TruncatedNormal(**kwargs)
