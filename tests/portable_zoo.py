"""Run by tests/test_portable.py in a fresh process per backend (`KERAS_BACKEND` set by the
caller): builds the seeded model zoo under `seeding(0, portable=True)` and saves its weights,
keyed by seeding path, to the `.npz` file named on the command line."""

import sys

import keras
import numpy as np

import keras_inits
from keras_inits import _seeds

L = keras.layers

#: The family of each zoo weight that is drawn at random (the tolerance the test applies).
FAMILIES = {
    "mlp_in/kernel": "uniform",  # Dense's default glorot_uniform
    "mlp_out/kernel": "normal",  # he_normal: the truncated normal
    "conv/kernel": "uniform",
    "conv_out/kernel": "normal",  # lecun_normal
    "lstm/lstm_cell/kernel": "uniform",
    "lstm/lstm_cell/recurrent_kernel": "orthogonal",  # LSTM's default
    "mha/query/kernel": "uniform",
    "mha/key/kernel": "uniform",
    "mha/value/kernel": "uniform",
    "mha/attention_output/kernel": "uniform",
    "einsum/kernel": "normal",  # random_normal: the untruncated normal
    "embed/embeddings": "uniform",  # Embedding's default: uniform(-0.05, 0.05)
}


def zoo():
    mlp = keras.Sequential(
        [
            keras.Input((20,)),
            L.Dense(32, name="mlp_in", activation="relu"),
            L.Dense(10, name="mlp_out", kernel_initializer="he_normal"),
        ]
    )
    cnn = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(8, 3, name="conv"),
            L.Conv2D(4, 3, name="conv_out", kernel_initializer="lecun_normal"),
        ]
    )
    tokens = keras.Input((6,), dtype="int32")
    x = L.Embedding(50, 16, name="embed")(tokens)
    x = L.MultiHeadAttention(2, 8, name="mha")(x, x)
    x = L.LSTM(12, name="lstm", return_sequences=True)(x)
    x = L.EinsumDense("btd,de->bte", (None, 24), name="einsum", kernel_initializer="random_normal")(
        x
    )
    return [mlp, cnn, keras.Model(tokens, x)]


if __name__ == "__main__":
    with keras_inits.override_keras_names(), keras_inits.seeding(0, portable=True):
        models = zoo()
    weights = {}
    for model in models:
        paths = _seeds.model_seeding_paths(model)
        weights.update(
            {paths[id(v)]: np.asarray(keras.ops.convert_to_numpy(v.value)) for v in model.weights}
        )
    np.savez(sys.argv[1], **weights)
