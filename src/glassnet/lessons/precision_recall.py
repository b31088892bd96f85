"""Precision and recall: the notes' dog example, ten items, "dog" as the positive class.

The notes' counts are TP 4, FP 3, TN 1, FN 2; the ten items below are laid out to give exactly
those counts. With ``pos_label="dog"`` glassnet's metrics treat every other label (car, phone,
bike) as negative, as scikit-learn does.
"""
import numpy as np

import glassnet as gn

Y_TRUE = ["dog", "dog", "car", "dog", "phone", "dog", "bike", "dog", "car", "dog"]
Y_PRED = ["dog", "car", "dog", "dog", "dog", "bike", "dog", "dog", "car", "dog"]


def run(plot=None):
    truth, guess = np.array(Y_TRUE), np.array(Y_PRED)
    print("item  truth   predicted  outcome (positive = dog)")
    kinds = {"TP": (truth == "dog") & (guess == "dog"), "FP": (truth != "dog") & (guess == "dog"),
             "TN": (truth != "dog") & (guess != "dog"), "FN": (truth == "dog") & (guess != "dog")}
    for i, (t, p) in enumerate(zip(Y_TRUE, Y_PRED)):
        outcome = next(k for k, mask in kinds.items() if mask[i])
        print(f"{i:>4}  {t:<7} {p:<10} {outcome}")
    print()
    for k, mask in kinds.items():
        print(f"{k}: {int(mask.sum())}  items {np.flatnonzero(mask).tolist()}")
    tp, fp, fn = (int(kinds[k].sum()) for k in ("TP", "FP", "FN"))

    precision = gn.metrics.precision_score(Y_TRUE, Y_PRED, pos_label="dog")
    recall = gn.metrics.recall_score(Y_TRUE, Y_PRED, pos_label="dog")
    f1 = gn.metrics.f1_score(Y_TRUE, Y_PRED, pos_label="dog")
    accuracy = gn.metrics.accuracy_score(truth == "dog", guess == "dog")
    print(f"\nprecision = TP / (TP + FP) = {tp}/{tp + fp} = {precision:.4f}   (of the items called dog, how many are)")
    print(f"recall    = TP / (TP + FN) = {tp}/{tp + fn} = {recall:.4f}   (of the dogs, how many were found)")
    print(f"F1        = 2·P·R / (P + R) = {f1:.4f}")
    print(f"accuracy (dog vs not dog) = (TP + TN) / {len(truth)} = {accuracy:.4f}")
    print(f"accuracy over all four labels = {gn.metrics.accuracy_score(Y_TRUE, Y_PRED):.4f}")

    labels = ["dog", "car", "phone", "bike"]
    cm = gn.metrics.confusion_matrix(Y_TRUE, Y_PRED, labels=labels)
    print("\nConfusion matrix (rows: truth, columns: predicted)")
    print("       " + "".join(f"{name:>7}" for name in labels))
    for name, row in zip(labels, cm):
        print(f"{name:>7}" + "".join(f"{v:>7}" for v in row))
