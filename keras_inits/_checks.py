"""Argument, shape and dtype checks shared by every initializer.

Every error names the argument, shows the received value with `!r` and says what is allowed,
so that a bad value is caught where it was written and never reaches a division or a QR.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

import keras
import numpy as np

FLOAT_DTYPES = ("bfloat16", "float16", "float32", "float64")
INT_DTYPES = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
)


def real(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    """Returns `value` as a finite Python float, or raises naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        raise TypeError(f"Argument `{name}` must be a real number. Received: {name}={value!r}")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            raise TypeError(
                f"Argument `{name}` must be a real scalar. Received: {name}={value!r}"
            )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"Argument `{name}` must be finite. Received: {name}={value!r}")
    if positive and value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value!r}")
    if nonnegative and value < 0:
        raise ValueError(f"Argument `{name}` must be >= 0. Received: {name}={value!r}")
    return value


def choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Returns `value` if it is one of `allowed`, else raises naming `name`."""
    allowed = sorted(allowed)
    if not isinstance(value, str):
        raise TypeError(
            f"Argument `{name}` must be a string, one of {allowed}. Received: {name}={value!r}"
        )
    if value not in allowed:
        raise ValueError(f"Argument `{name}` must be one of {allowed}. Received: {name}={value!r}")
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
        isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in value
    ):
        raise TypeError(
            f"Argument `{name}` must be None or a list of ints. Received: {name}={value!r}"
        )
    return [int(a) for a in value]


def seed(value: Any) -> Any:
    """Keras' seed rule: None, an int, a `keras.random.SeedGenerator` or its serialized dict."""
    if isinstance(value, dict):
        value = keras.saving.deserialize_keras_object(value)
    if value is None or isinstance(value, keras.random.SeedGenerator):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    raise TypeError(
        "Argument `seed` must be None, an int or a `keras.random.SeedGenerator`. "
        f"Received: seed={value!r}"
    )


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
            raise ValueError(
                f"`{owner}` needs non-negative dimensions. Received: shape={value!r}"
            )
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


def rank(owner: str, shape_: tuple[int, ...], *, minimum: int = 0, exact: int | None = None):
    if exact is not None and len(shape_) != exact:
        raise ValueError(
            f"`{owner}` needs a tensor of rank {exact}. Received: shape={shape_} "
            f"(rank {len(shape_)})."
        )
    if len(shape_) < minimum:
        raise ValueError(
            f"`{owner}` needs a tensor of rank >= {minimum}. Received: shape={shape_} "
            f"(rank {len(shape_)})."
        )


def integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Returns `value` as a Python int (>= `minimum` if given), or raises naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"Argument `{name}` must be an int. Received: {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"Argument `{name}` must be >= {minimum}. Received: {name}={value!r}")
    return int(value)
