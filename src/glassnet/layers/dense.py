"""Dense: the fully connected layer, ``y = activation(x @ kernel + bias)``."""
import numpy as np

from .. import activations, initializers, ops
from .layer import Layer


def check_positive_int(value, argname, layer_cls):
    """``value`` as an int >= 1, else a TypeError (not an int, or a bool) or ValueError (< 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer_cls}: {argname} must be a positive int. "
                        f"Received: {argname}={value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"Received an invalid value for `{argname}` of {layer_cls}, expected a positive "
                         f"integer (>= 1). Received: {argname}={value}")
    return int(value)


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``.

    Args:
        units: U, the number of outputs (a positive int).
        activation: name ("relu", "sigmoid", "softmax", ...), function, or None (linear: ``a(z) = z``).
        use_bias: whether to add ``bias``.
        kernel_initializer: initializer of ``kernel`` (default "glorot_uniform":
            U(-limit, limit), limit = sqrt(6 / (D + U))).
        bias_initializer: initializer of ``bias`` (default "zeros").
        **kwargs: base Layer arguments (``name``, ``input_shape``, ``trainable``, ``dtype``).

    Weights:
        kernel: (D, U);  bias: (U,).

    Input shape:  (N, D), or (N, ..., D): the kernel is applied on the last axis, as Keras does.
    Output shape: (N, U), or (N, ..., U).

    Raises:
        ValueError: ``units < 1``; an input whose last dimension is not D ("add Flatten()").
        TypeError: ``units`` not an int.

    Example (Keras's dense correctness test)::

        >>> layer = Dense(2)
        >>> layer.build((None, 2))
        >>> layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]]), np.array([5.0, -6.0])])
        >>> layer(np.array([[10.0, 0.0]]))       # [10, 0] @ kernel + bias
        array([[ 15., -26.]], dtype=float32)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", "Dense")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None
        self._min_ndim = 2

    def build(self, input_shape):
        d = input_shape[-1] if len(input_shape) >= 2 else None
        if d is None:
            raise ValueError(f"Dense needs inputs of shape (N, D) with a known D; got input_shape "
                             f"{tuple(input_shape)} (layer {self.name!r}).")
        self.kernel = self.add_weight((d, self.units), self.kernel_initializer, "kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, "bias")
        self._expected_last_dim = d
        self.built = True

    def call(self, x, training=False):
        return self.activation(ops.linear(x, self.kernel, self.bias))   # f(x @ kernel + bias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}
