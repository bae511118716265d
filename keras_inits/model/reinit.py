"""Re-initialization of built models: every weight drawn again as its layer drew it at build.

A Keras variable forgets its initializer once it holds a value (`Variable._initializer` is
None after build, keras 3.15). So importing keras_inits records it: `keras.Variable.__init__`
is wrapped to keep the initializer each variable is created with (whether from
`Layer.add_weight(initializer=...)` in a built-in or custom layer, or from a direct
`keras.Variable(initializer, shape)`). `initializer_of(layer, variable)` returns it.

Consequences:

- Every layer that creates its weights with an initializer is covered, whatever its type:
  Dense, convolutions, RNN cells (including LSTM's `unit_forget_bias`, whose initializer is a
  function of Keras'), attention, normalization layers and their moving statistics, wrappers,
  nested models, custom layers. Models loaded from `.keras` files are rebuilt from their
  configs, so their initializers are recorded too.
- A variable created before `import keras_inits`, or from a value rather than an initializer
  (e.g. `TorchModuleWrapper`'s parameters), has no recorded initializer: `reinitialize`
  refuses it (ValueError naming it) rather than guess, unless `only`/`skip` leave it out.
- The record is a reference to the initializer object, never a copy of the values.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

import keras
from keras.src.backend.common import KerasVariable

from keras_inits.model import policy as _policy

#: The attribute holding a variable's recorded initializer.
RECORD = _policy.RECORD


def _install_recorder() -> None:
    """Wraps `KerasVariable.__init__` (every backend's Variable) once, to record initializers."""
    original = KerasVariable.__init__
    if getattr(original, "_keras_inits_records", False):
        return

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        initializer = args[0] if args else kwargs.get("initializer")
        if isinstance(initializer, str):  # resolved as Keras does (a deferred one is kept)
            initializer = self._initializer or keras.initializers.get(initializer)
        if callable(initializer):
            setattr(self, RECORD, initializer)

    __init__._keras_inits_records = True  # type: ignore[attr-defined]  # a function attribute
    KerasVariable.__init__ = __init__


_install_recorder()


def initializer_of(layer: keras.layers.Layer, variable) -> Any:
    """The initializer `variable` of `layer` was created with, or None if it is unknown.

    Args:
        layer: the layer that owns the variable (kept for context-aware callers; the record is
            on the variable).
        variable: a `keras.Variable`.

    Returns:
        The initializer object or function the variable was created with (the same object the
        layer used), or None for a variable created before `import keras_inits` or from a value.

    Example:

    >>> layer = keras.layers.Dense(4, kernel_initializer=keras_inits.HeNormal(seed=0))
    >>> layer.build((None, 8))
    >>> keras_inits.model.reinit.initializer_of(layer, layer.kernel)
    HeNormal(seed=0, input_axes=None, output_axes=None)
    """
    return getattr(variable, RECORD, None) or getattr(variable, "_initializer", None)


def _has_fixed_seed(initializer) -> bool:
    """Whether a seed in the initializer's config (nested configs included) is an int."""

    def search(config) -> bool:
        if isinstance(config, dict):
            seed = config.get("seed")
            if isinstance(seed, int) and not isinstance(seed, bool):
                return True
            return any(search(value) for value in config.values())
        return False

    get_config = getattr(initializer, "get_config", None)
    return callable(get_config) and search(get_config())


def _declared(step: _policy.Step, recorded):
    """The initializer whose seed says whether `recorded` reproduces a fresh build.

    Usually `recorded` itself. Some layers draw from a copy of their `<name>_initializer` made
    at build time with the int seed the original picked (EinsumDense gives a VarianceScaling
    its einsum axes this way, also inside MultiHeadAttention): the layer's own attribute,
    whose config keeps `seed=None`, then tells that the weight is unseeded.
    """
    declared = getattr(step.layers[-1], f"{step.variable.name}_initializer", None)
    return declared if type(declared) is type(recorded) else recorded


def _selector(name: str, value) -> list | None:
    """`only`/`skip` as a list of compiled regexes and layer classes."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) or inspect.isclass(value) else value
    allowed = "a regex on variable paths, a layer class, or a list of these"
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise TypeError(f"Argument `{name}` must be None, {allowed}. Received: {name}={value!r}")
    out: list[re.Pattern[str] | type] = []
    for item in items:
        if isinstance(item, str):
            try:
                out.append(re.compile(item))
            except re.error as e:
                raise ValueError(
                    f"Argument `{name}` holds {item!r}, which is not a valid regular expression "
                    f"({e}). Received: {name}={value!r}"
                ) from None
        elif inspect.isclass(item) and issubclass(item, keras.layers.Layer):
            out.append(item)
        else:
            raise TypeError(
                f"Argument `{name}` must be None, {allowed}. Received: {name}={value!r}"
            )
    return out


def _selects(selector: list, step: _policy.Step) -> bool:
    for item in selector:
        if isinstance(item, re.Pattern):
            if item.search(step.entry.path):
                return True
        elif any(isinstance(layer, item) for layer in step.layers):
            return True
    return False


def reinitialize(
    model_or_layer: keras.layers.Layer,
    *,
    seed: int | None = None,
    only: str | type | list | tuple | None = None,
    skip: str | type | list | tuple | None = None,
) -> _policy.InitReport:
    """Draws every weight again as its layer drew it when it was built, in place.

    Each weight is drawn from the initializer it was created with (see the module docstring
    for how it is known): the layer's own `kernel_initializer`, `bias_initializer`,
    `gamma_initializer`, `moving_mean_initializer`, ..., LSTM's forget-gate bias, a custom
    layer's `add_weight(initializer=...)`. Frozen layers are re-initialized too (every weight is
    reset; use `skip` to keep some); non-float variables (seed states, counters) and quantized
    layers are left alone and reported as skipped.

    Seeds: an initializer created with an int seed (`HeNormal(seed=1)`, also nested, as in
    `DepthScaled`) draws exactly what it drew at build time, so the values equal those of a
    freshly built layer with the same config. One without (`seed=None`, a `SeedGenerator`;
    Keras' unseeded instances would repeat their values) draws new values from the seed
    `path_seed(seed, p)`, `p` being `variable.path` without model names (with `seed=None`
    inside `keras_inits.seeding`, the scope's seed: the values of a build in that scope).
    Initializers without a `seed` (zeros, functions) are
    called as they are. The `bind(layer, variable)` protocol and the all-or-nothing guarantee
    are those of `apply` (`keras_inits.model.policy`).

    Args:
        model_or_layer: a built `keras.Model` or `keras.layers.Layer`.
        seed: base seed, an int in [0, 2**32 - 1], for the weights whose initializer has no int
            seed of its own; None (default) draws one at random per call.
        only: re-initialize only these variables: a regex (`re.search` on `variable.path`), a
            layer class (variables inside a layer of that class, subclasses included), or a
            list of these. None (default): all.
        skip: leave these variables alone (same forms as `only`; applied after it).

    Returns:
        An `InitReport`: per variable, its path, shape, dtype, the initializer drawn from, and
        its status ("assigned", or "skipped" with the reason).

    Raises:
        ValueError: a selected float variable has no recorded initializer (created before
            `import keras_inits`, or from a value); nothing is assigned.

    Example:

    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="head")])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> x_train = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> y_train = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    >>> history = model.fit(x_train, y_train, epochs=2, verbose=0)
    >>> keras_inits.reinitialize(model, only="head")   # draw the head again
    <InitReport: 2 assigned, 0 skipped, 0 unmatched>
    >>> keras_inits.reinitialize(model, seed=0)        # reset everything, reproducibly
    <InitReport: 2 assigned, 0 skipped, 0 unmatched>

    Reference: keras-team/keras #341 and #609 (a `reset` agreed on and never merged).
    """
    _policy.check_target(model_or_layer)
    base_seed = _policy.check_seed(seed)
    only, skip = _selector("only", only), _selector("skip", skip)
    steps = _policy.variables_of(model_or_layer)
    unknown = []
    for step in steps:
        entry = step.entry
        if only is not None and not _selects(only, step):
            entry.reason = "not selected by `only`"
        elif skip is not None and _selects(skip, step):
            entry.reason = "excluded by `skip`"
        else:
            entry.reason = _policy.skip_reason(step, include_frozen=True)
        if entry.reason:
            entry.status = "skipped"
            continue
        initializer = initializer_of(step.layers[-1], step.variable)
        if initializer is None:
            unknown.append(entry.path)
            continue
        # An initializer recorded by `apply` carries the pass's seed: drawn with this pass's.
        pass_seeded = getattr(step.variable, _policy.PASS_SEEDED, False)
        fixed = not pass_seeded and _has_fixed_seed(_declared(step, initializer))
        _policy.prepare(step, initializer, "recorded", None if fixed else base_seed)
    if unknown:
        raise ValueError(
            f"Cannot re-initialize {len(unknown)} variable(s) whose initializer is unknown "
            "(created before `import keras_inits`, or from a value rather than an "
            f"initializer): {unknown}. Import keras_inits before building the model, or leave "
            "them out with `skip=`. Nothing was assigned."
        )
    _policy.execute(steps, verbose=0)
    return _policy.InitReport([step.entry for step in steps])
