"""`get`, names, Keras registration, `override_keras_names`, `compute_fans`."""

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits._registry import _KERAS_TABLE, lookup
from tests.conftest import to_numpy

KERAS_NAMES = sorted(k for k in _KERAS_TABLE if k.lower() != "initializer")


@pytest.mark.parametrize("alias", KERAS_NAMES)
def test_every_keras_string_gives_our_class(alias):
    # (Keras' own get("constant") fails: its Constant.from_config needs "value". Ours works.)
    ours = keras_inits.get(alias)
    assert type(ours).__module__.startswith("keras_inits")
    assert type(ours).__name__ == _KERAS_TABLE[alias].__name__


def test_plain_names_stay_keras_until_override():
    assert type(keras.initializers.get("he_normal")).__module__.startswith("keras.")
    with keras_inits.override_keras_names():
        assert type(keras.initializers.get("he_normal")) is keras_inits.HeNormal
        assert type(keras.initializers.get("OrthogonalInitializer")) is keras_inits.Orthogonal
        dense = keras.layers.Dense(4)  # default "glorot_uniform"
        lstm = keras.layers.LSTM(4)  # default recurrent "orthogonal"
        assert type(dense.kernel_initializer) is keras_inits.GlorotUniform
        assert type(lstm.cell.recurrent_initializer) is keras_inits.Orthogonal
    assert type(keras.initializers.get("he_normal")).__module__.startswith("keras.")
    assert type(keras.layers.Dense(4).kernel_initializer).__module__.startswith("keras.")


def test_override_without_context_manager_and_restore():
    override = keras_inits.override_keras_names()
    try:
        assert type(keras.initializers.get("zeros")) is keras_inits.Zeros
    finally:
        override.restore()
    assert type(keras.initializers.get("zeros")).__module__.startswith("keras.")


def test_get_accepts_every_identifier_kind():
    assert keras_inits.get(None) is None
    assert type(keras_inits.get("keras_inits>HeNormal")) is keras_inits.HeNormal
    assert type(keras_inits.get(keras_inits.HeNormal)) is keras_inits.HeNormal
    assert type(keras_inits.get(keras.initializers.HeNormal)) is keras_inits.HeNormal
    instance = keras_inits.RandomNormal(stddev=0.3, seed=1)
    assert keras_inits.get(instance) is instance
    converted = keras_inits.get(keras.initializers.RandomNormal(stddev=0.3, seed=4))
    assert type(converted) is keras_inits.RandomNormal and converted.stddev == 0.3
    assert converted.seed == 4
    config = keras.initializers.serialize(keras.initializers.VarianceScaling(2.0, "fan_out"))
    from_config = keras_inits.get(config)
    assert type(from_config) is keras_inits.VarianceScaling and from_config.mode == "fan_out"

    def fn(shape, dtype=None):
        return keras.ops.ones(shape, dtype)

    assert keras_inits.get(fn) is fn
    array = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(to_numpy(keras_inits.get(array)((2, 3), "float32")), array)
    with pytest.raises(ValueError, match="shape"):
        keras_inits.get(array)((3, 2), "float32")
    tensor_init = keras_inits.get(keras.ops.ones((2, 2)))
    np.testing.assert_array_equal(to_numpy(tensor_init((2, 2), "float32")), np.ones((2, 2)))


def test_get_refuses_bad_identifiers():
    with pytest.raises(ValueError, match=r"Did you mean 'he_normal'"):
        keras_inits.get("he_normall")
    with pytest.raises(TypeError, match="Initializer"):
        keras_inits.get(dict)
    with pytest.raises(TypeError, match="identifier"):
        keras_inits.get(42)
    with pytest.raises(TypeError, match="Initializer"):
        keras_inits.deserialize({"class_name": "Dense", "config": {}},
                                custom_objects={"Dense": keras.layers.Dense})
    with pytest.raises(ValueError, match="Unknown initializer"):
        keras_inits.deserialize({"class_name": "NoSuchThing", "config": {}})


def test_names_cover_aliases():
    every = keras_inits.names(aliases=True)
    assert set(keras_inits.names()) <= set(every)
    for alias in ("normal", "uniform", "zero", "one", "OrthogonalInitializer",
                  "IdentityInitializer", "STFTInitializer", "he_normal", "GlorotUniform"):
        assert alias in every


def test_names_keras_lacks_are_registered_bare():
    bare = [n for n in keras_inits.names(aliases=True) if n not in _KERAS_TABLE]
    for alias in bare:
        assert keras.saving.get_custom_objects()[alias] is lookup(alias)
    for alias in KERAS_NAMES:
        assert keras.saving.get_custom_objects().get(alias) is None


@pytest.mark.parametrize(
    "shape, axes",
    [((), (None, None)), ((7,), (None, None)), ((3, 5), (None, None)),
     ((3, 3, 4, 8), (None, None)), ((2, 3, 4, 5, 6), (None, None)),
     ((16, 4, 8), ([0], [1, 2])), ((4, 8, 16), ([0, 1], [2]))],
)
def test_compute_fans_matches_keras(shape, axes):
    from keras.src.initializers.random_initializers import compute_fans

    assert keras_inits.compute_fans(shape, *axes) == compute_fans(shape, *axes)


def test_compute_fans_rejects_bad_axes():
    with pytest.raises(ValueError, match="input_axes"):
        keras_inits.compute_fans((3, 4), [5], [1])
