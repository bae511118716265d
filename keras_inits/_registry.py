"""The one registry: names and aliases, Keras registration, `get`, (de)serialization.

Every scheme class is decorated with `@register(...)`. That single table feeds:

- `get` / `deserialize` (every name below resolves to this package's class);
- Keras' registry: `"keras_inits>ClassName"` and `"keras_inits>snake_name"` everywhere Keras takes
  an initializer string, plus bare names that Keras itself does not define;
- `override_keras_names()`, which points Keras' own names at this package;
- `names()`, which the CLI and the parametrized contract tests iterate.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import keras
import numpy as np
from keras.src.initializers import ALL_OBJECTS_DICT as _KERAS_TABLE  # what Keras' `get` reads

from keras_inits._checks import config_keys

if TYPE_CHECKING:
    from keras_inits.base import Initializer

_T = TypeVar("_T", bound="Initializer")

PACKAGE = "keras_inits"

_CLASSES: dict[str, type[Initializer]] = {}  # canonical CamelCase name -> class
# every accepted name (CamelCase, snake_case, aliases) -> class
_NAMES: dict[str, type[Initializer]] = {}


def snake_case(name: str) -> str:
    """Keras' rule: `HeNormal` -> `he_normal`, `STFT` -> `stft`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def register(*aliases: str) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: registers `cls` under its CamelCase and snake_case names and `aliases`."""

    def decorate(cls: type[_T]) -> type[_T]:
        canonical = cls.__name__
        _CLASSES[canonical] = cls
        keras.saving.register_keras_serializable(package=PACKAGE, name=canonical)(cls)
        custom = keras.saving.get_custom_objects()
        for name in dict.fromkeys((canonical, snake_case(canonical), *aliases)):
            if _NAMES.get(name, cls) is not cls:
                raise RuntimeError(f"Name {name!r} is already registered to {_NAMES[name]}.")
            _NAMES[name] = cls
            custom[f"{PACKAGE}>{name}"] = cls
            if name not in _KERAS_TABLE:
                custom[name] = cls  # Keras doesn't define it: register it bare as well.
        return cls

    return decorate


def names(aliases: bool = False) -> list[str]:
    """The registered scheme names: one CamelCase name per class, or every accepted string.

    Args:
        aliases: if True, every accepted string (snake_case names and aliases as well).

    Returns:
        A sorted list of names.
    """
    return sorted(_NAMES if aliases else _CLASSES)


def lookup(name: str) -> type[Initializer]:
    """The class registered under `name` (also accepts `"keras_inits>name"`)."""
    key = name.split(">", 1)[1] if name.startswith(PACKAGE + ">") else name
    if key in _NAMES:
        return _NAMES[key]
    close = difflib.get_close_matches(key, _NAMES, n=3)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(  # Keras' wording (keras.initializers.get), then ours
        f"Could not interpret initializer identifier: {name}. "
        f"Unknown initializer: {name!r}.{hint} Known names: {names(aliases=True)}"
    )


def _counterpart(obj: Any) -> type[Initializer] | None:
    """This package's class for a Keras built-in initializer class or instance."""
    cls = obj if inspect.isclass(obj) else type(obj)
    if cls.__module__.startswith("keras.") and cls.__name__ in _CLASSES:
        return _CLASSES[cls.__name__]
    return None


def _initializer_class(cls: Any, identifier: Any) -> type[keras.initializers.Initializer]:
    if not (inspect.isclass(cls) and issubclass(cls, keras.initializers.Initializer)):
        raise TypeError(
            f"{identifier!r} does not name a subclass of `keras.initializers.Initializer`. "
            f"Received: {cls!r}"
        )
    return cls


def deserialize(config: dict | str, custom_objects: dict | None = None):
    """Builds an initializer from `serialize`'s output, a Keras config dict or a name.

    Keras' built-in names and configs give this package's classes. Other classes are looked up
    in `custom_objects` and Keras' registered custom objects, and must subclass
    `keras.initializers.Initializer`.

    Args:
        config: a name, or a dict with a `"class_name"` key (and optionally `"config"` and
            `"registered_name"`), as `serialize` returns.
        custom_objects: optional `{name: class}` for classes registered nowhere else.

    Returns:
        A new initializer instance.
    """
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise TypeError(
            "Argument `config` must be a name or a dict with a 'class_name' key. "
            f"Received: config={config!r}"
        )
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise TypeError(f"The 'config' entry must be a dict. Received: config={config!r}")
    candidates = [config.get("registered_name"), config["class_name"]]
    if not all(isinstance(c, str) for c in filter(None, candidates)):
        raise TypeError(
            f"The 'class_name' and 'registered_name' entries must be strings. Received: "
            f"config={config!r}"
        )
    for name in filter(None, candidates):
        key = name.split(">", 1)[1] if name.startswith(PACKAGE + ">") else name
        if key in _NAMES:
            config_keys(_NAMES[key], inner)
            return _NAMES[key].from_config(dict(inner))
    for name in filter(None, candidates):
        cls = keras.saving.get_registered_object(name, custom_objects=custom_objects)
        if cls is not None:
            return _initializer_class(cls, name).from_config(dict(inner))
    lookup(config["class_name"])  # raises with suggestions
    raise AssertionError("unreachable")


def serialize(initializer) -> dict:
    """The JSON-serializable config dict of `initializer` (Keras' format).

    Args:
        initializer: a Keras initializer instance.

    Returns:
        `{"module": ..., "class_name": ..., "config": ..., "registered_name": ...}`.
    """
    return keras.saving.serialize_keras_object(initializer)


def get(identifier: Any):
    """Retrieves an initializer, accepting everything `keras.initializers.get` accepts.

    - None -> None.
    - A name (`"he_normal"`, `"HeNormal"`, `"normal"`, `"keras_inits>he_normal"`, ...) or a config
      dict -> a new instance of this package's class.
    - A class -> an instance; Keras built-in classes map to this package's counterpart.
    - An instance -> itself; a Keras built-in instance becomes this package's counterpart with the
      same config and seed.
    - A tensor or ndarray -> a function returning it cast, for that exact shape.
    - Any other callable -> itself.

    Args:
        identifier: any of the above.

    Returns:
        An initializer (or None).
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if keras.ops.is_tensor(identifier) or isinstance(identifier, (np.ndarray, np.generic)):
        return _tensor_initializer(identifier)
    if inspect.isclass(identifier):
        cls = _counterpart(identifier) or _initializer_class(identifier, identifier)
        return cls()
    own = _counterpart(identifier)
    if own is not None:
        config = identifier.get_config()
        if hasattr(identifier, "seed"):
            config["seed"] = identifier.seed
        return own.from_config(config)
    if isinstance(identifier, _NOT_INITIALIZERS):
        raise TypeError(
            "Could not interpret initializer identifier: a Keras "
            f"{type(identifier).__name__} is callable but is not an initializer. "
            "Expected None, a name, a config dict, an initializer class or instance, a function "
            f"`(shape, dtype) -> tensor` or a tensor. Received: identifier={identifier!r}"
        )
    if callable(identifier):
        return identifier
    raise TypeError(
        "Could not interpret initializer identifier: expected None, a name, a config dict, a "
        f"class, a callable or a tensor. Received: identifier={identifier!r}"
    )


# Callable Keras objects that are certainly not initializers: `get` refuses them rather than
# return them to be called with `(shape, dtype)`.
_NOT_INITIALIZERS = (
    keras.Operation,  # layers and models too
    keras.losses.Loss,
    keras.metrics.Metric,
    keras.optimizers.Optimizer,
    keras.regularizers.Regularizer,
    keras.constraints.Constraint,
)


def _tensor_initializer(value) -> Callable:
    expected = tuple(value.shape)

    def initialize_fn(shape, dtype=None):
        if tuple(shape) != expected:
            raise ValueError(  # Keras' wording, then ours
                f"Expected `shape` to be {expected} for direct tensor as initializer. "
                f"A tensor used as initializer fills only its own shape {expected}. "
                f"Received: shape={tuple(shape)}"
            )
        return keras.ops.cast(value, keras.backend.standardize_dtype(dtype))

    return initialize_fn


class override_keras_names:
    """Makes Keras' own initializer names resolve to this package, everywhere in Keras.

    After `keras_inits.override_keras_names()`, strings such as `"he_normal"`, `"GlorotUniform"`
    and layer defaults (Dense's `"glorot_uniform"`, LSTM's `"orthogonal"`) give this package's
    classes. Used as a context manager, Keras' own mapping is restored on exit:

    ```python
    with keras_inits.override_keras_names():
        layer = keras.layers.Dense(8)  # keras_inits.GlorotUniform
    ```
    """

    def __init__(self):
        custom = keras.saving.get_custom_objects()
        self._saved = {k: custom.get(k) for k in _KERAS_TABLE if k in _NAMES}
        for key in self._saved:
            custom[key] = _NAMES[key]

    def restore(self) -> None:
        """Restores Keras' mapping of its own names."""
        custom = keras.saving.get_custom_objects()
        for key, previous in self._saved.items():
            if previous is None:
                custom.pop(key, None)
            else:
                custom[key] = previous

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.restore()
