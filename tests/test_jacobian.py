"""jacobian_spectrum: exact isometries, finite differences, dynamical isometry, bad input."""

import re

import keras
import matplotlib.image
import numpy as np
import pytest

import keras_inits
from conftest import to_numpy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def data(shape, scale=1.0, seed=0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype("float32")


def orthogonal_linear(widths=(16, 32, 32, 32, 32, 32)):
    """A deep linear network of Haar-orthogonal kernels: 16 -> 32 embeds, 32 -> 32 rotates."""
    inputs = keras.Input((widths[0],))
    h = inputs
    for i, units in enumerate(widths[1:]):
        h = keras.layers.Dense(units, use_bias=False,
                               kernel_initializer=keras_inits.Orthogonal(seed=i))(h)
    return keras.Model(inputs, h)


def test_deep_linear_orthogonal_network_is_an_exact_isometry():
    model = orthogonal_linear()
    spectrum = keras_inits.jacobian_spectrum(model, data((6, 16)))
    assert spectrum.singular_values.shape == (6, 16)  # min(n_in, n_out) per sample
    assert (spectrum.n_in, spectrum.n_out) == (16, 32)
    # J = W1ᵀ…W5ᵀ has orthonormal columns, so every σ is 1. Each float32 product of 5
    # orthogonal 32x32 matrices is off by about depth·sqrt(n)·2^-24 ≈ 5e-6: allow 2e-5.
    np.testing.assert_allclose(spectrum.singular_values, 1.0, atol=2e-5)
    assert abs(spectrum.mean_squared - 1) < 4e-5 and spectrum.spread < 4e-5


def test_the_same_network_with_gaussian_kernels_is_not():
    """The check above can fail: Gaussian kernels of the same variance spread the spectrum."""
    inputs = keras.Input((32,))
    h = inputs
    for i in range(5):
        h = keras.layers.Dense(32, use_bias=False, kernel_initializer=keras_inits.RandomNormal(
            stddev=32**-0.5, seed=i))(h)
    spectrum = keras_inits.jacobian_spectrum(keras.Model(inputs, h), data((4, 32)))
    assert spectrum.max > 2 and spectrum.min < 0.1


def small_model():
    keras.utils.set_random_seed(1)
    with keras_inits.override_keras_names():  # on JAX, Keras' own compile once per shape
        return _small_model()


def _small_model():
    inputs = keras.Input((4, 4, 2))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inputs)
    h = keras.layers.BatchNormalization(moving_mean_initializer="random_normal",
                                        moving_variance_initializer=keras_inits.Constant(2.0))(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(5, activation="tanh", bias_initializer="random_normal")(h)
    return keras.Model(inputs, outputs)


def finite_difference_jacobian(model, x, h=1e-2):
    """Central differences in float32 (independent of autodiff), all in one batch: sample b
    moved by ±h along input coordinate i. Inference mode: samples do not interact."""
    n, n_in = x.shape[0], x[0].size
    steps = (h * np.eye(n_in, dtype="float32")).reshape((n_in,) + x.shape[1:])
    moved = np.concatenate([x[:, None] + steps, x[:, None] - steps])  # (2n, n_in, ...)
    out = to_numpy(model(moved.reshape((-1,) + x.shape[1:]), training=False))
    plus, minus = out.reshape(2, n, n_in, -1)
    return np.swapaxes((plus - minus) / (2 * h), 1, 2)  # (samples, n_out, n_in)


def test_spectrum_matches_finite_differences():
    model, x = small_model(), data((3, 4, 4, 2))
    spectrum = keras_inits.jacobian_spectrum(model, x)
    expected = np.linalg.svd(finite_difference_jacobian(model, x), compute_uv=False)
    # Central differences with h = 1e-2 in float32: truncation h²/6·|f'''| ≈ 2e-5 and rounding
    # 2^-24·|f|/h ≈ 1e-5 per entry; over 32 inputs a singular value moves by at most the
    # Frobenius norm of the error, sqrt(32·5)·3e-5 ≈ 4e-4.
    np.testing.assert_allclose(spectrum.singular_values, expected, atol=4e-4)
    assert np.ptp(expected) > 0.1  # distinct singular values: the comparison is not trivial
    np.testing.assert_allclose(spectrum.mean_squared, np.mean(expected**2), rtol=1e-3)


def tanh_net(kernel, depth, width=64):
    """Pennington et al.'s setting: tanh at criticality, σ_w² = 1, σ_b² = 0."""
    inputs = keras.Input((width,))
    h = inputs
    for i in range(depth):
        h = keras.layers.Dense(width, activation="tanh", use_bias=False,
                               kernel_initializer=kernel(i))(h)
    return keras.Model(inputs, h)


def test_dynamical_isometry_orthogonal_beats_gaussian():
    """A small Pennington et al. 2017: at depth 16, orthogonal kernels keep the spectrum of
    J Jᵀ narrow and Gaussian ones do not (free probability: its variance grows about linearly
    with depth for Gaussian kernels, and stays O(q*) for orthogonal ones)."""
    x = data((8, 64), scale=0.5)
    orthogonal = keras_inits.jacobian_spectrum(
        tanh_net(lambda i: keras_inits.Orthogonal(seed=i), 16), x)
    gaussian = keras_inits.jacobian_spectrum(
        tanh_net(lambda i: keras_inits.RandomNormal(stddev=64**-0.5, seed=i), 16), x)
    # 8 samples x 64 singular values each. The std of σ² is heavy-tailed for Gaussian kernels
    # (0.32 on JAX, 0.80 on torch, 1.18 on TF, against 0.09-0.10 for orthogonal ones), so the
    # margin is on the std of log σ, which measured 0.57-0.58 against 6.1-6.4 on all three.
    log_std = [np.std(np.log(s.singular_values)) for s in (orthogonal, gaussian)]
    assert log_std[0] < 0.25 * log_std[1], log_std
    assert orthogonal.spread < 0.5 * gaussian.spread, (orthogonal.spread, gaussian.spread)


def test_report_formats(tmp_path):
    spectrum = keras_inits.jacobian_spectrum(small_model(), data((3, 4, 4, 2)))
    text = str(spectrum)
    assert "mean sigma^2" in text and "5 x 32" in text
    d = spectrum.to_dict()
    assert d["samples"] == 3 and len(d["singular_values"]) == 3 and d["n_in"] == 32
    assert d["mean_squared"] == spectrum.mean_squared
    assert "JacobianSpectrum: 3 samples" in repr(spectrum)
    path = spectrum.plot(tmp_path / "s.png")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert matplotlib.image.imread(path).shape[0] > 100


def test_partial_jacobian_norms_of_an_isometry_are_equal():
    """Every layer of the orthogonal linear net preserves ‖J u‖: the APJN column is the same
    `‖u‖² / N` at every depth (to float32 rounding), 2 for the 16 -> 32 embedding."""
    report = keras_inits.propagation_report(orthogonal_linear(), data((6, 16)), probes=2)
    values = [r.jacobian for r in report]
    np.testing.assert_allclose(values, values[0], rtol=1e-5)
    # ‖u‖²/32 for u ~ N(0, I_16): mean 1/2, sd sqrt(2·16)/32 / sqrt(12 draws) ≈ 0.05.
    assert abs(values[0] - 0.5) < 5 * 0.05


@pytest.mark.parametrize(
    "x, error, match",
    [
        (np.arange(16).reshape(1, 16), ValueError, r"`x` must be a floating-point array"),
        (np.full((2, 16), np.nan, "float32"), ValueError, r"`x` must be finite"),
        (np.zeros(16, "float32"), ValueError, r"non-empty batch .* shape \(16,\)"),
        (np.zeros((0, 16), "float32"), ValueError, r"shape \(0, 16\)"),
        ({"a": np.zeros((2, 16))}, TypeError, r"Argument `x` must be one numeric array"),
        ("text", TypeError, r"Received: x='text'"),
        ([np.zeros((2, 16)), np.zeros((2, 3))], TypeError, r"does not convert to one array"),
    ],
)
def test_bad_x(x, error, match):
    with pytest.raises(error, match=match):
        keras_inits.jacobian_spectrum(orthogonal_linear((16, 16)), x)


def test_a_non_finite_jacobian_is_an_error():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.layers[1].kernel.assign(np.full((4, 2), np.inf, "float32"))
    with pytest.raises(ValueError, match=r"not finite"):
        keras_inits.jacobian_spectrum(model, data((2, 4)))


def test_bad_model():
    with pytest.raises(TypeError, match=r"`model` must be a `keras.Model`"):
        keras_inits.jacobian_spectrum(keras.layers.Dense(3), data((2, 4)))
    inputs = keras.Input((4,))
    two = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(ValueError, match=r"single tensor output"):
        keras_inits.jacobian_spectrum(two, data((2, 4)))


def test_cli_spectrum_of_plain_mlps(tmp_path, capsys):
    from keras_inits.cli import main

    out = tmp_path / "spectrum.png"
    assert main(["spectrum", "--depth", "3", "--width", "8", "--samples", "2",
                 "--activation", "linear", "--inits", "orthogonal,random_normal",
                 "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("keras-inits spectrum: 3 x Dense(8, linear)")
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:5]}
    # A linear net of orthogonal kernels is an isometry: mean σ² 1, std 0 (float32 rounding).
    assert abs(float(rows["orthogonal"][0]) - 1) < 1e-4 and float(rows["orthogonal"][1]) < 1e-4
    assert float(rows["random_normal"][0]) < 0.1  # stddev 0.05 kernels shrink the signal
    with open(out, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE


def test_cli_spectrum_of_a_saved_model(tmp_path, capsys):
    from keras_inits.cli import main

    path = tmp_path / "m.keras"
    orthogonal_linear((16, 16, 16)).save(path)
    assert main(["spectrum", str(path), "--samples", "2"]) == 0
    row = capsys.readouterr().out.splitlines()[3].split()
    assert row[0] == "m.keras" and abs(float(row[1]) - 1) < 1e-4


@pytest.mark.parametrize(
    "argv, match",
    [
        (["spectrum", "--inits", "nope"], r"--inits: .*nope"),
        (["spectrum", "--activation", "nope"], r"unknown activation 'nope'"),
        (["spectrum", "missing.keras"], r"no such file. Received: 'missing.keras'"),
    ],
)
def test_cli_spectrum_bad_arguments(argv, match, capsys):
    from keras_inits.cli import main

    assert main(argv) == 2
    assert re.search(match, capsys.readouterr().err)


def test_cached_spectrum_equals_the_uncached_path_and_follows_the_weights(monkeypatch):
    """On JAX and TensorFlow the spectrum is one cached program (`_autodiff`)."""
    from keras_inits import _autodiff

    model, x = small_model(), data((3, 4, 4, 2))
    first = keras_inits.jacobian_spectrum(model, x).singular_values
    assert _autodiff.cache_size(model) == (0 if keras.backend.backend() == "torch" else 1)

    def uncached():
        with monkeypatch.context() as m:
            m.setattr(_autodiff, "_compiled", None)  # a cached path would fail loudly
            jacobian = _autodiff.per_sample_jacobian
            m.setattr(_autodiff, "per_sample_jacobian", lambda f, x, **_: jacobian(f, x))
            return keras_inits.jacobian_spectrum(model, x).singular_values

    np.testing.assert_allclose(first, uncached(), rtol=1e-5, atol=1e-7)
    layer = next(layer for layer in model.layers if layer.weights)
    layer.weights[0].assign(3.0 * to_numpy(layer.weights[0]))
    scaled = keras_inits.jacobian_spectrum(model, x).singular_values
    assert not np.allclose(scaled, first)
    np.testing.assert_allclose(scaled, uncached(), rtol=1e-5, atol=1e-7)
    assert _autodiff.cache_size(model) == (0 if keras.backend.backend() == "torch" else 1)
