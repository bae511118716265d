"""STFT: the windowed-DFT kernels of Keras' STFTSpectrogram layer."""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from keras_inits import _checks, _optional
from keras_inits._registry import register
from keras_inits.base import Initializer

SIDES = ("real", "imag")
SCALINGS = ("density", "spectrum")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _get_window(window: str, length: int, periodic: bool) -> np.ndarray:
    signal = _optional.require("scipy.signal", "stft", f"`STFT` with window={window!r}")
    return signal.get_window(window, length, fftbins=periodic)


@register("STFTInitializer")
class STFT(Initializer):
    """STFT kernel of shape `(T, 1, F)`: `W[t, 0, f] = cos(-2*pi*t*f / N) * w[t] / c`
    (`sin` for `side="imag"`), `N = 2 * (F - 1)`.

    `w` is the window (None: all ones) and `c` its normalisation: `sqrt(sum(w**2))` for
    `scaling="density"`, `sum(|w|)` for `"spectrum"`, 1 for None.

    Args:
        side: `"real"` (cosine) or `"imag"` (sine) part (default `"real"`).
        window: a `scipy.signal.windows` name (default `"hann"`), an array of length `T`, or None.
            With a scaling, it needs a non-zero entry (symmetric `"hann"` and `"bartlett"` of
            length 2 are all zeros: an error, not NaN).
        scaling: `"density"` (default), `"spectrum"` or None.
        periodic: use the periodic form of a named window (default False).

    Example:

    >>> kernel = keras_inits.STFT()((16, 1, 9))  # frame length 16, 9 frequency bins
    >>> tuple(kernel.shape)
    (16, 1, 9)
    >>> layer = keras.layers.STFTSpectrogram(frame_length=16, fft_length=16)
    """

    example_shapes = ((16, 1, 9), (8, 1, 5))

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        # Each error starts with Keras' own wording for the same value.
        self.side = _checks.choice(
            "side", side, SIDES, keras=f"side should be 'real' or 'imag', not {side}. "
        )
        if scaling is not None:
            _checks.choice(
                "scaling",
                scaling,
                SCALINGS,
                keras=(
                    "Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                    f"Received scaling={scaling}. "
                ),
            )
        self.scaling = scaling
        self.periodic = _checks.boolean("periodic", periodic)
        if isinstance(window, str):
            if _is_number(window):  # scipy < 1.13 reads "0.5" as a Kaiser window's beta
                raise ValueError(
                    "Argument `window` must name a window in `scipy.signal.windows`, not a "
                    f"number. Received: window={window!r}"
                )
            try:
                _get_window(window, 1, self.periodic)
            except ValueError as e:
                raise ValueError(  # scipy's message (what Keras raises), then ours
                    f"{e} Argument `window` must name a window in `scipy.signal.windows`. "
                    f"Received: window={window!r}"
                ) from None
        elif window is not None:
            try:
                array = np.asarray(window)
            except (TypeError, ValueError) as e:  # ragged lists, ...
                array, reason = None, f" ({e})"
            else:
                reason = f" (dtype {array.dtype})"
            if array is None or array.dtype.kind not in "biuf":  # no strings, complex, objects
                raise TypeError(
                    "Argument `window` must be a name, a 1-D array of finite real numbers or "
                    f"None. Received: window={window!r}{reason}"
                )
            array = array.astype("float64")
            if array.ndim != 1 or not np.all(np.isfinite(array)):
                raise ValueError(
                    "Argument `window` must be a name, a 1-D array of finite numbers or None. "
                    f"Received: window={window!r}"
                )
            if self.scaling is not None and array.size and not np.any(array):
                raise ValueError(
                    f"Argument `window` is all zeros, so scaling={self.scaling!r} would divide "
                    "by 0. Allowed: a window with a non-zero entry, or scaling=None. "
                    f"Received: window={window!r}"
                )
            window = array.tolist()
        self.window = window

    def _check_shape(self, shape):
        _checks.rank("STFT", shape, exact=3)
        if shape[2] == 1:
            raise ValueError(
                f"`STFT` needs at least 2 frequency bins in shape[2]. Received: shape={shape}"
            )
        if self.window is not None and not isinstance(self.window, str):
            if len(self.window) != shape[0]:
                raise ValueError(  # Keras' wording, then ours
                    "The shape of `window` must be equal to [frame_length]."
                    f"Received: window shape=({len(self.window)},). "
                    f"`STFT` window has length {len(self.window)}, but shape[0] is the frame "
                    f"length. Received: shape={shape}"
                )

    def _generate(self, shape, dtype):
        frames, channels, bins = shape
        cdtype = "float64" if dtype == "float64" else "float32"
        # The angle -2 pi t f / n is taken modulo 2 pi exactly, in integers: a table of the n
        # values cos(2 pi k / n) (or -sin) is indexed by (t * f) mod n. That is exact where
        # float phases of large t * f lose digits, and cheaper than a cos per element.
        n = max(2 * (bins - 1), 1)
        phase = 2.0 * math.pi * np.arange(n) / n
        table = (np.cos(phase) if self.side == "real" else -np.sin(phase)).astype(cdtype)
        if n & (n - 1) == 0 and n <= 1 << 16:
            # FFT lengths are usually powers of two: n divides 2**16, so uint16 products that
            # wrap are still right mod n, and a mask replaces the division (half the traffic).
            itype = np.uint16
        else:
            itype = np.int32  # (t mod n) * f < n * bins: fits int32
        rows = (np.arange(frames) % n).astype(itype)
        index = np.multiply.outer(rows, np.arange(bins, dtype=itype))
        if itype is np.uint16:
            np.bitwise_and(index, n - 1, out=index)
        else:
            np.remainder(index, n, out=index)
        kernel = np.take(table, index).reshape(frames, 1, bins)
        if self.window is not None:
            win = self.window
            if isinstance(win, str):
                win = _get_window(win, frames, self.periodic)
            win = np.asarray(win, dtype="float64").reshape(frames, 1, 1)
            peak = float(np.max(np.abs(win)))
            if self.scaling is not None:
                if peak == 0:
                    raise ValueError(
                        f"`STFT` window {self.window!r} of length {frames} is all zeros, so "
                        f"scaling={self.scaling!r} would divide by 0 (NaN). Allowed: a frame "
                        f"length whose window has a non-zero entry, or scaling=None. "
                        f"Received: shape={shape}, window={self.window!r}"
                    )
                win = win / peak  # both scalings are scale-invariant; avoids overflow in w**2
                norm = {"density": np.sqrt(np.sum(win**2)), "spectrum": np.sum(np.abs(win))}
                win = win / norm[self.scaling]
            else:
                _checks.fits("STFT", dtype, peak, {"window": self.window, "scaling": None})
            kernel *= win.astype(cdtype)
        kernel = np.broadcast_to(kernel, (frames, channels, bins))
        return ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self):
        return {
            "side": self.side,
            "window": self.window,
            "periodic": self.periodic,
            "scaling": self.scaling,
        }
