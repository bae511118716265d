"""Property tests (hypothesis): every registered initializer x random shapes x dtypes x arguments.

For each class in `keras_inits.names()`, hypothesis draws a shape (rank 0-5, dims 0-64, at most
4096 elements so that an example stays in milliseconds), a dtype and constructor arguments
(the class's `example_config`, with any argument replaced by a value from a per-argument
strategy that mixes valid, boundary and invalid values). The outcome must be one of:

- a TypeError/ValueError from the constructor whose message names an argument that was changed;
- a TypeError/ValueError from the call whose message names "shape" or a changed argument;
- a tensor of exactly that shape and dtype, all finite, within the scheme's documented bounds.

Any other exception, a wrong shape or dtype, a NaN or inf, or a value out of bounds fails.
`derandomize=True` and no example database make every run draw the same examples.
"""

import inspect
import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import keras_inits
from keras_inits import _checks
from keras_inits._registry import lookup
from keras_inits.schemes.variance import TRUNCATED_STD
from tests.conftest import FLOAT_DTYPES, realized_dtype, to_numpy

MAX_SIZE = 4096
# JAX compiles every new shape (about 1 s per example for the QR-based schemes on 2 cores), so
# it gets fewer examples to stay within about a minute; TF and torch run eagerly in milliseconds.
MAX_EXAMPLES = 40 if keras.backend.backend() == "jax" else 150

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=MAX_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)


@st.composite
def shapes(draw):
    """Rank 0-5, dims 0-64, at most MAX_SIZE elements (a 0 dim leaves the others bounded too)."""
    dims, size = [], 1
    for _ in range(draw(st.integers(0, 5))):
        d = draw(st.integers(0, min(64, MAX_SIZE // size)))
        dims.append(d)
        size *= max(d, 1)
    return tuple(dims)


# Floats that reach every check: NaN/inf, signed zeros, subnormals, float16/float32 edges.
NASTY = [0.0, -0.0, 5e-324, 1e-300, 1e-8, 0.5, 1.0, -1.0, 2.0, 0.999, 1.0000001, 6e4, 65504.0,
         65520.0, 7e4, 1e5, 3.4e38, 1e39, 1e154, 1e200, 1.7e308, math.nan, math.inf, -math.inf]
REALS = st.one_of(st.floats(-10, 10), st.sampled_from(NASTY), st.floats())
NOT_A_NUMBER = st.sampled_from(["1.0", None, [1.0], True, 1j, object()])


def _real(lo=None, hi=None):
    return st.one_of(REALS, NOT_A_NUMBER) if lo is None else st.one_of(
        st.floats(lo, hi), st.sampled_from(NASTY), NOT_A_NUMBER)


# Per-argument strategies, by parameter name. An argument without an entry (a new one) gets
# GENERIC, so a new argument is fuzzed too.
GENERIC = st.one_of(REALS, NOT_A_NUMBER, st.integers(-3, 70), st.text(max_size=8),
                    st.lists(st.integers(-2, 6), max_size=3))
STRATEGIES = {
    "gain": _real(),
    "mean": _real(),
    "stddev": _real(),
    "minval": _real(),
    "maxval": _real(),
    "scale": _real(),
    "factor": _real(),
    "negative_slope": _real(),
    "sparsity": _real(-0.5, 1.5),
    "lower": _real(-8, 8),
    "upper": _real(-8, 8),
    "value": st.one_of(REALS, NOT_A_NUMBER, st.integers(-300, 300),
                       st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=4),
                       st.lists(st.integers(-3, 3), min_size=1, max_size=3).map(np.array)),
    "seed": st.one_of(st.none(), st.integers(-3, 2**33), st.sampled_from([0, 2**32 - 1]),
                      st.integers(0, 1000).map(keras.random.SeedGenerator),
                      st.sampled_from([1.5, "3", True])),
    "mode": st.sampled_from(["fan_in", "fan_out", "fan_avg", "FAN_IN", "FAN_AVG", "fan_sum",
                             "", 3]),
    "distribution": st.sampled_from(["truncated_normal", "untruncated_normal", "uniform",
                                     "normal", "Uniform", "cauchy", None]),
    "nonlinearity": st.sampled_from(["relu", "leaky_relu", "tanh", "selu", "gelu", "swish",
                                     "linear", "relu6", "", 1.0]),
    "rule": st.sampled_from(["gpt2", "fixup", "t5", None]),
    "side": st.sampled_from(["real", "imag", "both", 0]),
    "scaling": st.sampled_from(["density", "spectrum", None, "power"]),
    "window": st.one_of(st.sampled_from(["hann", "hamming", "boxcar", "bartlett", None,
                                         "no_such_window", 3.0]),
                        st.lists(st.floats(-2, 2), max_size=6)),
    "periodic": st.one_of(st.booleans(), st.sampled_from([1, "yes"])),
    "uniform": st.one_of(st.booleans(), st.sampled_from([0, "no"])),
    "num_blocks": st.one_of(st.none(), st.integers(-1, 70), st.sampled_from([2.0])),
    "groups": st.one_of(st.integers(-1, 70), st.sampled_from([1.5])),
    "num_layers": st.one_of(st.integers(-1, 100), st.sampled_from([2.5, None])),
    "layers_per_branch": st.integers(0, 6),
    "initializer": st.sampled_from(["he_normal", "zeros", "orthogonal", "keras_inits>Sparse",
                                    "glorot_uniform", "no_such_initializer", None, 3.0]),
    "input_axes": st.one_of(st.none(), st.lists(st.integers(-6, 6), max_size=3)),
    "output_axes": st.one_of(st.none(), st.lists(st.integers(-6, 6), max_size=3)),
}

# Caps on drawn argument values, per (class, argument); none are needed now that every
# magnitude-setting argument has an overflow check (`_max_abs`).
PENDING_CAPS: dict = {}


def _cap(value, limit):
    if isinstance(value, float) and math.isfinite(value) and abs(value) > limit:
        return math.copysign(limit, value)
    return value


def _params(cls):
    return [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _names_argument(message, names):
    return any(f"`{n}`" in message or f"{n}=" in message for n in names)


def _bound(init, shape):
    """A bound on |values| that the scheme documents, or None."""
    max_abs = getattr(init, "_max_abs", None)
    if max_abs is not None:
        bound = max_abs(shape)
        return None if bound is None else bound[0]
    if isinstance(init, keras_inits.VarianceScaling):
        std = math.sqrt(init.variance(shape))
        return std * {"uniform": math.sqrt(3.0), "truncated_normal": 2.0 / TRUNCATED_STD,
                      "untruncated_normal": _checks.NORMAL_SIGMAS}[init.distribution]
    if isinstance(init, keras_inits.RandomUniform):
        return max(abs(init.minval), abs(init.maxval))
    if isinstance(init, keras_inits.TruncatedNormal):
        return abs(init.mean) + max(abs(init.lower), abs(init.upper)) * init.stddev
    if isinstance(init, keras_inits.RandomNormal):
        return abs(init.mean) + _checks.NORMAL_SIGMAS * init.stddev
    return None


# Half the smallest subnormal of each dtype: what rounding to the dtype may add or remove in
# absolute terms near 0 (values below it flush to 0).
TINY = {"float16": 3e-8, "bfloat16": 5e-41, "float32": 7e-46, "float64": 0.0}


def _check_values(init, shape, dtype, values):
    # Relative rounding of the narrowest dtype (bfloat16: 8 significant bits), plus TINY.
    tol = 2.0**-7
    tiny = TINY.get(dtype, 0.0)
    bound = _bound(init, shape)
    if bound is not None:
        assert np.abs(values).max() <= bound * (1 + tol) + tiny, (bound, np.abs(values).max())
    if isinstance(init, keras_inits.RandomUniform):
        lo, hi = init.minval, init.maxval
        assert values.min() >= lo - tol * abs(lo) - tiny
        assert values.max() <= hi + tol * abs(hi) + tiny
    if isinstance(init, keras_inits.Zeros):
        assert not values.any()
    if isinstance(init, keras_inits.Ones):
        assert (values == 1).all()
    if isinstance(init, keras_inits.Constant):
        expected = np.broadcast_to(np.asarray(init.value, dtype="float64"), shape)
        np.testing.assert_allclose(values, expected, rtol=tol, atol=tiny)
    if isinstance(init, keras_inits.Identity):
        np.testing.assert_allclose(values, init.gain * np.eye(*shape), rtol=tol, atol=tiny)
    if isinstance(init, keras_inits.Sparse) and len(shape) >= 2:
        columns = values.reshape(-1, shape[-1])
        assert ((columns == 0).sum(axis=0) >= init.zeros_per_column(shape)).all()


def _run_one(name, data):
    cls = lookup(name)
    kwargs = dict(cls.example_config)
    changed = []
    for param in _params(cls):
        if data.draw(st.booleans(), label=f"change {param.name}"):
            value = data.draw(STRATEGIES.get(param.name, GENERIC), label=param.name)
            value = _cap(value, PENDING_CAPS.get((name, param.name), math.inf))
            kwargs[param.name] = value
            changed.append(param.name)
    shape = data.draw(st.one_of(st.sampled_from(cls.example_shapes), shapes()), label="shape")
    dtypes = FLOAT_DTYPES + (["int32", "uint8", "bool"] if cls.integer_dtypes else [])
    dtype = data.draw(st.sampled_from(dtypes + [None]), label="dtype")

    try:
        init = cls(**kwargs)
    except (TypeError, ValueError) as err:
        assert changed, f"the example config itself was refused: {err}"
        assert _names_argument(str(err), changed), f"{changed}: {err}"
        event("refused by the constructor")
        return
    try:
        x = init(shape, dtype=dtype)
    except (TypeError, ValueError) as err:
        names = changed + ["shape"]
        assert _names_argument(str(err), names) or "shape" in str(err), f"{names}: {err}"
        event("refused by the call")
        return
    expected_dtype = realized_dtype(dtype or keras.backend.floatx())
    assert tuple(x.shape) == shape
    assert keras.backend.standardize_dtype(x.dtype) == expected_dtype
    values = to_numpy(x)
    assert np.isfinite(values).all(), f"{init!r} gave non-finite values for {shape} {dtype}"
    if values.size:
        _check_values(init, shape, expected_dtype, values)
    event("made a non-empty tensor" if values.size else "made an empty tensor")


@pytest.mark.slow
@SETTINGS
@given(data=st.data())
def test_any_arguments_shape_and_dtype(name, data):
    _run_one(name, data)


def test_shapes_strategy_respects_the_size_cap():
    @settings(derandomize=True, database=None, deadline=None, max_examples=200)
    @given(shapes())
    def run(shape):
        assert len(shape) <= 5 and all(0 <= d <= 64 for d in shape)
        assert math.prod(shape) <= MAX_SIZE

    run()
