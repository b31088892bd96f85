"""Pooling layers, channels last: MaxPooling2D, AveragePooling2D and their global versions."""
from .. import conv, ops
from .conv2d import check_data_format, check_image_shape, check_padding, int_pair
from .layer import Layer


class _Pooling2D(Layer):
    _op = None          # conv.max_pool2d or conv.avg_pool2d

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = int_pair(pool_size, "pool_size", cls)
        self.strides = self.pool_size if strides is None else int_pair(strides, "strides", cls)
        self.padding = check_padding(padding, cls)
        self.data_format = check_data_format(data_format, cls)

    def _check_input_shape(self, shape):
        check_image_shape(self, shape, self.pool_size, self.strides, self.padding)

    def call(self, x, training=False):
        return type(self)._op(x, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        return (n, conv.conv_output_size(h, kh, sh, self.padding),
                conv.conv_output_size(w, kw, sw, self.padding), c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """``out[n, oh, ow, c] = max over the window of x[n, oh·SH + i, ow·SW + j, c]``.

    Args:
        pool_size: (KH, KW) or one int; default (2, 2).
        strides: (SH, SW), one int, or None (default: equal to ``pool_size``, windows don't overlap).
        padding: "valid" (OH = ⌊(H − KH)/SH⌋ + 1: a leftover row is dropped) or "same" (OH = ⌈H/SH⌉).
        data_format: None or "channels_last".

    Input shape: (N, H, W, C).   Output shape: (N, OH, OW, C). No weights.

    Backward: each gradient goes to the position of its window's maximum (the first one if tied).

    Example (the notes' 4×4 example)::

        >>> import numpy as np
        >>> x = np.array([[1, 4, 2, 7], [2, 6, 8, 5], [3, 4, 0, 7], [1, 2, 3, 1]])
        >>> MaxPooling2D()(x.reshape(1, 4, 4, 1))[0, :, :, 0]
        array([[6., 8.],
               [4., 7.]], dtype=float32)
    """
    _op = staticmethod(conv.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """``out[n, oh, ow, c] = mean over the window``; with "same" the padded cells are not counted (Keras).

    Arguments, shapes and defaults as ``MaxPooling2D``. Backward: g / window size to every pixel of the window.
    """
    _op = staticmethod(conv.avg_pool2d)


class _GlobalPooling2D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def _check_input_shape(self, shape):
        check_image_shape(self, shape)

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """``out[n, c] = mean over h, w of x[n, h, w, c]``: (N, H, W, C) → (N, C), or (N, 1, 1, C) with keepdims."""

    def call(self, x, training=False):
        return ops.mean(x, axis=(1, 2), keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """``out[n, c] = max over h, w of x[n, h, w, c]``; ties share the gradient equally (as TF's reduce_max)."""

    def call(self, x, training=False):
        return ops.max(x, axis=(1, 2), keepdims=self.keepdims)
