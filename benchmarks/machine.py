"""Machine and environment description recorded with every run (no backend is imported here)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ["keras", "keras-inits", "jax", "jaxlib", "tensorflow", "tensorflow-cpu", "torch",
            "numpy", "ml-dtypes"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        return round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def _gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def git_state() -> dict:
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--", "keras_inits")
    return {"commit": git("rev-parse", "HEAD"), "keras_inits_dirty": bool(dirty),
            "keras_inits_tree": git("rev-parse", "HEAD:keras_inits"),
            "keras_inits_diff": git("diff", "HEAD", "--", "keras_inits")[:200_000]}


def _versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def loadavg() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def info(args) -> dict:
    """CPU, cores, memory, GPUs, OS, Python and package versions, git commit, date, command."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    argv = [a for a in sys.argv[1:]]
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
        "platform": platform.platform(),
        "loadavg_start": loadavg(),
        "python": sys.version.split()[0],
        "versions": _versions(),
        "git": git_state(),
        "command": shlex.join(["python", "benchmarks/bench.py", *argv]),
        "config": {
            "mode": args.mode, "backends": args.backends, "sections": args.sections,
            "shapes": [list(s) for s in args.shape_list], "repeats": args.repeats,
            "warmup": args.warmup, "build_repeats": args.build_repeats, "jobs": args.jobs,
        },
    }
