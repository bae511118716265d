"""Benchmark harness of issue 5: keras_inits against Keras' built-in initializers.

Usage (from the repository root, with the package installed, e.g. `make install`):

    make bench                                   # full run, all 3 backends; updates RESULTS.md
    python benchmarks/bench.py                   # the same, without --results: out/ only
    python benchmarks/bench.py --smoke --backends jax          # tiny shapes, 1 repeat
    python benchmarks/bench.py --backends torch --sections per_call,memory --repeats 7

Sections (`--sections`, default all): `per_call` (per-call timings against Keras and the `ones`
floor, Orthogonal 2048x2048 in float32/float16/bfloat16, out-of-bounds counts of the truncated
family), `memory` (peak RSS per call, one fresh process per case), `jit` (JAX compiled temporary
memory) and `build` (ResNet50 and a 12-block transformer stack, fresh process per build).
Methods are described in the docstrings of worker.py, memory.py and models.py.

Writes `results.json` (raw numbers, machine, versions, command) and `results.md` (tables with
pass/fail against the issue's targets) to `--out` (default benchmarks/out/, git-ignored), and
with `--results FILE` also the Markdown to FILE (ignored in smoke mode).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import cases  # noqa: E402
import common  # noqa: E402
import machine  # noqa: E402
import report  # noqa: E402
import targets  # noqa: E402

BACKENDS = ["tensorflow", "jax", "torch"]
SECTIONS = ["per_call", "memory", "jit", "build"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma-separated backends (default: %(default)s)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help="comma-separated sections (default: %(default)s)")
    p.add_argument("--shapes", default=None,
                   help="per-call shapes, e.g. 1024x1024,3x3x256x256 (default: the issue's four)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per case, interleaved ours/Keras/floor (default 5; smoke 1)")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed calls per implementation (at least 1)")
    p.add_argument("--build-repeats", type=int, default=None,
                   help="fresh processes per (backend, model, impl) (default 3; smoke 1)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="memory-case processes run at once (untimed section; default %(default)s)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny shapes, 1 repeat, tiny model: checks the harness, not the speed")
    p.add_argument("--out", default=os.path.join("benchmarks", "out"), help="output folder")
    p.add_argument("--results", default=None,
                   help="also write the Markdown here (e.g. benchmarks/RESULTS.md); not in smoke")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per subprocess")
    p.add_argument("--from-json", default=None,
                   help="re-render the Markdown of an earlier results.json (runs nothing)")
    args = p.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    args.sections = [s for s in args.sections.split(",") if s]
    for name, given, known in (("backend", args.backends, BACKENDS),
                               ("section", args.sections, SECTIONS)):
        bad = sorted(set(given) - set(known))
        if bad:
            p.error(f"unknown {name}(s) {bad}; known: {known}")
    mode = "smoke" if args.smoke else "full"
    args.mode = mode
    args.shape_list = ([cases.parse_shape(s) for s in args.shapes.split(",")] if args.shapes
                       else cases.SMOKE_SHAPES if args.smoke else cases.FULL_SHAPES)
    args.repeats = args.repeats if args.repeats is not None else (1 if args.smoke else 5)
    args.build_repeats = args.build_repeats or (1 if args.smoke else 3)
    return args


def run_worker(mode: str, backend: str, payload: dict, log_path: str, timeout: int) -> dict:
    """Runs `worker.py MODE` in a fresh process with KERAS_BACKEND=backend; returns its JSON."""
    env = {**os.environ, "KERAS_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    fd, result_path = tempfile.mkstemp(suffix=".json", prefix=f"bench-{mode}-")
    os.close(fd)
    cmd = [sys.executable, os.path.join(HERE, "worker.py"), mode, json.dumps(payload),
           result_path]
    try:
        with open(log_path, "a") as log:
            log.write(f"$ KERAS_BACKEND={backend} {shlex.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=log, stderr=log,
                                  timeout=timeout)
        with open(result_path) as f:
            text = f.read()
        if proc.returncode != 0 or not text:
            return {"error": f"worker exited with {proc.returncode}; see {log_path}"}
        return json.loads(text)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s; see {log_path}"}
    finally:
        os.unlink(result_path)


def _say(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    logs = os.path.join(args.out, "logs")
    os.makedirs(logs, exist_ok=True)
    res = {"meta": machine.info(args), "per_call": [], "orthogonal": [], "oob": [],
           "memory": [], "jit": [], "build": [], "errors": []}

    def log(name):
        return os.path.join(logs, f"{name}.log")

    def record_error(section, backend, out, **extra):
        res["errors"].append({"section": section, "backend": backend, **extra,
                              "error": out["error"], "traceback": out.get("traceback")})
        _say(f"ERROR {section} {backend} {extra}: {out['error']}", t0)

    if "per_call" in args.sections:
        for backend in args.backends:
            _say(f"per_call {backend}", t0)
            payload = {"shapes": [list(s) for s in args.shape_list], "repeats": args.repeats,
                       "warmup": args.warmup, "smoke": args.smoke}
            out = run_worker("per_call", backend, payload, log(f"{backend}-per_call"),
                             args.timeout)
            if "error" in out:
                record_error("per_call", backend, out)
                continue
            for key in ("per_call", "orthogonal", "oob"):
                res[key] += [{"backend": backend, **r} for r in out[key]]

    if "memory" in args.sections:
        jobs = []
        for backend in args.backends:
            floor = cases.MEMORY_FLOOR[args.mode]
            jobs.append((backend, {"label": "ones", "impl": "floor", "shape": list(floor)}))
            for label, shape in cases.MEMORY_CASES[args.mode]:
                for impl in ("ours", "keras"):
                    jobs.append((backend, {"label": label, "impl": impl, "shape": list(shape)}))
        _say(f"memory: {len(jobs)} fresh processes, {args.jobs} at a time", t0)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [(b, p, pool.submit(run_worker, "memory", b, p, log(f"{b}-memory"),
                                          args.timeout)) for b, p in jobs]
            for backend, payload, future in futures:
                out = future.result()
                if "error" in out:
                    record_error("memory", backend, out, case=payload)
                else:
                    res["memory"].append({"backend": backend, **out})

    if "jit" in args.sections and "jax" in args.backends:
        _say("jit (jax)", t0)
        out = run_worker("jit", "jax", {"shape": list(cases.JIT_SHAPE[args.mode])},
                         log("jax-jit"), args.timeout)
        if "error" in out:
            record_error("jit", "jax", out)
        else:
            res["jit"] = [{"backend": "jax", "device": out["device"], **r} for r in out["jit"]]

    if "build" in args.sections:
        models = cases.BUILD_MODELS[args.mode]
        for rep in range(args.build_repeats):
            for backend in args.backends:
                for model in models:
                    # Alternate which implementation builds first, round by round.
                    for impl in ("keras", "ours") if rep % 2 == 0 else ("ours", "keras"):
                        _say(f"build {backend} {model} {impl} (round {rep + 1})", t0)
                        out = run_worker("build", backend, {"model": model, "impl": impl},
                                         log(f"{backend}-build"), args.timeout)
                        if "error" in out:
                            record_error("build", backend, out, model=model, impl=impl)
                        else:
                            res["build"].append({"backend": backend, "round": rep, **out})

    res["meta"]["duration_s"] = time.perf_counter() - t0
    res["meta"]["loadavg_end"] = machine.loadavg()
    # Every worker imports keras_inits afresh: record whether the package changed during the run.
    res["meta"]["git_end"] = machine.git_state()
    res["summary"] = targets.summarize(res)
    _say("done", t0)
    return res


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            res = json.load(f)
        res["summary"] = targets.summarize(res)
        args.smoke = res["meta"]["config"]["mode"] == "smoke"
    else:
        res = run(args)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    markdown = report.markdown(res)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(markdown)
    print(f"wrote {os.path.join(args.out, 'results.json')} and results.md", file=sys.stderr)
    if args.results and args.smoke:
        print(f"--results ignored in smoke mode ({args.results} not written)", file=sys.stderr)
    elif args.results:
        common.write_results(args.results, main=markdown)  # keeps the other scripts' sections
        print(f"wrote {args.results}", file=sys.stderr)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
