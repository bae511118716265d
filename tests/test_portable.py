"""Portable values: `seeding(seed, portable=True)` gives jax.random's values on every backend.

The references are computed here with jax itself (installed with the test environment whatever
the backend): `jax.random.uniform` for the uniform family; keras_inits' own JAX kernels for the
normal family (the values keras_inits on JAX draws); an independent float64 numpy construction
from `jax.random.normal` for the orthogonal family. The seeded zoo is built in three fresh
processes, one per backend; the sharded build in a fresh JAX process with 8 CPU devices.
"""

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import keras_inits
from keras_inits import _portable, _sampling, _seeds
from tests.conftest import BACKEND, to_numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("jax", "tensorflow", "torch")
# Portable normal-family values on torch differ from JAX's by at most this many float32 ulps
# (log1p rounding inside erfinv); TensorFlow and JAX: none.
ULPS = 0 if BACKEND != "torch" else _portable.NORMAL_ULPS


def portable(init, shape, seed=0):
    with keras_inits.seeding(seed, portable=True):
        return np.asarray(keras.ops.convert_to_numpy(init(shape)), dtype=np.float32)


def key(seed, counter=0):
    return jnp.array([seed, counter], dtype=jnp.uint32)


def ulps(a, b) -> np.ndarray:
    """Distance in float32 ulps (ordered integer representations)."""
    a, b = (np.asarray(x, np.float32).view(np.int32).astype(np.int64) for x in (a, b))
    a, b = (np.where(x < 0, -(x & 0x7FFFFFFF), x) for x in (a, b))
    return np.abs(a - b)


def jax_kernel(kind, shape, seed, params):
    """What keras_inits on JAX draws (its compiled block kernels), run with jax directly."""
    seed = np.array([seed, 0], np.uint32)
    return np.asarray(_sampling._jax_host_blocks(kind, shape, "float32", seed, params))


@pytest.mark.parametrize("seed", [0, 123456789, 2**32 - 1])
@pytest.mark.parametrize("shape", [(7,), (64, 48), (3, 3, 16, 24)])
def test_uniform_family_is_jax_random_bytes(seed, shape):
    got = portable(keras_inits.RandomUniform(-0.3, 0.7, seed=seed), shape)
    expected = np.asarray(jax.random.uniform(key(seed), shape, minval=-0.3, maxval=0.7))
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("cls", [keras_inits.GlorotUniform, keras_inits.HeUniform,
                                 keras_inits.LecunUniform])
def test_fan_based_uniform_schemes_are_jax_random_bytes(cls):
    init = cls(seed=42)
    limit = math.sqrt(3.0) * math.sqrt(init.variance((96, 80)))  # the scheme's own formula
    expected = np.asarray(jax.random.uniform(key(42), (96, 80), minval=-limit, maxval=limit))
    assert np.array_equal(portable(init, (96, 80)), expected)


def test_a_seed_generator_draws_from_keras_jax_seed_sequence():
    init = keras_inits.RandomUniform(seed=keras.random.SeedGenerator(5))
    first, second = portable(init, (100,)), portable(init, (100,))
    # Keras' SeedGenerator(5) hands out [5, 0], then [5, 1], ... on every backend.
    for got, counter in ((first, 0), (second, 1)):
        expected = jax.random.uniform(key(5, counter), (100,), minval=-0.05, maxval=0.05)
        assert np.array_equal(got, np.asarray(expected))


@pytest.mark.parametrize("init, kind, params", [
    (keras_inits.RandomNormal(0.0, 0.37, seed=9), "normal", _sampling._normal_params(0.0, 0.37)),
    (keras_inits.TruncatedNormal(0.0, 0.11, seed=9), "truncated",
     (math.erf(-2 / math.sqrt(2)), math.erf(2 / math.sqrt(2)), -2.0, 2.0, 0.11, 0.0)),
], ids=["normal", "truncated"])
def test_normal_family_matches_keras_inits_on_jax(init, kind, params):
    shape = (512, 384)  # 196608 draws, both erfinv branches (|u| close to 1 is w >= 5)
    got = portable(init, shape)
    distance = ulps(got, jax_kernel(kind, shape, 9, params))
    assert distance.max() <= ULPS
    # The rounding differences are rare, not a systematic shift.
    assert (distance == 0).mean() > 0.95


def test_normal_is_keras_on_jax_up_to_rounding():
    # Keras on JAX: jax.random.normal(key) * stddev, `sqrt(2) * erfinv(u)` rounded, then the
    # product; keras_inits' fused kernel rounds `erfinv(u) * (sqrt(2) * stddev)` (XLA folds the
    # constants): half an ulp per rounding apart, so within two more ulps.
    got = portable(keras_inits.RandomNormal(0.0, 0.37, seed=3), (10000,))
    expected = np.asarray(jax.random.normal(key(3), (10000,))) * np.float32(0.37)
    assert ulps(got, expected).max() <= ULPS + 2


def orthogonal_reference(rows, cols, seed):
    """Stewart's Householder construction (as `_sampling.haar_q`) in float64 numpy, from the
    normal draw of Keras on JAX."""
    m, k = max(rows, cols), min(rows, cols)
    a = np.asarray(jax.random.normal(key(seed), (m, k)), dtype=np.float64)
    q = np.eye(m)[:, :k]
    for j in reversed(range(k)):
        x = a[j:, j]
        beta = -np.copysign(np.linalg.norm(x), x[0]) if x[0] != 0 else -np.linalg.norm(x)
        v = np.concatenate([[1.0], x[1:] / (x[0] - beta)])
        tau = (beta - x[0]) / beta
        q[j:, :] -= tau * np.outer(v, v @ q[j:, :])
        q[:, j] *= -np.sign(x[0]) if x[0] != 0 else -1.0
    return q.T if rows < cols else q


@pytest.mark.parametrize("rows, cols", [(64, 64), (40, 96), (200, 30)])
def test_orthogonal_matches_jax_within_float32_rounding(rows, cols):
    got = portable(keras_inits.Orthogonal(seed=4), (rows, cols))
    np.testing.assert_allclose(got, orthogonal_reference(rows, cols, 4), rtol=0, atol=1e-6)


def test_path_seeded_and_portable_together():
    # Under the scope an unseeded initializer filling `d/kernel` draws with the path seed.
    with keras_inits.seeding(0, portable=True):
        model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(
            20, name="d", kernel_initializer=keras_inits.RandomUniform())])
    seed = _seeds.path_seed(0, "d/kernel")
    expected = jax.random.uniform(key(seed), (30, 20), minval=-0.05, maxval=0.05)
    assert np.array_equal(to_numpy(model.get_layer("d").kernel.value), np.asarray(expected))


@pytest.mark.parametrize("cls", [keras_inits.HeNormal, keras_inits.GlorotUniform])
def test_traced_or_threaded_draws_are_the_eager_ones(cls):
    init = cls(seed=8)
    shape = (300, 256)  # 76800 elements: several torch chunks
    eager = portable(init, shape)
    with keras_inits.seeding(0, portable=True):
        if BACKEND == "jax":
            other = jax.jit(lambda: init(shape))()
        elif BACKEND == "tensorflow":
            import tensorflow as tf

            other = tf.function(lambda: init(shape))()
        else:  # the chunks are filled by parallel threads: one thread gives the same values
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                other = init(shape)
            finally:
                torch.set_num_threads(threads)
    assert np.array_equal(np.asarray(keras.ops.convert_to_numpy(other)), eager)


def test_outside_portable_scopes_the_backend_stream_is_unchanged():
    init = keras_inits.RandomUniform(seed=6)
    with keras_inits.seeding(0):
        plain = to_numpy(init((50,)))
    assert np.array_equal(plain, to_numpy(init((50,))))
    assert np.array_equal(plain, to_numpy(_sampling.uniform((50,), "float32", 6, -0.05, 0.05)))


# --------------------------------------------------------------------------------------------
# The zoo in three fresh processes, and sharded builds.


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    processes = {
        backend: subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "portable_zoo.py"), str(folder / backend)],
            env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for backend in BACKENDS
    }
    for backend, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
    return {b: dict(np.load(folder / f"{b}.npz")) for b in BACKENDS}


@pytest.mark.slow
def test_zoo_is_the_same_on_three_backends(zoo):
    from tests.portable_zoo import FAMILIES

    reference = zoo["jax"]
    for backend in ("tensorflow", "torch"):
        weights = zoo[backend]
        assert weights.keys() == reference.keys(), backend
        for path, expected in reference.items():
            got, family = weights[path], FAMILIES.get(path, "constant")
            if family == "orthogonal":
                np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6, err_msg=path)
            elif family == "normal" and backend == "torch":
                assert ulps(got, expected).max() <= _portable.NORMAL_ULPS, path
            else:  # uniform family and constants everywhere, normal family on TF
                assert np.array_equal(got.view(np.uint32), expected.view(np.uint32)), (backend, path)
    assert set(FAMILIES) <= set(reference)


@pytest.fixture(scope="module")
def sharded():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "seeded_sharding.py")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


@pytest.mark.slow
@pytest.mark.parametrize("portable_", [False, True])
def test_path_seeded_sharded_variables_equal_unsharded(sharded, portable_):
    assert sharded["devices"] == 8
    variables = sharded[f"portable={portable_}"]
    for path, entry in variables.items():
        assert entry["max_abs_diff"] == 0.0, path
    # The layout map shards the three kernels; the largest is generated shard by shard.
    assert {p for p, e in variables.items() if e["sharded"]} == {"up/kernel", "down/kernel", "wide/kernel"}
    assert [p for p, e in variables.items() if e["sharded_at_init"]] == ["wide/kernel"]
