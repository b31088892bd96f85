"""Loss classes (``glassnet.losses.MeanSquaredError`` …): a loss function plus a reduction.

    per-sample values  L_n = fn(y_true, y_pred)                 (see ``losses.py``)
    weighted           v_n = w_n · L_n                           (w = sample_weight, default 1)
    "sum_over_batch_size" (default)   Σ v / size(L)              dΣ/dL_n = w_n / size(L)
    "sum"                             Σ v                        dΣ/dL_n = w_n
    None / "none"                     v                          (no reduction)

As Keras, "sum_over_batch_size" divides by the number of loss values, not by Σw, so a zero
weight still counts in the denominator. Import these from ``glassnet.losses``.
"""
import difflib

import numpy as np

from .engine import Tensor, make
from .losses import (binary_crossentropy, categorical_crossentropy, mean_absolute_error,
                     mean_squared_error, sparse_categorical_crossentropy)

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Weight per-sample loss values and reduce them (one graph node, backward ``g·w/n``).

    Args:
        values: per-sample losses (array or Tensor), shape (N, ...).
        sample_weight: None, a scalar, or weights of shape (N,) / (N, 1) / values' shape.
        reduction: one of ``REDUCTIONS``.

    Returns:
        A scalar (0-d array of values' dtype, or a Tensor), or the weighted values for "none".

    Example:
        >>> reduce_weighted_values(np.array([1., 2., 3., 4.]), np.array([1., 0., 1., 0.]))
        array(1.)
    """
    data = values.data if isinstance(values, Tensor) else np.asarray(values)
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=data.dtype)
        if w.ndim == data.ndim + 1 and w.shape[-1] == 1:
            w = w[..., 0]                                          # (N, 1) weights for (N,) losses
        w = w.reshape(w.shape + (1,) * (data.ndim - w.ndim))       # (N,) weights for (N, T) losses
        try:
            w = np.broadcast_to(w, data.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not match the "
                             f"per-sample losses of shape {data.shape}. Expected one weight per "
                             "sample, shape (N,).") from None
    if reduction in (None, "none"):
        out, scale = (data if w is None else data * w), (1 if w is None else w)
    else:
        total = data.sum() if w is None else np.sum(data * w)
        n = data.size
        if reduction == "mean_with_sample_weight" and w is not None:
            n = float(np.sum(w))
        n = 1 if reduction == "sum" or not n else n                  # an empty batch gives 0, not NaN
        out = np.asarray(total / n, dtype=data.dtype)
        scale = (1 / n) if w is None else w / n
    if not isinstance(values, Tensor):
        return np.asarray(out)
    def backward(g):                                               # d(Σ w·L / n)/dL = w / n
        if np.ndim(scale) == 0:
            return (np.full(data.shape, g * scale, dtype=data.dtype),)
        return ((g * scale).astype(data.dtype, copy=False),)
    return make(out, (values,), backward, "reduce_loss")


def _made_by_op(values):
    return isinstance(values, Tensor) and values._backward is not None


def _mean_of(values):
    """``mean(L)`` folded into the node that made the per-sample losses L (the training-step case:
    no sample weight, "sum_over_batch_size"). The same numbers as ``reduce_weighted_values``, one
    graph node fewer: the backward is the chain rule of both steps, dL_n = g / n, then L's own."""
    data, inner = values.data, values._backward
    n = data.size or 1                                                 # an empty batch gives 0, not NaN
    out = np.asarray(data.sum() / n, dtype=data.dtype)                 # Σ L / n
    def backward(g):                                                   # d mean / dL_n = 1 / n
        return inner(np.full(data.shape, g * (1 / n), dtype=data.dtype))
    return make(out, values._parents, backward, values.op)


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` → a scalar.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample values.

    Args:
        name: the loss name (default: the Keras snake-case name).
        reduction: "sum_over_batch_size" (default), "sum", "mean", "mean_with_sample_weight",
            None or "none".

    Returns (``__call__``):
        A Tensor if y_pred is a Tensor (call ``.backward()`` on it), else a 0-d array.
    """

    default_name = "loss"

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
                             f"Received: reduction={reduction!r}")
        self.name = name or self.default_name
        self.reduction = reduction

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.call(y_true, y_pred)
        if sample_weight is None and self.reduction == "sum_over_batch_size" and _made_by_op(values):
            return _mean_of(values)
        return reduce_weighted_values(values, sample_weight, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class LossFunctionWrapper(Loss):
    """Wrap a function ``fn(y_true, y_pred) → per-sample values`` as a Loss (name = ``fn.__name__``)."""

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", **kwargs):
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(LossFunctionWrapper):
    """``mean((y − p)²)`` per sample, then reduced. Example: Keras's test gives 49.5.

        >>> float(MeanSquaredError()([[1, 9, 2], [-5, -2, 6]], np.array([[4., 8, 12], [8, 1, 3]])))
        49.5
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, name, reduction)


class MeanAbsoluteError(LossFunctionWrapper):
    """``mean(|y − p|)`` per sample, then reduced."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name, reduction)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy (see ``losses.binary_crossentropy``); ``from_logits`` for raw scores."""

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name="binary_crossentropy"):
        super().__init__(binary_crossentropy, name, reduction, from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy for one-hot targets (see ``losses.categorical_crossentropy``)."""

    def __init__(self, from_logits=False, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy"):
        super().__init__(categorical_crossentropy, name, reduction, from_logits=bool(from_logits),
                         axis=axis)
        self.from_logits, self.axis = bool(from_logits), axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for integer labels (see ``losses.sparse_categorical_crossentropy``)."""

    def __init__(self, from_logits=False, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, name, reduction,
                         from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)


# -- lookup by name ----------------------------------------------------------------------------------
CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy,
                                   CategoricalCrossentropy, SparseCategoricalCrossentropy)}
FUNCTIONS = {"mean_squared_error": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
             "binary_crossentropy": BinaryCrossentropy,
             "categorical_crossentropy": CategoricalCrossentropy,
             "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
             "mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
             "MAE": MeanAbsoluteError, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy}
_FN_OF = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
          binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
          sparse_categorical_crossentropy: SparseCategoricalCrossentropy}


def get(identifier):
    """Resolve a loss to a ``Loss`` instance (what ``compile(loss=...)`` needs).

    A name ("mse", "categorical_crossentropy", "BinaryCrossentropy") → an instance of that class;
    a Loss instance → itself; a Loss class → an instance; a config dict → ``deserialize``; a
    glassnet loss function → its class; any other callable ``fn(y_true, y_pred)`` → wrapped.
    (Keras's ``get`` returns the *function* for a function name; glassnet always returns a Loss,
    whose ``call`` is that function.)

    Raises:
        ValueError: an unknown name (the valid names and a "did you mean" hint) or identifier.

    Example:
        >>> get("mse").name, get("SparseCategoricalCrossentropy").from_logits
        ('mean_squared_error', False)
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = FUNCTIONS.get(identifier) or CLASSES.get(identifier)
        if cls is None:
            valid = list(FUNCTIONS) + list(CLASSES)
            close = difflib.get_close_matches(identifier, valid, n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"Unknown loss: {identifier!r}. Expected one of "
                             f"{', '.join(repr(v) for v in valid)}, a Loss instance or a callable.{hint}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if identifier in _FN_OF:
        return _FN_OF[identifier]()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: expected a name such as 'mse', a Loss "
                     f"or a callable. Received: {identifier!r} ({type(identifier).__name__}).")


def serialize(loss):
    """``{"module", "class_name", "config", "registered_name"}`` for a built-in loss (Keras's shape)."""
    loss = get(loss)
    name = type(loss).__name__
    if name not in CLASSES:
        raise ValueError(f"Cannot serialize the custom loss {loss!r}: only the built-in losses "
                         f"({', '.join(CLASSES)}) have a registered name.")
    return {"module": "glassnet.losses", "class_name": name, "config": loss.get_config(),
            "registered_name": None}


def deserialize(config):
    """Inverse of ``serialize``: only glassnet's own classes, looked up by name (nothing imported)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A loss config must be a dict with a 'class_name'. Received: {config!r}")
    cls = CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown loss class {config['class_name']!r}. Expected one of "
                         f"{', '.join(CLASSES)}.")
    return cls.from_config(dict(config.get("config") or {}))
