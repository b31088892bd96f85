"""Loss functions: how wrong is the model? Per-sample errors, then their mean.

The loss *functions* of ``glassnet.losses`` return one value per sample (what the notes compute in
a table); the training loss is their mean over the batch. With targets and predictions of shape
(N, 1), MAE's per-sample value is |y − ŷ| and MSE's is (y − ŷ)². The vectors are small examples;
the regression one has the notes' absolute errors 5, 3, 1.
"""
from fractions import Fraction

import numpy as np

import glassnet as gn


def _show(title, per_sample, formula):
    print(f"{title}: per sample {np.round(per_sample, 4).tolist()}")
    mean = float(np.mean(per_sample))
    exact = Fraction(mean).limit_denominator(100)
    as_fraction = f" = {exact}" if exact.denominator > 1 and abs(float(exact) - mean) < 1e-6 else ""
    print(f"  {formula} = {mean:.4f}{as_fraction}")


def run(plot=None):
    y_true = np.array([[20.0], [30.0], [40.0]])          # e.g. prices
    y_pred = np.array([[25.0], [27.0], [41.0]])
    print(f"Regression: y = {y_true[:, 0].tolist()}, ŷ = {y_pred[:, 0].tolist()}")
    _show("MAE", gn.losses.mean_absolute_error(y_true, y_pred), "MAE = mean |y − ŷ|")
    _show("MSE", gn.losses.mean_squared_error(y_true, y_pred), "MSE = mean (y − ŷ)²")

    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.9], [0.2], [0.6], [0.4]])
    print(f"\nYes/no: y = {y[:, 0].tolist()}, ŷ = {p[:, 0].tolist()} (probabilities from a sigmoid)")
    _show("Log loss", gn.losses.binary_crossentropy(y, p), "log loss = mean −(y·log ŷ + (1 − y)·log(1 − ŷ))")
    clipped = gn.losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.0]]))[0]
    print(f"  a sure wrong answer (y = 1, ŷ = 0) costs −log ε = {clipped:.4f}, not infinity: "
          f"ŷ is clipped to [ε, 1 − ε], ε = {gn.config.epsilon():g}")

    one_hot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    labels = np.array([0, 2])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])    # softmax outputs: each row sums to 1
    print(f"\nThree classes, 2 samples: ŷ = {probs.tolist()}")
    print(f"  one-hot y = {one_hot.tolist()}, or the labels {labels.tolist()}")
    cce = gn.losses.categorical_crossentropy(one_hot, probs)
    scce = gn.losses.sparse_categorical_crossentropy(labels, probs)
    _show("Categorical cross-entropy", cce, "mean −Σ y·log ŷ")
    _show("Sparse categorical cross-entropy", scce, "the same from labels")
    print("  (per sample: −log of the probability given to the true class: "
          f"−log {probs[0, 0]:g} = {-np.log(probs[0, 0]):.4f}, −log {probs[1, 2]:g} = {-np.log(probs[1, 2]):.4f})")

    print("\nWhich loss for which task:")
    print("  regression (a number)                  mean_squared_error, mean_absolute_error (robust to outliers)")
    print("  yes/no (sigmoid output)                binary_crossentropy (log loss)")
    print("  one class of many (softmax), one-hot   categorical_crossentropy")
    print("  one class of many, integer labels      sparse_categorical_crossentropy")
