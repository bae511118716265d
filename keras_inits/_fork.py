"""Draws in a process forked after TensorFlow or JAX started: a fresh runtime in a helper.

`fork()` copies a process's memory but only the thread that called it. TensorFlow and JAX run
their kernels and their compiler on thread pools that the parent started, so a forked child
that computes anything beyond a trivial op waits forever on threads it does not have:

- TensorFlow: a traced function (`tf.function`), or any eager op large enough to be split
  across the intra-op pool (a 1024x1024 `erfinv` already is). Keras' own initializers hang there
  too, for all but tiny shapes. Copying a host array into a tensor still works.
- JAX: any compile (a new shape), and executing anything but tiny programs; even
  `jnp.asarray(numpy_array)` compiles. `jax.device_put` of a host array still works.
- torch: an op that enters an OpenMP parallel region (a matmul, a QR) waits forever on the
  parent's OpenMP pool (GNU libgomp is not fork-safe; torch's DataLoader sets one thread in its
  workers for this reason). keras_inits' own chunk pool is per process (`_sampling._torch_pool`).

So a torch child draws in place with torch's intra-op threads set to one for the draw (then
restored: `single_threaded_torch`). In a child forked on TensorFlow or JAX,
`Initializer.__call__` hands the draw to a helper process started with `subprocess` (a fresh
interpreter, so its runtime has its threads; a `multiprocessing` child could not start one
from a daemonic pool worker). The helper imports
the same backend and the same `keras_inits` (the child's `sys.path`), runs the very same
initializer on the same shape, dtype and resolved seed, and sends back the array, which the
child turns into a tensor by a plain copy. The values are therefore exactly the parent's.

- The helper starts on the child's first draw (an import of the backend: seconds) and serves
  every later draw of that child; it exits with the child (its stdin closes).
- A draw the child makes while tracing (`tf.function`, `jax.jit`) cannot be served: the traced
  program could not run in the child anyway. It raises a RuntimeError that says so and names
  the fix (the `spawn` or `forkserver` start methods), instead of hanging.
- Locks: the draw lock of `base` and this module's own lock are replaced in the child, so a
  fork taken while another thread held them cannot leave the child waiting on them.

The parent pays one flag read per draw (`FORKED`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import Any

import numpy as np

#: True in a process forked (directly or not) from one that imported keras_inits.
FORKED = False

_LOCK = threading.Lock()
_HELPER: subprocess.Popen | None = None


def _after_fork_in_child() -> None:
    global FORKED, _LOCK, _HELPER
    FORKED = True
    _LOCK = threading.Lock()
    _HELPER = None  # the parent's helper (if any) belongs to the parent
    from keras_inits import base

    base._DRAW_LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def single_threaded_torch():
    """Inside: torch runs its ops on the calling thread only (no OpenMP region to hang in)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def draw(initializer, shape: tuple[int, ...], dtype: str):
    """`initializer(shape, dtype)` computed by the helper, as a tensor of this process."""
    import keras

    if _tracing(keras.backend.backend()):
        raise RuntimeError(
            f"{type(initializer).__name__} was called while tracing (tf.function / jax.jit) in "
            f"a process forked after {keras.backend.backend()} started: its runtime's threads "
            "did not survive the fork, so no traced program can run here. Start the worker "
            "with multiprocessing's 'spawn' or 'forkserver' context, or draw eagerly."
        )
    request = pickle.dumps((keras.backend.backend(), _portable(initializer), shape, dtype))
    with _LOCK:
        helper = _helper(keras.backend.backend())
        try:
            _send(helper.stdin, request)
            status, payload = pickle.loads(_receive(helper.stdout))
        except (OSError, EOFError, struct.error) as error:
            raise RuntimeError(
                f"keras_inits' draw helper (pid {helper.pid}) stopped: {error!r}. Its stderr "
                "went to this process's stderr."
            ) from error
    if status == "error":
        kind, message = payload
        raise (kind if kind in (ValueError, TypeError) else RuntimeError)(message)
    return _to_tensor(payload, keras.backend.backend())


def _tracing(backend: str) -> bool:
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.executing_eagerly()
    from keras_inits import _sampling

    return not _sampling.jax_eager_cpu()


def _portable(initializer):
    """A copy of `initializer` that pickles: a `SeedGenerator` seed is resolved to the seed it
    gives now (`_stateless`, advancing the generator as a draw would) and sent as a numpy array;
    initializers it wraps (DepthScaled) are made portable the same way."""
    import keras

    resolved = copy.copy(
        initializer._stateless() if hasattr(initializer, "_stateless") else initializer
    )
    for key, value in vars(resolved).items():
        if isinstance(value, keras.random.SeedGenerator):
            setattr(resolved, key, None)  # the generator stays here; its draw is resolved
        elif isinstance(value, keras.initializers.Initializer):
            setattr(resolved, key, _portable(value))
        elif key == "seed" and value is not None and not isinstance(value, int):
            setattr(resolved, key, np.asarray(keras.ops.convert_to_numpy(value)))
    return resolved


def _to_tensor(array: np.ndarray, backend: str):
    if backend == "jax":
        import jax

        return jax.device_put(array)  # a copy; no compile (jnp.asarray would compile)
    import tensorflow as tf

    return tf.constant(array)


def _helper(backend: str) -> subprocess.Popen:
    global _HELPER
    if _HELPER is None or _HELPER.poll() is not None:
        env = dict(
            os.environ, KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)
        )
        _HELPER = subprocess.Popen(
            [sys.executable, "-m", "keras_inits._fork"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
    return _HELPER


def _send(stream, data: bytes) -> None:
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream) -> bytes:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("the helper closed its output")
    (size,) = struct.unpack("<Q", header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the helper closed its output")
    return data


def _restore_seeds(initializer) -> None:
    """Undoes `_portable`'s numpy seeds: each becomes a generator that gives exactly that seed,
    so the draw takes the same path as the child's own draw from its generator would."""
    import keras

    class Drawn(keras.random.SeedGenerator):
        def __init__(self, value):
            super().__init__(0)
            self.drawn = keras.ops.convert_to_tensor(value)

        def next(self, ordered=True):
            return self.drawn

    for key, value in vars(initializer).items():
        if key == "seed" and isinstance(value, np.ndarray):
            setattr(initializer, key, Drawn(value))
        elif isinstance(value, keras.initializers.Initializer):
            _restore_seeds(value)


def _serve() -> None:
    """The helper's loop: requests on stdin, arrays on stdout, until stdin closes."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the replies
    import keras

    import keras_inits  # noqa: F401  (registers the schemes)

    while True:
        try:
            data = _receive(requests)
        except EOFError:
            return
        backend, initializer, shape, dtype = pickle.loads(data)
        try:
            if backend != keras.backend.backend():
                raise RuntimeError(f"helper runs {keras.backend.backend()}, asked {backend}")
            _restore_seeds(initializer)
            reply: tuple[str, Any] = (
                "ok",
                np.asarray(keras.ops.convert_to_numpy(initializer(shape, dtype))),
            )
        except Exception as error:  # sent back and raised in the child
            reply = ("error", (type(error), f"{type(error).__name__}: {error}"))
        _send(replies, pickle.dumps(reply))


if __name__ == "__main__":
    _serve()
