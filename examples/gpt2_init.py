"""A GPT-2-style transformer initialized as Hugging Face's GPT-2: the "gpt2" preset.

Every kernel and embedding N(0, 0.02**2), biases 0, LayerNorm 1/0, and the residual
projections (attention's output projection and the MLP's down-projection, named `c_proj` as
in Hugging Face) N(0, (0.02 / sqrt(2 * n_layer))**2). The preset finds them by path: a regex
that the preset takes as an argument, tried before every class rule.

Run: `KERAS_BACKEND=jax python examples/gpt2_init.py` (any backend).
"""

import math

import keras
import numpy as np

import keras_inits

n_layer, d_model, n_head, vocab, context = 4, 64, 4, 1000, 16

tokens = keras.Input((context,), dtype="int32")
x = keras.layers.Embedding(vocab, d_model, name="wte")(tokens)
for i in range(n_layer):
    h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"h{i}_ln_1")(x)
    h = keras.layers.MultiHeadAttention(n_head, d_model // n_head, name=f"h{i}_attn")(
        h, h, use_causal_mask=True)  # its output projection's path ends "attention_output/kernel"
    x = keras.layers.Add()([x, h])
    h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"h{i}_ln_2")(x)
    h = keras.layers.Dense(4 * d_model, activation="gelu", name=f"h{i}_mlp_c_fc")(h)
    x = keras.layers.Add()([x, keras.layers.Dense(d_model, name=f"h{i}_mlp_c_proj")(h)])
x = keras.layers.LayerNormalization(epsilon=1e-5, name="ln_f")(x)
model = keras.Model(tokens, keras.layers.Dense(vocab, use_bias=False, name="lm_head")(x))

# A preset is a fresh InitMap: edit it like a dict. Path keys win over class keys.
policy = keras_inits.get_preset("gpt2", n_layer=n_layer)
print(keras_inits.apply(model, policy, seed=0, dry_run=True, verbose=0))  # the plan
report = keras_inits.apply(model, policy, seed=0, verbose=0)
print(f"\nunmatched: {report.unmatched}")

residual = 0.02 / math.sqrt(2 * n_layer)
for v in model.weights:
    if v.path.endswith(("kernel", "embeddings")):
        std = float(np.std(keras.ops.convert_to_numpy(v.value)))
        expected = residual if v.path.endswith(("attention_output/kernel", "c_proj/kernel")) \
            else 0.02
        print(f"{v.path:40} std {std:.5f}  (expected {expected:.5f})")
        assert abs(std - expected) < 0.1 * expected, v.path
