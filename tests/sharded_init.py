"""Run by tests/test_sharding.py in a fresh process: JAX with 8 host-platform CPU devices.

Builds a model under `keras.distribution.ModelParallel` with a LayoutMap and prints, as JSON,
what the test checks: each variable's sharding, its values against an unsharded call, the
compiled per-device scratch memory of a sharded 8192x8192 he_normal, and Orthogonal's
orthogonality when sharded.
"""

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
layout_map[".*qkv.*kernel"] = (None, None, "model")
layout_map[".*recurrent.*kernel"] = ("model", None)
layout_map[".*wide.*kernel"] = (None, "model")
distribution = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")

INITS = {
    "up": lambda: keras_inits.HeNormal(seed=1),
    "down": lambda: keras_inits.GlorotUniform(seed=2),
    "qkv": lambda: keras_inits.TruncatedNormal(stddev=0.02, seed=3),
    "recurrent": lambda: keras_inits.Orthogonal(seed=4),
    # 2048 x 4096 float32 is 32 MiB, 256 MiB over 8 devices: large enough that Keras' rule
    # (should_shard_at_init) shards it at init, so each device generates only its shard.
    "wide": lambda: keras_inits.GlorotUniform(seed=5),
}


def build():
    inputs = keras.Input((64,))
    x = keras.layers.Dense(256, name="up", kernel_initializer=INITS["up"]())(inputs)
    x = keras.layers.Dense(64, name="down", kernel_initializer=INITS["down"]())(x)
    x = keras.layers.EinsumDense("bd,dhk->bhk", (8, 16), name="qkv",
                                 kernel_initializer=INITS["qkv"]())(x)
    x = keras.layers.Dense(128, name="recurrent", kernel_initializer=INITS["recurrent"]())(
        keras.layers.Flatten()(x))
    x = keras.layers.Dense(2048, name="to_wide")(x)
    x = keras.layers.Dense(4096, name="wide", kernel_initializer=INITS["wide"]())(x)
    return keras.Model(inputs, x)


with distribution.scope():
    model = build()

report = {"devices": len(jax.devices()), "variables": {}}
for layer_name in INITS:
    kernel = model.get_layer(layer_name).kernel
    value = kernel.value
    expected = np.asarray(INITS[layer_name]()(tuple(kernel.shape), dtype="float32"))
    array = np.asarray(value)
    spec = [None if s is None else str(s) for s in value.sharding.spec]
    while spec and spec[-1] is None:  # P("model") and P("model", None) are the same layout
        spec.pop()
    entry = {
        "spec": spec,
        "shard_shape": list(value.sharding.shard_shape(value.shape)),
        "shape": list(value.shape),
        "max_abs_diff_vs_unsharded": float(np.abs(array - expected).max()),
        "std": float(array.std()),
        "sharded_at_init": bool(_sampling._worth_sharding(value.sharding, value.shape)),
    }
    if layer_name == "recurrent":
        entry["orthogonality_error"] = float(np.abs(array.T @ array - np.eye(array.shape[1])).max())
    report["variables"][layer_name] = entry

# A SeedGenerator-seeded initializer advances once per sharded call.
jax_mesh = jax.sharding.Mesh(np.array(jax.devices()).reshape(2, 4), ("batch", "model"))
sharding = jax.sharding.NamedSharding(jax_mesh, jax.sharding.PartitionSpec(None, "model"))
generated = keras_inits.HeNormal(seed=keras.random.SeedGenerator(0))
first, second = (np.asarray(generated((64, 64), dtype="float32", layout=sharding)) for _ in "12")
report["seed_generator_draws_differ"] = bool(not np.array_equal(first, second))

# Per-device scratch memory of the sharded 8192x8192 he_normal, from the compiled program.
shape = (8192, 8192)
memory = {}
for name, init in [("ours", keras_inits.HeNormal(seed=0)), ("keras", keras.initializers.HeNormal(seed=0))]:
    if name == "ours":
        fn = jax.jit(lambda: init(shape, dtype="float32", layout=sharding))
    else:  # what Keras does for an initializer without `layout`: jit with out_shardings
        fn = jax.jit(lambda: init(shape, dtype="float32"), out_shardings=sharding)
    analysis = fn.lower().compile().memory_analysis()
    shard_bytes = 8192 * 8192 * 4 / 4
    memory[name] = {"temp_over_shard": analysis.temp_size_in_bytes / shard_bytes,
                    "output_over_shard": analysis.output_size_in_bytes / shard_bytes}
report["memory_8192_he_normal"] = memory
print("REPORT " + json.dumps(report))
