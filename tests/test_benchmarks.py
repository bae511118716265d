"""The benchmark harness (benchmarks/bench.py) runs in smoke mode and writes well-formed results.

Runs `bench.py --smoke` for the current backend in a subprocess. It asserts no timing: the
numbers live in benchmarks/RESULTS.md, and timed tests flake on shared machines.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
BACKEND = keras.backend.backend()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, os.path.join(BENCH, "bench.py"), "--smoke", "--backends", BACKEND,
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(out / "results.json") as f:
        return json.load(f), (out / "results.md").read_text()


def _numbers(*values):
    return all(isinstance(v, (int, float)) and v >= 0 for v in values)


def _expected_labels():
    sys.path.insert(0, BENCH)
    try:
        import cases
    finally:
        sys.path.remove(BENCH)
    return cases, {s.label for s in cases.shared_specs(cases.SMOKE_SHAPES, smoke=True)}


@pytest.mark.slow
def test_smoke_sections(smoke):
    res, md = smoke
    cases, labels = _expected_labels()
    assert res["errors"] == []
    meta = res["meta"]
    for key in ("cpu", "cores", "python", "versions", "date_utc", "command", "config", "git",
                "git_end", "duration_s"):
        assert key in meta
    assert "keras" in meta["versions"] and meta["config"]["backends"] == [BACKEND]

    # 1. every shared scheme timed, ours, Keras and the floor, with ratios
    assert {r["scheme"] for r in res["per_call"]} == labels
    assert {"VarianceScaling(uniform)", "HeNormal", "Orthogonal"} <= labels
    for r in res["per_call"]:
        assert r["backend"] == BACKEND
        for impl in ("ours", "keras", "floor"):
            assert _numbers(r[impl]["median_s"], r[impl]["first_s"], *r[impl]["times_s"])
        assert _numbers(r["ratio"], r["paired_ratio"], r["floor_ratio"])

    # 2. memory (floor + ours + Keras, fresh processes) and out-of-bounds counts
    impls = {r["impl"] for r in res["memory"]}
    assert impls == {"floor", "ours", "keras"}
    for r in res["memory"]:
        for which in ("first", "second"):
            assert _numbers(r[which]["peak_over_output"], r[which]["ru_maxrss_delta_over_output"])
            assert r[which]["allocator_peak_over_output"] is not None or r[which]["allocator_note"]
    assert {r["scheme"] for r in res["oob"]} == set(cases.TRUNCATED_FAMILY)
    for r in res["oob"]:
        assert isinstance(r["ours"]["out_of_bounds"], int)
        assert isinstance(r["keras"]["out_of_bounds"], int)

    # 3. Orthogonal in three dtypes; Keras either timed or recorded as failing
    assert [r["dtype"] for r in res["orthogonal"]] == cases.ORTHO_DTYPES
    for r in res["orthogonal"]:
        assert _numbers(r["ours"]["median_s"])
        assert "median_s" in r["keras"] or r["keras"]["error"]

    # 4. jax.jit memory on JAX only
    if BACKEND == "jax":
        jit = {(r["scheme"], r["impl"]): r for r in res["jit"]}
        for label in cases.JIT_SCHEMES:
            assert _numbers(jit[(label, "ours")]["temp_over_output"],
                            jit[(label, "keras")]["temp_over_output"])
        assert _numbers(jit[("jax.random.normal", "plain")]["temp_over_output"])
    else:
        assert res["jit"] == []

    # 5. model builds, both implementations; the override took effect
    assert {(r["model"], r["impl"]) for r in res["build"]} == {("tiny", "keras"), ("tiny", "ours")}
    for r in res["build"]:
        assert _numbers(r["seconds"]) and r["kernels"]
        if r["impl"] == "ours":
            assert r["initializers"]["keras_inits"] > 0 and r["initializers"]["keras"] == 0
    (build,) = res["summary"]["build"]
    assert build["kernels_compared"] == build["kernels_total"] > 0

    # 6. targets and the Markdown
    assert res["summary"]["targets"]
    assert all(t["pass"] in (True, False, None) for t in res["summary"]["targets"])
    for heading in ("## Targets of issue 5", "## Per-call time", "## Peak memory",
                    "## Orthogonal", "## Model build"):
        assert heading in md
