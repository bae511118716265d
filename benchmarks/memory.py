"""Peak memory of one initializer call (worker mode `memory`) and JAX compiled memory (`jit`).

RSS method (one fresh process per case, so nothing else has run at the large shape):
1. Import Keras and keras_inits, build the initializer, and call it once at a tiny shape of the
   same rank (loads lazy modules, compiles/traces the small program, creates the RNG state).
2. `gc.collect()`, read the current RSS (`VmRSS` in /proc/self/status), then reset the kernel's
   RSS high-water mark by writing "5" to /proc/self/clear_refs, so `VmHWM` restarts at the
   current RSS.
3. Call at the large shape and wait for the result (`sync`); read `VmHWM`.
   `peak_over_output = (VmHWM - VmRSS_before) / output_bytes`. It counts the output itself, so
   1.0 means no scratch memory at all. On JAX it also counts compiling the large program.
4. Drop the result, repeat 2-3 (`second` call): the steady-state figure, without first-call costs.

`ru_maxrss` (getrusage) can't be reset, so a delta of it underestimates whenever the process
peaked higher before (imports do). It is recorded as `ru_maxrss_delta_over_output` for
reference, and used as the main figure only where /proc/self/clear_refs is not writable
(`method` says which).

Allocator peaks: JAX `device.memory_stats()["peak_bytes_in_use"]` (None on the CPU device),
TensorFlow `tf.config.experimental.get_memory_info(device)["peak"]` after `reset_memory_stats`
(the CPU allocator is not tracked: it reports 0), torch `torch.cuda.max_memory_allocated()` (torch
keeps no CPU allocator statistics). Where a backend has none, the record says why.
"""

from __future__ import annotations

import gc
import math
import resource
import time

import cases
from common import error_text, make_sync, proc_status_kib, reset_peak_rss


class _Allocator:
    """The backend allocator's peak, where there is one. `note` explains when there is none."""

    def __init__(self):
        import keras

        self.backend, self.note, self.device = keras.backend.backend(), None, None
        if self.backend == "jax":
            import jax

            self.device = jax.devices()[0]
            if self.device.memory_stats() is None:
                self.note = f"jax {self.device.platform} device: memory_stats() is None"
        elif self.backend == "tensorflow":
            import tensorflow as tf

            self.tf = tf
            self.device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        else:
            import torch

            self.torch = torch
            if not torch.cuda.is_available():
                self.note = "torch keeps no CPU allocator statistics"

    def reset(self) -> None:
        self.start = None
        if self.note:
            return
        if self.backend == "jax":
            self.start = self.device.memory_stats()
        elif self.backend == "tensorflow":
            try:
                self.tf.config.experimental.reset_memory_stats(self.device)
            except Exception:  # noqa: BLE001 - recorded as unavailable below
                pass
        else:
            self.torch.cuda.reset_peak_memory_stats()
            self.start = self.torch.cuda.memory_allocated()

    def peak_bytes(self) -> tuple[int | None, str | None]:
        """Peak bytes above the allocation in use at `reset()`, or (None, why)."""
        if self.note:
            return None, self.note
        if self.backend == "jax":
            stats = self.device.memory_stats()
            if stats["peak_bytes_in_use"] <= self.start["peak_bytes_in_use"]:
                return None, "jax peak_bytes_in_use did not rise above an earlier peak"
            return stats["peak_bytes_in_use"] - self.start["bytes_in_use"], None
        if self.backend == "tensorflow":
            try:
                info = self.tf.config.experimental.get_memory_info(self.device)
            except Exception as exc:  # noqa: BLE001
                return None, f"get_memory_info({self.device!r}) fails: {type(exc).__name__}"
            if info["peak"] == 0:
                return None, f"get_memory_info({self.device!r}) reports 0 (not tracked)"
            return info["peak"], None
        return self.torch.cuda.max_memory_allocated() - self.start, None


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def memory_case(args: dict) -> dict:
    """Peak memory of one call: `args` = {label, impl: ours|keras|floor, shape, dtype}."""
    import keras

    sync = make_sync()
    shape, dtype, impl = tuple(args["shape"]), args.get("dtype", "float32"), args["impl"]
    out_bytes = math.prod(shape) * _itemsize(dtype)
    if impl == "floor":
        def call(s):
            return keras.ops.ones(s, dtype=dtype)
    else:
        init = cases.spec_by_label(args["label"]).make(impl)

        def call(s):
            return init(s, dtype=dtype)
    sync(call(tuple(min(d, 8) for d in shape)))  # warm-up at a tiny shape of the same rank
    allocator = _Allocator()
    rec = {"scheme": args["label"], "impl": impl, "shape": list(shape), "dtype": dtype,
           "output_bytes": out_bytes, "allocator_note": allocator.note}
    for which in ("first", "second"):
        gc.collect()
        rss_before = proc_status_kib("VmRSS")
        maxrss_before = _maxrss_bytes()
        hwm_ok = reset_peak_rss()
        allocator.reset()
        t0 = time.perf_counter()
        x = sync(call(shape))
        seconds = time.perf_counter() - t0
        hwm, rss_after = proc_status_kib("VmHWM"), proc_status_kib("VmRSS")
        maxrss_delta = _maxrss_bytes() - maxrss_before
        alloc_peak, alloc_note = allocator.peak_bytes()
        del x
        if hwm_ok and hwm is not None and rss_before is not None:
            method, peak = "VmHWM reset via /proc/self/clear_refs", (hwm - rss_before) * 1024
        else:
            method, peak = "ru_maxrss delta (no clear_refs)", maxrss_delta
        rec[which] = {
            "seconds": seconds,
            "method": method,
            "rss_before_bytes": None if rss_before is None else rss_before * 1024,
            "peak_over_output": peak / out_bytes,
            "resident_after_over_output": None if rss_after is None or rss_before is None
            else (rss_after - rss_before) * 1024 / out_bytes,
            "ru_maxrss_delta_over_output": maxrss_delta / out_bytes,
            "allocator_peak_over_output": None if alloc_peak is None else alloc_peak / out_bytes,
            "allocator_note": alloc_note,
        }
    return rec


def _itemsize(dtype: str) -> int:
    return {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}[dtype]


def jit_memory(args: dict) -> dict:
    """`memory_analysis()` of `jax.jit(lambda: init(shape, dtype="float32"))`, compiled only."""
    import jax
    import jax.numpy as jnp

    shape = tuple(args["shape"])
    out_bytes = math.prod(shape) * 4
    fns = {}
    for label in cases.JIT_SCHEMES:
        for impl in ("ours", "keras"):
            init = cases.spec_by_label(label).make(impl)
            fns[(label, impl)] = lambda init=init: init(shape, dtype="float32")
    plain = {
        "jax.random.normal": lambda: jax.random.normal(jax.random.key(0), shape, "float32"),
        "jax.random.uniform": lambda: jax.random.uniform(jax.random.key(0), shape, "float32"),
        "jax.random.truncated_normal": lambda: jax.random.truncated_normal(
            jax.random.key(0), -2.0, 2.0, shape, "float32"),
        "jax.numpy.ones": lambda: jnp.ones(shape, "float32"),
    }
    fns.update({(name, "plain"): fn for name, fn in plain.items()})
    records = []
    for (label, impl), fn in fns.items():
        rec = {"scheme": label, "impl": impl, "shape": list(shape), "output_bytes": out_bytes}
        try:
            t0 = time.perf_counter()
            analysis = jax.jit(fn).lower().compile().memory_analysis()
            rec["compile_s"] = time.perf_counter() - t0
            if analysis is None:
                rec["error"] = "memory_analysis() returned None"
            else:
                rec["temp_bytes"] = int(analysis.temp_size_in_bytes)
                rec["compiled_output_bytes"] = int(analysis.output_size_in_bytes)
                rec["temp_over_output"] = analysis.temp_size_in_bytes / out_bytes
        except Exception as exc:  # noqa: BLE001
            rec["error"] = error_text(exc)
        records.append(rec)
    return {"jit": records, "device": str(jax.devices()[0])}
