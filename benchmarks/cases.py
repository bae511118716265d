"""What the harness measures: schemes, shapes, families, memory/jit/build cases, and targets.

Nothing here imports Keras at module level, so the orchestrator (`bench.py`) can plan subprocesses
without picking a backend. `shared_specs()` imports Keras and `keras_inits` and must only be called
inside a worker, after `KERAS_BACKEND` is set.

The list of schemes shared with Keras is not written out by hand: it is every class in
`keras_inits.names()` whose name Keras' own initializer table also defines. `VARIANTS` only adds
constructor arguments where one class stands for several schemes (VarianceScaling's three
distributions) or needs a value (Constant).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Shape = tuple[int, ...]

# Per-call shapes (float32).
FULL_SHAPES: list[Shape] = [(1024, 1024), (4096, 4096), (3, 3, 256, 256), (1024, 4096)]
SMOKE_SHAPES: list[Shape] = [(8, 8), (3, 3, 4, 4)]

# Schemes with a shape rule of their own: timed at these shapes instead of the ones above.
OWN_SHAPES: dict[str, tuple[list[Shape], list[Shape]]] = {  # name -> (full, smoke)
    "STFT": ([(512, 1, 257), (2048, 1, 1025)], [(16, 1, 9)]),
}
RANK_2_ONLY = {"Identity"}

# Constructor arguments per timed label; the label is the class name unless a variant renames it.
VARIANTS: dict[str, list[tuple[str, dict]]] = {
    "Constant": [("Constant", {"value": 0.5})],
    "VarianceScaling": [
        (f"VarianceScaling({d})", {"distribution": d})
        for d in ("truncated_normal", "untruncated_normal", "uniform")
    ],
}

TRUNCATED_FAMILY = ["TruncatedNormal", "VarianceScaling(truncated_normal)", "GlorotNormal",
                    "HeNormal", "LecunNormal"]
UNIFORM_FAMILY = ["RandomUniform", "VarianceScaling(uniform)", "GlorotUniform", "HeUniform",
                  "LecunUniform"]

# Orthogonal (section 3).
ORTHO_SHAPE = {"full": (2048, 2048), "smoke": (16, 16)}
ORTHO_DTYPES = ["float32", "float16", "bfloat16"]

# Out-of-bounds counts (section 2): the truncated family at this shape, on every backend.
OOB_SHAPE = {"full": (4096, 4096), "smoke": (64, 64)}
OOB_REL_TOL = 1e-6  # |x - mean| > bound * (1 + tol): a few float32 ulps of slack for rounding

# Peak memory (section 2): one fresh subprocess per (backend, label, impl, shape).
# "ones" is the floor: keras.ops.ones at the same shape (impl "floor").
MEMORY_CASES = {
    "full": [(label, (4096, 4096)) for label in TRUNCATED_FAMILY]
    + [("RandomUniform", (4096, 4096)), ("GlorotUniform", (4096, 4096)),
       ("Orthogonal", (2048, 2048))],
    "smoke": [("HeNormal", (64, 64))],
}
MEMORY_FLOOR = {"full": (4096, 4096), "smoke": (64, 64)}

# JAX compiled memory (section 4).
JIT_SCHEMES = ["HeNormal", "GlorotUniform", "TruncatedNormal"]
JIT_PLAIN = ["jax.random.normal", "jax.random.uniform", "jax.random.truncated_normal",
             "jax.numpy.ones"]
JIT_SHAPE = {"full": (8192, 8192), "smoke": (64, 64)}

# Model build (section 5).
BUILD_MODELS = {"full": ["resnet50", "transformer12"], "smoke": ["tiny"]}
BUILD_Z_LIMIT = 5.0  # |z| of a kernel's std difference above this counts as a distribution change

# Targets from issue 5 (all ratios from the same run).
TARGETS = {
    "per_call_ratio": 1.0,  # ours/Keras median, every shared scheme, shape and backend
    "torch_truncated_ratio": 0.35,  # torch, truncated family, 4096x4096
    "torch_truncated_memory": 2.0,  # peak RSS over output size
    "torch_truncated_oob": 0,
    "jax_build_ratio": 0.5,
    "uniform_floor_ratio": 4.0,  # ours / keras.ops.ones, uniform family, 4096x4096
    "orthogonal_ratio": 1.0,  # 2048x2048 float32
    "jit_temp": 1.0,  # temp_size_in_bytes / output bytes
}
TARGET_SHAPE = (4096, 4096)


@dataclass
class Spec:
    """One timed scheme: a label, the shared class name, constructor kwargs and its shapes."""

    label: str
    name: str
    kwargs: dict = field(default_factory=dict)
    random: bool = False
    shapes: list[Shape] = field(default_factory=list)

    def make(self, impl: str, seed: int = 0):
        """A new instance of ours (`impl="ours"`) or Keras' (`"keras"`) with an int seed."""
        import keras

        from keras_inits import _registry

        cls = _registry.lookup(self.name) if impl == "ours" else getattr(
            keras.initializers, self.name)
        kwargs = dict(self.kwargs, seed=seed) if self.random else dict(self.kwargs)
        return cls(**kwargs)


def shared_names() -> list[str]:
    """Classes registered in keras_inits whose names Keras' initializer table defines too."""
    import keras_inits
    from keras.src.initializers import ALL_OBJECTS_DICT

    return [n for n in keras_inits.names() if n in ALL_OBJECTS_DICT]


def shared_specs(shapes: list[Shape], smoke: bool) -> list[Spec]:
    """One Spec per timed scheme shared with Keras, with the shapes it is timed at."""
    import keras_inits
    from keras_inits import _registry

    specs = []
    for name in shared_names():
        random = issubclass(_registry.lookup(name), keras_inits.RandomInitializer)
        if name in OWN_SHAPES:
            own = OWN_SHAPES[name][1 if smoke else 0]
        elif name in RANK_2_ONLY:
            own = [s for s in shapes if len(s) == 2]
        else:
            own = list(shapes)
        for label, kwargs in VARIANTS.get(name, [(name, {})]):
            specs.append(Spec(label, name, kwargs, random, own))
    return specs


def spec_by_label(label: str) -> Spec:
    """The Spec for a label such as `"HeNormal"` or `"VarianceScaling(uniform)"` (any shapes)."""
    for spec in shared_specs([], smoke=False):
        if spec.label == label:
            return spec
    raise KeyError(label)


def shape_str(shape) -> str:
    return "x".join(str(d) for d in shape)


def parse_shape(text: str) -> Shape:
    return tuple(int(d) for d in text.lower().replace(",", "x").split("x") if d)
