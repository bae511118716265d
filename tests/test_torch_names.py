"""XavierUniform/Normal and KaimingUniform/Normal: torch.nn.init's formulas, Keras' fans."""

import json
import math

import keras
import numpy as np
import pytest
import torch
from scipy import stats

import keras_inits
from tests.conftest import ks_critical, to_numpy

# Keras kernel (*k, in, out) <-> torch weight (out, in, *k): the same fans.
KERAS_SHAPE = (3, 3, 32, 64)
TORCH_SHAPE = (64, 32, 3, 3)
FAN_IN, FAN_OUT = 3 * 3 * 32, 3 * 3 * 64

CASES = [
    # (keras class, kwargs, torch function, torch kwargs, exact std)
    (keras_inits.XavierUniform, {}, torch.nn.init.xavier_uniform_, {},
     math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (keras_inits.XavierUniform, {"gain": 5 / 3}, torch.nn.init.xavier_uniform_, {"gain": 5 / 3},
     5 / 3 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (keras_inits.XavierNormal, {"gain": 2.0}, torch.nn.init.xavier_normal_, {"gain": 2.0},
     2 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (keras_inits.KaimingUniform, {}, torch.nn.init.kaiming_uniform_, {},
     math.sqrt(2 / FAN_IN)),
    (keras_inits.KaimingUniform, {"negative_slope": 0.2, "mode": "fan_out"},
     torch.nn.init.kaiming_uniform_, {"a": 0.2, "mode": "fan_out"},
     math.sqrt(2 / (1 + 0.04) / FAN_OUT)),
    (keras_inits.KaimingNormal, {}, torch.nn.init.kaiming_normal_, {}, math.sqrt(2 / FAN_IN)),
    (keras_inits.KaimingNormal, {"mode": "fan_out", "nonlinearity": "relu"},
     torch.nn.init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"},
     math.sqrt(2 / FAN_OUT)),
    (keras_inits.KaimingNormal, {"negative_slope": 0.5, "nonlinearity": "tanh"},
     torch.nn.init.kaiming_normal_, {"a": 0.5, "nonlinearity": "tanh"}, 5 / 3 / math.sqrt(FAN_IN)),
]
IDS = [f"{c[0].__name__}-{c[1]}" for c in CASES]
N = math.prod(KERAS_SHAPE)  # 18432 samples per draw


def _exact(cls, std):
    if cls in (keras_inits.XavierUniform, keras_inits.KaimingUniform):
        limit = math.sqrt(3) * std
        return stats.uniform(-limit, 2 * limit)
    return stats.norm(0, std)  # untruncated, as torch


@pytest.mark.parametrize("cls, kwargs, torch_fn, torch_kwargs, std", CASES, ids=IDS)
def test_exact_distribution(cls, kwargs, torch_fn, torch_kwargs, std):
    # Fixed seed, so deterministic; the KS bound at alpha=1e-3 for n=18432 is ~0.014, about
    # 10x below what a wrong fan (std off by sqrt(2)) gives.
    x = to_numpy(cls(**kwargs, seed=11)(KERAS_SHAPE, dtype="float32")).ravel()
    assert stats.kstest(x, _exact(cls, std).cdf).statistic < ks_critical(N)
    assert cls(**kwargs).variance(KERAS_SHAPE) == pytest.approx(std**2, rel=1e-12)


@pytest.mark.parametrize("cls, kwargs, torch_fn, torch_kwargs, std", CASES, ids=IDS)
def test_matches_torch_on_transposed_shape(cls, kwargs, torch_fn, torch_kwargs, std):
    # Two-sample KS against torch.nn.init on the torch-shaped weight (same fans); fixed seeds.
    x = to_numpy(cls(**kwargs, seed=5)(KERAS_SHAPE, dtype="float32")).ravel()
    torch.manual_seed(0)
    y = torch_fn(torch.empty(TORCH_SHAPE, dtype=torch.float64), **torch_kwargs).numpy().ravel()
    assert stats.ks_2samp(x, y).statistic < ks_critical(N, N)
    # Each std estimate has relative SE ~ 1/sqrt(2N); their difference ~ 1/sqrt(N); 5 SE.
    assert np.std(x) == pytest.approx(np.std(y), rel=5 / math.sqrt(N))


def test_dense_kernel_fans_match_torch_linear():
    # A Dense kernel (in, out) is torch's Linear weight (out, in) transposed.
    init = keras_inits.KaimingUniform(seed=0)
    x = to_numpy(init((300, 50), dtype="float32"))
    limit = math.sqrt(6 / 300)  # torch: gain * sqrt(3 / fan_in), fan_in = 300
    assert np.abs(x).max() <= limit
    assert np.abs(x).max() > 0.99 * limit


def test_defaults_have_he_and_glorot_variances():
    for shape in [(16, 32), (3, 3, 8, 16)]:
        assert keras_inits.KaimingNormal().variance(shape) == pytest.approx(
            keras_inits.HeNormal().variance(shape), rel=1e-12
        )
        assert keras_inits.XavierUniform().variance(shape) == pytest.approx(
            keras_inits.GlorotUniform().variance(shape), rel=1e-12
        )


@pytest.mark.parametrize(
    "init",
    [
        keras_inits.XavierNormal(gain=1.5, seed=3),
        keras_inits.KaimingUniform(0.1, "fan_out", "leaky_relu", seed=3),
        keras_inits.KaimingNormal(nonlinearity="swish", seed=3),
    ],
)
def test_config_round_trips(init):
    config = init.get_config()
    assert json.loads(json.dumps(config)) == config
    assert "scale" not in config and "distribution" not in config
    restored = type(init).from_config(config)
    assert restored.get_config() == config
    assert restored.variance((8, 4)) == init.variance((8, 4))
    np.testing.assert_array_equal(to_numpy(restored((8, 4))), to_numpy(init((8, 4))))


def test_is_a_keras_variance_scaling_so_einsum_dense_uses_einsum_fans():
    # Kernel (64, 8, 16) with input axis 0: EinsumDense's fan_in is 64; the plain rank-3 rule
    # would give 8 * 64 = 512, a std sqrt(8) times smaller. 8192 samples: SE of the std
    # ~ 1/sqrt(2 * 8192) ~ 0.8%; allow 5%.
    init = keras_inits.KaimingNormal(nonlinearity="relu", seed=1)
    assert isinstance(init, keras.initializers.VarianceScaling)
    layer = keras.layers.EinsumDense("ab,bcd->acd", output_shape=(8, 16), kernel_initializer=init)
    layer.build((2, 64))
    kernel = to_numpy(layer.kernel)
    assert kernel.shape == (64, 8, 16)
    assert np.std(kernel) == pytest.approx(math.sqrt(2 / 64), rel=0.05)


def test_kaiming_gain_follows_nonlinearity():
    assert keras_inits.KaimingNormal(nonlinearity="gelu").gain == keras_inits.calculate_gain("gelu")
    # As torch: the slope matters only for leaky_relu.
    assert keras_inits.KaimingNormal(0.3, nonlinearity="elu").gain == keras_inits.calculate_gain(
        "elu"
    )


@pytest.mark.parametrize(
    "cls, kwargs, error, match",
    [
        (keras_inits.XavierUniform, {"gain": 0.0}, ValueError, r"gain=0.0"),
        (keras_inits.XavierNormal, {"gain": "1"}, TypeError, r"gain='1'"),
        (keras_inits.KaimingNormal, {"mode": "fan_avg"}, ValueError, r"mode='fan_avg'"),
        (keras_inits.KaimingUniform, {"nonlinearity": "bogus"}, ValueError,
         r"nonlinearity='bogus'"),
        (keras_inits.KaimingUniform, {"nonlinearity": keras.activations.relu}, TypeError,
         r"nonlinearity"),
        (keras_inits.KaimingNormal, {"negative_slope": None}, TypeError, r"negative_slope=None"),
    ],
)
def test_bad_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal", "kaiming_uniform",
                                  "kaiming_normal", "KaimingNormal"])
def test_names(name):
    assert type(keras.initializers.get(name)).__name__.lower() == name.replace("_", "").lower()
