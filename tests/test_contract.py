"""The contract every registered scheme meets, parametrized over `keras_inits.names()`.

A new scheme is covered as soon as it is registered: shape, every float dtype, finite values,
empty shapes, seed semantics, config and `keras.saving` round-trips.
"""

import json

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits._registry import lookup
from tests.conftest import FLOAT_DTYPES, realized_dtype, to_numpy


def _instance(name, **kwargs):
    return lookup(name).example(**kwargs)


def _is_random(name):
    return issubclass(lookup(name), keras_inits.RandomInitializer)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_shape_dtype_finite(name, dtype):
    init = _instance(name, **({"seed": 3} if _is_random(name) else {}))
    for shape in lookup(name).example_shapes:
        x = init(shape, dtype=dtype)
        assert tuple(x.shape) == shape
        assert keras.backend.standardize_dtype(x.dtype) == realized_dtype(dtype)
        values = to_numpy(x)
        assert np.isfinite(values).all(), f"{name} gave non-finite values for {shape} {dtype}"


def test_default_dtype_is_floatx(name):
    x = _instance(name)(lookup(name).example_shapes[0])
    assert keras.backend.standardize_dtype(x.dtype) == keras.backend.floatx()


def test_zero_sized_shape_gives_empty_tensor(name):
    shape = list(lookup(name).example_shapes[0])
    shape[-1] = 0
    x = _instance(name)(tuple(shape), dtype="float32")
    assert tuple(x.shape) == tuple(shape)
    assert realized_dtype("float32") == keras.backend.standardize_dtype(x.dtype)


@pytest.mark.parametrize(
    "shape, error",
    [((4, -1), ValueError), ((4, 2.5), TypeError), ("abc", TypeError),
     # Equal to a valid shape but not ints: the checks are memoized, and must not be fooled.
     ((16, 32.0), TypeError), ((16, np.float64(32)), TypeError), ((16, True), TypeError)],
)
def test_bad_shape_names_the_shape(name, shape, error):
    init = _instance(name)
    if (16, 32) in lookup(name).example_shapes:
        init((16, 32), dtype="float32")  # memoizes the valid (16, 32)
    with pytest.raises(error, match="shape"):
        init(shape, dtype="float32")


def test_string_dtype_is_refused(name):
    with pytest.raises(TypeError, match="dtype"):
        _instance(name)(lookup(name).example_shapes[0], dtype="string")


def test_integer_dtype_only_where_documented(name):
    init, shape = _instance(name), lookup(name).example_shapes[0]
    if lookup(name).integer_dtypes:
        assert keras.backend.standardize_dtype(init(shape, dtype="int32").dtype) == "int32"
    else:
        with pytest.raises(TypeError, match="dtype"):
            init(shape, dtype="int32")


def test_seed_semantics(name):
    shape = lookup(name).example_shapes[0]
    if not _is_random(name):
        init = _instance(name)
        np.testing.assert_array_equal(to_numpy(init(shape)), to_numpy(init(shape)))
        np.testing.assert_array_equal(to_numpy(init(shape)), to_numpy(init.clone()(shape)))
        return
    # An int seed repeats its values on every call, and so does a clone of it.
    seeded = _instance(name, seed=7)
    first = to_numpy(seeded(shape))
    np.testing.assert_array_equal(first, to_numpy(seeded(shape)))
    np.testing.assert_array_equal(first, to_numpy(seeded.clone()(shape)))
    assert not np.array_equal(first, to_numpy(_instance(name, seed=8)(shape)))
    # A SeedGenerator gives new values on every call.
    generated = _instance(name, seed=keras.random.SeedGenerator(7))
    assert not np.array_equal(to_numpy(generated(shape)), to_numpy(generated(shape)))
    # Unseeded: one instance repeats itself, a clone draws a new seed (the config stores None).
    unseeded = _instance(name)
    np.testing.assert_array_equal(to_numpy(unseeded(shape)), to_numpy(unseeded(shape)))
    assert unseeded.get_config()["seed"] is None
    assert not np.array_equal(to_numpy(unseeded(shape)), to_numpy(unseeded.clone()(shape)))


def test_config_round_trips(name):
    init = _instance(name, **({"seed": 5} if _is_random(name) else {}))
    config = init.get_config()
    assert json.loads(json.dumps(config)) == config  # JSON-serializable, unchanged
    assert type(init).from_config(config).get_config() == config
    assert init.clone().get_config() == config
    shape = lookup(name).example_shapes[0]
    for restored in (
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(init)),
        keras_inits.deserialize(keras_inits.serialize(init)),
        keras.initializers.get(keras_inits.serialize(init)),
    ):
        assert type(restored) is type(init)
        assert restored.get_config() == config
        np.testing.assert_array_equal(to_numpy(restored(shape)), to_numpy(init(shape)))


def test_every_name_resolves_in_keras(name):
    cls = lookup(name)
    for alias in [n for n in keras_inits.names(aliases=True) if lookup(n) is cls]:
        config = {"class_name": f"keras_inits>{alias}", "config": cls.example_config}
        assert type(keras.initializers.get(config)) is cls
        assert type(keras_inits.get({**config, "class_name": alias})) is cls
