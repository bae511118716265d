"""Safe configs: clear errors for bad keys, no non-initializer classes, no imports, safe_mode.

- `from_config` (the class's, `keras_inits.deserialize`'s and Keras') refuses unknown keys and
  missing required keys with a TypeError naming the key.
- `keras_inits.deserialize` and `get` refuse classes that are not initializers, registered or
  not, without instantiating them.
- A crafted `.keras` file (its config.json edited) that names a module outside keras_inits and
  Keras gets an error, and the module is not imported: it sits on sys.path and would create a
  marker file and enter sys.modules if it were. Keras' safe_mode still refuses lambdas.
"""

import json
import os
import sys
import uuid
import zipfile

import keras
import numpy as np
import pytest
from keras.src.saving.serialization_lib import SafeModeScope
from keras.src.utils import python_utils

import keras_inits
from keras_inits._registry import lookup

# --- from_config keys ---------------------------------------------------------------------------


def _serialized_config(name):
    cls = lookup(name)
    init = cls.example(**({"seed": 1} if issubclass(cls, keras_inits.RandomInitializer) else {}))
    return cls, init.get_config()


def test_unknown_config_key_is_a_clear_error(name):
    cls, config = _serialized_config(name)
    bad = {**config, "no_such_key": 1}
    for load in (
        cls.from_config,
        lambda c: keras_inits.deserialize({"class_name": name, "config": c}),
        lambda c: keras.saving.deserialize_keras_object(
            {"class_name": name, "registered_name": f"keras_inits>{name}", "config": c}),
    ):
        with pytest.raises(TypeError, match="no_such_key"):
            load(bad)
    with pytest.raises(TypeError, match=r"unknown key\(s\) \['no_such_key'\].*Allowed keys"):
        keras_inits.deserialize({"class_name": name, "config": bad})


def test_missing_required_config_key_is_a_clear_error(name):
    cls, config = _serialized_config(name)
    required = [k for k, p in list(__import__("inspect").signature(cls.__init__).parameters
                                    .items())[1:] if p.default is p.empty and p.kind in
                (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in required:
        partial = {k: v for k, v in config.items() if k != key}
        with pytest.raises(TypeError, match=key):
            cls.from_config(partial)
        with pytest.raises(TypeError, match=rf"missing required key\(s\) \['{key}'\]"):
            keras_inits.deserialize({"class_name": name, "config": partial})
    if not required:  # every key is optional: an empty config gives the defaults
        assert type(cls.from_config({})) is cls


def test_config_entries_must_be_the_right_kind():
    for config in ({"class_name": 3}, {"class_name": "HeNormal", "config": [1]},
                   {"class_name": "HeNormal", "registered_name": 5}, ["HeNormal"], 3):
        with pytest.raises(TypeError, match="config"):
            keras_inits.deserialize(config)


# --- non-initializer classes ----------------------------------------------------------------------

BUILT = []  # instances of the classes below: none may ever be made


@keras.saving.register_keras_serializable(package="safe_config_test")
class NotAnInitializer(keras.layers.Layer):
    def __init__(self, **kwargs):
        BUILT.append(self)
        super().__init__(**kwargs)


@keras.saving.register_keras_serializable(package="safe_config_test")
def registered_function(shape, dtype=None):
    BUILT.append(registered_function)
    return keras.ops.zeros(shape, dtype)


@pytest.mark.parametrize("config", [
    {"class_name": "safe_config_test>NotAnInitializer", "config": {}},
    {"class_name": "NotAnInitializer", "registered_name": "safe_config_test>NotAnInitializer",
     "config": {}, "module": "tests.test_safe_config"},
    {"class_name": "safe_config_test>registered_function", "config": {}},
    "safe_config_test>NotAnInitializer",
])
def test_registered_non_initializers_are_refused(config):
    BUILT.clear()
    with pytest.raises(TypeError, match=r"does not name a subclass of .*Initializer"):
        keras_inits.deserialize(config)
    with pytest.raises(TypeError, match=r"Initializer"):
        keras_inits.get(config)
    with pytest.raises(TypeError, match=r"initializer"):
        keras_inits.DepthScaled(config, 2)
    assert not BUILT


def test_keras_non_initializers_are_refused():
    # By name (even with a Keras module), as a class, and as an instance, which is callable.
    with pytest.raises(ValueError, match=r"Unknown initializer: 'Dense'"):
        keras_inits.deserialize({"module": "keras.layers", "class_name": "Dense",
                                 "config": {"units": 2}, "registered_name": None})
    with pytest.raises(TypeError, match="Initializer"):
        keras_inits.get(keras.layers.Dense)
    with pytest.raises(TypeError, match="Initializer"):
        keras_inits.get(NotAnInitializer)
    for instance in (keras.layers.Dense(2), keras.losses.MeanSquaredError(),
                     keras.metrics.Mean(), keras.regularizers.L2(),
                     keras.constraints.NonNeg(), keras.optimizers.SGD()):
        with pytest.raises(TypeError, match=r"is callable but is not an initializer"):
            keras_inits.get(instance)
    assert not BUILT


def test_nested_configs_build_nothing_but_what_they_may():
    # A SeedGenerator config is the only object a seed dict may name; a Constant value may only
    # be a number, a list or a serialized array. Nothing else is built, in safe mode or not.
    BUILT.clear()
    layer_config = {"module": None, "class_name": "NotAnInitializer",
                    "registered_name": "safe_config_test>NotAnInitializer", "config": {}}
    lambda_config = {"class_name": "__lambda__",
                     "config": {"value": python_utils.func_dump(lambda: 1)}}
    for unsafe in (False, True):
        with SafeModeScope(not unsafe):
            for bad in (layer_config, lambda_config,
                        {**keras.saving.serialize_keras_object(keras.random.SeedGenerator(1)),
                         "module": "os"}):
                with pytest.raises(TypeError, match=r"seed"):
                    keras_inits.HeNormal.from_config({"seed": bad})
                with pytest.raises(TypeError, match=r"value"):
                    keras_inits.Constant.from_config({"value": bad})
            with pytest.raises((TypeError, ValueError), match=r"initializer"):
                keras_inits.DepthScaled.from_config({"initializer": lambda_config,
                                                     "num_layers": 2})
            with pytest.raises(ValueError, match=r"Unknown initializer: '__lambda__'"):
                keras_inits.deserialize(lambda_config)
    assert not BUILT
    # What may be named still round-trips.
    seeded = keras_inits.HeNormal(seed=keras.random.SeedGenerator(3))
    assert isinstance(keras_inits.HeNormal.from_config(seeded.get_config()).seed,
                      keras.random.SeedGenerator)
    constant = keras_inits.Constant(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(keras_inits.Constant.from_config(constant.get_config()).value,
                                  [1.0, 2.0])


# --- crafted .keras files --------------------------------------------------------------------------


@pytest.fixture
def trap(tmp_path, monkeypatch):
    """A module on sys.path that, if ever imported, creates a marker file and runs nothing else.

    Returns (module name, marker path). The test fails if the module was imported.
    """
    module = f"keras_inits_trap_{uuid.uuid4().hex}"
    marker = tmp_path / "imported.marker"
    (tmp_path / f"{module}.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
        "import keras\n"
        "class Evil(keras.initializers.Initializer):\n"
        "    def __call__(self, shape, dtype=None):\n"
        "        return keras.ops.zeros(shape, dtype)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib.util

    assert importlib.util.find_spec(module) is not None  # importable: the trap would spring
    yield module, marker
    assert module not in sys.modules, f"{module} was imported"
    assert not marker.exists(), "the trap module ran"


def _saved_model(path):
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(2, name="dense", kernel_initializer=keras_inits.HeNormal(seed=1),
                           bias_initializer=keras_inits.DepthScaled(keras_inits.Constant(0.5), 2)),
    ])
    model.save(path)
    return path


def _edit_config(path, edit):
    """Rewrites config.json inside the .keras zip with `edit(dense_layer_config)`."""
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    config = json.loads(entries["config.json"])
    dense = next(layer for layer in config["config"]["layers"]
                 if layer["config"].get("name") == "dense")
    edit(dense["config"])
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


def test_unedited_model_loads(tmp_path):
    # The control: the file the crafted ones start from loads, with our classes.
    model = keras.saving.load_model(_saved_model(tmp_path / "m.keras"))
    assert type(model.get_layer("dense").kernel_initializer) is keras_inits.HeNormal


def _crafted_cases(module, marker):
    payload = python_utils.func_dump(
        lambda shape, dtype=None, _m=str(marker): (
            __import__("pathlib").Path(_m).touch(), __import__("keras").ops.zeros(shape, dtype)
        )[1]
    )
    evil = {"module": module, "class_name": "Evil", "config": {}, "registered_name": "Evil"}
    return {
        "kernel names the module": lambda c: c.update(kernel_initializer=evil),
        "kernel names the module under our prefix": lambda c: c.update(
            kernel_initializer={**evil, "registered_name": "keras_inits>Evil"}),
        "kernel names os.system": lambda c: c.update(kernel_initializer={
            "module": "os", "class_name": "system", "registered_name": None,
            "config": {"command": f"touch {marker}"}}),
        "kernel names os.system as a function": lambda c: c.update(kernel_initializer={
            "module": "os", "class_name": "function", "config": "system",
            "registered_name": "system"}),
        "nested initializer names the module": lambda c: c["bias_initializer"]["config"].update(
            initializer=evil),
        "seed names the module": lambda c: c["kernel_initializer"]["config"].update(
            seed={**evil, "class_name": "SeedGenerator"}),
        "constant value names the module": lambda c: c["bias_initializer"]["config"][
            "initializer"]["config"].update(value=evil),
        "kernel is a lambda": lambda c: c.update(kernel_initializer={
            "class_name": "__lambda__", "config": {"value": payload}}),
        "nested initializer is a lambda": lambda c: c["bias_initializer"]["config"].update(
            initializer={"class_name": "__lambda__", "config": {"value": payload}}),
    }


CASES = list(_crafted_cases("m", "x"))


# keras_inits never deserializes code or foreign modules itself, so Keras' unsafe mode changes
# nothing for the configs it reads: refused either way (the trap fixture checks no import).
@pytest.mark.parametrize("safe_mode", [True, False], ids=["safe", "unsafe"])
@pytest.mark.parametrize("case", CASES)
def test_crafted_keras_file_is_refused_without_importing(case, safe_mode, tmp_path, trap):
    module, marker = trap
    path = _saved_model(tmp_path / "m.keras")
    _edit_config(path, _crafted_cases(module, marker)[case])
    with pytest.raises((TypeError, ValueError)):
        keras.saving.load_model(path, safe_mode=safe_mode)


def test_safe_mode_still_refuses_a_lambda_layer(tmp_path, monkeypatch):
    # Keras' safe_mode, with keras_inits imported, and the control for the tests above: in
    # unsafe mode (the user opts in) a Lambda layer's code does run, and the marker shows it;
    # so a marker that stays absent above means nothing ran.
    marker = tmp_path / "ran.marker"
    # The path comes from the environment: Keras cannot reload a Lambda with default arguments.
    monkeypatch.setenv("KERAS_INITS_TEST_MARKER", str(marker))
    touch = lambda x: (  # noqa: E731
        __import__("pathlib").Path(__import__("os").environ["KERAS_INITS_TEST_MARKER"]).touch(), x
    )[1]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(touch),
                              keras.layers.Dense(2, kernel_initializer=keras_inits.HeNormal(1))])
    path = tmp_path / "m.keras"
    model.save(path)
    marker.unlink(missing_ok=True)  # building the model ran the Lambda once
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path)
    assert not marker.exists()
    model = keras.saving.load_model(path, safe_mode=False)
    model(np.ones((1, 3), "float32"))
    assert marker.exists()
