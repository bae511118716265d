"""Helpers shared by the worker modes: backend sync, error text, /proc readings."""

from __future__ import annotations

import re


def make_sync():
    """A function that waits until a backend result is computed, without a host copy.

    JAX: `jax.block_until_ready`. TensorFlow: `tf.test.experimental.sync_devices()` (eager CPU
    ops are synchronous already; this costs ~0.1 ms). torch: `torch.cuda.synchronize()` with
    CUDA, nothing on CPU (synchronous).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.block_until_ready
    if backend == "tensorflow":
        import tensorflow as tf

        def sync_tf(x):
            tf.test.experimental.sync_devices()
            return x

        return sync_tf
    import torch

    if torch.cuda.is_available():
        def sync_cuda(x):
            torch.cuda.synchronize()
            return x

        return sync_cuda
    return lambda x: x


def error_text(exc: BaseException) -> str:
    """`ExceptionType: first line of the message` (at most 200 characters of it)."""
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def proc_status_kib(field: str) -> int | None:
    """A `VmXXX:` field of /proc/self/status in KiB (None where /proc is not available)."""
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def reset_peak_rss() -> bool:
    """Resets the kernel's RSS high-water mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# RESULTS.md holds the issue-5 report that `bench.py` writes whole, followed by sections that
# the other benchmark scripts (model-level tools, portable seeding, diagnostics) write, each
# between its own markers. Each writer replaces only its own section and keeps the others.
_SECTION = re.compile(r"<!-- section:(?P<name>[\w-]+) -->\n.*?<!-- /section:(?P=name) -->\n",
                      re.S)


def sections(text: str) -> dict[str, str]:
    """The marked sections of a RESULTS.md text, by name, markers included."""
    return {m["name"]: m[0] for m in _SECTION.finditer(text)}


def write_results(path: str, main: str | None = None, section: tuple[str, str] | None = None):
    """Writes RESULTS.md: `main` replaces the issue-5 report (None keeps it); `section=(name,
    markdown)` replaces or appends that marked section. Every other section is kept."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    kept = sections(old)
    if main is None:
        main = _SECTION.sub("", old).rstrip("\n") + "\n"
    if section is not None:
        name, markdown = section
        kept[name] = (f"<!-- section:{name} -->\n{markdown.rstrip()}\n"
                      f"<!-- /section:{name} -->\n")
    with open(path, "w") as f:
        f.write(main.rstrip("\n") + "\n" + "".join("\n" + s for s in kept.values()))
