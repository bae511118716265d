"""Output bias from class priors: the head starts out predicting the base rates.

With a zero bias a sigmoid head predicts 0.5 for every output and a softmax head `1/k` for every
class, so on imbalanced data the first epochs are spent learning the base rates (Karpathy's
"init well", TF's imbalanced-data tutorial, the Focal Loss paper's `-log((1 - pi) / pi)`).
`PriorBias` sets the bias so that, with the kernel's contribution near 0, the head predicts the
prior itself. `keras_inits.init_output_bias` computes the prior from labels and assigns it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from keras import ops

from keras_inits import _checks
from keras_inits._registry import register
from keras_inits.base import Initializer

Link = Literal["sigmoid", "softmax", "identity"]
LINKS: tuple[Link, ...] = ("identity", "sigmoid", "softmax")
#: Default clip of the prior for the log links: |b| <= log(1 / eps) = 13.8 (float16 holds it).
EPS = 1e-6
#: How far a softmax prior's sum may be from 1 (float32 frequencies of a million labels sum to
#: 1 within about 1e-7 each; a sum further off is a mistake, e.g. counts or per-class rates).
SUM_TOLERANCE = 1e-4


def _prior_array(prior: Any) -> np.ndarray:
    """`prior` as a non-empty 1-D float64 array of finite values, or raises naming it."""
    if isinstance(prior, (list, tuple, np.ndarray)):
        try:
            array = np.asarray(prior)
        except (TypeError, ValueError) as e:  # ragged lists, ...
            raise TypeError(
                f"Argument `prior` must be a real number or a 1-D array-like of real numbers. "
                f"Received: prior={prior!r} ({e})"
            ) from None
        if array.dtype.kind not in "iuf" or array.ndim != 1 or not array.size:
            raise TypeError(
                "Argument `prior` must be a real number or a non-empty 1-D array-like of real "
                f"numbers. Received: prior={prior!r} (dtype {array.dtype}, shape {array.shape})"
            )
        array = array.astype("float64")
        if not np.isfinite(array).all():
            raise ValueError(
                f"Argument `prior` must hold finite numbers. Received: prior={prior!r}"
            )
        return array
    return np.array([_checks.real("prior", prior)])


@register()
class PriorBias(Initializer):
    """Bias from a prior: `b_i = log(p_i / (1 - p_i))` (sigmoid), `b_i = log(p_i)` (softmax) or
    `b_i = p_i` (identity).

    `p_i` is output `i`'s prior: the fraction of positives of a sigmoid output, the frequency of
    class `i` for a softmax head, the mean target of a regression output. With these biases the
    head predicts `p` while its kernel contribution is near 0: `sigmoid(b_i) = p_i`,
    `softmax(b)_i = p_i`. For the log links, `p_i` is first clipped to `[eps, 1 - eps]`, so a
    class never (or always) seen gives a large finite bias (`|b_i| <= log(1 / eps)`, 13.8 for
    the default), never inf. The config stores `prior`, so the initializer saves and reloads.

    Args:
        prior: the per-output priors, a non-empty list of finite numbers (a number is one
            output). sigmoid: each in [0, 1]; softmax: each in [0, 1], summing to 1 (within
            1e-4); identity: any finite values.
        link: the head's output function, one of "sigmoid" (default), "softmax", "identity".
        eps: clip of the prior for the log links, in (0, 0.5) (default 1e-6).

    Raises:
        ValueError: at call time, unless `shape == (len(prior),)` (or the shape is empty).

    Example:

    >>> keras_inits.PriorBias([0.01, 0.2])((2,))  # log(p / (1 - p))
    Array([-4.59512  , -1.3862944], dtype=float32)
    >>> layer = keras.layers.Dense(2, activation="sigmoid",
    ...                            bias_initializer=keras_inits.PriorBias([0.01, 0.2]))

    Reference: Lin et al. 2017, "Focal Loss for Dense Object Detection", section 4.1
    ("Initialization"), https://arxiv.org/abs/1708.02002; TensorFlow's "Classification on
    imbalanced data" tutorial (optional: set the correct initial bias).
    """

    example_config = {"prior": [0.1, 0.25, 0.5]}
    example_shapes = ((3,),)

    def __init__(self, prior: Any, link: Link = "sigmoid", eps: float = EPS):
        array = _prior_array(prior)
        self.link = _checks.choice("link", link, LINKS)
        self.eps = _checks.real("eps", eps)
        if not 0 < self.eps < 0.5:
            raise ValueError(f"Argument `eps` must be in (0, 0.5). Received: eps={eps!r}")
        if self.link != "identity" and not ((array >= 0) & (array <= 1)).all():
            raise ValueError(
                f"Argument `prior` must hold probabilities in [0, 1] for link={self.link!r}. "
                f"Received: prior={prior!r}"
            )
        if self.link == "softmax" and abs(array.sum() - 1) > SUM_TOLERANCE:
            raise ValueError(
                "Argument `prior` must sum to 1 for link='softmax' (class frequencies). "
                f"Received: prior={prior!r} (sum {float(array.sum())!r})"
            )
        self.prior = [float(p) for p in array]

    def bias(self) -> np.ndarray:
        """The bias values, float64, shape `(len(prior),)`."""
        p = np.asarray(self.prior, dtype="float64")
        if self.link == "identity":
            return p
        p = np.clip(p, self.eps, 1 - self.eps)
        return np.log(p / (1 - p)) if self.link == "sigmoid" else np.log(p)

    def _check_shape(self, shape):
        if math.prod(shape) and shape != (len(self.prior),):
            raise ValueError(
                f"`PriorBias` holds {len(self.prior)} values, so it fills the shape "
                f"({len(self.prior)},) only: use it for the bias of a layer with "
                f"{len(self.prior)} outputs. Received: shape={shape}"
            )

    def _generate(self, shape, dtype):
        return ops.convert_to_tensor(self.bias(), dtype=dtype)

    def _max_abs(self, shape):
        return float(np.abs(self.bias()).max()), {"prior": self.prior, "eps": self.eps}

    def get_config(self):
        return {"prior": list(self.prior), "link": self.link, "eps": self.eps}
