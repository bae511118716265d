"""The issue's targets (pass/fail) and the model-build summary, from the raw results.

`summarize(res)` checks every target of issue 5 that the run has data for and returns
`{"targets": [...], "build": [...], "floors": {...}}`; a target without data (e.g. in smoke
mode, which has no 4096x4096 shape) is simply absent.

Distribution check of the model builds: for each kernel (weight of rank >= 2), `s_k` and `s_o` are
its std averaged over the Keras and the keras_inits builds. The std of a sample of n values with
kurtosis k has a relative standard error of sqrt((k - 1) / (4 n)), so
`z = (s_o - s_k) / (s_k * sqrt((k - 1) / (4 n)) * sqrt(1/R_k + 1/R_o))`. The distribution counts as
unchanged when max |z| over all kernels <= `cases.BUILD_Z_LIMIT`.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import cases

T = cases.TARGETS


def select(rows, **match):
    """The rows (dicts) whose keys equal every `match` value."""
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def _target(out, name, limit, value, backend, case, op="<="):
    ok = None if value is None else (value <= limit if op == "<=" else value == limit)
    out.append({"target": name, "limit": f"{op} {limit}", "backend": backend, "case": case,
                "value": value, "pass": ok})


def build_summary(res) -> list[dict]:
    """Median build times per (backend, model, impl), their ratio and the distribution check."""
    groups = defaultdict(list)
    for r in res["build"]:
        groups[(r["backend"], r["model"])].append(r)
    rows = []
    for (backend, model), runs in groups.items():
        keras_runs, ours_runs = select(runs, impl="keras"), select(runs, impl="ours")
        if not keras_runs or not ours_runs:
            continue
        tk = statistics.median(r["seconds"] for r in keras_runs)
        to = statistics.median(r["seconds"] for r in ours_runs)
        rows.append({"backend": backend, "model": model, "keras_s": tk, "ours_s": to,
                     "ratio": to / tk, "runs": (len(keras_runs), len(ours_runs)),
                     "params": keras_runs[0]["params"],
                     "override_layers": ours_runs[0]["initializers"],
                     **_distribution(keras_runs, ours_runs)})
    return rows


def _distribution(keras_runs, ours_runs) -> dict:
    def mean_stats(runs):
        by_path = defaultdict(list)
        for r in runs:
            for k in r["kernels"]:
                by_path[k["path"]].append(k)
        return by_path

    k_stats, o_stats = mean_stats(keras_runs), mean_stats(ours_runs)
    worst_rel, worst_z, worst_path, n = 0.0, 0.0, None, 0
    for path, ks in k_stats.items():
        os_ = o_stats.get(path)
        if not os_:
            continue
        s_k = statistics.fmean(k["std"] for k in ks)
        s_o = statistics.fmean(k["std"] for k in os_)
        n += 1
        if s_k == 0:  # constant kernels (zero biases of rank 2): equal or infinitely apart
            worst_path = worst_path if s_o == 0 else path
            worst_z = worst_z if s_o == 0 else math.inf
            continue
        kurt = statistics.fmean(k["kurtosis"] or 3.0 for k in ks)
        se = s_k * math.sqrt(max(kurt - 1, 1e-6) / (4 * ks[0]["n"])) * math.sqrt(
            1 / len(ks) + 1 / len(os_))
        rel, z = abs(s_o - s_k) / s_k, (s_o - s_k) / se
        worst_rel = max(worst_rel, rel)
        if abs(z) > abs(worst_z):
            worst_z, worst_path = z, path
    return {"kernels_compared": n, "kernels_total": len(k_stats), "max_rel_std_diff": worst_rel,
            "max_abs_z": abs(worst_z), "max_z_kernel": worst_path,
            "distribution_unchanged": n > 0 and n == len(k_stats)
            and abs(worst_z) <= cases.BUILD_Z_LIMIT}


def floors(res) -> dict:
    """The `ones` floor per backend and shape, pooled: `{"backend shape": {...}}`.

    The targets use each row's own floor (timed in the same interleaved rounds as ours and
    Keras'). The pooled floor, the median over every timed `ones` round at that shape in the
    backend's process, is reported next to it: the floor does not depend on the scheme, so a
    row whose floor is far from the pooled one shows a row measured in an unusual state (e.g.
    64 MiB served from resident memory in ~2 ms instead of page-faulted in ~25 ms, or a burst
    of load from other processes).
    """
    pooled, row_medians = defaultdict(list), defaultdict(list)
    for r in res["per_call"]:
        floor = r.get("floor") or {}
        if floor.get("times_s"):
            key = f"{r['backend']} {cases.shape_str(r['shape'])}"
            pooled[key] += floor["times_s"]
            row_medians[key].append(floor["median_s"])
    return {key: {"median_s": statistics.median(times), "rounds": len(times),
                  "row_min_s": min(row_medians[key]), "row_max_s": max(row_medians[key])}
            for key, times in pooled.items()}


def floor_ratio(rec: dict, impl: str, pooled: dict) -> float | None:
    """median(impl) / pooled floor at the record's backend and shape."""
    floor = pooled.get(f"{rec['backend']} {cases.shape_str(rec['shape'])}")
    t = (rec.get(impl) or {}).get("median_s")
    return None if floor is None or t is None else t / floor["median_s"]


def summarize(res) -> dict:
    out: list[dict] = []
    pooled = floors(res)
    big = list(cases.TARGET_SHAPE)
    for r in res["per_call"]:
        _target(out, "per-call ours/Keras", T["per_call_ratio"], r.get("ratio"), r["backend"],
                f"{r['scheme']} {cases.shape_str(r['shape'])}")
    for label in cases.TRUNCATED_FAMILY:
        for r in select(res["per_call"], backend="torch", scheme=label, shape=big):
            _target(out, "torch truncated 4096^2 ours/Keras", T["torch_truncated_ratio"],
                    r.get("ratio"), "torch", label)
        for r in select(res["memory"], backend="torch", scheme=label, impl="ours", shape=big):
            _target(out, "torch truncated 4096^2 peak RSS / output", T["torch_truncated_memory"],
                    r["first"]["peak_over_output"], "torch", label)
        for r in select(res["oob"], backend="torch", scheme=label):
            _target(out, "torch truncated out-of-bounds samples", T["torch_truncated_oob"],
                    r["ours"]["out_of_bounds"], "torch",
                    f"{label} {cases.shape_str(r['shape'])}", op="==")
    for label in cases.UNIFORM_FAMILY:
        for r in select(res["per_call"], scheme=label, shape=big):
            _target(out, "uniform 4096^2 ours / ones floor", T["uniform_floor_ratio"],
                    r.get("floor_ratio"), r["backend"], label)
    for r in select(res["orthogonal"], dtype="float32"):
        _target(out, "Orthogonal float32 ours/Keras", T["orthogonal_ratio"], r.get("ratio"),
                r["backend"], cases.shape_str(r["shape"]))
    for r in select(res["jit"], impl="ours"):
        _target(out, "jax.jit temp / output", T["jit_temp"], r.get("temp_over_output"), "jax",
                f"{r['scheme']} {cases.shape_str(r['shape'])}")
    builds = build_summary({"build": res["build"]})
    for b in builds:
        if b["backend"] == "jax":
            _target(out, "JAX model build ours/Keras", T["jax_build_ratio"], b["ratio"], "jax",
                    b["model"])
        _target(out, "model build: kernel std unchanged (max |z|)", cases.BUILD_Z_LIMIT,
                b["max_abs_z"] if b["kernels_compared"] == b["kernels_total"] > 0 else None,
                b["backend"], b["model"])
    return {"targets": out, "build": builds, "floors": pooled}
