"""Input checks run by fit / evaluate / predict before any work is done.

Each message says what is wrong, what was expected, what was received, and how to fix it.
"""
import numbers
import warnings

import numpy as np

from .. import config


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int. Received: {name}={value!r} "
                        f"({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value}")
    return int(value)


def as_array(x, name, dtype=None):
    """``x`` as a float array of the model dtype (one copy at most), with NaN/Inf rejected."""
    if x is None:
        raise ValueError(f"{name} is None; expected an array of shape (N, ...).")
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    arr = np.asarray(x)
    if arr.dtype.kind in "USO":
        raise TypeError(f"{name} must be numeric; received an array of dtype {arr.dtype}. "
                        f"Encode strings as numbers first, e.g. "
                        f"classes, {name}_int = np.unique({name}, return_inverse=True).")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array. Received dtype {arr.dtype}.")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a batch axis; received a scalar.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples). Received shape {arr.shape}.")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            count = int(bad.sum())
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            kind = "NaN" if np.isnan(arr[first]) else "Inf"
            raise ValueError(f"{name} contains {count} NaN/Inf values (first: {kind} at index {first}). "
                             f"Clean or impute them before training.")
    if dtype is not None:
        if arr.dtype.kind in "ui" and arr.size and arr.max() > 1 and name == "x":
            warnings.warn(f"inputs look unscaled (max {arr.max()}); consider {name} / 255.0",
                          UserWarning, stacklevel=4)
        arr = np.ascontiguousarray(arr, dtype=dtype)
    return arr


def check_lengths(x, y, sample_weight, what=""):
    if y is not None and len(y) != len(x):
        raise ValueError(f"x and y{what} have different numbers of samples ({len(x)} vs {len(y)}).")
    if sample_weight is not None and len(sample_weight) != len(x):
        raise ValueError(f"x and sample_weight{what} have different numbers of samples "
                         f"({len(x)} vs {len(sample_weight)}).")


def check_input_shape(model, x, name="x"):
    """x must match the model's declared input shape (N, ...) — with a hint for the usual mistakes."""
    expected = model.input_shape
    if expected is None:
        return
    got = tuple(x.shape[1:])
    if got == tuple(expected[1:]):
        return
    shown = (None,) + got
    if x.ndim == 1 and len(expected) == 2 and x.shape[0] == expected[1]:
        raise ValueError(f"{name} looks like a single sample of shape {x.shape} with no batch axis; "
                         f"the model expects {expected}. Use {name}[None] or {name}.reshape(1, -1).")
    hint = ""
    if len(expected) == 2 and int(np.prod(got)) == expected[1]:
        hint = f"; add Flatten() as the first layer or reshape {name} to (N, {expected[1]})"
    elif len(expected) == 4 and len(got) == 2:
        hint = f"; add a channel axis: {name}[..., None]"
    elif len(expected) == 4 and len(got) == 3 and got[0] == expected[3]:
        hint = f"; images must be channels-last (N, H, W, C): {name}.transpose(0, 2, 3, 1)"
    first = model.layers[0] if model.layers else None
    owner = type(first).__name__ if first is not None else "The model"
    raise ValueError(f"{owner} expected input of shape {expected}, got {name} of shape {shown}{hint}.")


def check_split(split):
    if isinstance(split, bool) or not isinstance(split, numbers.Real) or not np.isfinite(split) \
            or not 0 <= split < 1:
        raise ValueError(f"validation_split must be a float in [0, 1). Received: {split!r}")


def validation_split_tail(x, y, sample_weight, split):
    """Keras semantics: the last ``split`` fraction of the data (before any shuffling) validates."""
    check_split(split)
    n_val = int(len(x) * split)
    n_train = len(x) - n_val
    if n_val == 0 or n_train == 0:
        raise ValueError(f"validation_split={split} leaves {n_train} training and {n_val} validation "
                         f"samples out of {len(x)}: not sufficient to split.")
    sw = (None, None) if sample_weight is None else (sample_weight[:n_train], sample_weight[n_train:])
    y_tr, y_val = y[:n_train], y[n_train:]
    _warn_if_unrepresentative(y_tr, y_val)
    return (x[:n_train], y_tr, sw[0]), (x[n_train:], y_val, sw[1])


def _labels_of(y):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(-1)
    return y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y


def _warn_if_unrepresentative(y_train, y_val):
    """keras-team/keras#8346: with data sorted by class, the validation tail holds other classes.

    Warns when the tail has a single class, or when its class frequencies differ from the training
    part's by a total variation distance ``0.5 * sum |p_train - p_val|`` above 0.5 (with at least 5
    validation samples per class, so that chance alone does not warn).
    """
    lab_tr, lab_val = _labels_of(y_train), _labels_of(y_val)
    if lab_tr.dtype.kind == "f" and not np.all(lab_tr == np.round(lab_tr)):
        return                                           # regression targets: nothing to compare
    classes, inverse = np.unique(np.concatenate([lab_tr, lab_val]), return_inverse=True)
    if len(classes) < 2:
        return
    p_tr = np.bincount(inverse[:len(lab_tr)], minlength=len(classes)) / len(lab_tr)
    p_val = np.bincount(inverse[len(lab_tr):], minlength=len(classes)) / len(lab_val)
    distance = 0.5 * np.abs(p_tr - p_val).sum()
    in_val = classes[p_val > 0]
    if len(in_val) == 1:
        what = f"they all have label {in_val[0]!r}"
    elif distance > 0.5 and len(lab_val) >= 5 * len(classes):
        what = (f"their labels are distributed very differently from the training part's "
                f"(validation holds classes {in_val.tolist()})")
    else:
        return
    warnings.warn(f"validation_split takes the last samples before shuffling, and {what}: the data "
                  f"looks sorted by class. Shuffle x and y before fit (e.g. "
                  f"p = np.random.permutation(len(x)); x, y = x[p], y[p]).", UserWarning, stacklevel=4)


def class_weights_to_sample_weights(class_weight, y, sample_weight):
    """Missing classes weigh 1.0 (Keras); unknown classes and bad weights raise."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}. Received: {class_weight!r}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and not np.all((y.sum(axis=1) == 1)):
        raise ValueError("class_weight is not supported for multi-label targets (rows of y with more "
                         "than one 1); use sample_weight instead.")
    labels = _labels_of(y)
    present = set(np.unique(labels).tolist())
    n_classes = y.shape[1] if y.ndim == 2 and y.shape[1] > 1 else None
    table = {}
    for cls, w in class_weight.items():
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w) or w < 0:
            raise ValueError(f"class_weight[{cls!r}] must be a finite number >= 0. Received: {w!r}")
        known = cls in present or (n_classes is not None and 0 <= cls < n_classes)
        if not known:
            raise ValueError(f"class_weight names class {cls!r}, which is not among the labels in y "
                             f"({sorted(present)}).")
        table[cls] = w
    weights = np.array([table.get(int(c), 1.0) for c in labels.tolist()], dtype=config.floatx()) \
        if len(table) else np.ones(len(labels), dtype=config.floatx())
    if sample_weight is not None:
        weights *= sample_weight
    return weights
