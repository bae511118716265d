"""Portable and path-seeded draws against the backend's native keras_inits path (issue 13).

Runs one fresh process per backend (this script with `--worker`) and measures, medians of
`--repeats` timed calls after two warm-up calls:

- a 4096x4096 draw under `seeding(0, portable=True)` against the same initializer outside it
  (the native keras_inits path), for a uniform, a normal and a truncated-normal scheme;
- the peak memory of that portable draw: `(VmHWM - VmRSS before) / output bytes`, with the RSS
  high-water mark reset first (as `memory.py`; 1.0 means no scratch at all), in a fresh process
  per backend and scheme that has drawn only a tiny tensor before (`--memory SCHEME`);
- building a small zoo (MLP, CNN, Embedding + MultiHeadAttention + LSTM + EinsumDense) under
  `override_keras_names()`: without seeding, under `seeding(0)` and under
  `seeding(0, portable=True)` (fresh layers each build; compiled kernels are warm; the three
  are timed in interleaved rounds).

Writes the table to `benchmarks/RESULTS.md`, section "portable". Usage:
`.venv/bin/python benchmarks/portable.py [--repeats 7]`
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHAPE = (4096, 4096)
SCHEMES = ("RandomUniform", "RandomNormal", "HeNormal")


def median_time(fn, sync, repeats):
    sync(fn())
    sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_over_output(fn, sync):
    from common import proc_status_kib, reset_peak_rss

    gc.collect()
    before = proc_status_kib("VmRSS")
    reset_peak_rss()
    result = sync(fn())
    peak = proc_status_kib("VmHWM")
    del result
    return (peak - before) * 1024 / (SHAPE[0] * SHAPE[1] * 4)


def worker(repeats):
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import keras

    import keras_inits
    from common import make_sync
    from portable_zoo import zoo

    sync = make_sync()
    record = {"backend": keras.backend.backend(), "draws": {}, "build": {}}
    for name in SCHEMES:
        init = getattr(keras_inits, name)(seed=1)

        def portable():
            with keras_inits.seeding(0, portable=True):
                return init(SHAPE)

        native = median_time(lambda: init(SHAPE), sync, repeats)
        record["draws"][name] = {"native_s": native,
                                 "portable_s": median_time(portable, sync, repeats)}

    def build(scope):
        def run():
            with keras_inits.override_keras_names(), scope():
                return zoo()
        return run

    import contextlib

    scopes = {"none": contextlib.nullcontext, "seeding": lambda: keras_inits.seeding(0),
              "portable": lambda: keras_inits.seeding(0, portable=True)}
    # Interleaved rounds (none, seeding, portable, none, ...): a drifting load hits all three.
    runs = {label: build(scope) for label, scope in scopes.items()}
    for run in runs.values():
        run(), run()  # warm-up: compiled kernels, lazy imports
    times = {label: [] for label in runs}
    for _ in range(max(5, repeats)):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    record["build"] = {label: statistics.median(t) for label, t in times.items()}
    print("RECORD " + json.dumps(record))


def memory_worker(name):
    sys.path.insert(0, HERE)
    import keras_inits
    from common import make_sync

    init = getattr(keras_inits, name)(seed=1)
    with keras_inits.seeding(0, portable=True):
        init((8, 8))  # tiny warm-up: lazy imports, small programs
        print("RECORD " + json.dumps(peak_over_output(lambda: init(SHAPE), make_sync())))


def run(backend, *args):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env=env, check=True)
    line = next(l for l in out.stdout.splitlines() if l.startswith("RECORD "))
    return json.loads(line[len("RECORD "):])


def table(records) -> str:
    lines = [
        "## Portable and path-seeded initialization (`benchmarks/portable.py`)",
        "",
        f"Medians on this machine; draws at {SHAPE[0]}x{SHAPE[1]} float32. `portable / native`: "
        "a draw under `seeding(0, portable=True)` against the same initializer outside it "
        "(target <= 2). Peak: RSS high-water mark of the portable draw over the output's bytes "
        "(1.0 = no scratch; target <= 2). Builds: the zoo of `tests/portable_zoo.py` built "
        "under `seeding(0)` and `seeding(0, portable=True)` against without (target <= 1.1).",
        "",
        "| backend | scheme | native (ms) | portable (ms) | portable / native | peak / output |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        for name, d in r["draws"].items():
            lines.append(f"| {r['backend']} | {name} | {d['native_s'] * 1e3:.1f} | "
                         f"{d['portable_s'] * 1e3:.1f} | {d['portable_s'] / d['native_s']:.2f} | "
                         f"{d['portable_peak_over_output']:.2f} |")
    lines += ["", "| backend | build, no scope (ms) | seeding / none | portable / none |",
              "|---|---|---|---|"]
    for r in records:
        b = r["build"]
        lines.append(f"| {r['backend']} | {b['none'] * 1e3:.0f} | {b['seeding'] / b['none']:.2f} | "
                     f"{b['portable'] / b['none']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--memory", choices=SCHEMES)
    args = parser.parse_args()
    if args.worker:
        return worker(args.repeats)
    if args.memory:
        return memory_worker(args.memory)
    records = []
    for backend in ("jax", "tensorflow", "torch"):
        record = run(backend, "--worker", "--repeats", str(args.repeats))
        for name in SCHEMES:
            record["draws"][name]["portable_peak_over_output"] = run(backend, "--memory", name)
        records.append(record)
    markdown = table(records)
    print(markdown)
    sys.path.insert(0, HERE)
    from common import write_results

    write_results(os.path.join(HERE, "RESULTS.md"), section=("portable", markdown))


if __name__ == "__main__":
    main()
