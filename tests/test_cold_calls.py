"""JAX cold calls (issue 12): a new shape compiles nothing once the block kernels exist.

Eagerly on CPU, the structured schemes compute in numpy (`_sampling.ops_for`) from the values
`jax.random.normal` gives, so the only XLA programs are the element-wise block kernels, compiled
once per block size and law. Counted with jax's own compile events, not timed (timings are in
`benchmarks/cold_calls.py`). The host path must give the law's values: on every backend the
schemes' own test files check them; here the host path is compared with the compiled one.
"""

import keras
import numpy as np
import pytest

import keras_inits
from keras_inits import _sampling
from tests.conftest import BACKEND, to_numpy

pytestmark = pytest.mark.skipif(BACKEND != "jax", reason="only JAX compiles per shape")

STRUCTURED = [
    (keras_inits.Orthogonal, (16, 32), (48, 20)),
    (keras_inits.BlockOrthogonal, (8, 32), (12, 36)),
    (keras_inits.DeltaOrthogonal, (3, 8, 16), (3, 3, 12, 20)),
    (keras_inits.ConvolutionOrthogonal, (3, 8, 16), (3, 3, 12, 20)),
    (keras_inits.Sparse, (16, 32), (3, 3, 12, 20)),
]


def compiles_during(fn) -> int:
    import jax.monitoring
    from jax._src.dispatch import BACKEND_COMPILE_EVENT

    events = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE_EVENT:
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        keras.ops.convert_to_numpy(fn())
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(events)


@pytest.mark.parametrize("cls, first, new", STRUCTURED, ids=lambda x: getattr(x, "__name__", ""))
def test_a_new_shape_compiles_nothing(cls, first, new):
    init = cls(seed=0)
    keras.ops.convert_to_numpy(init(first))
    for size in _sampling.BLOCK_SIZES:  # the normal law's block kernels, once per process
        keras.ops.convert_to_numpy(keras_inits.RandomNormal(seed=0)((size,)))
    assert compiles_during(lambda: init(new)) == 0


@pytest.mark.parametrize("cls, first, new", STRUCTURED, ids=lambda x: getattr(x, "__name__", ""))
def test_host_path_matches_the_compiled_path(cls, first, new):
    # Under jax.jit the schemes run in keras.ops (XLA); eagerly on CPU in numpy. Same seed, same
    # draws: Sparse is bit-identical, the orthogonal schemes agree to float32 rounding (numpy
    # and XLA sum the Householder norms in different orders: a few ulps).
    import jax

    init = cls(seed=3)
    host, compiled = to_numpy(init(new)), np.asarray(jax.jit(lambda: init(new))())
    if cls is keras_inits.Sparse:
        np.testing.assert_array_equal(host, compiled)
    else:
        np.testing.assert_allclose(host, compiled, atol=1e-6)
