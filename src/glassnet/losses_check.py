"""``validate_targets``: catch targets that do not fit the loss *before* training starts.

Each check answers a classic mistake with what is wrong, what was expected, what was received and
the fix (glassnet's bad-inputs list, items 3–9 and 26):

    sparse CE + one-hot y (N, K)        → use categorical_crossentropy or y.argmax(-1)
    categorical CE + integer y (N,)     → use sparse_categorical_crossentropy or to_categorical
    sparse labels outside [0, K)        → "label 10 out of range [0, 10)"
    labels 2.5 (2.0 is fine)            → labels must be integral
    string labels                       → TypeError: encode with np.unique(..., return_inverse=True)
    binary CE + y outside [0, 1]        → softmax with K units + sparse CE
    NaN / Inf in y                      → "y contains 3 NaN values (first at index (12,))"
    y shape not matching the output     → the two shapes (and Flatten() when x kept extra axes)
"""
import numpy as np

from .losses import _sparse_labels
from .losses_classes import (BinaryCrossentropy, CategoricalCrossentropy, MeanAbsoluteError,
                             MeanSquaredError, SparseCategoricalCrossentropy, get)

_KINDS = {MeanSquaredError: "regression", MeanAbsoluteError: "regression", BinaryCrossentropy: "binary",
          CategoricalCrossentropy: "categorical", SparseCategoricalCrossentropy: "sparse"}


def _kind(loss):
    loss = get(loss)
    for cls, kind in _KINDS.items():
        if isinstance(loss, cls):
            return kind, loss.name
    return None, getattr(loss, "name", "loss")


def _numeric(y, name):
    y = np.asarray(y)
    if y.dtype.kind in "OUS":
        try:
            return np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            example = y.flat[0] if y.size else ""
            raise TypeError(f"{name} expects numeric targets, but y holds {type(example).__name__} "
                            f"values such as {example!r}. Hint: encode the labels as integers first: "
                            "classes, y = np.unique(y, return_inverse=True).") from None
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} expects numeric targets. Received y of dtype {y.dtype}.")
    return y


def _check_finite(y, name):
    if y.dtype.kind != "f":
        return
    for bad, word in ((np.isnan(y), "NaN"), (np.isinf(y), "Inf")):
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name}: y contains {int(bad.sum())} {word} values (first at index "
                             f"{first}). Expected finite targets. Hint: drop or impute those rows "
                             "before fit().")


def _fits(shape, output_shape):
    """Does a target shape (without batch) match the model output shape (without batch, None = any)?"""
    return len(shape) == len(output_shape) and all(o is None or s == o for s, o in zip(shape, output_shape))


def _shape_error(name, y, output_shape, expected):
    return ValueError(f"{name}: y of shape {y.shape} does not fit the model output shape "
                      f"{tuple(output_shape)}. Expected y of shape {expected}.")


def validate_targets(loss, y, output_shape):
    """Check targets ``y`` against a loss and the model output shape; raise a clear error if wrong.

    Args:
        loss: a loss name, Loss instance, class or function (custom losses get only the NaN check).
        y: the targets given to ``fit``/``evaluate``.
        output_shape: the model output shape with a None batch, e.g. ``(None, 10)``.

    Returns:
        None.

    Raises:
        ValueError: wrong kind of labels for the loss, labels out of range or non-integral, BCE
            targets outside [0, 1], NaN/Inf, or a shape that does not fit the output.
        TypeError: non-numeric (e.g. string) labels.

    Example:
        >>> validate_targets("sparse_categorical_crossentropy", np.array([3, 10]), (None, 10))
        Traceback (most recent call last):
        ...
        ValueError: sparse_categorical_crossentropy: label 10 out of range [0, 10) for a model with 10 outputs. Expected class indices 0..9.
    """
    kind, name = _kind(loss)
    y = _numeric(y, name)
    out = tuple(output_shape)[1:]
    n = y.shape[0] if y.ndim else 1
    k = out[-1] if out else 1
    if len(out) > 1 and y.ndim <= 2 and y.shape[1:] not in (out, out[:-1]):
        raise ValueError(f"{name}: the model output has shape {tuple(output_shape)}, one prediction per "
                         f"position along the inner axes, but y of shape {y.shape} has one target per "
                         "sample. Dense acts on the last axis only: add Flatten() as the first layer, or "
                         "reshape x to (N, features).")
    if kind == "sparse":
        if y.ndim == len(out) + 1 and y.shape[-1] not in (1,) and k is not None and y.shape[-1] == k:
            raise ValueError(f"sparse_categorical_crossentropy expects integer labels of shape (N,) or "
                             f"(N, 1); got {y.shape} (one-hot?) — use categorical_crossentropy or "
                             "y.argmax(-1).")
        labels = y[..., 0] if y.ndim == len(out) + 1 and y.shape[-1] == 1 else y
        if not _fits(labels.shape[1:], out[:-1]):
            raise _shape_error(name, y, output_shape, f"(N,) or (N, 1) with N = {n}")
        if k is not None:
            _sparse_labels(labels, k, name)
        return
    _check_finite(y, name)
    if kind == "categorical":
        if k is not None and k > 1 and (y.ndim == len(out) or y.shape[-1:] == (1,)):
            raise ValueError(f"categorical_crossentropy expects one-hot targets of shape (N, {k}); got "
                             f"integer labels of shape {y.shape}. Use loss='sparse_categorical_crossentropy', "
                             f"or one-hot encode them: glassnet.utils.to_categorical(y, {k}).")
        if not _fits(y.shape[1:], out):
            raise _shape_error(name, y, output_shape, f"{(n,) + out}")
        return
    if kind in ("binary", "regression"):
        ok = _fits(y.shape[1:], out) or (out[-1:] == (1,) and _fits(y.shape[1:], out[:-1]))
        if not ok:
            raise _shape_error(name, y, output_shape, f"{(n,) + out}")
        if kind == "binary" and y.size and (y.min() < 0 or y.max() > 1):
            bad = y.max() if y.max() > 1 else y.min()
            raise ValueError(f"binary_crossentropy expects targets in [0, 1]; y contains {bad:g}. For "
                             f"more than two classes use a softmax output with one unit per class and "
                             "loss='sparse_categorical_crossentropy'.")
