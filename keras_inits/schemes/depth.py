"""Depth scaling: shrink the residual branches of a deep network by a factor of its depth.

Each residual block adds its branch's output to the stream, so with `L` blocks the stream's
variance grows like `L` times a branch's. Scaling the last layer of every branch by a depth
factor keeps it bounded: GPT-2's `1/sqrt(2 L)`, or Fixup's `L**(-1/(2m-2))`.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

import keras
import numpy as np
from keras import ops

from keras_inits import _checks, _sampling
from keras_inits._registry import get, register, serialize
from keras_inits.base import RandomInitializer

Rule = Literal["gpt2", "fixup"]
RULES = ("fixup", "gpt2")


@register("scaled_init")
class DepthScaled(RandomInitializer):
    """Depth-scaled: `W = factor * W0`, `W0` drawn by the wrapped `initializer`, with
    `factor = 1 / sqrt(2 * num_layers)` (`rule="gpt2"`) or
    `factor = num_layers ** (-1 / (2 * m - 2))`, `m = layers_per_branch` (`rule="fixup"`).

    GPT-2 (and nanoGPT) initialize all weights `N(0, 0.02**2)` and the residual output
    projections (attention's and the MLP's last Dense) `N(0, (0.02 / sqrt(2 * n_layer))**2)`:
    each of the `n_layer` blocks adds 2 residual branches. Fixup scales the non-final layers of
    each of the `L = num_layers` residual branches (of `m` layers each) by `L**(-1/(2m-2))` and
    starts the final one at zero.

    Args:
        initializer: the initializer to scale: anything `keras_inits.get` accepts (a name, a
            config dict, a class or an instance). Its config nests in this one's.
        num_layers: number of residual blocks `L` (GPT-2's `n_layer`), an int >= 1.
        rule: `"gpt2"` (default) or `"fixup"`.
        layers_per_branch: `m`, the layers per residual branch, an int >= 2 (default 2); used
            by `"fixup"` only.
        seed: None (default) keeps the wrapped initializer's own seed; an int or a
            `keras.random.SeedGenerator` replaces it (passed through to the wrapped
            initializer, which must take a `seed`).

    Example:

    >>> proj = keras_inits.DepthScaled(keras_inits.RandomNormal(stddev=0.02), num_layers=12)
    >>> proj.factor == 1 / math.sqrt(24)
    True
    >>> layer = keras.layers.Dense(768, kernel_initializer=proj)  # std 0.02 / sqrt(24)
    >>> fixup = keras_inits.DepthScaled("he_normal", 16, rule="fixup", layers_per_branch=2, seed=0)
    >>> fixup.factor  # 16 ** (-1 / (2 * 2 - 2))
    0.25

    Reference: Radford et al. 2019 (GPT-2), https://cdn.openai.com/better-language-models/
    language_models_are_unsupervised_multitask_learners.pdf; Zhang, Dauphin & Ma 2019 (Fixup),
    https://arxiv.org/abs/1901.09321
    """

    example_config = {"initializer": "he_normal", "num_layers": 4}

    def __init__(
        self,
        initializer: Any,
        num_layers: int,
        rule: Rule = "gpt2",
        layers_per_branch: int = 2,
        seed=None,
    ):
        self.num_layers = _checks.integer("num_layers", num_layers, minimum=1)
        self.rule = _checks.choice("rule", rule, RULES)
        self.layers_per_branch = _checks.integer("layers_per_branch", layers_per_branch, minimum=2)
        seed = _checks.seed(seed)
        allowed = "an initializer (a name, a config dict, a class or an instance)"
        if (
            initializer is None
            or keras.ops.is_tensor(initializer)
            or isinstance(initializer, (np.ndarray, np.generic, list, tuple))
        ):
            # `get` turns arrays into fixed values, which no depth factor makes sense for.
            raise TypeError(
                f"Argument `initializer` must be {allowed}. Received: initializer={initializer!r}"
            )
        try:
            inner = get(initializer)
        except (TypeError, ValueError) as e:
            raise type(e)(
                f"Argument `initializer` must be {allowed}: {e} "
                f"Received: initializer={initializer!r}"
            ) from None
        if not callable(inner):
            raise TypeError(
                f"Argument `initializer` must be {allowed}. Received: initializer={initializer!r}"
            )
        if seed is not None:
            config = inner.get_config() if isinstance(inner, keras.initializers.Initializer) else {}
            if "seed" not in config:
                raise ValueError(
                    "Argument `seed` can only be passed through to an initializer that takes a "
                    f"seed. Received: seed={seed!r}, initializer={initializer!r}"
                )
            inner = type(inner).from_config({**config, "seed": seed})
        self.initializer = inner
        self._init_seed = seed
        self.seed = getattr(inner, "seed", None)

    def _stateless(self) -> DepthScaled:
        # The wrapped initializer holds the generator: resolve its seed there, or a traced call
        # (the sharded path under `jax.jit`) would advance the generator inside the trace.
        inner = getattr(self.initializer, "_stateless", None)
        if inner is None:
            return self
        resolved = copy.copy(self)
        resolved.initializer = inner()
        resolved.seed = getattr(resolved.initializer, "seed", None)
        return resolved

    @property
    def factor(self) -> float:
        """The depth factor that multiplies the wrapped initializer's values."""
        if self.rule == "gpt2":
            return 1.0 / math.sqrt(2.0 * self.num_layers)
        return self.num_layers ** (-1.0 / (2 * self.layers_per_branch - 2))

    def _generate(self, shape, dtype):
        # The wrapped initializer draws in the compute dtype (float32 for half precision), so
        # its own range check cannot see the output dtype: check the scaled bound here.
        _checks.value_range(self, shape, dtype)
        values = self.initializer(shape, dtype=_sampling.compute_dtype(dtype))
        return ops.cast(ops.cast(values, _sampling.compute_dtype(dtype)) * self.factor, dtype)

    def _max_abs(self, shape):
        inner = getattr(self.initializer, "_max_abs", None)
        bound = inner(shape) if inner is not None else None
        if bound is None:
            return None
        return self.factor * bound[0], {
            **bound[1],
            "num_layers": self.num_layers,
            "rule": self.rule,
            "layers_per_branch": self.layers_per_branch,
        }

    def get_config(self):
        if not isinstance(self.initializer, keras.initializers.Initializer):
            raise TypeError(
                "`DepthScaled` can only be serialized when it wraps a "
                "`keras.initializers.Initializer`. Received: "
                f"initializer={self.initializer!r}"
            )
        return {
            "initializer": serialize(self.initializer),
            "num_layers": self.num_layers,
            "rule": self.rule,
            "layers_per_branch": self.layers_per_branch,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
        }
