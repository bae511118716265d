"""PriorBias and init_output_bias: exact biases from priors, degenerate labels, the head found,
all-or-nothing assignment, saving and re-initialization."""

import math
import os

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits.schemes.prior import EPS
from tests.conftest import to_numpy


def logit(p):
    return math.log(p / (1 - p))


# --- PriorBias -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prior, link, expected",
    [
        ([0.01, 0.2, 0.5], "sigmoid", [logit(0.01), logit(0.2), 0.0]),
        ([0.7, 0.2, 0.1], "softmax", [math.log(0.7), math.log(0.2), math.log(0.1)]),
        ([-3.5, 0.0, 12.25], "identity", [-3.5, 0.0, 12.25]),
        (0.25, "sigmoid", [logit(0.25)]),  # a number is one output
        # Degenerate priors are clipped to [eps, 1 - eps]: large finite biases, never inf.
        ([0.0, 1.0], "sigmoid", [logit(EPS), logit(1 - EPS)]),
        ([0.0, 1.0], "softmax", [math.log(EPS), math.log(1 - EPS)]),
    ],
)
def test_prior_bias_exact_values(prior, link, expected):
    n = len(expected)
    values = to_numpy(keras_inits.PriorBias(prior, link)((n,), dtype="float64"))
    np.testing.assert_allclose(values, expected, rtol=1e-6)  # float32 where JAX has no x64
    assert np.isfinite(values).all()


def test_prior_bias_eps_sets_the_clip():
    values = to_numpy(keras_inits.PriorBias([0.0, 1.0], eps=1e-3)((2,), dtype="float32"))
    np.testing.assert_allclose(values, [logit(1e-3), logit(1 - 1e-3)], rtol=1e-6)


def test_prior_bias_predicts_the_prior():
    # The point of the scheme: sigmoid(b) = p, softmax(b) = p.
    p = np.array([0.05, 0.15, 0.8])
    b = to_numpy(keras_inits.PriorBias(p.tolist(), "sigmoid")((3,), dtype="float32"))
    np.testing.assert_allclose(1 / (1 + np.exp(-b)), p, rtol=1e-5)
    b = to_numpy(keras_inits.PriorBias(p.tolist(), "softmax")((3,), dtype="float32"))
    np.testing.assert_allclose(np.exp(b) / np.exp(b).sum(), p, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"prior": [0.5, 1.5]}, ValueError, r"\[0, 1\].*prior=\[0.5, 1.5\]"),
        ({"prior": [-0.1]}, ValueError, r"prior=\[-0.1\]"),
        ({"prior": [0.5, 0.6], "link": "softmax"}, ValueError, r"sum to 1.*sum 1.1"),
        ({"prior": [], "link": "identity"}, TypeError, r"non-empty.*prior=\[\]"),
        ({"prior": [[0.5]]}, TypeError, r"1-D.*shape \(1, 1\)"),
        ({"prior": [0.5, float("nan")]}, ValueError, r"finite.*prior="),
        ({"prior": ["a"]}, TypeError, r"prior=\['a'\]"),
        ({"prior": [0.5], "link": "tanh"}, ValueError,
         r"one of \['identity', 'sigmoid', 'softmax'\].*link='tanh'"),
        ({"prior": [0.5], "eps": 0.5}, ValueError, r"\(0, 0.5\).*eps=0.5"),
        ({"prior": [0.5], "eps": 0.0}, ValueError, r"eps=0.0"),
    ],
)
def test_prior_bias_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_inits.PriorBias(**kwargs)


@pytest.mark.parametrize("shape", [(2,), (3, 1), (1, 3), ()])
def test_prior_bias_shape_must_match_the_values(shape):
    with pytest.raises(ValueError, match=r"3 values.*\(3,\).*Received: shape="):
        keras_inits.PriorBias([0.1, 0.2, 0.3])(shape)


def test_prior_bias_refuses_a_dtype_that_overflows():
    # A regression target mean of 1e5 does not fit float16 (max 65504): refused, not inf.
    with pytest.raises(ValueError, match="prior"):
        keras_inits.PriorBias([1e5], "identity")((1,), dtype="float16")


def test_prior_bias_as_bias_initializer_saves_and_reloads(tmp_path):
    init = keras_inits.PriorBias([0.02, 0.3], eps=1e-4)
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(2, "sigmoid", bias_initializer=init)])
    np.testing.assert_allclose(to_numpy(model.layers[-1].bias), [logit(0.02), logit(0.3)],
                               rtol=1e-6)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    restored = keras.saving.load_model(path).layers[-1].bias_initializer
    assert type(restored) is keras_inits.PriorBias
    assert restored.get_config() == init.get_config()


# --- init_output_bias ------------------------------------------------------------------------


def classifier(units, activation=None, hidden=8, seed=0):
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(hidden, "relu", name="hidden"),
        keras.layers.Dense(units, activation, name="head",
                           kernel_initializer=keras.initializers.GlorotUniform(seed)),
    ])


def head_bias(model, name="head"):
    return to_numpy(model.get_layer(name).bias)


def test_sigmoid_from_binary_labels():
    y = np.array([1] * 3 + [0] * 97)  # 3% positives
    model = classifier(1, "sigmoid")
    init = keras_inits.init_output_bias(model, y)
    np.testing.assert_allclose(head_bias(model), [logit(0.03)], rtol=1e-6)
    assert init.prior == [0.03]


def test_sigmoid_from_multi_hot_labels():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])  # p = 0.75, 0.25, 0
    model = classifier(3)
    keras_inits.init_output_bias(model, y, "sigmoid")
    # The never-seen third label is clipped to eps: finite.
    np.testing.assert_allclose(head_bias(model), [logit(0.75), logit(0.25), logit(EPS)],
                               rtol=1e-6)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_from_int_or_one_hot_labels(one_hot):
    y = np.array([0] * 6 + [1] * 3 + [3] * 1)  # class 2 never occurs
    model = classifier(4, "softmax")
    keras_inits.init_output_bias(model, np.eye(4)[y] if one_hot else y, "softmax")
    expected = [math.log(0.6), math.log(0.3), math.log(EPS), math.log(0.1)]
    np.testing.assert_allclose(head_bias(model), expected, rtol=1e-6)


def test_default_link_follows_the_heads_activation():
    # A softmax head with no `link` gets log p (the same values as link="softmax"); a linear
    # head gets the documented default, the sigmoid's log-odds.
    y = np.array([0] * 6 + [1] * 3 + [3] * 1)
    model = classifier(4, "softmax")
    assert keras_inits.init_output_bias(model, y).link == "softmax"
    np.testing.assert_allclose(
        head_bias(model), [math.log(0.6), math.log(0.3), math.log(EPS), math.log(0.1)], rtol=1e-6)
    logits = classifier(2, None)
    assert keras_inits.init_output_bias(logits, np.array([[1, 0], [0, 0], [0, 0], [0, 1]])).link \
        == "sigmoid"
    np.testing.assert_allclose(head_bias(logits), [math.log(1 / 3)] * 2, rtol=1e-6)


def test_softmax_accepts_int_labels_of_shape_n_by_1():
    model = classifier(3, "softmax")
    keras_inits.init_output_bias(model, np.array([[0], [2], [2], [2]]), "softmax")
    np.testing.assert_allclose(head_bias(model), [math.log(0.25), math.log(EPS), math.log(0.75)],
                               rtol=1e-6)


def test_identity_is_the_target_mean():
    y = np.random.default_rng(0).normal([3.0, -2.0], [1.0, 0.5], size=(500, 2))
    model = classifier(2)
    keras_inits.init_output_bias(model, y, "identity")
    np.testing.assert_allclose(head_bias(model), y.mean(axis=0), rtol=1e-6)


def test_the_model_then_predicts_the_prior():
    # With the head's kernel zero, the prediction is sigmoid(b) = p for every input.
    y = (np.arange(200) % 10 == 0).astype("float32")  # 10% positives
    model = classifier(1, "sigmoid")
    model.get_layer("head").kernel.assign(np.zeros((8, 1), "float32"))
    keras_inits.init_output_bias(model, y)
    x = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    np.testing.assert_allclose(to_numpy(model(x)), 0.1, rtol=1e-5)


def test_finds_the_last_dense_with_a_bias_in_a_nested_model():
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="inner_head")])
    outer = keras.Sequential([keras.Input((6,)), inner,
                              keras.layers.Dense(3, use_bias=False, name="no_bias"),
                              keras.layers.Activation("sigmoid")])
    keras_inits.init_output_bias(outer, np.ones((5, 4)) * [1, 0, 1, 0])
    assert head_bias(inner, "inner_head")[0] == pytest.approx(logit(1 - EPS), rel=1e-6)


@pytest.mark.parametrize("by_name", [True, False])
def test_layer_argument_selects_the_layer(by_name):
    model = classifier(2, "sigmoid")
    hidden = model.get_layer("hidden")
    y = np.tile([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], (10, 1))
    keras_inits.init_output_bias(model, y, layer="hidden" if by_name else hidden)
    np.testing.assert_allclose(head_bias(model, "hidden"), [logit(1 - EPS)] + [logit(EPS)] * 7,
                               rtol=1e-6)


def test_reinitialize_and_saving_keep_the_prior_bias(tmp_path):
    model = classifier(2, "sigmoid")
    keras_inits.init_output_bias(model, np.array([[1, 0], [0, 0], [0, 0], [0, 1]]))
    expected = [logit(0.25), logit(0.25)]
    keras_inits.reinitialize(model, seed=3)
    np.testing.assert_allclose(head_bias(model), expected, rtol=1e-6)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(head_bias(reloaded), expected, rtol=1e-6)
    assert type(reloaded.get_layer("head").bias_initializer) is keras_inits.PriorBias


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((np.zeros((0,)),), {}, ValueError, r"non-empty.*shape \(0,\)"),
        ((np.array([0, 1, 4]), "softmax"), {}, ValueError, r"\[0, 3\).*labels \[4\]"),
        ((np.array([0, -1]), "softmax"), {}, ValueError, r"labels \[-1\]"),
        ((np.array([0.5, 1.0]), "softmax"), {}, ValueError, r"integer.*labels \[0.5\]"),
        ((np.zeros((4, 2)), "sigmoid"), {}, ValueError, r"one column per output.*\(3\)"),
        ((np.full((4, 3), 2.0), "sigmoid"), {}, ValueError, r"\[0, 1\]"),
        ((np.full((4, 3), 0.5), "softmax"), {}, ValueError, r"summing to 1"),
        ((np.array([0.0, np.nan]),), {}, ValueError, r"finite"),
        ((np.zeros((2, 3, 1)),), {}, ValueError, r"shape \(2, 3, 1\)"),
        ((np.array(["a", "b"]),), {}, TypeError, r"numbers"),
        ((np.zeros(4), "logit"), {}, ValueError, r"link='logit'"),
        ((np.zeros(4),), {"layer": "nope"}, ValueError, r"layer='nope'.*allowed.*'head'"),
        ((np.zeros(4),), {"layer": 3}, TypeError, r"layer=3"),
        ((np.zeros((4, 3)),), {"eps": 0.7}, ValueError, r"eps=0.7"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_assigned(args, kwargs, error, match):
    model = classifier(3)
    before = head_bias(model)
    with pytest.raises(error, match=match):
        keras_inits.init_output_bias(model, *args, **kwargs)
    np.testing.assert_array_equal(head_bias(model), before)


def test_link_must_match_the_head_activation():
    model = classifier(3, "softmax")
    with pytest.raises(ValueError, match=r"\['softmax'\].*activation is 'softmax'.*link='sigmoid'"):
        keras_inits.init_output_bias(model, np.zeros((4, 3)), "sigmoid")


def test_model_checks():
    with pytest.raises(TypeError, match="model"):
        keras_inits.init_output_bias(keras.layers.Dense(2), [0, 1])
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="built"):
        keras_inits.init_output_bias(unbuilt, [0, 1])
    no_dense = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="no(ne)?.*layer="):
        keras_inits.init_output_bias(no_dense, [0, 1])
    with pytest.raises(ValueError, match="1-D `bias`.*'flat'"):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Flatten(name="flat"),
                                  keras.layers.Dense(1)])
        keras_inits.init_output_bias(model, [0, 1], layer="flat")
