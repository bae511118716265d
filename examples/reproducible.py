"""Weights that survive model edits and backends: `keras_inits.seeding`.

Run it with KERAS_BACKEND=jax, tensorflow or torch: the printed checksums of the portable build
are the same on all three.
"""

import keras
import numpy as np

import keras_inits

layers = keras.layers


def build(extra_layer: bool):
    stack = [keras.Input((16,)), layers.Dense(32, activation="relu", name="encoder")]
    if extra_layer:  # a code change: one more layer in the middle
        stack.append(layers.Dense(32, activation="relu", name="adapter"))
    stack += [layers.Dense(8, name="head", kernel_initializer="he_normal")]
    return keras.Sequential(stack)


with keras_inits.override_keras_names():  # Keras' default names mean keras_inits' schemes
    with keras_inits.seeding(0):
        before, after = build(False), build(True)
    for name in ("encoder", "head"):
        same = np.array_equal(before.get_layer(name).kernel.numpy(), after.get_layer(name).kernel.numpy())
        print(f"{name}/kernel unchanged by the inserted layer: {same}")

    with keras_inits.seeding(0, portable=True):  # jax.random's values on every backend
        model = build(False)
    for weight in model.weights:
        print(f"{keras.backend.backend()} {weight.path}: sum={float(np.sum(weight.numpy())):+.6f}")
