"""Porting presets (`keras_inits.get_preset`) and torch's context-dependent initializers.

- "torch" against real torch modules: for each Keras layer and its torch counterpart, every
  weight of ours after `apply(layer, "torch", seed=s)` and of a freshly constructed torch module
  (`torch.manual_seed(s)`), pooled over SEEDS, torch's transposed to Keras' layout (the shapes
  must agree): a two-sample KS test, exact bounds, exact constants. A test shows that the
  same KS test rejects the usual porting mistakes (fan_out for fan_in, groups forgotten, a
  bound 2x off, one bias where torch sums two).
- "flax" against `jax.nn.initializers` (Flax linen's defaults are jax's initializers).
- "bert", "gpt2", "vit_jax": moments with tolerances from the sample size, exact zeros/ones.
- "zero_init_residual" on `keras.applications.ResNet50(weights=None)` (slow).
- A preset is a fresh, editable InitMap; an unknown name is a ValueError with a suggestion.
"""

import math

import jax
import keras
import numpy as np
import pytest
import torch
from scipy import stats

import keras_inits
from keras_inits.model import presets
from tests.conftest import ks_critical, to_numpy

SEEDS = range(8)
# KS at alpha = 1e-3 between n and m samples: with every compared tensor pooled to n, m >= 2048
# over SEEDS, the critical distance is <= 1.95 * sqrt(2 / 2048) = 0.061. The mistakes below
# shift the law by a KS distance of 0.15 (a bound off by sqrt(2)) to 0.25 (off by 2), i.e. 2.4
# to 4 times the critical value: `test_the_ks_test_rejects_the_usual_mistakes` checks it.
ALPHA = 1e-3


@pytest.fixture(autouse=True)
def _fast_builds():
    """Builds layers with this package's initializers: on JAX, Keras' compile per new shape
    (0.2-0.9 s each) would dominate these tests; the presets then overwrite the values."""
    with keras_inits.override_keras_names():
        yield


def _built(layer, *shapes):
    layer.build(*shapes)
    return layer


# Each case: a Keras layer factory with its build shapes, the torch module factory, and for each
# Keras variable name the torch tensor(s) in Keras' layout.
def _linear_t(w):  # torch (out, in) -> Keras (in, out)
    return w.T


def _conv_t(w):  # torch (out, in/groups, *k) -> Keras (*k, in/groups, out)
    return w.permute(*range(2, w.ndim), 1, 0)


def _depthwise_t(multiplier):
    def convert(w):  # torch (in*m, 1, *k) -> Keras (*k, in, m)
        w = w.reshape(-1, multiplier, *w.shape[2:])
        return w.permute(*range(2, w.ndim), 0, 1)
    return convert


CASES = {
    "Dense": (lambda: _built(keras.layers.Dense(512), (None, 48)),
              lambda: torch.nn.Linear(48, 512),
              {"kernel": lambda m: _linear_t(m.weight), "bias": lambda m: m.bias}),
    "Conv1D-groups": (lambda: _built(keras.layers.Conv1D(256, 3, groups=2), (None, 10, 8)),
                      lambda: torch.nn.Conv1d(8, 256, 3, groups=2),
                      {"kernel": lambda m: _conv_t(m.weight), "bias": lambda m: m.bias}),
    "Conv2D-groups": (lambda: _built(keras.layers.Conv2D(256, 3, groups=4), (None, 6, 6, 8)),
                      lambda: torch.nn.Conv2d(8, 256, 3, groups=4),
                      {"kernel": lambda m: _conv_t(m.weight), "bias": lambda m: m.bias}),
    "Conv3D-groups": (lambda: _built(keras.layers.Conv3D(256, 2, groups=2), (None, 3, 3, 3, 4)),
                      lambda: torch.nn.Conv3d(4, 256, 2, groups=2),
                      {"kernel": lambda m: _conv_t(m.weight), "bias": lambda m: m.bias}),
    # torch's ConvTranspose weight is (in, out/groups, *k), Keras' kernel (*k, out, in): the
    # same permutation as a Conv's; torch's fan_in is out * prod(k), and so must ours be.
    "Conv2DTranspose": (lambda: _built(keras.layers.Conv2DTranspose(256, 3), (None, 5, 5, 8)),
                        lambda: torch.nn.ConvTranspose2d(8, 256, 3),
                        {"kernel": lambda m: _conv_t(m.weight), "bias": lambda m: m.bias}),
    "DepthwiseConv2D": (
        lambda: _built(keras.layers.DepthwiseConv2D(3, depth_multiplier=32), (None, 5, 5, 8)),
        lambda: torch.nn.Conv2d(8, 256, 3, groups=8),
        {"kernel": lambda m: _depthwise_t(32)(m.weight), "bias": lambda m: m.bias}),
    "SeparableConv2D": (
        lambda: _built(keras.layers.SeparableConv2D(256, 3, depth_multiplier=4),
                       (None, 5, 5, 8)),
        lambda: torch.nn.ModuleList([torch.nn.Conv2d(8, 32, 3, groups=8, bias=False),
                                     torch.nn.Conv2d(32, 256, 1)]),
        {"depthwise_kernel": lambda m: _depthwise_t(4)(m[0].weight),
         "pointwise_kernel": lambda m: _conv_t(m[1].weight), "bias": lambda m: m[1].bias}),
    "Embedding": (lambda: _built(keras.layers.Embedding(64, 32), (None, 5)),
                  lambda: torch.nn.Embedding(64, 32),
                  {"embeddings": lambda m: m.weight}),
    # Keras' LSTM and SimpleRNN have one bias where torch has b_ih + b_hh: their sum.
    "LSTM": (lambda: _built(keras.layers.LSTM(64), (None, 3, 16)),
             lambda: torch.nn.LSTM(16, 64),
             {"kernel": lambda m: m.weight_ih_l0.T, "recurrent_kernel": lambda m: m.weight_hh_l0.T,
              "bias": lambda m: m.bias_ih_l0 + m.bias_hh_l0}),
    # GRU (reset_after=True, Keras' default) keeps both biases, as rows of its (2, 3u) bias.
    "GRU": (lambda: _built(keras.layers.GRU(64), (None, 3, 16)),
            lambda: torch.nn.GRU(16, 64),
            {"kernel": lambda m: m.weight_ih_l0.T, "recurrent_kernel": lambda m: m.weight_hh_l0.T,
             "bias": lambda m: torch.stack([m.bias_ih_l0, m.bias_hh_l0])}),
    "SimpleRNN": (lambda: _built(keras.layers.SimpleRNN(256), (None, 3, 16)),
                  lambda: torch.nn.RNN(16, 256),
                  {"kernel": lambda m: m.weight_ih_l0.T,
                   "recurrent_kernel": lambda m: m.weight_hh_l0.T,
                   "bias": lambda m: m.bias_ih_l0 + m.bias_hh_l0}),
}


def _mha():
    layer = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16)
    layer.build((None, 5, 64), (None, 5, 64))
    return layer


def _mha_torch_tensors(m):
    """torch's packed in-projection (3E, E) and out-projection (E, E), in Keras' layouts."""
    q, k, v = m.in_proj_weight.chunk(3)
    heads = lambda w: w.T.reshape(64, 4, 16)  # noqa: E731
    qb, kb, vb = m.in_proj_bias.chunk(3)
    return {"query/kernel": heads(q), "key/kernel": heads(k), "value/kernel": heads(v),
            "attention_output/kernel": m.out_proj.weight.T.reshape(4, 16, 64),
            "query/bias": qb.reshape(4, 16), "key/bias": kb.reshape(4, 16),
            "value/bias": vb.reshape(4, 16), "attention_output/bias": m.out_proj.bias}


def _ours(make, seeds=SEEDS, preset="torch"):
    """Per variable path (without the layer's own name), our values pooled over `seeds`."""
    pooled = {}
    for seed in seeds:
        layer = make()
        keras_inits.apply(layer, preset, seed=seed, verbose=0)
        for v in layer.weights:
            key = v.path.split("/", 1)[1]
            pooled.setdefault(key, []).append(to_numpy(v.value))
    return pooled


def _theirs(make, tensors, seeds=SEEDS):
    pooled = {}
    for seed in seeds:
        torch.manual_seed(seed)
        module = make()
        for key, value in tensors(module).items():
            pooled.setdefault(key, []).append(value.detach().double().numpy())
    return pooled


def _assert_same_law(ours, theirs, where):
    ours, theirs = np.ravel(ours), np.ravel(theirs)
    assert min(ours.size, theirs.size) >= 2048, where  # the power argument above
    result = stats.ks_2samp(ours, theirs)
    assert result.statistic < ks_critical(ours.size, theirs.size, ALPHA), (where, result)


def _assert_fills(values, bound, summands=1):
    """All |values| <= bound, and the largest close to it. For n i.i.d. U(-b, b), P(max |x| <
    (1 - d) b) = (1 - d)**n; for the sum of two (triangular on ±b), P(|x| > (1 - d) b) = d**2
    so P(max < (1 - d) b) = (1 - d**2)**n. d = 13.8 / n, resp. sqrt(13.8 / n), makes that
    e**-13.8 = 1e-6."""
    values = np.abs(np.ravel(values))
    assert values.max() <= bound * (1 + 1e-6), (values.max(), bound)
    d = 13.8 / values.size if summands == 1 else math.sqrt(13.8 / values.size)
    assert values.max() >= (1 - d) * bound, (values.max(), bound, d)


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_preset_matches_torch_modules(case):
    make_keras, make_torch, convert = CASES[case]
    ours = _ours(make_keras)
    theirs = _theirs(make_torch, lambda m: {k: f(m) for k, f in convert.items()})
    suffix = {k.rsplit("/", 1)[-1]: k for k in ours}  # "lstm_cell/kernel" -> by name
    assert sorted(suffix) == sorted(convert), "every Keras variable has its torch tensor"
    for name in convert:
        mine, reference = ours[suffix[name]], theirs[name]
        assert mine[0].shape == reference[0].shape, (name, mine[0].shape, reference[0].shape)
        _assert_same_law(mine, reference, f"{case} {name}")
        # Exact bounds, from torch's own formula (N(0, 1) embeddings have none).
        bound, summands = _torch_bound(make_torch, name)
        if bound is not None:
            _assert_fills(mine, bound, summands)
            _assert_fills(reference, bound, summands)  # the formula is torch's


def _torch_bound(make_torch, name):
    """(bound, summands) by torch's own formula, from the torch module's attributes."""
    module = make_torch()
    if isinstance(module, torch.nn.Embedding):
        return None, 1  # N(0, 1): no bound
    if isinstance(module, torch.nn.RNNBase):
        summands = 2 if name == "bias" and not isinstance(module, torch.nn.GRU) else 1
        return summands / math.sqrt(module.hidden_size), summands
    if isinstance(module, torch.nn.ModuleList):  # separable: depthwise, then pointwise
        module = module[0] if name == "depthwise_kernel" else module[1]
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
    return 1 / math.sqrt(fan_in), 1


def test_torch_preset_multi_head_attention():
    ours = _ours(_mha)
    theirs = _theirs(lambda: torch.nn.MultiheadAttention(64, 4), _mha_torch_tensors)
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        assert ours[key][0].shape == theirs[key][0].shape, key
        if key.endswith("bias"):  # torch: constant_(in_proj_bias, 0), out_proj.bias 0
            assert not np.any(ours[key]) and not np.any(theirs[key]), key
        else:
            _assert_same_law(ours[key], theirs[key], key)
    # xavier_uniform_ on the packed (3E, E) matrix: sqrt(6 / (E + 3E)); out_proj: 1/sqrt(E).
    for key in ("query/kernel", "key/kernel", "value/kernel"):
        _assert_fills(ours[key], math.sqrt(6 / (64 + 3 * 64)))
    _assert_fills(ours["attention_output/kernel"], 1 / math.sqrt(64))


def test_in_and_output_projections_are_told_apart_by_their_contracted_axes():
    # A multi-dimensional output_shape gives the output projection two output axes too.
    layer = keras.layers.MultiHeadAttention(4, 8, output_shape=(4, 8))
    layer.build((None, 5, 32), (None, 5, 32))
    report = keras_inits.apply(layer, "torch", seed=0, dry_run=True, verbose=0)
    kinds = {e.path.split("/")[1]: e.initializer.split("(")[0] for e in report
             if e.path.endswith("kernel")}
    assert kinds == {"query": "TorchInProjection", "key": "TorchInProjection",
                     "value": "TorchInProjection", "attention_output": "TorchKernel"}


def test_torch_preset_normalizations_and_prelu_are_exact():
    layers = [_built(keras.layers.LayerNormalization(), (None, 7)),
              _built(keras.layers.BatchNormalization(), (None, 7)),
              _built(keras.layers.PReLU(), (None, 7))]
    for layer in layers:
        for v in layer.weights:  # away from the values the preset must restore
            v.assign(np.full(v.shape, 3.0))
        keras_inits.apply(layer, "torch", seed=0, verbose=0)
    ln = torch.nn.LayerNorm(7)
    bn = torch.nn.BatchNorm1d(7)
    prelu = torch.nn.PReLU(7)
    expected = {
        layers[0]: [ln.weight, ln.bias],
        layers[1]: [bn.weight, bn.bias, bn.running_mean, bn.running_var],
        layers[2]: [prelu.weight],
    }
    for layer, tensors in expected.items():
        assert len(layer.weights) == len(tensors)
        for v, t in zip(layer.weights, tensors):
            np.testing.assert_array_equal(to_numpy(v.value), t.detach().double().numpy(), v.path)


# --- the KS test has power against the usual mistakes -----------------------------------------


def _torch_linear_kernels(in_features, seeds=SEEDS):
    return _theirs(lambda: torch.nn.Conv2d(in_features, 256, 3, groups=4),
                   lambda m: {"kernel": _conv_t(m.weight), "bias": m.bias}, seeds)


MISTAKES = {
    # A Conv2D(256, 3, groups=4) on 8 channels: torch's fan_in is (8/4)*9 = 18.
    "fan_out instead of fan_in": keras_inits.KaimingUniform(math.sqrt(5), mode="fan_out"),
    "groups forgotten (fan_in 8*9)": keras_inits.TorchKernel(fan_in=8 * 9),
    "bound 2x off": keras_inits.RandomUniform(-2 / math.sqrt(18), 2 / math.sqrt(18)),
    "bound sqrt(2) off": keras_inits.TorchKernel(fan_in=36),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_ks_test_rejects_the_usual_mistakes(mistake):
    theirs = _torch_linear_kernels(8)["kernel"]
    wrong = {keras.layers.Conv2D: {"kernel": MISTAKES[mistake], "bias": "zeros"}}
    ours = []
    for seed in SEEDS:
        layer = _built(keras.layers.Conv2D(256, 3, groups=4), (None, 6, 6, 8))
        keras_inits.apply(layer, wrong, seed=seed, verbose=0)
        ours.append(to_numpy(layer.kernel))
    with pytest.raises(AssertionError):
        _assert_same_law(ours, theirs, mistake)


def test_one_uniform_bias_where_torch_sums_two_is_rejected():
    # Keras' LSTM bias is torch's b_ih + b_hh: a single U(±1/sqrt(units)) is the wrong law.
    theirs = _theirs(lambda: torch.nn.LSTM(16, 64),
                     lambda m: {"bias": m.bias_ih_l0 + m.bias_hh_l0})["bias"]
    single = {keras.layers.LSTMCell: {"bias": keras_inits.TorchRecurrent(summands=1)}}
    ours = []
    for seed in SEEDS:
        layer = _built(keras.layers.LSTM(64), (None, 3, 16))
        keras_inits.apply(layer, single, seed=seed, verbose=0)
        ours.append(to_numpy(layer.cell.bias))
    with pytest.raises(AssertionError):
        _assert_same_law(ours, theirs, "one uniform bias")


# --- the bindable initializers on their own ------------------------------------------------------


def test_torch_bias_needs_fan_in_when_called_directly():
    with pytest.raises(ValueError, match=r"TorchBias.*needs `fan_in`.*keras_inits.apply.*"
                                         r"fan_in=None"):
        keras_inits.TorchBias()((8,))
    values = to_numpy(keras_inits.TorchBias(fan_in=25, seed=1)((4096,)))
    _assert_fills(values, 1 / math.sqrt(25))
    assert not np.any(to_numpy(keras_inits.TorchBias(fan_in=0, seed=1)((5,))))  # torch: bound 0


def test_bind_reads_torch_fan_in_and_keeps_explicit_values():
    conv = _built(keras.layers.Conv2DTranspose(12, (3, 2)), (None, 5, 5, 7))
    assert keras_inits.TorchBias(seed=3).bind(conv, conv.bias).fan_in == 12 * 3 * 2
    assert keras_inits.TorchBias(fan_in=5).bind(conv, conv.bias).fan_in == 5
    bound = keras_inits.TorchBias(seed=3).bind(conv, conv.bias)
    assert bound.seed == 3  # bind keeps the seed
    with pytest.raises(ValueError, match=r"fan_in.*LayerNormalization"):
        keras_inits.TorchBias().bind(_built(keras.layers.LayerNormalization(), (None, 4)))
    with pytest.raises(ValueError, match=r"units"):
        keras_inits.TorchRecurrent().bind(_built(keras.layers.Dense(3), (None, 4)))
    with pytest.raises(ValueError, match=r"EinsumDense"):
        keras_inits.TorchInProjection().bind(_built(keras.layers.Dense(3), (None, 4)))


# --- flax: Flax linen's defaults are jax.nn.initializers ------------------------------------------


def _jax_draws(init, shape, seeds=SEEDS):
    return [np.asarray(init(jax.random.key(s), shape, "float32"), dtype="float64") for s in seeds]


FLAX_CASES = {
    "Dense": (lambda: _built(keras.layers.Dense(64), (None, 48)), "kernel",
              jax.nn.initializers.lecun_normal(), (48, 64), lambda w: w),
    # Flax's ConvTranspose kernel is (*k, in, out); Keras' (*k, out, in).
    "Conv2DTranspose": (lambda: _built(keras.layers.Conv2DTranspose(16, 3), (None, 5, 5, 8)),
                        "kernel", jax.nn.initializers.lecun_normal(), (3, 3, 8, 16),
                        lambda w: np.swapaxes(w, -1, -2)),
    # A depthwise conv is Flax's Conv with feature_group_count=in: kernel (*k, 1, in*m).
    "DepthwiseConv2D": (
        lambda: _built(keras.layers.DepthwiseConv2D(3, depth_multiplier=32), (None, 5, 5, 8)),
        "kernel", jax.nn.initializers.lecun_normal(), (3, 3, 1, 256),
        lambda w: w.reshape(3, 3, 8, 32)),
    "Embedding": (lambda: _built(keras.layers.Embedding(64, 32), (None, 5)), "embeddings",
                  jax.nn.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0),
                  (64, 32), lambda w: w),
    # Flax's DenseGeneral (MultiHeadDotProductAttention's projections) draws lecun_normal on
    # the kernel flattened to (contracted, features) and reshapes it: fan_in = the contracted
    # size, 48 for query/key/value, heads * head_dim = 64 for the output projection.
    "MHA query": (lambda: _flax_mha(), "query/kernel", jax.nn.initializers.lecun_normal(),
                  (48, 64), lambda w: w.reshape(48, 4, 16)),
    "MHA output": (lambda: _flax_mha(), "attention_output/kernel",
                   jax.nn.initializers.lecun_normal(), (64, 48),
                   lambda w: w.reshape(4, 16, 48)),
    "EinsumDense": (
        lambda: _built(keras.layers.EinsumDense("btd,dhf->bthf", output_shape=(None, 2, 32)),
                       (None, 5, 40)),
        "kernel", jax.nn.initializers.lecun_normal(), (40, 64), lambda w: w.reshape(40, 2, 32)),
}


def _flax_mha():
    layer = keras.layers.MultiHeadAttention(4, 16)
    layer.build((None, 6, 48), (None, 6, 48))
    return layer


@pytest.mark.parametrize("case", sorted(FLAX_CASES))
def test_flax_preset_matches_jax_initializers(case):
    make, name, init, flax_shape, to_keras = FLAX_CASES[case]
    ours = [v for k, v in _ours(make, preset="flax").items() if k.endswith(name)][0]
    theirs = [to_keras(w) for w in _jax_draws(init, flax_shape)]
    assert ours[0].shape == theirs[0].shape
    _assert_same_law(ours, theirs, case)


def test_flax_preset_recurrent_cells():
    lstm = _built(keras.layers.LSTM(32), (None, 3, 16))
    for v in lstm.weights:
        v.assign(np.full(v.shape, 3.0))
    keras_inits.apply(lstm, "flax", seed=0, verbose=0)
    recurrent = to_numpy(lstm.cell.recurrent_kernel)
    for gate in np.split(recurrent, 4, axis=1):  # Flax: one orthogonal (u, u) Dense per gate
        np.testing.assert_allclose(gate.T @ gate, np.eye(32), atol=1e-5)
    assert not np.any(to_numpy(lstm.cell.bias))  # zeros, no forget-gate 1
    kernel = to_numpy(lstm.cell.kernel).ravel()  # lecun_normal: std 1/sqrt(16) after truncation
    assert abs(kernel.std() - 0.25) < 5 * 0.25 / math.sqrt(2 * kernel.size)
    assert np.abs(kernel).max() <= 2 * 0.25 / 0.87962566103423978


# --- Hugging Face and timm recipes: moments and exact values -----------------------------------


def _gpt_like(n_layer=3, d=64, vocab=97):
    tokens = keras.Input((8,), dtype="int32")
    x = keras.layers.Embedding(vocab, d, name="wte")(tokens)
    for i in range(n_layer):
        h = keras.layers.LayerNormalization(name=f"h{i}_ln_1")(x)
        h = keras.layers.MultiHeadAttention(4, d // 4, name=f"h{i}_attn")(h, h)
        x = keras.layers.Add()([x, h])
        h = keras.layers.LayerNormalization(name=f"h{i}_ln_2")(x)
        h = keras.layers.Dense(4 * d, activation="gelu", name=f"h{i}_mlp_c_fc")(h)
        h = keras.layers.Dense(d, name=f"h{i}_mlp_c_proj")(h)
        x = keras.layers.Add()([x, h])
    return keras.Model(tokens, keras.layers.Dense(vocab, name="lm_head")(x))


def _check_normal(values, std, where):
    # The std estimate's standard error is std / sqrt(2n) and the mean's std / sqrt(n): 5 SE.
    values = np.ravel(values)
    n = values.size
    assert abs(values.mean()) < 5 * std / math.sqrt(n), where
    assert abs(values.std() - std) < 5 * std / math.sqrt(2 * n), (where, values.std(), std)
    assert stats.kstest(values, stats.norm(0, std).cdf).statistic < ks_critical(n), where


def test_gpt2_preset_scales_the_residual_projections():
    n_layer = 3
    model = _gpt_like(n_layer)
    for v in model.weights:
        v.assign(np.full(v.shape, 3.0))
    report = keras_inits.apply(model, keras_inits.get_preset("gpt2", n_layer=n_layer), seed=0,
                               verbose=0)
    assert not report.unmatched
    residual = 0.02 / math.sqrt(2 * n_layer)
    for v in model.weights:
        values, name = to_numpy(v.value), v.path
        if name.endswith(("attention_output/kernel", "c_proj/kernel")):
            _check_normal(values, residual, name)
        elif name.endswith(("kernel", "embeddings")):
            _check_normal(values, 0.02, name)
        elif name.endswith(("bias", "beta")):
            assert not np.any(values), name
        else:
            assert name.endswith("gamma") and np.all(values == 1), name
    scaled = [e.path for e in report if "DepthScaled" in e.initializer]
    assert len(scaled) == 2 * n_layer  # attention and MLP projections of every block


def test_flax_preset_einsum_biases_are_zero():
    layer = _flax_mha()
    for v in layer.weights:
        v.assign(np.full(v.shape, 3.0))
    report = keras_inits.apply(layer, "flax", seed=0, verbose=0)
    assert not report.unmatched
    for v in layer.weights:
        if v.name == "bias":
            assert not np.any(to_numpy(v.value)), v.path


def test_gpt2_preset_infers_n_layer_from_the_residual_blocks():
    n_layer = 3
    given, inferred = _gpt_like(n_layer), _gpt_like(n_layer)
    keras_inits.apply(given, keras_inits.get_preset("gpt2", n_layer=n_layer), seed=0, verbose=0)
    report = keras_inits.apply(inferred, "gpt2", seed=0, verbose=0)
    assert presets.infer_n_layer(inferred) == n_layer
    for a, b in zip(given.weights, inferred.weights):
        np.testing.assert_array_equal(to_numpy(a.value), to_numpy(b.value), err_msg=a.path)
    assert "num_layers=3" in report["h0_attn/attention_output/kernel"].initializer
    # Functional auto-names (multi_head_attention, multi_head_attention_1, ...) and a stack
    # whose MLP is not matched: one residual kind per block.
    inputs = keras.Input((4, 16))
    x = inputs
    for _ in range(5):
        x = keras.layers.Add()([x, keras.layers.MultiHeadAttention(2, 8)(x, x)])
    assert presets.infer_n_layer(keras.Model(inputs, x)) == 5


def test_gpt2_preset_refuses_what_it_cannot_infer():
    no_blocks = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head")])
    with pytest.raises(ValueError, match=r"Cannot infer GPT-2's `n_layer`: no variable path"):
        presets.infer_n_layer(no_blocks)
    # apply needs n_layer only where a path matches: without residual projections, BERT's rules.
    assert not keras_inits.apply(no_blocks, "gpt2", seed=0, verbose=0).unmatched
    uneven = _gpt_like(2)  # an extra projection named like a residual one, outside any block
    inputs = uneven.input
    extra = keras.layers.Dense(97, name="extra_c_proj")(uneven.output)
    with pytest.raises(ValueError, match=r"do not come once per block.*Pass `n_layer=`"):
        keras_inits.apply(keras.Model(inputs, extra), "gpt2", seed=0, verbose=0)
    with pytest.raises(ValueError, match=r"GPT2Residual.*needs the model"):
        presets.GPT2Residual()((3, 3))


def test_bert_preset_is_hugging_face_over_torch():
    inputs = keras.Input((8, 32))
    x = keras.layers.MultiHeadAttention(4, 8)(inputs, inputs)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.Conv1D(64, 3)(x)  # not in BERT's _init_weights: torch's default stays
    model = keras.Model(inputs, keras.layers.Dense(512)(x))
    keras_inits.apply(model, "bert", seed=1, verbose=0)
    dense = model.layers[-1]
    conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)][0]
    _check_normal(to_numpy(dense.kernel), 0.02, "dense kernel")
    _check_normal(to_numpy(model.layers[1]._query_dense.kernel), 0.02, "query kernel")
    assert not np.any(to_numpy(dense.bias))
    limit = 1 / math.sqrt(3 * 32)  # torch's Conv1d default: U(±1/sqrt(fan_in))
    kernel = to_numpy(conv.kernel)
    _assert_fills(kernel, limit)
    assert 0 < np.abs(to_numpy(conv.bias)).max() <= limit


def test_vit_jax_preset():
    images = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(32, 4, strides=4, name="patch_embed")(images)
    x = keras.layers.Reshape((4, 32))(x)
    x = keras.layers.MultiHeadAttention(4, 8, name="attn")(x, x)
    x = keras.layers.Dense(128, name="mlp_fc1")(x)
    x = keras.layers.Dense(32, name="mlp_fc2")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(images, keras.layers.Dense(10, name="head")(x))
    keras_inits.apply(model, keras_inits.get_preset("vit_jax", head_bias=-2.0), seed=0,
                      verbose=0)
    get = lambda name: to_numpy(model.get_layer(name).weights[0].value)  # noqa: E731
    assert not np.any(get("head")) and np.all(to_numpy(model.get_layer("head").bias) == -2.0)
    limit = math.sqrt(6 / (128 + 32))  # xavier_uniform
    fc2 = get("mlp_fc2")
    _assert_fills(fc2, limit)
    bias = to_numpy(model.get_layer("mlp_fc1").bias)  # N(0, 1e-6**2)
    assert 0 < np.abs(bias).max() < 5e-6
    attn = model.get_layer("attn")
    packed = math.sqrt(6 / (32 + 3 * 32))  # timm's fused qkv Linear
    _assert_fills(to_numpy(attn._query_dense.kernel), packed)
    out = to_numpy(attn._output_dense.kernel)  # attn.proj: xavier on (E, E), einsum fans
    _assert_fills(out, math.sqrt(6 / 64))
    patch = get("patch_embed")  # lecun_normal, truncated at 2 std
    assert np.abs(patch).max() <= 2 / math.sqrt(48) / 0.87962566103423978


def test_vit_timm_preset():
    tokens = keras.Input((8,), dtype="int32")
    x = keras.layers.Embedding(8, 64, name="position_embedding")(tokens)
    x = keras.layers.MultiHeadAttention(4, 16, name="attn")(x, x)
    model = keras.Model(tokens, keras.layers.Dense(256, name="mlp_fc1")(x))
    keras_inits.apply(model, "vit_timm", seed=0, verbose=0)
    for name in ("position_embedding", "mlp_fc1"):
        _check_normal(to_numpy(model.get_layer(name).weights[0].value), 0.02, name)
    attn = model.get_layer("attn")
    _check_normal(to_numpy(attn._query_dense.kernel), 0.02, "query")
    assert not np.any(to_numpy(attn._query_dense.bias))
    assert not np.any(to_numpy(model.get_layer("mlp_fc1").bias))


def test_torchvision_resnet_preset_matches_kaiming_normal_fan_out():
    ours = _ours(lambda: _built(keras.layers.Conv2D(64, 3), (None, 6, 6, 16)),
                 preset="torchvision_resnet")["kernel"]

    def torchvision_conv():
        conv = torch.nn.Conv2d(16, 64, 3, bias=False)
        torch.nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        return conv

    theirs = _theirs(torchvision_conv, lambda m: {"kernel": _conv_t(m.weight)})["kernel"]
    assert ours[0].shape == theirs[0].shape
    _assert_same_law(ours, theirs, "torchvision conv")
    _check_normal(ours, math.sqrt(2 / (64 * 9)), "kaiming_normal fan_out")


@pytest.mark.slow
def test_zero_init_residual_on_resnet50():
    model = keras.applications.ResNet50(weights=None)
    before = {v.path: to_numpy(v.value) for v in model.weights}
    report = keras_inits.apply(model, "zero_init_residual", verbose=0)
    zeroed = {v.path for v in model.weights if not np.any(to_numpy(v.value))
              and np.any(before[v.path])}
    blocks = [f"conv{stage}_block{block}_3_bn/gamma"
              for stage, count in ((2, 3), (3, 4), (4, 6), (5, 3))
              for block in range(1, count + 1)]
    assert zeroed == set(blocks)
    for v in model.weights:  # nothing else changed
        if v.path not in zeroed:
            np.testing.assert_array_equal(to_numpy(v.value), before[v.path], v.path)
    assert len([e for e in report.planned if e.initializer == "ZeroInitResidual()"]) == 16


def test_zero_init_residual_finds_branches_of_the_plus_operator():
    inputs = keras.Input((4,))
    branch = keras.layers.BatchNormalization(name="branch_bn")(keras.layers.Dense(4)(inputs))
    shortcut = keras.layers.BatchNormalization(name="shortcut_bn")(inputs)
    model = keras.Model(inputs, shortcut + branch)
    keras_inits.apply(model, "zero_init_residual", verbose=0)
    assert not np.any(to_numpy(model.get_layer("branch_bn").gamma))
    assert np.all(to_numpy(model.get_layer("shortcut_bn").gamma) == 1)


# --- the registry of presets ---------------------------------------------------------------------


def test_presets_are_fresh_editable_initmaps():
    assert presets.names() == ["bert", "flax", "gpt2", "torch", "torchvision_resnet", "vit_jax",
                               "vit_timm", "zero_init_residual"]
    first = keras_inits.get_preset("torch")
    assert isinstance(first, keras_inits.InitMap)
    first["head/kernel"] = "zeros"
    first[keras.layers.Dense]["bias"] = "ones"
    second = keras_inits.get_preset("torch")
    assert "head/kernel" not in second
    assert type(second[keras.layers.Dense]["bias"]) is keras_inits.TorchBias
    config = second.get_config()
    assert keras_inits.InitMap.from_config(config).get_config() == config


@pytest.mark.parametrize("name, arguments, error, pattern", [
    ("troch", {}, ValueError, r"Unknown preset: 'troch'. Did you mean 'torch'\?.*\['bert'"),
    ("resnet", {}, ValueError, r"must be one of \['bert', 'flax'"),
    (3, {}, TypeError, r"name=3"),
    ("gpt2", {"residual": "(c_proj"}, ValueError, r"`residual` must be a valid regex"),
    ("gpt2", {"n_layer": 0}, ValueError, r"n_layer.*>= 1.*n_layer=0"),
    ("gpt2", {"n_layer": 2.0}, TypeError, r"n_layer=2.0"),
    ("bert", {"initializer_range": -1.0}, ValueError, r"initializer_range=-1.0"),
    ("torch", {"n_layer": 2}, TypeError, r"torch.*n_layer"),
    ("vit_jax", {"head": 3}, TypeError, r"head=3"),
])
def test_bad_preset_requests(name, arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        keras_inits.get_preset(name, **arguments)
    if isinstance(name, str) and not arguments:
        with pytest.raises(error, match=pattern):
            keras_inits.apply(_built(keras.layers.Dense(2), (None, 3)), name, verbose=0)
