"""Scaling out: shard a model's kernels over 8 devices with `keras.distribution` (JAX).

Keras shards variables on the JAX backend only. Without 8 accelerators, XLA can pretend:
`--xla_force_host_platform_device_count=8` makes 8 CPU devices. Each device generates only its
own shard of a large kernel, and the values are those of an unsharded call with the same seed.
"""

import os

os.environ["KERAS_BACKEND"] = "jax"  # Keras' distribution API shards variables on JAX
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_inits  # noqa: E402

mesh = keras.distribution.DeviceMesh((2, 4), ["batch", "model"], keras.distribution.list_devices())
layout_map = keras.distribution.LayoutMap(mesh)
layout_map["up.*kernel"] = (None, "model")  # column-parallel: each device holds 2048 columns
layout_map["down.*kernel"] = ("model", None)  # row-parallel: each device holds 2048 rows

with keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch").scope():
    inputs = keras.Input((1024,))
    hidden = keras.layers.Dense(8192, activation="relu", name="up",
                                kernel_initializer=keras_inits.HeNormal(seed=0))(inputs)
    outputs = keras.layers.Dense(1024, name="down",
                                 kernel_initializer=keras_inits.GlorotUniform(seed=1))(hidden)
    model = keras.Model(inputs, outputs)

for variable in model.weights:
    print(f"{variable.path:16} {str(variable.shape):14} {variable.value.sharding.spec}")

# The same seed gives the same kernel as on one device.
kernel = np.asarray(model.get_layer("up").kernel.value)
np.testing.assert_array_equal(kernel, np.asarray(keras_inits.HeNormal(seed=0)((1024, 8192))))
print("up/kernel equals the single-device HeNormal(seed=0); std %.4f, sqrt(2/1024) = %.4f"
      % (kernel.std(), np.sqrt(2 / 1024)))
