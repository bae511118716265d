"""Without an optional dependency, its features fail with a message naming the extra to install.

Each case runs in a fresh process in which the modules that an extra installs cannot be
imported, as if they were not installed, and calls a CLI command or an entry point.
"""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run first in the child: from then on, importing any of HIDDEN (or a submodule) fails with
# ModuleNotFoundError, and `importlib.util.find_spec` says it is absent, as when it is not
# installed (None in sys.modules is Python's marker for that; torch probes with find_spec).
BLOCKER = textwrap.dedent("""
    import sys

    for name in HIDDEN:
        sys.modules[name] = None
""")


def run_hidden(hidden, code, cwd):
    """Runs `code` in a child process, in `cwd`, where the modules in `hidden` cannot be
    imported."""
    program = f"HIDDEN = {list(hidden)!r}\n{BLOCKER}\n{textwrap.dedent(code)}"
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


CLI = "from keras_inits.cli import main\nsys.exit(main({argv!r}))"


@pytest.mark.slow  # a fresh process per case: about 5 s of CPU each
@pytest.mark.parametrize(
    "hidden, argv, extra",
    [
        (["sklearn"], ["compare", "--epochs", "1"], "diagnostics"),
        (["matplotlib"], ["compare", "--epochs", "1"], "diagnostics"),
        (["scipy.signal"], ["show", "STFT", "--shape", "16,1,9"], "stft"),
    ],
    ids=["compare-without-sklearn", "compare-without-matplotlib", "show-STFT-without-scipy"],
)
def test_cli_exits_2_naming_the_extra(hidden, argv, extra, tmp_path):
    result = run_hidden(hidden, CLI.format(argv=argv), tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert f'pip install "keras-inits[{extra}]"' in result.stderr, result.stderr[-3000:]
    assert hidden[0].split(".")[0] in result.stderr  # it says what is missing
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert not os.path.exists(tmp_path / "out")  # compare stopped before any work


def test_cli_runs_with_the_extra_installed(tmp_path):
    # The control: the same command, nothing hidden, gets past the dependency check.
    result = run_hidden([], CLI.format(argv=["show", "STFT", "--shape", "16,1,9"]), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow  # a fresh process per case: about 5 s of CPU each
@pytest.mark.parametrize(
    "hidden, code, extra",
    [
        (
            ["matplotlib"],
            """
            import numpy as np, keras, keras_inits
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                                      keras.layers.Dense(2)])
            report = keras_inits.propagation_report(model, np.ones((8, 4), "float32"))
            report.plot("never_written.png")
        """,
            "diagnostics",
        ),
        (
            ["scipy.signal"],
            """
            import keras_inits
            keras_inits.STFT(window="hann")
        """,
            "stft",
        ),
    ],
    ids=["PropagationReport.plot-without-matplotlib", "STFT-without-scipy"],
)
def test_entry_points_raise_import_error_naming_the_extra(hidden, code, extra, tmp_path):
    code = textwrap.dedent(code)
    wrapped = (
        "try:\n"
        + textwrap.indent(code, "    ")
        + textwrap.dedent("""
        except ImportError as e:
            print("IMPORT ERROR:", e)
            sys.exit(3)
        sys.exit(0)
    """)
    )
    result = run_hidden(hidden, wrapped, tmp_path)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-3000:]
    assert f'pip install "keras-inits[{extra}]"' in result.stdout, result.stdout[-2000:]
    assert not os.path.exists(tmp_path / "never_written.png")
