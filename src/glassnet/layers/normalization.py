"""BatchNormalization: normalize each feature with batch statistics (training) or moving ones (inference)."""
import numpy as np

from .. import initializers, ops
from ..engine import no_grad
from .layer import Layer


class BatchNormalization(Layer):
    """``y = gamma · (x − mean) / sqrt(var + epsilon) + beta``, per feature along ``axis`` (as Keras 3).

    * ``training=True`` (in ``fit``): mean and var are the batch's (biased variance, over every axis
      but ``axis``), and the moving statistics are updated::

          moving_mean     = momentum · moving_mean     + (1 − momentum) · mean
          moving_variance = momentum · moving_variance + (1 − momentum) · var

      (Keras 3 uses the biased batch variance here; PyTorch's running_var uses the unbiased one.)
    * ``training=False`` (``predict``, ``evaluate``, calling the layer): mean and var are
      ``moving_mean`` and ``moving_variance``, nothing is updated.
    * A layer with ``trainable=False`` always runs in inference mode (Keras 3 behaviour, for fine-tuning).

    Args:
        axis: the feature axis (default -1, the channels of (N, H, W, C) or the units of (N, U)).
        momentum: default 0.99.   epsilon: default 1e-3.
        center: learn ``beta`` (default True).   scale: learn ``gamma`` (default True).
        beta_initializer "zeros", gamma_initializer "ones", moving_mean_initializer "zeros",
        moving_variance_initializer "ones".

    Weights (Keras order): gamma, beta (trainable); moving_mean, moving_variance (non-trainable); each (C,).

    Input shape: any, with at least 2 axes.   Output shape: the same.

    Example (inference with the initial statistics: y = x / sqrt(1 + 0.001))::

        >>> BatchNormalization()(np.array([[1.0, 2.0]])).round(4)
        array([[0.9995, 1.999 ]], dtype=float32)
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"BatchNormalization: axis must be an int. Received: axis={axis!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1]. Received: momentum={momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0. Received: epsilon={epsilon}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.initializers = {name: initializers.get(init) for name, init in (
            ("beta_initializer", beta_initializer), ("gamma_initializer", gamma_initializer),
            ("moving_mean_initializer", moving_mean_initializer),
            ("moving_variance_initializer", moving_variance_initializer))}
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._min_ndim = 2

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"BatchNormalization: axis={self.axis} is not a feature axis of input shape "
                             f"{tuple(input_shape)} (axis 0 is the batch).")
        c = input_shape[self.axis]
        if c is None:
            raise ValueError(f"BatchNormalization: the size of axis {self.axis} must be known. Received "
                             f"input_shape={tuple(input_shape)}")
        init = self.initializers
        if self.scale:
            self.gamma = self.add_weight((c,), init["gamma_initializer"], "gamma")
        if self.center:
            self.beta = self.add_weight((c,), init["beta_initializer"], "beta")
        self.moving_mean = self.add_weight((c,), init["moving_mean_initializer"], "moving_mean", trainable=False)
        self.moving_variance = self.add_weight((c,), init["moving_variance_initializer"], "moving_variance",
                                               trainable=False)
        self._axis, self._c = self.axis % ndim, c
        self.built = True

    def _check_input_shape(self, shape):
        super()._check_input_shape(shape)
        if self.built and (len(shape) <= self._axis or shape[self._axis] != self._c):
            raise ValueError(f"BatchNormalization (layer {self.name!r}) was built for {self._c} features on "
                             f"axis {self.axis}; got input of shape {tuple(shape)}.")

    def call(self, x, training=False):
        reduce = tuple(i for i in range(x.ndim) if i != self._axis)
        shape = [1] * x.ndim
        shape[self._axis] = self._c
        if training and self.trainable:
            mean = ops.mean(x, axis=reduce, keepdims=True)                 # batch statistics
            centered = ops.sub(x, mean)
            var = ops.mean(ops.mul(centered, centered), axis=reduce, keepdims=True)
            with no_grad():
                m = x.dtype.type(self.momentum)
                self.moving_mean.data[...] = m * self.moving_mean.data + (1 - m) * mean.data.ravel()
                self.moving_variance.data[...] = m * self.moving_variance.data + (1 - m) * var.data.ravel()
            inv_std = ops.pow(ops.add(var, x.dtype.type(self.epsilon)), x.dtype.type(-0.5))
        else:
            centered = ops.sub(x, self.moving_mean.data.reshape(shape))     # moving statistics
            inv_std = (self.moving_variance.data.reshape(shape) + x.dtype.type(self.epsilon)) ** -0.5
        y = ops.mul(centered, inv_std)                                      # (x − mean) / sqrt(var + ε)
        if self.gamma is not None:
            y = ops.mul(y, ops.reshape(self.gamma, shape))
        if self.beta is not None:
            y = ops.add(y, ops.reshape(self.beta, shape))
        return y

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                **{name: initializers.serialize(init) for name, init in self.initializers.items()}}
