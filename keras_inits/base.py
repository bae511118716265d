"""Base classes: the call contract and Keras' seed semantics.

Seeding (the same rules as `keras.initializers`):

- `seed=<int>`: every call returns the same values.
- `seed=None`: a random int is picked once, at construction, so one instance repeats its values;
  `clone()` and `from_config()` pick a new one, because the config stores the seed as given.
- `seed=keras.random.SeedGenerator(...)`: each call advances the generator and returns new values.
"""

from __future__ import annotations

import copy
import functools
import math
import random
import threading
from typing import Any, ClassVar

import keras
from keras import ops

from keras_inits import _checks, _fork, _sampling, _seeds

# Serializes draws from SeedGenerator-seeded initializers (re-entrant: DepthScaled calls the
# initializer it wraps, which holds the same generator).
_DRAW_LOCK = threading.RLock()


class Initializer(keras.initializers.Initializer):
    """Base class of every keras_inits initializer.

    Subclasses implement `_generate(shape, dtype)`; `__call__` first checks the shape and the
    dtype (`keras.backend.floatx()` when None), applies the scheme's own shape rule
    (`_check_shape`), and returns an empty tensor for zero-sized shapes without sampling.
    """

    #: Whether integer and bool dtypes are allowed (only for deterministic schemes).
    integer_dtypes: ClassVar[bool] = False
    #: Shapes the scheme accepts; the contract tests and the CLI use them.
    example_shapes: ClassVar[tuple[tuple[int, ...], ...]] = ((16, 32), (3, 3, 8, 16))
    #: Constructor arguments for an example instance, for schemes with required arguments.
    example_config: ClassVar[dict[str, Any]] = {}

    @classmethod
    def example(cls, **overrides) -> Initializer:
        """An instance built from `example_config` (the contract tests and the CLI use it)."""
        return cls(**{**cls.example_config, **overrides})

    def __call__(self, shape, dtype=None, layout=None):
        """A tensor of `shape` and `dtype` (default `keras.backend.floatx()`).

        `layout` (a `keras.distribution.TensorLayout` or a backend sharding) is what Keras
        passes under `keras.distribution`: the result is then sharded that way, and on JAX
        each device generates only its own shard (see the README's "Scaling out").
        """
        self = _seeds.resolve(self)  # inside `keras_inits.seeding`: the variable's path seed
        shape, dtype = _checked_shape_dtype(type(self), shape, dtype)
        self._check_shape(shape)
        if layout is not None:
            return _sampling.sharded(self, shape, dtype, layout)
        if math.prod(shape) == 0:
            return ops.zeros(shape, dtype=dtype)
        _checks.value_range(self, shape, dtype)  # no argument may overflow the dtype to inf
        if _fork.FORKED:  # a forked child: see `_fork`
            backend = keras.backend.backend()
            if backend in ("tensorflow", "jax"):
                return _fork.draw(self, shape, dtype)
            if backend == "torch":
                with _fork.single_threaded_torch():
                    return self._generate_locked(shape, dtype)
        return self._generate_locked(shape, dtype)

    def _generate_locked(self, shape, dtype):
        if isinstance(getattr(self, "seed", None), keras.random.SeedGenerator):
            # SeedGenerator.next() reads, then assigns, its state: unlocked, two threads can
            # read the same state and draw the same values.
            with _DRAW_LOCK:
                return self._generate(shape, dtype)
        return self._generate(shape, dtype)

    def _stateless(self) -> Initializer:
        """A copy whose draws read no generator state, so that `jax.jit` can trace it (random
        schemes advance their `SeedGenerator` here, once, and keep the seed it gives)."""
        return self

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """Builds an instance from `get_config()`'s output; an unknown or missing key is a
        TypeError that names it and lists the allowed keys."""
        _checks.config_keys(cls, config)
        return cls(**config)

    def _max_abs(self, shape: tuple[int, ...]) -> tuple[float, dict[str, Any]] | None:
        """A bound on |values| for `shape` and the arguments that set it (for the message), or
        None if the values cannot overflow. `__call__` refuses a dtype that cannot hold it."""
        return None

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        """Raises ValueError if the scheme cannot fill `shape`. Default: any shape."""

    def _generate(self, shape: tuple[int, ...], dtype: str):
        raise NotImplementedError(f"{type(self).__name__} must implement `_generate`.")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _checked_shape_dtype(cls, shape, dtype):
    """`_checks.shape` and `_checks.dtype`, memoized for a tuple of plain ints and a string (the
    checks cost more than filling a small tensor). Other arguments are checked every time: a
    cache keyed by equality would take `(4, 2.0)` or `(True, 2)` for a checked `(4, 2)`."""
    if dtype is None:
        dtype = keras.backend.floatx()
    if type(shape) is tuple and type(dtype) is str and all(type(d) is int for d in shape):
        return _checked_plain(cls, shape, dtype)
    return _checked_plain.__wrapped__(cls, shape, dtype)


@functools.lru_cache(maxsize=4096)
def _checked_plain(cls, shape, dtype):
    name = cls.__name__
    return (_checks.shape(name, shape), _checks.dtype(name, dtype, allow_int=cls.integer_dtypes))


class RandomInitializer(Initializer):
    """Base class of the random schemes: holds `seed` with Keras' semantics (see module doc).

    Args:
        seed: None (a random int picked once), an int, or a `keras.random.SeedGenerator`.
    """

    def __init__(self, seed: int | keras.random.SeedGenerator | None = None):
        # A picked seed passed on (EinsumDense clones its initializer with `seed=init.seed`)
        # still counts as unseeded for `keras_inits.seeding`.
        self._auto_seed = isinstance(seed, _seeds.AutoSeed)
        seed = _checks.seed(seed)
        self._init_seed = seed
        # Keras' make_default_seed: an unseeded instance picks its int seed once.
        self.seed = _seeds.AutoSeed(random.randint(1, int(1e9))) if seed is None else seed

    def _stateless(self) -> RandomInitializer:
        if not isinstance(self.seed, keras.random.SeedGenerator):
            return self
        resolved = copy.copy(self)
        resolved.seed = self.seed.next()  # a concrete seed tensor, used as is on JAX
        return resolved

    def get_config(self) -> dict[str, Any]:
        return {"seed": keras.saving.serialize_keras_object(self._init_seed)}
