"""keras_inits in Dense, Conv2D and LSTM layers, by instance and by string name."""

import keras
import numpy as np

import keras_inits  # registers "keras_inits>..." names with Keras

# By instance: seeded, so the weights are reproducible.
dense = keras.layers.Dense(64, activation="relu", kernel_initializer=keras_inits.HeNormal(seed=0))

# By string: "keras_inits>name" works anywhere Keras takes an initializer.
conv = keras.layers.Conv2D(16, 3, activation="tanh", kernel_initializer="keras_inits>glorot_uniform")

# LSTM: orthogonal recurrent kernel, zeros for the biases.
lstm = keras.layers.LSTM(
    32,
    kernel_initializer=keras_inits.GlorotUniform(seed=1),
    recurrent_initializer=keras_inits.Orthogonal(seed=2),
    bias_initializer="keras_inits>zeros",
)

images = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
sequences = np.random.default_rng(1).normal(size=(4, 10, 5)).astype("float32")
print("conv  ", tuple(conv(images).shape), type(conv.kernel_initializer).__name__)
print("dense ", tuple(dense(images.reshape(4, -1)).shape), type(dense.kernel_initializer).__name__)
print("lstm  ", tuple(lstm(sequences).shape), type(lstm.cell.recurrent_initializer).__name__)

# The same scheme by every name it has.
for identifier in ["he_normal", "HeNormal", "keras_inits>he_normal", {"class_name": "HeNormal"}]:
    print(repr(identifier), "->", keras_inits.get(identifier))
