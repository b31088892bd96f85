"""Conv2D: ``y = activation(conv2d(x, kernel) + bias)`` on channels-last images.

It runs through ``conv_fused.conv2d_block`` (``conv.conv2d`` arranged for speed, ReLU fused);
``call_pooled`` also takes the MaxPooling2D that follows it in a ``Sequential``."""
import difflib

import numpy as np

from .. import activations, conv, conv_fused, initializers
from .dense import check_positive_int
from .layer import Layer


def int_pair(value, argname, layer_cls):
    """An int or a pair of ints ≥ 1 as a 2-tuple, e.g. ``kernel_size=3`` → (3, 3); else ValueError."""
    values = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                               for v in values):
        raise ValueError(f"Received an invalid value for `{argname}` of {layer_cls}: expected a positive int "
                         f"or a tuple of 2 positive ints (>= 1). Received: {argname}={value!r}")
    return tuple(int(v) for v in values)


def check_padding(padding, layer_cls):
    """"valid" or "same" (any case), else a ValueError listing both with a "did you mean" hint."""
    name = padding.lower() if isinstance(padding, str) else padding
    if name not in conv.PADDINGS:
        close = difflib.get_close_matches(str(name), conv.PADDINGS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Invalid padding for {layer_cls}: expected one of 'valid', 'same'. "
                         f"Received: padding={padding!r}.{hint}")
    return name


def check_data_format(data_format, layer_cls):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer_cls} supports data_format='channels_last' (or None) only: images as "
                         f"(N, H, W, C). Received: data_format={data_format!r}. For (N, C, H, W) arrays "
                         f"use x.transpose(0, 2, 3, 1).")
    return data_format


def check_image_shape(layer, shape, window=None, strides=None, padding="valid", first_call=False):
    """Raise a clear ValueError unless ``shape`` is (N, H, W, C) and the window fits (bad inputs 29, 30).

    With ``first_call`` (an unbuilt Conv2D), also reject shapes that look channels-first, (N, 3, 32, 32).
    """
    cls = type(layer).__name__
    if len(shape) != 4:
        hint = (" If the images have one channel, add the channel axis: x[..., None] (e.g. (N, 28, 28) -> "
                "(N, 28, 28, 1))." if len(shape) == 3 else "")
        raise ValueError(f"{cls} expected input of shape (N, H, W, C) (channels last), got input of shape "
                         f"{tuple(shape)} (layer {layer.name!r}).{hint}")
    _, h, w, c = shape
    if first_call and h in (1, 3, 4) and w is not None and w == c and c >= 8:
        raise ValueError(f"{cls} (layer {layer.name!r}) got input of shape {tuple(shape)}, which looks "
                         f"channels-first (N, C, H, W). Expected (N, H, W, C) (channels last): use "
                         f"x.transpose(0, 2, 3, 1).")
    if window is not None and padding == "valid":
        for axis, k, s in zip((1, 2), window, strides):
            size = shape[axis]
            if size is not None and conv.conv_output_size(size, k, s, padding) < 1:
                raise ValueError(f"{cls} (layer {layer.name!r}): output spatial size would be 0: input of "
                                 f"shape {tuple(shape)} is smaller than the window {tuple(window)} with "
                                 f"padding='valid'. Use padding='same', a smaller window, or larger images.")


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in Keras and PyTorch), channels last.

    ``out[n, oh, ow, f] = activation(Σ_{i, j, c} x[n, oh·SH + i, ow·SW + j, c] · kernel[i, j, c, f] + bias[f])``

    Args:
        filters: F, the number of output channels (a positive int).
        kernel_size: (KH, KW) or one int for both.
        strides: (SH, SW) or one int; default (1, 1).
        padding: "valid" (no padding: OH = ⌊(H − KH)/SH⌋ + 1) or "same" (OH = ⌈H/SH⌉, zeros added,
            the odd one at the bottom/right as Keras/TF).
        activation: name, function, or None (linear).
        use_bias: whether to add ``bias``.
        kernel_initializer: default "glorot_uniform" with fan_in = KH·KW·C, fan_out = KH·KW·F.
        bias_initializer: default "zeros".
        data_format: None or "channels_last" only.
        **kwargs: base Layer arguments (``name``, ``input_shape``, ``trainable``, ``dtype``).

    Weights: kernel (KH, KW, C, F); bias (F,). Parameters: KH·KW·C·F + F.

    Input shape: (N, H, W, C).   Output shape: (N, OH, OW, F).

    Raises:
        ValueError: filters or kernel_size < 1, unknown padding (construction); input not 4-D
            ("suggest x[..., None]"), channels-first-looking input, a kernel larger than the input with
            padding="valid" ("output spatial size would be 0"), a channel count that changed (build/call).

    Example:
        >>> layer = Conv2D(32, (3, 3), activation="relu")
        >>> layer(np.zeros((1, 32, 32, 3))).shape, layer.count_params()     # 3·3·3·32 + 32
        ((1, 30, 30, 32), 896)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters", "Conv2D")
        self.kernel_size = int_pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = int_pair(strides, "strides", "Conv2D")
        self.padding = check_padding(padding, "Conv2D")
        self.data_format = check_data_format(data_format, "Conv2D")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None

    def _check_input_shape(self, shape):
        check_image_shape(self, shape, self.kernel_size, self.strides, self.padding, self.kernel is None)
        c = shape[-1]
        if self.kernel is not None and c is not None and c != self.kernel.shape[2]:
            raise ValueError(f"Conv2D (layer {self.name!r}) expected {self.kernel.shape[2]} input channels "
                             f"(last axis), got input of shape {tuple(shape)}. Images must be (N, H, W, C); "
                             f"for (N, C, H, W) use x.transpose(0, 2, 3, 1).")

    def build(self, input_shape):
        c = input_shape[-1]
        if c is None:
            raise ValueError(f"Conv2D needs the number of channels (last axis) to be known; got input_shape "
                             f"{tuple(input_shape)} (layer {self.name!r}).")
        kh, kw = self.kernel_size
        self.kernel = self.add_weight((kh, kw, c, self.filters), self.kernel_initializer, "kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias")
        self.built = True

    def call(self, x, training=False):
        if self.fuses_pooling:
            return self.call_pooled(x, None)
        return self.activation(conv_fused.conv2d_block(x, self.kernel, self.bias, self.strides, self.padding))

    @property
    def fuses_pooling(self):
        """Whether the activation (ReLU or none) can run inside the conv op, after a fused max pooling."""
        return self.activation is activations.relu or self.activation is activations.linear

    def call_pooled(self, x, pool_size):
        """``call`` then max pooling over disjoint ``pool_size`` windows (None: none), as one op.

        Only for layers that ``fuses_pooling``; ``Sequential`` uses it for Conv2D → MaxPooling2D.
        """
        return conv_fused.conv2d_block(x, self.kernel, self.bias, self.strides, self.padding,
                                       relu=self.activation is activations.relu, pool=pool_size)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (n, conv.conv_output_size(h, kh, sh, self.padding),
                conv.conv_output_size(w, kw, sw, self.padding), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}
