"""The `keras-inits` command line (also `python -m keras_inits`).

    keras-inits list
    keras-inits show NAME --shape 3,3,64,128 [--dtype float32] [--seed 0] [--set KEY=VALUE]
    keras-inits compare [--depth 30] [--width 256] [--activation relu]
                        [--inits glorot_uniform,he_normal,lsuv] [--epochs 12] [--out PATH]
    keras-inits audit MODEL.keras [--policy NAME]      # exit status 1 if a weight is flagged
    keras-inits spectrum [MODEL.keras] [--depth 32] [--width 256] [--activation tanh]
                         [--inits orthogonal,glorot_normal] [--samples 16] [--out PATH]
    keras-inits critical ACTIVATION [--sigma-b2 0.05] [--set negative_slope=0.1] [--depth 100]

Bad input ends with a one-line error on stderr and exit status 2, and so does a missing optional
dependency (the error names the extra to install, e.g. `pip install "keras-inits[diagnostics]"`).
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import sys
import time
from collections.abc import Sequence

DEFAULT_OUT = os.path.join("out", "compare.png")


class CLIError(Exception):
    """A user error: printed as `keras-inits: error: ...`, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from keras_inits._optional import MissingExtra

    try:
        return args.run(args)
    except (CLIError, ValueError, TypeError, MissingExtra) as e:
        print(f"keras-inits {args.command}: error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-inits",
        description="Keras 3 weight initializers: list them, sample them, compare them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="every registered initializer with its formula")
    p.add_argument("--aliases", action="store_true", help="also list every accepted alias")
    p.set_defaults(run=_list)

    p = sub.add_parser("show", help="a sample's statistics next to the theoretical ones")
    p.add_argument("name", help="a registered name, e.g. he_normal or HeNormal")
    p.add_argument("--shape", required=True, type=_shape, help="comma-separated, e.g. 3,3,64,128")
    p.add_argument("--dtype", default="float32", help="default: float32")
    p.add_argument("--seed", type=int, default=0, help="default: 0")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument, e.g. --set scale=2.0 --set mode=fan_out (repeatable)",
    )
    p.set_defaults(run=_show)

    p = sub.add_parser(
        "compare",
        help="train one deep plain MLP on digits per initializer (He et al. 2015, Fig. 3)",
    )
    p.add_argument("--depth", type=_positive, default=30, help="hidden layers (default: 30)")
    p.add_argument("--width", type=_positive, default=256, help="units per layer (default: 256)")
    p.add_argument("--activation", default="relu", help="default: relu")
    p.add_argument(
        "--inits",
        type=_names,
        default=["glorot_uniform", "he_normal", "lsuv"],
        help="comma-separated registered names and 'lsuv' (default: glorot_uniform,he_normal,lsuv)",
    )
    p.add_argument("--epochs", type=_positive, default=12, help="default: 12")
    p.add_argument("--batch-size", type=_positive, default=32, help="default: 32")
    p.add_argument(
        "--lr", type=_positive_float, default=0.002, help="SGD learning rate (default: 0.002)"
    )
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--seed", type=int, default=0, help="default: 0")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"PNG path (default: {DEFAULT_OUT})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_compare)

    p = sub.add_parser("audit", help="check a saved model's weights against their initializers")
    p.add_argument("model", help="a .keras file (import the modules of its custom layers first)")
    p.add_argument(
        "--policy",
        default=None,
        help="the preset it was initialized with, e.g. torch (default: the "
        "initializers its weights were created with)",
    )
    p.set_defaults(run=_audit)

    p = sub.add_parser(
        "critical",
        help="mean-field theory: the critical sigma_w2 (chi1 = 1) of an activation, its fixed "
        "point and depth scales",
    )
    p.add_argument("activation", help="a Keras activation name, e.g. tanh, relu, leaky_relu")
    p.add_argument(
        "--sigma-b2",
        type=_nonnegative_float,
        default=0.0,
        help="bias variance sigma_b^2 (default: 0)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an activation parameter, e.g. --set negative_slope=0.1 (repeatable)",
    )
    p.add_argument(
        "--depth", type=_positive, default=None, help="also advise on a network of this many layers"
    )
    p.set_defaults(run=_critical)

    p = sub.add_parser(
        "spectrum",
        help="singular values of the input-output Jacobian: of a saved model, or of a plain "
        "MLP per initializer (dynamical isometry)",
    )
    p.add_argument(
        "model",
        nargs="?",
        default=None,
        help="a .keras file with one input of fixed shape (default: plain MLPs)",
    )
    p.add_argument("--depth", type=_positive, default=32, help="MLP layers (default: 32)")
    p.add_argument("--width", type=_positive, default=256, help="MLP units (default: 256)")
    p.add_argument("--activation", default="tanh", help="MLP activation (default: tanh)")
    p.add_argument(
        "--inits",
        type=_names,
        default=["orthogonal", "glorot_normal"],
        help="comma-separated registered names for the MLP kernels "
        "(default: orthogonal,glorot_normal)",
    )
    p.add_argument(
        "--samples",
        type=_positive,
        default=16,
        help="inputs x ~ N(0, 1), one Jacobian each (default: 16)",
    )
    p.add_argument("--seed", type=int, default=0, help="default: 0")
    p.add_argument("--out", default=None, help="PNG of the densities (default: none)")
    p.set_defaults(run=_spectrum)
    return parser


# --------------------------------------------------------------------------------- argument types


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(",") if d.strip() != "")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated non-negative ints such as 3,3,64,128. Received: {text!r}"
        ) from None
    if any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"dimensions must be >= 0. Received: {text!r}")
    return dims


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int. Received: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int. Received: {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number. Received: {text!r}"
        ) from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number. Received: {text!r}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0. Received: {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0. Received: {text!r}")
    return value


def _assignments(items: Sequence[str]) -> dict:
    """`--set KEY=VALUE` items as a dict; values are Python literals or bare strings."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--set expects KEY=VALUE. Received: {item!r}")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value  # a bare string, e.g. mode=fan_out
    return out


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names. Received: {text!r}")
    return names


# ------------------------------------------------------------------------------------------ list


def _summary(cls) -> str:
    """The first paragraph of the class docstring (it starts with the formula), on one line."""
    doc = (cls.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split())


def _list(args) -> int:
    from keras_inits._registry import lookup, names, snake_case

    rows = []
    for name in names():
        cls = lookup(name)
        aliases = [a for a in names(aliases=True) if lookup(a) is cls and a != name]
        shown = snake_case(name) if not args.aliases else ", ".join(aliases)
        rows.append((name, shown, _summary(cls)))
    width0 = max(len(r[0]) for r in rows)
    width1 = max(len(r[1]) for r in rows)
    for name, alias, summary in rows:
        print(f"{name.ljust(width0)}  {alias.ljust(width1)}  {summary}")
    return 0


# ------------------------------------------------------------------------------------------ show


def _show(args) -> int:
    import numpy as np

    from keras_inits._capture import table
    from keras_inits._fans import compute_fans
    from keras_inits._registry import lookup
    from keras_inits.base import RandomInitializer

    cls = lookup(args.name)
    overrides = _assignments(args.set)
    if issubclass(cls, RandomInitializer):
        overrides.setdefault("seed", args.seed)
    try:
        init = cls.example(**overrides)
    except TypeError as e:
        raise CLIError(f"{cls.__name__} does not take these arguments: {e}") from None

    sample = init(args.shape, dtype=args.dtype)
    import keras

    wide = "float64" if args.dtype == "float64" else "float32"  # bfloat16 has no numpy dtype
    values = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(sample, wide)), "float64")
    fan_in, fan_out = compute_fans(args.shape)
    theory = theoretical(init, args.shape)
    print(f"{init!r}")
    print(
        f"shape={args.shape}  dtype={args.dtype}  n={values.size}  "
        f"fan_in={fan_in}  fan_out={fan_out}"
    )
    if values.size == 0:
        print("empty tensor: no statistics")
        return 0
    sample_stats = {
        "mean": values.mean(),
        "std": values.std(),
        "min": values.min(),
        "max": values.max(),
    }
    rows = [
        [k, float(v), "n/a" if (t := theory[k]) is None else float(t)]
        for k, v in sample_stats.items()
    ]
    print(table(["", "sample", "theory"], rows))
    return 0


def theoretical(init, shape) -> dict[str, float | None]:
    """Closed-form mean, std, min and max of `init(shape)` where one exists (None otherwise).

    For Orthogonal the std is the root mean square, which is exact: the squares of an
    orthonormal (r, c) matrix sum to min(r, c).
    """
    from keras_inits.schemes import constant, orthogonal, random, variance

    none: dict[str, float | None] = dict(mean=None, std=None, min=None, max=None)
    n = math.prod(shape)
    if isinstance(init, variance.VarianceScaling):
        std = math.sqrt(init.variance(shape))
        if init.distribution == "uniform":
            limit = math.sqrt(3.0) * std
            return dict(mean=0.0, std=std, min=-limit, max=limit)
        if init.distribution == "truncated_normal":
            bound = 2.0 * std / variance.TRUNCATED_STD
            return dict(mean=0.0, std=std, min=-bound, max=bound)
        return dict(mean=0.0, std=std, min=None, max=None)
    if isinstance(init, random.RandomNormal):
        return dict(mean=init.mean, std=init.stddev, min=None, max=None)
    if isinstance(init, random.RandomUniform):
        width = init.maxval - init.minval
        return dict(
            mean=init.minval + width / 2,
            std=width / math.sqrt(12.0),
            min=init.minval,
            max=init.maxval,
        )
    if isinstance(init, random.TruncatedNormal):
        a, b = init.lower, init.upper
        pdf = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        cdf = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))  # noqa: E731
        z = cdf(b) - cdf(a)
        shift = (pdf(a) - pdf(b)) / z
        var = 1 + (a * pdf(a) - b * pdf(b)) / z - shift**2
        return dict(
            mean=init.mean + init.stddev * shift,
            std=init.stddev * math.sqrt(var),
            min=init.mean + a * init.stddev,
            max=init.mean + b * init.stddev,
        )
    if isinstance(init, constant.Zeros):
        return dict(mean=0.0, std=0.0, min=0.0, max=0.0)
    if isinstance(init, constant.Ones):
        return dict(mean=1.0, std=0.0, min=1.0, max=1.0)
    if isinstance(init, constant.Constant):
        import numpy as np

        value = np.asarray(init.value, dtype="float64")
        if value.ndim == 0:
            v = float(value)
            return dict(mean=v, std=0.0, min=v, max=v)
        return none
    if isinstance(init, constant.Identity) and len(shape) == 2 and n > 0:
        k = min(shape)  # entries equal to gain; the other n - k are 0
        mean = init.gain * k / n
        std = math.sqrt(max(0.0, init.gain**2 * k / n - mean**2))
        values = (init.gain, 0.0) if n > k else (init.gain,)
        return dict(mean=mean, std=std, min=min(values), max=max(values))
    if isinstance(init, orthogonal.Orthogonal) and len(shape) >= 2 and n > 0:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        return dict(mean=None, std=init.gain * math.sqrt(min(rows, cols) / n), min=None, max=None)
    return none


# --------------------------------------------------------------------------------------- compare


def _check_mlp_arguments(inits: list[str], activation: str, extra: tuple = ()) -> None:
    """A CLIError unless every name in `inits` is registered (or in `extra`) and `activation`
    is a Keras activation."""
    import keras

    from keras_inits._registry import lookup

    hint = f" (or {', '.join(map(repr, extra))})" if extra else ""
    for name in inits:
        if name not in extra:
            try:
                lookup(name)
            except ValueError as e:
                raise CLIError(f"--inits: {e}{hint}") from None
    try:
        keras.activations.get(activation)
    except ValueError:
        raise CLIError(f"--activation: unknown activation {activation!r}") from None


def _print_start(run, mid: int) -> None:
    act = run.activation_std
    print(
        f"\n{run.init}: activation std {act[0]:.3g} / {act[mid - 1]:.3g} / {act[-1]:.3g}"
        f" (last/first {act[-1] / act[0] if act[0] else float('nan'):.3g}); training:",
        flush=True,
    )


def _compare(args) -> int:
    from keras_inits import _optional

    for module in ("sklearn", "matplotlib"):  # before any work: digits, and the figure
        _optional.require(module, "diagnostics", "keras-inits compare")
    import keras

    from keras_inits._capture import table
    from keras_inits.diagnostics import compare as experiment

    start = time.perf_counter()
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CLIError(f"--out: {out_dir!r} is not a directory. Received: --out {args.out!r}")
    _check_mlp_arguments(args.inits, args.activation, extra=(experiment.LSUV,))

    print(
        f"keras-inits compare: {args.depth} hidden layers x {args.width} units, {args.activation}, "
        f"no normalization, on scikit-learn digits (backend: {keras.backend.backend()})"
    )
    print(
        f"SGD(lr={args.lr}, momentum={args.momentum}), batch {args.batch_size}, "
        f"{args.epochs} epochs, seed {args.seed}"
    )
    mid = (args.depth + 1) // 2
    print(
        f"Activation std at initialization, hidden layers 1 / {mid} / {args.depth}, on 512 samples."
    )
    runs = experiment.compare(
        args.inits,
        depth=args.depth,
        width=args.width,
        activation=args.activation,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        momentum=args.momentum,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
        on_start=lambda run: _print_start(run, mid),
    )
    print(f"\nAt initialization, on 512 training samples (hidden layers 1, {mid}, {args.depth}):")
    rows = []
    for run in runs:
        act, grad = run.activation_std, run.gradient_std
        rows.append(
            [run.init, act[0], act[mid - 1], act[-1], act[-1] / act[0] if act[0] else None]
            + [grad[0], grad[-1]]
        )
    print(
        table(
            [
                "init",
                "act std 1",
                f"act std {mid}",
                f"act std {args.depth}",
                "last/first",
                "grad std 1",
                f"grad std {args.depth}",
            ],
            rows,
        )
    )

    print("\nTraining loss and accuracy per epoch:")
    headers = ["epoch"]
    for run in runs:
        headers += [f"{run.init} loss", "acc"]
    rows = []
    for epoch in range(args.epochs):
        row: list[float] = [epoch + 1]
        for run in runs:
            row += [run.loss[epoch], run.accuracy[epoch]]
        rows.append(row)
    rows.append(["test acc"] + sum(([None, run.test_accuracy] for run in runs), []))
    print(table(headers, rows))

    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    title = f"{args.depth} hidden layers, plain {args.activation} MLP on digits, SGD momentum"
    path = experiment.plot(runs, args.out, title=title)
    print(f"\nwrote {path}  ({time.perf_counter() - start:.0f} s)")
    return 0


# ----------------------------------------------------------------------------------------- audit


def _audit(args) -> int:
    """Prints `keras_inits.audit`'s table; exit status 1 if a variable is flagged."""
    if not args.model.endswith(".keras") or not os.path.isfile(args.model):
        raise CLIError(f"MODEL must be an existing .keras file. Received: {args.model!r}")
    import keras

    from keras_inits.model.audit import audit

    try:
        model = keras.saving.load_model(args.model, compile=False)
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file raises many types
        raise CLIError(f"could not load {args.model!r}: {type(e).__name__}: {e}") from None
    report = audit(model, args.policy)
    print(report)
    return 1 if report.flagged else 0


# -------------------------------------------------------------------------------------- critical


def _critical(args) -> int:
    from keras_inits import meanfield
    from keras_inits._capture import table

    params = _assignments(args.set)
    act = meanfield.resolve(args.activation, **params)
    sigma_w2 = meanfield.critical(act, args.sigma_b2)
    q = meanfield.fixed_point(act, sigma_w2, args.sigma_b2)
    xi_q, xi_c = meanfield.depth_scales(act, sigma_w2, args.sigma_b2)
    print(
        f"keras-inits critical: {act}, sigma_b2 = {args.sigma_b2:g} (mean-field theory: "
        "weights N(0, sigma_w2 / fan_in), biases N(0, sigma_b2))"
    )
    rows = [
        ["sigma_w2 (chi1 = 1)", sigma_w2],
        ["q*", q],
        ["chi1", meanfield.chi1(act, sigma_w2, args.sigma_b2)],
        ["xi_q (layers)", xi_q],
        ["xi_c (layers)", xi_c],
    ]
    rows = [[name, f"{value:.8g}"] for name, value in rows]
    print(table(["", "value"], rows))
    params_text = f", activation_params={params!r}" if params else ""
    print(
        f"kernel_initializer=keras_inits.CriticalInit({act.name!r}, "
        f"sigma_b2={args.sigma_b2:g}{params_text}), "
        f"bias_initializer=keras_inits.CriticalBias({args.sigma_b2:g})"
    )
    if args.depth is not None:
        print()
        print(meanfield.recommend(act, args.depth, args.sigma_b2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# -------------------------------------------------------------------------------------- spectrum


def _spectrum(args) -> int:
    import keras
    import numpy as np

    import keras_inits
    from keras_inits._capture import pyplot, table
    from keras_inits.diagnostics.compare import kernel_initializer
    from keras_inits.diagnostics.jacobian import plot_density

    if args.out:
        pyplot("keras-inits spectrum --out")  # before any work: the extra is there
    rng = np.random.default_rng(args.seed)
    if args.model:
        if not os.path.isfile(args.model):
            raise CLIError(f"model: no such file. Received: {args.model!r}")
        models = {os.path.basename(args.model): keras.saving.load_model(args.model)}
        shape = tuple(models[os.path.basename(args.model)].inputs[0].shape[1:])
        if any(d is None for d in shape):
            raise CLIError(
                f"model: its input shape {shape} is not fixed; pass a model whose "
                "input shape (after the batch axis) has no None."
            )
        description = f"{args.model}, input {shape}"
    else:
        _check_mlp_arguments(args.inits, args.activation)
        shape = (args.width,)
        models = {}
        for name in args.inits:
            inputs = keras.Input(shape)
            h = inputs
            for i in range(args.depth):
                h = keras.layers.Dense(
                    args.width,
                    args.activation,
                    kernel_initializer=(kernel_initializer(name, args.seed * 1000 + i)),
                )(h)
            models[name] = keras.Model(inputs, h)
        description = f"{args.depth} x Dense({args.width}, {args.activation}), biases 0"
    x = rng.normal(size=(args.samples,) + shape).astype("float32")
    print(
        f"keras-inits spectrum: {description}; {args.samples} inputs x ~ N(0, 1) "
        f"(backend: {keras.backend.backend()})"
    )
    rows, spectra = [], {}
    for name, model in models.items():
        s = spectra[name] = keras_inits.jacobian_spectrum(model, x)
        median = float(np.median(s.singular_values))
        rows.append([name, s.mean_squared, s.spread, s.min, median, s.max])
    print(
        table(
            [
                "model" if args.model else "init",
                "mean sigma^2",
                "std sigma^2",
                "min sigma",
                "median sigma",
                "max sigma",
            ],
            rows,
        )
    )
    if args.out:
        plt = pyplot("keras-inits spectrum --out")
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, s in spectra.items():
            plot_density(ax, s.singular_values, label=name)
        ax.set(
            xscale="log",
            xlabel="singular value of dF/dx",
            ylabel="density of log10 σ",
            title=description,
        )
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        out_dir = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        fig.savefig(args.out, dpi=100)
        plt.close(fig)
        print(f"wrote {args.out}")
    return 0
