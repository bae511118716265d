"""Layer-sequential unit variance (LSUV): initialization fixed from data.

Mishkin & Matas 2016 (https://arxiv.org/abs/1511.06422): pre-initialize every kernel with an
orthonormal matrix, then, layer by layer in forward order, run a batch through the model and
divide the layer's kernel by the standard deviation of its output, until the output variance is
within `tol` of 1 or `max_iter` rescalings were made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import re

import keras
import numpy as np
from keras import ops

from keras_inits import _autodiff, _capture
from keras_inits._sampling import compute_dtype, orthogonal
from keras_inits.schemes.orthogonal import Orthogonal

#: The layer types LSUV rescales (subclasses included).
HANDLED = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)
_HANDLED_NAMES = "Dense, EinsumDense, Conv1D/2D/3D and DepthwiseConv1D/2D"
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)


@dataclasses.dataclass
class LSUVLayer:
    """What `lsuv` did to one layer.

    Attributes:
        name: the layer's name.
        class_name: the layer's class name.
        variance_before: variance of the layer's output on `x` in the model as it was passed in
            (None if the layer was not called).
        variance_after: variance of the layer's output on `x` when LSUV finished with it.
        iterations: number of rescalings of the kernel.
        converged: whether `|variance_after - 1| < tol`.
        orthonormal: whether the kernel was replaced by an orthonormal one first.
        skipped: whether LSUV left the layer's kernel alone (see `reason`).
        reason: why the layer was skipped, or a note; empty otherwise.
    """

    name: str
    class_name: str
    variance_before: float | None = None
    variance_after: float | None = None
    iterations: int = 0
    converged: bool = False
    orthonormal: bool = False
    skipped: bool = False
    reason: str = ""


class LSUVReport(_capture.LayerTable):
    """The per-layer result of `lsuv`, in forward order.

    Iterate over it, index it, print it (an aligned table) or call `to_list()` for dicts.

    Args:
        layers: one `LSUVLayer` per layer, in forward order.
        tol: the tolerance `lsuv` ran with.
        max_iter: the maximum number of rescalings `lsuv` ran with.
    """

    def __init__(self, layers: list[LSUVLayer], tol: float, max_iter: int):
        super().__init__(layers)
        self.tol = tol
        self.max_iter = max_iter

    @property
    def handled(self) -> list[LSUVLayer]:
        """The layers whose kernel LSUV rescaled."""
        return [layer for layer in self.layers if not layer.skipped]

    @property
    def skipped(self) -> list[LSUVLayer]:
        """The layers LSUV left alone, each with its `reason`."""
        return [layer for layer in self.layers if layer.skipped]

    def __str__(self) -> str:
        headers = ["layer", "class", "var before", "var after", "iters", "status"]
        rows = []
        for r in self.layers:
            if r.skipped:
                status = f"skipped: {r.reason}"
            else:
                status = "ok" if r.converged else f"not converged in {self.max_iter} iterations"
                if r.reason:
                    status += f" ({r.reason})"
            rows.append(
                [r.name, r.class_name, r.variance_before, r.variance_after, r.iterations, status]
            )
        title = f"LSUV (tol={self.tol}, max_iter={self.max_iter}): {len(self.handled)} layers "
        title += f"rescaled, {len(self.skipped)} skipped"
        return title + "\n" + _capture.table(headers, rows)

    def __repr__(self) -> str:
        return f"<LSUVReport: {len(self.handled)} rescaled, {len(self.skipped)} skipped>"


def lsuv(
    model: keras.Model,
    x,
    *,
    tol: float = 0.1,
    max_iter: int = 10,
    orthonormal: bool = True,
    verbose: int = 1,
    seed: int | None = None,
) -> LSUVReport:
    """Layer-sequential unit-variance initialization of a built model, in place.

    For each Dense, EinsumDense, Conv1D/2D/3D and DepthwiseConv1D/2D layer, in the order the
    model calls them on `x`:

    1. if `orthonormal`, the kernel is replaced by an orthonormal matrix (`Orthogonal`; for a
       depthwise kernel, each input channel's `(taps, multiplier)` filter bank separately, since
       the channels never mix);
    2. the kernel is divided by `sqrt(v)`, `v` the variance of the layer's output on `x`, until
       `|v - 1| < tol` or `max_iter` rescalings were made.

    `v` is the variance over every element of the layer's output *before the layer's own
    activation* (the Dense/Conv output, as in the paper, where the nonlinearity is a layer of
    its own), so a fused `activation="softmax"` or `"sigmoid"` cannot prevent convergence.
    The model runs in inference mode (`training=False`). A shared layer is calibrated on its
    first call.

    Layers that own weights but that LSUV cannot rescale (another type, frozen, quantized,
    LoRA-enabled, not called on `x`, zero or non-finite output variance) are left alone and
    listed in the report as skipped, with the reason. Only existing variables are assigned, so
    the model stays trainable, compiled and savable.

    Args:
        model: a `keras.Model` (Sequential, Functional or subclassed). Built on `x` if needed.
        x: a batch of inputs, as the model takes them. A few hundred samples are enough.
        tol: tolerance on the output variance, > 0 (default 0.1).
        max_iter: maximum number of rescalings per layer, >= 0 (default 10).
        orthonormal: whether to pre-initialize kernels with orthonormal matrices (default True).
        verbose: 0 silent, 1 a progress bar (default), 2 one line at the end.
        seed: int seed for the orthonormal matrices, or None.

    Returns:
        An `LSUVReport`: per layer, the variance before and after, the number of iterations,
        and for skipped layers the reason.

    Example:

    >>> model = keras.Sequential(
    ...     [keras.Input((64,))] + [keras.layers.Dense(64, "relu") for _ in range(8)]
    ...     + [keras.layers.Dense(10, "softmax")]
    ... )
    >>> x_train = np.random.default_rng(0).normal(size=(128, 64)).astype("float32")
    >>> report = keras_inits.lsuv(model, x_train, seed=0, verbose=0)
    >>> print(report)
    LSUV (tol=0.1, max_iter=10): 9 layers rescaled, 0 skipped
    ...

    Reference: Mishkin & Matas 2016, "All you need is a good init",
    https://arxiv.org/abs/1511.06422
    """
    _capture.check_model(model)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise ValueError(f"Argument `tol` must be a number > 0. Received: tol={tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(
            f"Argument `max_iter` must be an int >= 0. Received: max_iter={max_iter!r}"
        )
    if verbose not in (0, 1, 2):
        raise ValueError(
            f"Argument `verbose` must be one of [0, 1, 2]. Received: verbose={verbose!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"Argument `seed` must be None or an int. Received: seed={seed!r}")

    x = _capture.as_inputs(x)
    if not model.built:
        _capture.run(model, x)
    layers = _capture.all_layers(model)
    candidates = [layer for layer in layers if isinstance(layer, HANDLED)]

    # One pass: the order of first calls, and each candidate's output variance as given.
    order: dict[int, int] = {}
    before: dict[int, float] = {}

    def observe(layer, call, args, kwargs):
        order.setdefault(id(layer), len(order))
        if isinstance(layer, HANDLED) and id(layer) not in before:
            z = _pre_activation(layer, call, args, kwargs)
            before[id(layer)] = _variance(z)
            return layer.activation(z) if layer.activation is not None else z
        return call(*args, **kwargs)

    with _capture.hooked(layers, observe), _autodiff.small_convs(model):
        _capture.run(model, x)

    results = []
    position = {}
    for layer in candidates:
        result = LSUVLayer(layer.name, type(layer).__name__, before.get(id(layer)))
        results.append((layer, result))
        position[id(layer)] = order.get(id(layer), math.inf)
    for layer in layers:
        if not isinstance(layer, HANDLED) and _unsupported(layer):
            result = LSUVLayer(layer.name, type(layer).__name__, skipped=True)
            result.reason = _unsupported(layer)
            results.append((layer, result))
            position[id(layer)] = order.get(id(layer), math.inf)
    results.sort(key=lambda pair: position[id(pair[0])])

    # Pass 2: one forward pass. Each handled layer is calibrated when it is first called, on
    # the input it receives from the layers calibrated before it, which is exactly the
    # sequential algorithm at the cost of one pass (not one pass per layer).
    rng = random.Random(seed)
    pending = {}
    for layer, result in results:
        if isinstance(layer, HANDLED):
            pending[id(layer)] = (layer, result, rng.randint(1, 2**31 - 1))
    progbar = keras.utils.Progbar(len(candidates), verbose=verbose, stateful_metrics=["variance"])
    originals: list = []  # (kernel, value as passed in): restored if the pass fails

    def calibrate(layer, call, args, kwargs):
        if id(layer) in pending:
            _, result, layer_seed = pending.pop(id(layer))
            _calibrate_safely(
                layer, call, args, kwargs, result, originals, tol, max_iter, orthonormal, layer_seed
            )
            values = [] if result.variance_after is None else [("variance", result.variance_after)]
            progbar.update(len(candidates) - len(pending), values)
        return call(*args, **kwargs)

    try:
        with (
            _capture.hooked(candidates, calibrate),
            _one_blas_thread(),
            _autodiff.small_convs(model),
        ):
            _capture.run(model, x)
    except BaseException:
        for kernel, value in reversed(originals):
            kernel.assign(value)
        raise
    for layer, result, _ in pending.values():  # handled layers the pass never reached
        result.skipped, result.reason = True, _cannot_rescale(layer) or NOT_CALLED
    if pending:
        progbar.update(len(candidates))
    return LSUVReport([result for _, result in results], tol, max_iter)


NOT_CALLED = "not called when the model runs on x"


@contextlib.contextmanager
def _one_blas_thread():
    """On JAX, host LAPACK (the orthonormal pre-init's `orgqr`, see `_sampling`) on one thread.

    OpenBLAS' threads spin while they wait for each other, so on a busy machine (more runnable
    processes than cores) its threaded `orgqr` ran 10-20x slower than on one thread (ResNet50:
    19 of LSUV's 26 s, 2.5 s per 4608x512 kernel against 0.14 s). Through `threadpoolctl`
    where it is installed (scikit-learn, the `[diagnostics]` extra, brings it); else as is.
    """
    limits = None
    if keras.backend.backend() == "jax":
        try:
            import scipy.linalg  # noqa: F401  (loaded first, so that its OpenBLAS is limited)
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass
        else:
            limits = threadpool_limits(1, user_api="blas")
    try:
        yield
    finally:
        if limits is not None:
            limits.restore_original_limits()


def _calibrate_safely(layer, call, args, kwargs, result, originals, *options) -> None:
    """`_calibrate`, where a failure is reported as a skip and the kernel is restored."""
    kernel = _kernel_variable(layer)
    saved = None if kernel is None else ops.copy(kernel.value)
    if saved is not None:
        originals.append((kernel, saved))
    try:
        _calibrate(layer, call, args, kwargs, result, *options)
    except Exception as e:  # reported, never silent
        if saved is not None:
            kernel.assign(saved)
        result.skipped = True
        result.reason = f"{type(e).__name__}: {e}".splitlines()[0]


def _calibrate(layer, call, args, kwargs, result, tol, max_iter, orthonormal, seed) -> None:
    """Steps 1 and 2 for one layer, on the inputs of its call; fills `result`."""
    problem = _cannot_rescale(layer)
    if problem:
        result.skipped, result.reason = True, problem
        return
    kernel = _kernel_variable(layer)
    if orthonormal:
        note = _orthonormal_init(layer, kernel, seed)
        if note:
            result.reason = note
        else:
            result.orthonormal = True

    iterations = 0
    while True:
        with _capture.no_grad():
            z = _pre_activation(layer, call, args, kwargs)
        variance = _variance(z)
        result.variance_after = variance
        if not math.isfinite(variance) or variance <= 0.0:
            result.skipped = True
            result.reason = (
                f"output variance is {variance} on x, so no rescaling can reach 1 "
                "(its input carries no signal?)"
            )
            break
        if abs(variance - 1.0) < tol:
            result.converged = True
            break
        if iterations >= max_iter:
            break
        factor = 1.0 / math.sqrt(variance)
        # Scaled on the host: on JAX a device multiply would compile once per kernel shape.
        scaled = ops.convert_to_numpy(ops.cast(kernel.value, "float32")) * factor
        kernel.assign(ops.cast(scaled, kernel.dtype))
        iterations += 1
    result.iterations = iterations


def _pre_activation(layer, call, args, kwargs):
    """The layer's output without its own activation (Dense/Conv/EinsumDense apply it last)."""
    activation = layer.__dict__.get("activation")
    layer.__dict__["activation"] = None
    try:
        out = call(*args, **kwargs)
    finally:
        layer.__dict__["activation"] = activation
    return out


def _variance(output) -> float:
    """Variance of the first float output, in float64 on the host (no per-shape compile)."""
    tensors = _capture.float_tensors(output)
    if not tensors:
        return math.nan
    return float(np.var(_capture.to_float64(tensors[0])))


def _kernel_variable(layer):
    """The kernel's `keras.Variable` (Dense and EinsumDense keep it as `_kernel`)."""
    for attr in ("_kernel", "kernel"):
        value = getattr(layer, attr, None)
        if isinstance(value, keras.Variable):
            return value
    return None


def _cannot_rescale(layer) -> str:
    """Why LSUV cannot rescale this handled-type layer, or an empty string."""
    if getattr(layer, "quantization_mode", None) is not None:
        return f"quantized kernel ({layer.quantization_mode}); run LSUV before quantizing"
    if getattr(layer, "lora_enabled", False):
        return "LoRA is enabled; run LSUV before `enable_lora`"
    if not layer.trainable:
        return "frozen (trainable=False); LSUV leaves frozen weights alone"
    kernel = _kernel_variable(layer)
    if kernel is None:
        return "has no kernel variable"
    if not kernel.trainable:
        return "kernel is not trainable"
    if "float" not in keras.backend.standardize_dtype(kernel.dtype):
        return f"kernel dtype {kernel.dtype} is not floating point"
    return ""


def _unsupported(layer) -> str:
    """For a layer of another type: why it is reported as skipped, or '' if it owns no weights."""
    if layer._layers:  # a container: its sublayers are reported on their own
        return ""
    if not layer.weights:
        return ""
    kernels = [v.name for v in layer.weights if v.name.endswith("kernel")]
    if kernels:
        return (
            f"LSUV rescales {_HANDLED_NAMES} kernels; {type(layer).__name__} "
            f"({', '.join(kernels)}) is not one of them"
        )
    owned = ", ".join(v.name for v in layer.weights)
    return f"no kernel to rescale ({type(layer).__name__} owns {owned})"


# ---------------------------------------------------------------------------------------------
# Orthonormal pre-initialization


def _orthonormal_init(layer, kernel, seed: int) -> str:
    """Assigns an orthonormal kernel; returns a note if the layout does not allow it."""
    shape = tuple(kernel.shape)
    dtype = keras.backend.standardize_dtype(kernel.dtype)
    if isinstance(layer, _DEPTHWISE):
        value = _depthwise_orthonormal(shape, dtype, seed)
    elif isinstance(layer, keras.layers.EinsumDense):
        value = _einsum_orthonormal(layer.equation, shape, dtype, seed)
        if value is None:
            return f"orthonormal pre-init skipped: cannot read equation {layer.equation!r}"
    else:
        value = Orthogonal(seed=seed)(shape, dtype)
    kernel.assign(value)
    return ""


def _depthwise_orthonormal(shape, dtype, seed):
    """Kernel `(*taps, channels, multiplier)`: per channel, an orthonormal `(taps, mult)` bank.

    All channels at once: the QR factorizations of a `(channels, big, small)` normal draw, each
    with the signs of `diag(R)` moved into `Q`, which makes `Q` Haar-distributed (Mezzadri
    2007). One batched QR instead of one per channel: MobileNetV2 has ~7000 depthwise channels.
    """
    *taps, channels, multiplier = shape
    rows = math.prod(taps)
    big, small = max(rows, multiplier), min(rows, multiplier)
    a = keras.random.normal((channels, big, small), dtype=compute_dtype(dtype), seed=seed)
    q, r = ops.linalg.qr(a)  # reduced: q (channels, big, small) with orthonormal columns
    signs = ops.where(ops.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    q = q * ops.cast(signs[:, None, :], q.dtype)
    if rows < multiplier:  # orthonormal rows: the transpose
        q = ops.transpose(q, (0, 2, 1))
    q = ops.transpose(q, (1, 0, 2))  # (rows, channels, multiplier)
    return ops.cast(ops.reshape(q, shape), dtype)


_SPEC = re.compile(r"^\s*([a-zA-Z.]*)\s*,\s*([a-zA-Z]+)\s*->\s*([a-zA-Z.]*)\s*$")


def _einsum_orthonormal(equation: str, shape, dtype, seed):
    """An orthonormal map from the kernel's contracted axes to its output axes, in its layout.

    As in Keras' EinsumDense, a kernel axis whose letter appears in the output is an output
    axis and every other axis is an input (contracted) axis.
    """
    match = _SPEC.match(equation)
    if not match:
        return None
    weight_spec, output_spec = match.group(2), match.group(3).replace(".", "")
    out_axes = [i for i, c in enumerate(weight_spec) if c in output_spec]
    in_axes = [i for i, c in enumerate(weight_spec) if c not in output_spec]
    rows = math.prod(shape[i] for i in in_axes)
    cols = math.prod(shape[i] for i in out_axes)
    q = orthogonal(rows, cols, compute_dtype(dtype), seed)
    permuted = ops.reshape(q, [shape[i] for i in in_axes + out_axes])
    inverse = [0] * len(shape)
    for position, axis in enumerate(in_axes + out_axes):
        inverse[axis] = position
    return ops.cast(ops.transpose(permuted, inverse), dtype)
