"""Fan computation, with Keras' exact semantics."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_inits import _checks


def compute_fans(
    shape: Sequence[int],
    input_axes: Sequence[int] | None = None,
    output_axes: Sequence[int] | None = None,
) -> tuple[int, int]:
    """Returns `(fan_in, fan_out)` for a weight of `shape`, as Keras computes them.

    - `input_axes` and `output_axes` both given: each fan is the product of the dims on its axes
      (EinsumDense and MultiHeadAttention pass them).
    - rank 0: `(1, 1)`; rank 1: `(n, n)`; rank 2: `(shape[0], shape[1])`.
    - rank >= 3 (convolution kernels `(*kernel, in, out)`): with `rf = prod(shape[:-2])`,
      `fan_in = shape[-2] * rf` and `fan_out = shape[-1] * rf`.

    Args:
        shape: the weight's shape, a sequence of non-negative ints.
        input_axes: optional axes whose dims multiply into `fan_in` (with `output_axes`).
        output_axes: optional axes whose dims multiply into `fan_out` (with `input_axes`).

    Returns:
        `(fan_in, fan_out)`, two ints.

    Example:

    >>> compute_fans((3, 3, 64, 128))
    (576, 1152)
    """
    shape = _checks.shape("compute_fans", shape)
    input_axes = _checks.axes("input_axes", input_axes)
    output_axes = _checks.axes("output_axes", output_axes)
    if input_axes is not None and output_axes is not None:
        for name, axes in (("input_axes", input_axes), ("output_axes", output_axes)):
            bad = [a for a in axes if not -len(shape) <= a < len(shape)]
            if bad:
                raise ValueError(
                    f"Argument `{name}` has axes outside a rank-{len(shape)} shape {shape}. "
                    f"Received: {name}={axes!r}"
                )
        return (
            math.prod(shape[a] for a in input_axes),
            math.prod(shape[a] for a in output_axes),
        )
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field
