"""Deterministic schemes: Zeros, Ones, Constant, Identity.

They need no seed, and they accept integer and bool dtypes as well as floats.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.base import Initializer


@register("zero")
class Zeros(Initializer):
    """All zeros: `W = 0`. For biases and for the last layer of a residual branch.

    Example:

    >>> keras.ops.convert_to_numpy(keras_inits.Zeros()((2, 3)))
    array([[0., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    >>> layer = keras.layers.Dense(3, bias_initializer=keras_inits.Zeros())
    """

    integer_dtypes = True

    def __init__(self):
        """Takes no arguments (so a stray one, or a config key, is a clear TypeError)."""

    def _generate(self, shape, dtype):
        return ops.zeros(shape, dtype=dtype)


@register("one")
class Ones(Initializer):
    """All ones: `W = 1`. For scales such as BatchNormalization's gamma.

    Example:

    >>> keras.ops.convert_to_numpy(keras_inits.Ones()((2, 3), dtype="int32"))
    array([[1, 1, 1],
           [1, 1, 1]], dtype=int32)
    """

    integer_dtypes = True

    def __init__(self):
        """Takes no arguments (so a stray one, or a config key, is a clear TypeError)."""

    def _generate(self, shape, dtype):
        return ops.ones(shape, dtype=dtype)


@register()
class Constant(Initializer):
    """A constant: `W = value`, broadcast to the shape.

    Args:
        value: a finite real number (default 0.0), or an array-like that broadcasts to the
            requested shape. At call time it must fit the dtype: no overflow to inf (e.g.
            `1e5` in float16), and integral and in range for integer dtypes (0/1 for bool).

    Example:

    >>> keras.ops.convert_to_numpy(keras_inits.Constant(0.5)((3,)))
    array([0.5, 0.5, 0.5], dtype=float32)
    >>> layer = keras.layers.Dense(3, bias_initializer=keras_inits.Constant(0.1))
    """

    integer_dtypes = True

    def __init__(self, value: Any = 0.0):
        if isinstance(value, (list, tuple, np.ndarray)) or keras.ops.is_tensor(value):
            try:
                array = np.asarray(
                    keras.ops.convert_to_numpy(value) if keras.ops.is_tensor(value) else value
                )
            except (TypeError, ValueError) as e:  # ragged lists, ...
                raise TypeError(
                    "Argument `value` must be a real number or an array-like of real numbers. "
                    f"Received: value={value!r} ({e})"
                ) from None
            if array.dtype.kind not in "biuf":
                raise TypeError(
                    "Argument `value` must be a real number or an array-like of real numbers. "
                    f"Received: value={value!r} (dtype {array.dtype})"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(
                    f"Argument `value` must hold finite real numbers. Received: value={value!r}"
                )
            self.value = array if array.ndim else array.item()
        else:
            self.value = _checks.real("value", value)
            if isinstance(value, (int, np.integer)):
                self.value = int(value)

    def _generate(self, shape, dtype):
        _checks.exact_in("Constant", dtype, self.value, {"value": self.value})
        _checks.value_range(self, shape, dtype)
        if isinstance(self.value, np.ndarray):
            try:
                fits_shape = np.broadcast_shapes(self.value.shape, shape) == tuple(shape)
            except ValueError:
                fits_shape = False
            if not fits_shape:  # (1,) broadcasts with () to (1,), but cannot fill ()
                raise ValueError(
                    f"`Constant` value of shape {self.value.shape} does not broadcast to the "
                    f"requested shape. Received: shape={shape}"
                )
            return ops.broadcast_to(ops.convert_to_tensor(self.value, dtype=dtype), shape)
        return ops.full(shape, self.value, dtype=dtype)

    def _max_abs(self, shape):
        return float(np.max(np.abs(self.value))), {"value": self.value}

    def get_config(self):
        return {"value": keras.saving.serialize_keras_object(self.value)}

    @classmethod
    def from_config(cls, config):
        """Builds a Constant from `get_config()`'s output.

        `value` may be a number, a list or a serialized numpy array or tensor
        (`{"class_name": "__numpy__" or "__tensor__", ...}`); no other object is deserialized,
        so a crafted config cannot make this build anything else.
        """
        _checks.config_keys(cls, config)
        config = dict(config)
        value = config.get("value", 0.0)
        if isinstance(value, dict):
            inner = value.get("config")
            if value.get("class_name") not in ("__numpy__", "__tensor__") or not (
                isinstance(inner, dict) and set(inner) == {"value", "dtype"}
            ):
                raise TypeError(
                    "Argument `value` given as a dict must be a serialized numpy array or "
                    "tensor ({'class_name': '__numpy__', 'config': {'value': ..., 'dtype': ...}})."
                    f" Received: value={value!r}"
                )
            try:
                value = np.asarray(inner["value"], dtype=inner["dtype"])
            except (TypeError, ValueError) as e:
                raise TypeError(
                    f"Argument `value` holds an invalid serialized array ({e}). "
                    f"Received: value={value!r}"
                ) from None
        config["value"] = value
        return cls(**config)


@register("IdentityInitializer")
class Identity(Initializer):
    """The (rectangular) identity matrix: `W[i, j] = gain if i == j else 0`; 2-D only.

    Args:
        gain: multiplicative factor, any finite number (default 1.0). Its sign matters here,
            since the scheme is deterministic: `gain=-1` gives `-I`. For integer dtypes it must
            be an integer in the dtype's range.

    Example:

    >>> keras.ops.convert_to_numpy(keras_inits.Identity(gain=0.5)((2, 3)))
    array([[0.5, 0. , 0. ],
           [0. , 0.5, 0. ]], dtype=float32)
    >>> layer = keras.layers.SimpleRNN(8, recurrent_initializer=keras_inits.Identity())
    """

    integer_dtypes = True
    example_shapes = ((16, 16), (8, 12), (12, 8))

    def __init__(self, gain: float = 1.0):
        self.gain = _checks.real("gain", gain)

    def _check_shape(self, shape):
        _checks.rank(
            "Identity",
            shape,
            exact=2,
            keras=(  # Keras' wording, then ours
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}. "
            ),
        )

    def _generate(self, shape, dtype):
        _checks.exact_in("Identity", dtype, self.gain, {"gain": self.gain})
        _checks.value_range(self, shape, dtype)
        if _sampling.jax_eager_cpu():
            return _sampling.host_eye(*shape, dtype, self.gain)  # jnp.eye is ~8x a fill here
        if self.gain == 1.0:
            return ops.eye(*shape, dtype=dtype)  # one op; Keras multiplies by 1 as well
        # A select, not `eye * gain`: Keras' torch backend converts a Python float through
        # float32 (1e39 -> inf, then 0 * inf = NaN off the diagonal), and TF cannot multiply bools.
        diagonal = ops.not_equal(ops.eye(*shape, dtype="int8"), 0)
        gain = ops.convert_to_tensor(self.gain, dtype=dtype)
        return ops.where(diagonal, gain, ops.zeros((), dtype=dtype))

    def _max_abs(self, shape):
        return abs(self.gain), {"gain": self.gain}

    def get_config(self):
        return {"gain": self.gain}
