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
from keras_inits._seeds import seeding, set_seeding
from keras_inits.base import Initializer, RandomInitializer
from keras_inits.diagnostics import meanfield
from keras_inits.diagnostics.jacobian import JacobianSpectrum, jacobian_spectrum
from keras_inits.diagnostics.propagation import PropagationReport, propagation_report
from keras_inits.gains import calculate_gain
from keras_inits.model.audit import AuditReport, audit
from keras_inits.model.lsuv import LSUVReport, lsuv
from keras_inits.model.policy import InitMap, InitReport, apply
from keras_inits.model.presets import get_preset
from keras_inits.model.prior import init_output_bias
from keras_inits.model.reinit import reinitialize
from keras_inits.schemes.constant import Constant, Identity, Ones, Zeros
from keras_inits.schemes.conv import ConvolutionOrthogonal, DeltaOrthogonal, Dirac
from keras_inits.schemes.critical import CriticalBias, CriticalInit
from keras_inits.schemes.depth import DepthScaled
from keras_inits.schemes.orthogonal import BlockOrthogonal, Orthogonal
from keras_inits.schemes.prior import PriorBias
from keras_inits.schemes.random import RandomNormal, RandomUniform, TruncatedNormal
from keras_inits.schemes.sparse import Sparse
from keras_inits.schemes.stft import STFT
from keras_inits.schemes.tf1 import (
    MSRA,
    Caffe,
    TF1VarianceScaling,
    Xavier,
    variance_scaling_initializer,
    xavier_initializer,
)
from keras_inits.schemes.torch_names import (
    KaimingNormal,
    KaimingUniform,
    TorchBias,
    TorchInProjection,
    TorchKernel,
    TorchRecurrent,
    XavierNormal,
    XavierUniform,
    ZeroInitResidual,
)
from keras_inits.schemes.variance import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    VarianceScaling,
)
from keras_inits.schemes.zero import ZerO

__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "BlockOrthogonal",
    "Caffe",
    "Constant",
    "ConvolutionOrthogonal",
    "CriticalBias",
    "CriticalInit",
    "DeltaOrthogonal",
    "DepthScaled",
    "Dirac",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "InitMap",
    "InitReport",
    "Initializer",
    "JacobianSpectrum",
    "KaimingNormal",
    "KaimingUniform",
    "LSUVReport",
    "LecunNormal",
    "LecunUniform",
    "MSRA",
    "Ones",
    "Orthogonal",
    "PriorBias",
    "PropagationReport",
    "RandomInitializer",
    "RandomNormal",
    "RandomUniform",
    "STFT",
    "Sparse",
    "TF1VarianceScaling",
    "TorchBias",
    "TorchInProjection",
    "TorchKernel",
    "TorchRecurrent",
    "TruncatedNormal",
    "VarianceScaling",
    "Xavier",
    "XavierNormal",
    "XavierUniform",
    "ZerO",
    "ZeroInitResidual",
    "Zeros",
    "apply",
    "audit",
    "calculate_gain",
    "compute_fans",
    "deserialize",
    "get",
    "get_preset",
    "init_output_bias",
    "jacobian_spectrum",
    "lsuv",
    "meanfield",
    "names",
    "override_keras_names",
    "propagation_report",
    "reinitialize",
    "seeding",
    "serialize",
    "set_seeding",
    "variance_scaling_initializer",
    "xavier_initializer",
]
