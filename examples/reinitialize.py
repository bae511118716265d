"""Re-initialize a trained model in place, all of it or one head, and apply a policy.

Trains a small MLP on scikit-learn's digits, then:
1. `reinitialize(model, only="head/")` draws the head again as it was built: the accuracy
   drops, the hidden layers keep what they learned, and training recovers in one epoch;
2. `reinitialize(model, seed=0)` resets every weight: back to chance;
3. `apply(model, policy, dry_run=True)` prints what a policy would assign, then applies it.
The optimizer and the compiled train step are the same objects throughout.
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_inits

digits = load_digits()
x = (digits.data / 16.0).astype("float32")
y = digits.target

inputs = keras.Input((64,))
h = keras.layers.Dense(64, activation="relu", name="hidden_1")(inputs)
h = keras.layers.Dense(64, activation="relu", name="hidden_2")(h)
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(h))
model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])


def accuracy() -> float:
    return model.evaluate(x, y, verbose=0)[1]


model.fit(x, y, epochs=5, batch_size=64, verbose=0)
print(f"trained:                 accuracy {accuracy():.3f}")

hidden = keras.ops.convert_to_numpy(model.get_layer("hidden_1").kernel)
keras_inits.reinitialize(model, only="head/")
assert np.array_equal(keras.ops.convert_to_numpy(model.get_layer("hidden_1").kernel), hidden)
print(f"head re-initialized:     accuracy {accuracy():.3f}")
model.fit(x, y, epochs=1, batch_size=64, verbose=0)
print(f"after 1 more epoch:      accuracy {accuracy():.3f}")

report = keras_inits.reinitialize(model, seed=0)
print(f"all {len(report.planned)} weights re-initialized: accuracy {accuracy():.3f}")

policy = keras_inits.InitMap({
    "head/kernel": "zeros",
    keras.layers.Dense: {"kernel": "he_normal", "bias": "zeros"},
})
print(keras_inits.apply(model, policy, seed=0, dry_run=True))
keras_inits.apply(model, policy, seed=0, verbose=0)
model.fit(x, y, epochs=3, batch_size=64, verbose=0)
print(f"He policy, 3 epochs:     accuracy {accuracy():.3f}")
