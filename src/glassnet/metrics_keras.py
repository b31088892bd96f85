"""Keras's streaming metrics for ``compile(metrics=...)``: state that accumulates over batches.

    Metric.update_state(y_true, y_pred, sample_weight=None)   add one batch (vectorised, no loops)
    Metric.result()                                            the value so far, a Python float
    Metric.reset_state()                                       start again (each epoch)

    Mean                     total / count       (per-sample means, weighted: Σ w·v / Σ w)
    BinaryAccuracy           mean(1[(p > threshold) == y])                     p of shape (N, 1)
    CategoricalAccuracy      mean(1[argmax p == argmax y])                     one-hot y (N, K)
    SparseCategoricalAccuracy mean(1[argmax p == y])                           labels (N,) or (N, 1)
    Precision                tp / (tp + fp),  Recall  tp / (tp + fn)           with p > threshold

Keras facts to match (``keras/src/trainers/compile_utils.py``): the strings "accuracy"/"acc"
resolve by shape: binary if y_pred's last dim is 1; sparse if y_true has lower rank than y_pred,
or its last dim is 1 while y_pred's is > 1; categorical otherwise. The metric keeps the name the
user wrote ("acc" logs as "acc"). Import these from ``glassnet.metrics``.
"""
import difflib

import numpy as np

from .engine import Tensor

from .losses import _same_rank, mean_absolute_error, mean_squared_error   # _same_rank: Keras's squeeze_or_expand_to_same_rank


def _arrays(*xs):
    """Plain arrays (a Tensor gives its ``.data``; note ``ndarray.data`` is a buffer, not an array)."""
    return [np.asarray(x.data if isinstance(x, Tensor) else x) for x in xs]


# -- per-sample metric functions --------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """``1[y_pred == y_true]`` elementwise (exact equality)."""
    y_true, y_pred = _same_rank(*_arrays(y_true, y_pred))
    return (y_true == y_pred).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """``1[(y_pred > threshold) == y_true]`` elementwise."""
    y_true, y_pred = _same_rank(*_arrays(y_true, y_pred))
    return ((y_pred > threshold) == y_true).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    """``1[argmax y_pred == argmax y_true]`` per sample (ties: the first index, as argmax)."""
    y_true, y_pred = _arrays(y_true, y_pred)
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """``1[argmax y_pred == y_true]`` per sample; labels (N,) or (N, 1)."""
    y_true, y_pred = _arrays(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
        y_true = y_true[..., 0]
    return (y_pred.argmax(axis=-1) == y_true).astype(np.float64)


def is_binary_or_sparse_categorical(y_true_shape, y_pred_shape):
    """Keras's rule: ``(is_binary, is_sparse_categorical)`` from the two shapes."""
    t_rank, p_rank = len(y_true_shape), len(y_pred_shape)
    t_last = y_true_shape[-1] if t_rank else None
    p_last = y_pred_shape[-1] if p_rank else None
    is_binary = p_last == 1
    is_sparse = t_rank < p_rank or (t_last == 1 and p_last is not None and p_last > 1)
    return is_binary, is_sparse


def _accuracy_by_shape(y_true, y_pred):
    """"accuracy" before the shapes are known: choose binary / sparse / categorical per batch."""
    y_true, y_pred = _arrays(y_true, y_pred)
    is_binary, is_sparse = is_binary_or_sparse_categorical(y_true.shape, y_pred.shape)
    if is_binary:
        return binary_accuracy(y_true, y_pred)
    return (sparse_categorical_accuracy if is_sparse else categorical_accuracy)(y_true, y_pred)


# -- the streaming classes --------------------------------------------------------------------------
class Metric:
    """Base class. Subclasses set state in ``reset_state`` and implement ``update_state``/``result``.

    ``metric(y_true, y_pred)`` updates the state and returns ``result()`` (as Keras's ``__call__``).
    """

    default_name = "metric"

    def __init__(self, name=None, dtype=None):
        self.name = name or self.default_name
        self.dtype = dtype or "float32"
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state.")

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Running (weighted) mean: ``total / count`` over per-sample values.

    Example:
        >>> m = Mean(); m.update_state([1, 3, 5, 7]); m.result()
        4.0
        >>> m.update_state([2], sample_weight=[4.0]); m.result()
        3.0
    """

    default_name = "mean"

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values.data if isinstance(values, Tensor) else values, dtype=np.float64)
        if sample_weight is None and values.ndim == 1:              # the common case, once per batch
            self.total += float(values.sum())
            self.count += float(len(values))
            return
        w = np.ones(len(values) if values.ndim else ())
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            values, w = _same_rank(values, w)
            if values.ndim > w.ndim:                                # per-sample means first
                values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
            w = np.broadcast_to(w, values.shape)
            values = values * w
        if values.ndim > 1:                                         # one value per sample
            values = values.reshape(len(values), -1).mean(axis=1)
            w = np.broadcast_to(w, np.shape(w)).reshape(len(w), -1).mean(axis=1)
        self.total += float(values.sum())
        self.count += float(np.sum(w))

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """Mean of ``fn(y_true, y_pred, **kwargs)`` over all samples seen (name = ``fn.__name__``)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn, self._fn_kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"), dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true`` exactly (for labels, not probabilities)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``(y_pred > threshold)`` equals the 0/1 label.

    Example:
        >>> BinaryAccuracy()([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        0.75
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax y_pred`` equals ``argmax y_true`` (one-hot targets).

    Example:
        >>> CategoricalAccuracy()([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        0.5
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax y_pred`` equals the integer label.

    Example:
        >>> SparseCategoricalAccuracy()([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        0.5
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of ``mean((y − p)², axis=-1)``."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of ``mean(|y − p|, axis=-1)``."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name, dtype)


class _ConfusionCounts(Metric):
    """tp / fp / fn counts of binary decisions ``y_pred > threshold`` against ``y_true != 0``."""

    def __init__(self, thresholds=None, class_id=None, name=None, dtype=None):
        self.init_thresholds, self.class_id = thresholds, class_id
        t = 0.5 if thresholds is None else thresholds
        self._scalar = np.ndim(t) == 0
        self.thresholds = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if np.any((self.thresholds < 0) | (self.thresholds > 1)):
            raise ValueError(f"thresholds must be in [0, 1]. Received: thresholds={thresholds!r}")
        super().__init__(name, dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives, self.false_positives, self.false_negatives = (np.zeros(n) for _ in range(3))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _arrays(y_true, y_pred)
        y_pred, y_true = _same_rank(y_pred.astype(np.float64, copy=False), y_true)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        if y_pred.size and (y_pred.min() < 0 or y_pred.max() > 1):
            raise ValueError(f"{self.name}: predictions must be probabilities in [0, 1]; received values "
                             f"in [{y_pred.min():.4g}, {y_pred.max():.4g}]. Hint: apply a sigmoid to logits.")
        w = np.ones(()) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.ndim == y_pred.ndim + 1 and w.shape[-1] == 1:
            w = w[..., 0]
        w = np.broadcast_to(w.reshape(w.shape + (1,) * (y_pred.ndim - w.ndim)), y_pred.shape)
        label = np.broadcast_to(y_true, y_pred.shape).reshape(1, -1) != 0
        pred = y_pred.reshape(1, -1) > self.thresholds[:, None]    # (thresholds, values)
        w = w.reshape(1, -1)
        self.true_positives += ((pred & label) * w).sum(axis=1)
        self.false_positives += ((pred & ~label) * w).sum(axis=1)
        self.false_negatives += ((~pred & label) * w).sum(axis=1)

    def _value(self, num, den):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
        return float(out[0]) if self._scalar else out.tolist()

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "class_id": self.class_id}


class Precision(_ConfusionCounts):
    """``tp / (tp + fp)`` with ``y_pred > thresholds`` (default 0.5) counted as positive.

    Example:
        >>> Precision()([0, 1, 1, 1], [1, 0, 1, 1])
        0.6666666666666666
    """

    default_name = "precision"

    def result(self):
        return self._value(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionCounts):
    """``tp / (tp + fn)`` with ``y_pred > thresholds`` (default 0.5) counted as positive.

    Example:
        >>> Recall()([0, 1, 1, 1], [1, 0, 1, 1])
        0.6666666666666666
    """

    default_name = "recall"

    def result(self):
        return self._value(self.true_positives, self.true_positives + self.false_negatives)


# -- lookup by name ---------------------------------------------------------------------------------
_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy, "precision": Precision, "recall": Recall,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mean": Mean,
}
CLASSES = {c.__name__: c for c in (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                   SparseCategoricalAccuracy, Precision, Recall, MeanSquaredError,
                                   MeanAbsoluteError)}
_FUNCTIONS = {accuracy: Accuracy, binary_accuracy: BinaryAccuracy,
              categorical_accuracy: CategoricalAccuracy,
              sparse_categorical_accuracy: SparseCategoricalAccuracy,
              mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError}


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """Resolve a ``compile(metrics=[...])`` entry to a Metric, as Keras's ``get_metric`` does.

    "accuracy"/"acc" (any case) → BinaryAccuracy, SparseCategoricalAccuracy or CategoricalAccuracy
    chosen from the shapes (per batch if the shapes are not given yet), named as written. Other
    names ("precision", "mse", "BinaryAccuracy", …) → that metric, named as written. A Metric
    passes through; a Metric class is instantiated; a function ``fn(y_true, y_pred)`` is averaged.

    Raises:
        ValueError: an unknown name (listing the valid ones, with a "did you mean" hint).

    Example:
        >>> type(get("acc", (None,), (None, 10))).__name__, get("acc", (None,), (None, 10)).name
        ('SparseCategoricalAccuracy', 'acc')
        >>> type(get("accuracy", (None, 1), (None, 1))).__name__
        'BinaryAccuracy'
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            if y_true_shape is None or y_pred_shape is None:
                return MeanMetricWrapper(_accuracy_by_shape, name=identifier)
            is_binary, is_sparse = is_binary_or_sparse_categorical(tuple(y_true_shape), tuple(y_pred_shape))
            cls = BinaryAccuracy if is_binary else SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy
            return cls(name=identifier)
        cls = _BY_NAME.get(identifier) or CLASSES.get(identifier)
        if cls is None:
            valid = ["accuracy", "acc"] + list(_BY_NAME) + list(CLASSES)
            close = difflib.get_close_matches(identifier, valid, n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"Unknown metric: {identifier!r}. Expected one of "
                             f"{', '.join(repr(v) for v in valid)}, a Metric or a function.{hint}")
        return cls(name=identifier)
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: expected a name such as 'accuracy', a "
                     f"Metric or a function. Received: {identifier!r} ({type(identifier).__name__}).")


def serialize(metric):
    """``{"module", "class_name", "config", "registered_name"}`` for a built-in metric."""
    name = type(metric).__name__
    if name not in CLASSES:
        raise ValueError(f"Cannot serialize the custom metric {metric!r}: only the built-in metrics "
                         f"({', '.join(CLASSES)}) have a registered name.")
    return {"module": "glassnet.metrics", "class_name": name, "config": metric.get_config(),
            "registered_name": None}


def deserialize(config):
    """Inverse of ``serialize``: only glassnet's own classes, looked up by name."""
    cls = CLASSES.get(config.get("class_name")) if isinstance(config, dict) else None
    if cls is None:
        raise ValueError(f"Unknown metric config {config!r}. Expected a dict whose 'class_name' is one "
                         f"of {', '.join(CLASSES)}.")
    return cls.from_config(dict(config.get("config") or {}))
