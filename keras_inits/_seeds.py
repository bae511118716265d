"""Seeds derived from a base seed and a variable's path, and the `seeding` scope that uses them.

`path_seed(seed, path)` is the one rule by which model-level tools (`apply`, `reinitialize`,
the `seeding` scope) give each variable its own stream: a function of the base seed and the
variable's path only, so it does not depend on the order in which variables are created or
visited, nor on the process, the platform or the backend.

Inside `seeding(seed)`, an unseeded keras_inits initializer that fills a variable draws with
`path_seed(seed, seeding_path)` instead of its own seed. Two pieces make that work:

- While Keras fills a variable from its initializer (`Variable._initialize_with_initializer`,
  eager or deferred past a `StatelessScope`), a thread-local records the variable's seeding
  path and the scope that governs it. The hook is installed on Keras' `Variable` class the first
  time a scope is entered; outside scopes it costs one thread-local read per variable.
- `Initializer.__call__` asks `resolve` for the initializer to draw with: itself, or a copy with
  the derived seed.

The seeding path is the variable's Keras path without the names of models:
`sequential/dense/kernel` (Sequential), `dense/kernel` (Functional) and `my_model/dense/kernel`
(subclassed) are all `dense/kernel`, so the three versions of a model get the same weights.
"""

from __future__ import annotations

import copy
import hashlib
import numbers
import threading
from typing import Any

import numpy as np

#: Derived seeds lie in [1, 2**31 - 1]: every backend, and every supported Keras, takes them.
SEED_BITS = 31
#: Base seeds: what every backend accepts as an int seed (JAX refuses anything beyond uint32).
SEED_MAX = 2**32 - 1


def path_seed(seed: int, path: str) -> int:
    """The seed of the variable at `path` under the base seed `seed`.

    `int.from_bytes(blake2b(f"{seed}/{path}", digest_size=8)) mod (2**31 - 1) + 1`: a stable hash
    (Python's `hash` is salted per process), so the same pair gives the same seed everywhere.
    """
    digest = hashlib.blake2b(f"{int(seed)}/{path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % ((1 << SEED_BITS) - 1) + 1


def draw_seed(seed: int, path: str, index: int) -> int:
    """The seed of the `index`-th unseeded draw while one variable is filled: `path_seed(seed,
    path)` for the first, `path_seed(seed, f"{path}#{index}")` for further ones (a layer that
    builds a variable from several calls, such as LSTM's `unit_forget_bias`)."""
    return path_seed(seed, path if index == 0 else f"{path}#{index}")


def base_seed(seed: Any) -> int:
    """`seed` checked as a base seed: an int in [0, 2**32 - 1] (not a bool)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(
            "Argument `seed` must be an int in [0, 2**32 - 1]. "
            f"Received: seed={seed!r} of type {type(seed).__name__}"
        )
    value = int(seed)
    if not 0 <= value <= SEED_MAX:
        raise ValueError(
            f"Argument `seed` must be an int in [0, {SEED_MAX}] (2**32 - 1: the range every "
            f"backend accepts). Received: seed={seed!r}"
        )
    return value


def seeding_path(path: str, model_names: set[str] | frozenset[str]) -> str:
    """`path` without the components in `model_names` (the variable's name is always kept)."""
    *parents, name = path.split("/")
    return "/".join([p for p in parents if p not in model_names] + [name])


def layers_seeding_path(path: str, layers) -> str:
    """`path` without the names of the models among `layers` (those containing the variable):
    the rule `seeding` applies at creation, for model-level tools that seed existing variables."""
    import keras

    return seeding_path(path, frozenset(ly.name for ly in layers if isinstance(ly, keras.Model)))


def model_seeding_paths(model) -> dict[int, str]:
    """`{id(variable): seeding path}` for every variable of `model` (a layer or a model)."""
    layers = model._flatten_layers(include_self=True)
    return {id(v): layers_seeding_path(v.path, layers) for v in model.variables}


class seeding:
    """Path-derived (and optionally backend-portable) seeds for every unseeded keras_inits draw.

    Inside the scope, every keras_inits initializer created without a seed (`seed=None`: Keras'
    layer defaults under `override_keras_names()`, or `HeNormal()`) fills a variable with the
    seed `path_seed(seed, p)`, where `p` is the variable's path without model names
    (`dense/kernel`). Its values therefore depend on the base seed, the path and the shape only:
    not on what else the model contains, nor on the order in which variables are created.
    Explicit seeds (an int or a `keras.random.SeedGenerator`) keep their meaning.

    With `portable=True`, every keras_inits draw in the scope (seeded explicitly or by path)
    comes from jax.random's threefry stream on Keras' JAX seed, so TensorFlow, PyTorch and JAX
    give the weights Keras on JAX gives (see the README's "Reproducible initialization").

    A scope applies to the thread that entered it; the innermost scope wins. `set_seeding`
    sets one for every thread that has none of its own.

    Args:
        seed: the base seed, an int in [0, 2**32 - 1].
        portable: whether draws use the portable stream (default False).

    Example:

    >>> with keras_inits.seeding(0):
    ...     model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(
    ...         4, name="head", kernel_initializer=keras_inits.HeNormal())])
    """

    def __init__(self, seed: int, *, portable: bool = False):
        self.seed = base_seed(seed)
        if not isinstance(portable, (bool, np.bool_)):
            raise TypeError(
                "Argument `portable` must be a bool (True or False). "
                f"Received: portable={portable!r}"
            )
        self.portable = bool(portable)

    def __enter__(self) -> seeding:
        _install()
        _stack().append(self)
        return self

    def __exit__(self, *exc) -> None:
        stack = _stack()
        if self in stack:  # the innermost occurrence: scopes nest
            del stack[len(stack) - 1 - stack[::-1].index(self)]

    def __repr__(self) -> str:
        return f"seeding({self.seed!r}, portable={self.portable!r})"


_LOCAL = threading.local()  # .stack: the thread's scopes; .draw: the variable being filled
_GLOBAL: seeding | None = None


def set_seeding(seed: int | None, *, portable: bool = False) -> None:
    """Sets (or, with `seed=None`, clears) the seeding every thread without a scope uses.

    Args:
        seed: the base seed, an int in [0, 2**32 - 1], or None to clear.
        portable: whether draws use the portable stream (default False).

    Example:

    >>> keras_inits.set_seeding(0, portable=True)
    >>> keras_inits.set_seeding(None)
    """
    global _GLOBAL
    if seed is None:
        if not isinstance(portable, (bool, np.bool_)):
            seeding(0, portable=portable)  # the same check and message
        _GLOBAL = None
        return
    scope = seeding(seed, portable=portable)
    _install()
    _GLOBAL = scope


def _stack() -> list:
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    return stack


def active() -> seeding | None:
    """The scope governing this thread now: the variable being filled's, else the innermost
    entered one, else the global one."""
    draw = getattr(_LOCAL, "draw", None)
    if draw is not None:
        return draw.scope
    stack = getattr(_LOCAL, "stack", None)
    return stack[-1] if stack else _GLOBAL


def portable() -> bool:
    """Whether draws on this thread use the portable stream now."""
    scope = active()
    return scope is not None and scope.portable


class _Draw:
    """The variable being filled: its scope, its seeding path, and how many draws it made."""

    __slots__ = ("scope", "path", "count")

    def __init__(self, scope: seeding, path: str):
        self.scope, self.path, self.count = scope, path, 0


def resolve(initializer):
    """The initializer to draw with: a copy seeded from the variable's path if a variable is
    being filled under a scope and `initializer` has no explicit seed, else `initializer`."""
    draw = getattr(_LOCAL, "draw", None)
    if draw is None or not _unseeded(initializer):
        return initializer
    seed = draw_seed(draw.scope.seed, draw.path, draw.count)
    draw.count += 1
    return _reseeded(initializer, seed)


class AutoSeed(int):
    """The int seed an unseeded initializer picks at construction (Keras' rule), marked so
    that a copy made with it (`EinsumDense` passes `seed=init.seed`) still counts as unseeded."""


def _unseeded(initializer) -> bool:
    return hasattr(initializer, "seed") and (
        getattr(initializer, "_init_seed", 0) is None or getattr(initializer, "_auto_seed", False)
    )


def _reseeded(initializer, seed: int):
    """A copy drawing with `seed`; a wrapped unseeded initializer (DepthScaled's) takes it too."""
    resolved = copy.copy(initializer)
    resolved.seed = resolved._init_seed = seed
    resolved._auto_seed = False
    inner = getattr(resolved, "initializer", None)
    if inner is not None and _unseeded(inner):
        resolved.initializer = _reseeded(inner, seed)
    return resolved


# --------------------------------------------------------------------------------------------
# The hook on Keras' variables.

_INSTALL_LOCK = threading.Lock()
_INSTALLED = False


def _install() -> None:
    """Wraps `keras.Variable._initialize_with_initializer` (the one place Keras calls an
    initializer for a variable, eagerly or deferred) and `register_uninitialized_variable`
    (where a variable created in a `StatelessScope` is deferred), once per process."""
    global _INSTALLED
    if _INSTALLED:
        return
    with _INSTALL_LOCK:
        if _INSTALLED:
            return
        import keras
        from keras.src.backend.common import variables

        original = keras.Variable._initialize_with_initializer
        register = variables.register_uninitialized_variable

        def _initialize_with_initializer(variable, initializer):
            draw = variable.__dict__.pop("_keras_inits_draw", None)
            if draw is None:
                scope = active()
                if scope is None:
                    return original(variable, initializer)
                draw = _Draw(scope, _creation_path(variable))
            previous = getattr(_LOCAL, "draw", None)
            _LOCAL.draw = draw
            try:
                return original(variable, initializer)
            finally:
                _LOCAL.draw = previous

        def register_uninitialized_variable(variable):
            scope = active()
            if scope is not None:  # the scope and path of creation, for the deferred fill
                variable.__dict__["_keras_inits_draw"] = _Draw(scope, _creation_path(variable))
            return register(variable)

        keras.Variable._initialize_with_initializer = _initialize_with_initializer
        variables.register_uninitialized_variable = register_uninitialized_variable
        _INSTALLED = True


def _creation_path(variable) -> str:
    """The seeding path of a variable being created: its path without the names of the models
    whose name scopes are open."""
    import keras
    from keras.src.backend.common import global_state

    stack = global_state.get_global_attribute("name_scope_stack") or ()
    names = frozenset(e.name for e in stack if isinstance(e.caller, keras.Model))
    return seeding_path(variable.path, names)
