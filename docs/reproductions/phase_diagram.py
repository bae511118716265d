"""Poole et al. 2016 / Schoenholz et al. 2017: tanh's phase diagram and diverging depth scale.

    make phase-diagram       # = .venv/bin/python docs/reproductions/phase_diagram.py

Left: the fixed point `q*` of the length map over the (σ_w², σ_b²) plane, with the critical
line `χ₁ = 1` between the ordered phase (left, `χ₁ < 1`) and the chaotic phase (right).
Right: the depth scales `ξ_c` and `ξ_q` against σ_w² at σ_b² = 0.05 (the slice on which
Schoenholz et al. 2017's depth scales are usually reproduced): `ξ_c` diverges at the critical
point, `ξ_q` stays finite. Everything comes from
`keras_inits.meanfield`; the script writes `phase_diagram.png` and `phase_diagram.md` (the
numbers, with independent checks) next to itself, in about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the checkout, for `keras_inits`

import numpy as np  # noqa: E402

from keras_inits.diagnostics import meanfield  # noqa: E402

SIGMA_B2 = 0.05  # the slice public reproductions of Schoenholz et al. 2017 use
# Independent values of tanh's critical σ_w²: exactly 1 at σ_b = 0 (q* = 0, tanh'(0) = 1; the
# start of Poole et al. 2016's χ₁ = 1 line, their Fig. 2D), and at σ_b² = 0.05 SciPy's adaptive
# quadrature and root finding (QUADPACK + brentq, not this package's Gauss-Hermite).
REFERENCE = {0.0: "1 (exact)", 0.05: "1.7609546 (SciPy quadrature)"}


def q_star_map(sigma_w2: np.ndarray, sigma_b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`q*` and `χ₁` on the grid, shape (len(sigma_b2), len(sigma_w2))."""
    q = np.array([[meanfield.fixed_point("tanh", w, b) for w in sigma_w2] for b in sigma_b2])
    chi = np.array([[meanfield.chi1("tanh", w, b) for w in sigma_w2] for b in sigma_b2])
    return q, chi


def depth_scale_curves(sigma_w2: np.ndarray, sigma_b2: float = SIGMA_B2):
    """`ξ_q` and `ξ_c` against σ_w² at one σ_b²."""
    scales = [meanfield.depth_scales("tanh", w, sigma_b2) for w in sigma_w2]
    return np.array([s.xi_q for s in scales]), np.array([s.xi_c for s in scales])


def plot(sw, sb, q, line, sw_fine, xi_q, xi_c, critical, path) -> None:
    from keras_inits.diagnostics.propagation import _pyplot

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    mesh = left.pcolormesh(sw, sb, q, cmap="magma", shading="nearest")
    fig.colorbar(mesh, ax=left, label=r"$q^*$")
    left.plot(*line, "c-", lw=2, label=r"$\chi_1 = 1$")
    left.text(0.1 + sw[0], sb[-1] * 0.85, "ordered", color="w")
    left.text(sw[-1] - 1.0, sb[-1] * 0.1, "chaotic", color="k")
    left.set(
        xlabel=r"$\sigma_w^2$",
        ylabel=r"$\sigma_b^2$",
        title=r"tanh: fixed point $q^*$ and the critical line",
    )
    left.legend(loc="upper right")
    right.semilogy(sw_fine, xi_c, "-", label=r"$\xi_c$")
    right.semilogy(sw_fine, xi_q, "--", label=r"$\xi_q$")
    right.axvline(critical, color="gray", lw=1, ls=":")
    right.set(
        xlabel=r"$\sigma_w^2$",
        ylabel="depth scale (layers)",
        ylim=(0.5, 1e4),
        title=rf"depth scales, $\sigma_b^2$ = {SIGMA_B2} (critical $\sigma_w^2$ = "
        f"{critical:.3f})",
    )
    right.grid(True, which="both", alpha=0.3)
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(sb, line, xi_c, critical, seconds) -> str:
    rows = [f"| {b:.3f} | {w:.6f} |" for b, w in zip(sb, line)]
    picks = [1.0, 1.5, 1.7, critical, 1.85, 2.0, 3.0, 4.0]
    xi_rows = []
    for w in picks:
        xq, xc = meanfield.depth_scales("tanh", w, SIGMA_B2)
        xi_rows.append(
            f"| {w:.4f} | {meanfield.fixed_point('tanh', w, SIGMA_B2):.5f} | "
            f"{meanfield.chi1('tanh', w, SIGMA_B2):.5f} | {xq:.3f} | "
            f"{'inf' if math.isinf(xc) else f'{xc:.2f}'} |"
        )
    lines = [
        "# tanh phase diagram and depth scales (Poole et al. 2016; Schoenholz et al. 2017)",
        "",
        f"Command: `make phase-diagram` (`docs/reproductions/phase_diagram.py`); "
        f"{seconds:.0f} s on this machine. Figure: `phase_diagram.png`.",
        "",
        "## Critical line χ₁ = 1 against the papers",
        "",
        "| σ_b² | ours | reference |",
        "|---|---|---|",
        *(f"| {b} | {meanfield.critical('tanh', b):.6f} | {v} |" for b, v in REFERENCE.items()),
        "",
        "At σ_b = 0, q* = 0 and χ₁ = σ_w² tanh'(0)² = σ_w², so the critical point is exactly "
        "σ_w² = 1 (computed exactly, not by iteration); Poole et al.'s χ₁ = 1 line (their "
        "Fig. 2D, drawn over σ_b and σ_w rather than the variances) starts there, at σ_w = 1. "
        "At σ_b² = 0.05, the slice on which Schoenholz et al.'s depth scales are usually "
        "reproduced, an independent check (SciPy's adaptive quadrature and root finding) gives "
        "1.7609546; the rounded value 1.76 often quoted for this point was not checked against "
        "the paper's text.",
        "",
        "| σ_b² | critical σ_w² |",
        "|---|---|",
        *rows,
        "",
        f"## Depth scales at σ_b² = {SIGMA_B2}",
        "",
        "| σ_w² | q* | χ₁ | ξ_q | ξ_c |",
        "|---|---|---|---|---|",
        *xi_rows,
        "",
        "ξ_c diverges at the critical point from both sides (ordered: `ξ_c = -1/log χ₁`; "
        "chaotic: `-1/log χ_c` at the correlation map's fixed point c* < 1), as Schoenholz et al. "
        '2017 find (ξ_c "diverges at the boundary between order and chaos", their '
        "introduction); ξ_q stays of order 1. Its largest value on the plotted "
        f"grid is {np.nanmax(xi_c[np.isfinite(xi_c)]):.0f} layers.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=HERE, help="folder for phase_diagram.png/.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    sw = np.linspace(0.5, 4.0, 36)
    sb = np.linspace(0.0, 0.3, 31)
    q, _ = q_star_map(sw, sb)
    line_sb = np.concatenate([[0.0], np.geomspace(1e-4, sb[-1], 40)])  # steep near 0
    line = meanfield.critical_line("tanh", line_sb)
    critical = meanfield.critical("tanh", SIGMA_B2)
    sw_fine = np.unique(
        np.concatenate(
            [
                np.linspace(0.8, 4.0, 49),
                critical * (1 + np.array([-3e-2, -1e-2, -3e-3, 3e-3, 1e-2, 3e-2])),
            ]
        )
    )
    xi_q, xi_c = depth_scale_curves(sw_fine)
    seconds = time.perf_counter() - start
    plot(
        sw,
        sb,
        q,
        (line, line_sb),
        sw_fine,
        xi_q,
        xi_c,
        critical,
        os.path.join(args.out, "phase_diagram.png"),
    )
    text = summary(sb[::5], meanfield.critical_line("tanh", sb[::5]), xi_c, critical, seconds)
    with open(os.path.join(args.out, "phase_diagram.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
