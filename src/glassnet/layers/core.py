"""Small layers without weights: Input/InputLayer, Activation, Dropout, Flatten, ReLU, LeakyReLU, Softmax."""
import math

import numpy as np

from .. import activations, config, ops
from .layer import Layer, _shape_tuple


class InputLayer(Layer):
    """``InputLayer(shape=None, batch_size=None, name=None)``: declares the shape of one sample.

    Passes its input through unchanged. As the first element of a ``Sequential`` it fixes the input
    shape, so the model can be built (and ``summary()`` printed) before seeing data.

    Attributes:
        shape / batch_shape: ``(batch_size, *shape)``, e.g. ``(None, 784)`` (Keras's ``Input(...).shape``).
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs):
        shape = kwargs.pop("input_shape", shape)
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)
        if shape is None and batch_shape is None:
            raise ValueError("InputLayer needs the shape of one sample, e.g. Input(shape=(784,)). "
                             "Received: shape=None")
        if shape is not None:
            shape = _shape_tuple(shape, "shape", "InputLayer")
            if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                           or batch_size < 1):
                raise ValueError(f"InputLayer: batch_size must be None or a positive int. "
                                 f"Received: batch_size={batch_size!r}")
            batch_shape = (batch_size,) + shape
        else:
            batch_shape = tuple(batch_shape)
            shape = _shape_tuple(batch_shape[1:], "batch_shape[1:]", "InputLayer")
            batch_shape = (batch_shape[0],) + shape
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = batch_shape
        self._input_shape_arg = (None,) + shape
        self.built = True
        self._build_input_shape = self._input_shape_arg

    @property
    def shape(self):
        return self.batch_shape

    def _check_input_shape(self, shape):
        want = self.batch_shape[1:]
        if len(shape) != len(want) + 1 or any(w is not None and d != w for w, d in zip(want, shape[1:])):
            raise ValueError(f"Input {self.name!r} expected samples of shape {self.batch_shape[1:]} "
                             f"(input shape {self._input_shape_arg}), got input of shape {tuple(shape)}; "
                             f"reshape x or change Input(shape=...)")

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """``Input(shape=(784,))``: an ``InputLayer`` to put first in a ``Sequential`` list, as in Keras 3."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)


class Activation(Layer):
    """``y = activation(x)``, e.g. ``Activation("relu")``; the shape is unchanged."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x, training=False):
        return self.activation(x)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Inverted dropout: in training ``y = x · mask / (1 - rate)``, mask ~ Bernoulli(1 - rate); else ``y = x``.

    Each input unit is zeroed with probability ``rate``; the survivors are scaled by 1/(1 − rate) so
    the expected value of y equals x and nothing needs rescaling at inference.

    Args:
        rate: fraction to drop, in [0, 1).
        noise_shape: shape of the mask, broadcast against x; None entries take x's size, e.g.
            ``(None, 1, None)`` drops the same features at every time step.
        seed: an int gives this layer its own generator (repeatable masks); None uses ``config.rng()``.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout: rate must be a float in [0, 1). Received: rate={rate!r}")
        if not 0 <= rate < 1:
            raise ValueError(f"Invalid value received for argument `rate` of Dropout: expected a float in "
                             f"[0, 1). Received: rate={rate}. rate is the fraction to DROP (0.2 drops 20%); "
                             f"rate=1 would drop everything.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"Dropout: seed must be None or a non-negative int. Received: seed={seed!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def call(self, x, training=False):
        if not training or self.rate == 0:
            return x
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if n is None else n for i, n in enumerate(self.noise_shape))
        rng = self._rng if self._rng is not None else config.rng()
        keep = rng.random(shape, dtype=np.float32) >= self.rate               # P(keep) = 1 - rate
        mask = keep.astype(x.dtype)
        mask *= x.dtype.type(1.0 / (1.0 - self.rate))
        return ops.mul(x, mask)                                                # dx = g · mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1·d2·...)``, e.g. MNIST (N, 28, 28) -> (N, 784). Order: C (row-major)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten supports data_format='channels_last' (or None) only. "
                             f"Received: data_format={data_format!r}")
        self.data_format = data_format

    def call(self, x, training=False):
        return ops.reshape(x, (x.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = tuple(input_shape)[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class ReLU(Layer):
    """``y = min(max_value, x)`` for x ≥ threshold, else ``negative_slope · (x − threshold)``.

    With the defaults this is ``max(x, 0)``.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be >= 0 or None. Received: max_value={max_value}")
        if negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0. Received: negative_slope={negative_slope}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope, self.threshold = float(negative_slope), float(threshold)

    def call(self, x, training=False):
        t = x.dtype.type(self.threshold)
        y = ops.where(x.data >= t, x, ops.mul(ops.sub(x, t), x.dtype.type(self.negative_slope)))
        if self.max_value is not None:
            y = ops.where(x.data >= self.max_value, np.zeros((), x.dtype) + self.max_value, y)
        return y

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """``y = x`` for x ≥ 0, else ``negative_slope · x``. The layer's default slope is 0.3 (Keras)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        if isinstance(negative_slope, bool) or not negative_slope >= 0:
            raise ValueError(f"LeakyReLU: negative_slope must be a float >= 0. "
                             f"Received: negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def call(self, x, training=False):
        return ops.where(x.data >= 0, x, ops.mul(x, x.dtype.type(self.negative_slope)))

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """``y_i = exp(x_i) / Σ_j exp(x_j)`` along ``axis`` (stable: computed from x − max x)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, x, training=False):
        return activations.softmax(x, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
