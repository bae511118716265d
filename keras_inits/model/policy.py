"""Declarative initialization of whole models: `InitMap` policies and `apply`.

An `InitMap` says which initializer each variable of a model gets; `apply` draws those values
and assigns them to the model's existing variables, in place.

Resolution of a variable (`variable.path`, its owning layer, `variable.name`):

1. Path keys (strings) win over layer-class keys, because a path names one place in one model.
   A key equal to the path wins first; then each string key is tried as a regex with
   `re.search`, in insertion order; the first match wins.
2. Then layer-class keys. The layers that contain the variable are tried from the outermost
   (the model passed in) to the one that owns it, so a container narrows the context
   (`{Dense: ..., MultiHeadAttention: ...}` gives MultiHeadAttention's rule to the Dense-like
   projections inside it). For each layer, its class and then its base classes (the MRO, most
   specific first) are looked up; a class key matches when its dict names the variable's
   `name` ("kernel", "bias", "gamma", "recurrent_kernel", "embeddings", "moving_mean", ...).
3. A value of None means "leave this variable alone"; it still ends the search.

BatchNormalization's moving statistics (`moving_mean`, `moving_variance`) are only reached by a
key that names them: a string key containing the variable's name, or a class key whose dict
has it. A catch-all regex such as `".*"` does not reset them.

Context-aware initializers (the `bind` protocol): after its seed is set (see `apply`), an
initializer that has a method `bind(layer, variable)` is called with the variable's owning
layer and the variable, and the initializer it returns is used for that variable. This lets an
initializer depend on more than the shape, e.g. torch's bias law `U(±1/√fan_in)` with the
fan_in of the layer's kernel. `bind` should keep the seed it was given. It may return None to
leave the variable alone (reported as skipped), e.g. a rule that only fits some layers.
Before that, an initializer with a method `bind_model(model)` is called once per pass with the
model passed to `apply` and replaced by its result (GPT-2's residual scale counts the blocks).

Einsum fans: on an EinsumDense kernel (also MultiHeadAttention's projections), a
VarianceScaling-family initializer without `input_axes` gets the einsum fans that
`EinsumDense.build` would give it (contracted axes in, the others out), so `apply` and a build
with the same initializer draw the same law.

All or nothing: `apply` resolves, binds and checks (shape, dtype, value range, with each
initializer's own checks) every variable before it assigns anything. Values are then drawn and
assigned one variable at a time, so memory beyond the model stays about twice its largest
variable. A journal thread appends the old values, in plan order, to an anonymous temporary
file (from each variable's own buffer where the backend hands it out, else one host copy at a
time) while values are drawn; a variable is overwritten only once its old value is on file. If
anything still fails mid-way (an error raised by a callable that could not be checked in
advance, KeyboardInterrupt, out of memory, the journal's own write), every variable already
assigned is restored from that file before the error propagates. The journal costs one
sequential write of the model, overlapped with the draws (measured in `benchmarks/RESULTS.md`,
section "model-init"), and keeps the restore possible without doubling the model in memory.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import inspect
import math
import random
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import keras
import numpy as np

from keras_inits import _capture, _checks, _registry, _seeds, base

#: Variables that only a key naming them resets.
MOVING_STATISTICS = frozenset({"moving_mean", "moving_variance"})
#: From this many planned variables on, `verbose=1` shows a progress bar.
PROGRESS_MIN = 20
#: The attribute holding a variable's recorded initializer: the one it was created with
#: (`keras_inits.model.reinit`), or the one `apply` last drew it from.
RECORD = "_keras_inits_initializer"
#: Set on a variable whose record comes from `apply`: its seed is the pass's, not its own.
PASS_SEEDED = "_keras_inits_pass_seeded"


# ---------------------------------------------------------------------------------------------
# InitMap


@keras.saving.register_keras_serializable(package=_registry.PACKAGE)
class InitMap(collections.abc.MutableMapping):
    """A declarative initialization policy: which initializer each variable of a model gets.

    An ordered dict whose keys are variable-path regexes (strings) or layer classes, in the
    spirit of `keras.distribution.LayoutMap`. Overlapping keys are allowed: the first match wins
    (the rules are in this module's docstring), so put specific keys first:

    - `"dense_3/kernel"`: the exact path `variable.path`, tried before any regex;
    - `r"head/.*"`: a regex, matched with `re.search` against `variable.path`;
    - `keras.layers.Dense`: a dict `{weight_name: initializer}` for that class and its
      subclasses, `weight_name` being `variable.name` within the layer ("kernel", "bias").

    Path keys win over class keys. Values are anything `keras_inits.get` accepts (a name, a
    config dict, a class, an instance, a function `(shape, dtype) -> tensor`), or None to leave
    the variable alone.

    Args:
        mapping: a dict or an iterable of `(key, value)` pairs (or another InitMap), inserted in
            order. Default: empty.

    Example:

    >>> policy = keras_inits.InitMap({
    ...     "head/kernel": "zeros",                          # one variable
    ...     keras.layers.Dense: {"kernel": "he_normal", "bias": "zeros"},
    ...     keras.layers.LayerNormalization: {"gamma": "ones", "beta": "zeros"},
    ... })
    >>> policy[r"embedding.*"] = keras_inits.TruncatedNormal(stddev=0.02)
    >>> keras_inits.apply(model, policy, seed=0)
    <InitReport: 6 assigned, 0 skipped, 0 unmatched>

    Reference: AllenNLP's `InitializerApplicator` (regexes tried in order, first match wins).
    """

    def __init__(self, mapping: Mapping | collections.abc.Iterable | None = None):
        self._entries: dict[Any, Any] = {}
        self._regexes: dict[str, re.Pattern] = {}
        if mapping is None:
            return
        items = mapping.items() if isinstance(mapping, Mapping) else mapping
        if isinstance(mapping, (str, bytes)) or not isinstance(items, collections.abc.Iterable):
            raise TypeError(
                "Argument `mapping` must be None, a dict or an iterable of (key, value) pairs. "
                f"Received: mapping={mapping!r}"
            )
        for item in items:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(
                    "Argument `mapping` must be None, a dict or an iterable of (key, value) "
                    f"pairs. Received an item {item!r} in mapping={mapping!r}"
                )
            self[item[0]] = item[1]

    # -- the mapping ------------------------------------------------------------------------

    def __setitem__(self, key, value) -> None:
        if isinstance(key, str):
            try:
                self._regexes[key] = re.compile(key)
            except re.error as e:
                raise ValueError(
                    f"InitMap key {key!r} is not a valid regular expression ({e}). String keys "
                    "are regexes matched against `variable.path`."
                ) from None
            _resolve(repr(key), value)
        elif inspect.isclass(key) and issubclass(key, keras.layers.Layer):
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise TypeError(
                    f"InitMap key {key.__name__}: a layer-class key takes a dict "
                    "{weight_name: initializer}, e.g. {'kernel': 'he_normal', 'bias': 'zeros'}. "
                    f"Received: {value!r}"
                )
            value = dict(value)
            for name, init in value.items():
                _resolve(f"{key.__name__}[{name!r}]", init)
        else:
            raise TypeError(
                "InitMap keys must be a string (a regex on `variable.path`) or a subclass of "
                f"`keras.layers.Layer`. Received: key={key!r}"
            )
        self._entries[key] = value

    def __getitem__(self, key):
        return self._entries[key]

    def __delitem__(self, key) -> None:
        del self._entries[key]
        self._regexes.pop(key, None)

    def __iter__(self) -> Iterator:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        items = ", ".join(f"{_key_text(k)}: {v!r}" for k, v in self._entries.items())
        return f"InitMap({{{items}}})"

    def copy(self) -> InitMap:
        """A shallow copy (the same values, a new ordered mapping)."""
        return InitMap(self._entries.items())

    # -- resolution -------------------------------------------------------------------------

    def match(self, path: str, name: str, layers: list) -> tuple[str, Any] | None:
        """The `(key text, value)` that decides the variable at `path`, or None.

        Args:
            path: the variable's `path`.
            name: the variable's `name` within its layer.
            layers: the layers containing the variable, outermost first, its owner last.

        Returns:
            The matching key as text (`"'head/kernel'"`, `"Dense['kernel']"`) and its value,
            or None if no key matches.
        """
        moving = name in MOVING_STATISTICS

        def reaches(key: str) -> bool:
            return not moving or name in key

        if path in self._regexes and reaches(path):
            return repr(path), self._entries[path]
        for key, regex in self._regexes.items():
            if reaches(key) and regex.search(path):
                return repr(key), self._entries[key]
        for layer in layers:
            for cls in type(layer).__mro__:
                rules = self._entries.get(cls) if isinstance(cls, type) else None
                if rules is not None and name in rules:
                    return f"{cls.__name__}[{name!r}]", rules[name]
        return None

    # -- serialization ----------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """A JSON-serializable config: `{"entries": [[key, value], ...]}`, in order.

        A string key is stored as `{"path": key}`, a class key as `{"layer": registered name}`;
        values as Keras initializer configs. A value that is a plain function cannot be
        serialized (TypeError naming its key).
        """
        entries = []
        for key, value in self._entries.items():
            if isinstance(key, str):
                entries.append([{"path": key}, _value_config(repr(key), value)])
            else:
                rules = {n: _value_config(f"{key.__name__}[{n!r}]", v) for n, v in value.items()}
                name = keras.saving.get_registered_name(key)
                if _layer_class(name) is not key:
                    raise ValueError(
                        f"InitMap key {key.__name__}: the layer class {name!r} cannot be restored "
                        "by name; register it with `keras.saving.register_keras_serializable`."
                    )
                entries.append([{"layer": name}, rules])
        return {"entries": entries}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InitMap:
        """Rebuilds an InitMap from `get_config()`'s output.

        Layer classes are looked up by their registered Keras name (Keras' own layers by class
        name); nothing is imported.
        """
        if not isinstance(config, dict) or set(config) != {"entries"}:
            raise ValueError(
                "Argument `config` must be a dict with the one key 'entries', as `get_config()` "
                f"returns. Received: config={config!r}"
            )
        policy = cls()
        for entry in config["entries"]:
            if not (
                isinstance(entry, (list, tuple))
                and len(entry) == 2
                and isinstance(entry[0], dict)
                and len(entry[0]) == 1
            ):
                raise ValueError(
                    "Each InitMap config entry must be [{'path': regex} or {'layer': name}, "
                    f"value]. Received: {entry!r}"
                )
            (kind, name), value = next(iter(entry[0].items())), entry[1]
            if kind == "path":
                policy[name] = value
            elif kind == "layer":
                policy[_layer_class(name)] = value
            else:
                raise ValueError(
                    f"An InitMap config key must be 'path' or 'layer'. Received: {kind!r}"
                )
        return policy


def _key_text(key) -> str:
    return repr(key) if isinstance(key, str) else key.__name__


def _resolve(where: str, value):
    """`keras_inits.get(value)`, with errors that name the key."""
    try:
        return _registry.get(value)
    except (ValueError, TypeError) as e:
        raise type(e)(f"InitMap key {where}: {e}") from None


def _value_config(where: str, value):
    if value is None or isinstance(value, (str, dict)):
        return value
    if isinstance(value, keras.initializers.Initializer) or inspect.isclass(value):
        return _registry.serialize(_registry.get(value))
    raise TypeError(
        f"InitMap key {where}: only None, names, config dicts and initializer instances or "
        f"classes can be serialized. Received: {value!r}"
    )


def _layer_class(name: str) -> type:
    cls = keras.saving.get_registered_object(name)
    if cls is None:
        cls = getattr(keras.layers, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
        raise ValueError(
            f"InitMap config names the layer class {name!r}, which is neither one of "
            "`keras.layers` nor registered with `keras.saving.register_keras_serializable`."
        )
    return cls


# ---------------------------------------------------------------------------------------------
# The report


@dataclasses.dataclass
class VariableInit:
    """What `apply` or `reinitialize` did, or would do, to one variable.

    Attributes:
        path: the variable's path.
        shape: its shape.
        dtype: its dtype.
        initializer: the initializer drawn from (its repr), empty if none.
        key: the policy key that chose it (`"'head/kernel'"`, `"Dense['kernel']"`), or for
            `reinitialize` where its initializer came from; empty if none.
        status: "assigned", "dry run" (would be assigned), "skipped" or "unmatched".
        reason: why it was skipped, empty otherwise.
    """

    path: str
    shape: tuple
    dtype: str
    initializer: str = ""
    key: str = ""
    status: str = "unmatched"
    reason: str = ""


class VariableTable(_capture.LayerTable):
    """A per-variable report: like `LayerTable`, indexed by position or by variable path."""

    def __getitem__(self, key: int | str):
        if isinstance(key, str):
            for entry in self.layers:
                if entry.path == key:
                    return entry
            raise KeyError(f"No variable with path {key!r} in the report.")
        return self.layers[key]


class InitReport(VariableTable):
    """The per-variable result of `apply` / `reinitialize`, in the model's variable order.

    Iterate over it, index it by position or variable path, print it (an aligned table) or call
    `to_list()` for dicts. `unmatched` lists the paths no key matched.

    Args:
        variables: one `VariableInit` per variable, in the model's variable order.
        dry_run: whether the report describes a dry run (nothing assigned).
    """

    def __init__(self, variables: list[VariableInit], dry_run: bool = False):
        super().__init__(variables)
        self.dry_run = dry_run

    def _with(self, status: str) -> list[VariableInit]:
        return [entry for entry in self.layers if entry.status == status]

    @property
    def planned(self) -> list[VariableInit]:
        """The variables that were assigned (or, in a dry run, would be)."""
        return self._with("dry run" if self.dry_run else "assigned")

    @property
    def skipped(self) -> list[VariableInit]:
        """The variables left alone, each with its `reason`."""
        return self._with("skipped")

    @property
    def unmatched(self) -> list[str]:
        """The paths of the variables that no key matched (left alone)."""
        return [entry.path for entry in self._with("unmatched")]

    def __str__(self) -> str:
        headers = ["variable", "shape", "dtype", "initializer", "key", "status"]
        rows = [
            [
                e.path,
                "x".join(map(str, e.shape)) or "()",
                e.dtype,
                e.initializer or None,
                e.key or None,
                f"{e.status}: {e.reason}" if e.reason else e.status,
            ]
            for e in self.layers
        ]
        verb = "would assign" if self.dry_run else "assigned"
        title = (
            f"{verb} {len(self.planned)} variables, skipped {len(self.skipped)}, "
            f"unmatched {len(self.unmatched)}"
        )
        return title + "\n" + _capture.table(headers, rows)

    def __repr__(self) -> str:
        return (
            f"<InitReport: {len(self.planned)} {'planned' if self.dry_run else 'assigned'}, "
            f"{len(self.skipped)} skipped, {len(self.unmatched)} unmatched>"
        )


# ---------------------------------------------------------------------------------------------
# Walking a model


@dataclasses.dataclass
class Step:
    """One variable of a plan: where it lives, its report row and the initializer to draw."""

    variable: Any
    layers: list  # outermost first, the owner last
    entry: VariableInit
    initializer: Any = None


def variables_of(root) -> list[Step]:
    """Every variable of `root` (weights and seed states, each once), with its layer chain."""
    steps: list[Step] = []
    seen: set[int] = set()

    def visit(layer, chain):
        chain = chain + [layer]
        own = layer._trainable_variables + layer._non_trainable_variables
        own += [generator.state for generator in layer._seed_generators]
        for variable in own:
            if id(variable) not in seen:
                seen.add(id(variable))
                entry = VariableInit(
                    variable.path,
                    tuple(variable.shape),
                    keras.backend.standardize_dtype(variable.dtype),
                )
                steps.append(Step(variable, chain, entry))
        for sublayer in layer._layers:
            visit(sublayer, chain)

    visit(root, [])
    return steps


def skip_reason(step: Step, include_frozen: bool) -> str:
    """Why `apply` and `reinitialize` leave this variable alone whatever the policy, or ''."""
    dtype = step.entry.dtype
    if "float" not in dtype:
        return f"not floating point ({dtype})"
    owner = step.layers[-1]
    mode = getattr(owner, "quantization_mode", None)
    if mode is not None:
        return f"quantized layer ({mode})"
    if not include_frozen:
        frozen = [layer.name for layer in step.layers if not layer.trainable]
        if frozen:
            return f"frozen layer {frozen[0]!r} (pass include_frozen=True)"
    return ""


def check_target(model_or_layer) -> None:
    """TypeError for a non-layer, ValueError for an unbuilt one."""
    if not isinstance(model_or_layer, keras.layers.Layer):
        raise TypeError(
            "Argument `model_or_layer` must be a `keras.Model` or a `keras.layers.Layer`. "
            f"Received: model_or_layer={model_or_layer!r}"
        )
    if not model_or_layer.built:
        raise ValueError(
            "Argument `model_or_layer` must be built (call it on data, or give it an Input) so "
            f"that its variables exist. Received: model_or_layer={model_or_layer!r} (not built)"
        )


def check_seed(seed) -> int:
    """The base seed of a pass: `seed` itself, or a fresh random one for None."""
    if seed is None:
        scope = _seeds.active()  # inside `keras_inits.seeding`: the scope's base seed
        if scope is not None:
            return scope.seed
        return random.SystemRandom().randint(1, (1 << _seeds.SEED_BITS) - 1)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"Argument `seed` must be None or an int. Received: seed={seed!r}")
    if not 0 <= seed <= _checks.SEED_MAX:
        raise ValueError(
            f"Argument `seed` must be None or an int in [0, {_checks.SEED_MAX}]. "
            f"Received: seed={seed!r}"
        )
    return int(seed)


def check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Argument `{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)


def check_verbose(verbose) -> int:
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(
            f"Argument `verbose` must be one of [0, 1, 2]. Received: verbose={verbose!r}"
        )
    return verbose


# ---------------------------------------------------------------------------------------------
# Per-variable initializers: seed, bind, check


def reseeded(initializer, seed: int):
    """A copy of `initializer` drawing from `seed`; an initializer without `seed` as is."""
    if not hasattr(initializer, "seed") or not hasattr(initializer, "get_config"):
        return initializer
    config = initializer.get_config()
    if "seed" in config:
        return type(initializer).from_config({**config, "seed": seed})
    clone = copy.copy(initializer)
    clone.seed = seed
    return clone


def bound(initializer, step: Step):
    """The bind protocol (module docstring): `initializer.bind(layer, variable)` if it has one;
    None if `bind` returns None (leave the variable alone)."""
    bind = getattr(initializer, "bind", None)
    if not callable(bind):
        return initializer
    result = bind(step.layers[-1], step.variable)
    if result is not None and not callable(result):
        raise TypeError(
            f"{initializer!r}.bind(layer, variable) must return an initializer, or None to leave "
            f"the variable alone. Received: {result!r} for variable {step.entry.path!r}"
        )
    return result


def bound_to_model(initializer, model, key: str):
    """`initializer.bind_model(model)` if it has that method (once per key and pass): an
    initializer that needs the whole model, e.g. GPT-2's residual scale counting the blocks."""
    bind_model = getattr(initializer, "bind_model", None)
    if not callable(bind_model):
        return initializer
    try:
        return bind_model(model)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{key} gives {initializer!r}, which cannot bind to the model: {e}") from None


def einsum_fans(initializer, step: Step):
    """On an EinsumDense kernel, a VarianceScaling without fan axes gets the einsum fans, as
    `EinsumDense.build` gives it: a copy with `input_axes` the kernel's contracted axes and
    `output_axes` the others (the fans of a dense layer over the flattened kernel, Flax's
    `DenseGeneral` rule). So `apply` and a build with the same initializer draw the same law,
    also inside MultiHeadAttention, whose projections are EinsumDense layers."""
    owner = step.layers[-1]
    if not (
        isinstance(owner, keras.layers.EinsumDense)
        and step.variable.name == "kernel"
        and isinstance(initializer, keras.initializers.VarianceScaling)
        and getattr(initializer, "input_axes", None) is None
    ):
        return initializer
    from keras_inits.schemes.torch_names import einsum_axes

    input_axes, output_axes = einsum_axes(owner.equation)
    config = {**initializer.get_config(), "input_axes": input_axes, "output_axes": output_axes}
    clone = type(initializer).from_config(config)
    if getattr(clone, "seed", None) != getattr(initializer, "seed", None):
        clone.seed = initializer.seed  # a config without the seed (Keras' own)
    return clone


def check_fits(initializer, step: Step) -> None:
    """The checks `Initializer.__call__` makes, without drawing (other callables: none)."""
    if not isinstance(initializer, base.Initializer):
        return
    shape, dtype = base._checked_shape_dtype(type(initializer), step.entry.shape, step.entry.dtype)
    initializer._check_shape(shape)
    if math.prod(shape):
        _checks.value_range(initializer, shape, dtype)


def prepare(step: Step, initializer, key: str, seed: int | None) -> bool:
    """Seeds (unless `seed` is None), binds and checks `initializer` for `step`; fills the
    step's report row. Returns False if `bind` left the variable alone (returned None).

    Raises the initializer's own ValueError/TypeError, naming the key and the variable.
    """
    entry = step.entry
    try:
        if seed is not None:
            path = _seeds.layers_seeding_path(entry.path, step.layers)  # `seeding`'s rule
            initializer = reseeded(initializer, _seeds.path_seed(seed, path))
        unbound = initializer
        initializer = bound(initializer, step)
        if initializer is None:
            entry.status, entry.key = "skipped", key
            entry.reason = f"{type(unbound).__name__}.bind returned None: left alone"
            return False
        initializer = einsum_fans(initializer, step)
        check_fits(initializer, step)
    except (ValueError, TypeError) as e:
        raise type(e)(
            f"{key} gives {initializer!r} for variable {entry.path!r} (shape {entry.shape}, "
            f"dtype {entry.dtype}), which it cannot fill: {e}"
        ) from None
    step.initializer = initializer
    entry.initializer, entry.key = describe(initializer), key
    entry.status = "dry run"
    return True


def describe(initializer) -> str:
    """`Name(arg=value, ...)` from an initializer's config (Keras' own have no useful repr);
    a function's qualified name."""
    if isinstance(initializer, base.Initializer):
        return repr(initializer)
    get_config = getattr(initializer, "get_config", None)
    if callable(get_config):
        args = ", ".join(f"{k}={v!r}" for k, v in get_config().items())
        return f"{type(initializer).__name__}({args})"
    return getattr(initializer, "__qualname__", None) or repr(initializer)


# ---------------------------------------------------------------------------------------------
# Executing a plan


class _BufferedFile:
    """An anonymous temporary file: arrays appended, read back into a given array."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()

    def append(self, array: np.ndarray) -> int:
        offset = self._file.tell()
        self._file.write(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)
        return offset

    def read_into(self, offset: int, out: np.ndarray) -> None:
        self._file.seek(offset)
        self._file.readinto(out.reshape(-1).view(np.uint8).data)

    def close(self) -> None:
        self._file.close()


class Journal:
    """Old values of the variables of a plan, in an anonymous temporary file.

    A writer thread saves the old values in plan order, straight from each variable's buffer
    where the backend hands it out (one host copy at a time otherwise), while the caller draws;
    `wait(i)` returns once the `i`-th variable is saved, so it may then be overwritten. Writing
    the file costs about as much as drawing the model (it faults in fresh page cache), so
    overlapping the two hides most of it. `restore(n)` writes the first `n` back, last first.
    """

    def __init__(self, variables: list) -> None:
        self._variables = variables
        self._file = _BufferedFile()
        self._saved: list[tuple[int, np.dtype, tuple, bool]] = []
        self._error: BaseException | None = None
        self._stop = False
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="keras_inits-journal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for variable in self._variables:
                if self._stop:
                    return
                storage = _torch_storage(variable)
                raw = storage is not None
                array = _bits(storage) if raw else np.ascontiguousarray(_host_array(variable))
                entry = (self._file.append(array), array.dtype, array.shape, raw)
                del array, storage
                with self._progress:
                    self._saved.append(entry)
                    self._progress.notify_all()
        except BaseException as e:  # handed to the caller by `wait`
            with self._progress:
                self._error = e
                self._progress.notify_all()

    def wait(self, index: int) -> None:
        """Returns once the `index`-th variable's old value is saved; raises the writer's error."""
        with self._progress:
            while len(self._saved) <= index and self._error is None:
                self._progress.wait()
            if len(self._saved) <= index:
                raise RuntimeError(
                    "keras_inits could not save the old values before assigning (nothing was "
                    f"assigned past this point): {self._error!r}"
                ) from self._error

    def stop(self) -> None:
        self._stop = True
        self._thread.join()

    def restore(self, count: int) -> None:
        """Writes the old values of the first `count` variables back, last first."""
        self.stop()
        for variable, (offset, dtype, shape, raw) in reversed(
            list(zip(self._variables[:count], self._saved[:count]))
        ):
            array = np.empty(shape, dtype)
            self._file.read_into(offset, array)
            storage = _torch_storage(variable) if raw else None
            if storage is not None:
                np.copyto(_bits(storage), array)
                _bump_version(storage)
            else:
                variable.assign(array)

    def close(self) -> None:
        self.stop()
        self._file.close()


def _host_array(variable) -> np.ndarray:
    """The variable's stored value as a numpy array, without a copy where the backend allows:
    TensorFlow on CPU through DLPack (its `numpy()` and `__array__` copy a variable's buffer;
    the view keeps the buffer alive, and an `assign` while it lives copies on write), JAX on
    CPU through `__array__`; else through `convert_to_numpy`."""
    value = getattr(variable, "_value", None)
    if value is None:
        value = variable.value
    if keras.backend.backend() == "tensorflow":
        try:
            return _tf_view(value)
        except Exception:  # no DLPack for this dtype or device: a copy below
            pass
    try:
        return np.asarray(value)
    except (TypeError, RuntimeError, ValueError):
        return np.asarray(keras.ops.convert_to_numpy(value))


class _DLPack:
    """A DLPack producer for `np.from_dlpack` (TensorFlow tensors have no `__dlpack__`)."""

    def __init__(self, tensor) -> None:
        self.tensor = tensor

    def __dlpack__(self, stream=None, **kwargs):
        import tensorflow as tf

        return tf.experimental.dlpack.to_dlpack(self.tensor)

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def _tf_view(value) -> np.ndarray:
    """A zero-copy numpy view of a TensorFlow variable's (or tensor's) buffer on CPU."""
    read = getattr(value, "read_value_no_copy", None)
    tensor = read() if callable(read) else value
    if "CPU" not in tensor.device.upper():
        raise ValueError(f"not on CPU: {tensor.device}")
    return np.from_dlpack(_DLPack(tensor))


def _torch_storage(variable):
    """The CPU tensor that holds a torch variable's value (its parameter, detached: the same
    storage), or None: another backend or device, a stateless scope, or a Variable class
    whose `assign` is not Keras' own."""
    if keras.backend.backend() != "torch":
        return None
    import torch
    from keras.src.backend.common import KerasVariable
    from keras.src.backend.common.stateless_scope import in_stateless_scope
    from keras.src.backend.torch.core import Variable

    cls = type(variable)
    if (
        in_stateless_scope()
        or cls.assign is not KerasVariable.assign
        or cls._direct_assign is not Variable._direct_assign
    ):
        return None
    value = getattr(variable, "_value", None)
    if not isinstance(value, torch.Tensor) or value.device.type != "cpu":
        return None
    if value.element_size() not in _BIT_TYPES:
        return None
    return value.detach()


#: Item size -> the integer type a tensor's bits are viewed as (numpy has no bfloat16).
_BIT_TYPES = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}


def _bits(tensor) -> np.ndarray:
    """A numpy view of a CPU tensor's bits, as integers of its item size (no copy)."""
    import torch

    return tensor.view(getattr(torch, _BIT_TYPES[tensor.element_size()])).numpy()


def _bump_version(tensor) -> None:
    """Tells autograd that `tensor` changed in place, as `copy_` would."""
    import torch

    increment = getattr(torch.autograd.graph, "increment_version", None)
    if increment is not None:
        increment(tensor)


def write(variable, value) -> None:
    """`variable.assign(value)`, in place.

    On torch's CPU, a drawn tensor of the variable's dtype and shape is copied with numpy into
    the parameter's storage: torch's `copy_` splits a large copy over its OpenMP threads, and
    on a busy machine waits for all of them at a barrier (measured: 0.4-0.6 s to copy a
    152 MB model on 2 loaded cores, 15-20 ms with one thread). Else `variable.assign`.
    """
    storage = _torch_storage(variable)
    if storage is not None:
        import torch

        if (
            isinstance(value, torch.Tensor)
            and value.device.type == "cpu"
            and value.dtype == storage.dtype
            and value.shape == storage.shape
        ):
            np.copyto(_bits(storage), _bits(value.detach()))
            _bump_version(storage)
            return
    variable.assign(value)


def draw(initializer, variable):
    """`initializer(shape, dtype)`, laid out as the variable is under `keras.distribution`.

    A keras_inits initializer takes the variable's layout, so each device generates only its
    shard (README, "Scaling out"); other callables draw in full and `assign` distributes.
    """
    shape, dtype = tuple(variable.shape), variable.dtype
    layout = getattr(variable, "_layout", None)
    if layout is not None and isinstance(initializer, base.Initializer):
        return initializer(shape, dtype=dtype, layout=layout)
    return initializer(shape, dtype=dtype)


def _block(value) -> None:
    """Waits until an asynchronously computed value (a JAX array) is ready."""
    block = getattr(value, "block_until_ready", None)
    if callable(block):
        block()


def execute(steps: list[Step], verbose: int) -> None:
    """Draws and assigns each planned step, one at a time; all or nothing (module docstring)."""
    planned = [step for step in steps if step.initializer is not None]
    progbar = None
    if verbose and len(planned) > PROGRESS_MIN:
        progbar = keras.utils.Progbar(len(planned), verbose=verbose)
    journal = Journal([step.variable for step in planned])
    done = 0
    try:
        for index, step in enumerate(planned):
            value = draw(step.initializer, step.variable)
            journal.wait(index)  # its old value is on file: it may be overwritten
            write(step.variable, value)
            _block(value)  # one draw in flight (JAX dispatches asynchronously)
            del value
            done = index + 1
            step.entry.status = "assigned"
            if progbar is not None:
                progbar.update(done)
    except BaseException:
        journal.restore(done)
        for step in planned:
            step.entry.status = "dry run"
        raise
    finally:
        journal.close()


# ---------------------------------------------------------------------------------------------
# apply


def as_policy(policy) -> InitMap:
    """An InitMap from an InitMap, a dict or a preset name."""
    if isinstance(policy, InitMap):
        return policy
    if isinstance(policy, Mapping):
        return InitMap(policy)
    if isinstance(policy, str):
        try:
            from keras_inits.model import presets
        except ImportError:
            raise ValueError(
                f"Argument `policy` names a preset, but no presets are installed. "
                f"Received: policy={policy!r}"
            ) from None
        try:
            preset = presets.get_preset(policy)
        except ValueError as e:
            raise ValueError(f"Argument `policy` is not a preset name: {e}") from None
        return preset if isinstance(preset, InitMap) else InitMap(preset)
    raise TypeError(
        "Argument `policy` must be an InitMap, a dict or a preset name. "
        f"Received: policy={policy!r}"
    )


def plan(model_or_layer, policy: InitMap, seed: int, include_frozen: bool) -> list[Step]:
    """Every variable resolved, seeded, bound and checked; nothing is drawn."""
    steps = variables_of(model_or_layer)
    resolved: dict[str, Any] = {}  # one instance per key and value, reseeded per variable
    for step in steps:
        entry = step.entry
        entry.reason = skip_reason(step, include_frozen)
        if entry.reason:
            entry.status = "skipped"
            continue
        found = policy.match(entry.path, step.variable.name, step.layers)
        if found is None:
            if step.variable.name in MOVING_STATISTICS:
                entry.status = "skipped"
                entry.reason = "moving statistic: only a key that names it resets it"
            continue
        key, value = found
        if value is None:
            entry.status, entry.key, entry.reason = "skipped", key, "the policy leaves it alone"
            continue
        if key not in resolved:
            resolved[key] = bound_to_model(_resolve(key, value), model_or_layer, key)
        prepare(step, resolved[key], key, seed)
    return steps


def apply(
    model_or_layer: keras.layers.Layer,
    policy: InitMap | Mapping | str,
    *,
    seed: int | None = None,
    dry_run: bool = False,
    include_frozen: bool = False,
    verbose: int = 1,
) -> InitReport:
    """Assigns new values to a built model's variables, as `policy` says, in place.

    Each variable `v` that a key matches is drawn from that key's initializer, copied with the
    seed `path_seed(seed, p)` (`keras_inits._seeds.path_seed`), `p` being `v.path` without
    model names, as under `keras_inits.seeding`: every variable has its own stream, which
    depends on the base seed and its path only, and the values' own seeds are replaced. With
    `seed=None` inside a `keras_inits.seeding` scope, the scope's seed is the base seed. Keras'
    built-in initializers are replaced by this package's counterparts first.
    The resolution rules, the `bind(layer, variable)` protocol and the all-or-nothing
    guarantee are in the module docstring of `keras_inits.model.policy`.

    Each assigned variable records the initializer it was drawn from (seeded and bound, as in
    the report), in place of the one it was created with: `audit(model)` then checks the
    values against what `apply` did, and `reinitialize(model, seed=s)` draws that policy
    again, equal to `apply(model, policy, seed=s)` for those variables. The record lives on
    the variable object, in this process: a model saved and loaded again has its layers'
    initializers (pass the policy to `audit`).

    Variables are assigned in place (`variable.assign`), so optimizer slots, compiled train
    functions and saving keep working. Left alone, and reported as skipped: non-float variables
    (int8 quantized kernels, seed states, counters), quantized layers, frozen layers (unless
    `include_frozen`), BatchNormalization's moving statistics unless a key names them, and
    variables whose key maps to None. Under `keras.distribution` (JAX), each variable is drawn
    with its own layout, each device generating only its shard.

    Args:
        model_or_layer: a built `keras.Model` or `keras.layers.Layer`.
        policy: an `InitMap`, a dict (converted to one) or a preset name (`"torch"`, ...).
        seed: base seed, an int in [0, 2**32 - 1]; None (default) draws one at random per call.
        dry_run: if True, assign nothing and return the plan (default False).
        include_frozen: also re-initialize layers with `trainable=False` (default False).
        verbose: 0 silent, 1 (default) a progress bar for more than 20 variables, 2 one line.

    Returns:
        An `InitReport`: per variable, its path, shape, dtype, initializer, the key that chose
        it and its status ("assigned", "dry run", "skipped" with the reason, "unmatched");
        `report.unmatched` lists the paths no key matched.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((32, 32, 3)),
    ...     keras.layers.Conv2D(16, 3, activation="relu", name="conv"),
    ...     keras.layers.GlobalAveragePooling2D(),
    ...     keras.layers.Dense(10, name="predictions"),
    ... ])
    >>> report = keras_inits.apply(model, {
    ...     keras.layers.Conv2D: {"kernel": "kaiming_normal"},
    ...     "predictions/kernel": "zeros",
    ... }, seed=0)
    >>> print(report)
    assigned 2 variables, skipped 0, unmatched 2
    ...

    Reference: AllenNLP's `InitializerApplicator`; the request for a re-initialization API in
    keras-team/keras #341 and #609.
    """
    check_target(model_or_layer)
    policy = as_policy(policy)
    base_seed = check_seed(seed)
    dry_run = check_flag("dry_run", dry_run)
    include_frozen = check_flag("include_frozen", include_frozen)
    verbose = check_verbose(verbose)
    steps = plan(model_or_layer, policy, base_seed, include_frozen)
    if not dry_run:
        execute(steps, verbose)
        for step in steps:  # after the whole pass: a failed one records nothing
            if step.entry.status == "assigned":
                setattr(step.variable, RECORD, step.initializer)
                setattr(step.variable, PASS_SEEDED, True)
    return InitReport([step.entry for step in steps], dry_run=dry_run)
