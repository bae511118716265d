"""Worker functions for tests/test_fork.py: a module of their own, so that the `spawn` and
`forkserver` children, which import the functions they run by name, find them."""

import threading
import time

import keras
import numpy as np

import keras_inits
from keras_inits._registry import lookup


def instance(name: str):
    """The scheme's example instance with a fixed seed (schemes without one as they are)."""
    cls = lookup(name)
    kwargs = {"seed": 7} if "seed" in cls.example().get_config() else {}
    return cls.example(**kwargs)


def draw_all(names):
    """Every scheme's draw on its first example shape, as numpy arrays, in this process."""
    out = {}
    for name in names:
        x = instance(name)(lookup(name).example_shapes[0])
        out[name] = np.asarray(keras.ops.convert_to_numpy(x))
    return out


def load_weights(path: str):
    """The weights of the `.keras` model at `path`, loaded in this process."""
    model = keras.saving.load_model(path)
    return [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]


def build_under_override(seed: int):
    """A default-initialized Dense/LSTM model built under `override_keras_names()`, with every
    layer seeded, so that its kernels come from keras_inits' classes."""
    with keras_inits.override_keras_names():
        model = keras.Sequential([
            keras.Input((5, 4)),
            keras.layers.LSTM(6, kernel_initializer=keras.initializers.get(
                {"class_name": "glorot_uniform", "config": {"seed": seed}}),
                recurrent_initializer=keras.initializers.get(
                {"class_name": "orthogonal", "config": {"seed": seed + 1}})),
            keras.layers.Dense(3, kernel_initializer=keras.initializers.get(
                {"class_name": "he_normal", "config": {"seed": seed + 2}})),
        ])
        classes = [type(layer.kernel_initializer).__module__ for layer in model.layers]
        return classes, [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]


def draw_while_lock_was_held(_):
    """A draw that takes the SeedGenerator draw lock (which the parent held when it forked)."""
    init = keras_inits.GlorotUniform(seed=keras.random.SeedGenerator(3))
    return [np.asarray(keras.ops.convert_to_numpy(init((4, 4)))) for _ in range(2)]


def hold_draw_lock(seconds: float) -> threading.Thread:
    """A thread that holds the draw lock for `seconds`, as a draw in progress would."""
    from keras_inits import base

    held = threading.Event()

    def hold():
        with base._DRAW_LOCK:
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    held.wait()
    return thread


def traced_draw(_):
    """A keras_inits draw while tracing (tf.function / jax.jit), in this process."""
    backend = keras.backend.backend()
    init = keras_inits.HeNormal(seed=1)
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            tf.function(lambda: init((4, 4)))()
        elif backend == "jax":
            import jax

            jax.jit(lambda: init((4, 4)))()
        else:
            init((4, 4))
    except RuntimeError as error:
        return str(error)
    return "ok"


def forked_flag(_):
    """Whether keras_inits sees this process as a forked child."""
    from keras_inits import _fork

    return _fork.FORKED
