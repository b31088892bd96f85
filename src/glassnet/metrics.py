"""Classification metrics as scikit-learn computes them, plus Keras's streaming metrics.

Counting per label ``l`` (tp: true l, predicted l; fp: predicted l, truly not; fn: true l, missed)::

    accuracy   = (# y_pred == y_true) / N
    precision  = tp / (tp + fp)          "of those predicted l, how many are l"
    recall     = tp / (tp + fn)          "of those that are l, how many were found"
    F1         = 2·tp / (2·tp + fp + fn) (= 2·P·R / (P + R))
    confusion_matrix  C[i, j] = # samples of true label i predicted as label j (rows = truth)

Averages over labels: ``"binary"`` (only ``pos_label``), ``"micro"`` (pool tp, fp, fn first),
``"macro"`` (plain mean), ``"weighted"`` (mean weighted by support = # true), ``None`` (per label).
A 0/0 is set to ``zero_division`` (default "warn": 0.0 with an ``UndefinedMetricWarning``).

Labels may be ints or strings (not both). One difference from scikit-learn, on purpose: with
``average="binary"`` and more than two labels, sklearn raises; glassnet treats ``pos_label`` as
the positive class and every other label as negative (one-vs-rest), as the course notes do.

The Keras streaming metrics for ``compile(metrics=...)`` (``Mean``, ``BinaryAccuracy``,
``Precision``, …, and ``get``) live in ``metrics_keras.py`` and are importable from here.
"""
import warnings

import numpy as np


class UndefinedMetricWarning(UserWarning):
    """A precision/recall/F-score had 0/0 and was set to ``zero_division`` (as scikit-learn warns)."""


# -- input checks --------------------------------------------------------------------------------------
def _column(y, name):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels. Received shape {y.shape}. Hint: for "
                         "probabilities or one-hot rows take y.argmax(-1); for a sigmoid output use "
                         "(p > 0.5).astype(int).")
    return y


def _check_targets(y_true, y_pred):
    """``(y_true, y_pred, present_labels)`` after checking lengths, label types and continuity."""
    y_true, y_pred = _column(y_true, "y_true"), _column(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"[{len(y_true)}, {len(y_pred)}]. Expected y_true and y_pred of equal length.")
    kinds = {("string" if y.dtype.kind in "USO" and any(isinstance(v, str) for v in y[:100])
              else "number") for y in (y_true, y_pred) if y.size}
    if len(kinds) > 1:
        raise ValueError("Mix of label input types (string and number): y_true and y_pred must both "
                         "hold strings or both hold numbers.")
    for y, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        if y.dtype.kind == "f" and y.size and np.any(y != np.round(y)):
            raise ValueError(f"Classification metrics can't handle continuous targets: {name} contains "
                             f"{y[y != np.round(y)][0]!r}. Hint: threshold probabilities first, e.g. "
                             "(p > 0.5).astype(int), or take p.argmax(-1).")
    return y_true, y_pred, np.unique(np.concatenate([y_true, y_pred]))


def _weights(sample_weight, n):
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have one weight per sample: expected shape ({n},), "
                         f"received {np.shape(sample_weight)}.")
    return w


def _index(y, labels):
    """Position of each y in ``labels`` (−1 where y is not one of them)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.clip(np.searchsorted(sorted_labels, y), 0, len(labels) - 1)
    return np.where(sorted_labels[pos] == y, order[pos], -1)


# -- accuracy and the confusion matrix ---------------------------------------------------------------
def accuracy_score(y_true, y_pred, normalize=True, sample_weight=None):
    """Fraction (or with ``normalize=False`` the number) of exactly right predictions.

    Example:
        >>> accuracy_score([0, 1, 2, 3], [0, 2, 1, 3])
        0.5
        >>> accuracy_score(["cat", "dog"], ["cat", "cat"], normalize=False)
        1.0
    """
    y_true, y_pred, _ = _check_targets(y_true, y_pred)
    w = _weights(sample_weight, len(y_true))
    right = (y_true == y_pred).astype(np.float64)
    if not normalize:
        return float(right.sum() if w is None else right @ w)
    if len(right) == 0:
        return 0.0
    return float(np.average(right, weights=w))


def confusion_matrix(y_true, y_pred, labels=None, sample_weight=None, normalize=None):
    """``C[i, j]`` = number of samples with true label ``labels[i]`` predicted as ``labels[j]``.

    Args:
        y_true, y_pred: 1-D label arrays (ints or strings).
        labels: the label order of rows/columns (default: sorted labels present in either).
        sample_weight: optional per-sample weights (then C is float).
        normalize: None, "true" (rows sum to 1), "pred" (columns) or "all".

    Returns:
        (L, L) int64 array (float64 with weights or normalize).

    Example (scikit-learn's: rows are the truth, columns the prediction):
        >>> confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2])
        array([[2, 0, 0],
               [0, 0, 1],
               [1, 0, 2]])
    """
    y_true, y_pred, present = _check_targets(y_true, y_pred)
    labels = present if labels is None else np.asarray(labels)
    if labels.size == 0:
        raise ValueError("'labels' should contain at least one label. Received an empty list.")
    if labels is not present and y_true.size and not np.isin(y_true, labels).any():
        raise ValueError(f"At least one label specified must be in y_true. Received labels={list(labels)}.")
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be one of {{'true', 'pred', 'all', None}}. Received: {normalize!r}")
    w = _weights(sample_weight, len(y_true))
    n = len(labels)
    i, j = _index(y_true, labels), _index(y_pred, labels)
    keep = (i >= 0) & (j >= 0)
    counts = np.bincount(i[keep] * n + j[keep], weights=None if w is None else w[keep], minlength=n * n)
    cm = counts.reshape(n, n)
    cm = cm.astype(np.int64) if w is None else cm
    if normalize is None:
        return cm
    with np.errstate(divide="ignore", invalid="ignore"):
        total = {"true": cm.sum(axis=1, keepdims=True), "pred": cm.sum(axis=0, keepdims=True),
                 "all": cm.sum()}[normalize]
        return np.nan_to_num(cm / total)


# -- precision, recall, F1 -----------------------------------------------------------------------------
_AVERAGES = (None, "binary", "micro", "macro", "weighted")


def _zero_division_value(zero_division):
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if zero_division in (0, 1) or (isinstance(zero_division, float) and np.isnan(zero_division)):
        return float(zero_division)
    raise ValueError(f'zero_division must be one of "warn", 0, 1 or np.nan. Received: {zero_division!r}')


def _divide(num, den, metric, modifier, zero_division, warn_for):
    """num / den, with 0/0 set to ``zero_division`` (and a scikit-learn-worded warning for "warn")."""
    zero = den == 0
    result = num / np.where(zero, 1, den)
    if not zero.any():
        return result
    result[zero] = _zero_division_value(zero_division)
    if isinstance(zero_division, str) and metric in warn_for:
        where = "due to" if result.size == 1 else "in labels with"
        warnings.warn(f"{metric.capitalize()} is ill-defined and being set to 0.0 {where} no {modifier} "
                      "samples. Use `zero_division` parameter to control this behavior.",
                      UndefinedMetricWarning, stacklevel=4)
    return result


def _nanaverage(values, weights=None):
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    if weights is None or weights[keep].sum() == 0:
        return float(np.mean(values[keep]))
    return float(np.average(values[keep], weights=weights[keep]))


def precision_recall_fscore_support(y_true, y_pred, beta=1.0, labels=None, pos_label=1, average=None,
                                    warn_for=("precision", "recall", "f-score"), sample_weight=None,
                                    zero_division="warn"):
    """Precision, recall, F-beta and support (number of true samples) per label or averaged.

    ``F_beta = (1 + β²)·tp / ((1 + β²)·tp + β²·fn + fp)``.

    Returns:
        ``(precision, recall, fbeta, support)``: arrays over ``labels`` when ``average=None``,
        else floats and ``support=None``.

    Example:
        >>> p, r, f, s = precision_recall_fscore_support([0, 1, 1, 1], [0, 1, 0, 0])
        >>> p.tolist(), r.tolist(), s.tolist()
        ([0.3333333333333333, 1.0], [1.0, 0.3333333333333333], [1, 3])
    """
    if average not in _AVERAGES:
        raise ValueError(f"average has to be one of {_AVERAGES}. Received: average={average!r}")
    _zero_division_value(zero_division)
    y_true, y_pred, present = _check_targets(y_true, y_pred)
    if average == "binary":
        if pos_label not in present and len(present) >= 2:
            raise ValueError(f"pos_label={pos_label!r} is not a valid label. It should be one of "
                             f"{present.tolist()}.")
        labels = [pos_label]
    elif pos_label not in (None, 1):
        warnings.warn(f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
                      f"(got {average!r}). You may use labels=[pos_label] to specify a single positive "
                      "class.", UserWarning, stacklevel=2)
    labels = present if labels is None else np.asarray(labels)
    w = _weights(sample_weight, len(y_true))
    n = len(labels)
    i, j = _index(y_true, labels), _index(y_pred, labels)
    weights = np.ones(len(y_true)) if w is None else w
    true_sum = np.bincount(i[i >= 0], weights[i >= 0], minlength=n)       # tp + fn
    pred_sum = np.bincount(j[j >= 0], weights[j >= 0], minlength=n)       # tp + fp
    hit = (i >= 0) & (i == j)
    tp_sum = np.bincount(i[hit], weights[hit], minlength=n)
    if average == "micro":
        tp_sum, pred_sum, true_sum = (np.array([s.sum()]) for s in (tp_sum, pred_sum, true_sum))
    beta2 = beta ** 2
    precision = _divide(tp_sum, pred_sum, "precision", "predicted", zero_division, warn_for)
    recall = _divide(tp_sum, true_sum, "recall", "true", zero_division, warn_for)
    fscore = _divide((1 + beta2) * tp_sum, beta2 * true_sum + pred_sum, "f-score", "true nor predicted",
                     zero_division, warn_for)
    if average is None:
        support = true_sum.astype(np.int64) if w is None else true_sum
        return precision, recall, fscore, support
    weights = true_sum if average == "weighted" else None
    return (_nanaverage(precision, weights), _nanaverage(recall, weights), _nanaverage(fscore, weights),
            None)


def precision_score(y_true, y_pred, labels=None, pos_label=1, average="binary", sample_weight=None,
                    zero_division="warn"):
    """``tp / (tp + fp)``. See ``precision_recall_fscore_support`` for the arguments.

    Example (the notes' dog example: TP 4, FP 3, TN 1, FN 2 → 4/7):
        >>> y_true = ["dog"] * 6 + ["car"] * 2 + ["phone"] * 2
        >>> y_pred = ["dog"] * 4 + ["car", "phone"] + ["dog", "car", "dog", "dog"]
        >>> round(precision_score(y_true, y_pred, pos_label="dog"), 4)
        0.5714
    """
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, warn_for=("precision",),
                                           sample_weight=sample_weight, zero_division=zero_division)[0]


def recall_score(y_true, y_pred, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division="warn"):
    """``tp / (tp + fn)``.

    Example (the notes' dog example → 4/6):
        >>> y_true = ["dog"] * 6 + ["car"] * 2 + ["phone"] * 2
        >>> y_pred = ["dog"] * 4 + ["car", "phone"] + ["dog", "car", "dog", "dog"]
        >>> round(recall_score(y_true, y_pred, pos_label="dog"), 4)
        0.6667
    """
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, warn_for=("recall",),
                                           sample_weight=sample_weight, zero_division=zero_division)[1]


def f1_score(y_true, y_pred, labels=None, pos_label=1, average="binary", sample_weight=None,
             zero_division="warn"):
    """``2·tp / (2·tp + fp + fn)``, the harmonic mean of precision and recall.

    Example (2·4 / (8 + 3 + 2) = 8/13):
        >>> y_true = ["dog"] * 6 + ["car"] * 2 + ["phone"] * 2
        >>> y_pred = ["dog"] * 4 + ["car", "phone"] + ["dog", "car", "dog", "dog"]
        >>> round(f1_score(y_true, y_pred, pos_label="dog"), 4)
        0.6154
        >>> round(f1_score([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], average="macro"), 4)
        0.2667
    """
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, warn_for=("f-score",),
                                           sample_weight=sample_weight, zero_division=zero_division)[2]


def classification_report(y_true, y_pred, labels=None, target_names=None, sample_weight=None, digits=2,
                          output_dict=False, zero_division="warn"):
    """Per-label precision, recall, F1 and support, then accuracy and macro/weighted averages.

    Same layout as scikit-learn's (an "accuracy" row, or "micro avg" when ``labels`` leaves some out).

    Example:
        >>> print(classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1], target_names=["a", "b", "c"]))
                      precision    recall  f1-score   support
        <BLANKLINE>
                   a       0.50      1.00      0.67         1
                   b       0.00      0.00      0.00         1
                   c       1.00      0.67      0.80         3
        <BLANKLINE>
            accuracy                           0.60         5
           macro avg       0.50      0.56      0.49         5
        weighted avg       0.70      0.60      0.61         5
        <BLANKLINE>
    """
    y_true, y_pred, present = _check_targets(y_true, y_pred)
    given = labels is not None
    labels = present if labels is None else np.asarray(labels)
    micro_is_accuracy = not given or set(labels.tolist()) >= set(present.tolist())
    if target_names is not None and len(labels) != len(target_names):
        raise ValueError(f"Number of classes, {len(labels)}, does not match size of target_names, "
                         f"{len(target_names)}. Try specifying the labels parameter.")
    names = [str(n) for n in (labels if target_names is None else target_names)]
    headers = ["precision", "recall", "f1-score", "support"]
    p, r, f1, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None,
                                                  sample_weight=sample_weight, zero_division=zero_division)
    rows = list(zip(names, p, r, f1, s))
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else average + " avg"
        avg = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                              sample_weight=sample_weight, zero_division=zero_division)
        averages.append((heading, avg[0], avg[1], avg[2], np.sum(s)))
    if output_dict:
        report = {row[0]: dict(zip(headers, (float(v) for v in row[1:]))) for row in rows + averages}
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report
    width = max(max(len(n) for n in names), len("weighted avg"), digits)
    report = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for row in rows:
        report += row_fmt.format(*row, width=width, digits=digits)
    report += "\n"
    for heading, ap, ar, af, support in averages:
        if heading == "accuracy":
            fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            report += fmt.format(heading, "", "", af, support, width=width, digits=digits)
        else:
            report += row_fmt.format(heading, ap, ar, af, support, width=width, digits=digits)
    return report


from .metrics_keras import (Metric, Mean, MeanMetricWrapper, Accuracy, BinaryAccuracy,  # noqa: E402
                            CategoricalAccuracy, SparseCategoricalAccuracy, Precision, Recall,
                            MeanSquaredError, MeanAbsoluteError, accuracy, binary_accuracy,
                            categorical_accuracy, sparse_categorical_accuracy, get, serialize,
                            deserialize)

__all__ = ["accuracy_score", "confusion_matrix", "precision_recall_fscore_support", "precision_score",
           "recall_score", "f1_score", "classification_report", "UndefinedMetricWarning",
           "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "Precision", "Recall", "MeanSquaredError", "MeanAbsoluteError",
           "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "get",
           "serialize", "deserialize"]
