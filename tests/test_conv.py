"""DeltaOrthogonal, ConvolutionOrthogonal and Dirac: exact structure and layer-level identities."""

import keras
import numpy as np
import pytest
import torch

import keras_inits
from keras_inits.schemes.conv import centre_mask
from tests.conftest import to_numpy

CONV_LAYERS = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}


def _centre(kernel):
    return tuple((k - 1) // 2 for k in kernel)


# --- DeltaOrthogonal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, gain",
    [((3, 8, 16), 1.0), ((3, 3, 8, 8), 2.0), ((4, 4, 4, 16), 1.0), ((3, 3, 3, 2, 6), 0.5),
     ((1, 5, 5), 1.0), ((2, 1, 3, 3), 1.0)],
)
def test_delta_orthogonal_structure(shape, gain):
    w = to_numpy(keras_inits.DeltaOrthogonal(gain=gain, seed=0)(shape, dtype="float32"))
    centre = _centre(shape[:-2])
    q = w[centre]
    # Orthonormal rows (in <= out) times gain, to float32 precision.
    np.testing.assert_allclose(q @ q.T, gain**2 * np.eye(shape[-2]), atol=1e-5)
    rest = w.copy()
    rest[centre] = 0
    assert not rest.any()  # every other tap is exactly zero


def test_delta_orthogonal_centre_matches_jax():
    jax_init = pytest.importorskip("jax").nn.initializers.delta_orthogonal()
    import jax

    for shape in [(4, 3, 3), (4, 2, 3, 5), (2, 3, 4, 2, 2)]:
        ours = to_numpy(keras_inits.DeltaOrthogonal(seed=0)(shape, dtype="float32")) != 0
        theirs = np.asarray(jax_init(jax.random.key(0), shape)) != 0
        np.testing.assert_array_equal(ours.any(axis=(-2, -1)), theirs.any(axis=(-2, -1)))


def test_delta_orthogonal_preserves_norm_with_same_padding():
    x = np.random.default_rng(0).standard_normal((2, 7, 7, 4)).astype("float32")
    layer = keras.layers.Conv2D(
        8, 3, padding="same", use_bias=False, kernel_initializer=keras_inits.DeltaOrthogonal(seed=1)
    )
    y = to_numpy(layer(x))
    np.testing.assert_allclose(
        np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5
    )


@pytest.mark.parametrize(
    "cls", [keras_inits.DeltaOrthogonal, keras_inits.ConvolutionOrthogonal]
)
@pytest.mark.parametrize(
    "shape, match",
    [((3, 3, 16, 8), r"in_channels <= out_channels.*shape=\(3, 3, 16, 8\)"),
     ((8, 16), r"rank >= 3")],
)
def test_shape_errors(cls, shape, match):
    with pytest.raises(ValueError, match=match):
        cls(seed=0)(shape)


# --- ConvolutionOrthogonal ----------------------------------------------------------------------


def _circular_conv(x, w):
    """`conv(x, w)` with circular padding: wrap k - 1 positions at the end, then "valid"."""
    kernel = w.shape[:-2]
    pads = [(0, 0)] + [(0, k - 1) for k in kernel] + [(0, 0)]
    xp = np.pad(x, pads, mode="wrap")
    return to_numpy(keras.ops.conv(xp.astype("float32"), w.astype("float32"), padding="valid"))


@pytest.mark.parametrize(
    "shape, gain",
    [
        ((3, 4, 8), 1.0),
        ((3, 3, 4, 4), 1.0),
        ((3, 3, 2, 6), 2.0),
        ((4, 4, 3, 3), 1.0),  # even kernel
        ((3, 1, 4, 4), 1.0),  # unequal sizes
        ((2, 2, 2, 2, 4), 1.0),  # Conv3D
        ((1, 1, 3, 5), 1.0),
    ],
)
def test_convolution_orthogonal_circular_conv_preserves_norm(shape, gain):
    w = to_numpy(keras_inits.ConvolutionOrthogonal(gain=gain, seed=0)(shape, dtype="float32"))
    assert w.shape == shape
    spatial = tuple(max(6, k) for k in shape[:-2])
    x = np.random.default_rng(1).standard_normal((3, *spatial, shape[-2]))
    y = _circular_conv(x, w)
    assert y.shape == (3, *spatial, shape[-1])
    norms_x = np.linalg.norm(x.reshape(3, -1), axis=1)
    norms_y = np.linalg.norm(y.reshape(3, -1), axis=1)
    # Exact isometry; float32 rounding through a few matmuls stays ~1e-6.
    np.testing.assert_allclose(norms_y, gain * norms_x, rtol=1e-5)


def test_convolution_orthogonal_is_an_isometry_on_every_input():
    # The full circular-convolution operator on a 5 x 5 image (2 -> 6 channels) as a matrix:
    # its rows (images of the basis vectors) are orthonormal, stronger than a few inputs.
    # (Shapes reused from above: on JAX every new shape compiles its own kernels.)
    shape = (3, 3, 2, 6)
    w = to_numpy(keras_inits.ConvolutionOrthogonal(seed=3)(shape, dtype="float32"))
    size = 5 * 5 * 2
    basis = np.eye(size).reshape(size, 5, 5, 2)
    op = _circular_conv(basis, w).reshape(size, -1)
    np.testing.assert_allclose(op @ op.T, np.eye(size), atol=1e-5)


def test_convolution_orthogonal_spreads_over_taps():
    # Unlike DeltaOrthogonal, several taps carry weight. (Not necessarily all: a projection
    # whose random mask is all ones or all zeros, probability 2 / 2**out each, as in TF1,
    # empties the last tap of its axis.)
    w = to_numpy(keras_inits.ConvolutionOrthogonal(seed=0)((3, 3, 2, 6), dtype="float32"))
    assert (np.abs(w).sum(axis=(-2, -1)) > 1e-3).sum() > 1


def test_convolution_orthogonal_draws_vary_with_seed():
    a = to_numpy(keras_inits.ConvolutionOrthogonal(seed=0)((3, 3, 4, 4)))
    b = to_numpy(keras_inits.ConvolutionOrthogonal(seed=1)((3, 3, 4, 4)))
    assert not np.allclose(a, b)


def test_tf1_names_resolve():
    for name in ("ConvolutionOrthogonal2D", "convolution_orthogonal", "ConvolutionOrthogonal1D"):
        assert type(keras_inits.get(name)) is keras_inits.ConvolutionOrthogonal
    assert type(keras_inits.get("ConvolutionDeltaOrthogonal")) is keras_inits.DeltaOrthogonal
    assert type(keras.initializers.get("delta_orthogonal")) is keras_inits.DeltaOrthogonal


# --- Dirac --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, groups",
    [((3, 4, 4), 1), ((3, 3, 4, 6), 1), ((3, 3, 6, 4), 1), ((5, 3, 2, 8), 2), ((3, 3, 3, 2, 4), 2),
     ((3, 2, 6), 3)],
)
def test_dirac_matches_torch_on_odd_kernels(shape, groups):
    ours = to_numpy(keras_inits.Dirac(groups)(shape, dtype="float32"))
    rank = len(shape)
    torch_shape = (shape[-1], shape[-2], *shape[:-2])  # (out, in/groups, *k)
    theirs = torch.nn.init.dirac_(torch.empty(torch_shape), groups=groups).numpy()
    # torch (out, in, *k) -> Keras (*k, in, out)
    theirs = np.transpose(theirs, (*range(2, rank), 1, 0))
    np.testing.assert_array_equal(ours, theirs)


def test_dirac_even_kernel_uses_left_middle_tap():
    w = to_numpy(keras_inits.Dirac()((4, 2, 2), dtype="float32"))
    np.testing.assert_array_equal(w[1], np.eye(2))  # (4 - 1) // 2 = 1; torch's k // 2 = 2
    assert not w[[0, 2, 3]].any()


@pytest.mark.parametrize(
    "rank, kernel, channels, groups",
    [
        (1, 3, 4, 1),
        (1, 4, 4, 1),  # even kernel: "same" padding aligns tap (k - 1) // 2
        (1, 5, 6, 2),
        (2, 3, 4, 1),
        (2, (2, 4), 3, 1),
        (2, 3, 6, 3),
        (3, 3, 2, 1),
    ],
)
def test_dirac_conv_layer_returns_its_input(rank, kernel, channels, groups):
    layer = CONV_LAYERS[rank](
        channels, kernel, padding="same", groups=groups, use_bias=False,
        kernel_initializer=keras_inits.Dirac(groups),
    )
    x = np.random.default_rng(0).standard_normal((2, *(5,) * rank, channels)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), x, rtol=0, atol=1e-6)


def test_dirac_extra_outputs_are_zero_and_extra_inputs_dropped():
    x = np.random.default_rng(0).standard_normal((1, 6, 3)).astype("float32")
    wide = keras.layers.Conv1D(5, 3, padding="same", use_bias=False, kernel_initializer="dirac")
    y = to_numpy(wide(x))
    np.testing.assert_allclose(y[..., :3], x, atol=1e-6)
    assert not y[..., 3:].any()


def test_dirac_integer_dtype_and_mask_helper():
    w = keras_inits.Dirac()((3, 3, 2, 2), dtype="int32")
    assert keras.backend.standardize_dtype(w.dtype) == "int32"
    assert centre_mask((3, 4)).squeeze().tolist()[1][1] == 1.0


@pytest.mark.parametrize(
    "groups, shape, error, match",
    [
        (0, None, ValueError, r"groups=0"),
        (1.5, None, TypeError, r"groups=1.5"),
        (3, (3, 2, 8), ValueError, r"groups=3, shape=\(3, 2, 8\)"),
        (1, (4, 4), ValueError, r"rank >= 3"),
    ],
)
def test_dirac_errors(groups, shape, error, match):
    with pytest.raises(error, match=match):
        keras_inits.Dirac(groups)(shape)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="jax.jit traceability")
@pytest.mark.parametrize(
    "init", [keras_inits.DeltaOrthogonal(seed=0), keras_inits.ConvolutionOrthogonal(seed=0),
             keras_inits.Dirac()],
)
def test_traceable_by_jax_jit(init):
    import jax

    shape = (3, 3, 4, 4)
    np.testing.assert_allclose(
        np.asarray(jax.jit(lambda: init(shape))()), to_numpy(init(shape)), atol=1e-6
    )
