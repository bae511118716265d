"""Real models: save to `.keras`, reload in a fresh process, compare initializers and weights.

Also the EinsumDense / MultiHeadAttention fan rewiring, which Keras applies only to
`VarianceScaling` instances.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_inits
from tests.conftest import to_numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, kernel_initializer=keras_inits.HeNormal(seed=1),
                            bias_initializer=keras_inits.Constant(0.1), name="conv")(inputs)
    x = keras.layers.Reshape((6, 24))(x)
    x = keras.layers.LSTM(5, return_sequences=True, name="lstm",
                          kernel_initializer=keras_inits.GlorotUniform(seed=2),
                          recurrent_initializer=keras_inits.Orthogonal(seed=3))(x)
    x = keras.layers.MultiHeadAttention(2, 4, name="mha",
                                        kernel_initializer=keras_inits.LecunNormal(seed=4))(x, x)
    x = keras.layers.EinsumDense("abc,cd->abd", output_shape=(6, 6), name="einsum",
                                 kernel_initializer="keras_inits>glorot_normal")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, name="dense", kernel_initializer="keras_inits>he_uniform")(x)
    return keras.Model(inputs, outputs)


def _initializers(model):
    found = {}
    for layer in model._flatten_layers(include_self=False):
        for attr in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            init = getattr(layer, attr, None) or getattr(getattr(layer, "cell", None), attr, None)
            if init is not None and not isinstance(init, str):
                found[f"{layer.name}.{attr}"] = [type(init).__module__, type(init).__name__,
                                                 init.get_config()]
    return found


def _run(code, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_save_and_reload_in_a_fresh_process(tmp_path):
    model = _model()
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "weights.npz", *[to_numpy(w) for w in model.weights])
    (tmp_path / "inits.json").write_text(json.dumps(_initializers(model)))
    assert any(v[0].startswith("keras_inits") for v in _initializers(model).values())

    result = _run(
        """
        import json, numpy as np, keras, keras_inits
        from tests.test_saving import _initializers
        from tests.conftest import to_numpy
        model = keras.saving.load_model("model.keras")
        assert json.loads(json.dumps(_initializers(model))) == json.load(open("inits.json"))
        saved = np.load("weights.npz")
        for i, w in enumerate(model.weights):
            np.testing.assert_array_equal(to_numpy(w), saved[f"arr_{i}"])
        print("RELOADED", len(model.weights))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RELOADED" in result.stdout

    # Without `import keras_inits`: schemes that share a name with Keras load as Keras'
    # built-ins (weights come from the file, so they are unchanged); the others can't be found.
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        2, kernel_initializer=keras_inits.KaimingUniform(seed=0))]).save(tmp_path / "k.keras")
    result = _run(
        """
        import keras
        model = keras.saving.load_model("model.keras")
        print(type(model.get_layer("dense").kernel_initializer).__module__)
        keras.saving.load_model("k.keras")
        """,
        tmp_path,
    )
    assert result.returncode != 0
    assert "keras.src.initializers" in result.stdout
    assert "Could not locate class 'KaimingUniform'" in result.stderr or (
        "keras_inits>KaimingUniform" in result.stderr and "TypeError" in result.stderr)
