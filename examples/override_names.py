"""Make Keras' own names ("glorot_uniform", "orthogonal", ...) mean keras_inits' classes."""

import keras

import keras_inits

print("before:", type(keras.layers.Dense(4).kernel_initializer).__module__)

# As a context manager: Keras' own mapping comes back on exit.
with keras_inits.override_keras_names():
    dense = keras.layers.Dense(4)  # Dense's default "glorot_uniform"
    lstm = keras.layers.LSTM(4)  # LSTM's default recurrent "orthogonal"
    print("inside:", type(dense.kernel_initializer), type(lstm.cell.recurrent_initializer))
    # Orthogonal in bfloat16 works here; Keras' built-in has no half-precision QR.
    print(keras.initializers.get("orthogonal")((4, 4), dtype="bfloat16").dtype)

print("after: ", type(keras.layers.Dense(4).kernel_initializer).__module__)

# Or for the whole program:
keras_inits.override_keras_names()
print("global:", type(keras.initializers.get("he_normal")))
