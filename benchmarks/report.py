"""The Markdown report (`markdown(res)`): one table per section, every table states its unit.

Pass/fail marks come from `targets.py`; this module only renders.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import cases
from targets import T, floor_ratio, floors, select, summarize
from worker import MAX_ROUNDS, ROUND_BUDGET_S


def _ms(s):
    """Seconds as milliseconds with 3 significant digits (at least 0.001 ms resolution)."""
    if s is None:
        return "—"
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 \
        else f"{ms:.0f}"


def _x(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def _pf(ok):
    return "—" if ok is None else "pass" if ok else "**FAIL**"


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _impl(rec, impl):
    part = rec.get(impl, {})
    return part.get("median_s"), part.get("error")


def markdown(res) -> str:
    meta, summary = res["meta"], res.get("summary") or summarize(res)
    v, cfg = meta["versions"], meta["config"]
    md = ["# keras_inits benchmark results\n",
          f"Produced by `{meta['command']}` (`make bench` runs `python benchmarks/bench.py "
          "--results benchmarks/RESULTS.md`) on {date}, in {dur:.0f} s.\n".format(
              date=meta["date_utc"], dur=meta.get("duration_s", 0)),
          f"- Machine: {meta['cpu']}, {meta['cores']} cores ({meta['usable_cores']} usable), "
          f"{meta['memory_gib']} GiB RAM, GPUs: {', '.join(meta['gpus']) or 'none'}; "
          f"{meta['platform']}.",
          f"- Python {meta['python']}; " + ", ".join(f"{k} {x}" for k, x in v.items()) + ".",
          f"- keras_inits at git commit `{meta['git']['commit'][:12]}`"
          + (" with uncommitted changes in keras_inits/" if meta["git"]["keras_inits_dirty"]
             else "") + ".",
          _package_changed(meta),
          f"- Load average (1 min) at start/end: {meta.get('loadavg_start', '?')} / "
          f"{meta.get('loadavg_end', '?')} on {meta['usable_cores']} cores (other work on the "
          "machine adds noise; the interleaved rounds share it between ours and Keras).",
          f"- Config: mode {cfg['mode']}, backends {', '.join(cfg['backends'])}, "
          f"{cfg['repeats']} timed round(s) per case"
          + (f" at least (fast cases: as many as fit in {ROUND_BUDGET_S} s, up to {MAX_ROUNDS})"
             if cfg["repeats"] > 1 else "") + " after at least 2 warm-up calls, "
          f"{cfg['build_repeats']} fresh process(es) per build.\n",
          "Methods: the docstrings of `benchmarks/worker.py` (timing), `benchmarks/memory.py` "
          "(RSS and allocator peaks, jit memory) and `benchmarks/models.py` (model builds). "
          "Times are medians in ms; ratios are ours / Keras of the medians (< 1: ours faster). "
          "All on CPU, float32 unless stated.\n"]
    md += _targets_md(summary["targets"])
    md += _per_call_md(res)
    md += _truncated_md(res)
    md += _memory_md(res)
    md += _orthogonal_md(res)
    md += _jit_md(res)
    md += _build_md(summary["build"])
    if res["errors"]:
        md.append("## Errors\n")
        md += [f"- {e['section']} {e['backend']} {e.get('case') or e.get('model') or ''}: "
               f"{e['error']}" for e in res["errors"]]
    return "\n".join(md) + "\n"


def _package_changed(meta) -> str:
    """A warning line if keras_inits/ differed between the start and the end of the run."""
    start, end = meta["git"], meta.get("git_end")
    key = ("keras_inits_tree", "keras_inits_diff")
    if not end:
        return "- Whether keras_inits/ changed during the run: not recorded."
    if all(start.get(k) == end.get(k) for k in key):
        return "- keras_inits/ was the same at the start and the end of the run."
    return (f"- **keras_inits/ changed during the run** (at the end: commit "
            f"`{end['commit'][:12]}`): later sections measured newer code.")


def _targets_md(targets):
    groups = defaultdict(list)
    for t in targets:
        groups[(t["target"], t["limit"])].append(t)
    rows = []
    for (name, limit), ts in groups.items():
        known = [t for t in ts if t["pass"] is not None]
        fails = [f"{t['backend']} {t['case']} ({_x(t['value'])})" for t in known if not t["pass"]]
        rows.append([name, limit, f"{sum(t['pass'] for t in known)}/{len(known)}",
                     _pf(bool(known) and not fails) if known else "—",
                     "; ".join(fails[:8]) + (f"; … {len(fails) - 8} more" if len(fails) > 8
                                             else "")])
    return ["## Targets of issue 5\n",
            _table(["target", "limit", "passed", "all pass", "failing cases (value)"], rows)]


def _per_call_md(res):
    md = ["## Per-call time, ours vs Keras\n",
          "Cell: ratio ours/Keras, pass/FAIL against <= 1.0, then median ms ours / Keras.\n"]
    for backend in dict.fromkeys(r["backend"] for r in res["per_call"]):
        recs = select(res["per_call"], backend=backend)
        shapes = list(dict.fromkeys(cases.shape_str(r["shape"]) for r in recs))
        main = [s for s in shapes if any(cases.shape_str(r["shape"]) == s and r["scheme"] not in
                                         cases.OWN_SHAPES for r in recs)]
        rows, extra = [], []
        for scheme in dict.fromkeys(r["scheme"] for r in recs):
            cells = {cases.shape_str(r["shape"]): _cell(r) for r in select(recs, scheme=scheme)}
            if scheme in cases.OWN_SHAPES:
                extra += [[scheme, s, c] for s, c in cells.items()]
            else:
                rows.append([scheme] + [cells.get(s, "n/a") for s in main])
        spread = [max(r["keras"]["times_s"]) / min(r["keras"]["times_s"]) - 1 for r in recs
                  if len(r.get("keras", {}).get("times_s", [])) > 1]
        noise = (f"Run-to-run spread of Keras' own calls (max/min - 1 over the rounds, median "
                 f"over cases): {statistics.median(spread) * 100:.0f}%.\n" if spread else "")
        md += [f"### {backend}\n", noise, _table(["scheme"] + main, rows)]
        if extra:
            md += ["Schemes with their own shape rule:\n",
                   _table(["scheme", "shape", "cell"], extra)]
    big = cases.shape_str(cases.TARGET_SHAPE)
    recs = [r for r in res["per_call"] if cases.shape_str(r["shape"]) == big]
    if recs:
        pooled = floors(res)
        backends = list(dict.fromkeys(r["backend"] for r in recs))
        rows = []
        for scheme in dict.fromkeys(r["scheme"] for r in recs):
            row = [scheme + (" (uniform family)" if scheme in cases.UNIFORM_FAMILY else "")]
            for b in backends:
                r = next(iter(select(recs, backend=b, scheme=scheme)), None)
                if r is None:
                    row += ["—"] * 4
                    continue
                own = (r.get("floor") or {}).get("median_s")
                ref = pooled[f"{b} {big}"]["median_s"]
                odd = " †" if own and not 0.5 <= own / ref <= 2 else ""
                row += [_x(r.get("floor_ratio")), _x(r.get("keras_floor_ratio")),
                        _ms(own) + odd, _x(floor_ratio(r, "ours", pooled))]
            rows.append(row)
        head = ["scheme"] + [f"{b} {c}" for b in backends
                             for c in ("ours/floor", "Keras/floor", "floor ms",
                                       "ours/pooled floor")]
        notes = [f"{b}: {_ms(f['median_s'])} ms (median of {f['rounds']} rounds; per-row "
                 f"medians {_ms(f['row_min_s'])}–{_ms(f['row_max_s'])} ms)"
                 for b in backends for f in [pooled.get(f"{b} {big}")] if f]
        md += [f"### Against the `keras.ops.ones` floor at {big}\n",
               f"Target: uniform family <= {T['uniform_floor_ratio']}x the floor. The floor is "
               "`keras.ops.ones` at the same shape, timed in the same interleaved rounds as the "
               "row's ours and Keras calls; ratios and the target use it. The pooled floor is "
               "the median over all rows' rounds of the backend: " + "; ".join(notes) + ". † "
               "marks a row whose floor is more than 2x off the pooled one (the row ran in an "
               "unusual allocator or load state). Where a backend's allocator "
               "keeps freed memory resident (memory table: second call near 0), `ones` is a "
               "plain write; where it returns large buffers to the OS, the floor also includes "
               "page-faulting the fresh memory in, and so does every initializer call.\n",
               _table(head, rows)]
    return md


def _cell(r):
    (to, eo), (tk, ek) = _impl(r, "ours"), _impl(r, "keras")
    if eo or ek:
        return f"ours: {eo or _ms(to)}; Keras: {ek or _ms(tk)}"
    return f"{_x(r['ratio'])} {_pf(r['ratio'] <= T['per_call_ratio'])} ({_ms(to)} / {_ms(tk)})"


def _truncated_md(res):
    if not res["oob"]:
        return []
    rows = []
    for r in res["oob"]:
        pc = next(iter(select(res["per_call"], backend=r["backend"], scheme=r["scheme"],
                            shape=r["shape"])), {})
        mem = {i: next(iter(select(res["memory"], backend=r["backend"], scheme=r["scheme"],
                                 impl=i, shape=r["shape"])), None) for i in ("ours", "keras")}
        peak = {i: m["first"]["peak_over_output"] if m else None for i, m in mem.items()}
        rows.append([r["backend"], r["scheme"], cases.shape_str(r["shape"]), _x(pc.get("ratio")),
                     _x(peak["ours"], 1), _x(peak["keras"], 1), r["ours"]["out_of_bounds"],
                     r["keras"]["out_of_bounds"], _x(r["ours"]["max_abs_over_bound"], 4),
                     _x(r["keras"]["max_abs_over_bound"], 4)])
    return ["## Truncated-normal family: speed, memory, bounds\n",
            "Bound: mean ± 2·stddev before truncation (VarianceScaling family: "
            "sqrt(scale/n)/0.8796…), counted with a relative slack of "
            f"{cases.OOB_REL_TOL:g}. Targets on torch at 4096x4096: ratio <= "
            f"{T['torch_truncated_ratio']}, peak <= {T['torch_truncated_memory']}x output, 0 "
            "out of bounds. Peak = first-call RSS high-water mark over output size.\n",
            _table(["backend", "scheme", "shape", "ours/Keras time", "peak ours ×",
                    "peak Keras ×", "out of bounds ours", "out of bounds Keras",
                    "max |x|/bound ours", "max |x|/bound Keras"], rows)]


def _memory_md(res):
    if not res["memory"]:
        return []
    rows, notes = [], set()
    for r in res["memory"]:
        f, s = r["first"], r["second"]
        notes.add(f"{r['backend']}: {f['allocator_note']}" if f["allocator_note"] else None)
        rows.append([r["backend"], r["scheme"], r["impl"], cases.shape_str(r["shape"]),
                     _x(f["peak_over_output"]), _x(s["peak_over_output"]),
                     _x(f["ru_maxrss_delta_over_output"]), _x(f["allocator_peak_over_output"]),
                     f["method"]])
    notes.discard(None)
    return ["## Peak memory per call (fresh process per case)\n",
            "Multiples of the output size. first: the first call at this shape (on JAX it "
            "includes compiling); second: the same call again. 1.0 = the output alone.\n",
            _table(["backend", "scheme", "impl", "shape", "RSS peak first", "RSS peak second",
                    "ru_maxrss delta", "allocator peak", "method"], rows),
            "Allocator peaks unavailable: " + "; ".join(sorted(notes)) + ".\n" if notes else ""]


def _orthogonal_md(res):
    if not res["orthogonal"]:
        return []
    rows = []
    for r in res["orthogonal"]:
        (to, eo), (tk, ek) = _impl(r, "ours"), _impl(r, "keras")
        ok = r["ratio"] <= T["orthogonal_ratio"] if r["dtype"] == "float32" and r.get(
            "ratio") is not None else None
        rows.append([r["backend"], cases.shape_str(r["shape"]), r["dtype"], eo or _ms(to),
                     f"fails ({ek.split(':')[0]})" if ek else _ms(tk), _x(r.get("ratio")),
                     _pf(ok)])
    return ["## Orthogonal\n", f"Target: float32 ratio <= {T['orthogonal_ratio']}.\n",
            _table(["backend", "shape", "dtype", "ours ms", "Keras ms", "ratio", "target"],
                   rows)]


def _jit_md(res):
    if not res["jit"]:
        return []
    rows = defaultdict(dict)
    for r in res["jit"]:
        rows[r["scheme"]][r["impl"]] = r.get("temp_over_output", r.get("error"))
    table = [[s, _x(d.get("ours")), _x(d.get("keras")), _x(d.get("plain")),
              _pf(d["ours"] <= T["jit_temp"]) if isinstance(d.get("ours"), float) else "—"]
             for s, d in rows.items()]
    shape = cases.shape_str(res["jit"][0]["shape"])
    return ["## Temporary memory under `jax.jit`\n",
            f"`jax.jit(lambda: init(({shape.replace('x', ', ')}), dtype=\"float32\")).lower()"
            ".compile().memory_analysis().temp_size_in_bytes` over the output size "
            f"(device {res['jit'][0]['device']}). Target: ours <= {T['jit_temp']}.\n",
            _table(["scheme", "ours", "Keras", "plain jax", "target"], table)]


def _build_md(builds):
    if not builds:
        return []
    rows = []
    for b in builds:
        ok = b["ratio"] <= T["jax_build_ratio"] if b["backend"] == "jax" else None
        layers = b["override_layers"]
        rows.append([b["backend"], b["model"], f"{b['params'] / 1e6:.1f}M",
                     f"{b['keras_s']:.2f}", f"{b['ours_s']:.2f}", _x(b["ratio"]), _pf(ok),
                     f"{b['kernels_compared']}/{b['kernels_total']}",
                     f"{b['max_rel_std_diff'] * 100:.2f}%", _x(b["max_abs_z"], 1),
                     _pf(b["distribution_unchanged"]),
                     f"{layers['keras_inits']} ours, {layers['keras']} Keras"])
    return ["## Model build (fresh process per build)\n",
            f"Median seconds over the runs; target ratio <= {T['jax_build_ratio']} on JAX only. "
            "Kernel std: max relative difference and max |z| (std difference over its "
            f"sampling error) across kernels, unchanged if |z| <= {cases.BUILD_Z_LIMIT}. "
            "Initializers: layers of the keras_inits build by the source of their kernel "
            "initializer.\n",
            _table(["backend", "model", "params", "Keras s", "ours s", "ratio", "target",
                    "kernels", "max rel std diff", "max |z|", "unchanged", "initializers"],
                   rows)]
