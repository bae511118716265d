"""Save a model that uses keras_inits to .keras and load it back.

Loading needs `import keras_inits` first; without it Keras raises
"TypeError: Could not locate class 'HeNormal'".
"""

import os
import tempfile

import keras
import numpy as np

import keras_inits

model = keras.Sequential([
    keras.Input((16,)),
    keras.layers.Dense(32, activation="relu", kernel_initializer=keras_inits.HeNormal(seed=0)),
    keras.layers.Dense(10, kernel_initializer=keras_inits.GlorotUniform(seed=1)),
])
path = os.path.join(tempfile.mkdtemp(), "model.keras")
model.save(path)

restored = keras.saving.load_model(path)
for before, after in zip(model.layers, restored.layers):
    assert type(after.kernel_initializer) is type(before.kernel_initializer)
    assert after.kernel_initializer.get_config() == before.kernel_initializer.get_config()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(before.kernel),
                                  keras.ops.convert_to_numpy(after.kernel))
print("saved and reloaded", path, [type(l.kernel_initializer).__name__ for l in restored.layers])
