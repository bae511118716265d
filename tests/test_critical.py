"""CriticalInit and CriticalBias: the critical variance, Keras' own values where they coincide,
save/reload in a model, bad input. (The registry's contract, property, bad-input and safe-config
tests cover both classes too.)"""

import math

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits import meanfield
from tests.conftest import to_numpy


def test_registered_under_their_names():
    assert {"CriticalInit", "CriticalBias"} <= set(keras_inits.names())
    for alias in ("critical_init", "edge_of_chaos", "keras_inits>CriticalInit"):
        assert type(keras_inits.get({"class_name": alias, "config": {"activation": "tanh"}})) \
            is keras_inits.CriticalInit
    assert type(keras.initializers.get("keras_inits>critical_bias")) is keras_inits.CriticalBias


def test_relu_is_he_exactly():
    # sigma_w^2 = 2 for relu: the same draw as Keras' HeUniform (the uniform family gives Keras'
    # values on every backend; 64 x 48 is far below torch's 2^20-element chunk).
    ours = keras_inits.CriticalInit("relu", distribution="uniform", seed=3)((64, 48))
    np.testing.assert_allclose(to_numpy(ours), to_numpy(keras.initializers.HeUniform(3)((64, 48))),
                               rtol=1e-6, atol=1e-7)
    # ... and exactly this package's HeNormal, for any bias variance.
    np.testing.assert_array_equal(
        to_numpy(keras_inits.CriticalInit("relu", sigma_b2=0.4, seed=5)((32, 16))),
        to_numpy(keras_inits.HeNormal(seed=5)((32, 16))))


@pytest.mark.parametrize("activation, sigma_b2, params", [
    ("tanh", 0.05, None), ("leaky_relu", 0.0, {"negative_slope": 0.1}), ("selu", 0.1, None),
    (keras.activations.gelu, 0.5, None),
])
def test_variance_is_critical_over_fan_in(activation, sigma_b2, params):
    init = keras_inits.CriticalInit(activation, sigma_b2, "untruncated_normal", seed=0,
                                    activation_params=params)
    name = activation if isinstance(activation, str) else activation.__name__
    assert init.sigma_w2 == meanfield.critical(name, sigma_b2, **(params or {}))
    shape = (3, 3, 32, 64)  # fan_in = 288
    values = to_numpy(init(shape))
    expected = init.sigma_w2 / 288
    # The sample variance of n normal values has relative standard error sqrt(2/n): allow 5.
    n = values.size
    assert abs(values.var() / expected - 1) < 5 * math.sqrt(2 / n)


def test_bias_variance_and_zero():
    values = to_numpy(keras_inits.CriticalBias(0.05, seed=1)((20000,)))
    assert abs(values.var() / 0.05 - 1) < 5 * math.sqrt(2 / values.size)  # 5 standard errors
    assert abs(values.mean()) < 5 * math.sqrt(0.05 / values.size)
    assert not to_numpy(keras_inits.CriticalBias(seed=1)((7,))).any()


def _model(seed=0):
    inputs = keras.Input((12,))
    h = keras.layers.Dense(16, "tanh", name="hidden",
                           kernel_initializer=keras_inits.CriticalInit("tanh", 0.05, seed=seed),
                           bias_initializer=keras_inits.CriticalBias(0.05, seed=seed + 1))(inputs)
    h = keras.layers.EinsumDense("ab,bc->ac", output_shape=8, bias_axes="c", name="einsum",
                                 kernel_initializer=keras_inits.CriticalInit(
                                     "leaky_relu", activation_params={"negative_slope": 0.1},
                                     distribution="uniform", seed=seed + 2))(h)
    return keras.Model(inputs, h)


def test_save_and_reload_in_a_model(tmp_path):
    model = _model()
    path = str(tmp_path / "critical.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(model.layers[1:], loaded.layers[1:]):
        assert type(b.kernel_initializer) is type(a.kernel_initializer)
        assert b.kernel_initializer.get_config() == a.kernel_initializer.get_config()
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(to_numpy(wa), to_numpy(wb))
    assert type(loaded.get_layer("hidden").bias_initializer) is keras_inits.CriticalBias
    # EinsumDense rebuilds a VarianceScaling with its einsum axes through `from_config`.
    einsum = loaded.get_layer("einsum").kernel_initializer
    assert einsum.activation_params == {"negative_slope": 0.1}
    assert einsum.sigma_w2 == pytest.approx(2 / 1.01)
    # Re-initializing the reloaded model draws the same weights (int seeds).
    np.testing.assert_array_equal(to_numpy(_model().get_layer("hidden").kernel),
                                  to_numpy(loaded.get_layer("hidden").kernel))


BAD = [
    ({"activation": "no_such"}, ValueError, r"activation.*one of.*'no_such'"),
    ({"activation": lambda x: x}, TypeError, r"activation.*Keras activation function.*lambda"),
    ({"activation": "tanh", "sigma_b2": -1.0}, ValueError, r"sigma_b2.*>= 0.*sigma_b2=-1.0"),
    ({"activation": "gelu"}, ValueError, r"No sigma_w2 gives chi1 = 1.*sigma_b2=0"),
    ({"activation": "tanh", "activation_params": {"alpha": 1.0}}, ValueError,
     r"activation_params.*Unknown parameter.*alpha.*Allowed"),
    ({"activation": "elu", "activation_params": {"alpha": -1.0}}, ValueError,
     r"activation_params.*alpha.*> 0"),
    ({"activation": "elu", "activation_params": [1.0]}, TypeError, r"activation_params=\[1.0\]"),
    ({"activation": "tanh", "distribution": "cauchy"}, ValueError, r"distribution='cauchy'"),
]


@pytest.mark.parametrize("kwargs, error, pattern", BAD)
def test_bad_input(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        keras_inits.CriticalInit(**kwargs)


def test_bias_bad_input():
    with pytest.raises(ValueError, match=r"sigma_b2.*>= 0.*sigma_b2=-0.5"):
        keras_inits.CriticalBias(-0.5)
    with pytest.raises(ValueError, match=r"sigma_b2.*float16"):
        keras_inits.CriticalBias(1e9, seed=0)((4,), dtype="float16")
