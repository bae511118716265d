"""Diagnostics on real models: `propagation_report`, `jacobian_spectrum` and `lsuv`, per backend.

    .venv/bin/python benchmarks/diagnostics.py                  # all, writes RESULTS.md
    .venv/bin/python benchmarks/diagnostics.py --models mobilenetv2 --repeats 2 --no-write

The issue's models: `keras.applications` MobileNetV2, ResNet50 and DenseNet121 with
`weights=None`, 64x64x3 inputs and 10 classes. Each backend runs in a fresh subprocess, one
after the other (never two at once on the 2 cores). In it, per model: build (inside
`override_keras_names()`, so JAX does not compile one sampler per kernel shape; untimed), then
in this order `propagation_report(model, x8, y8, loss=...)` (8 samples with targets, so with
the partial Jacobian column and the kernel gradients), `jacobian_spectrum(model, x8)` and
`lsuv(model, x16, seed=0)`. Each is called once ("first": it pays for whatever the backend
compiles on first use, so it depends on the order above) and then `--repeats` more times;
the table gives the median of those repeats, its ratio to torch's, and the first call. Every
call ends with its results on the host (numpy floats), so nothing runs asynchronously after
the clock stops. The issue's targets are on the medians: report and spectrum <= 2x torch,
lsuv <= 1.5x torch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BACKENDS = ("tensorflow", "jax", "torch")
MODELS = {"mobilenetv2": "MobileNetV2", "resnet50": "ResNet50", "densenet121": "DenseNet121"}
STEPS = ("propagation_report", "jacobian_spectrum", "lsuv")
TARGETS = {"propagation_report": 2.0, "jacobian_spectrum": 2.0, "lsuv": 1.5}


def worker(models: list[str], repeats: int) -> dict:
    """Runs in the backend's own process: {model: {step: [seconds of each call]}}."""
    import keras
    import numpy as np

    import keras_inits

    keras.ops.convert_to_numpy(keras.ops.ones((2,)))  # backend start-up, untimed
    rng = np.random.default_rng(0)
    x8 = rng.normal(size=(8, 64, 64, 3)).astype("float32")
    y8 = rng.integers(0, 10, size=8)
    x16 = rng.normal(size=(16, 64, 64, 3)).astype("float32")
    steps = {
        "propagation_report": lambda m: keras_inits.propagation_report(
            m, x8, y8, loss="sparse_categorical_crossentropy"),
        "jacobian_spectrum": lambda m: keras_inits.jacobian_spectrum(m, x8),
        "lsuv": lambda m: keras_inits.lsuv(m, x16, seed=0, verbose=0),
    }
    out = {}
    for name in models:
        with keras_inits.override_keras_names():
            model = getattr(keras.applications, MODELS[name])(
                weights=None, input_shape=(64, 64, 3), classes=10)
        out[name] = {}
        for step, fn in steps.items():
            times = []
            for _ in range(1 + repeats):
                start = time.perf_counter()
                fn(model)
                times.append(time.perf_counter() - start)
            out[name][step] = times
            print(f"  {keras.backend.backend()} {name} {step}: "
                  + ", ".join(f"{t:.2f}" for t in times), file=sys.stderr, flush=True)
    return out


def run_backend(backend: str, models: list[str], repeats: int, timeout: float) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
    command = [sys.executable, __file__, "--worker", "--models", ",".join(models),
               "--repeats", str(repeats)]
    # stderr (progress, tracebacks) goes to the console as it comes.
    try:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout:.0f} s (--timeout)"}
    if done.returncode:
        return {"error": f"worker exited with status {done.returncode} (traceback above)"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def markdown(results: dict, models: list[str], repeats: int, seconds: float,
             load_start: float = float("nan"), load_end: float | None = None) -> str:
    load = _load() if load_end is None else load_end
    lines = [
        "## Diagnostics on keras.applications models (issue 14)",
        "",
        f"`.venv/bin/python benchmarks/diagnostics.py --repeats {repeats}` ({seconds:.0f} s, "
        f"{os.cpu_count()} CPUs, 1-minute load average {load_start:.1f} at the start and "
        f"{load:.1f} at the end, other users' work included). weights=None, 64x64x3, "
        "10 classes; `propagation_report` on 8 samples with `y` (partial Jacobian column and "
        "kernel gradients), `jacobian_spectrum` on 8 samples, `lsuv` on 16. Each backend in a "
        "fresh process; per step one first call, then the median of "
        f"{repeats} more (seconds). Targets (on the medians): report and spectrum <= 2x torch, "
        "lsuv <= 1.5x torch. The backends run one after the other, so on a shared machine "
        "the ratios also carry the change of load between them, and torch's OpenMP threads "
        "slow down most when the machine is busy: read pass/fail with the load averages.",
        "",
        "| model | step | TF median | JAX median | torch median | TF / torch | JAX / torch "
        "| target | TF first | JAX first | torch first |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in models:
        for step in STEPS:
            med, first = {}, {}
            for backend in BACKENDS:
                times = results.get(backend, {}).get(name, {}).get(step)
                med[backend] = statistics.median(times[1:]) if times else None
                first[backend] = times[0] if times else None
            cells = [MODELS[name], f"`{step}`"]
            cells += [_s(med[b]) for b in BACKENDS]
            ratios = [_ratio(med[b], med["torch"]) for b in ("tensorflow", "jax")]
            ok = all(r is not None and r <= TARGETS[step] for r in ratios)
            cells += [_x(r) for r in ratios]
            cells += [f"<= {TARGETS[step]}x: {'pass' if ok else 'FAIL'}"]
            cells += [_s(first[b]) for b in BACKENDS]
            lines.append("| " + " | ".join(cells) + " |")
    errors = [f"- {b}: {r['error']}" for b, r in results.items() if "error" in r]
    if errors:
        lines += ["", "Errors:"] + errors
    return "\n".join(lines) + "\n"


def _s(t):
    return "-" if t is None else f"{t:.2f}"


def _ratio(a, b):
    return None if a is None or b is None else a / b


def _x(r):
    return "-" if r is None else f"{r:.2f}x"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help="default: %(default)s")
    p.add_argument("--backends", default=",".join(BACKENDS), help="default: %(default)s")
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the first")
    p.add_argument("--timeout", type=float, default=1800, help="per backend, seconds")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--no-write", action="store_true", help="print only, RESULTS.md untouched")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        p.error(f"unknown models {unknown}; known: {sorted(MODELS)}")
    if args.worker:
        print(json.dumps(worker(models, args.repeats)))
        return 0
    start, load_start = time.perf_counter(), _load()
    results = {}
    for backend in [b for b in args.backends.split(",") if b]:
        print(f"{backend} ...", file=sys.stderr, flush=True)
        results[backend] = run_backend(backend, models, args.repeats, args.timeout)
    text = markdown(results, models, args.repeats, time.perf_counter() - start, load_start)
    print(text)
    if not args.no_write:
        sys.path.insert(0, HERE)
        from common import write_results

        write_results(args.results, section=("diagnostics", text))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
