"""Subprocess entry point: `python benchmarks/worker.py MODE ARGS_JSON RESULT_PATH`.

`bench.py` starts one worker per backend for the per-call timings (mode `per_call`), one per
memory case (`memory`), one for the JAX compiled-memory readout (`jit`) and one per model build
(`build`). `KERAS_BACKEND` is set by the caller. The worker writes its result as JSON to
RESULT_PATH, so that backend log lines on stdout/stderr never mix with it.

Timing method (mode `per_call`, also used for Orthogonal):
- Each call is `init(shape, dtype="float32")` followed by `sync(result)`; `sync` waits for the
  backend without copying: `jax.block_until_ready` on JAX, `tf.test.experimental.sync_devices()`
  on TensorFlow, `torch.cuda.synchronize()` on torch with CUDA (torch on CPU is synchronous).
  The same `sync` closes every timed call, ours, Keras' and the floor alike.
- `warmup` untimed calls per implementation first, at least 2 (the first one's time, which
  includes JAX compilation and TF tracing, is kept as `first_s`). Then the rounds; each round times
  ours, Keras' and the floor (`keras.ops.ones(shape)`) once, rotating which goes first, so that
  drifts and noise bursts hit all three alike. Garbage collection is off inside the rounds
  (objects alive after the imports are frozen out of it, see `settle_gc`).
- Rounds: at least `repeats`, and for fast cases as many more as fit in `ROUND_BUDGET_S` (up
  to `MAX_ROUNDS`), estimated from the last warm-up calls: a millisecond-scale case is
  otherwise decided by a handful of samples on a noisy machine.
- Both sides get the same int seed (0). The reported figure is the median per implementation;
  the ratio is median(ours) / median(Keras). The paired ratio, median over rounds of
  ours/Keras, is stored too.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402
from common import error_text, make_sync  # noqa: E402


def settle_gc() -> None:
    """Collects, then freezes every object alive (the imports: Keras, the backend), so that the
    `gc.collect()` between cases scans only new objects (~1 ms instead of ~150 ms)."""
    gc.collect()
    gc.freeze()


#: Time budget of the timed rounds of one case, and the most rounds it may run.
ROUND_BUDGET_S = 0.5
MAX_ROUNDS = 41


def time_calls(calls: dict, repeats: int, warmup: int, sync) -> dict:
    """Times each zero-argument callable in `calls`, interleaved (see the module docstring).

    Returns `{key: {"times_s": [...], "median_s", "first_s"}}`, or `{key: {"error": ...}}` for a
    callable that raised during warm-up.
    """
    out, live, round_s = {}, {}, 0.0
    for key, fn in calls.items():
        try:
            for i in range(max(2, warmup)):  # a second call: warm, for the round estimate
                t0 = time.perf_counter()
                x = sync(fn())
                dt = time.perf_counter() - t0
                del x
                if i == 0:
                    out[key] = {"first_s": dt, "times_s": []}
            round_s += dt
            live[key] = fn
        except Exception as exc:  # noqa: BLE001 - a failure is a result here
            out[key] = {"error": error_text(exc)}
    keys = list(live)
    if repeats > 1:
        repeats = max(repeats, min(MAX_ROUNDS, int(ROUND_BUDGET_S / max(round_s, 1e-9))))
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats if keys else 0):
            for key in keys[r % len(keys):] + keys[:r % len(keys)]:  # rotate the first one
                t0 = time.perf_counter()
                x = sync(live[key]())
                out[key]["times_s"].append(time.perf_counter() - t0)
                del x
    finally:
        gc.enable()
    for key in keys:
        out[key]["median_s"] = statistics.median(out[key]["times_s"]) if repeats else None
    return out


def _ratios(rec: dict, a: str, b: str) -> tuple[float | None, float | None]:
    ta, tb = rec.get(a, {}), rec.get(b, {})
    if not ta.get("median_s") or not tb.get("median_s"):
        return None, None
    paired = [x / y for x, y in zip(ta["times_s"], tb["times_s"])]
    return ta["median_s"] / tb["median_s"], statistics.median(paired)


def per_call(args: dict) -> dict:
    """Section 1 (per-call timings), section 3 (Orthogonal) and the out-of-bounds counts."""
    import keras

    sync = make_sync()
    settle_gc()
    shapes = [tuple(s) for s in args["shapes"]]
    mode = "smoke" if args["smoke"] else "full"
    repeats, warmup = args["repeats"], args["warmup"]
    specs = cases.shared_specs(shapes, args["smoke"])
    records = []
    for spec in specs:
        for shape in spec.shapes:
            print(f"  per_call {spec.label} {cases.shape_str(shape)}", file=sys.stderr, flush=True)
            records.append(_time_pair(spec, shape, "float32", repeats, warmup, sync, floor=True))
    ortho = []
    spec = next(s for s in specs if s.name == "Orthogonal")
    for dtype in cases.ORTHO_DTYPES:
        print(f"  orthogonal {dtype}", file=sys.stderr, flush=True)
        ortho.append(_time_pair(spec, cases.ORTHO_SHAPE[mode], dtype, repeats, warmup, sync,
                                floor=dtype == "float32"))
    oob = [_out_of_bounds(s, cases.OOB_SHAPE[mode]) for s in specs
           if s.label in cases.TRUNCATED_FAMILY]
    return {"per_call": records, "orthogonal": ortho, "oob": oob,
            "floatx": keras.backend.floatx()}


def _time_pair(spec, shape, dtype, repeats, warmup, sync, floor: bool) -> dict:
    import keras

    calls = {}
    for impl in ("ours", "keras"):
        try:
            init = spec.make(impl)
            calls[impl] = lambda init=init: init(shape, dtype=dtype)
        except Exception as exc:  # noqa: BLE001
            calls[impl] = _raiser(exc)
    if floor:
        calls["floor"] = lambda: keras.ops.ones(shape, dtype=dtype)
    load = round(os.getloadavg()[0], 2)  # 1-minute load when the case starts (noise context)
    timed = time_calls(calls, repeats, warmup, sync)
    rec = {"scheme": spec.label, "shape": list(shape), "dtype": dtype, "loadavg": load, **timed}
    rec["ratio"], rec["paired_ratio"] = _ratios(timed, "ours", "keras")
    if floor:
        rec["floor_ratio"], _ = _ratios(timed, "ours", "floor")
        rec["keras_floor_ratio"], _ = _ratios(timed, "keras", "floor")
    gc.collect()
    return rec


def _raiser(exc):
    def fail():
        raise exc

    return fail


def _out_of_bounds(spec, shape) -> dict:
    """Samples of one call outside `mean ± 2 * stddev_before_truncation`, ours and Keras'."""
    import keras
    import numpy as np

    from keras_inits import compute_fans

    rec = {"scheme": spec.label, "shape": list(shape), "rel_tol": cases.OOB_REL_TOL}
    for impl in ("ours", "keras"):
        init = spec.make(impl)
        if spec.name == "TruncatedNormal":
            mean, bound = float(init.mean), 2.0 * float(init.stddev)
        else:  # VarianceScaling family: stddev before truncation = sqrt(scale / n) / 0.8796...
            fan_in, fan_out = compute_fans(shape)
            n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[init.mode]
            mean, bound = 0.0, 2.0 * math.sqrt(init.scale / max(1.0, n)) / 0.87962566103423978
        x = np.asarray(keras.ops.convert_to_numpy(init(shape, dtype="float32")), "float64")
        dev = np.abs(x - mean)
        rec[impl] = {"out_of_bounds": int(np.sum(dev > bound * (1 + cases.OOB_REL_TOL))),
                     "bound": bound, "max_abs_over_bound": float(dev.max() / bound),
                     "n": int(x.size)}
    return rec


def main() -> None:
    mode, args, path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    try:
        if mode == "per_call":
            result = per_call(args)
        elif mode in ("memory", "jit"):
            import memory

            result = memory.memory_case(args) if mode == "memory" else memory.jit_memory(args)
        elif mode == "build":
            import models

            result = models.build(args)
        else:
            raise ValueError(f"unknown mode {mode!r}")
    except Exception as exc:  # noqa: BLE001 - reported to the orchestrator
        result = {"error": error_text(exc), "traceback": traceback.format_exc()[-4000:]}
    with open(path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
