"""The gallery: one figure per registered scheme, drawn from the registry when the docs are built.

Every name in `keras_inits.names()` gets a figure of one of three kinds, chosen from its class:

- `"law"`, element-wise random laws: a histogram of a seeded sample against the exact density
  (`law(init, shape)`, computed from the instance's own arguments, not from the sample);
- `"heatmap"`, structured and deterministic kernels: the kernel itself, one panel per tap;
- `"singular"`, orthogonal matrices: the singular values against those of a Gaussian matrix of
  the same size and scale.

A new scheme needs nothing here to get a figure: a deterministic class is drawn as a heatmap, and
a random class under a known base (`VarianceScaling`, `RandomNormal`, ...) inherits its law. Only
a random class with a new law needs an entry in `LAWS` (`tests/test_docs.py` fails until it has
one, and checks every law against the sampler with a KS test).
"""

from __future__ import annotations

import inspect
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display at build time

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import keras_inits  # noqa: E402
from keras_inits import base  # noqa: E402
from keras_inits._registry import lookup  # noqa: E402

SEED = 0
HIST_SHAPE = (256, 256)  # 65,536 samples: the histogram's bins hold ~1% noise each
FORMULA = re.compile(r"`([^`\n]*[=~][^`\n]*)`")  # a backticked expression with `=` or `~`


@dataclass(frozen=True)
class Law:
    """An element-wise law: `atom` is the probability of an exact 0, `dist` the rest's law."""

    dist: stats.rv_continuous
    atom: float = 0.0

    def scaled(self, factor: float) -> Law:
        """The law of `factor * W`."""
        loc, scale = self.dist.kwds.get("loc", 0.0), self.dist.kwds.get("scale", 1.0)
        shapes = {k: v for k, v in self.dist.kwds.items() if k not in ("loc", "scale")}
        dist = self.dist.dist(*self.dist.args, **shapes, loc=factor * loc, scale=factor * scale)
        return Law(dist, self.atom)


def _variance_scaling(init, shape) -> Law:
    std = math.sqrt(init.variance(shape))  # the weights' actual variance, for every subclass
    if init.distribution == "uniform":
        limit = math.sqrt(3.0) * std
        return Law(stats.uniform(loc=-limit, scale=2 * limit))
    if init.distribution == "untruncated_normal":
        return Law(stats.norm(scale=std))
    s = std / keras_inits.schemes.variance.TRUNCATED_STD  # the std before the cut at ±2s
    return Law(stats.truncnorm(-2.0, 2.0, scale=s))


def _sparse(init, shape) -> Law:
    rows = math.prod(shape[:-1])
    return Law(stats.norm(scale=init.stddev), atom=init.zeros_per_column(shape) / rows)


def _torch_uniform(init, shape) -> Law | None:
    # A sum of `summands` i.i.d. U(-b, b): uniform for one, triangular on (-2b, 2b) for two.
    b, summands = init._resolved_limit(), init.summands or 1
    if summands == 1:
        return Law(stats.uniform(-b, 2 * b))
    return Law(stats.triang(0.5, loc=-2 * b, scale=4 * b)) if summands == 2 else None


#: The exact law of each random element-wise class, from the instance and the shape. A subclass
#: inherits its base's entry (looked up along the MRO).
LAWS: dict[type, Callable[..., Law]] = {
    keras_inits.VarianceScaling: _variance_scaling,
    keras_inits.RandomNormal: lambda init, shape: Law(stats.norm(init.mean, init.stddev)),
    keras_inits.RandomUniform: lambda init, shape: Law(
        stats.uniform(init.minval, init.maxval - init.minval)
    ),
    keras_inits.TruncatedNormal: lambda init, shape: Law(
        stats.truncnorm(init.lower, init.upper, loc=init.mean, scale=init.stddev)
    ),
    keras_inits.Sparse: _sparse,
    keras_inits.CriticalBias: lambda init, shape: Law(stats.norm(scale=math.sqrt(init.sigma_b2))),
    **dict.fromkeys(
        (
            keras_inits.TorchKernel,
            keras_inits.TorchBias,
            keras_inits.TorchInProjection,
            keras_inits.TorchRecurrent,
        ),
        _torch_uniform,
    ),
    keras_inits.DepthScaled: lambda init, shape: law(init.initializer, shape).scaled(init.factor),
}

#: Classes drawn by their singular values, and how to split the kernel into the matrices shown.
SINGULAR: dict[type, Callable] = {
    keras_inits.Orthogonal: lambda init, w: [w],
    keras_inits.BlockOrthogonal: lambda init, w: np.split(
        w, init.num_blocks or w.shape[1] // w.shape[0], axis=1
    ),
}

#: Random classes whose values are not element-wise draws: drawn as heatmaps.
STRUCTURED = (keras_inits.DeltaOrthogonal, keras_inits.ConvolutionOrthogonal)

#: Shapes that show a scheme best (default: its first `example_shapes`).
SHAPES: dict[str, tuple[int, ...]] = {
    "Orthogonal": (64, 32),
    "BlockOrthogonal": (16, 64),  # an LSTM recurrent kernel (u, 4u)
    "Identity": (8, 12),
    "ZerO": (8, 16),  # out > in: the Hadamard branch
    "Dirac": (3, 3, 4, 4),
    "DeltaOrthogonal": (3, 3, 4, 8),
    "ConvolutionOrthogonal": (3, 3, 4, 4),
    "STFT": (32, 1, 17),
    "Constant": (8, 8),
    "Zeros": (8, 8),
    "Ones": (8, 8),
}


def _lookup_mro(table: dict, cls: type):
    return next((table[k] for k in cls.__mro__ if k in table), None)


def law(init, shape) -> Law | None:
    """The exact element-wise law of `init`'s values for `shape`, or None if not known."""
    rule = _lookup_mro(LAWS, type(init))
    return None if rule is None else rule(init, shape)


def instance(name: str):
    """An example instance of the scheme registered as `name`, seeded if it takes a seed."""
    cls = lookup(name)
    takes_seed = "seed" in inspect.signature(cls.__init__).parameters
    return cls.example(seed=SEED) if takes_seed else cls.example()


def kind(name: str) -> str:
    """`"law"`, `"singular"` or `"heatmap"`: how the gallery draws the scheme `name`."""
    cls = lookup(name)
    if _lookup_mro(SINGULAR, cls) is not None:
        return "singular"
    if issubclass(cls, STRUCTURED) or not issubclass(cls, base.RandomInitializer):
        return "heatmap"
    return "law"


def shape_for(name: str) -> tuple[int, ...]:
    """The shape drawn for `name`."""
    if name in SHAPES:
        return SHAPES[name]
    return HIST_SHAPE if kind(name) == "law" else lookup(name).example_shapes[0]


def formula(name: str) -> str | None:
    """The first formula in the class docstring (a backticked expression with `=` or `~`)."""
    match = FORMULA.search(lookup(name).__doc__ or "")
    return match.group(1) if match else None


def sample(name: str) -> np.ndarray:
    """The seeded values the gallery shows for `name`."""
    values = instance(name)(shape_for(name), dtype="float32")
    with warnings.catch_warnings():  # keras' torch backend calls np.array(tensor) without copy=
        warnings.simplefilter("ignore", DeprecationWarning)
        return keras.ops.convert_to_numpy(values)


def _plot_law(ax, name: str, w: np.ndarray) -> None:
    exact = law(instance(name), w.shape)
    values = w.ravel()
    if exact is not None and exact.atom:
        zeros = np.count_nonzero(values == 0)
        values = values[values != 0]
        ax.set_title(f"{name}: {zeros} of {w.size} exactly 0 (exact: {exact.atom:.1%})", fontsize=9)
    else:
        ax.set_title(name, fontsize=10)
    ax.hist(values, bins=80, density=True, color="#7aa6d6", label=f"sample, n={values.size}")
    if exact is not None:
        lo, hi = exact.dist.ppf(1e-4), exact.dist.ppf(1 - 1e-4)
        pad = 0.05 * (hi - lo)
        x = np.linspace(lo - pad, hi + pad, 600)
        ax.plot(x, exact.dist.pdf(x), color="#c0392b", lw=1.6, label="exact density")
    ax.set_xlabel(f"value (shape {w.shape})")
    ax.set_ylim(top=1.3 * ax.get_ylim()[1])  # room for the legend above a flat density
    ax.legend(fontsize=7, frameon=False, loc="upper right")


def _panels(w: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The kernel as a grid of 2-D panels: one per tap of a conv kernel."""
    w = w.reshape([d for d in w.shape[:-2] if d != 1] + list(w.shape[-2:])) if w.ndim > 2 else w
    if w.ndim == 3 and w.shape[1] == 1:  # (T, 1, F) such as STFT: one (T, F) panel
        w = w[:, 0, :]
    if w.ndim <= 2:
        return np.atleast_2d(w)[None], (1, 1)
    taps = w.shape[:-2]
    grid = (1, taps[0]) if len(taps) == 1 else (math.prod(taps[:-1]), taps[-1])
    return w.reshape(-1, *w.shape[-2:]), grid


def _plot_heatmap(fig, name: str, w: np.ndarray) -> None:
    panels, (rows, cols) = _panels(w)
    vmax = float(np.abs(panels).max()) or 1.0
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        image = ax.imshow(panels[i], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if len(panels) > 1:
            tap = tuple(int(t) for t in np.unravel_index(i, w.shape[:-2]))
            ax.set_title(f"tap {tap}", fontsize=7)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    what = "kernel" if w.ndim >= 2 else "values"
    axes_note = " (rows: inputs, columns: outputs)" if w.ndim >= 2 else ""
    fig.suptitle(f"{name}: {what} {w.shape}{axes_note}", fontsize=9)


def _plot_singular(ax, name: str, w: np.ndarray) -> None:
    init = instance(name)
    mats = _lookup_mro(SINGULAR, type(init))(init, w.reshape(-1, w.shape[-1]))
    rng = np.random.default_rng(SEED)
    for i, m in enumerate(mats):
        s = np.linalg.svd(m, compute_uv=False)
        # A Gaussian matrix of the same shape and Frobenius norm: its singular values spread.
        g = rng.standard_normal(m.shape) * np.linalg.norm(m) / math.sqrt(m.size)
        label = name if len(mats) == 1 else f"{name}, {len(mats)} gate blocks"
        ax.plot(s, "o-", ms=3, color="#c0392b", label=label if i == 0 else None)
        ax.plot(
            np.linalg.svd(g, compute_uv=False),
            ":",
            color="grey",
            label="Gaussian, same norm" if i == 0 else None,
        )
    ax.set_ylim(bottom=0)
    ax.set_xlabel("index")
    ax.set_ylabel("singular value")
    ax.set_title(f"{name}: singular values of {' x '.join(map(str, w.shape))}", fontsize=10)
    ax.legend(fontsize=7, frameon=False)


def figure(name: str, path: str) -> str:
    """Draws `name`'s figure into `path` (PNG); returns its kind."""
    how = kind(name)
    w = sample(name)
    fig = plt.figure(figsize=(5.2, 3.2), dpi=90, layout="constrained")
    if how == "heatmap":
        _plot_heatmap(fig, name, w)
    else:
        (_plot_law if how == "law" else _plot_singular)(fig.add_subplot(), name, w)
    fig.savefig(path)
    plt.close(fig)
    return how


TITLES = {
    "law": "Element-wise laws",
    "singular": "Orthogonal matrices: singular values",
    "heatmap": "Structured kernels",
}
INTROS = {
    "law": "A histogram of one seeded sample of the shape shown, and in red the exact density "
    "computed from the scheme's arguments.",
    "singular": "Every singular value equals `gain`; a Gaussian matrix of the same size and norm "
    "(dotted) spreads them out.",
    "heatmap": "The kernel itself, one panel per tap of a convolution kernel (red positive, blue "
    "negative).",
}


def build(out_dir: str) -> tuple[str, list[str]]:
    """Draws every registered scheme's figure into `out_dir`; returns the gallery page's Markdown
    and the image file names (one per scheme)."""
    os.makedirs(out_dir, exist_ok=True)
    by_kind: dict[str, list[str]] = {k: [] for k in TITLES}
    files = []
    for name in keras_inits.names():
        file = f"{name}.png"
        by_kind[figure(name, os.path.join(out_dir, file))].append(name)
        files.append(file)
    lines = [
        "# Gallery",
        "",
        f"Every registered scheme ({len(files)}), drawn when these pages were built "
        f"(`KERAS_BACKEND={keras.backend.backend()}`, seed {SEED}) from `keras_inits.names()`, so "
        "a new scheme appears here by itself. The generator is `docs/gen_gallery.py`.",
        "",
    ]
    for how, schemes in by_kind.items():
        lines += [f"## {TITLES[how]}", "", INTROS[how], ""]
        for name in schemes:
            expr = formula(name)
            lines += [f"### {name}", ""]
            if expr:
                lines += [f"`{expr}`", ""]
            lines += [f"![{name}]({name}.png)", ""]
            if name in keras_inits.__all__:
                lines += [f"API: [`{name}`][keras_inits.{name}]", ""]
    return "\n".join(lines), files
