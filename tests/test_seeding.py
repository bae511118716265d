"""Path-derived seeding: `keras_inits.seeding(seed)` and `set_seeding`.

The reference for every value is the rule itself, computed independently: a variable whose
seeding path is `p` holds what the same initializer with the explicit seed `path_seed(seed, p)`
draws. The model-level guarantees (insertion, Sequential/Functional/subclassed) compare real
Keras models built twice.
"""

import threading

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits import _seeds
from tests.conftest import to_numpy

L = keras.layers


def weights(model) -> dict[str, np.ndarray]:
    """`{seeding path: values}` of every variable of `model`."""
    paths = _seeds.model_seeding_paths(model)
    return {paths[id(v)]: to_numpy(v.value) for v in model.weights}


def mlp(insert=False, names=("a", "b", "c")):
    layers = [keras.Input((12,)), L.Dense(16, name=names[0], activation="relu")]
    if insert:
        layers.append(L.Dense(16, name="inserted"))
    layers += [
        L.Dense(8, name=names[1], kernel_initializer=keras_inits.HeNormal()),
        L.Dense(4, name=names[2], bias_initializer=keras_inits.RandomUniform()),
    ]
    return keras.Sequential(layers)


def functional():
    inputs = keras.Input((12,))
    x = L.Dense(16, name="a", activation="relu")(inputs)
    x = L.Dense(8, name="b", kernel_initializer=keras_inits.HeNormal())(x)
    return keras.Model(
        inputs, L.Dense(4, name="c", bias_initializer=keras_inits.RandomUniform())(x)
    )


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="my_model")
        self.a = L.Dense(16, name="a", activation="relu")
        self.b = L.Dense(8, name="b", kernel_initializer=keras_inits.HeNormal())
        self.c = L.Dense(4, name="c", bias_initializer=keras_inits.RandomUniform())

    def call(self, x):
        return self.c(self.b(self.a(x)))


def subclassed():
    model = Subclassed()
    model(np.zeros((2, 12), "float32"))
    return model


def test_values_follow_the_path_rule():
    with keras_inits.override_keras_names(), keras_inits.seeding(7):
        got = weights(mlp())
    # Independent reference: the same schemes with the derived seed passed explicitly.
    assert np.array_equal(
        got["a/kernel"],
        to_numpy(keras_inits.GlorotUniform(seed=_seeds.path_seed(7, "a/kernel"))((12, 16))),
    )
    assert np.array_equal(
        got["b/kernel"],
        to_numpy(keras_inits.HeNormal(seed=_seeds.path_seed(7, "b/kernel"))((16, 8))),
    )
    assert np.array_equal(
        got["c/bias"], to_numpy(keras_inits.RandomUniform(seed=_seeds.path_seed(7, "c/bias"))((4,)))
    )
    assert not np.array_equal(got["a/kernel"][:, :8], got["b/kernel"][:12])


def test_inserting_a_layer_keeps_the_named_layers_weights():
    with keras_inits.override_keras_names(), keras_inits.seeding(0):
        before = weights(mlp())
        after = weights(mlp(insert=True))
    assert set(after) - set(before) == {"inserted/kernel", "inserted/bias"}
    for path, values in before.items():
        assert np.array_equal(values, after[path]), path


@pytest.mark.parametrize("build", [functional, subclassed], ids=["functional", "subclassed"])
def test_sequential_functional_and_subclassed_agree(build):
    with keras_inits.override_keras_names(), keras_inits.seeding(3):
        sequential = weights(mlp())
        other = weights(build())
    assert sequential.keys() == other.keys()
    for path, values in sequential.items():
        assert np.array_equal(values, other[path]), path


def test_other_seeds_and_no_scope_differ():
    with keras_inits.override_keras_names():
        with keras_inits.seeding(0):
            zero = weights(mlp())
        with keras_inits.seeding(1):
            one = weights(mlp())
        unscoped = weights(mlp())
    assert not np.array_equal(zero["a/kernel"], one["a/kernel"])
    # Outside a scope each unseeded initializer keeps its own random seed.
    assert not np.array_equal(zero["a/kernel"], unscoped["a/kernel"])


def test_explicit_seeds_keep_their_meaning():
    def build():
        return keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(3, name="d", kernel_initializer=keras_inits.HeUniform(seed=11)),
            ]
        )

    with keras_inits.seeding(0):
        scoped = weights(build())
    assert np.array_equal(scoped["d/kernel"], to_numpy(keras_inits.HeUniform(seed=11)((5, 3))))


def test_a_call_outside_variable_creation_keeps_its_seed():
    init = keras_inits.HeNormal()
    with keras_inits.seeding(0):
        inside = to_numpy(init((6, 6)))
    assert np.array_equal(inside, to_numpy(init((6, 6))))


def test_several_draws_for_one_variable_get_distinct_streams():
    # LSTM's unit_forget_bias builds the bias from two calls of its bias initializer.
    layer = L.LSTM(4, name="lstm", bias_initializer=keras_inits.RandomNormal(stddev=1.0))
    with keras_inits.seeding(0):
        keras.Sequential([keras.Input((3, 2)), layer])
    bias = to_numpy(layer.cell.bias.value)
    assert np.array_equal(bias[4:8], np.ones(4))  # the forget gate
    assert not np.array_equal(bias[:4], bias[8:12])
    first = to_numpy(
        keras_inits.RandomNormal(stddev=1.0, seed=_seeds.path_seed(0, "lstm/lstm_cell/bias"))((4,))
    )
    second = to_numpy(
        keras_inits.RandomNormal(stddev=1.0, seed=_seeds.path_seed(0, "lstm/lstm_cell/bias#1"))(
            (8,)
        )
    )
    assert np.array_equal(bias[:4], first) and np.array_equal(bias[8:], second)


def test_a_wrapped_initializer_takes_the_path_seed():
    depth = keras_inits.DepthScaled(keras_inits.HeNormal(), 8)
    with keras_inits.seeding(2):
        model = keras.Sequential(
            [keras.Input((6,)), L.Dense(4, name="d", kernel_initializer=depth)]
        )
    expected = to_numpy(keras_inits.HeNormal(seed=_seeds.path_seed(2, "d/kernel"))((6, 4)))
    np.testing.assert_allclose(weights(model)["d/kernel"], expected * depth.factor, rtol=1e-6)


def test_nested_scopes_innermost_wins_then_outer_returns():
    with keras_inits.override_keras_names(), keras_inits.seeding(0):
        outer = weights(mlp())
        with keras_inits.seeding(5):
            inner = weights(mlp())
        again = weights(mlp())
    with keras_inits.override_keras_names(), keras_inits.seeding(5):
        five = weights(mlp())
    assert np.array_equal(inner["a/kernel"], five["a/kernel"])
    assert np.array_equal(outer["a/kernel"], again["a/kernel"])


def test_global_setting_applies_to_threads_without_a_scope():
    try:
        keras_inits.set_seeding(4)
        with keras_inits.override_keras_names():
            global_ = weights(mlp())
            with keras_inits.seeding(0):
                scoped = weights(mlp())
    finally:
        keras_inits.set_seeding(None)
    with keras_inits.override_keras_names(), keras_inits.seeding(4):
        four = weights(mlp())
    with keras_inits.override_keras_names(), keras_inits.seeding(0):
        zero = weights(mlp())
    assert np.array_equal(global_["a/kernel"], four["a/kernel"])
    assert np.array_equal(scoped["a/kernel"], zero["a/kernel"])
    assert _seeds.active() is None


def test_threads_with_different_scopes_do_not_interfere():
    with keras_inits.override_keras_names():
        with keras_inits.seeding(10):
            expected = {10: weights(mlp())}
        with keras_inits.seeding(20):
            expected[20] = weights(mlp())
        results, errors = {}, []
        barrier = threading.Barrier(2)

        def build(seed):
            try:
                with keras_inits.seeding(seed):
                    barrier.wait()  # both scopes are open while both threads build
                    results[seed] = [weights(mlp()) for _ in range(3)]
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=build, args=(s,)) for s in (10, 20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    for seed, builds in results.items():
        for got in builds:
            for path, values in expected[seed].items():
                assert np.array_equal(values, got[path]), (seed, path)


def test_scope_is_per_thread():
    seen = []
    with keras_inits.seeding(1):
        thread = threading.Thread(target=lambda: seen.append(_seeds.active()))
        thread.start()
        thread.join()
        assert _seeds.active().seed == 1
    assert seen == [None]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"seed": -1},
            ValueError,
            r"Argument `seed` must be an int in \[0, 4294967295\].*Received: seed=-1",
        ),
        ({"seed": 2**32}, ValueError, r"Received: seed=4294967296"),
        ({"seed": 1.5}, TypeError, r"Argument `seed` must be an int.*Received: seed=1.5"),
        ({"seed": "0"}, TypeError, r"Received: seed='0'"),
        ({"seed": True}, TypeError, r"Received: seed=True"),
        ({"seed": None}, TypeError, r"Received: seed=None"),
        (
            {"seed": 0, "portable": 1},
            TypeError,
            r"Argument `portable` must be a bool.*Received: portable=1",
        ),
        ({"seed": 0, "portable": "yes"}, TypeError, r"Received: portable='yes'"),
        ({"seed": 0, "portable": None}, TypeError, r"Received: portable=None"),
    ],
)
def test_bad_input(kwargs, error, match):
    seed = kwargs.pop("seed")
    with pytest.raises(error, match=match):
        keras_inits.seeding(seed, **kwargs)
    if seed is not None:
        with pytest.raises(error, match=match):
            keras_inits.set_seeding(seed, **kwargs)
    assert _seeds.active() is None


def test_set_seeding_none_checks_portable():
    with pytest.raises(TypeError, match=r"Received: portable='no'"):
        keras_inits.set_seeding(None, portable="no")


def test_numpy_int_seed_is_accepted():
    with keras_inits.seeding(np.int64(3)) as scope:
        assert scope.seed == 3 and type(scope.seed) is int
    assert repr(scope) == "seeding(3, portable=False)"


def test_einsum_dense_copies_of_unseeded_initializers_stay_path_seeded():
    # EinsumDense clones a VarianceScaling initializer with `seed=init.seed` (its picked seed).
    def build(extra):
        inputs = keras.Input((10,))
        x = L.Dense(10, name="extra")(inputs) if extra else inputs
        outputs = L.EinsumDense(
            "ab,bc->ac", 6, name="e", kernel_initializer=keras_inits.GlorotUniform()
        )(x)
        return keras.Model(inputs, outputs)

    with keras_inits.seeding(1):
        first, second = weights(build(False)), weights(build(True))
    expected = to_numpy(keras_inits.GlorotUniform(seed=_seeds.path_seed(1, "e/kernel"))((10, 6)))
    assert np.array_equal(first["e/kernel"], expected)
    assert np.array_equal(second["e/kernel"], expected)


def test_reinitialize_and_apply_in_a_scope_follow_the_same_rule():
    # A Sequential model: its variables' Keras paths carry the model's name, seeding paths don't.
    with keras_inits.override_keras_names(), keras_inits.seeding(0):
        model = mlp()
    built = weights(model)
    for variable in model.weights:
        variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
    with keras_inits.seeding(0):
        keras_inits.reinitialize(model)
    for path, values in built.items():
        assert np.array_equal(values, weights(model)[path]), path
    keras_inits.apply(model, {"b/kernel": keras_inits.HeNormal()}, seed=0, verbose=0)
    assert np.array_equal(weights(model)["b/kernel"], built["b/kernel"])
