"""Audit a model's initialization: every weight against the law of its initializer.

A fresh model passes. Then a kernel is scaled by 3 (the kind of slip a hand-written init loop
makes), a saved model is reloaded, and the audit names the broken kernel, with the z-score of
its std. The same works from the command line: `keras-inits audit model.keras`.
"""

import os
import tempfile

import keras

import keras_inits

model = keras.Sequential([
    keras.Input((8, 8, 3)),
    keras.layers.Conv2D(16, 3, activation="relu", name="conv",
                        kernel_initializer=keras_inits.KaimingNormal(seed=0)),
    keras.layers.Flatten(),
    keras.layers.Dense(32, activation="relu", name="hidden",
                       kernel_initializer=keras_inits.HeUniform(seed=1)),
    keras.layers.Dense(10, name="head", kernel_initializer=keras_inits.Orthogonal(seed=2)),
], name="net")

report = keras_inits.audit(model)
print(report)
assert report.ok

hidden = model.get_layer("hidden").kernel
hidden.assign(hidden * 3.0)
path = os.path.join(tempfile.mkdtemp(), "model.keras")
model.save(path)

report = keras_inits.audit(keras.saving.load_model(path))
print()
print(report)
for entry in report.flagged:
    print(f"\nflagged {entry.path}: {entry.flag}")
