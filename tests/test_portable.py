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


@pytest.fixture(params=["kernel", "eager"] if BACKEND == "torch" else ["native"])
def torch_path(request, monkeypatch):
    """On torch, each value test runs on the C kernel and on the eager fallback."""
    if request.param == "eager":
        monkeypatch.setattr(_portable, "_c_kernel", lambda: None)
    elif request.param == "kernel":
        if _portable._c_kernel() is None and not _has_compiler():
            pytest.skip(f"no C compiler here: {_portable.kernel_status()}")
        assert _portable._c_kernel() is not None, _portable.kernel_status()
    return request.param


def _has_compiler() -> bool:
    try:
        _portable._compiler()
    except RuntimeError:
        return False
    return True


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
def test_uniform_family_is_jax_random_bytes(seed, shape, torch_path):
    got = portable(keras_inits.RandomUniform(-0.3, 0.7, seed=seed), shape)
    expected = np.asarray(jax.random.uniform(key(seed), shape, minval=-0.3, maxval=0.7))
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize(
    "cls", [keras_inits.GlorotUniform, keras_inits.HeUniform, keras_inits.LecunUniform]
)
def test_fan_based_uniform_schemes_are_jax_random_bytes(cls, torch_path):
    init = cls(seed=42)
    limit = math.sqrt(3.0) * math.sqrt(init.variance((96, 80)))  # the scheme's own formula
    expected = np.asarray(jax.random.uniform(key(42), (96, 80), minval=-limit, maxval=limit))
    assert np.array_equal(portable(init, (96, 80)), expected)


def test_a_seed_generator_draws_from_keras_jax_seed_sequence(torch_path):
    init = keras_inits.RandomUniform(seed=keras.random.SeedGenerator(5))
    first, second = portable(init, (100,)), portable(init, (100,))
    # Keras' SeedGenerator(5) hands out [5, 0], then [5, 1], ... on every backend.
    for got, counter in ((first, 0), (second, 1)):
        expected = jax.random.uniform(key(5, counter), (100,), minval=-0.05, maxval=0.05)
        assert np.array_equal(got, np.asarray(expected))


@pytest.mark.parametrize(
    "init, kind, params",
    [
        (
            keras_inits.RandomNormal(0.0, 0.37, seed=9),
            "normal",
            _sampling._normal_params(0.0, 0.37),
        ),
        (
            keras_inits.TruncatedNormal(0.0, 0.11, seed=9),
            "truncated",
            (math.erf(-2 / math.sqrt(2)), math.erf(2 / math.sqrt(2)), -2.0, 2.0, 0.11, 0.0),
        ),
    ],
    ids=["normal", "truncated"],
)
def test_normal_family_matches_keras_inits_on_jax(init, kind, params, torch_path):
    shape = (512, 384)  # 196608 draws, both erfinv branches (|u| close to 1 is w >= 5)
    got = portable(init, shape)
    distance = ulps(got, jax_kernel(kind, shape, 9, params))
    assert distance.max() <= ULPS
    # The rounding differences are rare, not a systematic shift.
    assert (distance == 0).mean() > 0.95


def test_normal_is_keras_on_jax_up_to_rounding(torch_path):
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
def test_orthogonal_matches_jax_within_float32_rounding(rows, cols, torch_path):
    got = portable(keras_inits.Orthogonal(seed=4), (rows, cols))
    np.testing.assert_allclose(got, orthogonal_reference(rows, cols, 4), rtol=0, atol=1e-6)


def test_path_seeded_and_portable_together(torch_path):
    # Under the scope an unseeded initializer filling `d/kernel` draws with the path seed.
    with keras_inits.seeding(0, portable=True):
        model = keras.Sequential(
            [
                keras.Input((30,)),
                keras.layers.Dense(20, name="d", kernel_initializer=keras_inits.RandomUniform()),
            ]
        )
    seed = _seeds.path_seed(0, "d/kernel")
    expected = jax.random.uniform(key(seed), (30, 20), minval=-0.05, maxval=0.05)
    assert np.array_equal(to_numpy(model.get_layer("d").kernel.value), np.asarray(expected))


@pytest.mark.parametrize("cls", [keras_inits.HeNormal, keras_inits.GlorotUniform])
def test_traced_or_threaded_draws_are_the_eager_ones(cls, torch_path):
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


@pytest.mark.skipif(BACKEND != "torch", reason="the C kernel and its fallback are torch's")
class TestTorchKernel:
    def kernel(self):
        kernel = _portable._c_kernel()
        if kernel is None and not _has_compiler():
            pytest.skip(f"no C compiler here: {_portable.kernel_status()}")
        assert kernel is not None, _portable.kernel_status()
        return kernel

    @pytest.mark.parametrize(
        "kind, params",
        [
            ("uniform", (-0.3, 0.7)),
            ("normal", _sampling._normal_params(0.0, 0.37)),  # mean 0: ulps of the result
            (
                "truncated",
                (math.erf(-1.5 / math.sqrt(2)), math.erf(2 / math.sqrt(2)), -1.5, 2.0, 0.11, 0.0),
            ),
        ],
    )
    def test_counters_with_a_high_word(self, kind, params):
        # Elements past 2**32 (the high counter word): the kernel against jax's own bits.
        start, size, seed = (1 << 32) + (1 << 32) - 1000, 1000, 77
        out = np.empty(size, np.float32)
        self.kernel()(
            _portable._KIND[kind],
            out.ctypes.data,
            size,
            start >> 32,
            start & 0xFFFFFFFF,
            seed,
            0,
            _portable._c_params(kind, params).ctypes.data,
        )

        kernel = _sampling._block_kernel(kind, "float32", size)  # keras_inits on JAX
        words = np.array([start >> 32, start & 0xFFFFFFFF], np.uint32)
        expected = np.asarray(
            kernel(np.array([seed, 0], np.uint32), words, np.array(params, np.float32))
        )
        assert ulps(out, expected).max() <= (0 if kind == "uniform" else _portable.NORMAL_ULPS)

    def test_kernel_and_fallback_agree(self, monkeypatch):
        self.kernel()
        shape = (3, 5000)
        inits = (
            keras_inits.GlorotUniform(seed=3),
            keras_inits.HeNormal(seed=3),
            keras_inits.RandomNormal(0.0, 2.0, seed=3),
        )
        fast = [portable(init, shape) for init in inits]
        monkeypatch.setattr(_portable, "_c_kernel", lambda: None)
        slow = [portable(init, shape) for init in inits]
        assert np.array_equal(fast[0], slow[0])  # the uniform family: the same bytes
        for a, b in zip(fast[1:], slow[1:]):
            assert ulps(a, b).max() <= 2 * _portable.NORMAL_ULPS

    def test_a_failed_compile_falls_back_to_the_eager_path(self, monkeypatch, tmp_path):
        expected = portable(keras_inits.RandomUniform(seed=1), (100,))
        monkeypatch.setenv("KERAS_INITS_CACHE", str(tmp_path))
        monkeypatch.setenv("CC", "false")  # a "compiler" that fails
        _portable._c_kernel.cache_clear()
        try:
            assert _portable._c_kernel() is None
            assert _portable.kernel_status().startswith("eager fallback: RuntimeError: false")
            assert np.array_equal(portable(keras_inits.RandomUniform(seed=1), (100,)), expected)
            monkeypatch.setenv("KERAS_INITS_PORTABLE_KERNEL", "0")
            monkeypatch.delenv("CC")
            _portable._c_kernel.cache_clear()
            assert _portable._c_kernel() is None
            assert "KERAS_INITS_PORTABLE_KERNEL=0" in _portable.kernel_status()
        finally:
            _portable._c_kernel.cache_clear()
        assert not list(tmp_path.glob("*.so"))

    def test_the_compiled_kernel_is_cached_and_reused(self, monkeypatch, tmp_path):
        if not _has_compiler():
            pytest.skip("no C compiler here")
        monkeypatch.setenv("KERAS_INITS_CACHE", str(tmp_path / "cache"))
        path = _portable._compiled_kernel()
        assert os.path.dirname(path) == str(tmp_path / "cache")
        stamp = os.stat(path).st_mtime_ns
        assert _portable._compiled_kernel() == path  # a second process: no compile
        assert os.stat(path).st_mtime_ns == stamp
        assert os.listdir(tmp_path / "cache") == [os.path.basename(path)]  # no scratch left

    @pytest.mark.timeout(300)
    def test_a_forked_child_draws_the_parents_values(self):
        import multiprocessing as mp

        self.kernel()
        parent = _fork_draw(None)
        with mp.get_context("fork").Pool(1) as pool:
            child = pool.map_async(_fork_draw, [None]).get(timeout=240)[0]
        for a, b in zip(parent, child):
            assert np.array_equal(a, b)


def _fork_draw(_):
    shape = (1024, 600)  # several kernel chunks
    return [
        portable(keras_inits.HeNormal(seed=5), shape),
        portable(keras_inits.GlorotUniform(seed=5), shape),
    ]


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
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for backend in BACKENDS
    }
    for process in processes.values():
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
                same = np.array_equal(got.view(np.uint32), expected.view(np.uint32))
                assert same, (backend, path)
    assert set(FAMILIES) <= set(reference)


@pytest.fixture(scope="module")
def sharded():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "seeded_sharding.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT ") :])


@pytest.mark.slow
@pytest.mark.parametrize("portable_", [False, True])
def test_path_seeded_sharded_variables_equal_unsharded(sharded, portable_):
    assert sharded["devices"] == 8
    variables = sharded[f"portable={portable_}"]
    for path, entry in variables.items():
        assert entry["max_abs_diff"] == 0.0, path
    # The layout map shards the three kernels; the largest is generated shard by shard.
    sharded_paths = {p for p, e in variables.items() if e["sharded"]}
    assert sharded_paths == {"up/kernel", "down/kernel", "wide/kernel"}
    assert [p for p, e in variables.items() if e["sharded_at_init"]] == ["wide/kernel"]
