"""Critical initialization from mean-field theory: a 100-layer tanh MLP whose signal survives.

Run: `KERAS_BACKEND=jax python examples/critical.py` (any backend).
"""

import keras
import numpy as np

import keras_inits
from keras_inits import meanfield

# --- The theory: where is the edge of chaos for tanh with a little bias? ---------------------
sigma_b2 = 0.05
sigma_w2 = meanfield.critical("tanh", sigma_b2)  # chi1 = 1: about 1.76 (Schoenholz et al. 2017)
q_star = meanfield.fixed_point("tanh", sigma_w2, sigma_b2)
print(f"critical sigma_w2 = {sigma_w2:.4f}, q* = {q_star:.4f}, "
      f"chi1 = {meanfield.chi1('tanh', sigma_w2, sigma_b2):.4f}")
for factor in (0.6, 1.0, 1.8):  # ordered, critical, chaotic
    xi_q, xi_c = meanfield.depth_scales("tanh", factor * sigma_w2, sigma_b2)
    print(f"  sigma_w2 = {factor * sigma_w2:.3f}: xi_c = {xi_c:.4g}, trainable depth ~ "
          f"6 xi_c = {6 * xi_c:.4g}")
print(meanfield.recommend("tanh", depth=100, sigma_b2=sigma_b2))


# --- The network: 100 tanh layers with CriticalInit and CriticalBias --------------------------
def mlp(kernel, depth=100, width=256):
    inputs = keras.Input((width,))
    h, pre = inputs, []
    for i in range(depth):
        h = keras.layers.Dense(width, kernel_initializer=kernel(i),
                               bias_initializer=keras_inits.CriticalBias(sigma_b2, seed=500 + i))(h)
        pre.append(h)  # pre-activations: their variance is the q of the theory
        h = keras.layers.Activation("tanh")(h)
    return keras.Model(inputs, pre)


x = np.random.default_rng(0).normal(size=(64, 256)).astype("float32")
for name, kernel in [
    ("CriticalInit", lambda i: keras_inits.CriticalInit("tanh", sigma_b2, seed=i)),
    ("GlorotUniform", lambda i: keras_inits.GlorotUniform(seed=i)),  # sigma_w2 = 1: ordered
]:
    q = [float(np.var(keras.ops.convert_to_numpy(p))) for p in mlp(kernel)(x)]
    print(f"{name:13s} pre-activation variance at layers 1 / 50 / 100: "
          f"{q[0]:.3f} / {q[49]:.3f} / {q[99]:.3f}  (theory at criticality: q* = {q_star:.3f})")
