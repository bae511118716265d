"""Cold calls: every registered scheme's first call on a new shape (issue 12's JAX target).

A policy applies schemes to every shape in a model, so what a scheme costs the first time it
meets a shape counts. Usage (from the repository root):

    .venv/bin/python benchmarks/cold_calls.py                       # JAX, prints the table
    .venv/bin/python benchmarks/cold_calls.py --label after --results benchmarks/RESULTS.md
    .venv/bin/python benchmarks/cold_calls.py --root /tmp/old --label before   # another checkout
    .venv/bin/python benchmarks/cold_calls.py --backend torch --only Orthogonal,Sparse

Method: each scheme runs in a fresh process (imports done, nothing compiled), int seed 0,
float32, each call waiting for its result (`common.make_sync`):
1. the first call on shape A (`example_shapes[0]`): every first-use cost;
2. "cold": the first call on shape B (A with its last two dimensions x4, a wider layer) and on
   shape C (another of the scheme's example shapes), the larger of the two. On JAX this may
   include compiling a block kernel of a size not used before: the element-wise samplers are
   compiled once per block size (6 sizes) and law, whatever the shapes (see `_sampling`);
3. "new shape": every block kernel compiled first (one draw of each block size per law, as a
   model build does once per process), then the first call on shape D (A's last two
   dimensions x2): what each further new shape costs, the issue's target (JAX: <= 0.3 s);
4. warm: the median of 5 more calls on B.
With `--results`, the table goes into the marked section "cold-calls" of RESULTS.md under the
`--label` (e.g. "before"/"after"), keeping the other labels' tables.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import common  # noqa: E402

TARGET_S = 0.3  # the limit for a cold call on a new shape, JAX
SECTION = "cold-calls"


def new_shapes(cls) -> tuple[tuple, ...]:
    """(A, B, C, D): the first example shape, A with its last two dimensions x4, the example
    shape farthest from A (another rank first), and A's last two dimensions x2. B and D fall
    back to other example shapes if the scheme refuses them."""
    init = cls.example()
    a = tuple(cls.example_shapes[0])
    others = [tuple(s) for s in cls.example_shapes[1:]] or [a]  # PriorBias: its own shape only
    c = max(others, key=lambda s: (len(s) != len(a), s))

    def wider(factor, fallback):
        shape = a[:-2] + tuple(dim * factor for dim in a[-2:])
        try:
            init._check_shape(shape)
            return shape
        except ValueError:
            return fallback

    return a, wider(4, others[-1]), c, wider(2, others[0])


def warm_block_kernels() -> None:
    """On JAX, one draw of every block size of each element-wise law (uniform, normal,
    truncated normal): every shape-independent kernel is then compiled."""
    import keras

    if keras.backend.backend() != "jax":
        return
    import keras_inits
    from keras_inits import _sampling

    for law in (keras_inits.RandomUniform, keras_inits.RandomNormal, keras_inits.TruncatedNormal):
        for size in getattr(_sampling, "BLOCK_SIZES", ()):
            keras.ops.convert_to_numpy(law(seed=0)((size,)))


def measure(name: str) -> dict:
    """Runs in the worker process: the timings of one scheme."""
    import inspect

    import keras_inits
    from keras_inits._registry import lookup

    sync = common.make_sync()
    cls = lookup(name)
    seeded = "seed" in inspect.signature(cls.__init__).parameters
    init = cls.example(**({"seed": 0} if seeded else {}))
    a, b, c, d = new_shapes(cls)

    def timed(shape):
        t0 = time.perf_counter()
        sync(init(shape, dtype="float32"))
        return time.perf_counter() - t0

    first = timed(a)
    cold_b = timed(b) if b != a else None  # None: the scheme fills no other shape
    cold_c = timed(c) if c not in (a, b) else None
    warm_block_kernels()
    new_d = timed(d) if d not in (a, b, c) else None
    warm = statistics.median(timed(b) for _ in range(5))
    del keras_inits
    return {"scheme": name, "A": a, "B": b, "C": c, "D": d, "first_A_s": first,
            "cold_B_s": cold_b, "cold_C_s": cold_c,
            "cold_s": max(filter(None, (cold_b, cold_c)), default=None),
            "new_shape_s": new_d, "warm_s": warm}


def run_one(name: str, backend: str, timeout: float, root: str = ROOT) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": root + os.pathsep + HERE}
    code = f"import json, cold_calls; print('RESULT' + json.dumps(cold_calls.measure({name!r})))"
    # cwd=root: `python -c` puts the working directory first on sys.path.
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=root)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if proc.returncode or line is None:
        return {"scheme": name, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(line[len("RESULT"):])


def table(rows: list[dict], backend: str, label: str) -> str:
    def shape(s):
        return "x".join(map(str, s))

    def seconds(x):
        return "-" if x is None else f"{x:.3f} s"

    load = f"Load average at the end: {os.getloadavg()[0]:.1f}."
    lines = [f"#### {label} ({backend})", "", load,
             "", "| scheme | first call, A | cold, new shape (B, C) | new shape, blocks "
             "compiled (D) | warm, B | shapes A / B / C / D | target |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['scheme']} | error: {r['error']} | | | | | |")
            continue
        verdict = "-"
        if backend == "jax" and r["new_shape_s"] is not None:
            verdict = "pass" if r["new_shape_s"] <= TARGET_S else "FAIL"
        lines.append(
            f"| {r['scheme']} | {seconds(r['first_A_s'])} | {seconds(r['cold_s'])} | "
            f"{seconds(r['new_shape_s'])} | {r['warm_s'] * 1e3:.2f} ms | "
            f"{' / '.join(shape(r[k]) for k in 'ABCD')} | {verdict} |")
    return "\n".join(lines)


def section_markdown(old_section: str | None, new_table: str, label: str) -> str:
    """The section's text: the header, then the tables of every label, this one replaced."""
    header = (
        "## Cold calls: first call on a new shape (issue 12)\n\n"
        "`.venv/bin/python benchmarks/cold_calls.py --label LABEL --results "
        "benchmarks/RESULTS.md` (method in its docstring): each scheme in a fresh process; the "
        "first call on A (every first-use cost); cold: the first call on new shapes B (A's last "
        "two dimensions x4) and C (another example shape), the larger, which on JAX may include "
        "compiling an element-wise block kernel of a new size (once per size and law per "
        "process); new shape: with every block kernel compiled, the first call on another new "
        "shape D, the cost of each further shape; warm: median of 5 calls on B. float32, "
        f"seed 0. Target on JAX: new shape <= {TARGET_S} s.\n")
    tables = {}
    if old_section:
        for match in re.finditer(r"(#### (.+?) \(\w+\)\n.*?)(?=\n#### |\n<!-- /section|\Z)",
                                 old_section, re.S):
            tables[match[2]] = match[1].rstrip()
    tables[label] = new_table
    return header + "\n" + "\n\n".join(tables.values()) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="jax", choices=["jax", "tensorflow", "torch"])
    p.add_argument("--only", default=None, help="comma-separated scheme names (default: all)")
    p.add_argument("--label", default="measured", help="the table's title in RESULTS.md")
    p.add_argument("--results", default=None, help="RESULTS.md to update (section cold-calls)")
    p.add_argument("--root", default=ROOT,
                   help="import keras_inits from this directory (default: this checkout)")
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    import keras_inits

    names = args.only.split(",") if args.only else keras_inits.names()
    rows = []
    for name in names:
        rows.append(run_one(name, args.backend, args.timeout, args.root))
        r = rows[-1]
        print(f"{name:24s} " + (f"error {r['error']}" if "error" in r else
              f"first {r['first_A_s']:.3f}s cold {r['cold_s'] or 0:.3f}s new shape "
              f"{r['new_shape_s'] or 0:.3f}s warm {r['warm_s'] * 1e3:.2f}ms"), flush=True)
    label = args.label
    markdown = table(rows, args.backend, label)
    print(markdown)
    if args.results:
        with open(args.results) as f:
            old = common.sections(f.read()).get(SECTION)
        common.write_results(args.results, section=(SECTION, section_markdown(old, markdown,
                                                                               label)))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
