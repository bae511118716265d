"""keras_inits.meanfield: quadrature accuracy, closed forms, a wide random Keras network, bad input.

References: closed forms (relu's linear length map, erf's arcsin kernel, He's σ_w² = 2, the
leaky relu's 2/(1+a²), tanh's σ_w² = 1 at σ_b = 0), tanh's σ_w² ≈ 1.76 at σ_b² = 0.05 (the
value reproductions of Schoenholz et al. 2017 quote; 1.7609546 by SciPy), scipy's adaptive
quadrature (QUADPACK), finite differences of the length map, Keras' own activation functions, and Monte-Carlo estimates on
a wide random Keras MLP on the current backend.
"""

import importlib.util
import math
import os
import sys
import warnings

import keras
import numpy as np
import pytest
from scipy import integrate, special

from keras_inits import meanfield
from tests.conftest import to_numpy

SMOOTH = ["tanh", "gelu", "silu", "softplus", "sigmoid", "mish"]
KINKED = ["relu", "elu", "selu", "relu6", "hard_tanh"]


def adaptive(f, q, kinks=()):
    """`E[f(√q z)]` by QUADPACK in x, split at every integer in [-40, 40] and at the kinks
    inside ±14 std (an independent computation from the composite Gauss-Legendre rule)."""
    s = math.sqrt(q)
    points = sorted({-14 * s, 14 * s, *[p for p in [*range(-40, 41), *kinks] if abs(p) < 14 * s]})
    density = lambda x: float(f(np.array([x]))[0]) * math.exp(-x * x / (2 * q)) / math.sqrt(  # noqa: E731
        2 * math.pi * q)
    with warnings.catch_warnings():  # QUADPACK warns when it cannot confirm 1e-13 everywhere
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return sum(integrate.quad(density, a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
                   for a, b in zip(points[:-1], points[1:]))


@pytest.mark.parametrize("q", [1e-4, 0.3, 4.0, 100.0, 1e4])
@pytest.mark.parametrize("name", SMOOTH + KINKED)
def test_quadrature_against_adaptive_reference(name, q):
    act = meanfield.resolve(name)
    for f in (lambda x: act.fn(x) ** 2, lambda x: act.derivative(x) ** 2):
        ours = meanfield.gaussian_expectation(f, q, act.kinks)
        # 1e-11: QUADPACK is asked for 1e-13 per panel; the rule itself is better than 1e-12.
        assert ours == pytest.approx(adaptive(f, q, act.kinks), rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("a", [0.1, 0.7, 2.0, 10.0])
def test_quadrature_against_erf_closed_forms(a):
    # For z ~ N(0, 1): E[erf(a z)^2] = (2/pi) asin(2a^2 / (1 + 2a^2)) and, with
    # erf'(x) = 2/sqrt(pi) exp(-x^2), E[erf'(a z)^2] = (4/pi) / sqrt(1 + 4a^2). erf is passed as
    # a plain callable, so its derivative is the central-difference one.
    act = meanfield.resolve(special.erf)
    assert not act.exact
    q = a * a
    assert meanfield.gaussian_expectation(lambda x: act.fn(x) ** 2, q) == pytest.approx(
        2 / math.pi * math.asin(2 * q / (1 + 2 * q)), rel=1e-12)
    # Richardson-extrapolated central differences with h = 1e-3: error ~ h^4 |f^(5)| ~ 1e-11.
    assert meanfield.gaussian_expectation(lambda x: act.derivative(x) ** 2, q) == pytest.approx(
        4 / math.pi / math.sqrt(1 + 4 * q), rel=1e-9)
    # q* = 0 while sigma_w^2 erf'(0)^2 <= 1: chi1 = sigma_w^2 4/pi there; above, q* solves the
    # closed-form length map q = sigma_w^2 (2/pi) asin(2q / (1 + 2q)) + sigma_b^2.
    assert meanfield.chi1(special.erf, 0.5) == pytest.approx(2 / math.pi, rel=1e-9)
    q = meanfield.fixed_point(special.erf, 2.0, 0.1)
    assert q == pytest.approx(2.0 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + 0.1, rel=1e-13)


@pytest.mark.parametrize("name", meanfield.KNOWN)
def test_named_activations_are_keras_definitions(name):
    act = meanfield.resolve(name)
    x = np.linspace(-7.3, 7.3, 293)  # avoids the kinks at 0, +-1, +-3, 6 exactly
    # Keras computes in floatx (float32): compare to float32 rounding.
    expected = to_numpy(keras.activations.get(name)(keras.ops.convert_to_tensor(x, "float32")))
    np.testing.assert_allclose(act.fn(x), expected, rtol=2e-6, atol=2e-6)
    # The exact derivative against a central difference of the float64 function.
    h = 1e-6
    away = np.all(np.abs(x[:, None] - np.asarray(act.kinks)[None, :]) > 1e-3, axis=1) \
        if act.kinks else np.ones_like(x, dtype=bool)
    numeric = (act.fn(x + h) - act.fn(x - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(x)[away], numeric[away], rtol=1e-6, atol=1e-8)
    assert meanfield.resolve(keras.activations.get(name)) == act  # the function object too


def test_closed_form_critical_points():
    assert meanfield.critical("relu") == 2.0  # He et al. 2015
    assert meanfield.critical("relu", 0.3) == 2.0  # for any bias variance
    assert meanfield.critical("linear") == 1.0
    assert meanfield.critical("tanh") == pytest.approx(1.0, rel=1e-12)
    assert meanfield.critical("elu") == pytest.approx(1.0, rel=1e-12)  # elu'(0) = 1, q* = 0
    for slope in (0.0, 0.01, 0.2, 0.5, 1.0, 3.0):
        assert meanfield.critical("leaky_relu", negative_slope=slope) == pytest.approx(
            2 / (1 + slope**2), rel=1e-15)
    assert meanfield.critical(keras.activations.leaky_relu) == pytest.approx(2 / 1.04)  # 0.2
    # The value quoted for Schoenholz et al. 2017's slice (1.7609546 by SciPy's quadrature).
    assert meanfield.critical("tanh", 0.05) == pytest.approx(1.76, abs=0.005)
    line = meanfield.critical_line("tanh", [0.0, 0.05, 0.3])
    assert np.all(np.diff(line) > 0) and line[1] == meanfield.critical("tanh", 0.05)


def test_on_the_critical_line_chi1_is_one():
    for name, sigma_b2 in [("tanh", 0.05), ("tanh", 0.5), ("elu", 0.2), ("gelu", 0.5),
                           ("selu", 0.1), ("sigmoid", 0.0)]:
        sigma_w2 = meanfield.critical(name, sigma_b2)
        assert meanfield.chi1(name, sigma_w2, sigma_b2) == pytest.approx(1.0, abs=1e-10)
        assert meanfield.depth_scales(name, sigma_w2, sigma_b2).xi_c > 1e6


def test_zero_fixed_point_is_exact():
    # tanh with sigma_b = 0: q* = 0 for sigma_w^2 <= 1, and chi1 = sigma_w^2 tanh'(0)^2.
    for sigma_w2 in (0.3, 0.9, 1.0):
        assert meanfield.fixed_point("tanh", sigma_w2) == 0.0
        assert meanfield.chi1("tanh", sigma_w2) == sigma_w2
        assert meanfield.depth_scales("tanh", sigma_w2) == (
            -1 / math.log(sigma_w2) if sigma_w2 < 1 else math.inf,) * 2
    assert meanfield.fixed_point("tanh", 1.0 + 1e-6) > 0  # just past it, q* leaves 0
    # elu's derivative jumps at 0 for alpha != 1: the mean of the one-sided squares.
    assert meanfield.chi1("elu", 0.5, alpha=0.5) == 0.5 * (1 + 0.25) / 2


def test_relu_family_closed_forms():
    # V(q) = sigma_w^2 (1 + a^2)/2 q + sigma_b^2: q* = sigma_b^2 / (1 - sigma_w^2 (1 + a^2)/2).
    assert meanfield.fixed_point("relu", 1.0, 0.1) == pytest.approx(0.2, rel=1e-15)
    assert meanfield.fixed_point("leaky_relu", 1.0, 0.1, negative_slope=0.5) == pytest.approx(
        0.1 / (1 - 0.625))
    assert meanfield.fixed_point("relu", 2.0, 0.0, q0=3.0) == 3.0  # every q is fixed
    assert meanfield.fixed_point("relu", 2.0, 0.1) == math.inf
    assert meanfield.chi1("relu", 2.5, 0.1) == 1.25  # defined without q*
    assert meanfield.length_map("relu", 4.0, 1.5, 0.1) == pytest.approx(1.5 * 2 + 0.1)
    with pytest.raises(ValueError, match="grows without bound"):
        meanfield.depth_scales("relu", 2.5, 0.1)
    # On the critical line with a bias, q grows linearly: both depth scales are infinite.
    assert meanfield.depth_scales("relu", 2.0, 0.1) == (math.inf, math.inf)
    with pytest.raises(ValueError, match="chi1.*grows without bound"):
        meanfield.chi1("softplus", 3.0, 0.1)


def test_fixed_point_is_a_fixed_point_and_matches_iteration():
    for name, sw, sb in [("tanh", 1.5, 0.05), ("tanh", 4.0, 0.3), ("gelu", 1.2, 0.1),
                         ("sigmoid", 2.0, 0.0), ("selu", 1.0, 0.0)]:
        q = meanfield.fixed_point(name, sw, sb)
        assert meanfield.length_map(name, q, sw, sb) == pytest.approx(q, rel=1e-13)
        iterate = 1.0
        for _ in range(400):
            iterate = meanfield.length_map(name, iterate, sw, sb)
        assert iterate == pytest.approx(q, rel=1e-9)


def test_depth_scales_against_independent_forms():
    sw, sb = 1.5, 0.05
    q = meanfield.fixed_point("tanh", sw, sb)
    xi_q, xi_c = meanfield.depth_scales("tanh", sw, sb)
    # xi_q: the length map's slope at q* by a central difference of `length_map`.
    h = 1e-5
    slope = (meanfield.length_map("tanh", q + h, sw, sb)
             - meanfield.length_map("tanh", q - h, sw, sb)) / (2 * h)
    assert xi_q == pytest.approx(-1 / math.log(slope), rel=1e-7)
    assert xi_c == pytest.approx(-1 / math.log(meanfield.chi1("tanh", sw, sb)), rel=1e-14)
    # Chaotic tanh with sigma_b = 0: c* = 0 (tanh is odd), so chi_c = sigma_w^2 E[tanh'(u)]^2, a
    # 1-D integral, checks the nested 2-D rule of the correlation map.
    sw = 2.0
    q = meanfield.fixed_point("tanh", sw)
    mean_slope = meanfield.gaussian_expectation(lambda x: 1 / np.cosh(x) ** 2, q)
    assert meanfield.depth_scales("tanh", sw).xi_c == pytest.approx(
        -1 / math.log(sw * mean_slope**2), rel=1e-9)


def test_xi_c_diverges_at_criticality_from_both_sides():
    sw = meanfield.critical("tanh", 0.05)
    xs = [meanfield.depth_scales("tanh", sw * f, 0.05).xi_c for f in (0.8, 0.95, 0.99)]
    ys = [meanfield.depth_scales("tanh", sw * f, 0.05).xi_c for f in (1.2, 1.05, 1.01)]
    assert xs == sorted(xs) and ys == sorted(ys) and min(xs[-1], ys[-1]) > 50


def _wide_network(activation, sigma_w2, sigma_b2, width=1024, depth=16, batch=32, seed=0):
    """Pre-activations of a wide random Keras MLP (Dense, then the activation as a layer), fed
    `φ(√q* z)`: the activations of a layer at the fixed point, so every layer starts there."""
    inputs = keras.Input((width,))
    h, pre = inputs, []
    for i in range(depth):
        h = keras.layers.Dense(
            width,
            kernel_initializer=keras.initializers.VarianceScaling(
                sigma_w2, "fan_in", "untruncated_normal", seed=seed + i),
            bias_initializer=keras.initializers.RandomNormal(0.0, math.sqrt(sigma_b2),
                                                             seed=10_000 + seed + i))(h)
        pre.append(h)
        h = keras.layers.Activation(activation)(h)
    model = keras.Model(inputs, pre)
    q_star = meanfield.fixed_point(activation, sigma_w2, sigma_b2)
    z = np.random.default_rng(seed).normal(size=(batch, width))
    x = meanfield.resolve(activation).fn(math.sqrt(q_star) * z).astype("float32")
    kernels = [to_numpy(layer.kernel) for layer in model.layers if layer.weights][1:]
    return [to_numpy(p) for p in model(x)], kernels


@pytest.mark.parametrize("activation, sigma_w2, sigma_b2",
                         [("tanh", 1.5, 0.05), ("tanh", 2.5, 0.1), ("relu", 1.5, 0.1)])
def test_q_star_and_chi1_against_a_wide_random_network(activation, sigma_w2, sigma_b2):
    pre, kernels = _wide_network(activation, sigma_w2, sigma_b2)
    act = meanfield.resolve(activation)
    burn = 1  # the input is already at q*
    q_layers = np.array([np.mean(h**2) for h in pre[burn:]])
    # chi1 = E ||J v||^2 / ||v||^2 for the layer Jacobian J = diag(phi'(h_l)) W_{l+1}, on
    # Gaussian v: the squared singular values of the real weights, not sigma_w^2 times a mean.
    rng = np.random.default_rng(1)
    chi_layers = []
    for h, w in zip(pre[burn:-1], kernels[burn + 1:]):
        v = rng.normal(size=h.shape)
        chi_layers.append(np.mean(np.sum(((act.derivative(h) * v) @ w) ** 2, axis=1)
                                  / np.sum(v**2, axis=1)))
    q_star = meanfield.fixed_point(activation, sigma_w2, sigma_b2)
    chi1 = meanfield.chi1(activation, sigma_w2, sigma_b2)
    # Tolerance: 4 standard errors of the mean over layers, plus the O(1/width) finite-width
    # bias. A layer's finite-width error decays through the next ones like an AR(1) process
    # with coefficient rho = V'(q*) = exp(-1/xi_q), so the standard error of the mean of n
    # layers is inflated by sqrt((1 + rho) / (1 - rho)) over the independent case.
    rho = math.exp(-1 / meanfield.depth_scales(activation, sigma_w2, sigma_b2).xi_q)
    for estimates, theory in ((q_layers, q_star), (np.array(chi_layers), chi1)):
        se = estimates.std(ddof=1) / math.sqrt(len(estimates)) * math.sqrt((1 + rho) / (1 - rho))
        assert abs(estimates.mean() - theory) < 4 * se + 2.0 / 1024 * theory, (
            estimates.mean(), theory, se)


def test_recommend_gives_data_and_text():
    rec = meanfield.recommend("tanh", depth=100, sigma_b2=0.05)
    assert rec.sigma_w2 == meanfield.critical("tanh", 0.05)
    assert rec.chi1 == pytest.approx(1.0, abs=1e-10) and rec.trainable_depth == math.inf
    assert rec.initializer.sigma_w2 == rec.sigma_w2 and rec.bias_initializer.sigma_b2 == 0.05
    below = [d for sw, d in rec.alternatives if sw < rec.sigma_w2]
    assert below == sorted(below) and below[0] == pytest.approx(
        6 * meanfield.depth_scales("tanh", 0.75 * rec.sigma_w2, 0.05).xi_c)
    text = str(rec)
    assert "1.76" in text and "6 xi_c" in text and "CriticalInit" in text
    # gelu has no critical point at sigma_b^2 = 0, 0.05 or 0.1: the first default that has one.
    for sigma_b2 in (0.0, 0.05, 0.1):
        with pytest.raises(ValueError, match="diverges"):
            meanfield.critical("gelu", sigma_b2)
    gelu = meanfield.recommend("gelu", 10)
    assert gelu.sigma_b2 == 0.2 and gelu.chi1 == pytest.approx(1.0, abs=1e-10)
    assert meanfield.recommend(special.erf, 10).initializer is None  # a callable has no name


BAD = [
    (lambda: meanfield.critical("no_such_act"), ValueError, r"activation.*one of.*no_such_act"),
    (lambda: meanfield.critical("tanhh"), ValueError, r"Did you mean 'tanh'"),
    (lambda: meanfield.critical(3.0), TypeError, r"activation=3.0"),
    (lambda: meanfield.critical("tanh", -0.1), ValueError, r"sigma_b2.*>= 0.*sigma_b2=-0.1"),
    (lambda: meanfield.critical("tanh", math.nan), ValueError, r"sigma_b2.*finite"),
    (lambda: meanfield.critical("tanh", "0.1"), TypeError, r"sigma_b2.*'0.1'"),
    (lambda: meanfield.fixed_point("tanh", -1.0), ValueError, r"sigma_w2.*> 0.*sigma_w2=-1.0"),
    (lambda: meanfield.fixed_point("tanh", math.inf), ValueError, r"sigma_w2.*finite"),
    (lambda: meanfield.chi1("tanh", 1.0, 0.0, q0=0.0), ValueError, r"q0.*> 0"),
    (lambda: meanfield.depth_scales("tanh", 1.0, sigmab2=0.1), ValueError,
     r"Unknown parameter.*sigmab2.*Allowed"),
    (lambda: meanfield.chi1("leaky_relu", 1.0, negative_slope="x"), TypeError,
     r"negative_slope.*'x'"),
    (lambda: meanfield.chi1("elu", 1.0, alpha=-1.0), ValueError, r"alpha.*> 0"),
    (lambda: meanfield.chi1(lambda x: x[None], 1.0), ValueError, r"activation.*same shape"),
    (lambda: meanfield.chi1(lambda x, y: x, 1.0), TypeError, r"activation.*calling it failed"),
    (lambda: meanfield.critical_line("tanh", [[0.1]]), TypeError, r"sigma_b2_values"),
    (lambda: meanfield.critical_line("tanh", [0.1, -1.0]), ValueError, r"sigma_b2_values"),
    (lambda: meanfield.recommend("tanh", 0), ValueError, r"depth.*>= 1"),
    (lambda: meanfield.critical("gelu"), ValueError,
     r"No sigma_w2 gives chi1 = 1.*diverges.*stays under 1"),
    (lambda: meanfield.critical(lambda x: 1.0 + 1e-4 * np.tanh(x)), ValueError,
     r"chi1 stays below 1"),
]


@pytest.mark.parametrize("call, error, pattern", BAD)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# ------------------------------------------------------------------- the CLI and the reproductions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reproduction(name):
    path = os.path.join(ROOT, "docs", "reproductions", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"reproduction_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cli_critical(capsys):
    from keras_inits import cli

    assert cli.main(["critical", "tanh", "--sigma-b2", "0.05"]) == 0
    out = capsys.readouterr().out
    assert f"{meanfield.critical('tanh', 0.05):.8g}" in out and "CriticalInit('tanh'" in out
    assert cli.main(["critical", "leaky_relu", "--set", "negative_slope=0.5", "--depth", "40"]) == 0
    out = capsys.readouterr().out
    assert "1.6" in out and "40 layers" in out  # 2 / 1.25
    assert cli.main(["critical", "gelu"]) == 2
    assert "No sigma_w2 gives chi1 = 1" in capsys.readouterr().err
    assert cli.main(["critical", "tanhh"]) == 2
    assert "Did you mean 'tanh'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["critical", "tanh", "--sigma-b2", "-1"])


def test_phase_diagram_small():
    module = _reproduction("phase_diagram")
    sw, sb = np.array([0.8, 1.5, 2.5]), np.array([0.0, 0.05])
    q, chi = module.q_star_map(sw, sb)
    line = meanfield.critical_line("tanh", sb)
    # The chi1 = 1 line separates the ordered cells (left of it) from the chaotic ones.
    np.testing.assert_array_equal(chi < 1, sw[None, :] < line[:, None])
    assert q[0, 0] == 0.0 and np.all(q[1] > 0)
    xi_q, xi_c = module.depth_scale_curves(np.array([1.5, 1.76, 1.77, 2.5]))
    assert xi_c[1] > xi_c[0] and xi_c[2] > xi_c[3] and np.all(xi_q < 3)


@pytest.mark.slow
def test_trainability_small():
    module = _reproduction("trainability")
    # The script's JAX network computes what a Keras Sequential of Dense tanh layers computes.
    depth, width = 4, 16
    weights = module.initial_weights(depth, width, 64, 10, seed=0)
    params = module.scaled(weights, 1.7)
    layers = [keras.Input((64,))]
    kernels = [params["k0"], *params["kh"], params["kc"]]
    biases = [params["b0"], *params["bh"], params["bc"]]
    for i, (k, b) in enumerate(zip(kernels, biases)):
        layers.append(keras.layers.Dense(k.shape[1], None if i == depth else "tanh"))
    model = keras.Sequential(layers)
    for layer, k, b in zip(model.layers, kernels, biases):
        layer.set_weights([np.asarray(k), np.asarray(b)])
    x = np.random.default_rng(0).normal(size=(5, 64)).astype("float32")
    np.testing.assert_allclose(np.asarray(module.forward(params, x)), to_numpy(model(x)),
                               rtol=1e-4, atol=1e-5)
    # A small grid: at depth 60, sigma_w^2 = 1 (6 xi_c = 22) stays at chance, the critical
    # sigma_w^2 (6 xi_c = inf) trains.
    grid = module.Grid(sigma_w2=(1.0, 1.76), depths=(60,), steps=300)
    accuracy = module.run_grid(grid, verbose=False)
    assert accuracy[0, 0] < 0.3 and accuracy[0, 1] > 0.6, accuracy
    agreement = module.boundary_agreement(grid, accuracy, module.theory(grid.sigma_w2))
    assert agreement["agreement"] == 1.0
