"""`mode="fan_geo_avg"`: `n = sqrt(fan_in * fan_out)`, as `jax.nn.initializers.variance_scaling`.

Checked against jax's own initializer (the same values on the JAX backend, the same
distribution on every backend) and against the closed-form std, in every class taking `mode`.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import keras_inits
from tests.conftest import BACKEND, ks_critical, to_numpy

# Ours -> jax.nn.initializers' name for the same distribution (jax's "normal" is untruncated).
JAX_DISTRIBUTION = {
    "truncated_normal": "truncated_normal",
    "untruncated_normal": "normal",
    "uniform": "uniform",
}
SHAPES = [(64, 256), (3, 3, 16, 48)]  # fans (64, 256) and (144, 432)


def jax_reference(scale, distribution, shape, seed):
    """jax.nn.initializers.variance_scaling(scale, "fan_geo_avg", ...) with the key Keras' JAX
    backend builds from an int seed (raw key data [seed, 0])."""
    init = jax.nn.initializers.variance_scaling(
        scale, "fan_geo_avg", JAX_DISTRIBUTION[distribution]
    )
    return np.asarray(init(jnp.array([seed, 0], dtype=jnp.uint32), shape, jnp.float32), "float64")


@pytest.mark.parametrize("shape", SHAPES)
def test_variance_is_scale_over_the_geometric_mean_of_the_fans(shape):
    fan_in, fan_out = keras_inits.compute_fans(shape)
    geo = math.sqrt(fan_in * fan_out)
    assert keras_inits.VarianceScaling(3.0, "fan_geo_avg").variance(shape) == pytest.approx(
        3.0 / geo
    )
    # torch names: gain**2 / n; TF1 (uniform): factor / n; each with the same n.
    kaiming = keras_inits.KaimingUniform(mode="fan_geo_avg", nonlinearity="relu")
    assert kaiming.variance(shape) == pytest.approx(2.0 / geo)
    tf1 = keras_inits.TF1VarianceScaling(factor=2.0, mode="fan_geo_avg", uniform=True)
    assert tf1.variance(shape) == pytest.approx(2.0 / geo)
    assert tf1.get_config()["mode"] == "FAN_GEO_AVG"


@pytest.mark.parametrize("distribution", sorted(JAX_DISTRIBUTION))
@pytest.mark.parametrize("shape", SHAPES)
def test_fan_geo_avg_matches_jax_nn_initializers(distribution, shape):
    ours = to_numpy(keras_inits.VarianceScaling(2.0, "fan_geo_avg", distribution, seed=7)(shape))
    ref = jax_reference(2.0, distribution, shape, seed=7)
    if BACKEND == "jax":
        # The same draw: jax.random with the same key, scaled by the same std, up to the
        # rounding of that product: a few float32 ulps of the largest value.
        ulp = float(np.spacing(np.float32(np.abs(ref).max())))
        np.testing.assert_allclose(ours, ref, rtol=0, atol=4 * ulp)
    # Every backend: the same law. Two-sample KS at level 1e-3 over n = m = prod(shape).
    other = jax_reference(2.0, distribution, shape, seed=8)
    n = ours.size
    assert scipy.stats.ks_2samp(ours.ravel(), other.ravel()).statistic < ks_critical(n, n)
    # And the closed-form std sqrt(2 / sqrt(fan_in fan_out)): the SE of a std estimate is about
    # std * sqrt(k / (4 n)) with k = kurtosis + 2 (<= 3 for these laws); allow 5 SE.
    fan_in, fan_out = keras_inits.compute_fans(shape)
    std = math.sqrt(2.0 / math.sqrt(fan_in * fan_out))
    assert ours.std() == pytest.approx(std, rel=5 * math.sqrt(3 / (4 * n)))


@pytest.mark.parametrize("cls", [keras_inits.KaimingNormal, keras_inits.KaimingUniform])
def test_kaiming_fan_geo_avg_has_jax_std(cls):
    shape = SHAPES[1]
    values = to_numpy(cls(mode="fan_geo_avg", nonlinearity="linear", seed=3)(shape))
    fan_in, fan_out = keras_inits.compute_fans(shape)
    std = (fan_in * fan_out) ** -0.25  # gain 1
    assert values.std() == pytest.approx(std, rel=5 * math.sqrt(3 / (4 * values.size)))
