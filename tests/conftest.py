"""Shared test helpers. The suite runs once per backend (KERAS_BACKEND), see the Makefile."""

import math

import keras
import numpy as np
import pytest

import keras_inits

BACKEND = keras.backend.backend()
FLOAT_DTYPES = ["float16", "bfloat16", "float32", "float64"]


def to_numpy(x) -> np.ndarray:
    """A backend tensor as a float64 numpy array (bfloat16 goes through float32)."""
    if keras.backend.standardize_dtype(x.dtype) == "bfloat16":
        x = keras.ops.cast(x, "float32")
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def realized_dtype(dtype: str) -> str:
    """The dtype the backend actually makes for `dtype` (JAX without x64 makes float32)."""
    return keras.backend.standardize_dtype(keras.ops.zeros((1,), dtype=dtype).dtype)


def ks_critical(n: int, m: int | None = None, alpha: float = 1e-3) -> float:
    """Critical KS distance at level `alpha` (asymptotic): c(a) * sqrt((n + m) / (n m))."""
    c = math.sqrt(-0.5 * math.log(alpha / 2))
    return c * (math.sqrt(1 / n) if m is None else math.sqrt((n + m) / (n * m)))


@pytest.fixture(params=keras_inits.names())
def name(request):
    return request.param
