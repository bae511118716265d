"""Fork safety (issue 11): a child forked after the parent drew must not hang, and gives the
parent's values. TF and JAX children draw through `keras_inits._fork`'s helper process; torch
children draw in place. Every test has a timeout, so a hang fails with a stack instead of
stalling CI: pytest-timeout's marker, and a timeout on every result the parent waits for."""

import multiprocessing as mp

import keras
import numpy as np
import pytest

import keras_inits
from tests import fork_workers
from tests.conftest import BACKEND

# A child on TF or JAX starts one helper process (an import of the backend: seconds on an idle
# machine, more on a busy one), then draws; generous, since a hang is what we catch.
WAIT = 300
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2 * WAIT)]


def _pool_map(method, function, items, processes=1):
    with mp.get_context(method).Pool(processes) as pool:
        return pool.map_async(function, items).get(timeout=WAIT)


def test_every_scheme_in_a_fork_pool_after_the_parent_drew():
    names = keras_inits.names()
    parent = fork_workers.draw_all(names)  # the parent draws first: its runtime is started
    [child] = _pool_map("fork", fork_workers.draw_all, [names])
    assert sorted(child) == sorted(parent)
    for name in names:  # the same seed gives exactly the parent's values
        np.testing.assert_array_equal(child[name], parent[name], err_msg=name)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawn_and_forkserver_children_give_the_parents_values(method):
    names = ["GlorotUniform", "HeNormal", "TruncatedNormal", "Orthogonal", "Identity"]
    parent = fork_workers.draw_all(names)
    [child] = _pool_map(method, fork_workers.draw_all, [names])
    for name in names:
        np.testing.assert_array_equal(child[name], parent[name], err_msg=name)


def test_two_children_draw_concurrently():
    names = ["HeUniform", "Orthogonal"]
    parent = fork_workers.draw_all(names)
    for child in _pool_map("fork", fork_workers.draw_all, [names] * 2, processes=2):
        for name in names:
            np.testing.assert_array_equal(child[name], parent[name], err_msg=name)


def test_fork_while_another_thread_holds_the_draw_lock():
    # A fork taken while a draw holds the lock: the child inherits the lock held by a thread
    # it does not have, unless the lock is replaced in the child.
    # The child's SeedGenerator draws are served by the helper: two calls, two new values,
    # the same sequence as a fresh generator gives in the parent.
    parent = fork_workers.draw_while_lock_was_held(0)
    holder = fork_workers.hold_draw_lock(seconds=WAIT / 10)
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        child = pool.apply_async(fork_workers.draw_while_lock_was_held, (0,)).get(WAIT)
    holder.join()
    assert not np.array_equal(child[0], child[1])
    for got, want in zip(child, parent, strict=True):
        np.testing.assert_array_equal(got, want)


def _save_model(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, kernel_initializer=keras_inits.KaimingUniform(seed=1))(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, kernel_initializer=keras_inits.Orthogonal(seed=2),
                           bias_initializer=keras_inits.TruncatedNormal(seed=3))(x)
    model = keras.Model(inputs, x)
    path = str(tmp_path / "model.keras")
    model.save(path)
    return path, [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]


# JAX cannot load a model in a forked child at all: Keras' own `assign` converts the stored
# weights with `jnp.asarray`, which compiles, and a compile never returns in a child forked after
# JAX started (with keras_inits or without it). The README says so; spawn and forkserver work.
LOAD_METHODS = ["spawn", "forkserver"] + ([] if BACKEND == "jax" else ["fork"])


@pytest.mark.parametrize("method", LOAD_METHODS)
def test_keras_file_with_keras_inits_loads_in_a_pool(tmp_path, method):
    path, weights = _save_model(tmp_path)
    keras.saving.load_model(path)  # the parent loads it first
    [loaded] = _pool_map(method, fork_workers.load_weights, [path])
    for got, want in zip(loaded, weights, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("method", LOAD_METHODS)
def test_override_keras_names_in_a_pool(method):
    classes, weights = fork_workers.build_under_override(10)
    assert all(c.startswith("keras_inits.") for c in classes), classes
    [(child_classes, child_weights)] = _pool_map(method, fork_workers.build_under_override, [10])
    assert child_classes == classes
    for got, want in zip(child_weights, weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_traced_draw_in_a_forked_child_raises_instead_of_hanging():
    fork_workers.draw_all(["HeNormal"])
    [message] = _pool_map("fork", fork_workers.traced_draw, [0])
    if BACKEND == "torch":  # nothing to trace; the draw works
        assert message == "ok"
    else:
        assert "forked" in message and "'spawn'" in message, message


def test_only_forked_children_are_flagged():
    from keras_inits import _fork

    assert _fork.FORKED is False
    assert _pool_map("fork", fork_workers.forked_flag, [0]) == [True]
    assert _pool_map("spawn", fork_workers.forked_flag, [0]) == [False]
