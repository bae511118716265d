"""keras_inits: weight initializers for Keras 3, exact on TensorFlow, JAX and PyTorch.

Importing the package registers every scheme with Keras as `"keras_inits>Name"` and
`"keras_inits>snake_name"`. Keras' own names keep meaning Keras' built-ins until
`override_keras_names()` is called.
"""

from keras_inits._fans import compute_fans
from keras_inits._registry import (
    deserialize,
    get,
    names,
    override_keras_names,
    serialize,
)
from keras_inits.base import Initializer, RandomInitializer
from keras_inits.constant import Constant, Identity, Ones, Zeros
from keras_inits.orthogonal import Orthogonal
from keras_inits.random import RandomNormal, RandomUniform, TruncatedNormal
from keras_inits.stft import STFT
from keras_inits.variance import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    VarianceScaling,
)

__version__ = "0.1.0"

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomInitializer",
    "RandomNormal",
    "RandomUniform",
    "STFT",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "deserialize",
    "get",
    "names",
    "override_keras_names",
    "serialize",
]
