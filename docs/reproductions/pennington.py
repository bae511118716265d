"""Pennington, Schoenholz & Ganguli 2017: dynamical isometry of deep tanh networks.

    KERAS_BACKEND=jax .venv/bin/python docs/reproductions/pennington.py
    # writes docs/reproductions/pennington.png and pennington.txt (about a minute on 2 cores)

At the critical point (`χ = σ_w² E[φ'(h)²] = 1`, `h ~ N(0, q*)`), the mean of the spectrum of
`J Jᵀ` (`J` the input-output Jacobian) stays 1 at every depth. Its variance does not: free
probability gives (Pennington et al. 2017, `L` the depth)

    σ²_{JJᵀ} = L (μ₂ / μ₁² − 1 − s₁),    μ_k = E[φ'(h)^{2k}],

with `s₁ = −1` for Gaussian weights and `s₁ = 0` for orthogonal ones. For tanh at small `q*`,
`μ₂/μ₁² − 1` is small, so orthogonal weights keep the singular values near 1 (dynamical
isometry) while Gaussian weights spread them about `L`-fold: the paper's figure of singular
value densities at growing depth.

This script builds the networks in Keras (width `N`, tanh, weights orthogonal with gain `σ_w`
or Gaussian `N(0, σ_w²/N)`, biases `N(0, σ_b²)`), at the critical point for a chosen `q*`,
measures the singular values with `keras_inits.jacobian_spectrum` on inputs `x ~ N(0, q* I)`
(so the first layer already sees the fixed point), and compares the measured variance of `σ²`
with the formula. `σ_w²` and `σ_b²` come from Gauss-Hermite quadrature here: `σ_w² = 1/μ₁`,
`σ_b² = q* − σ_w² E[φ(h)²]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
Z, W = np.polynomial.hermite_e.hermegauss(201)  # nodes/weights for E over z ~ N(0, 1)
W = W / W.sum()


def critical_point(q_star: float) -> tuple[float, float, float, float]:
    """`(σ_w², σ_b², μ₁, μ₂)` of tanh on the χ = 1 line with fixed point `q*`."""
    h = np.sqrt(q_star) * Z
    dphi2 = 1.0 / np.cosh(h) ** 4  # φ'(h)² = sech⁴(h)
    mu1, mu2 = W @ dphi2, W @ dphi2**2
    sigma_w2 = 1.0 / mu1
    sigma_b2 = q_star - sigma_w2 * (W @ np.tanh(h) ** 2)
    return sigma_w2, sigma_b2, mu1, mu2


def network(kind: str, depth: int, width: int, sigma_w2: float, sigma_b2: float, seed: int):
    import keras

    import keras_inits

    inputs = keras.Input((width,))
    h = inputs
    for i in range(depth):
        if kind == "orthogonal":
            kernel = keras_inits.Orthogonal(gain=float(np.sqrt(sigma_w2)), seed=seed + i)
        else:
            kernel = keras_inits.RandomNormal(stddev=float(np.sqrt(sigma_w2 / width)),
                                              seed=seed + i)
        bias = keras_inits.RandomNormal(stddev=float(np.sqrt(sigma_b2)), seed=10_000 + seed + i)
        h = keras.layers.Dense(width, activation="tanh", kernel_initializer=kernel,
                               bias_initializer=bias)(h)
    return keras.Model(inputs, h)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=256, help="default: %(default)s")
    p.add_argument("--depths", default="32,128", help="default: %(default)s")
    p.add_argument("--q-star", type=float, default=1 / 64, help="default: 1/64")
    p.add_argument("--samples", type=int, default=8, help="inputs (Jacobians) per network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(HERE, "pennington"), help="path without suffix")
    args = p.parse_args(argv)

    import keras

    import keras_inits

    start = time.perf_counter()
    sigma_w2, sigma_b2, mu1, mu2 = critical_point(args.q_star)
    depths = [int(d) for d in args.depths.split(",")]
    x = np.sqrt(args.q_star) * np.random.default_rng(args.seed).normal(
        size=(args.samples, args.width))
    lines = [
        f"# {' '.join(['pennington.py'] + list(argv if argv is not None else sys.argv[1:]))}",
        f"# backend {keras.backend.backend()}, width {args.width}, {args.samples} inputs "
        f"x ~ N(0, q* I) per network",
        f"tanh at criticality for q* = {args.q_star:.6g}: sigma_w^2 = {sigma_w2:.6f}, "
        f"sigma_b^2 = {sigma_b2:.3e}; mu2/mu1^2 - 1 = {mu2 / mu1**2 - 1:.4e}",
        "",
        f"{'weights':<11}{'depth':>6}{'mean s^2':>10}{'var s^2':>10}{'theory':>10}"
        f"{'min s':>11}{'max s':>9}{'max/min':>10}",
    ]
    spectra = {}
    for depth in depths:
        for kind, s1 in (("orthogonal", 0.0), ("gaussian", -1.0)):
            model = network(kind, depth, args.width, sigma_w2, sigma_b2, args.seed)
            spectrum = keras_inits.jacobian_spectrum(model, x.astype("float32"))
            spectra[kind, depth] = spectrum
            theory = depth * (mu2 / mu1**2 - 1 - s1)
            lines.append(
                f"{kind:<11}{depth:>6}{spectrum.mean_squared:>10.4f}{spectrum.spread**2:>10.4f}"
                f"{theory:>10.4f}{spectrum.min:>11.3e}{spectrum.max:>9.3f}"
                f"{spectrum.max / spectrum.min:>10.3g}"
            )
            print(lines[-1], flush=True)
    lines += ["", f"({time.perf_counter() - start:.0f} s)"]
    with open(args.out + ".txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(spectra, depths, args, sigma_w2, args.out + ".png")
    print("\n".join(lines[:4]))
    print(f"wrote {args.out}.txt and {args.out}.png")
    return 0


def plot(spectra, depths, args, sigma_w2, path) -> None:
    from keras_inits import _capture
    from keras_inits.diagnostics.jacobian import plot_density

    plt = _capture.pyplot("pennington.py")
    fig, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 3.8), squeeze=False)
    for ax, depth in zip(axes.flat, depths):
        for kind, color in (("orthogonal", "tab:blue"), ("gaussian", "tab:red")):
            s = spectra[kind, depth]
            plot_density(ax, s.singular_values, bins=50, color=color,
                         label=f"{kind} (var σ² = {s.spread ** 2:.2f})")
        ax.axvline(1.0, color="gray", lw=0.8, ls="--")
        ax.set(xscale="log", xlabel="singular value σ of J", ylabel="density of log10 σ",
               title=f"tanh, depth {depth}, width {args.width}")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Critical tanh (σ_w² = {sigma_w2:.4f}, q* = {args.q_star:.4g}): "
                 "orthogonal vs Gaussian weights")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
