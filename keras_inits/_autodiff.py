"""The backend-specific autodiff of the diagnostics, in one place.

Three operations, each written once per backend (TensorFlow, JAX, torch):

- `gradients`: reverse mode, `d loss / d variable` for some of a model's variables;
- `jvp`: forward mode, the tangents of every tensor a forward pass records, for one input
  tangent (one pass: TensorFlow's `ForwardAccumulator`, `jax.jvp`, torch's dual tensors);
- `per_sample_jacobian`: the Jacobian of each sample's output with respect to that sample's
  input, one reverse pass per output unit (a persistent TensorFlow tape, one `jax.vjp`
  linearization; vectorized over the units by torch's `is_grads_batched`).

Everything else (which tensors to record, statistics, reports) is backend-neutral and lives in
`_capture`, `diagnostics/propagation.py` and `diagnostics/jacobian.py`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

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


def gradients(model, x, y, loss_fn, variables) -> list:
    """`d loss_fn(y, model(x)) / d v` for each `v` in `variables` (backend tensors).

    TensorFlow's GradientTape, `jax.grad` over `model.stateless_call`, or torch autograd.
    None where `v` does not influence the loss.
    """
    if not variables:
        return []
    backend = _backend()
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


def per_sample_jacobian(forward: Callable, x) -> np.ndarray:
    """`J[b, k, i] = d forward(x)[b, k] / d x[b, i]`, as float64, for a batch `x`.

    `forward` maps `(batch, *input)` to `(batch, n_out)` and treats samples independently
    (inference mode), so the gradient of the batch sum of output unit `k` holds every
    sample's row `k`: `n_out` reverse passes after one forward pass.
    """
    backend = _backend()
    batch = int(x.shape[0])
    if backend == "tensorflow":
        import tensorflow as tf

        # One eager reverse pass per output unit from a persistent tape: `batch_jacobian`
        # vectorizes them with pfor, which traces a new graph per call (~10x slower eagerly).
        x = tf.convert_to_tensor(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = forward(x)
        eye = tf.eye(y.shape[1], dtype=y.dtype)
        rows = [
            tape.gradient(y, x, output_gradients=tf.broadcast_to(eye[k], tf.shape(y)))
            for k in range(y.shape[1])
        ]
        jac = tf.stack(rows, axis=1)
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
        eye = torch.eye(y.shape[1], dtype=y.dtype, device=y.device)
        cotangents = eye[:, None, :].expand((y.shape[1],) + tuple(y.shape))
        (jac,) = torch.autograd.grad(y, x, cotangents, is_grads_batched=True)
        jac = jac.movedim(0, 1)
    jac = np.asarray(ops.convert_to_numpy(ops.cast(jac, "float32")), dtype="float64")
    return jac.reshape(batch, jac.shape[1], -1)
