"""LSUV: unit output variance per layer, orthonormal pre-init, skipped layers, model intact."""

import math

import keras
import numpy as np
import pytest

import keras_inits
from conftest import to_numpy

TOL = 0.1


def data(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def output_variance(model, layer, x) -> float:
    """Var of `layer`'s output on `x`, through a Functional sub-model (independent of lsuv)."""
    probe = keras.Model(model.inputs[0], layer.output)
    return float(np.var(to_numpy(probe(x, training=False))))


def mlp():
    # Activations as separate layers, so that each Dense output is its pre-activation.
    layers = [keras.Input((32,))]
    for units in (64, 64, 48, 48):
        layers += [keras.layers.Dense(units), keras.layers.Activation("relu")]
    layers += [keras.layers.Dense(10), keras.layers.Activation("softmax")]
    return keras.Sequential(layers)


def cnn():
    inputs = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(8, 3)(inputs)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.Conv2DTranspose(4, 3, name="up")(h)  # a type LSUV does not handle
    h = keras.layers.Conv1D(6, 3)(keras.layers.Reshape((-1, 4))(h))
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.EinsumDense("ab,bcd->acd", (2, 5))(h)
    return keras.Model(inputs, outputs)


HANDLED = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.EinsumDense,
)


@pytest.mark.parametrize(
    "build, shape",
    [
        pytest.param(mlp, (256, 32), id="mlp"),
        # ~13 s on JAX, mostly compiling each conv shape eagerly once.
        pytest.param(cnn, (32, 12, 12, 3), id="cnn", marks=pytest.mark.slow),
    ],
)
def test_each_handled_layer_reaches_unit_variance(build, shape):
    model, x = build(), data(shape)
    report = keras_inits.lsuv(model, x, tol=TOL, seed=0, verbose=0)
    handled = [layer for layer in model.layers if isinstance(layer, HANDLED)]
    assert [r.name for r in report.handled] == [layer.name for layer in handled]
    for layer in handled:
        r = report[layer.name]
        assert r.converged and r.orthonormal and not r.skipped
        assert abs(r.variance_after - 1) < TOL
        assert abs(output_variance(model, layer, x) - 1) < TOL, layer.name
        assert r.iterations <= 10


def test_cnn_reports_the_layer_it_cannot_handle():
    model, x = cnn(), data((32, 12, 12, 3))
    kernel = to_numpy(model.get_layer("up").kernel)
    report = keras_inits.lsuv(model, x, seed=0, verbose=0)
    (skipped,) = report.skipped
    assert skipped.name == "up" and skipped.class_name == "Conv2DTranspose"
    assert "Conv2DTranspose" in skipped.reason
    np.testing.assert_array_equal(to_numpy(model.get_layer("up").kernel), kernel)
    # Forward order: the skipped layer sits between the depthwise conv and the Conv1D.
    names = [r.name for r in report]
    assert names.index("up") == 2
    assert "skipped: LSUV rescales" in str(report)


def test_subclassed_model_and_fused_activations():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.a = keras.layers.Dense(64, activation="relu")
            self.b = keras.layers.Dense(64, activation="tanh")
            self.c = keras.layers.Dense(10, activation="softmax")

        def call(self, x):
            return self.c(self.b(self.a(x)))

    model, x = Net(), data((256, 32))  # unbuilt: lsuv builds it on x
    report = keras_inits.lsuv(model, x, seed=0, verbose=0)
    assert [r.name for r in report] == [model.a.name, model.b.name, model.c.name]
    # The variance is measured before each layer's own activation.
    h = x
    for layer in (model.a, model.b, model.c):
        z = to_numpy(keras.ops.matmul(h, layer.kernel) + layer.bias)
        assert abs(np.var(z) - 1) < TOL, layer.name
        h = layer.activation(z.astype("float32"))


def test_frozen_and_unused_layers_are_skipped_with_reasons():
    inputs = keras.Input((16,))
    frozen = keras.layers.Dense(16, name="frozen", trainable=False)
    unused = keras.layers.Dense(16, name="unused")
    unused.build((None, 16))
    outputs = keras.layers.Dense(4, name="head")(frozen(inputs))
    model = keras.Model(inputs, outputs)
    model.unused = unused  # tracked by the model, never called
    before = to_numpy(frozen.kernel)
    report = keras_inits.lsuv(model, data((64, 16)), seed=0, verbose=0)
    assert "frozen" in report["frozen"].reason and report["frozen"].skipped
    assert "not called" in report["unused"].reason and report["unused"].skipped
    assert not report["head"].skipped
    np.testing.assert_array_equal(to_numpy(frozen.kernel), before)


def test_orthonormal_pre_init_layouts():
    """With max_iter=0 only the pre-init runs: each kernel is orthonormal in its own layout."""
    inputs = keras.Input((8, 8, 4))
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=3, name="dw")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.EinsumDense("ab,bcd->acd", (4, 6), name="einsum")(h)
    model = keras.Model(inputs, h)
    keras_inits.lsuv(model, data((8, 8, 8, 4)), max_iter=0, seed=0, verbose=0)

    dw = to_numpy(model.get_layer("dw").kernel)  # (3, 3, 4, 3)
    for c in range(4):  # per channel: a (9 taps, 3) bank with orthonormal columns
        bank = dw[:, :, c, :].reshape(9, 3)
        np.testing.assert_allclose(bank.T @ bank, np.eye(3), atol=1e-5)
    einsum = to_numpy(model.get_layer("einsum").kernel)  # (in, 4, 6): maps in -> 24 outputs
    matrix = einsum.reshape(einsum.shape[0], -1)
    np.testing.assert_allclose(matrix.T @ matrix, np.eye(24), atol=1e-5)


def test_orthonormal_false_only_rescales():
    model, x = mlp(), data((256, 32))
    kernel = to_numpy(model.layers[0].kernel)
    report = keras_inits.lsuv(model, x, orthonormal=False, verbose=0)
    first = report.handled[0]
    assert not first.orthonormal and first.iterations >= 1
    ratio = to_numpy(model.layers[0].kernel) / kernel
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)  # one scalar factor
    expected = math.sqrt(first.variance_before / first.variance_after)
    assert abs(ratio.flat[0] - 1 / expected) < 1e-3 * (1 / expected)


def test_model_stays_trainable_and_savable(tmp_path):
    model, x = mlp(), data((256, 32))
    keras_inits.lsuv(model, x, seed=0, verbose=0)
    assert len(model.trainable_weights) == 10
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    y = np.arange(256) % 10
    before = to_numpy(model.layers[0].kernel)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert not np.allclose(to_numpy(model.layers[0].kernel), before)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(model(x)), rtol=1e-5, atol=1e-6)


def test_seeded_runs_repeat():
    x = data((64, 32))
    kernels = []
    for _ in range(2):
        model = mlp()
        keras_inits.lsuv(model, x, seed=3, verbose=0)
        kernels.append(to_numpy(model.layers[2].kernel))
    np.testing.assert_array_equal(*kernels)


def test_report_formats():
    model, x = mlp(), data((64, 32))
    report = keras_inits.lsuv(model, x, seed=0, verbose=0)
    rows = report.to_list()
    assert len(rows) == len(report) == 5
    assert set(rows[0]) == {
        "name", "class_name", "variance_before", "variance_after", "iterations", "converged",
        "orthonormal", "skipped", "reason",
    }
    lines = str(report).splitlines()
    assert lines[0].startswith("LSUV (tol=0.1, max_iter=10): 5 layers rescaled, 0 skipped")
    assert len(lines) == 2 + 1 + 5  # title, header, rule, one line per layer
    header = lines[1]
    end = header.index("var after") + len("var after")  # numbers are right-aligned under it
    for line in lines[3:]:
        assert line[end - 1].isdigit() and line[end] == " ", line


def test_progress_bar(capsys):
    keras_inits.lsuv(mlp(), data((64, 32)), seed=0, verbose=1)
    assert "5/5" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(tol=0), ValueError, r"Received: tol=0"),
        (dict(max_iter=-1), ValueError, r"Received: max_iter=-1"),
        (dict(verbose=3), ValueError, r"Received: verbose=3"),
        (dict(seed=1.5), TypeError, r"Received: seed=1.5"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_inits.lsuv(mlp(), data((8, 32)), **kwargs)


def test_not_a_model():
    with pytest.raises(TypeError, match="keras.Model"):
        keras_inits.lsuv(keras.layers.Dense(3), data((8, 32)))
