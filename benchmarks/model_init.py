"""Whole-model initialization: `apply(model, "torch")` and `reinitialize(model)` against a build.

Usage: `python benchmarks/model_init.py [--repeats 3] [--jobs 1] [--backends
jax,tensorflow,torch] [--models resnet50,transformer12] [--no-write]`. Writes the "model-init" section of
`benchmarks/RESULTS.md`.

Method, one fresh process per (backend, model, repeat), so each build is cold as a user's is:
1. Import Keras and keras_inits, run one `keras.ops.ones` (backend start-up, not timed).
2. Build the model inside `keras_inits.override_keras_names()` (every initializer is
   keras_inits'), and wait for every weight (`sync`): `build` seconds.
3. `apply(model, "torch", seed=0, verbose=0)` twice, then `reinitialize(model, seed=0)` twice,
   each timed with a wait for every weight. Apply and reinitialize always follow a build in
   practice, so they run in the process that built the model.
4. Around each call, the kernel's RSS high-water mark is reset (`/proc/self/clear_refs`) and
   `VmHWM - VmRSS before` is the peak memory beyond the model, divided by the bytes of the
   model's largest variable (target <= 2). It includes any host copy the journal makes of an
   old value on its way to the temporary file (none on CPU: it reads each variable's buffer)
   and, on JAX, any compile. The 1st call in a process also includes what the backend keeps
   after its first pass of draws and assignments (TensorFlow's oneDNN allocator grows its
   pool and keeps it: the same for `reinitialize` when it runs first, and for a plain loop of
   `variable.assign(initializer(shape))`), so the 2nd call's peak is reported as well.

5. Mode `loop`, in its own fresh processes: after the same build, a plain loop assigning every
   float weight `RandomUniform(-0.05, 0.05, seed=i)(shape)` (no plan, no journal), twice: the
   backend's own floor for the peak memory of drawing and assigning a model.

Reported: medians over repeats (first and second calls separately), and the ratios
`apply / build`, `reinitialize / build` (target <= 1.2).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from common import make_sync, proc_status_kib, reset_peak_rss, write_results  # noqa: E402

SECTION = "model-init"


def _timed(call, model, sync) -> tuple[float, float | None]:
    """(seconds, peak RSS above the start in bytes) of `call()` and a wait for the weights."""
    before = proc_status_kib("VmRSS")
    hwm_ok = reset_peak_rss()
    start = time.perf_counter()
    call()
    sync([v.value for v in model.weights])
    seconds = time.perf_counter() - start
    peak = proc_status_kib("VmHWM")
    if not hwm_ok or peak is None or before is None:
        return seconds, None
    return seconds, (peak - before) * 1024


def worker(model_name: str, mode: str = "init") -> dict:
    import gc

    import keras
    import numpy as np

    import keras_inits
    import models

    sync = make_sync()
    sync(keras.ops.ones((1,)))
    make = models._builder(model_name)
    start = time.perf_counter()
    with keras_inits.override_keras_names():
        model = make()
    sync([v.value for v in model.weights])
    record = {"build": time.perf_counter() - start}
    sizes = [math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.weights]
    largest = record["largest_bytes"] = max(sizes)
    record["model_bytes"] = sum(sizes)
    def loop():  # the floor: each float weight drawn and assigned, no plan, no journal
        for i, v in enumerate(model.weights):
            if "float" in keras.backend.standardize_dtype(v.dtype):
                v.assign(keras_inits.RandomUniform(-0.05, 0.05, seed=i)(tuple(v.shape), v.dtype))

    calls = {
        "apply": lambda: keras_inits.apply(model, "torch", seed=0, verbose=0),
        "reinitialize": lambda: keras_inits.reinitialize(model, seed=0),
    } if mode == "init" else {"loop": loop}
    for name, call in calls.items():
        for attempt in ("first", "second"):
            gc.collect()
            seconds, peak = _timed(call, model, sync)
            record[f"{name}_{attempt}"] = seconds
            record[f"{name}_{attempt}_peak_over_largest"] = (
                None if peak is None else peak / largest)
    return record


def run(backend: str, model: str, mode: str = "init") -> dict:
    # A fixed glibc mmap threshold: with the dynamic one, blocks freed after one variable stay
    # in the heap and RSS would count them as in use during the next.
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT + os.pathsep + HERE,
           "TF_CPP_MIN_LOG_LEVEL": "3", "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, __file__, "--worker", model, "--mode", mode], env=env,
                         capture_output=True, text=True, timeout=1800)
    lines = [l for l in out.stdout.splitlines() if l.startswith("RECORD ")]
    if out.returncode or not lines:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(lines[-1][len("RECORD "):])


def _median(records: list[dict], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return statistics.median(values) if values else None


def _fmt(value, digits=2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _loop(loops: dict | None, backend: str, model: str) -> str:
    ok = [r for r in (loops or {}).get((backend, model), []) if "error" not in r]
    if not ok:
        return "-"
    return (f"{_fmt(_median(ok, 'loop_first_peak_over_largest'))}, "
            f"{_fmt(_median(ok, 'loop_second_peak_over_largest'))}")


def table(results: dict, repeats: int, jobs: int, loops: dict | None = None) -> str:
    rows = [
        "| backend | model | build s | apply s (1st / 2nd) | apply / build | reinitialize s "
        "(1st / 2nd) | reinitialize / build | peak beyond model / largest variable, "
        "1st call (apply, reinitialize) | same, 2nd call | plain assign loop, 1st, 2nd call |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (backend, model), records in results.items():
        ok = [r for r in records if "error" not in r]
        if not ok:
            rows.append(f"| {backend} | {model} | {records[0]['error']} | | | | | | | |")
            continue
        m = {key: _median(ok, key) for key in ok[0]}
        rows.append(
            f"| {backend} | {model} | {_fmt(m['build'])} | {_fmt(m['apply_first'])} / "
            f"{_fmt(m['apply_second'])} | {_fmt(m['apply_first'] / m['build'])} | "
            f"{_fmt(m['reinitialize_first'])} / {_fmt(m['reinitialize_second'])} | "
            f"{_fmt(m['reinitialize_first'] / m['build'])} | "
            f"{_fmt(m['apply_first_peak_over_largest'])}, "
            f"{_fmt(m['reinitialize_first_peak_over_largest'])} | "
            f"{_fmt(m['apply_second_peak_over_largest'])}, "
            f"{_fmt(m['reinitialize_second_peak_over_largest'])} | {_loop(loops, backend, model)} |")
    largest = {model: next((r["largest_bytes"] for r in records if "largest_bytes" in r), None)
               for (_, model), records in results.items()}
    sizes = ", ".join(f"{m}: {b / 2**20:.1f} MiB" for m, b in largest.items() if b)
    return (
        "## Whole-model initialization (`benchmarks/model_init.py`)\n\n"
        f"Medians of {repeats} fresh processes per row ({jobs} at a time). `build`: the model built inside "
        "`override_keras_names()` (keras_inits' initializers), cold. `apply`: "
        "`apply(model, \"torch\", seed=0)` in the process that built it (1st and 2nd call); "
        "`reinitialize`: `reinitialize(model, seed=0)` after it. Ratios use the 1st call "
        "(target <= 1.2). Peak memory: `VmHWM - VmRSS` around each call over the largest "
        f"variable ({sizes}; target <= 2); the 1st call in a process also holds what the "
        "backend keeps after its first pass of draws and assignments (TensorFlow's oneDNN "
        "allocator pool; see the script's docstring). Plain assign loop: in its own fresh "
        "processes, after the same build, every float weight assigned "
        "`RandomUniform(seed=i)(shape)` with `variable.assign`, no plan and no journal: "
        "the backend's own floor.\n\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker")
    parser.add_argument("--mode", default="init", choices=["init", "loop"],
                        help="worker: apply and reinitialize, or the plain assign loop")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--models", default="resnet50,transformer12")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes at a time")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print("RECORD " + json.dumps(worker(args.worker, args.mode)))
        return
    load = os.getloadavg()[0]
    cases = [(b, m, mode) for b in args.backends.split(",") for m in args.models.split(",")
             for mode in ("init", "loop")]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        records = list(pool.map(lambda case: run(*case), cases * args.repeats))
    by_case = {case: records[i::len(cases)] for i, case in enumerate(cases)}
    results = {(b, m): by_case[(b, m, "init")] for b, m, mode in cases if mode == "init"}
    loops = {(b, m): by_case[(b, m, "loop")] for b, m, mode in cases if mode == "init"}
    for case, rows in by_case.items():
        print(*case, json.dumps(rows), flush=True)
    markdown = table(results, args.repeats, args.jobs, loops)
    markdown += (f"\nLoad average (1 min) at the start and the end: {load:.1f}, "
                 f"{os.getloadavg()[0]:.1f}, on {os.cpu_count()} CPUs.\n")
    print(markdown)
    if not args.no_write:
        write_results(os.path.join(HERE, "RESULTS.md"), section=(SECTION, markdown))


if __name__ == "__main__":
    main()
