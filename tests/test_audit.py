"""audit: mis-scaled, zero and non-finite weights are flagged, correct ones pass (the z-scores'
standard errors are checked against their empirical spread), policies, reloaded models, CLI."""

import os

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits import cli
from keras_inits.model.audit import law_of
from tests.conftest import to_numpy


def mlp(bias="zeros"):
    return keras.Sequential([
        keras.Input((48,)),
        keras.layers.Dense(64, "relu", name="d1", kernel_initializer=keras_inits.HeNormal(seed=1),
                           bias_initializer=bias),
        keras.layers.LayerNormalization(name="norm"),
        keras.layers.Dense(32, name="d2", kernel_initializer=keras_inits.HeNormal(seed=2)),
    ], name="m")


def flags(report):
    return {entry.path: entry.flag for entry in report.flagged}


def test_a_fresh_model_passes_and_a_mis_scaled_kernel_is_flagged():
    model = mlp()
    report = keras_inits.audit(model)
    assert report.ok, flags(report)
    assert report["m/d1/kernel"].law == "truncated normal"
    kernel = model.get_layer("d1").kernel
    kernel.assign(kernel * 3.0)  # He x 3: std z = 2 sqrt(2 n) (kurtosis aside) ~ 200 here
    report = keras_inits.audit(model)
    assert list(flags(report)) == ["m/d1/kernel"]
    assert "std z=+" in report["m/d1/kernel"].flag and "outside the law's bounds" in report[
        "m/d1/kernel"].flag
    assert report["m/d1/kernel"].z_std > 100


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_a_ten_percent_error_is_flagged_on_a_large_kernel(factor):
    # n = 256 * 512: the std's standard error is ~0.2%, so 10% is ~50 standard errors.
    layer = keras.layers.Dense(512, kernel_initializer=keras_inits.GlorotNormal(seed=0))
    layer.build((None, 256))
    layer.kernel.assign(layer.kernel * factor)
    assert "std z=" in keras_inits.audit(layer)[layer.kernel.path].flag


SCHEMES = [
    lambda seed: keras_inits.HeNormal(seed=seed),
    lambda seed: keras_inits.GlorotUniform(seed=seed),
    lambda seed: keras_inits.XavierNormal(seed=seed),  # untruncated
    lambda seed: keras_inits.KaimingUniform(seed=seed),
    lambda seed: keras_inits.RandomNormal(0.3, 0.2, seed=seed),
    lambda seed: keras_inits.TruncatedNormal(0.1, 0.5, lower=-1.0, upper=3.0, seed=seed),
    lambda seed: keras_inits.RandomUniform(-0.1, 0.3, seed=seed),
    lambda seed: keras_inits.Sparse(0.75, 0.1, seed=seed),
    lambda seed: keras_inits.TorchKernel(fan_in=32, seed=seed),
    lambda seed: keras_inits.DepthScaled(keras_inits.HeNormal(seed=seed), num_layers=6),
]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_z_scores_are_standard_normal_for_correct_draws(scheme):
    # The audit's standard errors (sigma / sqrt(n) for the mean, sigma sqrt((kappa-1)/(4n)) for
    # the std) are right iff the z-scores of correct draws have spread 1. 150 draws: the
    # spread's own standard error is ~1 / sqrt(300) = 0.06, so [0.75, 1.25] is ~4 of them.
    # The same draws are the false-positive check: none may be flagged (P ~ 150 * 1e-6).
    layer = keras.layers.Dense(24, kernel_initializer=scheme(0))
    layer.build((None, 32))
    z_mean, z_std = [], []
    for seed in range(150):
        layer.kernel.assign(scheme(seed)((32, 24)))
        entry = keras_inits.audit(layer)[layer.kernel.path]
        assert not entry.flag, (seed, entry.flag)
        z_mean.append(entry.z_mean)
        z_std.append(entry.z_std)
    for z in (z_mean, z_std):
        assert abs(np.mean(z)) < 0.35 and 0.75 < np.std(z) < 1.25, (np.mean(z), np.std(z))


@pytest.mark.parametrize(
    "init, shape",
    [
        (keras_inits.Orthogonal(gain=1.5, seed=0), (24, 40)),
        (keras_inits.Orthogonal(seed=1), (3, 3, 8, 16)),
        (keras_inits.BlockOrthogonal(seed=2), (8, 32)),
        (keras_inits.DeltaOrthogonal(seed=3), (3, 3, 8, 16)),
        (keras_inits.ConvolutionOrthogonal(seed=4), (3, 3, 8, 8)),
    ],
)
def test_orthogonal_schemes_are_checked_by_their_singular_values(init, shape):
    values = to_numpy(init(shape))
    entry = _audit_values(init, shape, values)
    assert entry.law == "orthogonal" and not entry.flag, entry.flag
    assert entry.max_singular_error < 1e-4
    rms = np.sqrt(entry.mean**2 + entry.std**2)
    assert rms == pytest.approx(entry.expected_std, rel=1e-4)  # the RMS is exact
    entry = _audit_values(init, shape, 1.05 * values)
    assert "singular values" in entry.flag


def _audit_values(init, shape, values):
    """The audit of one weight of `shape` created by `init`, holding `values`."""

    class Holder(keras.layers.Layer):
        def build(self, _):
            self.w = self.add_weight(shape=shape, initializer=init, name="w")

    holder = Holder()
    holder.build(None)
    holder.w.assign(values.astype("float32"))
    return keras_inits.audit(holder)[holder.w.path]


def test_exact_initializers_zeros_and_non_finite_values():
    model = mlp(bias=keras_inits.Constant(0.1))
    model.get_layer("d1").bias.assign(np.full(64, 0.2, "float32"))
    model.get_layer("d2").kernel.assign(np.zeros((64, 32), "float32"))
    gamma = model.get_layer("norm").gamma
    gamma.assign(np.where(np.arange(64) == 5, np.nan, 1.0).astype("float32"))
    found = flags(keras_inits.audit(model))
    assert "differs from the initializer's values" in found["m/d1/bias"]
    assert found["m/d2/kernel"].startswith("all zeros")
    assert found["m/norm/gamma"] == "1 non-finite values"
    assert set(found) == {"m/d1/bias", "m/d2/kernel", "m/norm/gamma"}


def test_a_zero_kernel_from_zeros_and_unknown_laws_are_not_flagged():
    def custom(shape, dtype=None):
        return keras.ops.ones(shape, dtype=dtype) * 0.5

    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(3, kernel_initializer="zeros"),
                              keras.layers.Dense(2, kernel_initializer=custom)])
    report = keras_inits.audit(model)
    assert report.ok, flags(report)
    assert [e.law for e in report][:4] == ["exact", "exact", "unknown", "exact"]
    model.layers[1].kernel.assign(np.zeros((3, 2), "float32"))  # unknown law: zeros still flagged
    assert flags(keras_inits.audit(model)) == {model.layers[1].kernel.path: "all zeros"}


def test_keras_built_ins_are_read_as_this_package_counterparts():
    layer = keras.layers.Dense(16, kernel_initializer=keras.initializers.HeUniform(seed=0))
    layer.build((None, 64))
    entry = keras_inits.audit(layer)[layer.kernel.path]
    assert entry.law == "uniform" and entry.expected_max == pytest.approx((6 / 64) ** 0.5)
    assert not entry.flag


def test_law_of_closed_forms():
    law = law_of(keras_inits.TruncatedNormal(0.0, 1.0, seed=0), (10,))
    assert law.std == pytest.approx(0.87962566103423978, rel=1e-8)  # Keras' constant
    law = law_of(keras_inits.TorchRecurrent(units=16, summands=2), (4, 4))
    assert law.std == pytest.approx(0.25 * (2 / 3) ** 0.5) and law.high == pytest.approx(0.5)
    assert law_of(lambda shape, dtype=None: None, (3,)).name == "unknown"


def test_policy_initializers_are_resolved_like_apply():
    model = mlp()
    policy = keras_inits.InitMap({keras.layers.Dense: {"kernel": "lecun_uniform"},
                                  "m/d2/bias": keras_inits.Constant(0.5)})
    keras_inits.apply(model, policy, seed=0, verbose=0)
    report = keras_inits.audit(model, policy)
    assert report.ok, flags(report)
    assert report["m/d1/kernel"].source.startswith("policy")
    assert report["m/d1/kernel"].law == "uniform"
    assert report["m/norm/gamma"].source == "recorded"
    # Without the policy: against what apply recorded, the same verdicts.
    recorded = keras_inits.audit(model)
    assert recorded.ok, flags(recorded)
    assert recorded["m/d1/kernel"].source == "applied"
    assert recorded["m/d1/kernel"].initializer == report["m/d1/kernel"].initializer
    # A plain assign (not apply) records nothing: a tripled kernel is flagged against its law.
    kernel = model.get_layer("d1").kernel
    kernel.assign(3.0 * to_numpy(kernel.value))
    assert "m/d1/kernel" in flags(keras_inits.audit(model))


def test_a_reloaded_model_is_audited(tmp_path):
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(16, 3, kernel_initializer=keras_inits.KaimingNormal(seed=0)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, kernel_initializer=keras_inits.Orthogonal(seed=1)),
    ])
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    report = keras_inits.audit(reloaded)
    assert report.ok, flags(report)
    assert [e.law for e in report] == ["normal", "exact", "orthogonal", "exact"]
    reloaded.layers[0].kernel.assign(reloaded.layers[0].kernel * 2)
    assert list(flags(keras_inits.audit(reloaded))) == [reloaded.layers[0].kernel.path]


def test_report_table_and_list():
    report = keras_inits.audit(mlp())
    text = str(report).splitlines()
    assert text[0].startswith("audited 6 variables, 0 flagged")
    assert text[1].split()[:5] == ["variable", "shape", "initializer", "fans", "law"]
    assert len(text) == 3 + 6 and text[3].startswith("m/d1/kernel")
    rows = report.to_list()
    assert rows[0]["path"] == "m/d1/kernel" and rows[0]["fan_in"] == 48 and rows[0]["flag"] == ""
    with pytest.raises(KeyError, match="nope"):
        report["nope"]


def test_bad_input():
    with pytest.raises(TypeError, match="model_or_layer"):
        keras_inits.audit("model")
    with pytest.raises(ValueError, match="built"):
        keras_inits.audit(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="no-such-init"):
        keras_inits.audit(mlp(), {"m/d1/kernel": "no-such-init"})
    with pytest.raises(TypeError, match="policy"):
        keras_inits.audit(mlp(), 3)


def test_cli_audit(capsys, tmp_path):
    path = os.path.join(tmp_path, "m.keras")
    model = mlp()
    model.save(path)
    assert cli.main(["audit", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audited 6 variables, 0 flagged") and "d1/kernel" in out
    model.get_layer("d2").kernel.assign(model.get_layer("d2").kernel * 3)
    model.save(path)
    assert cli.main(["audit", path]) == 1
    assert "1 flagged" in capsys.readouterr().out
    for argv, match in [(["audit", os.path.join(tmp_path, "missing.keras")], "existing .keras"),
                        (["audit", __file__], "existing .keras"),
                        (["audit", path, "--policy", "no-such-preset"], "no-such-preset")]:
        assert cli.main(argv) == 2
        assert match in capsys.readouterr().err

