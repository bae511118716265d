"""reinitialize: every weight-creating Keras layer, discovered at test time, drawn again as built.

The layer classes are discovered by walking `keras.layers`. A class creates weights if its
source (or a Keras base class's, below `Layer`) calls `add_weight`/`add_variable`/
`keras.Variable`, or if its constructor takes a `*_initializer` argument. Every such class must
have an entry in `LAYERS` (constructor and inputs) or in `EXEMPT` (with the reason): a Keras
release that adds one fails `test_every_weight_creating_layer_has_an_entry`.
"""

import contextlib
import inspect
import re

import keras
import numpy as np
import pytest

import keras_inits
from conftest import to_numpy
from keras_inits.model.reinit import initializer_of


def seeded(cls, on: bool, start: int = 1) -> dict:
    """Every random `*_initializer` default of `cls`, as the same initializer with an int seed."""
    if not on:
        return {}
    out = {}
    parameters = inspect.signature(cls.__init__).parameters
    for i, (name, parameter) in enumerate(parameters.items()):
        if name.endswith("_initializer"):
            init = keras.initializers.get(parameter.default)
            config = init.get_config()
            if "seed" in config:
                out[name] = type(init).from_config({**config, "seed": start + i})
    return out


L = keras.layers
B, T = None, 4  # batch (unknown) and time steps of the build shapes
# class name -> (make(seeded: bool) -> layer, the arguments of its `build`). Building is enough:
# it creates every weight, without compiling a forward pass.
LAYERS = {
    "Dense": (lambda s: L.Dense(3, **seeded(L.Dense, s)), [(B, 4)]),
    "EinsumDense": (lambda s: L.EinsumDense("ab,bc->ac", 3, bias_axes="c",
                                            **seeded(L.EinsumDense, s)), [(B, 4)]),
    "Conv1D": (lambda s: L.Conv1D(4, 2, groups=2, **seeded(L.Conv1D, s)), [(B, 5, 2)]),
    "Conv2D": (lambda s: L.Conv2D(3, 2, **seeded(L.Conv2D, s)), [(B, 5, 5, 2)]),
    "Conv3D": (lambda s: L.Conv3D(3, 2, **seeded(L.Conv3D, s)), [(B, 3, 3, 3, 2)]),
    "Conv1DTranspose": (lambda s: L.Conv1DTranspose(3, 2, **seeded(L.Conv1DTranspose, s)),
                        [(B, 5, 2)]),
    "Conv2DTranspose": (lambda s: L.Conv2DTranspose(3, 2, **seeded(L.Conv2DTranspose, s)),
                        [(B, 4, 4, 2)]),
    "Conv3DTranspose": (lambda s: L.Conv3DTranspose(3, 2, **seeded(L.Conv3DTranspose, s)),
                        [(B, 3, 3, 3, 2)]),
    "DepthwiseConv1D": (lambda s: L.DepthwiseConv1D(2, depth_multiplier=2,
                                                    **seeded(L.DepthwiseConv1D, s)), [(B, 5, 2)]),
    "DepthwiseConv2D": (lambda s: L.DepthwiseConv2D(2, depth_multiplier=2,
                                                    **seeded(L.DepthwiseConv2D, s)),
                        [(B, 4, 4, 2)]),
    "SeparableConv1D": (lambda s: L.SeparableConv1D(3, 2, **seeded(L.SeparableConv1D, s)),
                        [(B, 5, 2)]),
    "SeparableConv2D": (lambda s: L.SeparableConv2D(3, 2, **seeded(L.SeparableConv2D, s)),
                        [(B, 4, 4, 2)]),
    "Embedding": (lambda s: L.Embedding(10, 3, **seeded(L.Embedding, s)), [(B, T)]),
    "ReversibleEmbedding": (lambda s: L.ReversibleEmbedding(
        10, 3, tie_weights=False, **seeded(L.ReversibleEmbedding, s)), [(B, T)]),
    "LSTM": (lambda s: L.LSTM(3, **seeded(L.LSTM, s)), [(B, T, 2)]),
    "GRU": (lambda s: L.GRU(3, **seeded(L.GRU, s)), [(B, T, 2)]),
    "SimpleRNN": (lambda s: L.SimpleRNN(3, **seeded(L.SimpleRNN, s)), [(B, T, 2)]),
    "LSTMCell": (lambda s: L.RNN(L.LSTMCell(3, **seeded(L.LSTMCell, s))), [(B, T, 2)]),
    "GRUCell": (lambda s: L.RNN(L.GRUCell(3, **seeded(L.GRUCell, s))), [(B, T, 2)]),
    "SimpleRNNCell": (lambda s: L.RNN(L.SimpleRNNCell(3, **seeded(L.SimpleRNNCell, s))),
                      [(B, T, 2)]),
    "RNN": (lambda s: L.RNN(L.SimpleRNNCell(2, **seeded(L.SimpleRNNCell, s))), [(B, T, 2)]),
    "StackedRNNCells": (lambda s: L.RNN(L.StackedRNNCells([
        L.SimpleRNNCell(3, **seeded(L.SimpleRNNCell, s)),
        L.GRUCell(2, **seeded(L.GRUCell, s, start=10))])), [(B, T, 2)]),
    "ConvLSTM1D": (lambda s: L.ConvLSTM1D(2, 2, **seeded(L.ConvLSTM1D, s)), [(B, 3, 5, 2)]),
    "ConvLSTM2D": (lambda s: L.ConvLSTM2D(2, 2, **seeded(L.ConvLSTM2D, s)),
                   [(B, 2, 4, 4, 2)]),
    "ConvLSTM3D": (lambda s: L.ConvLSTM3D(2, 2, **seeded(L.ConvLSTM3D, s)),
                   [(B, 2, 3, 3, 3, 1)]),
    "Bidirectional": (lambda s: L.Bidirectional(L.LSTM(3, **seeded(L.LSTM, s))), [(B, T, 2)]),
    "TimeDistributed": (lambda s: L.TimeDistributed(L.Dense(3, **seeded(L.Dense, s))),
                        [(B, T, 5)]),
    "MultiHeadAttention": (lambda s: L.MultiHeadAttention(2, 3, **seeded(L.MultiHeadAttention, s)),
                           [(B, T, 5), (B, 6, 5)]),
    "GroupQueryAttention": (lambda s: L.GroupQueryAttention(
        3, 2, 1, **seeded(L.GroupQueryAttention, s)), [(B, T, 5), (B, 6, 5)]),
    "AdditiveAttention": (lambda s: L.AdditiveAttention(use_scale=True), [[(B, T, 5), (B, 6, 5)]]),
    "Attention": (lambda s: L.Attention(use_scale=True, score_mode="concat"),
                  [[(B, T, 5), (B, 6, 5)]]),
    "BatchNormalization": (lambda s: L.BatchNormalization(**seeded(L.BatchNormalization, s)),
                           [(B, 4)]),
    "LayerNormalization": (lambda s: L.LayerNormalization(**seeded(L.LayerNormalization, s)),
                           [(B, 4)]),
    "GroupNormalization": (lambda s: L.GroupNormalization(2, **seeded(L.GroupNormalization, s)),
                           [(B, 4)]),
    "RMSNormalization": (lambda s: L.RMSNormalization(), [(B, 4)]),
    "Normalization": (lambda s: L.Normalization(), [(B, 4)]),  # adapt() fills it later
    "SpectralNormalization": (lambda s: L.SpectralNormalization(L.Dense(3, **seeded(L.Dense, s))),
                              [(B, 4)]),
    "PReLU": (lambda s: L.PReLU(**seeded(L.PReLU, s)), [(B, 4)]),
    "STFTSpectrogram": (lambda s: L.STFTSpectrogram(frame_length=8, frame_step=4, fft_length=8),
                        [(B, 32, 1)]),
}

EXEMPT = {
    "JaxLayer": "its weights are the params a JAX init function returns, not initializers",
    "FlaxLayer": "its weights are a Flax module's params (flax is not installed)",
    "TorchModuleWrapper": "its weights are torch's own parameters, passed as values",
    "TFSMLayer": "its weights are loaded from a TF SavedModel",
}

# Layers with a weight whose initializer Keras fixes, unseeded (no constructor argument).
UNSEEDABLE = {
    "AdditiveAttention": "scale: glorot_uniform",
    "SpectralNormalization": "vector_u: TruncatedNormal(stddev=0.02)",
}

_CREATES = re.compile(r"add_weight\(|add_variable\(|keras\.Variable\(|backend\.Variable\(")


def creates_weights(cls) -> bool:
    if any(name.endswith("_initializer") for name in inspect.signature(cls.__init__).parameters):
        return True
    for klass in cls.__mro__:
        module = klass.__module__
        if klass in (keras.layers.Layer, keras.Model) or not module.startswith("keras.src."):
            continue
        if module.startswith(("keras.src.layers.layer", "keras.src.models.")):
            continue  # Layer/Model machinery, not a layer's own weights
        if _CREATES.search(inspect.getsource(klass)):
            return True
    return False


def public_layer_classes() -> dict[str, type]:
    found = {}
    for name in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, name)
        if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer):
            found.setdefault(cls, name)
    return {name: cls for cls, name in found.items()}


def test_every_weight_creating_layer_has_an_entry():
    discovered = {n for n, cls in public_layer_classes().items() if creates_weights(cls)}
    missing = sorted(discovered - set(LAYERS) - set(EXEMPT))
    assert not missing, f"weight-creating keras.layers classes without a LAYERS entry: {missing}"
    # The discovery finds what it should (so that `missing` cannot be empty by accident).
    assert {"Dense", "Conv2D", "LSTMCell", "BatchNormalization", "PReLU"} <= discovered
    assert "Dropout" not in discovered and "Flatten" not in discovered
    assert set(LAYERS) <= set(public_layer_classes()), "stale LAYERS entry"


def build(name, on):
    """`seeded`: Keras' own initializers, each with an int seed. `default`: the layer's default
    initializers, unseeded, with Keras' names pointing at keras_inits (JAX compiles Keras'
    samplers once per shape, ours once: the fast variant)."""
    make, shapes = LAYERS[name]
    with contextlib.nullcontext() if on else keras_inits.override_keras_names():
        layer = make(on)
        layer.build(*shapes)
    return layer


def floats(layer) -> dict[str, np.ndarray]:
    return {v.path: to_numpy(v) for v in layer.weights
            if "float" in keras.backend.standardize_dtype(v.dtype)}


@pytest.mark.parametrize("on", [
    # ~40 s on JAX (a compile per Keras sampler and shape), ~5 s on TF/torch.
    pytest.param(True, id="seeded", marks=pytest.mark.slow),
    pytest.param(False, id="default"),
])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_reinitialize_redraws_every_weight_as_a_fresh_build(name, on):
    layer = build(name, on)
    built = floats(layer)
    assert built, f"{name} created no float weights"
    # Two fresh builds from the config: where they agree, the weight is reproducible (a seeded
    # or deterministic initializer) and re-initialization must give exactly those values;
    # where they differ (unseeded), it must give new ones.
    fresh = [floats(build_from_config(layer, name, on)) for _ in range(2)]
    for variable in layer.weights:  # a perturbation the re-initialization must undo
        if variable.path in built:
            variable.assign(built[variable.path] + 1.5)
    report = keras_inits.reinitialize(layer)
    after = floats(layer)
    assert [e.path for e in report.planned] == list(built)
    for (path, value), a, b in zip(after.items(), fresh[0].values(), fresh[1].values()):
        if np.array_equal(a, b):
            np.testing.assert_array_equal(value, a, err_msg=path)
        else:
            assert not np.array_equal(value, built[path]), path
            assert not np.array_equal(value, built[path] + 1.5), path
            # Same law: the std of the new draw matches a fresh one's. Each sample std has a
            # relative standard error of about 1/sqrt(2n), their ratio about 1/sqrt(n): 5 SE,
            # for tensors large enough to say anything (n >= 64).
            if value.size >= 64:
                assert abs(np.log(value.std() / a.std())) < 5 / np.sqrt(value.size), path
    if on and name not in UNSEEDABLE:  # seeded: the equality branch is what was tested
        assert all(np.array_equal(a, b) for a, b in zip(*(f.values() for f in fresh))), name


def build_from_config(layer, name, on):
    with contextlib.nullcontext() if on else keras_inits.override_keras_names():
        fresh = type(layer).from_config(layer.get_config())
        fresh.build(*LAYERS[name][1])
    return fresh


def test_lstm_unit_forget_bias_is_redrawn_with_its_ones():
    layer = keras.layers.LSTM(3, unit_forget_bias=True)
    layer.build((None, 4, 2))
    bias = layer.cell.bias
    bias.assign(np.zeros((12,), "float32"))
    keras_inits.reinitialize(layer)
    np.testing.assert_array_equal(to_numpy(bias), [0] * 3 + [1] * 3 + [0] * 6)


# ---------------------------------------------------------------------------------------------
# Custom layers, nested models, only/skip, seeds


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale",
                                     initializer=keras_inits.RandomNormal(1.0, 0.1, seed=4))
        self.offset = self.add_weight(shape=(input_shape[-1],), initializer="random_normal",
                                      name="offset")
        self.plain = keras.Variable(keras_inits.Constant(2.0), shape=(3,), name="plain")

    def call(self, inputs):
        return inputs * self.scale + self.offset


def nested():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="inner_dense"),
                              Scale(name="scale")], name="inner")
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, name="head")(inner(inputs))
    return keras.Model(inputs, outputs)


def test_custom_layers_and_nested_models():
    model = nested()
    scale = model.get_layer("inner").get_layer("scale")
    built = {v.path: to_numpy(v) for v in model.weights}
    for v in model.weights:
        v.assign(to_numpy(v) * 0 + 9)
    report = keras_inits.reinitialize(model, seed=5)
    assert "inner/scale/plain" in [e.path for e in report.planned]
    np.testing.assert_array_equal(to_numpy(scale.scale), built[scale.scale.path])  # seeded
    np.testing.assert_array_equal(to_numpy(scale.plain), 2.0)
    assert not np.array_equal(to_numpy(scale.offset), built[scale.offset.path])  # unseeded
    offset = to_numpy(scale.offset)
    keras_inits.reinitialize(model, seed=5)  # an int seed makes unseeded draws repeatable
    np.testing.assert_array_equal(to_numpy(scale.offset), offset)
    keras_inits.reinitialize(model)
    assert not np.array_equal(to_numpy(scale.offset), offset)


def test_only_and_skip_select_by_path_and_by_layer_class():
    model = nested()
    before = {v.path: to_numpy(v) for v in model.weights}
    for v in model.weights:
        v.assign(to_numpy(v) * 0 + 9)

    def changed():
        return sorted(p for p, v in ((v.path, to_numpy(v)) for v in model.weights)
                      if not np.all(v == 9))

    keras_inits.reinitialize(model, only="head/")
    assert changed() == ["head/bias", "head/kernel"]
    keras_inits.reinitialize(model, only=[Scale], skip=r"offset$")
    assert changed() == ["head/bias", "head/kernel", "inner/scale/plain", "inner/scale/scale"]
    keras_inits.reinitialize(model, skip=keras.layers.Dense)
    assert "inner/inner_dense/kernel" not in changed() and "inner/scale/offset" in changed()
    report = keras_inits.reinitialize(model, skip=(keras.layers.Dense, "scale/"))
    assert {e.reason for e in report.skipped} == {"excluded by `skip`"}
    np.testing.assert_array_equal(to_numpy(model.get_layer("head").bias), before["head/bias"])


def test_frozen_layers_are_reset_and_quantized_ones_skipped():
    model = nested()
    model.get_layer("head").trainable = False
    model.get_layer("inner").get_layer("inner_dense").quantize("int8")
    model.get_layer("head").bias.assign(np.ones((2,), "float32"))
    report = keras_inits.reinitialize(model)
    np.testing.assert_array_equal(to_numpy(model.get_layer("head").bias), 0.0)
    quantized = [e for e in report if e.path.startswith("inner/inner_dense/")]
    assert quantized and all(e.status == "skipped" for e in quantized)


def test_reloaded_models_are_covered(tmp_path):
    model = nested()
    path = str(tmp_path / "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, custom_objects={"Scale": Scale})
    scale = reloaded.get_layer("inner").get_layer("scale")
    assert initializer_of(scale, scale.scale).seed == 4
    scale.scale.assign(np.zeros((4,), "float32"))
    keras_inits.reinitialize(reloaded, only="scale/scale")
    np.testing.assert_array_equal(to_numpy(scale.scale),
                                  to_numpy(model.get_layer("inner").get_layer("scale").scale))


def test_initializer_of_is_the_layer_s_own_object():
    layer = keras.layers.Dense(3, kernel_initializer=keras_inits.HeNormal(seed=0))
    layer.build((None, 4))
    assert initializer_of(layer, layer.kernel) is layer.kernel_initializer
    assert initializer_of(layer, layer.bias) is layer.bias_initializer


class FromValue(keras.layers.Layer):
    def build(self, input_shape):
        self.table = keras.Variable(np.arange(3, dtype="float32"), name="table")

    def call(self, inputs):
        return inputs


def test_a_variable_without_an_initializer_is_refused_and_nothing_is_assigned():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(2, name="head", bias_initializer="ones")
    table = FromValue(name="from_value")
    model = keras.Model(inputs, table(dense(inputs)))
    dense.bias.assign(np.zeros((2,), "float32"))
    with pytest.raises(ValueError, match=r"initializer is unknown.*'from_value/table'.*`skip=`"):
        keras_inits.reinitialize(model)
    np.testing.assert_array_equal(to_numpy(dense.bias), 0.0)
    keras_inits.reinitialize(model, skip="from_value/")
    np.testing.assert_array_equal(to_numpy(dense.bias), 1.0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model_or_layer": object()}, TypeError, r"`model_or_layer` must be a `keras.Model`"),
    ({"model_or_layer": keras.layers.Dense(2)}, ValueError, r"`model_or_layer` must be built"),
    ({"seed": 1.5}, TypeError, r"`seed` must be None or an int. Received: seed=1.5"),
    ({"seed": 2**32}, ValueError, r"`seed` must be None or an int in"),
    ({"only": "head["}, ValueError, r"`only` holds 'head\[', which is not a valid regular"),
    ({"skip": 3}, TypeError, r"`skip` must be None, a regex .* Received: skip=3"),
    ({"only": [keras.layers.Dense, int]}, TypeError, r"`only` must be None, a regex"),
])
def test_bad_arguments(kwargs, error, match):
    arguments = {"model_or_layer": nested(), **kwargs}
    with pytest.raises(error, match=match):
        keras_inits.reinitialize(arguments.pop("model_or_layer"), **arguments)
