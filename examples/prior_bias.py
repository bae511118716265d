"""Output bias from the class prior: "is this digit a 0?" on scikit-learn's digits (~10% yes).

With the default zero bias the sigmoid head starts at p = 0.5 for every image, so the first
epoch is spent learning that positives are rare. `keras_inits.init_output_bias` sets the bias to
log(p / (1 - p)) of the training labels, and the first epoch starts at the base rate instead.
Same weights, same data order, same optimizer; only the head's bias differs.
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_inits

digits = load_digits()
x = (digits.data / 16.0).astype("float32")
y = (digits.target == 0).astype("float32")  # 178 of 1797: 9.9% positives
order = np.random.default_rng(0).permutation(len(x))
x, y = x[order], y[order]
x_train, y_train = x[:1200], y[:1200]


def model(seed=0):
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, "relu", kernel_initializer=keras_inits.HeNormal(seed=seed)),
        keras.layers.Dense(1, "sigmoid", kernel_initializer=keras_inits.GlorotUniform(seed + 1)),
    ])


def first_epoch(m):
    """Loss before training and the mean loss of the first epoch (SGD, batch 64)."""
    m.compile(keras.optimizers.SGD(0.05), "binary_crossentropy")
    before = m.evaluate(x_train, y_train, verbose=0)
    history = m.fit(x_train, y_train, batch_size=64, epochs=1, shuffle=False, verbose=0)
    return before, history.history["loss"][0]


default = model()
prior = model()
init = keras_inits.init_output_bias(prior, y_train)  # the last Dense with a bias: the head
bias = float(keras.ops.convert_to_numpy(prior.layers[-1].bias)[0])
print(f"positives in y_train: {y_train.mean():.3f}; {init!r}; head bias {bias:+.3f}")
print(f"{'head bias':12s}  {'loss at init':>12s}  {'epoch-1 loss':>12s}")
for name, m in (("zero", default), ("prior", prior)):
    before, epoch = first_epoch(m)
    print(f"{name:12s}  {before:12.4f}  {epoch:12.4f}")
