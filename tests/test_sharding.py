"""Sharded initialization under `keras.distribution.ModelParallel` (JAX, 8 CPU devices).

Keras' distribution API shards variables on JAX only, and the device count is fixed when JAX
starts, so the model is built in a fresh JAX process (`tests/sharded_init.py`), whatever
backend this suite runs on. The `layout=` argument on the other backends is tested below it.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_inits
from tests.conftest import BACKEND, to_numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def report():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "sharded_init.py")],
                         capture_output=True, text=True, env=env, timeout=600, check=True)
    line = next(l for l in out.stdout.splitlines() if l.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


@pytest.mark.slow
def test_variables_are_sharded_as_the_layout_map_says(report):
    assert report["devices"] == 8
    expected = {  # LayoutMap spec -> the shard each of the 4 "model" devices holds
        "up": ([None, "model"], [64, 64]),
        "down": (["model"], [64, 64]),
        "qkv": ([None, None, "model"], [64, 8, 4]),
        "recurrent": (["model"], [32, 128]),
        "wide": ([None, "model"], [2048, 1024]),
    }
    for name, (spec, shard_shape) in expected.items():
        entry = report["variables"][name]
        assert entry["spec"] == spec, name
        assert entry["shard_shape"] == shard_shape, name


@pytest.mark.slow
def test_sharded_values_equal_single_device_values(report):
    # Each device draws its shard by the global index of each element, so the sharded tensor
    # is the unsharded one exactly (same seed), and so has the same distribution.
    for name, entry in report["variables"].items():
        assert entry["max_abs_diff_vs_unsharded"] == 0.0, name
    # Small variables are generated once and placed; the large one per shard, on each device.
    assert [n for n, e in report["variables"].items() if e["sharded_at_init"]] == ["wide"]
    # And that distribution is the scheme's: std of He normal for fan_in 64 is sqrt(2/64);
    # 16384 samples give a relative standard error of about 1/sqrt(2*16384) = 0.55%, so 5%.
    assert abs(report["variables"]["up"]["std"] / np.sqrt(2 / 64) - 1) < 0.05


@pytest.mark.slow
def test_sharded_orthogonal_is_still_orthogonal(report):
    # QR needs the whole matrix: each device computes it and keeps its rows.
    assert report["variables"]["recurrent"]["orthogonality_error"] < 1e-5


@pytest.mark.slow
def test_sharded_he_normal_scratch_memory_is_bounded_by_the_shard(report):
    # From the compiled program's memory_analysis (exact, no timing): each device holds its
    # shard plus one block of scratch. Keras' jit-with-out_shardings path needs 3x the shard.
    ours = report["memory_8192_he_normal"]["ours"]
    assert ours["output_over_shard"] == 1.0
    assert ours["temp_over_shard"] <= 2.0
    assert report["memory_8192_he_normal"]["keras"]["temp_over_shard"] >= ours["temp_over_shard"]


@pytest.mark.slow
def test_seed_generator_advances_under_sharding(report):
    assert report["seed_generator_draws_differ"]


def test_layout_argument_on_this_backend():
    # Keras passes `layout` to initializers whose __call__ accepts it. With a layout over this
    # process's devices, the values are those of a call without layout.
    init = keras_inits.HeNormal(seed=0)
    if BACKEND != "jax":
        # Keras shards variables on JAX only (JaxVariable passes `layout`): a clear refusal.
        layout = keras.distribution.TensorLayout([None, "model"])
        with pytest.raises(NotImplementedError, match="`layout` is supported on the JAX"):
            init((16, 8), dtype="float32", layout=layout)
        return
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((len(devices),), ["model"], devices)
    layout = keras.distribution.TensorLayout([None, "model"], mesh)
    sharded = init((16, 8), dtype="float32", layout=layout)
    np.testing.assert_array_equal(to_numpy(sharded), to_numpy(init((16, 8), dtype="float32")))
