"""DepthScaled: the depth factor, seed pass-through, nested config, .keras save/reload, clone."""

import json
import math
import os
import runpy

import keras
import numpy as np
import pytest

import keras_inits
from tests.conftest import to_numpy

SHAPE = (16, 32)


@pytest.mark.parametrize(
    "kwargs, factor",
    [
        ({"num_layers": 12}, 1 / math.sqrt(24)),
        ({"num_layers": 1}, 1 / math.sqrt(2)),
        ({"num_layers": 16, "rule": "fixup"}, 16 ** (-1 / 2)),
        ({"num_layers": 16, "rule": "fixup", "layers_per_branch": 3}, 16 ** (-1 / 4)),
        ({"num_layers": 8, "rule": "fixup", "layers_per_branch": 4}, 8 ** (-1 / 6)),
    ],
)
def test_factor_scales_the_wrapped_values(kwargs, factor):
    inner = keras_inits.RandomNormal(stddev=0.02, seed=4)
    init = keras_inits.DepthScaled(inner, **kwargs)
    assert init.factor == pytest.approx(factor, rel=1e-15)
    np.testing.assert_allclose(
        to_numpy(init(SHAPE, dtype="float32")), factor * to_numpy(inner(SHAPE, dtype="float32")),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "identifier",
    ["he_normal", "keras_inits>HeNormal", {"class_name": "HeNormal", "config": {"seed": 1}},
     keras_inits.HeNormal, keras.initializers.HeNormal(seed=1), keras_inits.Orthogonal(seed=1)],
)
def test_accepts_whatever_get_accepts(identifier):
    init = keras_inits.DepthScaled(identifier, 4, seed=1)
    assert isinstance(init.initializer, keras_inits.Initializer)
    assert tuple(init(SHAPE).shape) == SHAPE


def test_seed_passes_through_to_the_wrapped_initializer():
    init = keras_inits.DepthScaled("he_normal", 4, seed=3)
    expected = to_numpy(keras_inits.HeNormal(seed=3)(SHAPE)) * init.factor
    np.testing.assert_allclose(to_numpy(init(SHAPE)), expected, rtol=1e-6)
    assert init.initializer.get_config()["seed"] == 3
    # seed=None keeps the wrapped initializer's own seed.
    kept = keras_inits.DepthScaled(keras_inits.HeNormal(seed=9), 4)
    np.testing.assert_allclose(
        to_numpy(kept(SHAPE)), to_numpy(keras_inits.HeNormal(seed=9)(SHAPE)) * kept.factor,
        rtol=1e-6,
    )


def test_deterministic_wrapped_initializer():
    init = keras_inits.DepthScaled("dirac", 2)
    w = to_numpy(init((3, 4, 4), dtype="float32"))
    np.testing.assert_allclose(w[1], np.eye(4) / 2)
    with pytest.raises(ValueError, match=r"seed=1"):
        keras_inits.DepthScaled("dirac", 2, seed=1)


def test_nested_config_round_trips():
    init = keras_inits.DepthScaled(
        keras_inits.TruncatedNormal(stddev=0.02, seed=2), 6, rule="fixup", layers_per_branch=3
    )
    config = init.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["initializer"] == keras_inits.serialize(init.initializer)
    assert config["initializer"]["config"]["stddev"] == 0.02
    for restored in (
        keras_inits.DepthScaled.from_config(config),
        init.clone(),
        keras_inits.deserialize(keras_inits.serialize(init)),
        keras.initializers.get(keras_inits.serialize(init)),
    ):
        assert restored.get_config() == config
        np.testing.assert_array_equal(to_numpy(restored(SHAPE)), to_numpy(init(SHAPE)))


def test_survives_keras_save_and_reload(tmp_path):
    init = keras_inits.DepthScaled(keras_inits.RandomNormal(stddev=0.02, seed=5), num_layers=12)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, kernel_initializer=init)]
    )
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    layer = reloaded.layers[0]
    assert type(layer.kernel_initializer) is keras_inits.DepthScaled
    assert layer.kernel_initializer.get_config() == init.get_config()
    np.testing.assert_array_equal(to_numpy(layer.kernel), to_numpy(model.layers[0].kernel))
    cloned = keras.models.clone_model(model)
    assert cloned.layers[0].kernel_initializer.get_config() == init.get_config()


def test_plain_callable_works_but_cannot_be_serialized():
    init = keras_inits.DepthScaled(lambda shape, dtype=None: keras.ops.ones(shape, dtype), 2)
    np.testing.assert_allclose(to_numpy(init((2, 2))), 0.5)
    with pytest.raises(TypeError, match=r"wraps a `keras.initializers.Initializer`"):
        init.get_config()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_layers": 0}, ValueError, r"num_layers=0"),
        ({"num_layers": 2.0}, TypeError, r"num_layers=2.0"),
        ({"num_layers": 2, "rule": "deepnet"}, ValueError,
         r"\['fixup', 'gpt2'\]. Received: rule='deepnet'"),
        ({"num_layers": 2, "layers_per_branch": 1}, ValueError, r"layers_per_branch=1"),
        ({"num_layers": 2, "initializer": "bogus"}, ValueError, r"bogus"),
        ({"num_layers": 2, "initializer": 3}, TypeError, r"3"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    kwargs = {"initializer": "he_normal", **kwargs}
    with pytest.raises(error, match=match):
        keras_inits.DepthScaled(**kwargs)


def test_example_script_runs():
    path = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "depth_scaled.py")
    namespace = runpy.run_path(path)  # builds both models (not the __main__ printout)
    x = np.random.default_rng(0).standard_normal((2, namespace["width"])).astype("float32")
    np.testing.assert_allclose(to_numpy(namespace["trunk"](x)), x, atol=1e-5)
    proj = to_numpy(namespace["gpt"].layers[-1].mlp_proj.kernel)
    # 256 * 64 = 16384 draws: relative SE of the std ~ 1/sqrt(2 * 16384) ~ 0.6%; allow 5%.
    assert np.std(proj) == pytest.approx(0.02 / math.sqrt(24), rel=0.05)
