"""The bad-input contract, for every registered class (parametrized over `keras_inits.names()`).

- Constructors: a wrong type is a TypeError, a bad value a ValueError, and the message names the
  argument, shows the received value and says what is allowed. Every constructor parameter of
  every class is found with `inspect.signature`, so a new argument is covered automatically.
- `__call__`: shapes of non-negative ints and each scheme's rank/size rules; float dtypes only,
  unless the scheme documents integer support (then the values must convert exactly).
- Edge cases: zero-sized dimensions give an empty tensor; arguments whose values would overflow
  the dtype are refused instead of returning inf.
"""

import inspect
import math
import re

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits._registry import lookup
from tests.conftest import FLOAT_DTYPES, realized_dtype, to_numpy

ALLOWED = re.compile(r"must|[Aa]llowed|one of|[Ee]xpected|Known names")


def _params(cls):
    """The constructor parameters, without `self`, `*args` and `**kwargs`."""
    return [
        p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def _is_random(cls):
    return issubclass(cls, keras_inits.RandomInitializer)


def _check_message(err, param, value):
    msg = str(err)
    assert param in msg, f"message does not name `{param}`: {msg}"
    shown = repr(value) in msg or (isinstance(value, str) and repr(str(value)) in msg)  # np.str_
    assert shown, f"message does not show the received {value!r}: {msg}"
    assert ALLOWED.search(msg), f"message does not say what is allowed: {msg}"


# Values that no parameter of any scheme accepts (bool only where the default is not a bool).
# Several look like numbers or names to a lenient parser: numpy strings, complex scalars, bytes.
UNIVERSALLY_BAD = [
    ("nan", float("nan")),
    ("inf", math.inf),
    ("-inf", -math.inf),
    ("np.float32 nan", np.float32("nan")),
    ("object", object()),
    ("complex", 1j),
    ("np.complex128", np.complex128(1.0)),
    ("np.str_", np.str_("0.5")),
    ("bytes", b"1"),
    ("bool", True),
    ("unknown string", "no-such-value"),
    ("list of str", ["a", "b"]),
    ("dict", {"x": 1}),
    ("set", {1.0}),
]


def test_every_argument_refuses_values_of_no_valid_kind(name):
    cls = lookup(name)
    failures = []
    for param in _params(cls):
        for label, value in UNIVERSALLY_BAD:
            if label == "bool" and isinstance(param.default, bool):
                continue  # `uniform`, `periodic`: True is valid
            kwargs = {**cls.example_config, param.name: value}
            try:
                cls(**kwargs)
            except (TypeError, ValueError) as err:
                try:
                    _check_message(err, param.name, value)
                except AssertionError as e:
                    failures.append(f"{param.name}={label}: {e}")
            except Exception as err:  # noqa: BLE001 - any other exception type is a failure
                failures.append(f"{param.name}={label}: {type(err).__name__}: {err}")
            else:
                failures.append(f"{param.name}={label}: accepted")
    assert not failures, "\n".join(failures)


NO_ARGUMENTS = [n for n in keras_inits.names() if not _params(lookup(n))]
RANDOM = [n for n in keras_inits.names() if _is_random(lookup(n))]


@pytest.mark.parametrize("name", NO_ARGUMENTS)
def test_schemes_without_arguments_refuse_one(name):
    cls = lookup(name)
    with pytest.raises(TypeError):
        cls(1.0)
    with pytest.raises(TypeError, match="gain"):
        cls(gain=1.0)


@pytest.mark.parametrize("name", RANDOM)
def test_every_random_scheme_checks_its_seed(name):
    cls = lookup(name)
    for bad in (-1, 2**32, 2**64):
        with pytest.raises(ValueError, match=rf"seed.*\[0, 4294967295\].*seed={bad}"):
            cls.example(seed=bad)
    for bad in (1.5, "3", np.float64(3.0), [3], np.bool_(True)):
        with pytest.raises(TypeError, match="seed"):
            cls.example(seed=bad)
    # The portable range works on every backend, at both ends.
    for good in (0, 2**32 - 1, np.uint32(7), np.int64(7)):
        x = cls.example(seed=good)(cls.example_shapes[0], dtype="float32")
        assert np.isfinite(to_numpy(x)).all()


# Bad values of a valid kind: (class, kwargs, error, pattern the message must match).
BAD_VALUES = [
    (keras_inits.VarianceScaling, {"scale": 0.0}, ValueError, r"scale.*> 0.*scale=0.0"),
    (keras_inits.VarianceScaling, {"scale": -2.0}, ValueError, r"scale=-2.0"),
    (keras_inits.VarianceScaling, {"mode": "fan_sum"}, ValueError, r"one of.*mode='fan_sum'"),
    (keras_inits.VarianceScaling, {"distribution": "cauchy"}, ValueError,
     r"one of.*distribution='cauchy'"),
    (keras_inits.VarianceScaling, {"input_axes": [0, 0], "output_axes": [1]}, ValueError,
     r"input_axes.*repeat.*\[0, 0\]"),
    (keras_inits.RandomNormal, {"stddev": -0.1}, ValueError, r"stddev.*>= 0.*stddev=-0.1"),
    (keras_inits.CriticalBias, {"sigma_b2": -0.5}, ValueError, r"sigma_b2.*>= 0.*sigma_b2=-0.5"),
    (keras_inits.CriticalInit, {"activation": "tanh", "sigma_b2": -0.5}, ValueError,
     r"sigma_b2.*>= 0.*sigma_b2=-0.5"),
    (keras_inits.PriorBias, {"eps": 0.7}, ValueError, r"eps.*\(0, 0.5\).*eps=0.7"),
    (keras_inits.RandomUniform, {"minval": 1.0, "maxval": 0.0}, ValueError,
     r"maxval.*>=.*minval.*minval=1.0, maxval=0.0"),
    (keras_inits.TruncatedNormal, {"lower": 1.0, "upper": 1.0}, ValueError,
     r"upper.*> `lower`.*lower=1.0, upper=1.0"),
    (keras_inits.TruncatedNormal, {"stddev": -1.0}, ValueError, r"stddev=-1.0"),
    (keras_inits.Sparse, {"sparsity": 1.0}, ValueError, r"sparsity.*\[0, 1\).*sparsity=1.0"),
    (keras_inits.Sparse, {"sparsity": -0.5}, ValueError, r"sparsity=-0.5"),
    (keras_inits.Sparse, {"stddev": -1.0}, ValueError, r"stddev=-1.0"),
    (keras_inits.Orthogonal, {"gain": -1.0}, ValueError, r"gain.*> 0.*gain=-1.0"),
    (keras_inits.Orthogonal, {"gain": 0.0}, ValueError, r"gain=0.0"),
    (keras_inits.BlockOrthogonal, {"gain": -2.0}, ValueError, r"gain=-2.0"),
    (keras_inits.BlockOrthogonal, {"num_blocks": 0}, ValueError, r"num_blocks.*>= 1.*=0"),
    (keras_inits.BlockOrthogonal, {"num_blocks": 2.0}, TypeError, r"num_blocks.*int.*=2.0"),
    (keras_inits.DeltaOrthogonal, {"gain": -1.0}, ValueError, r"gain=-1.0"),
    (keras_inits.ConvolutionOrthogonal, {"gain": -1.0}, ValueError, r"gain=-1.0"),
    (keras_inits.XavierUniform, {"gain": -1.0}, ValueError, r"gain=-1.0"),
    (keras_inits.XavierNormal, {"gain": 1e-200}, ValueError, r"gain.*square.*gain=1e-200"),
    (keras_inits.XavierUniform, {"gain": 1e200}, ValueError, r"gain.*gain=1e\+200"),
    (keras_inits.KaimingNormal, {"mode": "fan_avg"}, ValueError, r"one of.*mode='fan_avg'"),
    (keras_inits.KaimingNormal, {"nonlinearity": "relu6"}, ValueError,
     r"nonlinearity.*one of.*'relu6'"),
    (keras_inits.KaimingUniform, {"negative_slope": 1e300}, ValueError,
     r"negative_slope.*negative_slope=1e\+300"),
    (keras_inits.TF1VarianceScaling, {"factor": 0.0}, ValueError, r"factor=0.0"),
    (keras_inits.TF1VarianceScaling, {"factor": 1.7e308}, ValueError,
     r"factor.*finite.*factor=1.7e\+308"),
    (keras_inits.TF1VarianceScaling, {"mode": "FAN_SUM"}, ValueError, r"mode='FAN_SUM'"),
    (keras_inits.DepthScaled, {"num_layers": 0}, ValueError, r"num_layers.*>= 1.*=0"),
    (keras_inits.DepthScaled, {"layers_per_branch": 1}, ValueError, r"layers_per_branch=1"),
    (keras_inits.DepthScaled, {"rule": "t5"}, ValueError, r"rule.*one of.*rule='t5'"),
    (keras_inits.DepthScaled, {"initializer": "Dense"}, ValueError,
     r"initializer.*Unknown initializer.*initializer='Dense'"),
    (keras_inits.DepthScaled, {"initializer": np.ones((2, 2))}, TypeError, r"initializer"),
    (keras_inits.DepthScaled, {"initializer": keras.layers.Dense(2)}, TypeError,
     r"initializer.*not an initializer"),
    (keras_inits.DepthScaled, {"initializer": "zeros", "seed": 3}, ValueError,
     r"seed.*takes a seed.*seed=3"),
    (keras_inits.Dirac, {"groups": 0}, ValueError, r"groups.*>= 1.*groups=0"),
    (keras_inits.STFT, {"side": "both"}, ValueError, r"side.*one of.*side='both'"),
    (keras_inits.STFT, {"scaling": "power"}, ValueError, r"scaling.*one of.*scaling='power'"),
    (keras_inits.STFT, {"window": "no_such_window"}, ValueError, r"window='no_such_window'"),
    (keras_inits.STFT, {"window": [0.0, 0.0, 0.0]}, ValueError,
     r"window.*all zeros.*scaling=None"),
    (keras_inits.STFT, {"window": [[1.0, 2.0]]}, ValueError, r"1-D.*window=\[\[1.0, 2.0\]\]"),
    (keras_inits.STFT, {"window": ("kaiser", 4.0)}, TypeError, r"window=\('kaiser', 4.0\)"),
    (keras_inits.STFT, {"window": np.array([1.0, 1j])}, TypeError, r"real.*window=array"),
    (keras_inits.Constant, {"value": [1.0, np.nan]}, ValueError, r"value.*finite.*nan"),
    (keras_inits.Constant, {"value": [[1.0], [1.0, 2.0]]}, TypeError, r"value"),
    (keras_inits.Constant, {"value": 10**400}, ValueError, r"value.*finite"),
    (keras_inits.Identity, {"gain": np.array([1.0, 2.0])}, TypeError, r"gain.*scalar"),
]


@pytest.mark.parametrize(
    "cls, kwargs, error, pattern", BAD_VALUES,
    ids=[f"{c.__name__}-{'-'.join(map(str, k))}" for c, k, _, _ in BAD_VALUES],
)
def test_bad_values_are_refused_at_construction(cls, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        cls.example(**kwargs)


def test_bad_values_cover_every_class_with_a_value_argument():
    # A new scheme with a real-valued argument needs a row in BAD_VALUES.
    covered = {cls for cls, *_ in BAD_VALUES}
    for name in keras_inits.names():
        cls = lookup(name)
        value_params = [p for p in _params(cls)
                        if isinstance(p.default, float) and p.name not in ("lower", "upper")]
        if value_params and cls not in covered:
            # Only the ones whose value argument can be out of range: Constant/Identity take any
            # finite number, covered by the generic test; presets have none.
            assert cls in (keras_inits.Constant, keras_inits.Identity), (
                f"{name} has value arguments {[p.name for p in value_params]} but no BAD_VALUES row"
            )


def test_good_edge_values_are_accepted():
    # The boundaries of what is allowed, and the usual spellings, stay accepted.
    keras_inits.Sparse(sparsity=0.0)
    keras_inits.Sparse(sparsity=0.999)
    keras_inits.RandomNormal(stddev=0.0)
    keras_inits.RandomUniform(minval=1.0, maxval=1.0)
    keras_inits.Identity(gain=-1.0)  # deterministic: -I is a meaningful request
    keras_inits.KaimingNormal(negative_slope=-0.5)  # as torch
    keras_inits.VarianceScaling(distribution="normal")  # Keras' alias
    keras_inits.TF1VarianceScaling(mode="fan_avg")  # case-insensitive, as TF1
    keras_inits.BlockOrthogonal(num_blocks=np.int64(4))
    keras_inits.STFT(window=None, scaling=None)
    keras_inits.STFT(window=[0.0, 0.0], scaling=None)
    keras_inits.Constant(np.float32(0.5))
    keras_inits.Constant(keras.ops.ones((2,)))
    keras_inits.DepthScaled(keras_inits.HeNormal, 4, seed=keras.random.SeedGenerator(1))


# --- __call__: shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, error",
    [(None, TypeError), (5, TypeError), ((2, True), TypeError), ((2.0, 3), TypeError),
     ((2, "3"), TypeError), ((2, None), TypeError), ((-2, 3), ValueError),
     ((2, 3, -1), ValueError), ((np.int64(-1), 2), ValueError)],
)
def test_call_refuses_bad_shapes(name, shape, error):
    with pytest.raises(error, match=r"shape=") as info:
        lookup(name).example()(shape, dtype="float32")
    assert repr(shape) in str(info.value) or str(shape) in str(info.value)


def test_call_accepts_shape_spellings(name):
    cls = lookup(name)
    shape = cls.example_shapes[0]
    init = cls.example(**({"seed": 1} if _is_random(cls) else {}))
    expected = to_numpy(init(shape, dtype="float32"))
    for spelling in (list(shape), tuple(np.int64(d) for d in shape), np.array(shape)):
        x = init(spelling, dtype="float32")
        assert tuple(x.shape) == shape
        np.testing.assert_array_equal(to_numpy(x), expected)


# Each scheme's rank and size rules: (class, kwargs, shape, pattern).
SHAPE_RULES = [
    (keras_inits.Orthogonal, {}, (8,), r"rank >= 2.*shape=\(8,\)"),
    (keras_inits.Orthogonal, {}, (), r"rank >= 2.*shape=\(\)"),
    (keras_inits.BlockOrthogonal, {}, (8,), r"rank >= 2"),
    (keras_inits.BlockOrthogonal, {}, (8, 12), r"multiple.*shape=\(8, 12\)"),
    (keras_inits.BlockOrthogonal, {"num_blocks": 5}, (8, 12), r"num_blocks.*divide.*\(8, 12\)"),
    (keras_inits.Identity, {}, (4,), r"rank 2.*shape=\(4,\)"),
    (keras_inits.Identity, {}, (2, 4, 4), r"rank 2.*shape=\(2, 4, 4\)"),
    (keras_inits.DeltaOrthogonal, {}, (3, 8, 4), r"in_channels <= out_channels.*\(3, 8, 4\)"),
    (keras_inits.DeltaOrthogonal, {}, (8, 8), r"rank >= 3.*shape=\(8, 8\)"),
    (keras_inits.ConvolutionOrthogonal, {}, (3, 8, 4), r"in_channels <= out_channels"),
    (keras_inits.ConvolutionOrthogonal, {}, (8,), r"rank >= 3"),
    (keras_inits.Dirac, {}, (4, 4), r"rank >= 3"),
    (keras_inits.Dirac, {"groups": 3}, (3, 4, 4), r"groups.*divide.*shape=\(3, 4, 4\)"),
    (keras_inits.Sparse, {}, (10,), r"rank >= 2"),
    (keras_inits.ZerO, {}, (10,), r"rank >= 2"),
    (keras_inits.STFT, {}, (16, 9), r"rank 3"),
    (keras_inits.STFT, {}, (16, 1, 1), r"2 frequency bins.*shape=\(16, 1, 1\)"),
    (keras_inits.STFT, {"window": [1.0, 2.0, 3.0]}, (4, 1, 3), r"window.*length 3.*\(4, 1, 3\)"),
    (keras_inits.STFT, {"window": "hann"}, (2, 1, 5), r"window 'hann' of length 2.*all zeros"),
    (keras_inits.Constant, {"value": [1.0, 2.0, 3.0]}, (4, 2), r"broadcast.*shape=\(4, 2\)"),
]


@pytest.mark.parametrize(
    "cls, kwargs, shape, pattern", SHAPE_RULES,
    ids=[f"{c.__name__}-{s}" for c, _, s, _ in SHAPE_RULES],
)
def test_scheme_shape_rules(cls, kwargs, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls.example(**kwargs)(shape, dtype="float32")


def test_zero_sized_dimensions_give_empty_tensors(name):
    # Every dimension of every example shape in turn, not just the last one.
    cls = lookup(name)
    init = cls.example()
    for shape in cls.example_shapes:
        for axis in range(len(shape)):
            empty = shape[:axis] + (0,) + shape[axis + 1:]
            for dtype in ("float32", "float16"):
                x = init(empty, dtype=dtype)
                assert tuple(x.shape) == empty
                assert keras.backend.standardize_dtype(x.dtype) == realized_dtype(dtype)
    if cls.integer_dtypes:
        x = init(shape[:-1] + (0,), dtype="int32")
        assert keras.backend.standardize_dtype(x.dtype) == "int32"


def test_smallest_shapes_are_finite(name):
    # Rank 0 and 1 and 1-sized dims: fans of 1, a 1x1 QR, one frequency pair. Either finite
    # values or a rank error naming the shape: never a division by a zero fan.
    cls = lookup(name)
    init = cls.example(**({"seed": 2} if _is_random(cls) else {}))
    for shape in [(), (1,), (1, 1), (1, 1, 1), (1, 1, 2), (2, 1, 2), (1, 1, 1, 1, 1)]:
        try:
            x = init(shape, dtype="float32")
        except ValueError as err:
            assert "shape" in str(err)
            continue
        assert tuple(x.shape) == shape
        assert np.isfinite(to_numpy(x)).all(), f"{name} {shape}"


# --- __call__: dtypes ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["complex64", "float8_e4m3fn", "string", "not_a_dtype", 3,
                                   object()])
def test_non_numeric_dtypes_are_refused(name, dtype):
    with pytest.raises(TypeError, match=r"dtype") as info:
        lookup(name).example()(lookup(name).example_shapes[0], dtype=dtype)
    assert "Allowed dtypes" in str(info.value)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "bool"])
def test_integer_dtypes_only_where_documented(name, dtype):
    cls = lookup(name)
    init = cls.example()
    shape = cls.example_shapes[0]
    if not cls.integer_dtypes:
        with pytest.raises(TypeError, match=rf"dtype.*Received: dtype='{dtype}'"):
            init(shape, dtype=dtype)
        return
    x = init(shape, dtype=dtype)
    assert keras.backend.standardize_dtype(x.dtype) == realized_dtype(dtype)
    float_values = to_numpy(init(shape, dtype="float32"))
    np.testing.assert_array_equal(to_numpy(x), float_values)  # exact, nothing truncated


@pytest.mark.parametrize(
    "init, dtype, pattern",
    [
        (keras_inits.Constant(0.5), "int32", r"value=0.5.*not all integers.*dtype='int32'"),
        (keras_inits.Constant(300), "int8", r"value=300.*\[-128, 127\]"),
        (keras_inits.Constant(-1), "uint8", r"value=-1.*\[0, 255\]"),
        (keras_inits.Constant(2), "bool", r"value=2.*\[0, 1\]"),
        (keras_inits.Constant(2**70), "int64", r"value=1180591620717411303424"),
        (keras_inits.Constant([1.0, 2.5]), "int16", r"value=array\(\[1. , 2.5\]\)"),
        (keras_inits.Identity(gain=0.5), "int32", r"gain=0.5"),
        (keras_inits.Identity(gain=-1.0), "uint8", r"gain=-1.0"),
    ],
)
def test_integer_values_must_convert_exactly(init, dtype, pattern):
    with pytest.raises(ValueError, match=pattern):
        init((3, 3), dtype=dtype)


def test_exact_integer_values_are_kept():
    for init, dtype, value in [(keras_inits.Constant(7), "int8", 7),
                               (keras_inits.Constant(255), "uint8", 255),
                               (keras_inits.Constant(1), "bool", 1),
                               (keras_inits.Constant(-3.0), "int32", -3)]:
        x = to_numpy(init((2, 2), dtype=dtype))
        np.testing.assert_array_equal(x, np.full((2, 2), value))
    np.testing.assert_array_equal(to_numpy(keras_inits.Identity(gain=-2.0)((2, 2), "int8")),
                                  -2 * np.eye(2))


# --- values that would overflow the dtype ---------------------------------------------------------

OVERFLOWS = [
    (keras_inits.Constant(1e5), "float16", "value=100000.0"),
    (keras_inits.Constant([1.0, -7e4]), "float16", r"value=array"),
    (keras_inits.Constant(1e39), "float32", "value=1e\\+39"),
    (keras_inits.Constant(1e39), "bfloat16", "value=1e\\+39"),
    (keras_inits.Identity(gain=1e5), "float16", "gain=100000.0"),
    (keras_inits.Orthogonal(gain=1e6), "float16", "gain=1000000.0"),
    (keras_inits.BlockOrthogonal(gain=1e39), "float32", "gain=1e\\+39"),
    (keras_inits.DeltaOrthogonal(gain=1e6), "float16", "gain="),
    (keras_inits.ConvolutionOrthogonal(gain=1e6), "float16", "gain="),
    (keras_inits.Sparse(stddev=1e4), "float16", "stddev=10000.0"),
    (keras_inits.XavierUniform(gain=1e6), "float16", "gain=1000000.0"),
    (keras_inits.XavierNormal(gain=1e40), "float32", "gain=1e\\+40"),
    (keras_inits.TF1VarianceScaling(factor=1e12), "float16", "factor=1000000000000.0"),
    (keras_inits.TF1VarianceScaling(factor=1e80, uniform=True), "float32", "factor=1e\\+80"),
    (keras_inits.STFT(window=[1e5, 1.0], scaling=None), "float16", "window="),
    (keras_inits.DepthScaled(keras_inits.Constant(2e5), 1), "float16", "value=200000.0"),
    (keras_inits.RandomNormal(stddev=1e5), "float16", "stddev"),
    (keras_inits.RandomNormal(mean=1e39), "float32", "mean"),
    (keras_inits.TruncatedNormal(stddev=1e39), "float32", "stddev"),
    (keras_inits.RandomUniform(0.0, 1e6), "float16", "maxval"),
    # Both bounds fit float32, their difference does not: U = minval + (maxval - minval) u.
    (keras_inits.RandomUniform(-3e38, 3e38), "float32", "maxval"),
    (keras_inits.VarianceScaling(scale=1e80), "float32", "scale"),
]


@pytest.mark.parametrize("init, dtype, pattern", OVERFLOWS)
def test_arguments_that_overflow_the_dtype_are_refused(init, dtype, pattern):
    shape = (2, 2) if not isinstance(init, (keras_inits.DeltaOrthogonal,
                                            keras_inits.ConvolutionOrthogonal,
                                            keras_inits.STFT)) else (2, 1, 2)
    with pytest.raises(ValueError, match=rf"overflow.*{pattern}.*dtype='{dtype}'"):
        init(shape, dtype=dtype)
    # With no values to make, nothing overflows.
    assert tuple(init(shape[:-1] + (0,), dtype=dtype).shape) == shape[:-1] + (0,)


WIDE = [
    keras_inits.Constant(1e39),
    keras_inits.Identity(gain=-1e39),
    keras_inits.Orthogonal(gain=1e39, seed=0),
    keras_inits.DeltaOrthogonal(gain=1e39, seed=0),
    keras_inits.Sparse(stddev=1e39, seed=0),
    keras_inits.XavierNormal(gain=1e40, seed=0),
    keras_inits.TF1VarianceScaling(factor=1e80, seed=0),
    keras_inits.DepthScaled(keras_inits.Constant(1e39), 2),
    # U[-l, l] with l beyond float32 (Keras' TF uniform converts its bounds through float32;
    # keras_inits' TF sampler does not).
    keras_inits.XavierUniform(gain=1e40, seed=0),
    keras_inits.TF1VarianceScaling(factor=1e80, uniform=True, seed=0),
]


@pytest.mark.parametrize("init", WIDE)
def test_arguments_beyond_float32_work_in_float64(init):
    shape = (2, 1, 2) if isinstance(init, keras_inits.DeltaOrthogonal) else (2, 2)
    if realized_dtype("float64") != "float64":
        # JAX without x64 makes float32 for float64: refused, and the message says why.
        with pytest.raises(ValueError, match=r"makes float32 for float64.*overflow"):
            init(shape, dtype="float64")
        return
    x = to_numpy(init(shape, dtype="float64"))
    assert np.isfinite(x).all() and np.abs(x).max() > 3.5e38


def test_jax_without_x64_checks_the_dtype_it_really_makes():
    # float64 is float32 on JAX without x64: 1e39 must then be refused, not made inf.
    init = keras_inits.Constant(1e39)
    if realized_dtype("float64") == "float64":
        assert to_numpy(init((2,), dtype="float64"))[0] == 1e39
    else:
        with pytest.raises(ValueError, match=r"makes float32 for float64"):
            init((2,), dtype="float64")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_extreme_valid_arguments_stay_finite(dtype):
    # At the edge of what the dtype holds, and at tiny scales (underflow gives zeros, not NaN).
    big = {"float16": 6e4, "bfloat16": 3e38, "float32": 3e38, "float64": 3e38}[dtype]
    if realized_dtype(dtype) != dtype:
        big = 3e38
    for init in [keras_inits.Constant(big), keras_inits.Identity(gain=-big),
                 keras_inits.Orthogonal(gain=big / 2, seed=0),
                 keras_inits.Sparse(stddev=big / 20, seed=0),
                 keras_inits.XavierUniform(gain=5e-162, seed=0),
                 keras_inits.TF1VarianceScaling(factor=1e-300, seed=0),
                 keras_inits.RandomNormal(stddev=5e-324, seed=0),
                 keras_inits.VarianceScaling(scale=5e-324, seed=0),
                 keras_inits.KaimingNormal(negative_slope=1e100, seed=0),
                 keras_inits.STFT(window=[1e200, 2e200, 1e200])]:
        shape = (3, 1, 3) if isinstance(init, keras_inits.STFT) else (4, 3)
        x = to_numpy(init(shape, dtype=dtype))
        assert np.isfinite(x).all(), f"{init!r} {dtype}"


# --- TruncatedNormal bounds -----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"upper": 1e39}, {"lower": -1e300}])
def test_truncated_normal_with_a_huge_bound_is_one_sided(kwargs):
    # A bound beyond float32's range means "no truncation on that side": valid, finite output.
    x = to_numpy(keras_inits.TruncatedNormal(stddev=1.0, seed=0, **kwargs)((64, 64), "float32"))
    assert np.isfinite(x).all()
    assert x.min() >= -2.0 - 1e-6 if "upper" in kwargs else x.max() <= 2.0 + 1e-6


def test_truncated_normal_far_in_a_tail_is_refused_or_right():
    stats = pytest.importorskip("scipy.stats")
    lower, upper, n = 8.0, 9.0, 4096
    try:
        x = to_numpy(keras_inits.TruncatedNormal(stddev=1.0, seed=0, lower=lower, upper=upper)(
            (n,), "float32"))
    except ValueError as err:
        assert "lower" in str(err) and "upper" in str(err)
        return
    law = stats.truncnorm(lower, upper)
    # Fixed seed; the sample mean's std is law.std() / sqrt(n): 5 of those is a 6e-7 false alarm.
    assert abs(x.mean() - law.mean()) < 5 * law.std() / math.sqrt(n)
    assert x.std() == pytest.approx(law.std(), rel=0.2)
