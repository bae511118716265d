"""The keras-inits command line: list, show, compare, and errors."""

import math
import os
import subprocess
import sys

import matplotlib.image
import pytest

import keras_inits
from keras_inits._registry import lookup
from keras_inits import cli
from keras_inits._capture import fmt

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_is_fed_by_the_registry(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == keras_inits.names()
    for line, name in zip(lines, keras_inits.names()):
        cls = lookup(name)
        first_line = cls.__doc__.strip().splitlines()[0].strip()
        assert first_line in line  # the summary starts with the formula
        assert "`" in line, line


def test_list_aliases(capsys):
    code, out, _ = run(capsys, "list", "--aliases")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "OrthogonalInitializer" in lines["Orthogonal"]
    assert "normal, random_normal" in lines["RandomNormal"]


def show_table(out):
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("mean", "std", "min", "max"):
            rows[parts[0]] = parts[1:]
    return rows


def test_show_variance_scaling_against_theory(capsys):
    code, out, _ = run(capsys, "show", "he_uniform", "--shape", "3,3,64,128", "--seed", "1")
    assert code == 0
    assert "fan_in=576" in out and "n=73728" in out
    rows = show_table(out)
    std = math.sqrt(2.0 / 576)
    assert rows["std"][1] == fmt(std)
    assert rows["max"][1] == fmt(math.sqrt(3.0) * std)
    # Sample std within 5 standard errors (SE of a std estimate ~ std / sqrt(2 n)).
    assert abs(float(rows["std"][0]) - std) < 5 * std / math.sqrt(2 * 73728) + 1e-4
    assert float(rows["max"][0]) <= math.sqrt(3.0) * std + 1e-4


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["truncated_normal", "--set", "stddev=1.0"], dict(std=0.87962566103423978, min=-2.0)),
        (["random_uniform"], dict(mean=0.0, std=0.1 / math.sqrt(12), max=0.05)),
        (["identity", "--shape", "4,6"], dict(mean=4 / 24, max=1.0, min=0.0)),
        (["ones"], dict(std=0.0, max=1.0)),
        (["orthogonal", "--shape", "64,32"], dict(std=math.sqrt(32 / 2048))),
        (["variance_scaling", "--set", "distribution='untruncated_normal'"], dict(min=None)),
    ],
)
def test_show_theory(capsys, argv, expected):
    if "--shape" not in argv:
        argv = argv + ["--shape", "32,16"]
    code, out, _ = run(capsys, "show", *argv)
    assert code == 0, out
    rows = show_table(out)
    for key, value in expected.items():
        assert rows[key][1] == ("n/a" if value is None else fmt(value)), (key, out)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["show", "he_nromal", "--shape", "3,3"], "Unknown initializer: 'he_nromal'"),
        (
            ["show", "variance_scaling", "--shape", "3,3", "--set", "mode=bad"],
            "Received: mode='bad'",
        ),
        (["show", "he_normal", "--shape", "3,3", "--set", "nonsense"], "KEY=VALUE"),
        (["show", "he_normal", "--shape", "3,3", "--dtype", "int5"], "int5"),
        (["compare", "--inits", "he_normal,nope"], "Unknown initializer: 'nope'"),
        (["compare", "--activation", "nope"], "unknown activation 'nope'"),
    ],
)
def test_errors_are_messages_and_exit_2(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert match in err and "Traceback" not in err
    assert err.startswith(f"keras-inits {argv[0]}: error:")


@pytest.mark.parametrize(
    "argv",
    [["show", "he_normal", "--shape", "3,x"], ["compare", "--depth", "0"], ["frobnicate"]],
)
def test_bad_syntax_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow  # ~20 s on JAX: three models compiled for fit and evaluate
def test_compare_end_to_end(capsys, tmp_path):
    path = tmp_path / "sub" / "compare.png"
    code, out, _ = run(
        capsys, "compare", "--depth", "4", "--width", "16", "--epochs", "2",
        "--inits", "glorot_uniform,he_normal,lsuv", "--out", str(path),
    )
    assert code == 0
    assert "glorot_uniform: activation std" in out and "lsuv: activation std" in out
    assert "2/2" in out  # the progress bars
    table = out[out.index("Training loss and accuracy per epoch:"):].splitlines()
    assert table[1].split()[:3] == ["epoch", "glorot_uniform", "loss"]
    assert [line.split()[0] for line in table[3:6]] == ["1", "2", "test"]
    assert f"wrote {path}" in out
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[1] > image.shape[0] > 200  # two panels side by side


@pytest.mark.slow
def test_python_dash_m(tmp_path):
    """`python -m keras_inits` is the console script (a fresh interpreter: ~5-10 s)."""
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "keras_inits", "show", "nope", "--shape", "2,2"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2
    assert "Unknown initializer: 'nope'" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "keras_inits", "list"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0
    assert result.stdout.split()[0] == keras_inits.names()[0]
