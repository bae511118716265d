"""Argument, shape and dtype checks shared by every initializer.

Every error names the argument, shows the received value with `!r` and says what is allowed,
so that a bad value is caught where it was written and never reaches a division or a QR.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

import keras
import numpy as np

FLOAT_DTYPES = ("bfloat16", "float16", "float32", "float64")
INT_DTYPES = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)
#: The largest finite value of each float dtype (numpy has no bfloat16).
FLOAT_MAX = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
}
#: Int seeds every backend accepts: JAX refuses anything outside uint32.
SEED_MAX = 2**32 - 1
#: A bound, in standard deviations, on every sample of the backends' normal samplers: they
#: transform 24-bit (float32) or 53-bit (float64) uniforms, which caps |z| below 8.6. A scheme
#: whose `|mean| + NORMAL_SIGMAS * stddev` overflows the dtype is refused.
NORMAL_SIGMAS = 10.0


def real(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    """Returns `value` as a finite Python float, or raises naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, np.ndarray, np.generic)
    ):
        raise TypeError(f"Argument `{name}` must be a real number. Received: {name}={value!r}")
    if isinstance(value, (np.ndarray, np.generic)):
        # np.str_, np.complex128, np.datetime64, ... are np.generic but not real numbers.
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            raise TypeError(f"Argument `{name}` must be a real scalar. Received: {name}={value!r}")
    received = value
    try:
        value = float(value)
    except OverflowError:  # an int beyond float64
        raise ValueError(
            f"Argument `{name}` must be finite (within float64). Received: {name}={value!r}"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"Argument `{name}` must be finite. Received: {name}={received!r}")
    if positive and value <= 0:  # Keras' wording (VarianceScaling's scale), then ours
        raise ValueError(
            f"Argument `{name}` must be positive float. Allowed: > 0. Received: {name}={received!r}"
        )
    if nonnegative and value < 0:
        raise ValueError(f"Argument `{name}` must be >= 0. Received: {name}={received!r}")
    return value


_Name = TypeVar("_Name", bound=str)


def choice(
    name: str, value: Any, allowed: Iterable[_Name], *, received: Any = None, keras: str = ""
) -> _Name:
    """Returns `value` if it is one of `allowed`, else raises naming `name`.

    `received` is the value as the caller passed it, for the message, when `value` is a
    normalized form of it (e.g. upper-cased). `keras` is the message Keras' built-in raises for
    the same value: ours starts with it, so code matching Keras' wording keeps working.
    """
    allowed = sorted(allowed)
    shown = value if received is None else received
    if not isinstance(value, str):
        raise TypeError(
            f"{keras}Argument `{name}` must be a string, one of {allowed}. "
            f"Received: {name}={shown!r}"
        )
    if value not in allowed:
        raise ValueError(
            f"{keras}Argument `{name}` must be one of {allowed}. Received: {name}={shown!r}"
        )
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Argument `{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)


def axes(name: str, value: Any) -> list[int] | None:
    """`input_axes` / `output_axes`: None or a sequence of ints."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_)) for a in value
    ):
        raise TypeError(
            f"Argument `{name}` must be None or a list of ints. Received: {name}={value!r}"
        )
    value = [int(a) for a in value]
    if len(set(value)) != len(value):
        raise ValueError(
            f"Argument `{name}` must not repeat an axis (its dims would count twice in the fan). "
            f"Received: {name}={value!r}"
        )
    return value


def seed(value: Any) -> Any:
    """Keras' seed rule: None, an int in [0, 2**32 - 1] (the range every backend accepts), a
    `keras.random.SeedGenerator`, or a SeedGenerator's serialized dict.

    A dict is rebuilt here only if it names `SeedGenerator`: nothing else in a config is
    deserialized, so a crafted config cannot make this build any other object.
    """
    if isinstance(value, dict):
        value = _seed_generator_from_config(value)
    if value is None or isinstance(value, keras.random.SeedGenerator):
        return value
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    ):
        if not 0 <= int(value) <= SEED_MAX:
            raise ValueError(
                f"Argument `seed` must be an int in [0, {SEED_MAX}] (2**32 - 1: the range every "
                f"backend accepts). Received: seed={value!r}"
            )
        return int(value)
    raise TypeError(  # Keras' wording, then ours
        "`seed` argument should be an instance of `keras.random.SeedGenerator()` or an integer. "
        "Argument `seed` must be None, an int or a `keras.random.SeedGenerator`. "
        f"Received: seed={value!r}"
    )


def _seed_generator_from_config(value: dict) -> keras.random.SeedGenerator:
    inner = value.get("config")
    if (
        value.get("class_name") != "SeedGenerator"
        or value.get("module") not in (None, "keras.random", "keras.src.random.seed_generator")
        or not isinstance(inner, dict)
        or not set(inner) <= {"seed", "name"}
    ):
        raise TypeError(
            "Argument `seed` given as a dict must be a serialized `keras.random.SeedGenerator` "
            "({'class_name': 'SeedGenerator', 'config': {'seed': ..., 'name': ...}}). "
            f"Received: seed={value!r}"
        )
    initial = inner.get("seed")
    if initial is not None:
        initial = seed(initial)
    name = inner.get("name")
    if name is not None and not isinstance(name, str):
        raise TypeError(
            f"A serialized SeedGenerator's name must be a string. Received: seed={value!r}"
        )
    return keras.random.SeedGenerator(initial, name=name)


def shape(owner: str, value: Any) -> tuple[int, ...]:
    """Returns `value` as a tuple of non-negative Python ints."""
    try:
        dims = tuple(value)
    except TypeError:
        raise TypeError(
            f"`{owner}` needs `shape` as a tuple of ints. Received: shape={value!r}"
        ) from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (numbers.Integral, np.integer)):
            raise TypeError(
                f"`{owner}` needs `shape` as a tuple of ints. Received: shape={value!r}"
            )
        if d < 0:
            raise ValueError(f"`{owner}` needs non-negative dimensions. Received: shape={value!r}")
    return tuple(int(d) for d in dims)


def dtype(owner: str, value: Any, *, allow_int: bool = False) -> str:
    """Standardizes `value` (None means `keras.backend.floatx()`) and checks its kind."""
    if value is None:
        value = keras.backend.floatx()
    try:
        name = keras.backend.standardize_dtype(value)
    except (ValueError, TypeError, AttributeError):
        name = repr(value)
    allowed = FLOAT_DTYPES + (INT_DTYPES if allow_int else ())
    if name not in allowed:
        raise TypeError(
            f"`{owner}` cannot make a tensor of dtype {name!r}. Allowed dtypes: {sorted(allowed)}."
            f" Received: dtype={value!r}"
        )
    return name


def rank(
    owner: str,
    shape_: tuple[int, ...],
    *,
    minimum: int = 0,
    exact: int | None = None,
    keras: str = "",
) -> None:
    """Raises ValueError unless `shape_` has rank `exact` (if given) and at least `minimum`.

    `keras` is the sentence Keras' built-in raises for the same shape: ours starts with it.
    """
    if exact is not None and len(shape_) != exact:
        raise ValueError(
            f"{keras}`{owner}` needs a tensor of rank {exact}. Received: shape={shape_} "
            f"(rank {len(shape_)})."
        )
    if len(shape_) < minimum:
        raise ValueError(
            f"{keras}`{owner}` needs a tensor of rank >= {minimum}. Received: shape={shape_} "
            f"(rank {len(shape_)})."
        )


def integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Returns `value` as a Python int (>= `minimum` if given), or raises naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"Argument `{name}` must be an int. Received: {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"Argument `{name}` must be >= {minimum}. Received: {name}={value!r}")
    return int(value)


def realized_dtype(dtype: str) -> str:
    """The dtype the backend actually makes for `dtype`: JAX without x64 makes 64-bit types
    32-bit."""
    if keras.backend.backend() == "jax" and dtype in ("float64", "int64", "uint64"):
        import jax

        return str(jax.dtypes.canonicalize_dtype(dtype))
    return dtype


def _args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def fits(owner: str, dtype: str, bound: float, args: dict[str, Any]) -> None:
    """Raises ValueError if values up to `bound` in magnitude overflow the float `dtype`.

    `args` are the constructor arguments that set `bound`; the message names them. Checked
    before sampling, so a scheme never returns inf because its arguments are too large for
    the dtype (e.g. `Constant(1e5)` in float16).
    """
    realized = realized_dtype(dtype)
    limit = FLOAT_MAX.get(realized)
    if limit is None:
        return
    if not bound <= limit:  # also catches a NaN or inf bound
        made = f" (the backend makes {realized} for {dtype})" if realized != dtype else ""
        raise ValueError(
            f"`{owner}` cannot fill a {dtype} tensor{made}: with {_args_text(args)} its values "
            f"reach {bound:.6g}, beyond the largest finite {realized} ({limit:.6g}), so they "
            f"would overflow to inf. Allowed: arguments whose values fit the dtype; use a wider "
            f"dtype or smaller arguments. Received: {_args_text(args)}, dtype={dtype!r}"
        )


def value_range(initializer: Any, shape: tuple[int, ...], dtype: str) -> None:
    """Checks `initializer._max_abs(shape)` (the bound on |values| and the arguments that set
    it, or None) against `dtype` with `fits`. Schemes without `_max_abs` are not checked."""
    max_abs = getattr(initializer, "_max_abs", None)
    bound = max_abs(shape) if max_abs is not None else None
    if bound is not None:
        fits(type(initializer).__name__, dtype, *bound)


def exact_in(owner: str, dtype: str, values: Any, args: dict[str, Any]) -> None:
    """For an integer or bool `dtype`: raises ValueError unless every one of `values` (a number
    or an array) converts exactly, i.e. is integral and in the dtype's range (0/1 for bool).

    A cast would otherwise truncate 0.5 to 0 or wrap 300 to 44 in int8, silently.
    """
    realized = realized_dtype(dtype)
    if realized not in INT_DTYPES:
        return
    if realized == "bool":
        low, high = 0, 1
    else:
        info = np.iinfo(realized)
        low, high = int(info.min), int(info.max)
    if isinstance(values, numbers.Integral):  # a Python int may exceed every numpy dtype
        ok = low <= int(values) <= high
    else:
        array = np.asarray(values)
        ok = (
            array.size == 0
            or array.dtype.kind == "b"
            or (
                array.dtype.kind in "iuf"
                and bool(np.all(np.isfinite(array)))
                and bool(np.all(np.floor(array) == array))
                and array.min() >= low
                and array.max() <= high
            )
        )
    if not ok:
        made = f" (the backend makes {realized} for {dtype})" if realized != dtype else ""
        raise ValueError(
            f"`{owner}` cannot fill a {dtype} tensor{made} exactly: with {_args_text(args)} "
            f"its values are not all integers in [{low}, {high}], and a cast would truncate or "
            f"wrap them. Allowed: integral values in the dtype's range, or a float dtype. "
            f"Received: {_args_text(args)}, dtype={dtype!r}"
        )


def config_keys(cls: type, config: dict) -> None:
    """Raises TypeError naming any key of `config` that `cls`'s constructor does not take, and
    any required argument that `config` lacks, with the keys that are allowed."""
    params = list(inspect.signature(cls).parameters.values())  # the constructor's, less self
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    allowed = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = [p.name for p in params if p.default is p.empty and p.name in allowed]
    unknown = [k for k in config if k not in allowed]
    missing = [k for k in required if k not in config]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown key(s) {unknown}")
        if missing:
            problems.append(f"missing required key(s) {missing}")
        raise TypeError(
            f"The config of `{cls.__name__}` has {' and '.join(problems)}. Allowed keys: "
            f"{allowed} (required: {required}). Received: config={config!r}"
        )
