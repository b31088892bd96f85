"""Loss functions: one value per sample, each with its derivative right below the formula.

Per sample (``D`` = size of the last axis, ``K`` = classes, ``ε = config.epsilon() = 1e-7``)::

    mean_squared_error        L = mean((y − p)²)                          dL/dp = 2(p − y)/D
    mean_absolute_error       L = mean(|y − p|)                           dL/dp = sign(p − y)/D
    binary_crossentropy       q = clip(p, ε, 1−ε)
                              L = mean(−(y·log q + (1−y)·log(1−q)))       dL/dp = (q − y)/(q(1−q))/D
                  from logits L = mean(max(z,0) − z·y + log(1 + e^−|z|))  dL/dz = (σ(z) − y)/D
    categorical_crossentropy  q = clip(p / Σp, ε, 1−ε);  L = −Σ y·log q
                  from logits L = −Σ y·log softmax(z)                     dL/dz = softmax(z)·Σy − y
    sparse_categorical_…      q = clip(p, ε, 1−ε);  L = log Σq − log q_y   (TF: softmax-CE of log q)
                  from logits L = logsumexp(z) − z_y                      dL/dz = softmax(z) − onehot(y)

(Clipped entries get no gradient, as TensorFlow's ``clip_by_value``.)

**The fused gradient ŷ − y, and Keras's rule for it.** Like Keras 3 (``activations.sigmoid`` and
``softmax`` set ``output._keras_logits``; ``backend/tensorflow/nn.py: _get_logits`` uses them), the
``sigmoid`` and ``softmax`` Tensors remember their input in ``._logits``, and with ``from_logits=False``
every cross-entropy computes from those logits instead of the probabilities: BCE as
``sigmoid``-cross-entropy of z, CCE and sparse CCE as ``softmax``-cross-entropy of z. The gradient then
goes straight to the logits as ``σ(z) − y`` / ``softmax(z) − y`` (no 1/q blow-up, no clipping dead zone).
Keras does this whatever activation made the logits, and so does glassnet, to give Keras's numbers:
the notes' model (a *sigmoid* output with sparse CCE) therefore trains as softmax regression on z,
which is what Keras's 92.6% on MNIST measures. (The textbook pairs — sigmoid+BCE, softmax+CCE — are the
ones where this equals the loss of the probabilities; for the others it is Keras's convention.) Only
a softmax over another axis than the loss's is not fused. Arrays, and Tensors made without autograd
records of an activation, use the probability formulas.

Arrays in → arrays out; a Tensor ``y_pred`` → a differentiable Tensor. ``y_true`` is a constant
(no gradient). The loss *classes* reduce the per-sample values: ``reduction="sum_over_batch_size"``
(Σ w·L / number of values), ``"sum"``, or ``None``/``"none"``.

Keras facts to match (``keras/src/losses/losses.py``, ``backend/tensorflow/nn.py``):
ε = 1e-7; CCE normalises p along the axis before clipping; sparse CCE does *not* normalise;
MSE/MAE/BCE average over the last axis; a trailing label axis of size 1 is squeezed
(``squeeze_or_expand_to_same_rank``); class names are ``"mean_squared_error"``, … .
"""
import warnings

import numpy as np

from . import config
from .engine import Tensor, make


# -- helpers ------------------------------------------------------------------------------------------
def _float(x):
    """A float array: a Tensor's data, a float array as is, anything else in floatx."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (np.ndarray, np.generic)) and x.dtype in (np.float32, np.float64):
        return np.asarray(x)
    return np.asarray(x, dtype=config.floatx())


def _same_rank(y, p):
    """Keras's ``squeeze_or_expand_to_same_rank``: a (N,) side against a (N, 1) side becomes (N, 1)."""
    if y.ndim == p.ndim + 1 and y.shape[-1] == 1:
        y, p = (y, p[..., None]) if p.ndim == 1 else (y[..., 0], p)
    elif p.ndim == y.ndim + 1 and p.shape[-1] == 1:
        y, p = (y[..., None], p) if y.ndim == 1 else (y, p[..., 0])
    return y, p


def _inputs(y_true, y_pred):
    """``(y, p, tensor)``: targets cast to p's dtype, predictions, and the Tensor (or None)."""
    p = _float(y_pred)
    y = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y_true must be numeric. Received dtype {y.dtype}. Hint: encode string "
                        "labels with np.unique(y, return_inverse=True).")
    y, p = _same_rank(y.astype(p.dtype, copy=False), p)
    return y, p, (y_pred if isinstance(y_pred, Tensor) else None)


def _result(out, tensor, backward, op):
    """An array, or a Tensor whose backward returns dL/dp in the Tensor's own shape."""
    out = np.asarray(out)
    if tensor is None:
        return out
    return make(out, (tensor,), lambda g: (backward(g)[0].reshape(tensor.shape),), op)


def _check_shapes(y, p, fn_name, hint=""):
    if y.shape != p.shape:
        raise ValueError(f"{fn_name}: y_true and y_pred must have the same shape. Expected "
                         f"{p.shape}, received y_true of shape {y.shape}.{hint}")


def _check_probabilities(p, fn_name, high=1):
    """Probabilities must lie in [0, high] (CCE normalises, so there high = ∞: only negatives fail)."""
    if p.size and (p.min() < 0 or p.max() > high):
        where = "values outside [0, 1]" if high == 1 else "negative values"
        raise ValueError(f"{fn_name} received from_logits=False, but y_pred has {where} "
                         f"(min {p.min():.4g}, max {p.max():.4g}): these look like logits. Hint: pass "
                         "from_logits=True, or end the model with a sigmoid/softmax activation.")


def _made_by(y_pred, ops):
    """Is ``y_pred`` a Tensor output of one of ``ops`` (e.g. a sigmoid, so already in [0, 1])?"""
    return isinstance(y_pred, Tensor) and y_pred.op in ops


def _logits_of(y_pred, from_logits, fn_name):
    """The logits Tensor behind a ``sigmoid``/``softmax`` output (Keras fuses any cross-entropy with it)."""
    logits = y_pred._logits if isinstance(y_pred, Tensor) else None
    if logits is None:
        return None
    if from_logits:
        warnings.warn(f"`{fn_name}` received `from_logits=True`, but the `y_pred` argument was produced "
                      f"by a {y_pred.op} activation and thus does not represent logits. Was this "
                      "intended? (computing what was asked: the loss of those probabilities as logits)",
                      stacklevel=3)
        return None
    return logits


def _other_axis(s, p, axis):
    """Was ``p`` a softmax over another axis than ``axis``? (Compares one slice with ``s``.)"""
    first = (0,) * (p.ndim - 1)
    s, p = np.moveaxis(s, axis, -1), np.moveaxis(p, axis, -1)
    return p.size > 0 and np.abs(s[first] - p[first]).max() > 1e-4


def _log_softmax(z, axis):
    """``(log softmax(z), softmax(z))`` along ``axis``, shifted by max z so nothing overflows."""
    shifted = z - z.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=axis, keepdims=True)
    return shifted - np.log(s), e / s


# -- the loss functions -------------------------------------------------------------------------------
def mean_squared_error(y_true, y_pred):
    """``L = mean((y_true − y_pred)², axis=-1)``;  ``dL/dp = 2(p − y)/D``.

    Args:
        y_true: targets, shape (N, ..., D) (or (N,) against predictions (N, 1)).
        y_pred: predictions (array or Tensor), shape (N, ..., D).

    Returns:
        One value per sample, shape (N, ...): an array, or a Tensor if ``y_pred`` is one.

    Example (Keras's test: errors 1..9 on a 2×3 batch, mean of squares):
        >>> mean_squared_error([[1, 9, 2], [-5, -2, 6]], np.array([[4., 8, 12], [8, 1, 3]]))
        array([36.66666667, 62.33333333])
    """
    y, p, t = _inputs(y_true, y_pred)
    d = p - y
    out = np.mean(d * d, axis=-1)
    def backward(g):                                              # 2(p − y)/D
        return (np.expand_dims(g, -1) * d * (2 / d.shape[-1]),)
    return _result(out, t, backward, "mean_squared_error")


def mean_absolute_error(y_true, y_pred):
    """``L = mean(|y_true − y_pred|, axis=-1)``;  ``dL/dp = sign(p − y)/D`` (0 where p = y).

    Example (the notes' absolute errors 5, 3, 1):
        >>> mean_absolute_error([[10., 10, 10]], np.array([[15., 7, 11]]))
        array([3.])
    """
    y, p, t = _inputs(y_true, y_pred)
    d = p - y
    out = np.mean(np.abs(d), axis=-1)
    def backward(g):                                              # sign(p − y)/D
        return (np.expand_dims(g, -1) * np.sign(d) / d.shape[-1],)
    return _result(out, t, backward, "mean_absolute_error")


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """``L = mean(−(y·log q + (1−y)·log(1−q)), axis=-1)`` with ``q = clip(p, ε, 1−ε)``.

    From logits z (or a sigmoid output, fused): ``max(z,0) − z·y + log(1 + e^−|z|)``, gradient
    ``(σ(z) − y)/D``. Probabilities: gradient ``(q − y)/(q(1 − q))/D`` where p was not clipped.

    Args:
        y_true: 0/1 (or soft) targets, same shape as y_pred ((N,) is accepted for (N, 1)).
        y_pred: probabilities in [0, 1], or logits with ``from_logits=True``.
        from_logits: whether y_pred holds logits.

    Returns:
        Shape (N, ...): array or Tensor.

    Raises:
        ValueError: shapes differ, or probabilities outside [0, 1] with ``from_logits=False``.

    Example (p = 0.5 costs log 2 = 0.6931; p = 0 is clipped to ε, so −log ε = 16.118, finite):
        >>> binary_crossentropy([[1.], [0.], [1.]], np.array([[0.5], [0.], [0.]])).round(4)
        array([ 0.6931,  0.    , 16.1181])
    """
    logits = _logits_of(y_pred, from_logits, "binary_crossentropy")
    y, p, t = _inputs(y_true, y_pred if logits is None else logits)
    _check_shapes(y, p, "binary_crossentropy")
    n = p.shape[-1] if p.ndim else 1
    if from_logits or logits is not None:
        e = np.exp(-np.abs(p))                                # e^−|z| ∈ (0, 1]
        elem = np.maximum(p, 0) - p * y + np.log1p(e)
        delta = np.where(p >= 0, 1 / (1 + e), e / (1 + e)) - y   # σ(z) − y
    else:
        _check_probabilities(p, "binary_crossentropy")
        eps = config.epsilon()
        q = np.clip(p, eps, 1 - eps)
        elem = -(y * np.log(q) + (1 - y) * np.log(1 - q))
        delta = (q - y) / (q * (1 - q)) * ((p >= eps) & (p <= 1 - eps))
    out = np.mean(elem, axis=-1)
    def backward(g):
        return (np.expand_dims(g, -1) * delta / n,)
    return _result(out, t if logits is None else logits, backward, "binary_crossentropy")


def categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """``L = −Σ y·log q`` over ``axis``, with ``q = clip(p / Σp, ε, 1−ε)``.

    From logits z (or a softmax output, fused): ``L = −Σ y·log softmax(z)``, gradient
    ``softmax(z)·Σy − y`` (= softmax(z) − y for one-hot y).

    Args:
        y_true: one-hot (or soft) targets, the same shape as y_pred, e.g. (N, K).
        y_pred: probabilities, or logits with ``from_logits=True``.
        from_logits: whether y_pred holds logits.
        axis: the class axis.

    Returns:
        Shape (N,) (y_pred's shape without ``axis``): array or Tensor.

    Raises:
        ValueError: shapes differ (integer labels: use sparse_categorical_crossentropy).

    Example (−log 0.8 = 0.2231; −log 0.5 = 0.6931):
        >>> categorical_crossentropy([[0, 1, 0], [1, 0, 0]], np.array([[.1, .8, .1], [.5, .25, .25]]))
        array([0.22314355, 0.69314718])
    """
    logits = _logits_of(y_pred, from_logits, "categorical_crossentropy")
    y, p, t = _inputs(y_true, y_pred if logits is None else logits)
    _check_shapes(y, p, "categorical_crossentropy", " Hint: for integer labels of shape (N,) use "
                  "loss='sparse_categorical_crossentropy' or one-hot encode them with "
                  "glassnet.utils.to_categorical.")
    if logits is not None:
        log_s, s = _log_softmax(p, axis)
        if y_pred.op == "softmax" and _other_axis(s, y_pred.data, axis):   # over another axis
            return categorical_crossentropy(y_true, _unfused(y_pred), from_logits, axis)
    elif from_logits:
        log_s, s = _log_softmax(p, axis)
    if from_logits or logits is not None:
        out = -np.sum(y * log_s, axis=axis)
        delta = s * np.sum(y, axis=axis, keepdims=True) - y   # softmax(z)·Σy − y
    else:
        _check_probabilities(p, "categorical_crossentropy", high=np.inf)
        eps = config.epsilon()
        total = np.sum(p, axis=axis, keepdims=True)
        r = p / total                                         # normalise along the axis
        q = np.clip(r, eps, 1 - eps)
        out = -np.sum(y * np.log(q), axis=axis)
        a = -y / q * ((r >= eps) & (r <= 1 - eps))            # dL/dr, 0 where clipped
        delta = (a - np.sum(a * r, axis=axis, keepdims=True)) / total   # through r = p / Σp
    def backward(g):
        return (np.expand_dims(g, axis) * delta,)
    return _result(out, t if logits is None else logits, backward, "categorical_crossentropy")


def _unfused(y_pred):
    """The same probabilities as a Tensor without ``._logits`` (so the loss cannot fuse)."""
    return make(y_pred.data, (y_pred,), lambda g: (g,), "identity")


def _sparse_labels(labels, num_classes, fn_name="sparse_categorical_crossentropy"):
    """Integer class indices from ``labels``; ValueError/TypeError unless each is an integer in [0, K)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biuf":
        example = labels.flat[0] if labels.size else ""
        raise TypeError(f"{fn_name} expects numeric class labels. Received dtype {labels.dtype} "
                        f"(e.g. {example!r}). Hint: encode them: "
                        "classes, y = np.unique(y, return_inverse=True).")
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if bad.any():
            raise ValueError(f"{fn_name} expects integral class labels. Received "
                             f"{labels[bad].flat[0]!r}. Hint: labels are class indices 0..K-1 "
                             "(2.0 is fine, 2.5 is not).")
    if labels.size:
        high = labels.max()
        low = 0 if labels.dtype.kind in "bu" else labels.min()   # unsigned labels cannot be < 0
        if low < 0 or high >= num_classes:
            value = low if low < 0 else high
            raise ValueError(f"{fn_name}: label {int(value)} out of range [0, {num_classes}) for a "
                             f"model with {num_classes} outputs. Expected class indices 0..{num_classes - 1}.")
    return labels.astype(np.intp, copy=False)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """``L = −log q_y`` for integer labels y, computed as Keras's TensorFlow backend does.

    Probabilities: ``q = clip(p, ε, 1−ε)``, then the softmax cross-entropy of ``log q``, i.e.
    ``L = log Σq − log q_y`` (= −log p_y when p sums to 1). From logits z (or a softmax output,
    fused): ``L = logsumexp(z) − z_y``, gradient ``softmax(z) − onehot(y)``.

    Args:
        y_true: integer labels, shape (N,) or (N, 1) (integral floats such as 2.0 are accepted).
        y_pred: (N, K) probabilities, or logits with ``from_logits=True``.
        from_logits: whether y_pred holds logits.
        axis: must be the last axis (as in Keras).

    Returns:
        Shape (N,): array or Tensor.

    Raises:
        ValueError: one-hot labels, labels outside [0, K), non-integral labels.
        TypeError: non-numeric labels.

    Example (−log 0.8 = 0.2231; −log 0.25 = 1.3863):
        >>> sparse_categorical_crossentropy([1, 2], np.array([[.1, .8, .1], [.5, .25, .25]]))
        array([0.22314355, 1.38629436])
    """
    p_arr = _float(y_pred)
    if axis not in (-1, p_arr.ndim - 1):
        raise ValueError(f"sparse_categorical_crossentropy only supports the last axis as the class "
                         f"axis. Expected axis=-1, received axis={axis}.")
    logits = _logits_of(y_pred, from_logits, "sparse_categorical_crossentropy")
    p = p_arr if logits is None else logits.data
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if labels.ndim == p.ndim and labels.shape[-1:] == (1,):
        labels = labels[..., 0]                                   # (N, 1) → (N,)
    if labels.shape != p.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy expects integer labels of shape "
                         f"{p.shape[:-1]} or {p.shape[:-1] + (1,)}; got {labels.shape}. Hint: for one-hot "
                         "targets use categorical_crossentropy, or convert them with y.argmax(-1).")
    labels = _sparse_labels(labels, p.shape[-1]).reshape(-1)     # flat: one label per row of p2
    k = p.shape[-1]
    p2 = p.reshape(-1, k)                                         # (rows, K)
    at = np.arange(0, labels.size * k, k or 1) + labels           # where each row's label is in p2.ravel()
    if logits is not None or from_logits:
        shifted = p2 - p2.max(axis=-1, keepdims=True)             # z − max z (nothing overflows)
        shifted_y = shifted.reshape(-1)[at]
        e = np.exp(shifted, out=shifted)                          # may underflow to 0
        total = e.sum(axis=-1, keepdims=True)
        s = np.divide(e, total, out=e)                            # softmax(z)
        other_axis = (logits is not None and y_pred.op == "softmax" and p2.size
                      and np.abs(s[0] - p_arr.reshape(p2.shape)[0]).max() > 1e-4)
        if other_axis:                                            # the softmax was over another axis: no fusion
            return sparse_categorical_crossentropy(y_true, _unfused(y_pred), from_logits, axis)
        out = np.log(total[:, 0]) - shifted_y                     # logsumexp(z) − z_y
        delta = s                                                 # softmax(z) − onehot(y)
        delta.reshape(-1)[at] -= 1
    else:
        if not _made_by(y_pred, ("sigmoid", "softmax")):          # those are probabilities already
            _check_probabilities(p2, "sparse_categorical_crossentropy")
        eps = config.epsilon()
        q = np.clip(p2, eps, 1 - eps)
        total = q.sum(axis=-1)
        q_y = q.reshape(-1)[at]
        out = np.log(total) - np.log(q_y)                         # log Σq − log q_y
        delta = np.empty_like(q)
        delta[...] = (1 / total)[:, None]                         # d/dq = 1/Σq − onehot/q_y
        delta.reshape(-1)[at] -= 1 / q_y
        delta *= q == p2                                          # 0 where clipping changed p
    out = out.reshape(p.shape[:-1])
    def backward(g):
        return ((g.reshape(-1, 1) * delta).reshape(p.shape),)
    tensor = logits if logits is not None else (y_pred if isinstance(y_pred, Tensor) else None)
    return _result(out, tensor, backward, "sparse_categorical_crossentropy")


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy

from .losses_classes import (Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError,  # noqa: E402
                             BinaryCrossentropy, CategoricalCrossentropy,
                             SparseCategoricalCrossentropy, get, serialize, deserialize)
from .losses_check import validate_targets  # noqa: E402

__all__ = ["mean_squared_error", "mean_absolute_error", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy", "mse", "mae", "MSE", "MAE",
           "bce", "BCE", "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "get", "serialize", "deserialize", "validate_targets"]
