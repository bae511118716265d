"""torch.nn.init's fan-based schemes under their PyTorch names: Xavier and Kaiming.

Same formulas as `torch.nn.init.xavier_*_` and `kaiming_*_`, with Keras' fan conventions
(`compute_fans`): a Keras kernel `(*kernel, in, out)` has the fans of the torch weight
`(out, in, *kernel)`, so porting a model gives the same distributions. Unlike Keras' Glorot and
He normals, the normal variants are *untruncated*, as in torch.

They are `VarianceScaling` subclasses, so EinsumDense and MultiHeadAttention compute
einsum-aware fans for them, and `variance(shape)` gives the target variance.
"""

from __future__ import annotations

import copy
import math
from typing import ClassVar, Literal

import keras
from keras import ops

from keras_inits import _checks, _sampling
from keras_inits._registry import register
from keras_inits.base import RandomInitializer
from keras_inits.gains import _canonical, calculate_gain
from keras_inits.schemes.constant import Zeros
from keras_inits.schemes.variance import Distribution, VarianceScaling

TorchMode = Literal["fan_in", "fan_out", "fan_geo_avg"]
# torch's two modes, and jax.nn.initializers' geometric mean sqrt(fan_in * fan_out).
TORCH_MODES: tuple[TorchMode, ...] = ("fan_in", "fan_out", "fan_geo_avg")


class _TorchScaling(VarianceScaling):
    """A VarianceScaling whose config holds torch's arguments instead of scale/mode/distribution."""

    _derived = ("scale", "mode", "distribution")

    def _check_scale(self, name: str, value) -> None:
        """`scale = gain**2` must be a positive finite float (no underflow to 0, no overflow)."""
        if not 0 < self.gain**2 < math.inf:
            raise ValueError(
                f"Argument `{name}` gives gain {self.gain!r}, whose square (the variance scale) "
                f"is {self.gain**2!r}: it must be > 0 and finite. Received: {name}={value!r}"
            )

    def _generate(self, shape, dtype):
        _checks.value_range(self, shape, dtype)
        return super()._generate(shape, dtype)

    def _max_abs(self, shape):
        # uniform: |W| <= sqrt(3) std; untruncated normal: |W| < NORMAL_SIGMAS std.
        sigmas = math.sqrt(3.0) if self.distribution == "uniform" else _checks.NORMAL_SIGMAS
        args = {
            k: v
            for k, v in self.get_config().items()
            if k in ("gain", "negative_slope", "nonlinearity")
        }
        return sigmas * math.sqrt(self.variance(shape)), args

    def get_config(self):
        config = super().get_config()
        return {k: v for k, v in config.items() if k not in self._derived}

    def bind(self, layer: keras.layers.Layer, variable=None) -> _TorchScaling:
        """On an EinsumDense kernel, with no axes given: a copy with the einsum fans
        (`einsum_axes`), as `EinsumDense.build` gives Keras' VarianceScaling. Else itself."""
        if not isinstance(layer, keras.layers.EinsumDense) or self.input_axes is not None:
            return self
        input_axes, output_axes = einsum_axes(layer.equation)
        return type(self).from_config(
            {
                **self.get_config(),
                "seed": self.seed,
                "input_axes": input_axes,
                "output_axes": output_axes,
            }
        )


class _Xavier(_TorchScaling):
    distribution_name: ClassVar[Distribution]  # set by each subclass

    def __init__(self, gain: float = 1.0, seed=None, input_axes=None, output_axes=None):
        self.gain = _checks.real("gain", gain, positive=True)
        if self.gain > 1e150:  # gain**2 would raise OverflowError
            raise ValueError(
                f"Argument `gain` must be <= 1e150, so that gain**2 (the variance scale) is "
                f"finite. Received: gain={gain!r}"
            )
        self._check_scale("gain", gain)
        super().__init__(
            scale=self.gain**2,
            mode="fan_avg",
            distribution=self.distribution_name,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


@register()
class XavierUniform(_Xavier):
    """Xavier uniform (torch's `xavier_uniform_`): `W ~ U[-l, l]`,
    `l = gain * sqrt(6 / (fan_in + fan_out))`.

    With `gain=1` this is `GlorotUniform`. For tanh/sigmoid/linear layers; pass
    `gain=calculate_gain("tanh")` to match torch code that does.

    Args:
        gain: positive scaling factor (default 1.0).
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.XavierUniform(gain=keras_inits.calculate_gain("tanh"), seed=0)
    >>> layer = keras.layers.Dense(8, activation="tanh", kernel_initializer=init)

    Reference: Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    distribution_name = "uniform"


@register()
class XavierNormal(_Xavier):
    """Xavier normal (torch's `xavier_normal_`): `W ~ N(0, s**2)`, untruncated,
    `s = gain * sqrt(2 / (fan_in + fan_out))`.

    Unlike Keras' `GlorotNormal` (truncated at 2 std), the normal is not truncated.

    Args:
        gain: positive scaling factor (default 1.0).
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> layer = keras.layers.Dense(8, kernel_initializer=keras_inits.XavierNormal(seed=0))

    Reference: Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    distribution_name = "untruncated_normal"


class _Kaiming(_TorchScaling):
    distribution_name: ClassVar[Distribution]  # set by each subclass

    def __init__(
        self,
        negative_slope: float = 0.0,
        mode: TorchMode = "fan_in",
        nonlinearity: str = "leaky_relu",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        self.negative_slope = _checks.real("negative_slope", negative_slope)
        mode = _checks.choice("mode", mode, TORCH_MODES)
        if not isinstance(nonlinearity, str):
            raise TypeError(
                "Argument `nonlinearity` must be an activation name such as 'relu'. "
                f"Received: nonlinearity={nonlinearity!r}"
            )
        self.nonlinearity = _canonical(nonlinearity)
        # As torch: the slope only matters for leaky_relu (calculate_gain ignores it otherwise).
        param = self.negative_slope if self.nonlinearity == "leaky_relu" else None
        self.gain = calculate_gain(self.nonlinearity, param)
        self._check_scale("negative_slope", negative_slope)
        super().__init__(
            scale=self.gain**2,
            mode=mode,
            distribution=self.distribution_name,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "negative_slope": self.negative_slope,
            "mode": self.mode,
            "nonlinearity": self.nonlinearity,
        }


@register()
class KaimingUniform(_Kaiming):
    """Kaiming uniform (torch's `kaiming_uniform_`): `W ~ U[-l, l]`, `l = gain * sqrt(3 / fan)`,
    `gain = calculate_gain(nonlinearity, negative_slope)`, `fan` = fan_in, fan_out or
    sqrt(fan_in * fan_out) by `mode`.

    With the defaults (`leaky_relu` with slope 0, `gain = sqrt(2)`) this is `HeUniform`.

    Args:
        negative_slope: leaky_relu's negative slope, used only when
            `nonlinearity="leaky_relu"` (default 0.0, as torch's `a`).
        mode: `"fan_in"` (default; preserves activations' variance), `"fan_out"`
            (gradients') or `"fan_geo_avg"` (`sqrt(fan_in * fan_out)`, as jax.nn.initializers).
        nonlinearity: any name `calculate_gain` knows (default `"leaky_relu"`).
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.KaimingUniform(negative_slope=0.2, seed=0)
    >>> layer = keras.layers.Conv2D(16, 3, activation=keras.layers.LeakyReLU(0.2),
    ...                             kernel_initializer=init)

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    distribution_name = "uniform"


@register()
class KaimingNormal(_Kaiming):
    """Kaiming normal (torch's `kaiming_normal_`): `W ~ N(0, s**2)`, untruncated,
    `s = gain / sqrt(fan)`, `gain = calculate_gain(nonlinearity, negative_slope)`, `fan` =
    fan_in, fan_out or sqrt(fan_in * fan_out) by `mode`.

    With the defaults (`gain = sqrt(2)`) it has He's variance `2 / fan_in`, but unlike Keras'
    `HeNormal` it is not truncated.

    Args:
        negative_slope: leaky_relu's negative slope, used only when
            `nonlinearity="leaky_relu"` (default 0.0, as torch's `a`).
        mode: `"fan_in"` (default), `"fan_out"` or `"fan_geo_avg"` (`sqrt(fan_in * fan_out)`).
        nonlinearity: any name `calculate_gain` knows (default `"leaky_relu"`).
        seed: None, an int or a `keras.random.SeedGenerator`.
        input_axes, output_axes: optional fan axes, as in `VarianceScaling`.

    Example:

    >>> init = keras_inits.KaimingNormal(mode="fan_out", nonlinearity="relu", seed=0)
    >>> layer = keras.layers.Conv2D(64, 3, activation="relu", kernel_initializer=init)  # ResNet

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    distribution_name = "untruncated_normal"


# --- torch's context-dependent defaults: bound from the layer, through `bind` ---------------------
#
# torch's `reset_parameters()` draws some weights with a bound read off *another* tensor or the
# module (a Linear's bias from its weight's fan_in, every LSTM weight from hidden_size). A Keras
# initializer sees only its own shape, so these take the size as an argument, or read it off the
# layer in `bind(layer, variable)`, which `keras_inits.apply` calls before drawing.


def torch_fan_in(layer: keras.layers.Layer, variable=None) -> int:
    """The fan_in torch computes for the weight of the torch module matching `layer`: of
    `variable` if it is one of the layer's kernels, else of the kernel the layer's bias belongs to.

    torch's rule on its weight `(out, in/groups, *k)` is `fan_in = (in/groups) * prod(k)`. In
    Keras' layouts that is:

    - Dense `(in, out)`, Conv `(*k, in/groups, out)`: `prod(kernel.shape[:-1])`;
    - ConvTranspose `(*k, out, in)`: also `prod(kernel.shape[:-1]) = out * prod(k)`, because
      torch applies the same rule to its transposed weight `(in, out/groups, *k)`;
    - DepthwiseConv `(*k, in, multiplier)`, a torch Conv with `groups=in`: `prod(k)`;
    - SeparableConv: its depthwise kernel as DepthwiseConv; its pointwise kernel, and its bias
      (which follows the pointwise conv), `prod(pointwise_kernel.shape[:-1])`;
    - EinsumDense: the product of the kernel's contracted (input) axes, as a Linear.

    Raises:
        ValueError: for a layer with no torch counterpart of known layout.
    """
    layers = keras.layers
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        if getattr(variable, "name", None) == "depthwise_kernel":
            return math.prod(layer.depthwise_kernel.shape[:-2])
        return math.prod(layer.pointwise_kernel.shape[:-1])
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        return math.prod(layer.kernel.shape[:-2])
    if isinstance(layer, layers.EinsumDense):
        shape = layer.kernel.shape
        return math.prod(shape[a] for a in einsum_axes(layer.equation)[0])
    if isinstance(layer, (layers.Dense, *_CONVS)):
        return math.prod(layer.kernel.shape[:-1])
    raise ValueError(
        f"Cannot read torch's fan_in off layer {layer.name!r} ({type(layer).__name__}): the "
        f"known layers are {sorted(c.__name__ for c in _KERNEL_LAYERS)}. Pass `fan_in=` "
        f"explicitly. Received: layer={layer!r}"
    )


def einsum_axes(equation: str) -> tuple[list[int], list[int]]:
    """`(input_axes, output_axes)` of an EinsumDense kernel, by Keras' rule: a kernel axis whose
    letter appears in the output is an output axis, any other an input (contracted) axis."""
    inputs, output = equation.replace(" ", "").split("->")
    kernel = inputs.split(",")[1]
    return (
        [i for i, c in enumerate(kernel) if c not in output],
        [i for i, c in enumerate(kernel) if c in output],
    )


_CONVS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_KERNEL_LAYERS = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    *_CONVS,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


_CELLS = (keras.layers.SimpleRNNCell, keras.layers.LSTMCell, keras.layers.GRUCell)


class _TorchUniform(RandomInitializer):
    """`W = U_1 + ... + U_s`, `U_i ~ U(-b, b)` i.i.d., with `b` set by sizes that come from the
    constructor or from the layer (`bind`). Subclasses define `_sizes()` and `_limit()`."""

    summands: int | None = 1

    def _sizes(self) -> dict[str, int | None]:
        raise NotImplementedError

    def _limit(self) -> float:
        raise NotImplementedError

    def _resolved_limit(self) -> float:
        missing = [k for k, v in self._sizes().items() if v is None]
        if missing:
            given = ", ".join(f"{k}={v!r}" for k, v in self._sizes().items())
            raise ValueError(
                f"`{type(self).__name__}` needs {' and '.join(f'`{k}`' for k in missing)}: pass "
                f"it explicitly, or let `keras_inits.apply` read it off the layer (it calls "
                f"`bind(layer, variable)`). Received: {given}"
            )
        return self._limit()

    def _bound_to(self, **sizes) -> _TorchUniform:
        """A copy with the sizes that are still None filled in from `sizes`."""
        bound = copy.copy(self)
        for key, value in sizes.items():
            if getattr(self, key) is None:
                setattr(bound, key, value)
        return bound

    def _generate(self, shape, dtype):
        limit = self._resolved_limit()
        if self.summands == 1:
            return _sampling.uniform(shape, dtype, self.seed, -limit, limit)
        cdtype = _sampling.compute_dtype(dtype)
        draws = _sampling.uniform((self.summands, *shape), cdtype, self.seed, -limit, limit)
        return ops.cast(ops.sum(draws, axis=0), dtype)

    def _max_abs(self, shape):
        if any(v is None for v in self._sizes().values()):
            return None  # the call raises first
        return (self.summands or 1) * self._limit(), self._sizes()

    def get_config(self):
        return {**super().get_config(), **self._sizes()}


def _size(name: str, value) -> int | None:
    return None if value is None else _checks.integer(name, value, minimum=0)


class _TorchFanIn(_TorchUniform):
    """`U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (0 when fan_in = 0, as torch), fan_in given or read
    off the layer by torch's rule (`torch_fan_in`)."""

    example_config = {"fan_in": 16}

    def __init__(self, fan_in: int | None = None, seed=None):
        self.fan_in = _size("fan_in", fan_in)
        super().__init__(seed=seed)

    def bind(self, layer: keras.layers.Layer, variable=None) -> _TorchFanIn:
        """This initializer with `fan_in` read off `layer` (`torch_fan_in`), unless given."""
        if self.fan_in is not None:
            return self
        return self._bound_to(fan_in=torch_fan_in(layer, variable))

    def _sizes(self):
        return {"fan_in": self.fan_in}

    def _limit(self):
        return 1.0 / math.sqrt(self.fan_in) if self.fan_in > 0 else 0.0


@register()
class TorchKernel(_TorchFanIn):
    """torch's default Linear/Conv weight, `kaiming_uniform_(w, a=sqrt(5))`:
    `W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, with `fan_in` by torch's rule for the layer.

    The law of `KaimingUniform(negative_slope=sqrt(5))`, whose fans come from the shape alone;
    this one reads torch's fan_in off the layer in `bind(layer, variable)` (which
    `keras_inits.apply` calls), so it is also right where the Keras layout differs from torch's:
    DepthwiseConv (fan_in = the kernel size), SeparableConv's depthwise kernel, EinsumDense and
    MultiHeadAttention's output projection (the contracted axes). See `torch_fan_in`. Called
    directly, it needs `fan_in`.

    Args:
        fan_in: the kernel's fan_in, an int >= 0, or None (default) to take it from the layer.
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Example:

    >>> kernel = keras_inits.TorchKernel(fan_in=3 * 3 * 16, seed=0)((3, 3, 16, 32))
    >>> report = keras_inits.apply(model, {keras.layers.DepthwiseConv2D: {"kernel": "TorchKernel"}})

    Reference: `torch.nn.Linear.reset_parameters`; https://github.com/pytorch/pytorch/issues/57109
    """


@register()
class TorchBias(_TorchFanIn):
    """torch's default Linear/Conv bias: `b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, with `fan_in`
    the fan_in of the layer's *kernel* as torch computes it (groups included), and `b = 0` when
    `fan_in = 0`, as torch.

    A bias initializer sees only the bias' shape, so `fan_in` is either given, or read off the
    layer by `bind(layer, variable)`, which `keras_inits.apply` (and the `"torch"` preset) call:
    see `torch_fan_in` for the rule per layer (ConvTranspose uses torch's fan of its own weight
    layout, DepthwiseConv the kernel size, SeparableConv the pointwise kernel). Called directly
    without `fan_in`, it raises a ValueError rather than guess.

    Args:
        fan_in: the kernel's fan_in, an int >= 0, or None (default) to take it from the layer.
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Example:

    >>> layer = keras.layers.Dense(8, bias_initializer=keras_inits.TorchBias(fan_in=32))  # in: 32
    >>> report = keras_inits.apply(model, {keras.layers.Dense: {"bias": keras_inits.TorchBias()}})

    Reference: `torch.nn.Linear.reset_parameters` and `torch.nn.modules.conv._ConvNd.
    reset_parameters`; https://github.com/pytorch/pytorch/issues/57109
    """


@register()
class TorchInProjection(_TorchUniform):
    """torch's `nn.MultiheadAttention` in-projection: `xavier_uniform_` on the packed
    `(3E, E)` matrix, `W ~ U(-l, l)`, `l = sqrt(6 / (fan_in + fan_out))`.

    For a Keras MultiHeadAttention projection kernel `(in, heads, head_dim)`, `bind` sets
    `fan_in = in` and, with `E = heads * head_dim`: `fan_out = 3E` when `in = E` (torch packs
    q, k and v into one `in_proj_weight` when their input dims equal `embed_dim`), else
    `fan_out = E` (torch's separate `q/k/v_proj_weight`, each `xavier_uniform_` on its own).
    The decision is per projection: in cross-attention with a key dim other than E, torch
    would not pack the query either, and this gives the query the packed law (a documented
    limit of a per-variable rule). On the output projection (a Linear in torch,
    `kaiming_uniform_(a=sqrt(5))`) `bind` returns `TorchKernel`'s law.

    Args:
        fan_in: the projection's input dim, an int >= 0, or None (default: from the layer).
        fan_out: the output dim of the (packed) matrix, an int >= 0, or None (default: from
            the layer).
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Example:

    >>> kernel = keras_inits.TorchInProjection(fan_in=64, fan_out=192, seed=0)((64, 4, 16))
    >>> report = keras_inits.apply(model, {keras.layers.MultiHeadAttention: {
    ...     "kernel": "TorchInProjection", "bias": "zeros"}})

    Reference: `torch.nn.MultiheadAttention._reset_parameters` (torch/nn/modules/activation.py).
    """

    example_config = {"fan_in": 16, "fan_out": 48}

    def __init__(self, fan_in: int | None = None, fan_out: int | None = None, seed=None):
        self.fan_in = _size("fan_in", fan_in)
        self.fan_out = _size("fan_out", fan_out)
        super().__init__(seed=seed)

    def bind(self, layer: keras.layers.Layer, variable=None) -> _TorchUniform:
        """This initializer with the fans of the projection `layer` (an EinsumDense), or
        `TorchKernel`'s law if `layer` is the output projection; explicit fans are kept."""
        if not isinstance(layer, keras.layers.EinsumDense):
            raise ValueError(
                f"`TorchInProjection` binds to a MultiHeadAttention projection (an EinsumDense). "
                f"Received: layer={layer!r} ({type(layer).__name__})"
            )
        in_axes, out_axes = einsum_axes(layer.equation)
        shape = layer.kernel.shape
        fan_in, size = math.prod(shape[a] for a in in_axes), math.prod(shape[a] for a in out_axes)
        if len(in_axes) > 1:  # contracts (heads, head_dim): the output projection, a Linear
            return TorchKernel(fan_in=fan_in, seed=self.seed)
        return self._bound_to(fan_in=fan_in, fan_out=3 * size if fan_in == size else size)

    def _sizes(self):
        return {"fan_in": self.fan_in, "fan_out": self.fan_out}

    def _limit(self):
        total = self.fan_in + self.fan_out
        return math.sqrt(6.0 / total) if total > 0 else 0.0


@register()
class TorchRecurrent(_TorchUniform):
    """torch's RNN/LSTM/GRU default: `W = U_1 + ... + U_s`, `U_i ~ U(-1/sqrt(units),
    1/sqrt(units))` i.i.d., `s = summands`; `W = 0` when `units = 0`, as torch.

    torch draws every weight and bias of `nn.RNN`, `nn.LSTM` and `nn.GRU` from
    `U(±1/sqrt(hidden_size))` (`s = 1`). torch has two biases, `b_ih` and `b_hh`, where Keras'
    LSTM and SimpleRNN (and GRU with `reset_after=False`) have one that plays the role of their
    sum: a ported checkpoint stores `b_ih + b_hh` there. So for those biases `bind` sets `s = 2`
    (a triangular law on `±2/sqrt(units)`), the law of the bias the ported layer computes with.
    GRU with `reset_after=True` (Keras' default) has both biases, as rows of its `(2, 3 units)`
    bias: each gets `s = 1`.

    Args:
        units: the hidden size, an int >= 0, or None (default) to take it from the layer.
        summands: the number of i.i.d. uniforms summed, an int >= 1, or None (default): 1 when
            called directly, chosen per variable by `bind` as above.
        seed: None, an int or a `keras.random.SeedGenerator` (see the README's "Seeding").

    Example:

    >>> lstm = keras.layers.LSTM(64, recurrent_initializer=keras_inits.TorchRecurrent(units=64))
    >>> report = keras_inits.apply(model, "torch")  # binds units and summands per variable

    Reference: `torch.nn.RNNBase.reset_parameters` (torch/nn/modules/rnn.py).
    """

    example_config = {"units": 16}

    def __init__(self, units: int | None = None, summands: int | None = None, seed=None):
        self.units = _size("units", units)
        self.summands = (
            None if summands is None else _checks.integer("summands", summands, minimum=1)
        )
        super().__init__(seed=seed)

    def bind(self, layer: keras.layers.Layer, variable=None) -> TorchRecurrent:
        """This initializer with `units` read off the RNN layer or cell `layer`, and `summands`
        2 for the single bias of a cell whose torch counterpart has two, else 1 (unless given).
        """
        cell = layer.cell if isinstance(layer, keras.layers.RNN) else layer
        if not isinstance(cell, _CELLS):
            raise ValueError(
                f"`TorchRecurrent` reads `units` off a SimpleRNN, LSTM or GRU layer or cell, "
                f"the layers torch's nn.RNN, nn.LSTM and nn.GRU match; otherwise pass `units=`. "
                f"Received: layer={layer!r} ({type(layer).__name__})"
            )
        single_bias = getattr(variable, "name", "") == "bias" and len(variable.shape) == 1
        return self._bound_to(units=cell.units, summands=2 if single_bias else 1)

    def _sizes(self):
        return {"units": self.units}

    def _limit(self):
        return 1.0 / math.sqrt(self.units) if self.units > 0 else 0.0

    def _generate(self, shape, dtype):
        if self.summands is None:
            return self._bound_to(summands=1)._generate(shape, dtype)
        return super()._generate(shape, dtype)

    def get_config(self):
        return {**super().get_config(), "summands": self.summands}


@register()
class ZeroInitResidual(Zeros):
    """torchvision's `zero_init_residual`: `gamma = 0` for the last normalization of each
    residual branch, so that every residual block starts as the identity.

    Called directly it gives zeros. `bind(layer, variable)` (which `keras_inits.apply` calls)
    decides whether `layer` ends a residual branch, from the model's functional graph: the layer
    feeds an `Add` (a `keras.layers.Add` or the `+` of two tensors), and the input it gives that
    Add is not the Add's shallowest one (depth = the longest path from the model's inputs). The
    shallowest input is the shortcut: the identity, or a projection (torchvision's `downsample`,
    Keras ResNet's `_0_conv`/`_0_bn`), which is shorter than the branch. An Add whose inputs
    are all equally deep has no shortcut to tell apart, and nothing is zeroed there. Any other
    variable is left as it is (`bind` returns an initializer that gives its current value).
    Models without a functional graph (subclassed) have no branches to find.

    Example:

    >>> inputs = keras.Input((8, 8, 16))
    >>> h = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    >>> h = keras.layers.BatchNormalization()(h)  # the branch's last BN: its gamma is zeroed
    >>> model = keras.Model(inputs, keras.layers.Add()([inputs, h]))  # identity shortcut
    >>> keras_inits.apply(model, {keras.layers.BatchNormalization: {"gamma": "ZeroInitResidual"}})
    <InitReport: 1 assigned, 2 skipped, 3 unmatched>

    Reference: torchvision.models.resnet.ResNet (`zero_init_residual`); Goyal et al. 2017,
    https://arxiv.org/abs/1706.02677, section 5.1.
    """

    integer_dtypes = False

    def bind(self, layer: keras.layers.Layer, variable=None):
        """Zeros if `layer` ends a residual branch, else the variable's current value."""
        return self if ends_residual_branch(layer) else _Unchanged(variable)


class _Unchanged:
    """The current value of a variable, for a bind that leaves it as it is."""

    def __init__(self, variable):
        self.variable = variable

    def __call__(self, shape, dtype=None):
        return ops.cast(ops.convert_to_tensor(self.variable.value), dtype or self.variable.dtype)

    def __repr__(self) -> str:
        return "unchanged"


def ends_residual_branch(layer: keras.layers.Layer) -> bool:
    """Whether an output of `layer` is a deeper-than-shallowest input of an Add (see
    `ZeroInitResidual`)."""
    own = set(map(id, layer._inbound_nodes))
    depths: dict[int, int] = {}
    for node in layer._outbound_nodes:
        if type(node.operation).__name__ != "Add":
            continue
        parents = node.parent_nodes
        levels = [_depth(parent, depths) for parent in parents]
        mine = [d for parent, d in zip(parents, levels) if id(parent) in own]
        if mine and max(mine) > min(levels):
            return True
    return False


def _depth(node, depths: dict[int, int]) -> int:
    """The longest path from an input to `node` in its functional graph (iterative, memoized)."""
    stack = [node]
    while stack:
        top = stack[-1]
        if id(top) in depths:
            stack.pop()
            continue
        pending = [p for p in top.parent_nodes if id(p) not in depths]
        if pending:
            stack.extend(pending)
            continue
        depths[id(top)] = 1 + max((depths[id(p)] for p in top.parent_nodes), default=0)
        stack.pop()
    return depths[id(node)]
