"""Statistical parity with Keras' built-ins for every scheme the two share.

Each random scheme is drawn with fixed seeds, 50,000 samples from ours and from Keras', and
compared three ways: a two-sample KS test against Keras' sample, a one-sample KS test against the
exact distribution (scipy), and mean/std/bounds with tolerances derived from the sample size.
Deterministic schemes must match exactly (to float32 rounding).
"""

import math

import keras
import numpy as np
import pytest
from scipy import stats

import keras_inits
from tests.conftest import ks_critical, to_numpy

SHAPE = (200, 250)  # 50,000 samples; fan_in 200, fan_out 250
N = math.prod(SHAPE)
FAN_IN, FAN_OUT = SHAPE
TRUNC = 0.87962566103423978  # std of N(0, 1) truncated to (-2, 2)


def _exact(name, **kw):
    """The exact law of each shared scheme at SHAPE (scipy frozen distribution)."""
    fan = {"fan_in": FAN_IN, "fan_out": FAN_OUT, "fan_avg": (FAN_IN + FAN_OUT) / 2}

    def vs(scale, mode, distribution):
        std = math.sqrt(scale / fan[mode])
        if distribution == "uniform":
            return stats.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std)
        if distribution == "untruncated_normal":
            return stats.norm(0, std)
        return stats.truncnorm(-2, 2, scale=std / TRUNC)

    table = {
        "RandomNormal": lambda: stats.norm(0, 0.05),
        "RandomUniform": lambda: stats.uniform(-0.05, 0.1),
        "TruncatedNormal": lambda: stats.truncnorm(-2, 2, scale=0.05),
        "GlorotUniform": lambda: vs(1, "fan_avg", "uniform"),
        "GlorotNormal": lambda: vs(1, "fan_avg", "truncated_normal"),
        "HeUniform": lambda: vs(2, "fan_in", "uniform"),
        "HeNormal": lambda: vs(2, "fan_in", "truncated_normal"),
        "LecunUniform": lambda: vs(1, "fan_in", "uniform"),
        "LecunNormal": lambda: vs(1, "fan_in", "truncated_normal"),
        "VarianceScaling": lambda: vs(kw["scale"], kw["mode"], kw["distribution"]),
    }
    return table[name]()


CASES = [
    ("RandomNormal", {}),
    ("RandomUniform", {}),
    ("TruncatedNormal", {}),
    ("GlorotUniform", {}),
    ("GlorotNormal", {}),
    ("HeUniform", {}),
    ("HeNormal", {}),
    ("LecunUniform", {}),
    ("LecunNormal", {}),
] + [
    ("VarianceScaling", {"scale": 0.5, "mode": mode, "distribution": dist})
    for mode in ("fan_in", "fan_out", "fan_avg")
    for dist in ("truncated_normal", "untruncated_normal", "uniform")
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=lambda c: str(c))
def test_random_scheme_matches_keras_and_exact_law(name, kwargs):
    ours = to_numpy(getattr(keras_inits, name)(seed=1, **kwargs)(SHAPE)).ravel()
    theirs = to_numpy(getattr(keras.initializers, name)(seed=2, **kwargs)(SHAPE)).ravel()
    law = _exact(name, **kwargs)
    # KS at level 1e-3 with fixed seeds: the critical distance follows from the sample sizes.
    assert stats.ks_2samp(ours, theirs).statistic < ks_critical(N, N)
    assert stats.kstest(ours, law.cdf).statistic < ks_critical(N)
    # Moments: 5 standard errors. SE(mean) = std/sqrt(n); SE(std) <= std/sqrt(2n) for every
    # law here (kurtosis <= 3).
    std = law.std()
    assert abs(ours.mean() - law.mean()) < 5 * std / math.sqrt(N)
    assert abs(ours.std() - std) < 5 * std / math.sqrt(2 * N)
    lo, hi = law.support()
    assert ours.min() >= np.float32(lo) and ours.max() <= np.float32(hi)


def test_orthogonal_matches_keras():
    ours = to_numpy(keras_inits.Orthogonal(gain=1.5, seed=1)((300, 200)))
    theirs = to_numpy(keras.initializers.Orthogonal(gain=1.5, seed=2)((300, 200)))
    np.testing.assert_allclose(ours.T @ ours, 2.25 * np.eye(200), atol=1e-4)
    # Entries of a Haar-orthogonal matrix: compare the two samples' laws.
    assert stats.ks_2samp(ours.ravel(), theirs.ravel()).statistic < ks_critical(60000, 60000)


@pytest.mark.parametrize(
    "name, kwargs, shape",
    [
        ("Zeros", {}, (3, 4)),
        ("Ones", {}, (3, 4)),
        ("Constant", {"value": 0.25}, (3, 4)),
        ("Identity", {"gain": 2.0}, (3, 5)),
        ("STFT", {}, (16, 1, 9)),
        ("STFT", {"side": "imag", "window": "hamming", "scaling": "spectrum"}, (8, 1, 5)),
        ("STFT", {"window": None, "scaling": None, "periodic": True}, (8, 1, 5)),
    ],
)
def test_deterministic_scheme_equals_keras(name, kwargs, shape):
    ours = to_numpy(getattr(keras_inits, name)(**kwargs)(shape, dtype="float32"))
    theirs = to_numpy(getattr(keras.initializers, name)(**kwargs)(shape, dtype="float32"))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in keras_inits.names() if hasattr(keras.initializers, n)])
def test_config_is_a_superset_of_keras_and_loads_keras_configs(name):
    ours, theirs = getattr(keras_inits, name)(), getattr(keras.initializers, name)()
    assert set(theirs.get_config()) <= set(ours.get_config())
    loaded = getattr(keras_inits, name).from_config(theirs.get_config())
    assert {k: v for k, v in loaded.get_config().items() if k in theirs.get_config()} == (
        theirs.get_config()
    )


@pytest.mark.parametrize("frames, bins", [(3000, 1025), (700, 13)])  # n = 2048 and n = 24
@pytest.mark.parametrize("side", ["real", "imag"])
def test_stft_is_exact_where_phases_wrap(frames, bins, side):
    # The kernel is cos / -sin of 2 pi ((t * f) mod n) / n, with the product up to 3e6: the
    # index arithmetic (wrapping uint16 for n | 2**16, int32 otherwise) must give the exact
    # residue. Reference: Python integers and float64, rounded once to float32.
    n = 2 * (bins - 1)
    t, f = np.arange(frames)[:, None], np.arange(bins)[None, :]
    angle = 2 * np.pi * ((t * f) % n) / n
    want = (np.cos(angle) if side == "real" else -np.sin(angle)).astype(np.float32)
    got = to_numpy(keras_inits.STFT(side=side, window=None, scaling=None)((frames, 1, bins)))
    np.testing.assert_array_equal(got[:, 0, :], want)
