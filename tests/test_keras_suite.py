"""Keras' own initializer tests, run against keras_inits as a drop-in.

Each `keras/src/initializers/*_test.py` of the installed Keras is copied unchanged except for
one line: `from keras.src import initializers` becomes `import keras_inits as initializers`.
It then runs in a fresh pytest process (Keras' tests build their own models and registries),
with 4 virtual CPU devices on JAX so that the multi-device layout test runs too. Keras' root
`conftest.py` is not installed with Keras; `KERAS_CONFTEST` below provides the one helper and
the marker these files use.
"""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

KERAS_SRC = pathlib.Path(keras.__file__).parent / "src"
TEST_FILES = sorted((KERAS_SRC / "initializers").glob("*_test.py"))
# Keras' wheels ship its tests from 3.15.1 on; 3.15.0's (the floor, constraints-oldest.txt) has
# none at all, so there is nothing to run against it.
SHIPS_TESTS = any(KERAS_SRC.rglob("*_test.py"))
KERAS_IMPORT = "from keras.src import initializers\n"
OUR_IMPORT = "import keras_inits as initializers\n"

KERAS_CONFTEST = """
import pytest
from keras.src import backend


def skip_if_backend(given_backend, reason):
    return pytest.mark.skipif(backend.backend() == given_backend, reason=reason)


def pytest_configure(config):
    config.addinivalue_line("markers", "multi_device: needs several devices")
"""


def test_keras_ships_initializer_tests():
    # If Keras stops shipping its initializer tests, the parametrized test below would silently
    # run none: this fails unless the installed Keras ships no tests at all (3.15.0).
    if not SHIPS_TESTS:
        pytest.skip(f"keras {keras.version()}'s wheel ships no tests (3.15.1's does)")
    names = [path.name for path in TEST_FILES]
    assert "random_initializers_test.py" in names and "constant_initializers_test.py" in names


@pytest.mark.slow  # a fresh process per file: about 10 s of CPU each
@pytest.mark.parametrize("path", TEST_FILES, ids=[path.name for path in TEST_FILES])
def test_keras_initializer_tests_pass_against_keras_inits(tmp_path, path):
    source = path.read_text()
    assert source.count(KERAS_IMPORT) == 1, f"{path.name} no longer imports initializers so"
    (tmp_path / path.name).write_text(source.replace(KERAS_IMPORT, OUR_IMPORT))
    (tmp_path / "conftest.py").write_text(KERAS_CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # rootdir here: no config from outside
    env = {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", path.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    # The file really ran. On JAX every one of Keras' initializer tests runs; elsewhere Keras
    # skips its own JAX-only ones (initializer_test.py has nothing else).
    if keras.backend.backend() == "jax":
        assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout
    else:
        assert " passed" in result.stdout or path.name == "initializer_test.py", result.stdout
