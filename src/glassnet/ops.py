"""Primitive differentiable ops: each forward line is followed by its local derivative.

Every op takes Tensors (or numbers / arrays, which are wrapped in the dtype of the Tensor beside
them, so a Python float never promotes float32 to float64) and returns a Tensor. The closure
``backward(g)`` receives ``g = dL/d(out)`` and returns ``dL/d(input)`` for each input, in order.

Binary ops broadcast like NumPy; their gradients are "summed in reverse" by ``unbroadcast``.
"""
import builtins

import numpy as np

from .engine import Tensor, make


def _pair(a, b):
    """Wrap a and b as Tensors of one float dtype (the dtype of whichever is a Tensor)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a, b
    if isinstance(a, Tensor):
        return a, Tensor(b, dtype=a.dtype)
    if isinstance(b, Tensor):
        return Tensor(a, dtype=b.dtype), b
    return Tensor(a), Tensor(b)


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: over the axes broadcasting added, and the axes it stretched."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


# -- arithmetic -----------------------------------------------------------------------------------
def add(a, b):
    a, b = _pair(a, b)
    out = a.data + b.data                                         # a + b
    def backward(g):                                              # d/da = 1, d/db = 1
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)
    return make(out, (a, b), backward, "add")


def sub(a, b):
    a, b = _pair(a, b)
    out = a.data - b.data                                         # a - b
    def backward(g):                                              # d/da = 1, d/db = -1
        return unbroadcast(g, a.shape), unbroadcast(-g, b.shape)
    return make(out, (a, b), backward, "sub")


def neg(a):
    a = _t(a)
    def backward(g):                                              # d(-a)/da = -1
        return (-g,)
    return make(-a.data, (a,), backward, "neg")


def mul(a, b):
    a, b = _pair(a, b)
    out = a.data * b.data                                         # a * b
    def backward(g):                                              # d/da = b, d/db = a
        return unbroadcast(g * b.data, a.shape), unbroadcast(g * a.data, b.shape)
    return make(out, (a, b), backward, "mul")


def div(a, b):
    a, b = _pair(a, b)
    out = a.data / b.data                                         # a / b
    def backward(g):                                              # d/da = 1/b, d/db = -a/b² = -out/b
        gb = g / b.data
        return unbroadcast(gb, a.shape), unbroadcast(-gb * out, b.shape)
    return make(out, (a, b), backward, "div")


def pow(a, b):
    """``a ** b``. d/da = b·a^(b−1); d/db = a^b·ln a (only where a > 0)."""
    a, b = _pair(a, b)
    out = a.data ** b.data
    def backward(g):
        da = unbroadcast(g * b.data * a.data ** (b.data - 1), a.shape) if a.requires_grad else None
        db = None
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a.data > 0, np.log(np.where(a.data > 0, a.data, 1)), 0)
            db = unbroadcast(g * out * log_a.astype(out.dtype), b.shape)
        return da, db
    return make(out, (a, b), backward, "pow")


def matmul(a, b):
    """``a @ b``. For 2-D: dA = g·Bᵀ, dB = Aᵀ·g (batched and 1-D operands handled as NumPy does)."""
    a, b = _pair(a, b)
    out = a.data @ b.data
    def backward(g):
        A, B = a.data, b.data
        A2 = A[None, :] if A.ndim == 1 else A
        B2 = B[:, None] if B.ndim == 1 else B
        g2 = g
        if B.ndim == 1:                      # (this one first: for vector @ vector, g is 0-d)
            g2 = np.expand_dims(g2, -1)
        if A.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        da = unbroadcast(g2 @ np.swapaxes(B2, -1, -2), A2.shape).reshape(A.shape) if a.requires_grad else None
        db = unbroadcast(np.swapaxes(A2, -1, -2) @ g2, B2.shape).reshape(B.shape) if b.requires_grad else None
        return da, db
    return make(out, (a, b), backward, "matmul")


def linear(x, kernel, bias=None):
    """The dense layer's affine map, fused: ``y = x @ kernel + bias``; x (N, D), kernel (D, U), bias (U,).

    dx = g·kernelᵀ,  dkernel = xᵀ·g,  dbias = Σ_n g   (one graph node instead of two)
    """
    parents = (x, kernel) if bias is None else (x, kernel, bias)
    out = x.data @ kernel.data
    if bias is not None:
        out += bias.data
    def backward(g):
        dx = g @ kernel.data.T if x.requires_grad else None
        x2, g2 = x.data, g
        if g.ndim != 2:                                           # (N, ..., D): the rows of every sample
            x2, g2 = x2.reshape(-1, x2.shape[-1]), g.reshape(-1, g.shape[-1])
        dk = x2.T @ g2 if kernel.requires_grad else None
        if bias is None:
            return dx, dk
        return dx, dk, (g2.sum(axis=0) if bias.requires_grad else None)
    return make(out, parents, backward, "linear")


# -- elementwise functions ---------------------------------------------------------------------------
def exp(a):
    a = _t(a)
    out = np.exp(a.data)                                          # e^a
    return make(out, (a,), lambda g: (g * out,), "exp")          # d/da = e^a (saved output)


def log(a):
    a = _t(a)
    out = np.log(a.data)                                          # ln a
    return make(out, (a,), lambda g: (g / a.data,), "log")        # d/da = 1/a


def sqrt(a):
    a = _t(a)
    out = np.sqrt(a.data)                                         # √a
    return make(out, (a,), lambda g: (g / (2 * out),), "sqrt")    # d/da = 1/(2√a)


def abs(a):
    a = _t(a)
    out = np.abs(a.data)                                          # |a|
    return make(out, (a,), lambda g: (g * np.sign(a.data),), "abs")   # d/da = sign(a) (0 at 0)


def sin(a):
    a = _t(a)
    return make(np.sin(a.data), (a,), lambda g: (g * np.cos(a.data),), "sin")    # d/da = cos a


def cos(a):
    a = _t(a)
    return make(np.cos(a.data), (a,), lambda g: (-g * np.sin(a.data),), "cos")   # d/da = −sin a


def maximum(a, b):
    """Elementwise max; where a == b the gradient goes to a (as in NumPy-style subgradients)."""
    a, b = _pair(a, b)
    out = np.maximum(a.data, b.data)
    def backward(g):
        pick_a = a.data >= b.data
        return unbroadcast(g * pick_a, a.shape), unbroadcast(g * ~pick_a, b.shape)
    return make(out, (a, b), backward, "maximum")


def clip(a, min_value, max_value):
    """Clip into [min_value, max_value]; the gradient passes only where a was inside the range."""
    a = _t(a)
    out = np.clip(a.data, min_value, max_value).astype(a.dtype, copy=False)
    def backward(g):
        inside = (a.data >= min_value) & (a.data <= max_value)
        return (g * inside,)
    return make(out, (a,), backward, "clip")


def where(condition, a, b):
    """``condition ? a : b`` elementwise (condition is a plain boolean array)."""
    a, b = _pair(a, b)
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    out = np.where(cond, a.data, b.data)
    def backward(g):
        return unbroadcast(g * cond, a.shape), unbroadcast(g * ~cond, b.shape)
    return make(out, (a, b), backward, "where")


# -- reductions --------------------------------------------------------------------------------------
def _expand(g, shape, axis, keepdims):
    """Put back the reduced axes of ``g`` so it broadcasts against an input of ``shape``."""
    if axis is None or keepdims:
        return g if axis is not None else np.reshape(g, (1,) * len(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return np.expand_dims(g, tuple(ax % len(shape) for ax in axes))


def sum(a, axis=None, keepdims=False):
    a = _t(a)
    out = np.asarray(a.data.sum(axis=axis, keepdims=keepdims))   # Σ a
    def backward(g):                                               # each input got weight 1
        return (np.broadcast_to(_expand(g, a.shape, axis, keepdims), a.shape).copy(),)
    return make(out, (a,), backward, "sum")


def mean(a, axis=None, keepdims=False):
    a = _t(a)
    out = np.asarray(a.data.mean(axis=axis, keepdims=keepdims))  # Σ a / n
    n = a.data.size // builtins.max(out.size, 1)
    def backward(g):                                               # each input got weight 1/n
        g = _expand(g, a.shape, axis, keepdims) / np.asarray(n, dtype=a.dtype)
        return (np.broadcast_to(g, a.shape).copy(),)
    return make(out, (a,), backward, "mean")


def max(a, axis=None, keepdims=False):
    """Max over ``axis``; ties share the gradient equally (as in PyTorch's amax)."""
    a = _t(a)
    out = np.asarray(a.data.max(axis=axis, keepdims=keepdims))
    def backward(g):
        o = _expand(out, a.shape, axis, keepdims)
        mask = (a.data == o).astype(a.dtype)
        mask /= mask.sum(axis=axis, keepdims=True) if axis is not None else mask.sum()
        return (mask * _expand(g, a.shape, axis, keepdims),)
    return make(out, (a,), backward, "max")


# -- shape ---------------------------------------------------------------------------------------------
def reshape(a, shape):
    a = _t(a)
    out = a.data.reshape(shape)
    return make(out, (a,), lambda g: (g.reshape(a.shape),), "reshape")


def transpose(a, axes=None):
    a = _t(a)
    out = np.transpose(a.data, axes)
    inverse = None if axes is None else np.argsort([ax % a.ndim for ax in axes])   # negative axes too
    return make(out, (a,), lambda g: (np.transpose(g, inverse),), "transpose")


def getitem(a, index):
    a = _t(a)
    if isinstance(index, Tensor):
        index = index.data
    out = a.data[index]
    def backward(g):                                   # scatter g back; repeated indices add up
        da = np.zeros_like(a.data)
        np.add.at(da, index, g)
        return (da,)
    return make(np.array(out) if np.isscalar(out) else out, (a,), backward, "getitem")


def concatenate(tensors, axis=0):
    tensors = [_t(t) for t in tensors]
    out = np.concatenate([t.data for t in tensors], axis=axis)
    splits = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    return make(out, tuple(tensors), lambda g: tuple(np.split(g, splits, axis=axis)), "concatenate")
