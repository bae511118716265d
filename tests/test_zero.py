"""ZerO: the exact deterministic structure (partial identity / scaled Hadamard), any shape."""

import math

import keras
import numpy as np
import pytest
import torch
from scipy.linalg import hadamard

import keras_inits
from tests.conftest import to_numpy


def _reference(fan_in, fan_out):
    """The paper's `ZerO_Init_on_matrix` on torch's (out, in) matrix, transposed to (in, out)."""
    m, n = fan_out, fan_in
    if m <= n:
        w = torch.nn.init.eye_(torch.empty(m, n))
    else:
        clog_m = math.ceil(math.log2(m))
        p = 2**clog_m
        h = torch.tensor(hadamard(p), dtype=torch.float64) / 2 ** (clog_m / 2)
        w = torch.nn.init.eye_(torch.empty(m, p, dtype=torch.float64)) @ h @ torch.nn.init.eye_(
            torch.empty(p, n, dtype=torch.float64)
        )
    return w.numpy().T


@pytest.mark.parametrize(
    "shape", [(8, 8), (16, 4), (4, 16), (5, 12), (12, 5), (1, 1), (1, 7), (3, 33), (64, 64)]
)
def test_matches_reference_code(shape):
    ours = to_numpy(keras_inits.ZerO()(shape, dtype="float64"))
    tolerance = 1e-12 if keras.backend.standardize_dtype(
        keras.ops.zeros(1, "float64").dtype) == "float64" else 1e-7
    np.testing.assert_allclose(ours, _reference(*shape), atol=tolerance)


def test_rule():
    # n <= m: partial identity. n > m: H_p[:m, :n] / sqrt(p), p = 2**ceil(log2 n).
    np.testing.assert_array_equal(to_numpy(keras_inits.ZerO()((6, 4))), np.eye(6, 4))
    w = to_numpy(keras_inits.ZerO()((3, 5), dtype="float32"))
    np.testing.assert_allclose(w, hadamard(8)[:3, :5] / math.sqrt(8), atol=1e-7)
    assert set(np.round(np.abs(w.ravel()) * math.sqrt(8), 6)) == {1.0}


def test_widening_keeps_every_input():
    # Full row rank m for every m < n <= 64: no input direction is lost.
    for m in range(1, 33):
        for n in range(m + 1, 65, 7):
            w = to_numpy(keras_inits.ZerO()((m, n), dtype="float32"))
            assert np.linalg.matrix_rank(w) == m, (m, n)


@pytest.mark.parametrize("shape", [(3, 3, 8, 16), (3, 16, 8), (4, 2, 5, 5), (1, 1, 4, 4)])
def test_conv_kernel_centre_tap(shape):
    w = to_numpy(keras_inits.ZerO()(shape, dtype="float32"))
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    np.testing.assert_allclose(w[centre], _reference(shape[-2], shape[-1]), atol=1e-7)
    rest = w.copy()
    rest[centre] = 0
    assert not rest.any()


def test_deterministic_and_named():
    assert keras_inits.ZerO().get_config() == {}
    for name in ("ZerO", "zer_o", "ZerOInit", "keras_inits>ZerO"):
        assert type(keras_inits.get(name)) is keras_inits.ZerO
    assert type(keras_inits.get("zero")) is keras_inits.Zeros  # Keras' "zero" stays Zeros


def test_rank_1_is_refused():
    with pytest.raises(ValueError, match=r"rank >= 2"):
        keras_inits.ZerO()((8,))
