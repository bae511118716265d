"""`init_output_bias`: a model's output bias set from the labels' priors (`PriorBias`)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_inits import _capture, _checks
from keras_inits.model import reinit
from keras_inits.schemes.prior import EPS, LINKS, Link, PriorBias

#: The links a layer with this activation allows (a linear layer outputs logits: any link).
_LINKS_OF_ACTIVATION = {"sigmoid": ["sigmoid"], "softmax": ["softmax"]}


def _labels(y: Any) -> np.ndarray:
    if keras.ops.is_tensor(y):
        y = keras.ops.convert_to_numpy(y)
    try:
        array = np.asarray(y)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"Argument `y` must be an array of labels. Received: y={y!r} ({e})"
        ) from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"Argument `y` must hold numbers (labels or targets). Received: y of dtype "
            f"{array.dtype}"
        )
    if array.ndim not in (1, 2) or not array.shape[0]:
        raise ValueError(
            "Argument `y` must be a non-empty array of shape (n,) or (n, outputs). "
            f"Received: y of shape {array.shape}"
        )
    array = array.astype("float64")
    if not np.isfinite(array).all():
        raise ValueError("Argument `y` must be finite. Received: y with NaN or inf values")
    return array


def prior_of(y: Any, link: Link, outputs: int) -> np.ndarray:
    """The per-output prior of labels `y` for a head with `outputs` units.

    - sigmoid: `y` of shape `(n,)` (one output) or `(n, outputs)`, values in [0, 1] (multi-hot
      or soft labels): the mean of each column, the fraction of positives.
    - softmax: integer labels of shape `(n,)` or `(n, 1)` in `[0, outputs)`, or one-hot (or
      soft) rows of shape `(n, outputs)` summing to 1: the class frequencies.
    - identity: targets of shape `(n,)` (one output) or `(n, outputs)`: their mean.

    Raises ValueError for an empty `y`, a shape that does not fit the head, labels out of range.
    """
    link = _checks.choice("link", link, LINKS)
    y = _labels(y)
    if link == "softmax" and (y.ndim == 1 or (y.shape[1] == 1 and outputs > 1)):
        labels = y.reshape(-1)
        if (labels != np.round(labels)).any() or labels.min() < 0 or labels.max() >= outputs:
            bad = labels[(labels != np.round(labels)) | (labels < 0) | (labels >= outputs)]
            shown = sorted({int(v) if v.is_integer() else v for v in bad.tolist()})[:5]
            raise ValueError(
                f"Argument `y` holds integer class labels for a softmax head with {outputs} "
                f"units, so each must be an integer in [0, {outputs}). Received: labels "
                f"{shown}"
            )
        return np.bincount(labels.astype("int64"), minlength=outputs) / labels.size
    columns = y.reshape(-1, 1) if y.ndim == 1 else y
    if columns.shape[1] != outputs:
        raise ValueError(
            f"Argument `y` must have one column per output of the head ({outputs}) for "
            f"link={link!r}. Received: y of shape {y.shape}"
        )
    if link != "identity" and ((columns < 0) | (columns > 1)).any():
        raise ValueError(
            f"Argument `y` must hold labels in [0, 1] for link={link!r} (multi-hot, one-hot or "
            f"soft labels). Received: values in [{columns.min()!r}, {columns.max()!r}]"
        )
    if link == "softmax" and not np.allclose(columns.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(
            "Argument `y` of shape (n, outputs) must hold one-hot (or soft) rows summing to 1 "
            "for link='softmax'; pass integer class labels of shape (n,) otherwise. Received: "
            "rows summing to other values"
        )
    return columns.mean(axis=0)


def output_layer(model: keras.Model, layer: Any = None) -> keras.layers.Layer:
    """The layer whose bias `init_output_bias` sets: `layer` (a name or a layer of `model`), or
    the last `Dense` with a bias; ValueError if there is none or it has no 1-D bias."""
    layers = _capture.all_layers(model)
    if layer is None:
        dense = [lay for lay in layers if isinstance(lay, keras.layers.Dense) and lay.use_bias]
        if not dense:
            raise ValueError(
                "`init_output_bias` looks for the last Dense layer with a bias, and model "
                f"{model.name!r} has none; pass `layer=` (a name or a layer). Received: layer=None"
            )
        chosen = dense[-1]
    elif isinstance(layer, str):
        named = [lay for lay in layers if lay.name == layer]
        if not named:
            raise ValueError(
                f"Argument `layer` must name a layer of the model. Received: layer={layer!r}; "
                f"allowed: {sorted(lay.name for lay in layers)}"
            )
        chosen = named[0]
    elif isinstance(layer, keras.layers.Layer):
        if not any(lay is layer for lay in layers):
            raise ValueError(
                f"Argument `layer` must be a layer of the model. Received: layer={layer!r}"
            )
        chosen = layer
    else:
        raise TypeError(
            f"Argument `layer` must be None, a layer name or a layer. Received: layer={layer!r}"
        )
    bias = getattr(chosen, "bias", None)
    if not isinstance(bias, keras.Variable) or len(bias.shape) != 1:
        raise ValueError(
            f"Argument `layer` must be a built layer with a 1-D `bias` variable. Received: "
            f"layer {chosen.name!r} ({type(chosen).__name__}) with bias "
            f"{None if bias is None else tuple(bias.shape)}"
        )
    return chosen


def _check_activation(chosen, link: str) -> None:
    activation = getattr(getattr(chosen, "activation", None), "__name__", "linear")
    allowed = _LINKS_OF_ACTIVATION.get(activation, list(LINKS))
    if link not in allowed:
        raise ValueError(
            f"Argument `link` must be one of {allowed} for layer {chosen.name!r}, whose "
            f"activation is {activation!r}. Received: link={link!r}"
        )


def init_output_bias(
    model: keras.Model,
    y: Any,
    link: Link | None = None,
    *,
    layer: str | keras.layers.Layer | None = None,
    eps: float = EPS,
) -> PriorBias:
    """Sets the output layer's bias from the priors of `y`, so the model starts out predicting
    the base rates.

    `b_i = log(p_i / (1 - p_i))` for a sigmoid head (`p_i` the fraction of positives of output
    `i`), `b_i = log(p_i)` for a softmax head (`p_i` the frequency of class `i`), `b_i = mean(y_i)`
    for a regression head (identity link); `p` is clipped to `[eps, 1 - eps]` for the log links,
    so a class never or always seen gives a large finite bias, never inf or NaN (see
    `PriorBias`). Everything is checked before the bias is assigned (in place); the layer's
    `bias_initializer` (and the variable's recorded initializer) becomes the `PriorBias`, so the
    model saves it and `keras_inits.reinitialize` draws the same bias again.

    Args:
        model: a built `keras.Model`.
        y: the training labels: for "sigmoid", 0/1 labels `(n,)` or multi-hot `(n, outputs)`;
            for "softmax", integer labels `(n,)` in `[0, outputs)` or one-hot `(n, outputs)`;
            for "identity", targets `(n,)` or `(n, outputs)`. Soft labels in [0, 1] work too.
        link: "sigmoid", "softmax" or "identity": the head's output function. A layer whose
            own activation is sigmoid or softmax must match it. Default (None): the head's own
            activation where it is sigmoid or softmax, else "sigmoid" (a head emitting logits
            for a binary or multi-label loss); pass "softmax" for softmax logits and
            "identity" for regression.
        layer: the output layer, by name or as a layer of `model`; default: the last Dense
            layer with a bias (the order of `model`'s layers, nested models included).
        eps: clip of the prior for the log links, in (0, 0.5) (default 1e-6).

    Returns:
        The `PriorBias` that was assigned (its `prior` and `bias()` show the values).

    Example:

    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, "relu"),
    ...                           keras.layers.Dense(1, "sigmoid")])
    >>> y_train = (np.arange(1000) % 50 == 0).astype("float32")  # 0/1 labels, 2% positives
    >>> keras_inits.init_output_bias(model, y_train)  # bias log(0.02 / 0.98) = -3.89
    PriorBias(prior=[0.02], link='sigmoid', eps=1e-06)

    Reference: Lin et al. 2017, "Focal Loss for Dense Object Detection", section 4.1,
    https://arxiv.org/abs/1708.02002; keras-team/keras #20357.
    """
    _capture.check_model(model)
    if not model.built:
        raise ValueError(
            "Argument `model` must be built (call it on data, or give it an Input) so that its "
            f"output bias exists. Received: model={model.name!r} (not built)"
        )
    chosen = output_layer(model, layer)
    if link is None:
        activation = getattr(getattr(chosen, "activation", None), "__name__", "linear")
        link = "softmax" if activation == "softmax" else "sigmoid"
    link = _checks.choice("link", link, LINKS)
    _check_activation(chosen, link)
    bias = chosen.bias
    initializer = PriorBias(prior_of(y, link, bias.shape[0]).tolist(), link=link, eps=eps)
    value = initializer(tuple(bias.shape), dtype=bias.dtype)  # checks shape and dtype range
    bias.assign(value)
    chosen.bias_initializer = initializer
    setattr(bias, reinit.RECORD, initializer)
    setattr(bias, reinit._policy.PASS_SEEDED, False)  # deterministic: no pass seed to replace
    return initializer
