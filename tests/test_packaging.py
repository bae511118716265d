"""The package under test is the installed distribution, and its metadata keeps its promises.

`make test` builds the wheel, installs it (not editable) and runs the suite from a copy of
tests/ with no keras_inits/ beside it, with `KERAS_INITS_TEST_INSTALLED=1`: then the copy
imported here, and by subprocesses, must be the wheel's, in site-packages.
"""

import importlib
import importlib.metadata
import json
import os
import pathlib
import pkgutil
import re
import subprocess
import sys
import tomllib
import urllib.parse

import keras_inits
from keras_inits._registry import lookup

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIST = importlib.metadata.distribution("keras-inits")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
IMPORTED = pathlib.Path(keras_inits.__file__).resolve()


def editable_source() -> pathlib.Path | None:
    """The source directory of an editable install (PEP 610 direct_url.json), else None."""
    text = DIST.read_text("direct_url.json")
    info = json.loads(text) if text else {}
    if not info.get("dir_info", {}).get("editable"):
        return None
    return pathlib.Path(urllib.parse.unquote(urllib.parse.urlparse(info["url"]).path))


def test_the_imported_package_is_the_installed_distribution():
    if not os.environ.get("KERAS_INITS_TEST_INSTALLED"):
        # A development run (`make dev`, pytest from the checkout) may import the sources.
        sources = (ROOT / "keras_inits" / "__init__.py").resolve()
        assert IMPORTED == sources or "site-packages" in IMPORTED.parts, IMPORTED
        return
    assert editable_source() is None, "make test must install the wheel, not an editable copy"
    assert "site-packages" in IMPORTED.parts, IMPORTED
    assert IMPORTED == pathlib.Path(DIST.locate_file("keras_inits/__init__.py")).resolve()


def test_subprocesses_import_the_same_copy():
    # The other tests' subprocesses put ROOT on PYTHONPATH: that must not shadow the wheel.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", "import keras_inits; print(keras_inits.__file__)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert pathlib.Path(out.stdout.strip()).resolve() == IMPORTED


def test_every_module_of_the_distribution_imports():
    names = [m.name for m in pkgutil.walk_packages(keras_inits.__path__, "keras_inits.")]
    assert "keras_inits.schemes.variance" in names and "keras_inits.cli" in names
    for name in names:
        if name != "keras_inits.__main__":  # runs the CLI
            importlib.import_module(name)
    assert (IMPORTED.parent / "py.typed").is_file()  # PEP 561: the annotations are shipped


def test_metadata_matches_pyproject():
    meta = DIST.metadata
    assert meta["Name"] == "keras-inits"
    assert meta["Version"] == PYPROJECT["version"] == keras_inits.__version__
    assert meta["Requires-Python"] == PYPROJECT["requires-python"]
    (script,) = [ep for ep in DIST.entry_points if ep.name == "keras-inits"]
    assert script.group == "console_scripts" and script.value == "keras_inits.cli:main"
    if os.environ.get("KERAS_INITS_TEST_INSTALLED"):
        # The wheel was built from this pyproject.toml just now (an editable install's metadata
        # is as old as its last `pip install -e`, so a development run skips this part).
        declared = set(PYPROJECT["dependencies"])
        for extra, requirements in PYPROJECT["optional-dependencies"].items():
            declared |= {f'{r}; extra == "{extra}"' for r in requirements}
        assert set(DIST.requires or []) == declared


def lower_bounds() -> dict[str, str]:
    """`name: version` for every `name>=version` in pyproject.toml (dependencies and extras)."""
    requirements = list(PYPROJECT["dependencies"])
    for extra in PYPROJECT["optional-dependencies"].values():
        requirements += extra
    bounds = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement)
        if match:
            bounds[match[1].lower()] = match[2]
    return bounds


def test_every_lower_bound_is_pinned_in_constraints_oldest():
    # `make test-oldest` installs constraints-oldest.txt and runs the suite: a floor that is not
    # pinned there would be a promise that CI does not check.
    pins = {}
    for line in (ROOT / "constraints-oldest.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    bounds = lower_bounds()
    assert {"keras", "numpy", "jax", "torch", "tensorflow-cpu"} <= set(bounds)
    # `tensorflow` (the GPU-capable package) is the same release line as the tested -cpu one.
    assert bounds.pop("tensorflow") == bounds["tensorflow-cpu"]
    assert {name: pins.get(name) for name in bounds} == bounds


FIXTURES = ROOT / "tests" / "fixtures"


def test_a_model_saved_by_an_earlier_release_loads_with_equal_configs_and_weights():
    # all_schemes.keras holds one layer per scheme registered when it was written
    # (tests/fixtures/make_all_schemes.py); all_schemes.json records each initializer's
    # serialized config and a sha256 of each weight. Schemes added later are simply absent.
    import hashlib

    import keras
    import numpy as np

    saved = json.loads((FIXTURES / "all_schemes.json").read_text())
    model = keras.saving.load_model(FIXTURES / "all_schemes.keras")
    assert len(saved["layers"]) >= 30
    for name, entry in saved["layers"].items():
        layer = model.get_layer(name)
        init = getattr(layer, entry["attribute"])
        assert isinstance(init, keras_inits.Initializer), (name, init)
        assert type(init) is lookup(name), name  # not Keras' built-in of the same name
        assert keras.saving.serialize_keras_object(init) == entry["config"], name
        digests = [
            hashlib.sha256(np.ascontiguousarray(w, dtype="<f4").tobytes()).hexdigest()
            for w in layer.get_weights()
        ]
        assert digests == entry["weights"], name
