"""Convolution and pooling on channels-last images: the output-size rule, padding, im2col, and the ops.

Deep learning's "convolution" is cross-correlation (as in Keras and PyTorch): the kernel is slid over
the image *without* flipping it, and each output is the sum of the elementwise product::

    out[n, oh, ow, f] = Σ_{i, j, c} x[n, oh·SH + i, ow·SW + j, c] · kernel[i, j, c, f] + bias[f]

Output size per spatial axis (H with kernel K, stride S, padding P on each side)::

    valid:  OH = ⌊(H + 2P − K) / S⌋ + 1   with P = 0
    same:   OH = ⌈H / S⌉, padding total = max((OH − 1)·S + K − H, 0), the odd pixel at the bottom/right (TF)

The fast path (``conv2d``) is one matrix product: ``im2col`` copies every KH×KW×C patch into a row of
``cols`` (N·OH·OW, KH·KW·C), then ``out = cols @ kernel.reshape(KH·KW·C, F)``. Backward::

    dkernel = colsᵀ · g          dbias = Σ_rows g          dx = col2im(g · kernelᵀ)

``col2im`` adds each patch gradient back where its pixels came from (a loop over the KH·KW kernel
offsets only). Conv2D layers run the same products through ``conv_fused.conv2d_block``, which
also folds in the ReLU and a following max pooling and splits the batch over two cores; ``conv2d``
is the plain form (used by the look-inside plots, and as that block's reference in the tests).
``conv2d_naive`` / ``max_pool2d_naive`` / ``avg_pool2d_naive`` are the loop definitions
the fast ops are tested against. Shapes: N batch, H/W size, C channels, F filters, KH/KW kernel,
SH/SW strides, OH/OW output size.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .engine import is_grad_enabled, make

PADDINGS = ("valid", "same")


def _pair(value):
    return (int(value), int(value)) if np.ndim(value) == 0 else tuple(int(v) for v in value)


def conv_output_size(size, kernel, stride=1, padding="valid"):
    """Output length along one axis: ⌊(size + 2P − kernel)/stride⌋ + 1, or ⌈size/stride⌉ for "same".

    ``padding`` is "valid" (P = 0), "same", or an int P (zeros on both sides). May return ≤ 0
    (the kernel does not fit); layers turn that into an error.

    Example:
        >>> conv_output_size(32, 3), conv_output_size(15, 3, 2), conv_output_size(5, 3, 2, "same")
        (30, 7, 3)
    """
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    pad = 0 if padding == "valid" else int(padding)
    return (size + 2 * pad - kernel) // stride + 1


def padding_amounts(size, kernel, stride, padding):
    """(before, after) pixels of padding on one axis; "same" puts the odd one after, as TF/Keras."""
    if padding == "valid":
        return 0, 0
    if padding != "same":
        return int(padding), int(padding)
    out = conv_output_size(size, kernel, stride, "same")
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad(x, pads, value=0.0):
    """x (N, H, W, C) with ``pads = ((top, bottom), (left, right))`` rows/columns of ``value`` added."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + t + b, w + l + r, c), value, dtype=x.dtype)
    out[:, t:t + h, l:l + w] = x
    return out


def _geometry(x_shape, kernel_hw, strides, padding):
    """Padding amounts and the output size (OH, OW) for an (N, H, W, C) input."""
    (kh, kw), (sh, sw) = kernel_hw, strides
    h, w = x_shape[1], x_shape[2]
    pads = (padding_amounts(h, kh, sh, padding), padding_amounts(w, kw, sw, padding))
    oh, ow = conv_output_size(h, kh, sh, padding), conv_output_size(w, kw, sw, padding)
    if oh < 1 or ow < 1:
        raise ValueError(f"output spatial size would be 0: input {h}×{w}, window {kh}×{kw}, strides "
                         f"{strides}, padding={padding!r} gives {oh}×{ow}. Use padding='same' or a "
                         f"smaller kernel/pool.")
    return pads, oh, ow


def _offset(xp, i, j, strides, out_hw):
    """The (N, OH, OW, C) view of padded ``xp`` seen by kernel offset (i, j): x[n, oh·SH + i, ow·SW + j]."""
    (sh, sw), (oh, ow) = strides, out_hw
    return xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def im2col(xp, kernel_hw, strides, out_hw):
    """Patches of padded xp (N, H, W, C) as rows: cols (N·OH·OW, KH·KW·C), ordered like kernel.reshape.

    ``sliding_window_view`` gives all windows without copying; one reshape copies them (measured
    faster than filling the columns offset by offset for C = 3 and C = 32).
    """
    (kh, kw), (sh, sw), (oh, ow) = kernel_hw, strides, out_hw
    n, c = xp.shape[0], xp.shape[3]
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :oh, :ow]  # (N,OH,OW,C,KH,KW)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)


def col2im(dcols, xp_shape, kernel_hw, strides, out_hw):
    """The adjoint of im2col: add patch gradients back onto the padded image (N, H, W, C).

    ``dcols`` is laid out offset-major, (KH·KW, N·OH·OW, C), so each offset's slab is contiguous;
    the loop runs over the KH·KW kernel offsets only.
    """
    (kh, kw), (oh, ow) = kernel_hw, out_hw
    n, c = xp_shape[0], xp_shape[3]
    dxp = np.zeros(xp_shape, dtype=dcols.dtype)
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        _offset(dxp, i, j, strides, out_hw)[...] += dcols[k].reshape(n, oh, ow, c)
    return dxp


def _crop(dxp, pads, h, w):
    (t, _), (l, _) = pads
    return dxp if dxp.shape[1:3] == (h, w) else dxp[:, t:t + h, l:l + w]


# -- convolution ------------------------------------------------------------------------------------
def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid"):
    """2-D cross-correlation, channels last: x (N, H, W, C), kernel (KH, KW, C, F), bias (F,) → (N, OH, OW, F).

    One matrix product forward (``cols @ kernel``) and two backward (``colsᵀ·g``, ``g·kernelᵀ``).
    Example (``[[1, 2], [3, 4]]`` correlated with a 2×2 kernel of ones sums the window)::

        >>> x, kernel = np.arange(1, 5).reshape(1, 2, 2, 1), np.ones((2, 2, 1, 1), np.float32)
        >>> conv2d(Tensor(x), Tensor(kernel)).data.ravel()        # 1 + 2 + 3 + 4
        array([10.], dtype=float32)
    """
    strides = _pair(strides)
    n, h, w, c = x.shape
    kh, kw, kc, f = kernel.shape
    if kc != c:
        raise ValueError(f"conv2d: the kernel expects {kc} input channels, got input of shape {x.shape}")
    pads, oh, ow = _geometry(x.shape, (kh, kw), strides, padding)
    xp = pad(x.data, pads)
    cols = im2col(xp, (kh, kw), strides, (oh, ow))               # (N·OH·OW, KH·KW·C)
    wm = kernel.data.reshape(kh * kw * c, f)
    out = cols @ wm                                              # (N·OH·OW, F): the one product
    if bias is not None:
        out += bias.data

    def backward(g):
        g2 = g.reshape(-1, f)
        dx = dk = db = None
        if x.requires_grad:                                      # dx = col2im(g · kernelᵀ)
            dcols = np.matmul(g2, wm.reshape(kh * kw, c, f).transpose(0, 2, 1))   # (KH·KW, N·OH·OW, C)
            dx = _crop(col2im(dcols, xp.shape, (kh, kw), strides, (oh, ow)), pads, h, w)
        if kernel.requires_grad:                                 # dkernel = colsᵀ · g
            dk = (cols.T @ g2).reshape(kernel.shape)
        if bias is not None and bias.requires_grad:              # dbias = Σ_rows g
            db = g2.sum(axis=0)
        return (dx, dk) if bias is None else (dx, dk, db)
    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return make(out.reshape(n, oh, ow, f), parents, backward, "conv2d")


def conv2d_naive(x, kernel, bias=None, strides=(1, 1), padding="valid"):
    """The definition, with loops over every output pixel (arrays in, array out; a test oracle)."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    (sh, sw), (kh, kw, _, f) = _pair(strides), kernel.shape
    pads, oh, ow = _geometry(x.shape, (kh, kw), (sh, sw), padding)
    xp = pad(x, pads)
    out = np.zeros((x.shape[0], oh, ow, f), dtype=x.dtype)
    for n in range(x.shape[0]):
        for r in range(oh):
            for q in range(ow):
                patch = xp[n, r * sh:r * sh + kh, q * sw:q * sw + kw, :]          # (KH, KW, C)
                for k in range(f):
                    out[n, r, q, k] = np.sum(patch * kernel[..., k])
    return out if bias is None else out + np.asarray(bias)


# -- pooling ----------------------------------------------------------------------------------------
def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Max over each window: x (N, H, W, C) → (N, OH, OW, C); ``strides`` default to ``pool_size``.

    The maximum of the KH·KW strided views (one per window offset; measured faster than a reshape
    even when the windows tile the image). "same" pads with −inf. Backward routes each g to the
    first maximum of its window (row-major order, as PyTorch): the argmax masks are kept from forward.
    """
    (kh, kw) = _pair(pool_size)
    strides = (kh, kw) if strides is None else _pair(strides)
    pads, oh, ow = _geometry(x.shape, (kh, kw), strides, padding)
    xp = pad(x.data, pads, value=-np.inf)
    views = [_offset(xp, i, j, strides, (oh, ow)) for i in range(kh) for j in range(kw)]
    out = views[0].copy()
    for v in views[1:]:
        np.maximum(out, v, out=out)
    if not (is_grad_enabled() and x.requires_grad):
        return make(out, (x,), None, "max_pool2d")
    masks = np.empty((len(views),) + out.shape, dtype=bool)     # masks[k]: offset k holds the max
    free = np.ones(out.shape, dtype=bool)                        # windows whose max is not yet claimed
    for k, v in enumerate(views):
        np.equal(v, out, out=masks[k])
        masks[k] &= free
        free &= ~masks[k]
    disjoint = strides[0] >= kh and strides[1] >= kw

    def backward(g):
        dxp = np.zeros(xp.shape, dtype=g.dtype)
        for k in range(kh * kw):
            view = _offset(dxp, *divmod(k, kw), strides, (oh, ow))
            if disjoint:
                np.multiply(g, masks[k], out=view)               # windows don't overlap: write
            else:
                view += g * masks[k]                             # overlapping windows: add up
        return (_crop(dxp, pads, x.shape[1], x.shape[2]),)
    return make(out, (x,), backward, "max_pool2d")


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Mean over each window; with "same" the padded cells are not counted (as TF/Keras).

    Backward: each input pixel gets g / count from every window it belongs to.
    """
    (kh, kw) = _pair(pool_size)
    strides = (kh, kw) if strides is None else _pair(strides)
    pads, oh, ow = _geometry(x.shape, (kh, kw), strides, padding)
    xp = pad(x.data, pads)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += _offset(xp, i, j, strides, (oh, ow))
    count = np.asarray(kh * kw, dtype=x.dtype)
    if padding == "same":                                        # cells of real pixels per window
        ones = pad(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), pads)
        count = sum(_offset(ones, i, j, strides, (oh, ow)) for i in range(kh) for j in range(kw))
    out /= count

    def backward(g):
        dxp = np.zeros(xp.shape, dtype=g.dtype)
        gc = g / count
        for i in range(kh):
            for j in range(kw):
                _offset(dxp, i, j, strides, (oh, ow))[...] += gc
        return (_crop(dxp, pads, x.shape[1], x.shape[2]),)
    return make(out, (x,), backward, "avg_pool2d")


def _pool_naive(x, pool_size, strides, padding, reduce, fill):
    x = np.asarray(x)
    (kh, kw) = _pair(pool_size)
    (sh, sw) = (kh, kw) if strides is None else _pair(strides)
    pads, oh, ow = _geometry(x.shape, (kh, kw), (sh, sw), padding)
    xp = pad(x, pads, value=fill)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for n in range(x.shape[0]):
        for r in range(oh):
            for q in range(ow):
                for c in range(x.shape[3]):
                    out[n, r, q, c] = reduce(xp[n, r * sh:r * sh + kh, q * sw:q * sw + kw, c])
    return out


def max_pool2d_naive(x, pool_size=(2, 2), strides=None, padding="valid"):
    """The definition of max pooling, one window at a time (a test oracle)."""
    return _pool_naive(x, pool_size, strides, padding, np.max, -np.inf)


def avg_pool2d_naive(x, pool_size=(2, 2), strides=None, padding="valid"):
    """The definition of average pooling; padded cells (NaN here) are left out of the mean."""
    return _pool_naive(x, pool_size, strides, padding, lambda win: win[~np.isnan(win)].mean(), np.nan)


__all__ = ["conv_output_size", "padding_amounts", "pad", "im2col", "col2im", "conv2d", "conv2d_naive",
           "max_pool2d", "max_pool2d_naive", "avg_pool2d", "avg_pool2d_naive"]
