"""calculate_gain: torch's table exactly, and 1 / sqrt(E[f(z)^2]) for the computed activations."""

import math

import keras
import numpy as np
import pytest
import torch
from scipy import integrate, stats

import keras_inits
from keras_inits.gains import KNOWN

TORCH_NAMES = [
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "sigmoid", "tanh", "relu", "selu", "leaky_relu",
]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_values(name):
    assert keras_inits.calculate_gain(name) == pytest.approx(
        torch.nn.init.calculate_gain(name), rel=1e-15
    )


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 0.3, -0.5, 1])
def test_leaky_relu_slope_as_torch(slope):
    expected = torch.nn.init.calculate_gain("leaky_relu", slope)
    assert keras_inits.calculate_gain("leaky_relu", slope) == pytest.approx(expected, rel=1e-15)


def _quad_gain(fn):
    """1 / sqrt(E[f(z)^2]), z ~ N(0, 1), by adaptive quadrature of torch's own activation."""

    def integrand(z):
        value = fn(torch.tensor(z, dtype=torch.float64)).item()
        return value * value * stats.norm.pdf(z)

    left, _ = integrate.quad(integrand, -np.inf, 0.0, epsabs=1e-13, epsrel=1e-12)
    right, _ = integrate.quad(integrand, 0.0, np.inf, epsabs=1e-13, epsrel=1e-12)
    return 1.0 / math.sqrt(left + right)


F = torch.nn.functional


@pytest.mark.parametrize(
    "name, fn",
    [
        ("gelu", F.gelu),
        ("silu", F.silu),
        ("swish", F.silu),
        ("elu", F.elu),
        ("softplus", F.softplus),
        ("mish", F.mish),
        ("relu", F.relu),  # the rule reproduces torch's sqrt(2) exactly
    ],
)
def test_computed_gains_match_independent_quadrature(name, fn):
    # Gauss-Legendre with 200 nodes per half-line vs scipy's adaptive quadrature of torch's
    # activation: both are accurate to ~1e-12, so 1e-9 leaves room and still catches any
    # wrong activation definition.
    assert keras_inits.calculate_gain(name) == pytest.approx(_quad_gain(fn), rel=1e-9)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_elu_alpha(alpha):
    expected = _quad_gain(lambda x: F.elu(x, alpha=alpha))
    assert keras_inits.calculate_gain("elu", alpha) == pytest.approx(expected, rel=1e-9)


def test_gain_preserves_second_moment_through_a_layer():
    # The property the gain is defined by: with Var(W) = g^2 / n and x = f(z), z ~ N(0, 1),
    # the next pre-activation Wx has second moment 1. The main fluctuation is silu's mean
    # (0.21) times the column sums of W: about 0.12 * sqrt(2 / 2000) ~ 0.4% for 2000 columns
    # (plus ~0.1% from the 4M products); 2% is 5 standard errors.
    rng = np.random.default_rng(0)
    n = 400
    z = rng.standard_normal((2000, n))
    x = z / (1 + np.exp(-z))  # silu
    g = keras_inits.calculate_gain("silu")
    w = rng.standard_normal((n, 2000)) * g / math.sqrt(n)
    assert np.mean((x @ w) ** 2) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize(
    "fn, expected",
    [
        (keras.activations.relu, "relu"),
        (keras.activations.gelu, "gelu"),
        (keras.activations.swish, "silu"),
        (keras.activations.silu, "silu"),
        (keras.activations.tanh, "tanh"),
        (keras.activations.linear, "linear"),
        (keras.activations.mish, "mish"),
        (F.softplus, "softplus"),
    ],
)
def test_activation_functions_are_mapped_by_name(fn, expected):
    assert keras_inits.calculate_gain(fn) == keras_inits.calculate_gain(expected)


def test_names_are_case_insensitive():
    assert keras_inits.calculate_gain("Swish") == keras_inits.calculate_gain("silu")
    assert keras_inits.calculate_gain("LEAKY_RELU", 0.2) == keras_inits.calculate_gain(
        "leaky_relu", 0.2
    )


def test_param_is_ignored_where_torch_ignores_it():
    assert keras_inits.calculate_gain("relu", 0.5) == math.sqrt(2.0)
    assert keras_inits.calculate_gain("gelu", 3.0) == keras_inits.calculate_gain("gelu")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Received: nonlinearity='bogus'") as info:
        keras_inits.calculate_gain("bogus")
    for name in ("gelu", "leaky_relu", "mish", "swish", "conv2d"):
        assert name in str(info.value)
    assert str(KNOWN) in str(info.value)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((3,), TypeError, "nonlinearity=3"),
        ((object(),), TypeError, "nonlinearity"),
        (("leaky_relu", "0.2"), TypeError, "param='0.2'"),
        (("elu", float("nan")), ValueError, "param=nan"),
    ],
)
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        keras_inits.calculate_gain(*args)
