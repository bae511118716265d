"""Depth scaling with keras_inits.DepthScaled: a Fixup residual MLP and a GPT-2 transformer block.

Run: `KERAS_BACKEND=jax python examples/depth_scaled.py` (any backend).
"""

import keras
import numpy as np

import keras_inits

# --- A residual MLP, Fixup-style -------------------------------------------------------------
# L residual branches of m = 2 Dense layers: the first is He-initialized and scaled by
# L**(-1/(2m-2)), the last starts at zero, so every block starts as the identity.
L, width = 16, 64
inputs = keras.Input((width,))
x = inputs
for _ in range(L):
    h = keras.layers.Dense(
        width,
        activation="relu",
        kernel_initializer=keras_inits.DepthScaled(
            "he_normal", L, rule="fixup", layers_per_branch=2
        ),
    )(x)
    h = keras.layers.Dense(width, kernel_initializer="zeros")(h)
    x = keras.layers.Add()([x, h])
trunk = keras.Model(inputs, x)
mlp = keras.Model(inputs, keras.layers.Dense(10, kernel_initializer="zeros")(x))


# --- A small GPT-2 transformer block ----------------------------------------------------------
# Every weight N(0, 0.02**2); the two residual output projections (attention's and the MLP's
# last Dense) N(0, (0.02 / sqrt(2 * n_layer))**2). A new instance per layer: an unseeded
# instance picks its seed once, so sharing one would repeat the same weights in every block.
n_layer, d_model, n_head = 12, 64, 4


def normal():
    return keras_inits.RandomNormal(stddev=0.02)


def scaled():
    return keras_inits.DepthScaled(keras_inits.RandomNormal(stddev=0.02), num_layers=n_layer)


class Block(keras.layers.Layer):
    """Pre-LayerNorm causal self-attention + MLP, as nanoGPT's `Block`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ln1 = keras.layers.LayerNormalization()
        self.qkv = keras.layers.Dense(3 * d_model, kernel_initializer=normal())
        self.attn_proj = keras.layers.Dense(d_model, kernel_initializer=scaled())  # residual
        self.ln2 = keras.layers.LayerNormalization()
        self.fc = keras.layers.Dense(4 * d_model, activation="gelu", kernel_initializer=normal())
        self.mlp_proj = keras.layers.Dense(d_model, kernel_initializer=scaled())  # residual

    def call(self, x):
        batch, steps = keras.ops.shape(x)[0], keras.ops.shape(x)[1]
        qkv = self.qkv(self.ln1(x))
        heads = keras.ops.reshape(qkv, (batch, steps, 3, n_head, d_model // n_head))
        q, k, v = heads[:, :, 0], heads[:, :, 1], heads[:, :, 2]
        y = keras.ops.dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(keras.ops.reshape(y, (batch, steps, d_model)))
        return x + self.mlp_proj(self.fc(self.ln2(x)))


tokens = keras.Input((8, d_model))
gpt = keras.Model(tokens, Block()(Block()(tokens)))

if __name__ == "__main__":
    x = np.random.default_rng(0).standard_normal((4, width)).astype("float32")
    # Every block starts as the identity: the residual stream is the input.
    stream = keras.ops.convert_to_numpy(trunk(x))
    print("residual MLP: stream == input at init:", np.allclose(stream, x))
    proj = gpt.layers[-1].mlp_proj.kernel
    print(
        f"GPT-2 block: projection std {float(np.std(keras.ops.convert_to_numpy(proj))):.5f}, "
        f"expected 0.02 / sqrt(2 * {n_layer}) = {0.02 / np.sqrt(2 * n_layer):.5f}"
    )
    y = gpt(np.zeros((2, 8, d_model), "float32"))
    print("GPT-2 output shape:", tuple(y.shape))
