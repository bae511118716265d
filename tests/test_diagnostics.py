"""propagation_report: numbers equal a direct numpy computation; table, dicts and PNG."""

import keras
import matplotlib.image
import numpy as np
import pytest

import keras_inits
from conftest import to_numpy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    h = keras.layers.Dense(7, "relu", bias_initializer="random_normal", name="d1")(inputs)
    outputs = keras.layers.Dense(3, name="d2")(h)
    return keras.Model(inputs, outputs)


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")


def test_matches_numpy_forward_and_backward():
    model, (x, y) = tiny(), arrays()
    report = keras_inits.propagation_report(model, x, y, loss="mse")
    w1, b1 = to_numpy(model.get_layer("d1").kernel), to_numpy(model.get_layer("d1").bias)
    w2, b2 = to_numpy(model.get_layer("d2").kernel), to_numpy(model.get_layer("d2").bias)
    x64, y64 = x.astype("float64"), y.astype("float64")
    z1 = x64 @ w1 + b1
    h1 = np.maximum(z1, 0)
    out = h1 @ w2 + b2
    # loss = mean over all elements of (out - y)^2, so d loss / d out = 2 (out - y) / out.size.
    d_out = 2 * (out - y64) / out.size
    g2 = h1.T @ d_out
    g1 = x64.T @ ((d_out @ w2.T) * (z1 > 0))

    assert [r.name for r in report] == ["d1", "d2"]
    for r, a, g in zip(report, (h1, out), (g1, g2)):
        assert r.shape == a.shape
        np.testing.assert_allclose(r.mean, a.mean(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(r.std, a.std(), rtol=1e-5)
        assert r.zeros == np.mean(a == 0)
        np.testing.assert_allclose(r.grad_std, g.std(), rtol=1e-4)
        np.testing.assert_allclose(r.grad_norm, np.linalg.norm(g), rtol=1e-4)
    assert report["d1"].zeros > 0  # the ReLU zeroes some outputs: the check above is not vacuous


def test_default_loss_is_the_compiled_one():
    model, (x, y) = tiny(), arrays()
    model.compile(loss="mse")
    implicit = keras_inits.propagation_report(model, x, y).to_list()
    loss = keras.losses.MeanSquaredError()
    explicit = keras_inits.propagation_report(model, x, y, loss=loss).to_list()
    for a, b in zip(implicit, explicit):
        np.testing.assert_allclose(a["grad_norm"], b["grad_norm"], rtol=1e-5)


def test_jacobian_column_matches_the_exact_partial_jacobian_norms():
    """The APJN estimate against `‖∂h/∂x‖_F² / N` from the weights, per layer.

    d1's Jacobian at sample b is `diag(z1_b > 0) W1ᵀ`, d2's is `W2ᵀ diag(z1_b > 0) W1ᵀ`. With
    u ~ N(0, I), `‖J u‖²` has mean `‖J‖_F²` and variance `2 ‖JᵀJ‖_F²`; the estimate averages
    16 samples x 50 probes, so 5 standard errors of that mean bound the error.
    """
    model, (x, _) = tiny(), arrays()
    probes = 50
    report = keras_inits.propagation_report(model, x, probes=probes, seed=1)
    w1, b1 = to_numpy(model.get_layer("d1").kernel), to_numpy(model.get_layer("d1").bias)
    w2 = to_numpy(model.get_layer("d2").kernel)
    mask = (x.astype("float64") @ w1 + b1) > 0
    jacobians = {
        "d1": [w1.T * m[:, None] for m in mask],
        "d2": [w2.T @ (w1.T * m[:, None]) for m in mask],
    }
    assert report.has_jacobian
    for name, js in jacobians.items():
        n = js[0].shape[0]
        exact = np.mean([np.sum(j**2) for j in js]) / n
        variance = np.mean([2 * np.sum((j.T @ j) ** 2) for j in js]) / n**2
        se = np.sqrt(variance / (len(js) * probes))
        assert abs(report[name].jacobian - exact) < 5 * se, (name, report[name].jacobian, exact)
        assert 5 * se < 0.3 * exact  # the bound is tight enough to mean something


def test_jacobian_column_off_and_integer_inputs():
    model, (x, _) = tiny(), arrays()
    report = keras_inits.propagation_report(model, x, probes=0)
    assert not report.has_jacobian and report["d1"].jacobian is None
    assert "jacobian" not in str(report)
    tokens = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 3)])
    report = keras_inits.propagation_report(tokens, np.arange(8).reshape(2, 4) % 10)
    assert not report.has_jacobian and report[0].std > 0


def test_without_targets_no_gradients():
    model, (x, _) = tiny(), arrays()
    report = keras_inits.propagation_report(model, x)
    assert not report.has_gradients
    assert all(r.grad_std is None for r in report)
    assert "grad std" not in str(report)


def test_subclassed_nested_and_shared_layers():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.body = keras.Sequential([keras.layers.Dense(8, activation="relu", name="inner")])
            self.shared = keras.layers.Dense(8, name="shared")

        def call(self, x):
            return self.shared(self.shared(self.body(x)))

    model, (x, y) = Net(), arrays()
    report = keras_inits.propagation_report(model, x, np.zeros((16, 8), "float32"), loss="mse")
    assert [r.name for r in report] == ["inner", "shared", "shared[2]"]
    assert [r.depth for r in report] == [1, 2, 3]
    assert report["shared"].grad_norm > 0 and report["shared[2]"].grad_norm is None


def test_table_and_dicts():
    model, (x, y) = tiny(), arrays()
    report = keras_inits.propagation_report(model, x, y, loss="mse")
    rows = report.to_list()
    assert [row["name"] for row in rows] == ["d1", "d2"]
    assert set(rows[0]) == {
        "depth", "name", "class_name", "shape", "mean", "std", "zeros", "grad_std", "grad_norm",
        "jacobian",
    }
    lines = str(report).splitlines()
    assert lines[0].split() == [
        "depth", "layer", "class", "output", "shape", "mean", "std", "zeros", "jacobian", "grad",
        "std", "grad", "norm",
    ]
    assert set(lines[1]) == {"-", " "} and len(lines) == 4
    end = lines[0].index("grad norm") + len("grad norm")  # right-aligned numbers
    assert all(line[end - 1].isdigit() for line in lines[2:])


def test_plot_writes_a_readable_png(tmp_path):
    model, (x, y) = tiny(), arrays()
    path = keras_inits.propagation_report(model, x, y, loss="mse").plot(tmp_path / "p.png")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(loss="mse"), ValueError, "needs targets"),
        (dict(y=np.zeros((16, 3))), ValueError, "Received: loss=None"),
        (dict(y=np.zeros((16, 3)), loss=["mse"]), TypeError, "single loss"),
        (dict(probes=-1), ValueError, r"`probes` must be an int >= 0. Received: probes=-1"),
        (dict(probes=1.0), TypeError, r"Received: probes=1.0"),
        (dict(seed="0"), TypeError, r"Received: seed='0'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    model, (x, _) = tiny(), arrays()
    with pytest.raises(error, match=match):
        keras_inits.propagation_report(model, x, **kwargs)


# The program cache (`_autodiff`): on JAX one compiled program per model, operation and input
# signature, with the variables as arguments; on TensorFlow a `tf.function` (which reads the
# variables by reference). On torch these tests check that the keyed and the unkeyed paths agree,
# which they trivially do.


def report_numbers(report):
    return [(r.mean, r.std, r.zeros, r.jacobian, r.grad_std, r.grad_norm) for r in report]


def uncached_report(model, x, y, monkeypatch):
    """`propagation_report` with the cache bypassed: the eager path of every backend."""
    from keras_inits import _autodiff

    with monkeypatch.context() as m:
        m.setattr(_autodiff, "_compiled", None)  # a cached path would fail loudly
        gradients, jvp_mean_squares = _autodiff.gradients, _autodiff.jvp_mean_squares
        m.setattr(_autodiff, "gradients", lambda *a, key=None: gradients(*a, key=None))
        m.setattr(
            _autodiff, "jvp_mean_squares", lambda model, key, *a: jvp_mean_squares(model, None, *a)
        )
        return keras_inits.propagation_report(model, x, y, loss="mse")


def assert_same(a, b):
    for ra, rb in zip(a, b, strict=True):
        np.testing.assert_allclose(
            [np.nan if v is None else v for v in ra],
            [np.nan if v is None else v for v in rb],
            rtol=1e-5,
            atol=1e-7,
        )


def test_cached_programs_equal_the_uncached_path(monkeypatch):
    from keras_inits import _autodiff

    model, (x, y) = tiny(), arrays()
    first = keras_inits.propagation_report(model, x, y, loss="mse")
    again = keras_inits.propagation_report(model, x, y, loss="mse")
    expected = uncached_report(model, x, y, monkeypatch)
    assert_same(report_numbers(first), report_numbers(expected))
    assert report_numbers(again) == report_numbers(first)
    assert [r.name for r in again] == [r.name for r in expected] == ["d1", "d2"]
    if keras.backend.backend() in ("jax", "tensorflow"):
        assert _autodiff.cache_size(model) == 2  # the partial Jacobians and the gradients
    else:
        assert _autodiff.cache_size(model) == 0


def test_cache_follows_weights_shapes_and_structure(monkeypatch):
    from keras_inits import _autodiff

    model, (x, y) = tiny(), arrays()
    before = report_numbers(keras_inits.propagation_report(model, x, y, loss="mse"))
    programs = _autodiff.cache_size(model)

    # New weights are new arguments of the same programs: no retrace, new numbers.
    d1 = model.get_layer("d1")
    d1.kernel.assign(2.0 * to_numpy(d1.kernel))
    after = keras_inits.propagation_report(model, x, y, loss="mse")
    assert report_numbers(after) != before
    assert_same(report_numbers(after), report_numbers(uncached_report(model, x, y, monkeypatch)))
    assert _autodiff.cache_size(model) == programs

    # Another batch size is another signature.
    small = keras_inits.propagation_report(model, x[:4], y[:4], loss="mse")
    assert_same(
        report_numbers(small), report_numbers(uncached_report(model, x[:4], y[:4], monkeypatch))
    )
    assert _autodiff.cache_size(model) == 2 * programs

    # A frozen layer has no kernel gradient; another activation changes the traced program.
    d1.trainable = False
    frozen = keras_inits.propagation_report(model, x, y, loss="mse")
    assert frozen["d1"].grad_std is None and frozen["d2"].grad_std is not None
    d1.trainable = True
    d1.activation = keras.activations.get("tanh")
    tanh = keras_inits.propagation_report(model, x, y, loss="mse")
    assert tanh["d1"].zeros == 0.0 and tanh["d1"].mean != after["d1"].mean
    assert_same(report_numbers(tanh), report_numbers(uncached_report(model, x, y, monkeypatch)))

    # Another loss is another program; the cache goes with `clear_cache()`.
    keras_inits.propagation_report(model, x, y, loss="mae")
    _autodiff.clear_cache()
    assert _autodiff.cache_size(model) == 0


@pytest.mark.parametrize("padding, size, kernel", [("same", 2, 3), ("same", 3, 4), ("valid", 3, 3)])
def test_small_convolutions_as_matrix_products_are_the_same_convolution(padding, size, kernel):
    """`_autodiff.small_convs` (JAX on CPU: outputs smaller than the kernel as matmuls)."""
    from keras_inits import _autodiff

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 6))
    h = keras.layers.Conv2D(5, kernel, padding=padding, name="small")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1, name="big")(h))
    x = np.random.default_rng(0).normal(size=(3, size, size, 6)).astype("float32")
    expected = to_numpy(model(x))
    with _autodiff.small_convs(model):
        patched = "convolution_op" in model.get_layer("small").__dict__
        np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)
    assert patched == (keras.backend.backend() == "jax")
    assert "convolution_op" not in model.get_layer("small").__dict__


@pytest.mark.parametrize(
    "size, kernel, strides, padding, multiplier, bias",
    [(8, 3, 1, "same", 1, True), (8, 3, 2, "same", 1, False), (7, 3, 2, "same", 2, True),
     (9, 5, 2, "valid", 1, True), (4, 3, 1, "valid", 3, False), (5, 3, 2, "same", 1, True)],
)
def test_depthwise_as_sums_of_taps_is_the_same_convolution(
    size, kernel, strides, padding, multiplier, bias
):
    """`_autodiff.small_convs(depthwise=True)`: on JAX on CPU DepthwiseConv2D as sums of scaled
    input slices; against Keras' own layer (float32 rounding of a 9-25 term sum)."""
    from keras_inits import _autodiff

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 4))
    h = keras.layers.DepthwiseConv2D(
        kernel, strides=strides, padding=padding, depth_multiplier=multiplier, use_bias=bias,
        activation="relu", bias_initializer="random_normal", name="dw")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, name="pointwise")(h))
    x = np.random.default_rng(0).normal(size=(2, size, size, 4)).astype("float32")
    expected = to_numpy(model(x))
    calls = []
    with _autodiff.small_convs(model, depthwise=True):
        layer = model.get_layer("dw")
        patched = "call" in layer.__dict__
        if patched:  # count the calls, so the comparison below is known to run the rewrite
            rewrite = layer.__dict__["call"]
            layer.__dict__["call"] = lambda inputs: calls.append(1) or rewrite(inputs)
        np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)
    assert patched == (keras.backend.backend() == "jax")
    assert len(calls) == (1 if patched else 0)
    assert "call" not in model.get_layer("dw").__dict__
    with _autodiff.small_convs(model):  # eager callers (LSUV) keep Keras' depthwise op
        assert "call" not in model.get_layer("dw").__dict__


def test_cache_keeps_the_last_models_only():
    from keras_inits import _autodiff

    _autodiff.clear_cache()
    x, _ = arrays()
    models = [tiny() for _ in range(_autodiff._MODELS + 1)]
    for model in models:
        keras_inits.propagation_report(model, x)
    cached = 0 if keras.backend.backend() == "torch" else 1
    assert _autodiff.cache_size(models[0]) == 0  # the oldest went
    assert [_autodiff.cache_size(m) for m in models[1:]] == [cached] * _autodiff._MODELS
    assert len(_autodiff._CACHE) == (0 if keras.backend.backend() == "torch" else _autodiff._MODELS)
