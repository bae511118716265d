"""After Schoenholz et al. 2017's trainability experiment: which (σ_w², depth) tanh nets train.

    make trainability        # = nice .venv/bin/python docs/reproductions/trainability.py

Plain tanh MLPs (no normalization, no skips) with weights `N(0, σ_w²/fan_in)` and biases
`N(0, σ_b²)`, σ_b² = 0.05 as in public reproductions of the paper, are trained with plain SGD
for a fixed number of steps on scikit-learn's digits (8x8 images, shipped with scikit-learn),
once per point of a grid over σ_w² and depth. The heatmap shows the test accuracy; the white
curve is mean-field theory's `6 ξ_c` (`keras_inits.meanfield.depth_scales`), the depth up to
which networks train by the rule that secondary sources attribute to the paper (its text was
not checked here). Writes `trainability.png` and `trainability.md` next to this script.

Speed: Keras' `model.fit` took 110 ms per step for one depth-10 model on the (busy) 2-core
machine, far too slow for a grid of ~100 models in 15 minutes. So the network is written in
JAX: the hidden layers are one `lax.scan` (one compile per depth, whatever the depth), and all
σ_w² of the grid train at once under `vmap`, from the same draws scaled by `√σ_w²` (common
random numbers: the columns differ only by σ_w²). The draws come from this package's own
`VarianceScaling` and `CriticalBias` on the JAX backend. `tests/test_meanfield.py` checks that
this network computes exactly what a Keras `Sequential` of `Dense(width, "tanh")` layers with
the same weights computes, and runs a small grid.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the checkout, for `keras_inits`

import numpy as np  # noqa: E402

SIGMA_B2 = 0.05  # the bias variance public reproductions of Schoenholz et al. 2017 use


@dataclasses.dataclass
class Grid:
    """The experiment's settings (the defaults are the committed run's)."""

    sigma_w2: tuple[float, ...] = tuple(np.round(np.linspace(1.0, 4.0, 13), 3))
    depths: tuple[int, ...] = (10, 20, 30, 45, 60, 80, 100, 130)
    width: int = 64
    steps: int = 600
    batch: int = 64
    learning_rate: float = 0.01
    seed: int = 0


def initial_weights(depth: int, width: int, inputs: int, classes: int, seed: int):
    """Unit-scale draws (kernels `N(0, 1/fan_in)`, biases `N(0, σ_b²)`) from this package's
    initializers; the hidden kernels are scaled by `√σ_w²` per grid column later."""
    import keras_inits

    def kernel(shape, i):
        init = keras_inits.VarianceScaling(1.0, "fan_in", "untruncated_normal", seed=seed * 997 + i)
        return np.asarray(init(shape, dtype="float32"))

    def bias(n, i):
        return np.asarray(keras_inits.CriticalBias(SIGMA_B2, seed=seed * 991 + i)((n,), "float32"))

    first = (kernel((inputs, width), 0), bias(width, 0))
    hidden = (
        np.stack([kernel((width, width), i) for i in range(1, depth)]),
        np.stack([bias(width, i) for i in range(1, depth)]),
    )
    head = (kernel((width, classes), depth), np.zeros(classes, "float32"))
    return first, hidden, head


def scaled(weights, sigma_w2):
    """The parameters for one σ_w²: every kernel feeding a tanh layer times `√σ_w²` (the
    classifier keeps `N(0, 1/fan_in)`)."""
    (k0, b0), (kh, bh), head = weights
    s = np.float32(math.sqrt(sigma_w2))
    return {"k0": k0 * s, "b0": b0, "kh": kh * s, "bh": bh, "kc": head[0], "bc": head[1]}


def forward(params, x):
    """`depth` tanh layers (`tanh(x W + b)`, the first from the input) and a linear classifier."""
    import jax
    import jax.numpy as jnp

    h = jnp.tanh(x @ params["k0"] + params["b0"])

    def layer(h, weights):
        kernel, bias = weights
        return jnp.tanh(h @ kernel + bias), None

    h, _ = jax.lax.scan(layer, h, (params["kh"], params["bh"]))
    return h @ params["kc"] + params["bc"]


def train(grid: Grid, depth: int, data) -> np.ndarray:
    """Test accuracy after `grid.steps` SGD steps, one per σ_w² of the grid."""
    import jax
    import jax.numpy as jnp

    weights = initial_weights(depth, grid.width, data.x_train.shape[1], 10, grid.seed)
    stacked = jax.tree.map(lambda *p: jnp.stack(p), *[scaled(weights, s) for s in grid.sigma_w2])
    rng = np.random.default_rng(grid.seed)
    batches = np.stack(
        [rng.choice(len(data.x_train), grid.batch, replace=False) for _ in range(grid.steps)]
    )
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)

    def loss(params, x, y):
        logits = forward(params, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    def step(params, index):
        grads = jax.vmap(jax.grad(loss), in_axes=(0, None, None))(
            params, x_train[index], y_train[index]
        )
        return jax.tree.map(lambda p, g: p - grid.learning_rate * g, params, grads), None

    @jax.jit
    def run(params):
        params, _ = jax.lax.scan(step, params, jnp.asarray(batches))
        logits = jax.vmap(forward, in_axes=(0, None))(params, jnp.asarray(data.x_test))
        correct = jnp.argmax(logits, axis=-1) == jnp.asarray(data.y_test)[None, :]
        return jnp.mean(correct, axis=1)

    return np.asarray(run(stacked))


def theory(sigma_w2) -> np.ndarray:
    """`6 ξ_c` for tanh at σ_b² = 0.05, per σ_w²."""
    from keras_inits import meanfield

    return np.array([6 * meanfield.depth_scales("tanh", s, SIGMA_B2).xi_c for s in sigma_w2])


def run_grid(grid: Grid, verbose: bool = True) -> np.ndarray:
    """Accuracy, shape (len(depths), len(sigma_w2))."""
    from keras_inits.diagnostics.compare import load_digits

    data = load_digits(grid.seed)
    rows = []
    for depth in grid.depths:
        start = time.perf_counter()
        rows.append(train(grid, depth, data))
        if verbose:
            print(
                f"depth {depth:4d}: "
                + " ".join(f"{a:.2f}" for a in rows[-1])
                + f"  ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return np.array(rows)


def boundary_agreement(
    grid: Grid, accuracy: np.ndarray, curve: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """How well `6 ξ_c` separates the trained cells (accuracy >= threshold) from the rest:
    the fraction of cells on the side the theory predicts, below and above the curve."""
    depth = np.asarray(grid.depths)[:, None]
    below = depth <= curve[None, :]
    trained = accuracy >= threshold
    return {
        "below_trained": float(trained[below].mean()) if below.any() else math.nan,
        "above_untrained": float((~trained[~below]).mean()) if (~below).any() else math.nan,
        "agreement": float((trained == below).mean()),
    }


def plot(grid: Grid, accuracy: np.ndarray, curve: np.ndarray, path: str) -> None:
    from keras_inits.diagnostics.propagation import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sw, depths = np.asarray(grid.sigma_w2), np.asarray(grid.depths)
    mesh = ax.pcolormesh(
        _edges(sw), _edges(depths), accuracy, cmap="viridis", vmin=0.0, vmax=1.0, shading="flat"
    )
    fig.colorbar(mesh, ax=ax, label="test accuracy")
    fine = np.linspace(sw[0], sw[-1], 121)
    ax.plot(fine, theory(fine), "w-", lw=2, label=r"$6\,\xi_c$ (mean-field theory)")
    ax.set(
        xlabel=r"$\sigma_w^2$",
        ylabel="depth (tanh layers)",
        ylim=(_edges(depths)[0], _edges(depths)[-1]),
        title=rf"tanh MLPs on digits, $\sigma_b^2$ = {SIGMA_B2}, "
        f"{grid.steps} SGD steps, width {grid.width}",
    )
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _edges(centers: np.ndarray) -> np.ndarray:
    mid = (centers[1:] + centers[:-1]) / 2
    return np.concatenate([[2 * centers[0] - mid[0]], mid, [2 * centers[-1] - mid[-1]]])


def summary(grid: Grid, accuracy: np.ndarray, curve: np.ndarray, seconds: float) -> str:
    agreement = boundary_agreement(grid, accuracy, curve)
    header = "| depth | " + " | ".join(f"{s:g}" for s in grid.sigma_w2) + " |"
    lines = [
        "# Trainability of deep tanh networks on digits (after Schoenholz et al. 2017's "
        "trainability experiment)",
        "",
        "Command: `make trainability` (`docs/reproductions/trainability.py`); "
        f"{seconds / 60:.1f} min on this machine.",
        "",
        f"Test accuracy after {grid.steps} SGD steps (batch {grid.batch}, learning rate "
        f"{grid.learning_rate}), width {grid.width}, σ_b² = {SIGMA_B2}; chance is 0.1.",
        "",
        header,
        "|" + "---|" * (len(grid.sigma_w2) + 1),
        *(
            f"| {d} | " + " | ".join(f"{a:.2f}" for a in row) + " |"
            for d, row in zip(grid.depths, accuracy)
        ),
        "| **6 ξ_c** | " + " | ".join(f"{c:.0f}" for c in curve) + " |",
        "",
        f"Cells below the 6 ξ_c curve that trained (accuracy >= 0.5): "
        f"{agreement['below_trained']:.0%}; cells above it that did not: "
        f"{agreement['above_untrained']:.0%}; overall agreement {agreement['agreement']:.0%}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=Grid.steps)
    parser.add_argument("--out", default=HERE, help="folder for trainability.png/.md")
    args = parser.parse_args(argv)
    grid = Grid(steps=args.steps)
    start = time.perf_counter()
    accuracy = run_grid(grid)
    curve = theory(grid.sigma_w2)
    seconds = time.perf_counter() - start
    plot(grid, accuracy, curve, os.path.join(args.out, "trainability.png"))
    text = summary(grid, accuracy, curve, seconds)
    with open(os.path.join(args.out, "trainability.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
