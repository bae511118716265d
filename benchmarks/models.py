"""Model build timing (worker mode `build`): one build per fresh process.

Method: import Keras, keras_inits and the model code, and run one `keras.ops.ones` so backend
start-up (device discovery, thread pools) is not timed. Then time, with `time.perf_counter`, the
model construction and a wait for every weight to be computed (`sync` over all variables, so
JAX's async dispatch cannot hide work). `impl="keras"` builds it as is; `impl="ours"` builds it
inside `keras_inits.override_keras_names()`, so every default and string initializer resolves
to keras_inits. No seeds are set: layer defaults are unseeded in both cases.

After timing, the process records, for every weight of rank >= 2 (kernels), its size, mean, std
and kurtosis, and counts the layers whose kernel initializer comes from keras_inits or from Keras,
which shows that the override took effect. `bench.py` compares the per-kernel std of the two
builds (the "no change in distribution" check).

Models:
- `resnet50`: `keras.applications.ResNet50(weights=None)` (25.6M parameters, 54 kernels).
- `transformer12`: 12 pre-LN blocks at d_model 512, sequence 128: MultiHeadAttention (8 heads;
  its q/k/v/output projections are EinsumDense layers), an EinsumDense up-projection to 2048 with
  GELU and a Dense down-projection; a final LayerNormalization and Dense (38.1M parameters).
- `tiny` (smoke mode): the same stack with 2 blocks at d_model 16, 2 heads, sequence 4.
"""

from __future__ import annotations

import time

from common import make_sync


def transformer(blocks: int, d_model: int, heads: int, seq: int, mlp_ratio: int = 4):
    """A functional pre-LN transformer encoder stack built from Dense and EinsumDense layers."""
    import keras

    layers = keras.layers
    x = inputs = keras.Input((seq, d_model))
    for _ in range(blocks):
        h = layers.LayerNormalization()(x)
        h = layers.MultiHeadAttention(heads, d_model // heads)(h, h)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization()(x)
        h = layers.EinsumDense("btd,df->btf", output_shape=(None, mlp_ratio * d_model),
                               bias_axes="f", activation="gelu")(h)
        h = layers.Dense(d_model)(h)
        x = layers.Add()([x, h])
    x = layers.LayerNormalization()(x)
    return keras.Model(inputs, layers.Dense(d_model)(x))


def _builder(name: str):
    if name == "resnet50":
        from keras.applications import ResNet50

        return lambda: ResNet50(weights=None)
    if name == "transformer12":
        return lambda: transformer(12, 512, 8, 128)
    if name == "tiny":
        return lambda: transformer(2, 16, 2, 4)
    raise ValueError(f"unknown model {name!r}; known: resnet50, transformer12, tiny")


def _initializer_sources(model) -> dict:
    """How many layers have a kernel initializer from keras_inits, from Keras, or other."""
    counts = {"keras_inits": 0, "keras": 0, "other": 0}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for attr in ("kernel_initializer", "_kernel_initializer"):
            init = getattr(layer, attr, None)
            if init is not None:
                module = type(init).__module__
                key = "keras_inits" if module.startswith("keras_inits") else (
                    "keras" if module.startswith("keras") else "other")
                counts[key] += 1
                break
    return counts


def _kernel_stats(model) -> list[dict]:
    import keras
    import numpy as np

    stats = []
    for v in model.weights:
        if len(v.shape) < 2:
            continue
        x = np.asarray(keras.ops.convert_to_numpy(v.value), dtype="float64").ravel()
        centered = x - x.mean()
        var = float(np.mean(centered**2))
        stats.append({
            "path": v.path, "shape": list(v.shape), "n": int(x.size), "mean": float(x.mean()),
            "std": var**0.5, "kurtosis": float(np.mean(centered**4) / var**2) if var else None,
        })
    return stats


def build(args: dict) -> dict:
    """Times one build of `args["model"]` with `args["impl"]` ("keras" or "ours")."""
    import keras

    import keras_inits

    sync = make_sync()
    make = _builder(args["model"])
    sync(keras.ops.ones((1,)))  # backend start-up, not timed
    t0 = time.perf_counter()
    if args["impl"] == "ours":
        with keras_inits.override_keras_names():
            model = make()
    else:
        model = make()
    sync([v.value for v in model.weights])
    seconds = time.perf_counter() - t0
    return {
        "model": args["model"], "impl": args["impl"], "seconds": seconds,
        "params": int(model.count_params()), "n_weights": len(model.weights),
        "initializers": _initializer_sources(model), "kernels": _kernel_stats(model),
    }
