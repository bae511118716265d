"""Portable and path-seeded draws against the backend's native keras_inits path (issue 13).

Runs one fresh process per backend (this script with `--worker`) and measures, medians of
`--repeats` timed calls after two warm-up calls:

- a 4096x4096 draw under `seeding(0, portable=True)` against the same initializer outside it
  (the native keras_inits path), for a uniform, a normal and a truncated-normal scheme;
- the peak memory of that portable draw: `(VmHWM - VmRSS before) / output bytes`, with the RSS
  high-water mark reset first (as `memory.py`; 1.0 means no scratch at all), in a fresh process
  per backend and scheme that has drawn only a tiny tensor before (`--memory SCHEME`);
- on torch, the same portable draw on the eager fallback (no C kernel), and the C kernel's
  one-time compile (into an empty cache directory) and its load from the cache;
- building a small zoo (MLP, CNN, Embedding + MultiHeadAttention + LSTM + EinsumDense) under
  `override_keras_names()`: without seeding, under `seeding(0)` and under
  `seeding(0, portable=True)`. Warm: fresh layers each build in one process of its own
  (`--build`) whose compiled kernels are warm, the three timed in interleaved rounds (rotating
  order, heap collected before each), in wall time and in process CPU time (steadier on a
  shared machine). Cold: the first build in a fresh process (`--cold SCOPE`), after the
  imports and one tiny backend op (the start-up every scope shares), so each scope pays its own
  one-time costs (compiles, kernel loads) and only those; medians of `--cold-repeats`
  processes per scope, interleaved.

Writes the table to `benchmarks/RESULTS.md`, section "portable". Usage:
`.venv/bin/python benchmarks/portable.py [--repeats 7] [--cold-repeats 5]`
"""

from __future__ import annotations

import argparse
import contextlib
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
SCOPES = ("none", "seeding", "portable")


def scope(label):
    import keras_inits

    if label == "none":
        return contextlib.nullcontext()
    return keras_inits.seeding(0, portable=label == "portable")


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
    from common import make_sync

    import keras_inits

    sync = make_sync()
    record = {"backend": keras.backend.backend(), "draws": {}}
    for name in SCHEMES:
        init = getattr(keras_inits, name)(seed=1)

        def portable(init=init):
            with keras_inits.seeding(0, portable=True):
                return init(SHAPE)

        native = median_time(lambda init=init: init(SHAPE), sync, repeats)
        record["draws"][name] = {
            "native_s": native,
            "portable_s": median_time(portable, sync, repeats),
        }
        if record["backend"] == "torch":  # the eager fallback, where the C kernel can't load
            from keras_inits import _portable

            kernel = _portable._c_kernel
            _portable._c_kernel = lambda: None
            try:
                record["draws"][name]["eager_s"] = median_time(portable, sync, min(repeats, 3))
            finally:
                _portable._c_kernel = kernel
    if record["backend"] == "torch":
        record["kernel"] = kernel_costs()
    print("RECORD " + json.dumps(record))


def build_worker(repeats):
    """Warm builds, in their own process: after the large draws every build here ran up to 3x
    slower (the allocator's state), which only added noise to the ratios."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from portable_zoo import zoo

    import keras_inits

    def build(label):
        def run():
            with keras_inits.override_keras_names(), scope(label):
                return zoo()

        return run

    # Interleaved rounds (none, seeding, portable, none, ...): a drifting load hits all three.
    runs = {label: build(label) for label in SCOPES}
    for run in runs.values():
        run(), run()  # warm-up: compiled kernels, lazy imports
    times = {label: [] for label in runs}
    cpu = {label: [] for label in runs}
    labels = list(runs)
    for round_ in range(max(25, 5 * repeats)):  # builds are short: more rounds, less noise
        # The order rotates, and every build starts from a collected heap: with a fixed order
        # and the collector's fixed thresholds, the costly collections fell on the same scope
        # every round (ratios of 0.73 and 1.35 for the same code).
        for label in labels[round_ % 3 :] + labels[: round_ % 3]:
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            runs[label]()
            times[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - start_cpu)
    record = {label: statistics.median(t) for label, t in times.items()}
    record["cpu"] = {label: statistics.median(t) for label, t in cpu.items()}
    print("RECORD " + json.dumps(record))


def kernel_costs():
    """The C kernel's compile into an empty cache directory, and its load from the cache."""
    import tempfile

    from keras_inits import _portable

    with tempfile.TemporaryDirectory() as cache:
        os.environ["KERAS_INITS_CACHE"] = cache
        try:
            start = time.perf_counter()
            path = _portable._compiled_kernel()
            compile_s = time.perf_counter() - start
            start = time.perf_counter()
            assert _portable.ctypes.CDLL(path).ki_fill is not None
            load_s = time.perf_counter() - start
        finally:
            del os.environ["KERAS_INITS_CACHE"]
    return {"compile_s": compile_s, "load_s": load_s, "status": _portable.kernel_status()}


def cold_worker(label):
    """The first zoo build in this fresh process under `label`, after the shared start-up."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import keras
    from portable_zoo import zoo

    import keras_inits

    keras.ops.convert_to_numpy(keras.ops.ones((2, 2)) + 1)  # the backend's start-up
    start = time.perf_counter()
    with keras_inits.override_keras_names(), scope(label):
        zoo()
    print("RECORD " + json.dumps(time.perf_counter() - start))


def memory_worker(name):
    sys.path.insert(0, HERE)
    from common import make_sync

    import keras_inits

    init = getattr(keras_inits, name)(seed=1)
    with keras_inits.seeding(0, portable=True):
        init((8, 8))  # tiny warm-up: lazy imports, small programs
        print("RECORD " + json.dumps(peak_over_output(lambda: init(SHAPE), make_sync())))


def run(backend, *args):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT}
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=True
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RECORD "))
    return json.loads(line[len("RECORD ") :])


def table(records, loads) -> str:
    lines = [
        "## Portable and path-seeded initialization (`benchmarks/portable.py`)",
        "",
        f"Medians on this machine ({os.cpu_count()} CPUs; load average, 1 min, at the start and "
        f"the end: {loads[0]:.1f}, {loads[1]:.1f}); draws at {SHAPE[0]}x{SHAPE[1]} float32. "
        "`portable / native`: a draw under `seeding(0, portable=True)` against the same "
        "initializer outside it (target <= 2). Torch: the C kernel; `eager / native`: its eager "
        "fallback. Peak: RSS high-water mark of the portable draw over the output's bytes "
        "(1.0 = no scratch; target <= 2). Builds: the zoo of `tests/portable_zoo.py` built "
        "under `seeding(0)` and `seeding(0, portable=True)` against without (target <= 1.1); "
        "warm: in one process, kernels compiled (wall and CPU time); cold: the first build in a "
        "fresh process, "
        "after the start-up all three share.",
        "",
        "| backend | scheme | native (ms) | portable (ms) | portable / native | eager / native "
        "| peak / output |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        for name, d in r["draws"].items():
            eager = f"{d['eager_s'] / d['native_s']:.2f}" if "eager_s" in d else "-"
            lines.append(
                f"| {r['backend']} | {name} | {d['native_s'] * 1e3:.1f} | "
                f"{d['portable_s'] * 1e3:.1f} | {d['portable_s'] / d['native_s']:.2f} | "
                f"{eager} | {d['portable_peak_over_output']:.2f} |"
            )
    lines += [
        "",
        "| backend | warm build, no scope (ms) | seeding / none | portable / none "
        "| warm, CPU time: seeding / none | portable / none "
        "| cold build, no scope (ms) | seeding / none | portable / none |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        b, c, u = r["build"], r["cold"], r["build"]["cpu"]
        lines.append(
            f"| {r['backend']} | {b['none'] * 1e3:.0f} | {b['seeding'] / b['none']:.2f} "
            f"| {b['portable'] / b['none']:.2f} | {u['seeding'] / u['none']:.2f} "
            f"| {u['portable'] / u['none']:.2f} | {c['none'] * 1e3:.0f} | "
            f"{c['seeding'] / c['none']:.2f} | {c['portable'] / c['none']:.2f} |"
        )
    for r in records:
        if "kernel" in r:
            k = r["kernel"]
            lines += [
                "",
                f"Torch's C kernel: compiled once per machine in {k['compile_s']:.2f} s "
                f"(cached), loaded by each process in {k['load_s'] * 1e3:.1f} ms "
                f"({k['status'].split(':')[0]}).",
            ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per median")
    parser.add_argument(
        "--cold-repeats",
        type=int,
        default=3,
        help="fresh processes per backend and scope for the cold build",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory", choices=SCHEMES, help=argparse.SUPPRESS)
    parser.add_argument("--cold", choices=SCOPES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.repeats)
    if args.build:
        return build_worker(args.repeats)
    if args.memory:
        return memory_worker(args.memory)
    if args.cold:
        return cold_worker(args.cold)
    loads = [os.getloadavg()[0]]
    records = []
    for backend in ("jax", "tensorflow", "torch"):
        record = run(backend, "--worker", "--repeats", str(args.repeats))
        record["build"] = run(backend, "--build", "--repeats", str(args.repeats))
        for name in SCHEMES:
            record["draws"][name]["portable_peak_over_output"] = run(backend, "--memory", name)
        cold = {label: [] for label in SCOPES}
        for _ in range(args.cold_repeats):  # interleaved, as the warm rounds
            for label in SCOPES:
                cold[label].append(run(backend, "--cold", label))
        record["cold"] = {label: statistics.median(t) for label, t in cold.items()}
        records.append(record)
    loads.append(os.getloadavg()[0])
    markdown = table(records, loads)
    print(markdown)
    sys.path.insert(0, HERE)
    from common import write_results

    write_results(os.path.join(HERE, "RESULTS.md"), section=("portable", markdown))


if __name__ == "__main__":
    main()
