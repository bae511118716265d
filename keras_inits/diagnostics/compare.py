"""The initializer comparison behind `keras-inits compare` (He et al. 2015, Fig. 3, on digits).

The same deep plain MLP (no normalization, no skip connections) is built once per initializer
and trained with plain SGD with momentum, as in the paper, on scikit-learn's digits data set
(8x8 images, 1797 samples, shipped inside scikit-learn: no download). At depth 30 with ReLU,
Glorot (Xavier) initialization halves the activation variance at every layer, so the signal that
reaches the classifier, and the gradient that reaches the first layers, are ~1e-9 of what they
should be and training stalls; He initialization keeps them steady and training converges.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import keras
import numpy as np

from keras_inits._registry import lookup
from keras_inits.base import RandomInitializer
from keras_inits.diagnostics.propagation import propagation_report
from keras_inits.model.lsuv import lsuv

LSUV = "lsuv"  # not a registered initializer: orthonormal init, then `lsuv` on a batch


@dataclasses.dataclass
class Digits:
    """Standardized digits features (float32) and labels, split into train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> Digits:
    """scikit-learn's digits, split (stratified, seeded) and standardized with train statistics.

    Pixels that are constant on the training set are left at 0 rather than divided by 0.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    scale = lambda a: ((a - mean) / std).astype("float32")  # noqa: E731
    return Digits(scale(x_train), y_train.astype("int32"), scale(x_test), y_test.astype("int32"))


def kernel_initializer(name: str, seed: int | None):
    """A fresh instance of the registered initializer `name`, seeded when it takes a seed."""
    cls = lookup(name)
    if issubclass(cls, RandomInitializer):
        return cls.example(seed=seed)
    return cls.example()


def plain_mlp(
    depth: int,
    width: int,
    activation: str,
    init: str,
    *,
    inputs: int = 64,
    classes: int = 10,
    seed: int = 0,
) -> keras.Model:
    """`depth` hidden Dense(width, activation) layers and a softmax classifier, no shortcuts.

    Every kernel gets its own seed (`seed * 1000 + layer`), so layers differ; biases are 0.
    `init="lsuv"` builds the kernels with `Orthogonal` (LSUV's pre-init); call `lsuv` next.
    """
    scheme = "orthogonal" if init == LSUV else init

    def make(i):
        return kernel_initializer(scheme, seed * 1000 + i)

    x = keras.Input((inputs,), name="pixels")
    h = x
    for i in range(depth):
        layer = f"hidden_{i + 1}"
        h = keras.layers.Dense(width, activation, kernel_initializer=make(i), name=layer)(h)
    head = keras.layers.Dense(classes, "softmax", kernel_initializer=make(depth), name="classifier")
    out = head(h)
    return keras.Model(x, out, name=f"mlp_{depth}x{width}_{init}")


@dataclasses.dataclass
class Run:
    """One initializer's results.

    Attributes:
        init: the initializer's name (or "lsuv").
        activation_std: std of each hidden layer's output at initialization, on the probe batch.
        gradient_std: std of each hidden layer's kernel gradient at initialization.
        loss, accuracy: training loss and accuracy per epoch.
        test_accuracy: accuracy on the held-out split after training.
        seconds: wall time of building, calibrating and training.
    """

    init: str
    activation_std: list[float]
    gradient_std: list[float | None]
    loss: list[float] = dataclasses.field(default_factory=list)
    accuracy: list[float] = dataclasses.field(default_factory=list)
    test_accuracy: float | None = None
    seconds: float = 0.0


class _EpochBar(keras.callbacks.Callback):
    """One progress bar per run, advanced at each epoch's end with its loss and accuracy."""

    def __init__(self, epochs: int, verbose: int):
        super().__init__()
        self.bar = keras.utils.Progbar(
            epochs, verbose=verbose, unit_name="epoch", stateful_metrics=["loss", "accuracy"]
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.update(epoch + 1, [(k, logs[k]) for k in ("loss", "accuracy") if k in logs])


def compare(
    inits: Sequence[str] = ("glorot_uniform", "he_normal", LSUV),
    *,
    depth: int = 30,
    width: int = 256,
    activation: str = "relu",
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 0.01,
    momentum: float = 0.9,
    probe_size: int = 512,
    seed: int = 0,
    verbose: int = 1,
    on_start=None,
) -> list[Run]:
    """Builds, diagnoses and trains `plain_mlp` once per initializer in `inits`.

    The probe batch (`probe_size` training samples) is used by LSUV and for the statistics at
    initialization. Training is SGD with momentum on the sparse categorical cross-entropy.
    `verbose=1` shows a progress bar per run (Keras' Progbar). `on_start(run)`, if given, is
    called with each run's statistics at initialization, just before it trains.
    """
    for init in inits:
        if init != LSUV:
            lookup(init)  # fails early, with suggestions
    data = load_digits(seed)
    rng = np.random.default_rng(seed)
    probe = rng.choice(len(data.x_train), size=min(probe_size, len(data.x_train)), replace=False)
    x_probe, y_probe = data.x_train[probe], data.y_train[probe]
    runs = []
    for init in inits:
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        model = plain_mlp(depth, width, activation, init, seed=seed)
        if init == LSUV:
            lsuv(model, x_probe, seed=seed, verbose=0)
        report = propagation_report(model, x_probe, y_probe, loss="sparse_categorical_crossentropy")
        hidden = [r for r in report if r.name.startswith("hidden_")]
        run = Run(init, [r.std for r in hidden], [r.grad_std for r in hidden])
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        if on_start is not None:
            on_start(run)
        history = model.fit(
            data.x_train,
            data.y_train,
            batch_size=batch_size,
            epochs=epochs,
            shuffle=True,
            verbose=0,
            callbacks=[_EpochBar(epochs, verbose)] if verbose else [],
        )
        run.loss = [float(v) for v in history.history["loss"]]
        run.accuracy = [float(v) for v in history.history["accuracy"]]
        _, acc = model.evaluate(data.x_test, data.y_test, batch_size=512, verbose=0)
        run.test_accuracy = float(acc)
        run.seconds = time.perf_counter() - start
        runs.append(run)
    return runs


def plot(runs: Sequence[Run], path, title: str = "") -> str:
    """Two panels: activation std against depth at initialization, and loss against epoch."""
    from keras_inits.diagnostics.propagation import _log_line, _pyplot

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for run in runs:
        depth = range(1, len(run.activation_std) + 1)
        _log_line(left, depth, run.activation_std, "o-", label=run.init)
        right.plot(range(1, len(run.loss) + 1), run.loss, "o-", markersize=3, label=run.init)
    left.set(xlabel="hidden layer", ylabel="activation std at init", yscale="log")
    left.set_title("forward signal at initialization")
    right.set(xlabel="epoch", ylabel="training loss")
    right.set_title("training")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


__all__ = ["Digits", "Run", "compare", "load_digits", "plain_mlp", "plot"]
