"""Run by tests/test_portable.py in a fresh JAX process with 8 host-platform CPU devices: builds
one model under `seeding` sharded by `ModelParallel` and unsharded, and prints, as JSON, the
largest difference of each variable between the two (and under `portable=True`)."""

import json
import os

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_inits  # noqa: E402
from keras_inits import _sampling  # noqa: E402

mesh = keras.distribution.DeviceMesh((2, 4), ["batch", "model"], keras.distribution.list_devices())
layout_map = keras.distribution.LayoutMap(mesh)
layout_map[".*up.*kernel"] = (None, "model")
layout_map[".*down.*kernel"] = ("model", None)
layout_map[".*wide.*kernel"] = (None, "model")
distribution = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")


def build():
    inputs = keras.Input((64,))
    x = keras.layers.Dense(256, name="up", kernel_initializer="he_normal")(inputs)
    x = keras.layers.Dense(2048, name="down", kernel_initializer="glorot_uniform")(x)
    # 2048 x 4096 float32 over 8 devices is 256 MiB: Keras shards it at init (each device
    # generates its shard); the smaller ones are generated once and placed.
    x = keras.layers.Dense(4096, name="wide", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, x)


def values(model):
    return {v.path: v for v in model.weights}


report = {"devices": len(jax.devices())}
with keras_inits.override_keras_names():
    for portable in (False, True):
        with keras_inits.seeding(0, portable=portable):
            with distribution.scope():
                sharded = values(build())
            single = values(build())
        report[f"portable={portable}"] = {
            path: {"max_abs_diff": float(np.abs(np.asarray(v.value) - np.asarray(single[path].value)).max()),
                   "sharded": len(v.value.sharding.device_set) > 1 and not v.value.sharding.is_fully_replicated,
                   "sharded_at_init": bool(_sampling._worth_sharding(v.value.sharding, v.shape))}
            for path, v in sharded.items()
        }
print("REPORT " + json.dumps(report))
