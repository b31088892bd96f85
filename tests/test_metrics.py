"""Metrics: doctests, the notes' dog example, equality with scikit-learn, Keras streaming metrics."""
import doctest
import warnings

import numpy as np
import pytest

from glassnet import metrics, metrics_keras
from glassnet.metrics import UndefinedMetricWarning

RNG = np.random.default_rng(0)

# the notes' ten items, positive class "dog": TP 4 (0-3), FN 2 (4, 5), FP 3 (6, 8, 9), TN 1 (7)
DOG_TRUE = ["dog"] * 6 + ["car"] * 2 + ["phone"] * 2
DOG_PRED = ["dog"] * 4 + ["car", "phone"] + ["dog", "car", "dog", "dog"]


@pytest.mark.parametrize("module", [metrics, metrics_keras], ids=["metrics", "metrics_keras"])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_notes_dog_example_exactly():
    assert metrics.precision_score(DOG_TRUE, DOG_PRED, pos_label="dog") == 4 / 7
    assert metrics.recall_score(DOG_TRUE, DOG_PRED, pos_label="dog") == 4 / 6
    assert metrics.f1_score(DOG_TRUE, DOG_PRED, pos_label="dog") == pytest.approx(8 / 13)
    assert metrics.accuracy_score(DOG_TRUE, DOG_PRED) == 0.5            # 4 dogs + the car at index 7
    cm = metrics.confusion_matrix(DOG_TRUE, DOG_PRED, labels=["dog", "car", "phone"])
    assert cm.tolist() == [[4, 1, 1], [1, 1, 0], [2, 0, 0]]
    assert cm.dtype == np.int64


def test_confusion_matrix_rows_are_truth():
    cm = metrics.confusion_matrix([0, 0, 1], [1, 1, 1])
    assert cm.tolist() == [[0, 2], [0, 1]]                               # C[true 0, predicted 1] = 2


def test_zero_division_warns_like_sklearn():
    with pytest.warns(UndefinedMetricWarning, match="Precision is ill-defined and being set to 0.0 due to "
                                                    "no predicted samples"):
        assert metrics.precision_score([0, 1, 1], [0, 0, 0]) == 0.0
    with pytest.warns(UndefinedMetricWarning, match="Recall is ill-defined.*in labels with no true samples"):
        metrics.recall_score([0, 0, 1], [0, 2, 1], average="macro")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.precision_score([0, 1, 1], [0, 0, 0], zero_division=1) == 1.0
        assert np.isnan(metrics.precision_score([0, 1, 1], [0, 0, 0], zero_division=np.nan))
        assert metrics.f1_score([0, 1, 1], [0, 0, 0], zero_division=0) == 0.0


def test_input_errors():
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[3, 2\]"):
        metrics.accuracy_score([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"Mix of label input types \(string and number\)"):
        metrics.confusion_matrix(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="continuous targets.*0.7.*p > 0.5"):
        metrics.accuracy_score([0, 1], [0.7, 0.2])
    with pytest.raises(ValueError, match=r"1-D array of labels.*\(2, 3\).*argmax"):
        metrics.accuracy_score([0, 1], np.eye(3)[:2])
    with pytest.raises(ValueError, match="average has to be one of.*Received: average='mean'"):
        metrics.f1_score([0, 1], [0, 1], average="mean")
    with pytest.raises(ValueError, match=r"pos_label=2 is not a valid label. It should be one of \[0, 1\]"):
        metrics.precision_score([0, 1], [1, 1], pos_label=2)
    with pytest.raises(ValueError, match="At least one label specified must be in y_true"):
        metrics.confusion_matrix([0, 1], [0, 1], labels=[5])


# -- scikit-learn on random inputs -------------------------------------------------------------------
def _random_labels(k, n=60, strings=False):
    y_true, y_pred = RNG.integers(0, k, n), RNG.integers(0, k, n)
    y_pred[: n // 2] = y_true[: n // 2]                                  # better than chance
    if strings:
        names = np.array(["ant", "bee", "cat", "dog", "eel"])
        return names[y_true], names[y_pred]
    return y_true, y_pred


@pytest.mark.parametrize("k, strings", [(2, False), (3, False), (5, False), (4, True)])
def test_matches_sklearn(k, strings):
    skm = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = _random_labels(k, strings=strings)
    w = RNG.uniform(0, 2, len(y_true))
    assert metrics.accuracy_score(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert metrics.accuracy_score(y_true, y_pred, sample_weight=w) == pytest.approx(
        skm.accuracy_score(y_true, y_pred, sample_weight=w))
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred))
    labels = list(np.unique(y_true)[::-1][: max(k - 1, 2)])              # reordered (a subset for k > 2)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, labels=labels),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    np.testing.assert_allclose(metrics.confusion_matrix(y_true, y_pred, sample_weight=w, normalize="true"),
                               skm.confusion_matrix(y_true, y_pred, sample_weight=w, normalize="true"))
    averages = [None, "micro", "macro", "weighted"] + (["binary"] if k == 2 and not strings else [])
    for average in averages:
        for fn in ("precision_score", "recall_score", "f1_score"):
            for kwargs in ({}, {"sample_weight": w}, {"labels": labels}):
                if average == "binary" and "labels" in kwargs:
                    continue
                ours = getattr(metrics, fn)(y_true, y_pred, average=average, **kwargs)
                theirs = getattr(skm, fn)(y_true, y_pred, average=average, **kwargs)
                np.testing.assert_allclose(ours, theirs, rtol=1e-12, err_msg=f"{fn} {average} {kwargs}")
    assert metrics.classification_report(y_true, y_pred) == skm.classification_report(y_true, y_pred)
    assert metrics.classification_report(y_true, y_pred, labels=labels, digits=3) == \
        skm.classification_report(y_true, y_pred, labels=labels, digits=3)
    ours = metrics.classification_report(y_true, y_pred, output_dict=True)
    theirs = skm.classification_report(y_true, y_pred, output_dict=True)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        np.testing.assert_allclose(pd_values(ours[key]), pd_values(theirs[key]), rtol=1e-12)


def pd_values(entry):
    return [entry] if isinstance(entry, float) else [entry[k] for k in sorted(entry)]


def test_binary_with_many_labels_is_one_vs_rest():
    skm = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = _random_labels(4)
    for fn in ("precision_score", "recall_score", "f1_score"):
        ours = getattr(metrics, fn)(y_true, y_pred, pos_label=2)
        theirs = getattr(skm, fn)(y_true, y_pred, labels=[2], average="micro")
        assert ours == pytest.approx(theirs, rel=1e-12)


def test_zero_division_values_match_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = [0, 0, 1, 2], [0, 0, 0, 1]                          # label 2 never predicted
    for zd in (0, 1, np.nan):
        for average in (None, "macro", "weighted", "micro"):
            for fn in ("precision_score", "recall_score", "f1_score"):
                np.testing.assert_allclose(
                    getattr(metrics, fn)(y_true, y_pred, average=average, zero_division=zd),
                    getattr(skm, fn)(y_true, y_pred, average=average, zero_division=zd))


# -- Keras streaming metrics ------------------------------------------------------------------------
def test_mean_accumulates_over_batches_and_resets():
    m = metrics.Mean()
    m.update_state([1.0, 2.0])
    m.update_state(np.array([[3.0, 5.0]]))                               # per-sample mean 4
    assert m.result() == pytest.approx(7 / 3)
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([1.0, 3.0], sample_weight=[3.0, 1.0])
    assert m.result() == 1.5


def test_streaming_equals_one_big_batch():
    y_true = RNG.integers(0, 2, (100, 1))
    y_pred = RNG.uniform(0, 1, (100, 1))
    whole = metrics.BinaryAccuracy()(y_true, y_pred)
    streamed = metrics.BinaryAccuracy()
    for start in range(0, 100, 32):                                      # a partial last batch
        streamed.update_state(y_true[start:start + 32], y_pred[start:start + 32])
    assert streamed.result() == pytest.approx(whole)
    assert whole == pytest.approx(np.mean((y_pred > 0.5) == y_true))


def test_accuracy_variants():
    assert metrics.BinaryAccuracy(threshold=0.9)([1, 1, 0], [[0.95], [0.85], [0.1]]) == pytest.approx(2 / 3)
    assert metrics.BinaryAccuracy()(np.array([1, 0]), np.array([[0.7], [0.2]])) == 1.0    # (N,) vs (N, 1)
    assert metrics.CategoricalAccuracy()(np.eye(3)[[0, 2]], [[0.8, 0.1, 0.1], [0.6, 0.3, 0.1]]) == 0.5
    assert metrics.SparseCategoricalAccuracy()([0, 2], [[0.8, 0.1, 0.1], [0.1, 0.3, 0.6]]) == 1.0
    assert metrics.SparseCategoricalAccuracy()(np.array([[0.0], [1.0]]), [[0.8, 0.2], [0.9, 0.1]]) == 0.5
    assert metrics.Accuracy()([1, 2, 3, 4], [0, 2, 3, 4]) == 0.75
    weighted = metrics.SparseCategoricalAccuracy()
    weighted.update_state([0, 1], [[0.9, 0.1], [0.9, 0.1]], sample_weight=[3.0, 1.0])
    assert weighted.result() == 0.75
    assert metrics.MeanSquaredError()([[0.0, 0.0]], [[1.0, 3.0]]) == 5.0


def test_precision_recall_match_sklearn_on_thresholded_outputs():
    skm = pytest.importorskip("sklearn.metrics")
    y_true = RNG.integers(0, 2, (50, 1))
    y_pred = RNG.uniform(0, 1, (50, 1))
    w = RNG.uniform(0, 2, 50)
    hard = (y_pred > 0.5).astype(int)
    assert metrics.Precision()(y_true, y_pred) == pytest.approx(skm.precision_score(y_true, hard))
    assert metrics.Recall()(y_true, y_pred) == pytest.approx(skm.recall_score(y_true, hard))
    assert metrics.Precision()(y_true, y_pred, sample_weight=w) == pytest.approx(
        skm.precision_score(y_true, hard, sample_weight=w))
    several = metrics.Recall(thresholds=[0.3, 0.7])(y_true, y_pred)
    assert several == pytest.approx([skm.recall_score(y_true, (y_pred > t).astype(int)) for t in (0.3, 0.7)])
    assert metrics.Precision()([1, 0], [[0.2], [0.1]]) == 0.0                # 0/0 → 0, as Keras
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*sigmoid"):
        metrics.Precision()([1, 0], [[2.5], [-1.0]])


@pytest.mark.parametrize("name, y_true_shape, y_pred_shape, expected", [
    ("accuracy", (None, 1), (None, 1), metrics.BinaryAccuracy),
    ("accuracy", (None,), (None, 1), metrics.BinaryAccuracy),
    ("acc", (None,), (None, 10), metrics.SparseCategoricalAccuracy),
    ("accuracy", (None, 1), (None, 10), metrics.SparseCategoricalAccuracy),
    ("Accuracy", (None, 10), (None, 10), metrics.CategoricalAccuracy),
])
def test_get_resolves_accuracy_by_shape_and_keeps_the_name(name, y_true_shape, y_pred_shape, expected):
    metric = metrics.get(name, y_true_shape, y_pred_shape)
    assert type(metric) is expected and metric.name == name


def test_get_other_identifiers():
    assert isinstance(metrics.get("precision"), metrics.Precision)
    assert metrics.get("mse").name == "mse" and isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("BinaryAccuracy"), metrics.BinaryAccuracy)
    m = metrics.Recall()
    assert metrics.get(m) is m
    auto = metrics.get("accuracy")                                      # shapes not known yet
    assert auto.name == "accuracy"
    assert auto([1, 2], [[0, 1, 0], [0, 0, 1]]) == 1.0                   # sparse, resolved per batch
    config = metrics.serialize(metrics.BinaryAccuracy(threshold=0.7))
    assert metrics.deserialize(config).threshold == 0.7
    with pytest.raises(ValueError, match="Unknown metric: 'acc_'.*Did you mean 'acc'"):
        metrics.get("acc_")
    with pytest.raises(ValueError, match="Unknown metric: 'f1'.*Expected one of"):
        metrics.get("f1")
