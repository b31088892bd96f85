"""Activation functions: each forward formula with its derivative right below it.

Every function works on NumPy arrays (array in, array out: a float dtype is kept, integers become
``config.floatx()``) and on Tensors (Tensor in, differentiable Tensor out). Derivatives are taken
from the saved *output* where the textbook does so::

    linear      f(z) = z                             f'(z) = 1
    step        f(z) = 1 if z > 0 else 0             f'(z) = 0 almost everywhere (forward only)
    sigmoid     σ(z) = 1 / (1 + e^-z)                σ'(z) = σ(z)·(1 − σ(z))
    tanh        t(z) = tanh z                        t'(z) = 1 − t(z)²
    relu        f(z) = max(0, z)                     f'(z) = 1[z > 0]
    leaky_relu  f(z) = z if z > 0 else a·z           f'(z) = 1 if z > 0 else a
    softmax     s_i = e^(z_i) / Σ_j e^(z_j)          dL/dz = s·(g − Σ g·s)   (Jacobian-vector product)

As in Keras, the Tensors returned by ``sigmoid`` and ``softmax`` remember their input in
``._logits``, so a cross-entropy loss can work from the logits (stable, with gradient p − y).

Underflow to 0 (e.g. e^-1000) is the correctly rounded answer here. NumPy does not report it by
default (``np.seterr(under="ignore")``), so no per-call ``np.errstate`` guards it (≈1 µs each).
"""
import difflib
import numbers

import numpy as np

from . import config
from .engine import Tensor, make


def _unwrap(x):
    """``(array, is_tensor)``: a Tensor's data, or ``x`` as a float array (ints → floatx)."""
    if isinstance(x, Tensor):
        return x.data, True
    if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "f":
        return np.asarray(x), False
    return np.asarray(x, dtype=config.floatx()), False


def linear(x):
    """Identity: ``f(z) = z``, ``f'(z) = 1``. The activation of a Dense layer with ``activation=None``.

    Example:
        >>> linear(np.array([-1.0, 2.0]))
        array([-1.,  2.])
    """
    if isinstance(x, Tensor):
        return x
    return _unwrap(x)[0]


def step(x):
    """Heaviside step, the notes' "the neuron fires" rule: ``f(z) = 1 if z > 0 else 0`` (so f(0) = 0).

    Its derivative is 0 everywhere except at z = 0, where it does not exist, so gradient descent
    cannot learn through it: it is a *forward-only* activation. On a Tensor it returns a Tensor
    (so ``predict`` works), but calling ``backward()`` through it raises a RuntimeError that says
    which activation to train with instead.

    Args:
        x: array or Tensor.

    Returns:
        0/1 values of the same float dtype.

    Example:
        >>> step(np.array([-2.0, 0.0, 3.0]))
        array([0., 0., 1.])
    """
    z, is_tensor = _unwrap(x)
    out = (z > 0).astype(z.dtype)                                 # 1[z > 0]
    if not is_tensor:
        return out
    def backward(g):                                              # f'(z) = 0 a.e.: nothing to learn
        raise RuntimeError(
            "Cannot backpropagate through the 'step' activation: its derivative is 0 almost "
            "everywhere, so no gradient would reach the weights. Expected a differentiable "
            "activation for training. Hint: train with activation='sigmoid' (a smooth step) and "
            "threshold the outputs at 0.5 afterwards.")
    return make(out, (x,), backward, "step")


def _sigmoid(z):
    """σ(z) without overflow: only e^-|z| ≤ 1 is ever computed.

    z ≥ 0:  σ = 1 / (1 + e^-z)        z < 0:  σ = e^z / (1 + e^z)

    Both are ``e^min(z, 0) / (1 + e^-|z|)``: five cheap NumPy calls, no ``np.where`` (a 32 × 10
    batch: ≈ 3.5 µs instead of 5.2).
    """
    e = np.exp(-np.abs(z))                                        # e^-|z| in (0, 1]: never overflows
    return np.exp(np.minimum(z, 0)) / (1 + e)                     # (1 if z ≥ 0, else e^z = e) / (1 + e)


def sigmoid(x):
    """Logistic sigmoid ``σ(z) = 1 / (1 + e^-z)``, stable for any |z|; ``σ' = σ·(1 − σ)``.

    Args:
        x: array or Tensor of logits.

    Returns:
        Values in [0, 1] of the input's float dtype. A Tensor output keeps ``._logits = x``.

    Example:
        >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
        array([0. , 0.5, 1. ])
    """
    z, is_tensor = _unwrap(x)
    s = _sigmoid(z)                                               # σ(z)
    if not is_tensor:
        return s
    def backward(g):                                              # σ' = σ(1 − σ), from the output
        return (g * s * (1 - s),)
    out = make(s, (x,), backward, "sigmoid")
    out._logits = x
    return out


def tanh(x):
    """Hyperbolic tangent ``t = tanh z``; ``t' = 1 − t²`` from the saved output.

    Example:
        >>> tanh(np.array([0.0]))
        array([0.])
    """
    z, is_tensor = _unwrap(x)
    t = np.tanh(z)                                                # tanh z
    if not is_tensor:
        return t
    def backward(g):                                              # 1 − tanh²
        return (g * (1 - t * t),)
    return make(t, (x,), backward, "tanh")


def relu(x):
    """Rectified linear unit ``max(0, z)``; derivative ``1[z > 0]`` (0 at z = 0, as Keras and PyTorch).

    Example:
        >>> relu(np.array([-2.0, 0.0, 3.0]))
        array([0., 0., 3.])
    """
    z, is_tensor = _unwrap(x)
    out = np.maximum(z, 0).astype(z.dtype, copy=False)            # max(0, z)
    if not is_tensor:
        return out
    return make(out, (x,), lambda g: (g * (z > 0),), "relu")      # 1[z > 0]


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU ``z if z > 0 else a·z`` with ``a = negative_slope``; derivative 1 or a.

    The default 0.2 is Keras's ``activations.leaky_relu`` (the ``LeakyReLU`` *layer* uses 0.3).
    The notes' ``max(0.1z, z)`` is ``negative_slope=0.1``.

    Args:
        x: array or Tensor.
        negative_slope: the slope ``a ≥ 0`` for z ≤ 0.

    Example:
        >>> leaky_relu(np.array([-10.0, 0.0, 5.0]))
        array([-2.,  0.,  5.])
    """
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real) \
            or not np.isfinite(negative_slope) or negative_slope < 0:
        raise ValueError("leaky_relu: negative_slope must be a finite number >= 0. "
                         f"Received: negative_slope={negative_slope!r}. Hint: the notes' "
                         "max(0.1z, z) is negative_slope=0.1.")
    a = float(negative_slope)
    z, is_tensor = _unwrap(x)
    positive = z > 0
    out = np.where(positive, z, a * z).astype(z.dtype, copy=False)         # z or a·z
    if not is_tensor:
        return out
    slope = np.where(positive, 1, a).astype(z.dtype, copy=False)           # 1 or a
    return make(out, (x,), lambda g: (g * slope,), "leaky_relu")


def softmax(x, axis=-1):
    """Softmax along ``axis``: ``s_i = e^(z_i − max z) / Σ_j e^(z_j − max z)`` (shifted, so stable).

    Backward is the Jacobian-vector product ``dL/dz = s·(g − Σ_j g_j·s_j)``, never the full Jacobian.

    Args:
        x: array or Tensor with at least one axis.
        axis: the axis (or tuple of axes) that sums to 1; default the last (the classes).

    Returns:
        Probabilities of the input's float dtype. A Tensor output keeps ``._logits = x``.

    Example:
        >>> softmax(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]))
        array([[0.5 , 0.5 ],
               [0.25, 0.75]])
    """
    z, is_tensor = _unwrap(x)
    if z.ndim == 0:
        raise ValueError("softmax needs an array with at least one axis (the classes). "
                         "Received a scalar. Hint: use sigmoid for a single logit.")
    e = np.exp(z - z.max(axis=axis, keepdims=True))           # e^(z − max z) ∈ (0, 1]
    s = e / e.sum(axis=axis, keepdims=True)                   # normalise
    if not is_tensor:
        return s
    def backward(g):                                              # s·(g − Σ g·s)
        return (s * (g - (g * s).sum(axis=axis, keepdims=True)),)
    out = make(s, (x,), backward, "softmax")
    out._logits = x
    return out


# -- lookup by name, as ``Dense(10, activation="relu")`` needs ----------------------------------------
_ACTIVATIONS = {
    "linear": linear, "step": step, "sigmoid": sigmoid, "tanh": tanh,
    "relu": relu, "leaky_relu": leaky_relu, "softmax": softmax,
}


def get(identifier):
    """Resolve an activation: None → ``linear``; a callable → itself; a name → the function.

    Raises:
        ValueError: for an unknown name (with the valid names and a "did you mean" hint) or an
            identifier that is neither None, a string nor a callable.

    Example:
        >>> get("relu") is relu, get(None) is linear
        (True, True)
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier in _ACTIVATIONS:
            return _ACTIVATIONS[identifier]
        close = difflib.get_close_matches(identifier.lower(), list(_ACTIVATIONS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"Unknown activation: {identifier!r}. Expected one of "
                         f"{', '.join(repr(n) for n in _ACTIVATIONS)}, None or a callable.{hint}")
    if callable(identifier):
        return identifier
    raise ValueError("Could not interpret activation identifier: expected None, a name such as "
                     f"'relu', or a callable. Received: {identifier!r} ({type(identifier).__name__}).")


def serialize(activation):
    """The name of an activation (the inverse of ``get``); ``None`` serializes as "linear".

    Accepts what ``get`` accepts; a custom callable has no name to store and raises ValueError.

    Example:
        >>> serialize(relu)
        'relu'
    """
    if activation is None or isinstance(activation, str):
        activation = get(activation)
    for name, fn in _ACTIVATIONS.items():
        if activation is fn:
            return name
    raise ValueError(f"Cannot serialize the custom activation {activation!r}: only the built-in "
                     f"activations have names ({', '.join(_ACTIVATIONS)}). Hint: use a "
                     "glassnet.layers.Activation with a built-in name, or rebuild the layer in code.")


__all__ = ["linear", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "get", "serialize"]
