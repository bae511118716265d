"""Porting a PyTorch model: the "torch" preset gives a Keras model torch's default init.

A small CNN + LSTM classifier, written once in torch and once in Keras. Keras' own defaults
(Glorot kernels, zero biases, orthogonal recurrent kernels) differ from torch's
`reset_parameters()`, so a port trains differently from its first step. `keras_inits.apply(model,
"torch")` gives every layer the law of the matching torch module, including the biases, whose
torch bound comes from the kernel's fan_in. The table compares each weight's std and max |w|.

Run: `KERAS_BACKEND=jax python examples/port_torch.py` (any backend; needs torch installed).
"""

import math

import keras
import numpy as np
import torch

import keras_inits


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(8, 64, 5, groups=2)
        self.lstm = torch.nn.LSTM(64, 128, batch_first=True)
        self.head = torch.nn.Linear(128, 10)

    def forward(self, x):  # x: (batch, time, channels)
        h = self.conv(x.transpose(1, 2)).relu().transpose(1, 2)
        return self.head(self.lstm(h)[0][:, -1])


inputs = keras.Input((32, 8))
x = keras.layers.Conv1D(64, 5, groups=2, activation="relu", name="conv")(inputs)
x = keras.layers.LSTM(128, name="lstm")(x)
model = keras.Model(inputs, keras.layers.Dense(10, name="head")(x))

# The Keras variable and the torch tensor(s) it corresponds to. Keras' LSTM has one bias where
# torch has b_ih + b_hh: a ported checkpoint stores their sum, and so does the preset's law.
torch.manual_seed(0)
net = TorchNet()
pairs = {
    "conv/kernel": net.conv.weight, "conv/bias": net.conv.bias,
    "lstm/lstm_cell/kernel": net.lstm.weight_ih_l0,
    "lstm/lstm_cell/recurrent_kernel": net.lstm.weight_hh_l0,
    "lstm/lstm_cell/bias": net.lstm.bias_ih_l0 + net.lstm.bias_hh_l0,
    "head/kernel": net.head.weight, "head/bias": net.head.bias,
}


def stats(values):
    values = np.asarray(values, dtype="float64").ravel()
    return values.std(), np.abs(values).max()


keras_default = {v.path: stats(keras.ops.convert_to_numpy(v.value)) for v in model.weights}
report = keras_inits.apply(model, "torch", seed=0, verbose=0)
print(report)
print()
print(f"{'variable':34} {'torch std':>9} {'ours std':>9} {'Keras std':>9}   "
      f"{'torch max':>9} {'ours max':>9}")
for v in model.weights:
    torch_std, torch_max = stats(pairs[v.path].detach().numpy())
    our_std, our_max = stats(keras.ops.convert_to_numpy(v.value))
    print(f"{v.path:34} {torch_std:9.4f} {our_std:9.4f} {keras_default[v.path][0]:9.4f}   "
          f"{torch_max:9.4f} {our_max:9.4f}")
    # Same law: the two stds agree to sampling error. For n uniform-like samples a std's
    # relative standard error is about 0.45/sqrt(n), their difference's 0.63/sqrt(n): 5 SE.
    n = int(np.prod(v.shape))
    assert abs(our_std - torch_std) < 3.2 / math.sqrt(n) * torch_std, v.path
