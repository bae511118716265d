"""InitMap and apply: key resolution, the plan, all-or-nothing, seeds, skips, a model intact."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import to_numpy
from sklearn.datasets import load_digits

import keras_inits
from keras_inits._seeds import path_seed
from keras_inits.model import policy as policy_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def values(model) -> dict[str, np.ndarray]:
    return {v.path: to_numpy(v) for v in model.weights}


def mlp(units=(16, 8), name="mlp"):
    inputs = keras.Input((12,))
    x = inputs
    for i, n in enumerate(units):
        x = keras.layers.Dense(n, activation="relu", name=f"dense_{i}")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="test_policy")
class MyDense(keras.layers.Dense):
    pass


class Unregistered(keras.layers.Dense):
    pass


# ---------------------------------------------------------------------------------------------
# Resolution


def keys_of(report) -> dict[str, str]:
    return {e.path: e.key for e in report}


def test_exact_path_beats_an_earlier_regex_and_regexes_go_in_insertion_order():
    model = mlp()
    policy = keras_inits.InitMap()
    policy["kernel"] = "zeros"           # a regex, inserted first
    policy["head/kernel"] = "ones"       # exact: wins for head/kernel although inserted later
    policy["dense_.*/kernel"] = "ones"   # never reached: "kernel" matches first
    keys = keys_of(keras_inits.apply(model, policy, seed=0, dry_run=True))
    assert keys["head/kernel"] == "'head/kernel'"
    assert keys["dense_0/kernel"] == keys["dense_1/kernel"] == "'kernel'"


def test_path_keys_beat_class_keys_whatever_the_order():
    model = mlp()
    policy = {keras.layers.Dense: {"kernel": "zeros", "bias": "zeros"}, "head/.*": "ones"}
    report = keras_inits.apply(model, policy, seed=0, verbose=0)
    assert keys_of(report)["head/kernel"] == "'head/.*'"
    assert keys_of(report)["dense_0/kernel"] == "Dense['kernel']"
    np.testing.assert_array_equal(to_numpy(model.get_layer("head").kernel), 1.0)
    np.testing.assert_array_equal(to_numpy(model.get_layer("dense_0").kernel), 0.0)


def test_a_subclass_key_beats_its_base_class_key_whatever_the_order():
    inputs = keras.Input((4,))
    outputs = MyDense(3, name="mine")(keras.layers.Dense(5, name="plain")(inputs))
    model = keras.Model(inputs, outputs)
    policy = {keras.layers.Dense: {"kernel": "zeros"}, MyDense: {"kernel": "ones"}}
    keys = keys_of(keras_inits.apply(model, policy, seed=0, dry_run=True))
    assert keys["mine/kernel"] == "MyDense['kernel']"
    assert keys["plain/kernel"] == "Dense['kernel']"


def test_the_outer_layer_class_wins_over_the_owner_class():
    # MultiHeadAttention's projections are EinsumDense layers: its key narrows the context.
    query = keras.Input((4, 8))
    attention = keras.layers.MultiHeadAttention(2, 4, name="mha")
    out = keras.layers.EinsumDense("abc,cd->abd", (None, 8), name="proj")(attention(query, query))
    model = keras.Model(query, out)
    policy = {keras.layers.EinsumDense: {"kernel": "zeros"},
              keras.layers.MultiHeadAttention: {"kernel": "xavier_uniform"}}
    keys = keys_of(keras_inits.apply(model, policy, seed=0, dry_run=True))
    assert keys["proj/kernel"] == "EinsumDense['kernel']"
    for part in ("query", "key", "value", "attention_output"):
        assert keys[f"mha/{part}/kernel"] == "MultiHeadAttention['kernel']"
    # The bias is not in MultiHeadAttention's dict: the search goes on to the owner's class.
    policy[keras.layers.EinsumDense]["bias"] = "ones"
    keys = keys_of(keras_inits.apply(model, policy, seed=0, dry_run=True))
    assert keys["mha/query/bias"] == "EinsumDense['bias']"


def test_none_leaves_a_variable_alone_and_ends_the_search():
    model = mlp()
    before = values(model)
    report = keras_inits.apply(model, {"head/kernel": None, "kernel": "zeros"}, seed=0, verbose=0)
    assert report["head/kernel"].status == "skipped"
    np.testing.assert_array_equal(to_numpy(model.get_layer("head").kernel), before["head/kernel"])
    np.testing.assert_array_equal(to_numpy(model.get_layer("dense_0").kernel), 0.0)


def test_moving_statistics_are_reset_only_by_a_key_that_names_them():
    model = mlp()
    model.get_layer("bn").moving_mean.assign(np.full((8,), 3.0, "float32"))
    report = keras_inits.apply(model, {".*": "zeros"}, seed=0, verbose=0)
    assert report["bn/moving_mean"].status == "skipped"
    assert "moving statistic" in report["bn/moving_mean"].reason
    np.testing.assert_array_equal(to_numpy(model.get_layer("bn").moving_mean), 3.0)
    report = keras_inits.apply(model, {"moving_mean": "zeros"}, seed=0, verbose=0)
    assert report["bn/moving_mean"].status == "assigned"
    np.testing.assert_array_equal(to_numpy(model.get_layer("bn").moving_mean), 0.0)
    model.get_layer("bn").moving_mean.assign(np.full((8,), 3.0, "float32"))
    keras_inits.apply(model, {keras.layers.BatchNormalization: {"moving_mean": "zeros"}},
                      seed=0, verbose=0)
    np.testing.assert_array_equal(to_numpy(model.get_layer("bn").moving_mean), 0.0)


def test_unmatched_variables_are_listed_and_left_alone():
    model = mlp()
    before = values(model)
    report = keras_inits.apply(model, {"kernel": "zeros"}, seed=0, verbose=0)
    assert report.unmatched == ["dense_0/bias", "dense_1/bias", "bn/gamma", "bn/beta", "head/bias"]
    for path in report.unmatched:
        np.testing.assert_array_equal(values(model)[path], before[path])


def test_config_round_trips_through_json():
    policy = keras_inits.InitMap({
        "head/kernel": keras_inits.HeNormal(seed=3),
        keras.layers.Dense: {"kernel": "glorot_uniform", "bias": None},
        MyDense: {"kernel": keras.initializers.Orthogonal(gain=2.0)},
        r"emb.*": {"class_name": "TruncatedNormal", "config": {"stddev": 0.02}},
    })
    config = json.loads(json.dumps(policy.get_config()))
    restored = keras_inits.InitMap.from_config(config)
    assert list(restored) == list(policy)
    assert restored.get_config() == policy.get_config()
    assert isinstance(restored["head/kernel"], dict)  # a config dict, resolved when applied
    assert keras_inits.get(restored["head/kernel"]).seed == 3
    assert keras_inits.get(restored[MyDense]["kernel"]).gain == 2.0
    # And through Keras' own serialization.
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(policy))
    assert again.get_config() == policy.get_config()


def test_config_refuses_what_it_could_not_restore():
    with pytest.raises(ValueError, match=r"layer class 'Unregistered'.*register_keras_serializable"):
        keras_inits.InitMap({Unregistered: {"kernel": "zeros"}}).get_config()
    with pytest.raises(TypeError, match=r"key 'kernel': only None, names, config dicts"):
        keras_inits.InitMap({"kernel": lambda shape, dtype=None: None}).get_config()
    with pytest.raises(ValueError, match=r"layer class 'os.system'"):
        keras_inits.InitMap.from_config({"entries": [[{"layer": "os.system"}, {}]]})


# ---------------------------------------------------------------------------------------------
# Bad input: errors name the argument or the key, and nothing is assigned


@pytest.mark.parametrize("key, value, error, match", [
    ("dense_[0", "zeros", ValueError, r"key 'dense_\[0' is not a valid regular expression"),
    ("kernel", "no_such_init", ValueError, r"key 'kernel'.*Unknown initializer"),
    ("kernel", keras.layers.Dense(3), TypeError, r"key 'kernel'.*not an initializer"),
    ("kernel", 3.5, TypeError, r"key 'kernel'.*Could not interpret"),
    (keras.layers.Dense, "zeros", TypeError, r"key Dense: a layer-class key takes a dict"),
    (keras.layers.Dense, {"kernel": "bad"}, ValueError, r"key Dense\['kernel'\].*Unknown"),
    (3, "zeros", TypeError, r"keys must be a string .* Received: key=3"),
    (keras.Model, {"kernel": "zeros"}, None, None),  # a valid class key, for contrast
])
def test_an_invalid_key_or_value_is_refused_and_nothing_is_assigned(key, value, error, match):
    model = mlp()
    before = values(model)
    if error is None:
        keras_inits.apply(model, {key: value}, seed=0, verbose=0)
        assert not np.array_equal(values(model)["dense_0/bias"], 0.0)  # untouched: not a kernel
        return
    with pytest.raises(error, match=match):
        keras_inits.apply(model, {"dense_0/kernel": "zeros", key: value}, seed=0, verbose=0)
    for path, value_before in before.items():
        np.testing.assert_array_equal(values(model)[path], value_before)


def test_an_initializer_that_cannot_fill_a_variable_is_refused_before_any_assignment():
    # Identity needs a 2-D shape: the biases come after the first kernel in the model.
    model = mlp()
    before = values(model)
    with pytest.raises(ValueError, match=r"'bias' gives Identity.* 'dense_0/bias'.*cannot fill"):
        keras_inits.apply(model, {"kernel": "zeros", "bias": "identity"}, seed=0, verbose=0)
    for path, value_before in before.items():
        np.testing.assert_array_equal(values(model)[path], value_before)


def test_a_failure_mid_way_restores_every_assigned_variable():
    # A plain function cannot be checked in advance: it fails on its third call, after two
    # variables were assigned. Both come back from the journal.
    calls = []

    def flaky(shape, dtype=None):
        calls.append(shape)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return keras.ops.full(shape, 7.0, dtype=dtype)

    model = mlp()
    before = values(model)
    with pytest.raises(RuntimeError, match="disk on fire"):
        keras_inits.apply(model, {"kernel": flaky}, seed=0, verbose=0)
    assert len(calls) == 3
    for path, value_before in before.items():
        np.testing.assert_array_equal(values(model)[path], value_before)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model_or_layer": "model"}, TypeError, r"`model_or_layer` must be a `keras.Model`"),
    ({"model_or_layer": keras.Sequential([keras.layers.Dense(2)])}, ValueError,
     r"`model_or_layer` must be built"),
    ({"policy": 3}, TypeError, r"`policy` must be an InitMap, a dict or a preset name"),
    ({"seed": "1"}, TypeError, r"`seed` must be None or an int. Received: seed='1'"),
    ({"seed": -1}, ValueError, r"`seed` must be None or an int in \[0, 4294967295\]"),
    ({"seed": True}, TypeError, r"Received: seed=True"),
    ({"dry_run": "yes"}, TypeError, r"`dry_run` must be a bool"),
    ({"include_frozen": 1}, TypeError, r"`include_frozen` must be a bool"),
    ({"verbose": 3}, ValueError, r"`verbose` must be one of \[0, 1, 2\]"),
])
def test_bad_arguments(kwargs, error, match):
    arguments = {"model_or_layer": mlp(), "policy": {"kernel": "zeros"}, **kwargs}
    with pytest.raises(error, match=match):
        keras_inits.apply(arguments.pop("model_or_layer"), arguments.pop("policy"), **arguments)


# ---------------------------------------------------------------------------------------------
# The plan and the seeds


def test_dry_run_is_what_apply_then_does():
    model = mlp()
    before = values(model)
    policy = {"head/kernel": "zeros", keras.layers.Dense: {"kernel": "he_normal"},
              "gamma": keras_inits.RandomUniform(0.5, 1.5)}
    plan = keras_inits.apply(model, policy, seed=7, dry_run=True)
    for path, value_before in before.items():  # a dry run changes nothing
        np.testing.assert_array_equal(values(model)[path], value_before)
    report = keras_inits.apply(model, policy, seed=7, verbose=0)
    assert plan.dry_run and not report.dry_run
    assert [(e.path, e.initializer, e.key) for e in plan] == [
        (e.path, e.initializer, e.key) for e in report]
    assert [e.status for e in plan.planned] == ["dry run"] * 4
    assert [e.path for e in report.planned] == [e.path for e in plan.planned]
    assert all(e.status == "assigned" for e in report.planned)
    after = values(model)
    # The values are the listed initializers with the seed rule, computed independently.
    for path in ("dense_0/kernel", "dense_1/kernel"):
        expected = keras_inits.HeNormal(seed=path_seed(7, path))(after[path].shape)
        assert report[path].initializer == repr(keras_inits.HeNormal(seed=path_seed(7, path)))
        np.testing.assert_array_equal(after[path], to_numpy(expected))
    np.testing.assert_array_equal(after["head/kernel"], 0.0)


def test_every_variable_gets_its_own_stream_even_from_one_unseeded_value():
    inputs = keras.Input((8,))
    outputs = keras.layers.Dense(8, name="b")(keras.layers.Dense(8, name="a")(inputs))
    model = keras.Model(inputs, outputs)
    shared = keras_inits.HeNormal()  # one unseeded instance repeats its values on its own
    keras_inits.apply(model, {"kernel": shared}, verbose=0)
    first = values(model)
    assert not np.array_equal(first["a/kernel"], first["b/kernel"])
    keras_inits.apply(model, {"kernel": shared}, verbose=0)  # a new base seed per call
    assert not np.array_equal(values(model)["a/kernel"], first["a/kernel"])
    keras_inits.apply(model, {"kernel": shared}, seed=3, verbose=0)
    seeded = values(model)
    keras_inits.apply(model, {"kernel": shared}, seed=3, verbose=0)
    np.testing.assert_array_equal(values(model)["a/kernel"], seeded["a/kernel"])


def test_keras_builtin_instances_become_this_package_s_and_are_seeded_per_variable():
    model = mlp()
    report = keras_inits.apply(model, {"kernel": keras.initializers.GlorotUniform(seed=5)},
                               seed=1, dry_run=True)
    seed = path_seed(1, "head/kernel")
    assert report["head/kernel"].initializer == repr(keras_inits.GlorotUniform(seed=seed))


class FanInBias(keras_inits.Initializer):
    """Test double of the bind protocol: a bias equal to the layer's kernel fan_in."""

    def bind(self, layer, variable):
        assert variable.name == "bias" and variable is layer.bias
        return keras_inits.Constant(float(layer.kernel.shape[0]))

    def get_config(self):
        return {}


def test_bind_gets_the_layer_and_the_variable_and_its_result_is_drawn():
    model = mlp()
    report = keras_inits.apply(model, {"bias": FanInBias()}, seed=0, verbose=0)
    assert report["dense_1/bias"].initializer == repr(keras_inits.Constant(16.0))
    np.testing.assert_array_equal(to_numpy(model.get_layer("dense_0").bias), 12.0)
    np.testing.assert_array_equal(to_numpy(model.get_layer("dense_1").bias), 16.0)
    np.testing.assert_array_equal(to_numpy(model.get_layer("head").bias), 8.0)


def test_a_preset_name_is_looked_up_and_an_unknown_one_is_refused():
    with pytest.raises(ValueError, match=r"no_such_preset"):
        keras_inits.apply(mlp(), "no_such_preset", seed=0, verbose=0)


# ---------------------------------------------------------------------------------------------
# What apply leaves alone


def test_frozen_layers_are_skipped_unless_include_frozen():
    model = mlp()
    model.get_layer("dense_0").trainable = False
    before = values(model)
    report = keras_inits.apply(model, {"kernel": "zeros"}, seed=0, verbose=0)
    assert report["dense_0/kernel"].status == "skipped"
    assert "frozen layer 'dense_0'" in report["dense_0/kernel"].reason
    np.testing.assert_array_equal(values(model)["dense_0/kernel"], before["dense_0/kernel"])
    keras_inits.apply(model, {"kernel": "zeros"}, seed=0, include_frozen=True, verbose=0)
    np.testing.assert_array_equal(values(model)["dense_0/kernel"], 0.0)


def test_quantized_layers_and_non_float_variables_are_skipped():
    model = mlp()
    model.get_layer("dense_1").quantize("int8")
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.variables}
    report = keras_inits.apply(model, {".*": "ones"}, seed=0, verbose=0)
    quantized = [e for e in report if e.path.startswith("dense_1/")]
    assert quantized and all(e.status == "skipped" for e in quantized)
    assert any("int8" in e.reason for e in quantized)  # the int8 kernel, the float scale
    for variable in model.variables:
        if variable.path.startswith("dense_1/"):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable),
                                          before[variable.path])
    np.testing.assert_array_equal(to_numpy(model.get_layer("dense_0").kernel), 1.0)


def test_seed_states_are_skipped_as_non_float():
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(2)(keras.layers.Dropout(0.5, name="drop")(inputs))
    model = keras.Model(inputs, outputs)
    report = keras_inits.apply(model, {".*": "ones"}, seed=0, verbose=0)
    states = [e for e in report if "seed_generator" in e.path]
    assert states and all(e.status == "skipped" and "not floating point" in e.reason
                          for e in states)


# ---------------------------------------------------------------------------------------------
# The model stays whole: optimizer, compiled functions, training, saving


def test_optimizer_slots_compiled_training_and_saving_survive_apply(tmp_path):
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target
    inputs = keras.Input((64,))
    h = keras.layers.Dense(32, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", name="out")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=256, verbose=0)
    slots = list(model.optimizer.variables)
    kernel = model.get_layer("hidden").kernel

    keras_inits.apply(model, {"kernel": "he_normal", "bias": "zeros"}, seed=0, verbose=0)
    assert list(model.optimizer.variables) == slots
    assert all(a is b for a, b in zip(model.optimizer.variables, slots))
    assert model.get_layer("hidden").kernel is kernel
    loss_at_init = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=3, batch_size=128, verbose=0)  # the compiled train step
    assert history.history["loss"][-1] < 0.6 * loss_at_init

    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for a, b in zip(model.weights, reloaded.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_progress_bar_for_many_variables_only(capsys):
    big = mlp(units=(4,) * 12)  # 26 kernels and biases planned
    keras_inits.apply(big, {"kernel": "zeros", "bias": "ones"}, seed=0, verbose=1)
    assert "26/26" in capsys.readouterr().out
    keras_inits.apply(big, {"kernel": "zeros"}, seed=0, verbose=0)
    keras_inits.apply(mlp(), {"kernel": "zeros"}, seed=0, verbose=1)  # 3 variables: no bar
    assert capsys.readouterr().out == ""


def test_a_single_layer_can_be_the_target():
    layer = keras.layers.Dense(3)
    layer.build((None, 5))
    keras_inits.apply(layer, {"kernel": "ones"}, seed=0, verbose=0)
    np.testing.assert_array_equal(to_numpy(layer.kernel), 1.0)


def test_report_text_and_list():
    report = keras_inits.apply(mlp(), {"kernel": "zeros"}, seed=0, dry_run=True)
    text = str(report)
    assert text.startswith("would assign 3 variables, skipped 2, unmatched 5")
    assert "dense_0/kernel" in text and "12x16" in text
    rows = report.to_list()
    assert rows[0] == {"path": "dense_0/kernel", "shape": (12, 16), "dtype": "float32",
                       "initializer": "Zeros()", "key": "'kernel'", "status": "dry run",
                       "reason": ""}


# ---------------------------------------------------------------------------------------------
# Sharding: JAX with 8 CPU devices, in a fresh process whatever this suite's backend


SHARDED_APPLY = r"""
import json, os
os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
import keras, numpy as np, keras_inits

def build():
    inputs = keras.Input((64,))
    x = keras.layers.Dense(256, name="up")(inputs)
    x = keras.layers.Dense(64, name="down")(x)
    x = keras.layers.Dense(2048, name="to_wide")(x)
    return keras.Model(inputs, keras.layers.Dense(4096, name="wide")(x))

policy = {"up/kernel": "he_normal", "down/kernel": "orthogonal", "wide/kernel": "glorot_uniform",
          "bias": keras_inits.RandomUniform(-0.1, 0.1)}
single = build()
keras_inits.apply(single, policy, seed=11, verbose=0)
mesh = keras.distribution.DeviceMesh((2, 4), ["batch", "model"], keras.distribution.list_devices())
layout_map = keras.distribution.LayoutMap(mesh)
layout_map["up/kernel"] = (None, "model")
layout_map["down/kernel"] = ("model", None)
layout_map["wide/kernel"] = (None, "model")
with keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch").scope():
    model = build()
    before = {v.path: str(v.value.sharding.spec) for v in model.weights}
    keras_inits.apply(model, policy, seed=11, verbose=0)
report = {}
for v, w in zip(model.weights, single.weights):
    report[v.path] = {"before": before[v.path], "after": str(v.value.sharding.spec),
                      "devices": len(v.value.sharding.device_set),
                      "equal": bool(np.array_equal(np.asarray(v.value), np.asarray(w.value)))}
print("REPORT " + json.dumps(report))
"""


@pytest.mark.slow
def test_model_parallel_keeps_the_sharding_and_equals_a_single_device_apply():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", SHARDED_APPLY], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("REPORT "))
    report = json.loads(line[len("REPORT "):])
    assert report["up/kernel"]["after"] == "P(None, 'model')"
    assert report["down/kernel"]["after"] == "P('model', None)"
    assert report["wide/kernel"]["after"] == "P(None, 'model')"
    for path, entry in report.items():
        assert entry["after"] == entry["before"], path
        assert entry["devices"] == 8, path
        assert entry["equal"], path


# ---------------------------------------------------------------------------------------------
# bind may leave a variable alone; the journal's own failure; what apply records


class OnlyWide:
    """A bind rule that only fits layers with more than 10 inputs: None elsewhere."""

    seed = None

    def bind(self, layer, variable):
        return keras_inits.Constant(1.0) if variable.shape[0] > 10 else None

    def __call__(self, shape, dtype=None):  # pragma: no cover - apply always binds
        raise AssertionError("bind first")

    def get_config(self):
        return {}


def test_bind_returning_none_leaves_the_variable_alone():
    model = mlp()
    before = values(model)
    report = keras_inits.apply(model, {"kernel": OnlyWide()}, seed=0, verbose=0)
    # dense_0/kernel is 12x16: bound; dense_1 (16x8) too; head/kernel is 8x3: left alone.
    assert report["dense_0/kernel"].status == "assigned"
    np.testing.assert_array_equal(values(model)["dense_0/kernel"], 1.0)
    entry = report["head/kernel"]
    assert (entry.status, entry.key) == ("skipped", "'kernel'")
    assert "bind returned None" in entry.reason
    np.testing.assert_array_equal(values(model)["head/kernel"], before["head/kernel"])


def test_bind_returning_a_non_initializer_is_refused():
    class Bad(OnlyWide):
        def bind(self, layer, variable):
            return 3

    with pytest.raises(TypeError, match=r"must return an initializer, or None.*Received: 3"):
        keras_inits.apply(mlp(), {"kernel": Bad()}, seed=0, verbose=0)


def test_a_journal_that_cannot_write_stops_apply_before_anything_is_assigned(monkeypatch):
    def full(self, array):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(policy_module._BufferedFile, "append", full)
    model = mlp()
    before = values(model)
    with pytest.raises(RuntimeError, match=r"could not save the old values.*No space left"):
        keras_inits.apply(model, {"kernel": "zeros"}, seed=0, verbose=0)
    for path, value_before in before.items():
        np.testing.assert_array_equal(values(model)[path], value_before)


def test_apply_records_what_it_drew_for_audit_and_reinitialize():
    policy = {"head/kernel": "zeros", "kernel": keras_inits.HeNormal(),
              "gamma": keras_inits.RandomUniform(0.5, 1.5)}
    model = mlp()
    report = keras_inits.apply(model, policy, seed=3, verbose=0)
    # audit without the policy checks against what apply did: nothing flagged, and the head's
    # zero kernel is exact (its build-time GlorotUniform would flag an all-zero kernel).
    audit = keras_inits.audit(model)
    assert not audit.flagged, str(audit)
    for path in ("dense_0/kernel", "head/kernel", "bn/gamma"):
        assert audit[path].initializer == report[path].initializer
        assert audit[path].source == "applied"
    assert audit["dense_0/bias"].source == "recorded"  # untouched by the policy
    # reinitialize(seed=s) draws the applied policy again with the pass seed s: the values of
    # apply(policy, seed=s) on a copy, and new values for another seed.
    reference = mlp()
    keras_inits.apply(reference, policy, seed=11, verbose=0)
    keras_inits.reinitialize(model, seed=11)
    got, want = values(model), values(reference)
    for path in ("dense_0/kernel", "dense_1/kernel", "head/kernel", "bn/gamma"):
        np.testing.assert_array_equal(got[path], want[path])
    keras_inits.reinitialize(model, seed=12)
    assert not np.array_equal(values(model)["dense_0/kernel"], want["dense_0/kernel"])


def test_a_failed_apply_records_nothing():
    model = mlp()
    recorded = {v.path: keras_inits.model.reinit.initializer_of(None, v) for v in model.weights}

    def flaky(shape, dtype=None):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        keras_inits.apply(model, {"head/kernel": "zeros", "bias": flaky}, seed=0, verbose=0)
    for v in model.weights:
        assert keras_inits.model.reinit.initializer_of(None, v) is recorded[v.path]


def test_einsum_kernels_get_the_fans_their_build_gives():
    # EinsumDense.build gives a VarianceScaling the einsum axes; apply gives it the same ones
    # (Keras' own computation, recorded at build, is the independent reference).
    inputs = keras.Input((8, 32))
    h = keras.layers.MultiHeadAttention(4, 16, name="mha", kernel_initializer="he_normal")(
        inputs, inputs)
    model = keras.Model(inputs, h)
    kernels = [v for v in model.weights if v.name == "kernel"]
    at_build = {v.path: keras_inits.model.reinit.initializer_of(None, v) for v in kernels}
    report = keras_inits.apply(model, {"kernel": keras_inits.HeNormal()}, seed=0, verbose=0)
    assert len(kernels) == 4
    for v in kernels:
        built = at_build[v.path]
        assert built is not None and built.input_axes is not None, v.path
        applied = report[v.path].initializer
        assert f"input_axes={list(built.input_axes)}" in applied, (v.path, applied)
        assert f"output_axes={list(built.output_axes)}" in applied, (v.path, applied)
