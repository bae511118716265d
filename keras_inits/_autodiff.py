"""The backend-specific autodiff of the diagnostics, in one place.

Three operations, each written once per backend (TensorFlow, JAX, torch):

- `gradients`: reverse mode, `d loss / d variable` for some of a model's variables;
- `jvp`: forward mode, the tangents of every tensor a forward pass records, for one input
  tangent (one pass: TensorFlow's `ForwardAccumulator`, `jax.jvp`, torch's dual tensors);
- `per_sample_jacobian`: the Jacobian of each sample's output with respect to that sample's
  input, one reverse pass per output unit (a persistent TensorFlow tape, one `jax.vjp`
  linearization; vectorized over the units by torch's `is_grads_batched`).

On JAX, each operation given a `key` runs as one compiled program (`jax.jit`), cached per
model: eagerly, JAX dispatches every primitive on its own (about 1 ms each, thousands per
pass) and compiles each new primitive and shape once, so a diagnostic on ResNet50 cost seconds
of dispatch. The program takes the model's variables as arguments (under a
`keras.StatelessScope`, as `model.stateless_call` does), so LSUV or training between two calls
changes nothing but the arguments; the key also holds the input shapes and dtypes and a
fingerprint of the model (its variables' identities, shapes and dtypes and each layer's
`trainable`, activation and dtype policy), so any change of those traces a new program.
On TensorFlow the same cache holds one `tf.function` per key (it reads the variables by
reference), in place of one eager reverse pass per Jacobian row from a persistent tape.
`jvp_mean_squares` is the keyed form of `jvp` that `propagation_report` uses (the tangents
reduced to one mean square each). `clear_cache()` drops every program.

Everything else (which tensors to record, statistics, reports) is backend-neutral and lives in
`_capture`, `diagnostics/propagation.py` and `diagnostics/jacobian.py`.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops


def _backend() -> str:
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise NotImplementedError(f"Autodiff is not implemented for backend {backend!r}.")
    return backend


def _accepts(fn, name: str) -> bool:
    parameters = inspect.signature(fn).parameters.values()
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


# ---------------------------------------------------------------------------------------------
# JAX and TensorFlow: one compiled program per model, operation, key and input signature

# id(model) -> (model, {key: _Compiled}), the models used last at the end. A program's
# closures hold its model, so a weak mapping would never let go of one: instead the programs of
# the last `_MODELS` models are kept (and those models with them).
_CACHE: collections.OrderedDict[int, tuple[Any, dict]] = collections.OrderedDict()
_MODELS = 4


def clear_cache() -> None:
    """Drops every compiled program (JAX, TensorFlow)."""
    _CACHE.clear()


def cache_size(model) -> int:
    """How many compiled programs are cached for `model` (JAX, TensorFlow; 0 on torch)."""
    entry = _CACHE.get(id(model))
    return len(entry[1]) if entry is not None and entry[0] is model else 0


def _programs(model) -> dict:
    """`model`'s programs, made the most recently used; the oldest model's go past `_MODELS`."""
    entry = _CACHE.get(id(model))
    if entry is None or entry[0] is not model:
        entry = _CACHE[id(model)] = (model, {})
    _CACHE.move_to_end(id(model))
    while len(_CACHE) > _MODELS:
        _CACHE.popitem(last=False)
    return entry[1]


def _signature(tree) -> tuple:
    """Shapes and dtypes of the arrays in `tree` (and the other leaves as they are)."""
    leaves = keras.tree.flatten(tree)
    return tuple(
        (tuple(a.shape), str(a.dtype)) if hasattr(a, "shape") and hasattr(a, "dtype") else a
        for a in leaves
    )


def _fingerprint(model) -> tuple:
    """What a traced program depends on besides the variables' values and the inputs."""
    variables = tuple((id(v), tuple(v.shape), str(v.dtype), v.trainable) for v in model.variables)
    layers = tuple(
        (
            id(layer),
            layer.trainable,
            id(layer.__dict__.get("activation")),
            getattr(layer.dtype_policy, "name", None),
        )
        for layer in model._flatten_layers(include_self=True, recursive=True)
    )
    return variables, layers


@contextlib.contextmanager
def small_convs(model, depthwise: bool = False):
    """On JAX on CPU, Conv2D layers whose output is smaller than their kernel (ResNet50's last
    stage at 64x64 inputs: 3x3 kernels on 2x2 maps) compute as sums of matrix products; with
    `depthwise=True` (inside compiled programs only), DepthwiseConv2D layers compute as sums
    of shifted, per-channel scaled inputs.

    XLA:CPU runs such a convolution with a slow generic loop: a 3x3 "same" convolution of
    (8, 2, 2, 512) by 512 filters takes 250 ms, against 9 ms on a 3x3 map; three of them were
    0.75 s of ResNet50's 0.87 s forward pass. `sum_ij x_pad[:, i:i+h, j:j+w] @ K[i, j]` is the
    same convolution (stride 1, no dilation, one group; rounding aside) at matmul speed. Layers
    keep their own `convolution_op` everywhere else, and always outside this block.

    XLA:CPU's depthwise convolution (`feature_group_count` = channels) is slow too, above all
    its gradients: MobileNetV2's per-sample Jacobian took 1.7-2.0 s, against 0.45 s with each
    depthwise layer written as `sum_ij x_pad[:, i::s, j::s] * K[i, j]` (elementwise, which XLA
    fuses). Eagerly that is 2·kh·kw dispatches instead of one, so only compiled programs ask.
    """
    patched = []
    patched_calls = []
    if keras.backend.backend() == "jax" and _jax_cpu():
        if depthwise:
            for layer in model._flatten_layers(include_self=False, recursive=True):
                if (
                    type(layer) is keras.layers.DepthwiseConv2D
                    and "call" not in layer.__dict__
                    and tuple(layer.dilation_rate) == (1, 1)
                    and layer.data_format == "channels_last"
                    and getattr(layer, "quantization_mode", None) is None
                    and not getattr(layer, "lora_enabled", False)
                ):
                    layer.__dict__["call"] = _depthwise_call(layer)
                    patched_calls.append(layer)
        for layer in model._flatten_layers(include_self=False, recursive=True):
            if (
                isinstance(layer, keras.layers.Conv2D)
                and type(layer).convolution_op is keras.layers.Conv2D.convolution_op
                and "convolution_op" not in layer.__dict__
                and layer.groups == 1
                and tuple(layer.strides) == (1, 1)
                and tuple(layer.dilation_rate) == (1, 1)
                and layer.data_format == "channels_last"
            ):
                layer.__dict__["convolution_op"] = _small_conv_op(layer)
                patched.append(layer)
    try:
        yield
    finally:
        for layer in patched:
            layer.__dict__.pop("convolution_op", None)
        for layer in patched_calls:
            layer.__dict__.pop("call", None)


def _jax_cpu() -> bool:
    import jax

    return jax.default_backend() == "cpu"


def _small_conv_op(layer):
    original = type(layer).convolution_op.__get__(layer)
    kh, kw = layer.kernel_size

    def convolution_op(inputs, kernel):
        _, h, w, _ = inputs.shape
        same = layer.padding == "same"
        out_h, out_w = (h, w) if same else (h - kh + 1, w - kw + 1)
        if out_h < 1 or out_w < 1 or (out_h >= kh and out_w >= kw):
            return original(inputs, kernel)
        if same:  # as XLA pads: the odd one after
            pads = [(0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)]
            inputs = ops.pad(inputs, pads)
        total = None
        for i in range(kh):
            for j in range(kw):
                part = ops.matmul(inputs[:, i : i + out_h, j : j + out_w, :], kernel[i, j])
                total = part if total is None else total + part
        return total

    return convolution_op


def _same_or_valid(size: int, kernel: int, stride: int, padding: str) -> tuple[int, tuple]:
    """Output size and (before, after) padding of one spatial axis, as XLA and TF pad."""
    if padding == "valid":
        return (size - kernel) // stride + 1, (0, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, (total // 2, total - total // 2)


def _depthwise_call(layer):
    """`DepthwiseConv2D.call` as a sum over the kernel's taps of strided, scaled input slices."""
    kh, kw = layer.kernel_size
    sh, sw = layer.strides

    def call(inputs):
        _, h, w, channels = inputs.shape
        multiplier = layer.kernel.shape[-1]
        out_h, pad_h = _same_or_valid(h, kh, sh, layer.padding)
        out_w, pad_w = _same_or_valid(w, kw, sw, layer.padding)
        x = ops.pad(inputs, [(0, 0), pad_h, pad_w, (0, 0)])
        if multiplier != 1:  # output channel c * multiplier + m reads input channel c
            x = ops.repeat(x, multiplier, axis=-1)
        kernel = ops.reshape(layer.kernel, (kh, kw, channels * multiplier))
        total = None
        for i in range(kh):
            for j in range(kw):
                rows = slice(i, i + (out_h - 1) * sh + 1, sh)
                cols = slice(j, j + (out_w - 1) * sw + 1, sw)
                part = x[:, rows, cols, :] * kernel[i, j]
                total = part if total is None else total + part
        if layer.use_bias:
            total = total + layer.bias
        return layer.activation(total) if layer.activation is not None else total

    return call


def _tf_jacobian(forward, x):
    """`(batch, outputs, *x.shape[1:])`: one reverse pass per output unit of `forward(x)`, from a
    persistent tape (eagerly, or traced into the cached `tf.function`)."""
    import tensorflow as tf

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = forward(x)
    eye = tf.eye(y.shape[1], dtype=y.dtype)
    rows = [
        tape.gradient(y, x, output_gradients=tf.broadcast_to(eye[k], tf.shape(y)))
        for k in range(y.shape[1])
    ]
    return tf.stack(rows, axis=1)


class _Compiled:
    """`jax.jit(fn)` with the model's variables as arguments, or on TensorFlow a `tf.function`
    (which reads the variables by reference), and what its trace recorded."""

    def __init__(self, model, fn: Callable):
        self.variables = list(model.variables)
        self.traced: dict[str, Any] = {}  # filled by `fn` while tracing (e.g. recorded calls)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            self.jitted = None
            self.function = tf.function(lambda *args: fn(self.traced, *args))
            return
        import jax

        def pure(values, *args):
            mapping = list(zip(self.variables, values))
            with keras.StatelessScope(state_mapping=mapping), small_convs(model, depthwise=True):
                return fn(self.traced, *args)

        self.jitted = jax.jit(pure)

    def __call__(self, *args):
        if self.jitted is None:
            return self.function(*args)
        return self.jitted([v.value for v in self.variables], *args)


def _compiled(model, key, fn: Callable, *args) -> _Compiled:
    """The cached program `fn` for `model` and `key` at the signature of `args`.

    `fn(traced, *args)` is traced once per entry; `traced` is a dict it may fill while tracing.
    """
    full_key = (key, _signature(args), _fingerprint(model))
    programs = _programs(model)
    program = programs.get(full_key)
    if program is None:
        program = programs[full_key] = _Compiled(model, fn)
    return program


def gradients(model, x, y, loss_fn, variables, key=None) -> list:
    """`d loss_fn(y, model(x)) / d v` for each `v` in `variables` (backend tensors).

    TensorFlow's GradientTape, `jax.grad` over `model.stateless_call`, or torch autograd.
    None where `v` does not influence the loss. On JAX and TensorFlow with a hashable `key`
    that stands for `loss_fn` (the same key must mean the same loss), the gradient is one cached
    compiled program.
    """
    if not variables:
        return []
    backend = _backend()
    if backend == "jax" and key is not None:
        return _jax_gradients(model, x, y, loss_fn, variables, key)
    if backend == "tensorflow" and key is not None:
        return _tf_gradients(model, x, y, loss_fn, variables, key)
    y = ops.convert_to_tensor(y)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=False))
        return tape.gradient(value, variables)
    if backend == "jax":
        import jax

        trainable = model.trainable_variables
        non_trainable = [v.value for v in model.non_trainable_variables]
        index = {id(v): i for i, v in enumerate(trainable)}
        # `stateless_call` hands its kwargs to `call` as they are, unlike `__call__`.
        kwargs = {"training": False} if _accepts(model.call, "training") else {}

        def compute(trainable_values):
            y_pred, _ = model.stateless_call(trainable_values, non_trainable, x, **kwargs)
            return loss_fn(y, y_pred)

        grads = jax.grad(compute)([v.value for v in trainable])
        return [grads[index[id(v)]] if id(v) in index else None for v in variables]
    import torch

    value = loss_fn(y, model(x, training=False))
    return list(torch.autograd.grad(value, [v.value for v in variables], allow_unused=True))


def _jax_gradients(model, x, y, loss_fn, variables, key) -> list:
    import jax

    wanted = tuple(id(v) for v in variables)

    def fn(traced, x, y):
        trainable = model.trainable_variables
        index = {id(v): i for i, v in enumerate(trainable)}
        # The program's own values (a nested scope does not fall back to the outer one).
        others = [(v, v.value) for v in model.non_trainable_variables]

        def compute(trainable_values):
            mapping = list(zip(trainable, trainable_values)) + others
            with keras.StatelessScope(state_mapping=mapping):
                return loss_fn(y, model(x, training=False))

        grads = jax.grad(compute)([v.value for v in trainable])
        traced["missing"] = [i for i, w in enumerate(wanted) if w not in index]
        return [grads[index[w]] for w in wanted if w in index]

    args = (ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    program = _compiled(model, ("gradients", key, wanted), fn, *args)
    found = iter(program(*args))
    missing = set(program.traced["missing"])
    return [None if i in missing else next(found) for i in range(len(variables))]


def _tf_gradients(model, x, y, loss_fn, variables, key) -> list:
    import tensorflow as tf

    def fn(traced, x, y):
        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=False))
        grads = tape.gradient(value, variables)
        traced["missing"] = [i for i, g in enumerate(grads) if g is None]
        return [g for g in grads if g is not None]

    args = (ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    program = _compiled(model, ("gradients", key, tuple(id(v) for v in variables)), fn, *args)
    found = iter(program(*args))
    missing = set(program.traced["missing"])
    return [None if i in missing else next(found) for i in range(len(variables))]


def jvp(forward: Callable, x, tangent) -> tuple[list, list]:
    """Runs `forward(x)`, which returns a list of tensors, with `x` carrying `tangent`.

    Returns `(values, tangents)`: the tensors and their directional derivatives
    `d value / d x · tangent`, in one forward pass. A tensor that does not depend on `x`
    gets a zero tangent.
    """
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x, tangent = tf.convert_to_tensor(x), tf.convert_to_tensor(tangent)
        with tf.autodiff.ForwardAccumulator(x, tangent) as acc:
            values = forward(x)
        tangents = [acc.jvp(v, unconnected_gradients="zero") for v in values]
        return values, tangents
    if backend == "jax":
        import jax

        values, tangents = jax.jvp(forward, (x,), (tangent,))
        return values, tangents
    import torch
    import torch.autograd.forward_ad as fwad

    with torch.no_grad(), fwad.dual_level():
        dual = fwad.make_dual(ops.convert_to_tensor(x), ops.convert_to_tensor(tangent))
        outputs = [fwad.unpack_dual(v) for v in forward(dual)]
        values = [o.primal for o in outputs]
        tangents = [torch.zeros_like(o.primal) if o.tangent is None else o.tangent for o in outputs]
    return values, tangents


def jvp_mean_squares(model, key, forward: Callable, x, tangent) -> tuple[list, list, Any]:
    """`jvp(forward, x, tangent)`, reduced: `(values, [mean(t**2) for each tangent t], traced)`.

    `forward(x)` must run `model` (and may fill the dict `traced`, which comes back, with what
    it records while running). On JAX and TensorFlow with a hashable `key` (the same key must
    mean the same `forward`), one cached compiled program that reduces the tangents where they
    are; elsewhere `jvp` and float64 means on the host.
    """
    if _backend() == "jax" and key is not None:
        import jax
        import jax.numpy as jnp

        def fn(traced, x, tangent):
            values, tangents = jax.jvp(lambda x: forward(x, traced), (x,), (tangent,))
            squares = [jnp.mean(jnp.square(t.astype("float32"))) for t in tangents]
            return values, squares

        x, tangent = ops.convert_to_tensor(x), ops.convert_to_tensor(tangent)
        program = _compiled(model, ("jvp", key), fn, x, tangent)
        values, squares = program(x, tangent)
        return values, [float(s) for s in squares], program.traced
    if _backend() == "tensorflow" and key is not None:
        import tensorflow as tf

        def tf_fn(traced, x, tangent):
            with tf.autodiff.ForwardAccumulator(x, tangent) as acc:
                values = forward(x, traced)
            tangents = [acc.jvp(v, unconnected_gradients="zero") for v in values]
            squares = [tf.reduce_mean(tf.square(tf.cast(t, "float32"))) for t in tangents]
            return values, squares

        x, tangent = tf.convert_to_tensor(x), tf.convert_to_tensor(tangent)
        program = _compiled(model, ("jvp", key), tf_fn, x, tangent)
        values, squares = program(x, tangent)
        return values, [float(s) for s in squares], program.traced
    traced: dict[str, Any] = {}
    values, tangents = jvp(lambda x: forward(x, traced), x, tangent)
    squares = [float(np.mean(np.square(_float64(t)))) for t in tangents]
    return values, squares, traced


def _float64(t) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(ops.cast(t, "float32")), dtype="float64")


def per_sample_jacobian(forward: Callable, x, model=None, key=None) -> np.ndarray:
    """`J[b, k, i] = d forward(x)[b, k] / d x[b, i]`, as float64, for a batch `x`.

    `forward` maps `(batch, *input)` to `(batch, n_out)` and treats samples independently
    (inference mode), so the gradient of the batch sum of output unit `k` holds every
    sample's row `k`: `n_out` reverse passes after one forward pass. On JAX and TensorFlow with
    `model` (the model `forward` runs) and a hashable `key` (the same key must mean the same
    `forward`), one cached compiled program (on JAX the reverse passes vectorized by
    `jax.vmap`).
    """
    backend = _backend()
    batch = int(x.shape[0])
    if backend == "jax" and model is not None and key is not None:
        import jax

        def fn(traced, x):
            y, pullback = jax.vjp(forward, x)
            eye = jax.numpy.eye(y.shape[1], dtype=y.dtype)
            cotangents = jax.numpy.broadcast_to(eye[:, None, :], (y.shape[1],) + y.shape)
            (rows,) = jax.vmap(pullback)(cotangents)
            return jax.numpy.moveaxis(rows, 0, 1)

        x = ops.convert_to_tensor(x)
        jac = _compiled(model, ("jacobian", key), fn, x)(x)
        jac = np.asarray(ops.convert_to_numpy(ops.cast(jac, "float32")), dtype="float64")
        return jac.reshape(batch, jac.shape[1], -1)
    if backend == "tensorflow" and model is not None and key is not None:
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        jac = _compiled(model, ("jacobian", key), lambda traced, x: _tf_jacobian(forward, x), x)(x)
        jac = np.asarray(ops.convert_to_numpy(ops.cast(jac, "float32")), dtype="float64")
        return jac.reshape(batch, jac.shape[1], -1)
    if backend == "tensorflow":
        import tensorflow as tf

        # One eager reverse pass per output unit: `batch_jacobian` vectorizes them with pfor,
        # which traces a new graph per call (~10x slower eagerly).
        jac = _tf_jacobian(forward, tf.convert_to_tensor(x))
    elif backend == "jax":
        import jax

        # A loop over one linearization: `jax.vmap(pullback)` builds new batched jaxprs on
        # every call, so eagerly it recompiled each time (MobileNetV2: 29-41 s warm, the loop
        # 10-16 s, on a loaded 2-core machine).
        y, pullback = jax.vjp(forward, x)
        eye = jax.numpy.eye(y.shape[1], dtype=y.dtype)
        rows = [pullback(jax.numpy.broadcast_to(eye[k], y.shape))[0] for k in range(y.shape[1])]
        jac = jax.numpy.stack(rows, axis=1)
    else:
        import torch

        x = ops.convert_to_tensor(x).detach().requires_grad_(True)
        with torch.enable_grad():
            y = forward(x)
        basis = torch.eye(y.shape[1], dtype=y.dtype, device=y.device)
        cotangents = basis[:, None, :].expand((y.shape[1],) + tuple(y.shape))
        (jac,) = torch.autograd.grad(y, x, cotangents, is_grads_batched=True)
        jac = jac.movedim(0, 1)
    jac = np.asarray(ops.convert_to_numpy(ops.cast(jac, "float32")), dtype="float64")
    return jac.reshape(batch, jac.shape[1], -1)
