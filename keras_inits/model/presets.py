"""Porting presets: other libraries' whole-model initialization recipes, as `InitMap`s.

`get_preset(name, **arguments)` builds a fresh `InitMap` that users may copy and edit;
`keras_inits.apply(model, "torch")` resolves a name through it. Each builder's docstring cites
the source it reproduces. Where the recipe needs more than a variable's shape (torch's bias
bound from the kernel's fan_in, a recurrent layer's units, a residual branch's last
normalization), the value is a context-aware initializer that `apply` binds to the layer
(`TorchBias`, `TorchKernel`, `TorchInProjection`, `TorchRecurrent`, `ZeroInitResidual`).

Layer classes a recipe does not cover are not in its map: `apply` leaves their variables alone
and lists them in `report.unmatched`. BatchNormalization's moving statistics are named
explicitly where the source resets them (torch and flax: mean 0, variance 1).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

import keras

from keras_inits import _checks, _registry
from keras_inits.model.policy import InitMap
from keras_inits.schemes.constant import Constant, Ones, Zeros
from keras_inits.schemes.depth import DepthScaled
from keras_inits.schemes.orthogonal import BlockOrthogonal
from keras_inits.schemes.random import RandomNormal
from keras_inits.schemes.torch_names import (
    KaimingNormal,
    TorchBias,
    TorchInProjection,
    TorchKernel,
    TorchRecurrent,
    XavierUniform,
    ZeroInitResidual,
)
from keras_inits.schemes.variance import LecunNormal, VarianceScaling

layers = keras.layers

#: Keras' convolutions whose kernel layout is `(*k, in/groups, out)`, as torch's and flax's.
CONVS = (layers.Conv1D, layers.Conv2D, layers.Conv3D)
CONV_TRANSPOSES = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
DEPTHWISE = (layers.DepthwiseConv1D, layers.DepthwiseConv2D)
SEPARABLE = (layers.SeparableConv1D, layers.SeparableConv2D)
CELLS = (layers.SimpleRNNCell, layers.LSTMCell, layers.GRUCell)

#: GPT-2's residual output projections in a Keras model: MultiHeadAttention's output
#: projection (`attention_output`, also in keras_hub's attention layers), keras_hub's
#: `feedforward_output_dense`, and layers named as in Hugging Face's GPT-2 (`c_proj`).
GPT2_RESIDUAL = r"(attention_output|feedforward_output_dense|c_proj)/kernel$"


def _norms() -> dict:
    """torch's and flax's normalization defaults: scale 1, offset 0, running mean 0, var 1."""
    scale_offset = {"gamma": Ones(), "beta": Zeros()}
    return {
        layers.LayerNormalization: scale_offset,
        layers.GroupNormalization: scale_offset,
        layers.RMSNormalization: {"scale": Ones()},
        layers.BatchNormalization: {
            **scale_offset,
            "moving_mean": Zeros(),
            "moving_variance": Ones(),
        },
    }


def torch_preset() -> InitMap:
    """PyTorch's `reset_parameters()` for the torch module matching each Keras layer.

    - Dense, EinsumDense, Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D (torch: a
      Conv with `groups=in`), SeparableConv1D/2D (a depthwise then a pointwise Conv): kernels
      `kaiming_uniform_(a=sqrt(5))` = `U(±1/sqrt(fan_in))` (`TorchKernel`), biases
      `U(±1/sqrt(fan_in))` with the kernel's fan_in (`TorchBias`), both by torch's fan rule
      on its own weight layout (`torch_fan_in`: groups included; ConvTranspose's fan_in is
      `out * prod(k)`, torch's quirk).
    - Embedding: `N(0, 1)` (Keras' Embedding has no `padding_idx` row).
    - SimpleRNN, LSTM, GRU (their cells, so Bidirectional too): every weight and bias
      `U(±1/sqrt(units))` (`TorchRecurrent`). torch's two biases `b_ih + b_hh` are Keras'
      single bias in LSTM and SimpleRNN: it gets their sum's law (triangular on
      `±2/sqrt(units)`), the bias a ported checkpoint holds; GRU's `(2, 3u)` bias (Keras'
      default `reset_after=True`) holds both, each uniform.
    - MultiHeadAttention: query/key/value kernels `xavier_uniform_` on the packed `(3E, E)`
      in-projection (`TorchInProjection`), the output projection a Linear (`TorchKernel`), all
      biases 0.
    - LayerNormalization, GroupNormalization, RMSNormalization, BatchNormalization: scale 1,
      offset 0; BatchNormalization's running mean 0 and variance 1.
    - PReLU: 0.25 (torch's `init=0.25`; Keras' default is 0).

    Layers with no torch counterpart (ConvLSTM, ...) are left alone (`report.unmatched`).

    Returns:
        A fresh `InitMap`.

    Example:

    >>> keras_inits.apply(model, "torch", seed=0)
    <InitReport: 6 assigned, 0 skipped, 0 unmatched>

    Reference: torch/nn/modules/linear.py, conv.py, sparse.py, rnn.py, activation.py
    (`MultiheadAttention._reset_parameters`, `PReLU`), normalization.py, batchnorm.py
    (torch 2.13).
    """
    linear = {"kernel": TorchKernel(), "bias": TorchBias()}
    recurrent = {
        "kernel": TorchRecurrent(),
        "recurrent_kernel": TorchRecurrent(),
        "bias": TorchRecurrent(),
    }
    return InitMap(
        {
            layers.MultiHeadAttention: {"kernel": TorchInProjection(), "bias": Zeros()},
            layers.Dense: linear,
            layers.EinsumDense: linear,
            **{cls: linear for cls in CONVS + CONV_TRANSPOSES + DEPTHWISE},
            **{
                cls: {
                    "depthwise_kernel": TorchKernel(),
                    "pointwise_kernel": TorchKernel(),
                    "bias": TorchBias(),
                }
                for cls in SEPARABLE
            },
            layers.Embedding: {"embeddings": RandomNormal(mean=0.0, stddev=1.0)},
            **{cls: recurrent for cls in CELLS},
            **_norms(),
            layers.PReLU: {"alpha": Constant(0.25)},
        }
    )


def flax_preset() -> InitMap:
    """Flax linen's defaults (`flax.linen.linear`, `recurrent`, `normalization`, `attention`).

    - Dense, Conv1D/2D/3D: kernels `lecun_normal()` =
      `variance_scaling(1, "fan_in", "truncated_normal")` = Keras' `LecunNormal`, biases 0.
    - ConvTranspose: Flax's kernel is `(*k, in, out)`, so fan_in is `in * prod(k)`; Keras'
      kernel is `(*k, out, in)`: the same law through explicit axes.
    - DepthwiseConv1D/2D and SeparableConv's depthwise kernel: a Flax Conv with
      `feature_group_count=in`, kernel `(*k, 1, in * multiplier)`: fan_in = `prod(k)`.
    - Embedding: Flax's `default_embed_init` = `variance_scaling(1, "fan_in", "normal",
      out_axis=0)`: untruncated `N(0, 1/features)`.
    - SimpleRNN, LSTM, GRU cells: input kernels `lecun_normal`, recurrent kernels
      `orthogonal()` per gate (Flax builds one `(u, u)` Dense per gate: `BlockOrthogonal`),
      biases 0 (no forget-gate 1, unlike Keras' `unit_forget_bias`).
    - LayerNorm, GroupNorm, RMSNorm, BatchNorm: scale 1, bias 0; BatchNorm's mean 0, var 1.

    - EinsumDense, and MultiHeadAttention's query/key/value/output projections (EinsumDense
      layers): Flax's `DenseGeneral` (`MultiHeadDotProductAttention` uses it): `lecun_normal`
      on the kernel flattened to `(contracted, features)`, i.e. fan_in = the product of the
      kernel's contracted axes (the model dim for query/key/value, `heads * head_dim` for the
      output projection), biases 0. `apply` gives `LecunNormal` those einsum fans, as
      `EinsumDense.build` does.

    Returns:
        A fresh `InitMap`.

    Reference: flax/linen/linear.py (`default_kernel_init`, `default_embed_init`),
    flax/linen/recurrent.py (`LSTMCell`, `GRUCell`, `SimpleCell`), flax/linen/attention.py
    (`MultiHeadDotProductAttention`), jax/_src/nn/initializers.py.
    """
    dense = {"kernel": LecunNormal(), "bias": Zeros()}
    cell = {"kernel": LecunNormal(), "recurrent_kernel": BlockOrthogonal(), "bias": Zeros()}
    return InitMap(
        {
            layers.Dense: dense,
            layers.EinsumDense: dense,
            **{cls: dense for cls in CONVS},
            **{
                cls: {"kernel": _lecun(_transpose_axes(rank)), "bias": Zeros()}
                for rank, cls in enumerate(CONV_TRANSPOSES, 1)
            },
            **{
                cls: {"kernel": _lecun(_depthwise_axes(rank)), "bias": Zeros()}
                for rank, cls in enumerate(DEPTHWISE, 1)
            },
            **{
                cls: {
                    "depthwise_kernel": _lecun(_depthwise_axes(rank)),
                    "pointwise_kernel": LecunNormal(),
                    "bias": Zeros(),
                }
                for rank, cls in enumerate(SEPARABLE, 1)
            },
            layers.Embedding: {
                "embeddings": VarianceScaling(
                    1.0, "fan_in", "untruncated_normal", input_axes=[1], output_axes=[0]
                )
            },
            **{cls: cell for cls in CELLS},
            **_norms(),
        }
    )


def _lecun(axes: tuple[list[int], list[int]]) -> LecunNormal:
    return LecunNormal(input_axes=axes[0], output_axes=axes[1])


def _transpose_axes(rank: int) -> tuple[list[int], list[int]]:
    """Keras' ConvTranspose kernel `(*k, out, in)`: fans `(in * prod(k), out * prod(k))`."""
    spatial = list(range(rank))
    return spatial + [rank + 1], spatial + [rank]


def _depthwise_axes(rank: int) -> tuple[list[int], list[int]]:
    """A depthwise kernel `(*k, in, multiplier)` as a grouped conv: fans `(prod(k), size)`."""
    return list(range(rank)), list(range(rank + 2))


def bert_preset(initializer_range: float = 0.02) -> InitMap:
    """Hugging Face's `BertPreTrainedModel._init_weights`, over torch's defaults.

    - Dense, EinsumDense and MultiHeadAttention kernels: `N(0, initializer_range**2)`
      (untruncated, `normal_`), biases 0.
    - Embedding: `N(0, initializer_range**2)` (Keras' Embedding has no padding row to zero).
    - LayerNormalization: gamma 1, beta 0.
    - Every other layer keeps torch's `reset_parameters()` (`torch_preset`), as the modules
      that `_init_weights` does not cover do in a Hugging Face model.

    Args:
        initializer_range: the std of the normal, > 0 (BERT's config default 0.02).

    Returns:
        A fresh `InitMap`.

    Reference: transformers/models/bert/modeling_bert.py, `BertPreTrainedModel._init_weights`.
    """
    return _hugging_face(initializer_range)


def gpt2_preset(
    n_layer: int | None = None, initializer_range: float = 0.02, residual: str = GPT2_RESIDUAL
) -> InitMap:
    """Hugging Face's `GPT2PreTrainedModel._init_weights`, over torch's defaults.

    BERT's rules (`bert_preset`), plus GPT-2's scaled residual projections: every `c_proj`
    weight (the attention's output projection and the MLP's down-projection) is
    `N(0, (initializer_range / sqrt(2 * n_layer))**2)`. In a Keras model they are found by
    path: the regex `residual`, tried before every class rule, which by default matches
    MultiHeadAttention's output projection (`.../attention_output/kernel`), keras_hub's
    `feedforward_output_dense` and layers named `c_proj`. Name your MLP's down-projection
    accordingly, or pass your own regex.

    Args:
        n_layer: the number of transformer blocks (GPT-2's `n_layer`), an int >= 1, or None
            (default): counted when the policy is applied (`infer_n_layer`), from the paths
            the `residual` regex matches (a ValueError if they do not come once per block; a
            model where none matches needs no `n_layer`).
        initializer_range: the std of the normal, > 0 (GPT-2's config default 0.02).
        residual: a regex on `variable.path` selecting the residual projections' kernels.

    Returns:
        A fresh `InitMap`.

    Example:

    >>> keras_inits.apply(model, keras_inits.get_preset("gpt2", n_layer=12), seed=0)
    <InitReport: 6 assigned, 0 skipped, 0 unmatched>

    Reference: transformers/models/gpt2/modeling_gpt2.py, `GPT2PreTrainedModel._init_weights`;
    Radford et al. 2019, section 2.3.
    """
    if n_layer is not None:
        n_layer = _checks.integer("n_layer", n_layer, minimum=1)
    if not isinstance(residual, str):
        raise TypeError(
            f"Argument `residual` must be a regex string. Received: residual={residual!r}"
        )
    try:
        re.compile(residual)
    except re.error as e:
        raise ValueError(
            f"Argument `residual` must be a valid regex ({e}). Received: residual={residual!r}"
        ) from None
    normal = _normal(initializer_range)
    scaled = (
        GPT2Residual(initializer_range, residual)
        if n_layer is None
        else DepthScaled(normal, num_layers=n_layer, rule="gpt2")
    )
    return InitMap({residual: scaled, **_hugging_face(initializer_range)})


def infer_n_layer(model: keras.layers.Layer, residual: str = GPT2_RESIDUAL) -> int:
    """GPT-2's `n_layer` of `model`: the number of residual blocks, counted by path.

    The paths of the float variables that `residual` matches (`re.search`) are grouped by
    their template, the path with every number (and the `_` before it) removed:
    `h3_attn/attention_output/kernel` and `multi_head_attention_3/attention_output/kernel`
    become `h_attn/attention_output/kernel` and `multi_head_attention/attention_output/kernel`.
    Each template is one kind of residual projection, found once per block, so every template
    must occur equally often, and that count is `n_layer`.

    Raises:
        ValueError: no path matches, or the templates occur unequally often (then pass
            `n_layer=` to `get_preset("gpt2", ...)`).
    """
    pattern = re.compile(residual)
    counts: dict[str, int] = {}
    for variable in model.variables:
        if pattern.search(variable.path):
            template = re.sub(r"_?\d+", "", variable.path)
            counts[template] = counts.get(template, 0) + 1
    if not counts:
        raise ValueError(
            f"Cannot infer GPT-2's `n_layer`: no variable path of {model.name!r} matches the "
            f"residual regex {residual!r}. Pass `n_layer=` (get_preset('gpt2', n_layer=...)) or "
            "a `residual=` regex that matches the residual projections' kernels."
        )
    if len(set(counts.values())) != 1:
        raise ValueError(
            f"Cannot infer GPT-2's `n_layer`: the residual projections matched by {residual!r} "
            f"do not come once per block (count per path template: {counts}). Pass `n_layer=`."
        )
    return next(iter(counts.values()))


@keras.saving.register_keras_serializable(package=_registry.PACKAGE)
class GPT2Residual(keras.initializers.Initializer):
    """GPT-2's residual-projection law before `n_layer` is known: `apply` (and `audit`) call
    `bind_model(model)`, which counts the blocks (`infer_n_layer`) and returns
    `DepthScaled(RandomNormal(0, initializer_range), num_layers=n_layer, rule="gpt2")`.

    Called directly (outside `apply`), it raises a ValueError: it cannot see the model.

    Args:
        initializer_range: the std of the unscaled normal, > 0.
        residual: the regex on variable paths that finds the residual projections.
    """

    def __init__(self, initializer_range: float = 0.02, residual: str = GPT2_RESIDUAL):
        self.initializer_range = _checks.real("initializer_range", initializer_range, positive=True)
        self.residual = residual

    def bind_model(self, model) -> DepthScaled:
        n_layer = infer_n_layer(model, self.residual)
        return DepthScaled(_normal(self.initializer_range), num_layers=n_layer, rule="gpt2")

    def __call__(self, shape, dtype=None):
        raise ValueError(
            "`GPT2Residual` needs the model to count its blocks: use it in a policy passed to "
            "`keras_inits.apply`, or give `n_layer=` to get_preset('gpt2', ...)."
        )

    def get_config(self) -> dict[str, Any]:
        return {"initializer_range": self.initializer_range, "residual": self.residual}

    def __repr__(self) -> str:
        return (
            f"GPT2Residual(initializer_range={self.initializer_range!r}, "
            f"residual={self.residual!r})"
        )


def _normal(std: float) -> RandomNormal:
    return RandomNormal(mean=0.0, stddev=_checks.real("initializer_range", std, positive=True))


def _hugging_face(initializer_range: float) -> InitMap:
    normal = {"kernel": _normal(initializer_range), "bias": Zeros()}
    policy = torch_preset()
    policy.update(
        {
            layers.MultiHeadAttention: normal,
            layers.Dense: normal,
            layers.EinsumDense: normal,
            layers.Embedding: {"embeddings": _normal(initializer_range)},
            layers.LayerNormalization: {"gamma": Ones(), "beta": Zeros()},
        }
    )
    return policy


def vit_jax_preset(head: str = r"(^|/)head/", mlp: str = "mlp", head_bias: float = 0.0) -> InitMap:
    """timm's `init_weights_vit_jax` (VisionTransformer's `weight_init="jax"`), over torch's
    defaults.

    - The head (variables whose path matches `head`): kernel 0, bias `head_bias`.
    - Dense and EinsumDense: kernels `xavier_uniform_`; biases `N(0, 1e-6**2)` inside the MLP
      (paths matching `mlp`, timm's `'mlp' in name`), else 0.
    - MultiHeadAttention: query/key/value kernels `xavier_uniform_` on the packed `(3E, E)`
      matrix, timm's fused `qkv` Linear (`TorchInProjection`'s law); the output projection
      (timm's `attn.proj`, a Linear) `xavier_uniform_`; biases 0.
    - Conv2D (the patch embedding): `lecun_normal_` (truncated, Keras' `LecunNormal`), bias 0.
    - Position embeddings (paths matching `pos_embed|position_embedding`): timm's
      `trunc_normal_(std=.02)`, whose bounds ±2 are absolute, i.e. 100 std: `N(0, 0.02**2)`.
      Class tokens (`cls_token|class_token`): `N(0, 1e-6**2)`.
    - Every other layer keeps torch's `reset_parameters()` (LayerNorm 1/0), as in timm.

    Args:
        head: regex on `variable.path` that selects the classifier head's layer (default: a
            layer named "head").
        mlp: regex on `variable.path` that selects the MLP blocks' biases (default "mlp").
        head_bias: the head's bias value (timm's `head_bias`; `"jax_nlhb"` uses
            `-log(num_classes)`).

    Returns:
        A fresh `InitMap`.

    Reference: timm/models/vision_transformer.py, `init_weights_vit_jax` and
    `VisionTransformer.init_weights`.
    """
    for name, value in (("head", head), ("mlp", mlp)):
        if not isinstance(value, str):
            raise TypeError(f"Argument `{name}` must be a regex string. Received: {name}={value!r}")
    head_bias = _checks.real("head_bias", head_bias)
    tiny = RandomNormal(mean=0.0, stddev=1e-6)
    xavier = {"kernel": XavierUniform(), "bias": Zeros()}
    policy = InitMap(
        {
            head + r"(.*/)?kernel$": Zeros(),
            head + r"(.*/)?bias$": Constant(head_bias),
            **_vit_tokens(),
            mlp + r".*/bias$": tiny,
            # timm's `attn.proj` is a Linear like any other (xavier); MultiHeadAttention's class
            # rule below would give it torch's out_proj law instead.
            r"attention_output/kernel$": XavierUniform(),
        }
    )
    policy.update(torch_preset())
    policy.update(
        {
            layers.MultiHeadAttention: {"kernel": TorchInProjection(), "bias": Zeros()},
            layers.Dense: xavier,
            layers.EinsumDense: xavier,
            layers.Conv2D: {"kernel": LecunNormal(), "bias": Zeros()},
        }
    )
    return policy


def _vit_tokens() -> dict:
    """timm's `VisionTransformer.init_weights`: position embeddings `trunc_normal_(std=.02)`
    (bounds ±2 absolute, i.e. 100 std: a normal), class tokens `normal_(std=1e-6)`."""
    return {
        r"(pos_embed|position_embedding)": RandomNormal(mean=0.0, stddev=0.02),
        r"(cls_token|class_token)": RandomNormal(mean=0.0, stddev=1e-6),
    }


def vit_timm_preset() -> InitMap:
    """timm's default ViT init, `init_weights_vit_timm` (`weight_init=""`), over torch's
    defaults.

    - Dense, EinsumDense and MultiHeadAttention kernels: `trunc_normal_(std=.02)`, whose bounds
      ±2 are absolute (100 std), i.e. `N(0, 0.02**2)`; their biases 0.
    - Position embeddings (`pos_embed|position_embedding` in the path) `N(0, 0.02**2)`, class
      tokens (`cls_token|class_token`) `N(0, 1e-6**2)`.
    - Every other layer keeps torch's `reset_parameters()` (the patch-embedding Conv2D too).

    Returns:
        A fresh `InitMap`.

    Reference: timm/models/vision_transformer.py, `init_weights_vit_timm` and
    `VisionTransformer.init_weights`.
    """
    normal = {"kernel": RandomNormal(mean=0.0, stddev=0.02), "bias": Zeros()}
    policy = InitMap(_vit_tokens())
    policy.update(torch_preset())
    policy.update(
        {layers.MultiHeadAttention: normal, layers.Dense: normal, layers.EinsumDense: normal}
    )
    return policy


def torchvision_resnet_preset() -> InitMap:
    """torchvision's ResNet init (`ResNet.__init__`), over torch's defaults.

    - Conv2D kernels: `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, untruncated
      `N(0, 2 / fan_out)` with torch's fan_out `out * prod(k)` (Keras' `compute_fans` gives the
      same for a `(*k, in/groups, out)` kernel).
    - BatchNormalization and GroupNormalization: weight 1, bias 0 (running statistics 0/1).
    - Every other layer keeps torch's `reset_parameters()` (the final Linear, conv biases).

    For `zero_init_residual=True`, apply `"zero_init_residual"` afterwards.

    Returns:
        A fresh `InitMap`.

    Reference: torchvision/models/resnet.py, `ResNet.__init__`.
    """
    policy = torch_preset()
    policy[layers.Conv2D] = {
        "kernel": KaimingNormal(mode="fan_out", nonlinearity="relu"),
        "bias": TorchBias(),
    }
    return policy


def zero_init_residual_preset() -> InitMap:
    """torchvision's `zero_init_residual=True`: the gamma of the last normalization of every
    residual branch is 0, so each residual block starts as the identity; nothing else changes.

    The branches are found in the model's functional graph (`ZeroInitResidual`): a
    normalization layer that feeds an `Add` by a longer path than the Add's shortcut. In
    `keras.applications.ResNet50` that is every `convN_blockM_3_bn`, and not the projection
    shortcuts' `_0_bn`. Combine it with another preset by updating a copy of either.

    Returns:
        A fresh `InitMap`.

    Reference: torchvision/models/resnet.py (`ResNet.__init__`, `zero_init_residual`); Goyal
    et al. 2017, https://arxiv.org/abs/1706.02677.
    """
    return InitMap(
        {
            cls: {"gamma": ZeroInitResidual()}
            for cls in (
                layers.BatchNormalization,
                layers.LayerNormalization,
                layers.GroupNormalization,
            )
        }
    )


#: Preset name -> the function that builds it.
PRESETS: dict[str, Callable[..., InitMap]] = {
    "bert": bert_preset,
    "flax": flax_preset,
    "gpt2": gpt2_preset,
    "torch": torch_preset,
    "torchvision_resnet": torchvision_resnet_preset,
    "vit_jax": vit_jax_preset,
    "vit_timm": vit_timm_preset,
    "zero_init_residual": zero_init_residual_preset,
}


def names() -> list[str]:
    """The preset names, sorted."""
    return sorted(PRESETS)


def get_preset(name: str, **arguments: Any) -> InitMap:
    """A fresh `InitMap` for the preset `name`, built with `arguments`.

    Every call builds a new map, so editing it (`policy[r"head/.*"] = "zeros"`) changes
    nothing else. Presets: see `names()` and each `*_preset` function's docstring.

    Args:
        name: a preset name: "bert", "flax", "gpt2" (`n_layer=`, else counted at apply),
            "torch",
            "torchvision_resnet", "vit_jax", "vit_timm", "zero_init_residual".
        **arguments: the preset's own arguments (e.g. `n_layer=12` for "gpt2").

    Returns:
        A new `InitMap`.

    Raises:
        ValueError: for an unknown name (with the closest match), or a bad argument.

    Example:

    >>> policy = keras_inits.get_preset("torch")
    >>> policy[r"head/kernel"] = "zeros"
    >>> keras_inits.apply(model, policy, seed=0)
    <InitReport: 6 assigned, 0 skipped, 0 unmatched>
    """
    if not isinstance(name, str):
        raise TypeError(
            f"Argument `name` must be a preset name, one of {names()}. Received: name={name!r}"
        )
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown preset: {name!r}.{hint} Argument `name` must be one of "
            f"{names()}. Received: name={name!r}"
        )
    build = PRESETS[name]
    try:
        return build(**arguments)
    except TypeError as e:
        if "argument" not in str(e) or "Argument `" in str(e):
            raise
        raise TypeError(
            f"Preset {name!r}: {e}. See `keras_inits.model.presets.{build.__name__}`."
        ) from None
