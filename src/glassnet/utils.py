"""Utilities, as ``keras.utils``: ``set_random_seed`` and ``to_categorical``."""
import random

import numpy as np

from . import config


def set_random_seed(seed):
    """Seed every source of randomness so two runs are bit-identical.

    Seeds glassnet's generator (initial weights, shuffling, dropout: ``config.rng()``), NumPy's
    legacy global ``np.random`` and Python's ``random``.

    Args:
        seed: an int in [0, 2**32 - 1].

    Raises:
        TypeError: ``seed`` is not an int (a bool or a float such as 42.0 is refused).
        ValueError: ``seed`` is negative or too large.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed expects an int seed. Received: seed={seed!r} ({type(seed).__name__})")
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_random_seed expects a seed in [0, 2**32 - 1]. Received: seed={seed}")
    seed = int(seed)
    config.set_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels: ``out[..., k] = 1 where y == k``.

    Args:
        y: integer labels 0 .. num_classes - 1, any shape; a trailing axis of size 1 is dropped
            (CIFAR-10's (50000, 1) labels give (50000, 10)).
        num_classes: number of classes; default ``max(y) + 1``.
        dtype: dtype of the result.

    Returns:
        An array of shape ``y.shape + (num_classes,)`` (after dropping a trailing 1).

    Raises:
        ValueError: negative, non-integer, NaN or out-of-range labels; empty y without num_classes.

    Example::

        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical expects integer class labels. Received an array of dtype {y.dtype}; "
                        f"map string labels to integers first (e.g. np.unique(y, return_inverse=True)).")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError("to_categorical: labels contain NaN or Inf; expected integer class labels.")
        if not np.all(y == np.round(y)):
            bad = y[y != np.round(y)].ravel()[0]
            raise ValueError(f"to_categorical expects integer class labels; got a non-integer label {bad}. "
                             f"Hint: if y is already one-hot or probabilities, do not call to_categorical.")
    shape = y.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    y = y.reshape(-1).astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0; got a negative label {y.min()}.")
    if num_classes is None:
        if y.size == 0:
            raise ValueError("to_categorical: y is empty; pass num_classes to encode an empty array.")
        num_classes = int(y.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive int. Received: num_classes={num_classes!r}")
    elif y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {y.max()} is out of range for num_classes={num_classes} "
                         f"(labels must be in 0..{num_classes - 1}).")
    out = np.zeros((y.size, int(num_classes)), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(shape + (int(num_classes),))


def clear_session():
    """Restart automatic names ("dense", "dense_1", "sequential", ...) as ``keras.utils.clear_session()``,
    and let go of the scratch arrays kept for the conv layers (``_scratch``)."""
    from . import _scratch
    from .layers.layer import reset_names
    from .models import sequential
    _scratch.clear()
    reset_names()
    sequential._counter.clear()
