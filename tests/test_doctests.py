"""The `>>>` examples in the package's docstrings run, and print what they say they print.

Run on the JAX backend only: printed tensors show the backend's own repr, and the examples are
written with JAX's. Every example sees, besides its module's globals, the common names below:
`keras`, `keras_inits`, `np`, `math`, and a small digits-sized ReLU MLP `model` with inputs `x`
(64 samples of 64 features) and labels `y` (10 classes), as the diagnostics examples assume. It
runs in a temporary directory, so examples may write files.
"""

import doctest
import importlib
import math
import pkgutil

import keras
import numpy as np
import pytest

import keras_inits
from tests.conftest import BACKEND

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(keras_inits.__path__, "keras_inits.")
    if m.name != "keras_inits.__main__"  # runs the CLI on import
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def namespace() -> dict:
    rng = np.random.default_rng(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    return {
        "keras": keras,
        "keras_inits": keras_inits,
        "np": np,
        "math": math,
        "model": model,
        "x": rng.standard_normal((64, 64)).astype("float32"),
        "y": rng.integers(0, 10, size=64),
    }


def test_modules_are_found():
    assert "keras_inits.schemes.variance" in MODULES and "keras_inits._fans" in MODULES


@pytest.mark.skipif(BACKEND != "jax", reason="the examples print JAX's tensor reprs")
@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    tests = doctest.DocTestFinder().find(importlib.import_module(module), extraglobs=namespace())
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)[-8000:]
