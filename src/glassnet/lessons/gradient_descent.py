"""Gradient descent by hand: logistic regression on the insurance table, epoch by epoch.

The notes' setup (the codebasics "gradient descent for neural network" tutorial): the 22 training
rows of ``train_test_split(test_size=0.2, random_state=25)``, age divided by 100, prediction
ŷ = sigmoid(w₁·age + w₂·affordability + bias), log loss, start at w₁ = w₂ = 1, bias = 0, learning
rate 0.5, and stop once the log loss is at most 0.4631. The gradients of the log loss are
∂L/∂w₁ = mean(age·(ŷ − y)), ∂L/∂w₂ = mean(affordability·(ŷ − y)), ∂L/∂bias = mean(ŷ − y).

``glassnet.Trace`` records every epoch (loss, gradients, updates, weights). Then the same model,
``Dense(1, activation="sigmoid")`` trained by ``Sequential.fit`` with SGD(0.5) on the whole table
per step, lands on the same numbers: autograd finds the same gradients as the formulas.
"""
import numpy as np

import glassnet as gn

LEARNING_RATE, THRESHOLD, MAX_EPOCHS = 0.5, 0.4631, 1000
NAMES = ["w1", "w2", "bias"]


def training_rows():
    """The tutorial's training split: scikit-learn's ShuffleSplit order for random_state=25, 6 test rows."""
    x, y = gn.datasets.insurance.load_data()
    order = np.random.RandomState(25).permutation(len(x))
    n_test = int(np.ceil(0.2 * len(x)))
    train = order[n_test:]
    age, afford = x[train, 0].astype(np.float64) / 100, x[train, 1].astype(np.float64)
    return age, afford, y[train].astype(np.float64)


def by_hand(age, afford, y, trace):
    w1, w2, bias = 1.0, 1.0, 0.0
    for epoch in range(MAX_EPOCHS):
        y_pred = gn.activations.sigmoid(w1 * age + w2 * afford + bias)
        loss = float(np.mean(gn.losses.binary_crossentropy(y[:, None], y_pred[:, None])))
        d_w1 = np.mean(age * (y_pred - y))                 # ∂L/∂w₁
        d_w2 = np.mean(afford * (y_pred - y))              # ∂L/∂w₂
        d_bias = np.mean(y_pred - y)                       # ∂L/∂bias
        before = [w1, w2, bias]
        w1 = w1 - LEARNING_RATE * d_w1
        w2 = w2 - LEARNING_RATE * d_w2
        bias = bias - LEARNING_RATE * d_bias
        trace.record(loss, before, [d_w1, d_w2, d_bias], [w1, w2, bias], epoch=epoch)
        if trace.stopped:                                  # loss <= THRESHOLD
            break


def with_fit(age, afford, y, trace):
    model = gn.Sequential([gn.layers.Dense(1, input_shape=(2,), activation="sigmoid", dtype="float64",
                                           kernel_initializer="ones", bias_initializer="zeros")])
    model.compile(optimizer=gn.optimizers.SGD(learning_rate=LEARNING_RATE), loss="binary_crossentropy")
    x = np.stack([age, afford], axis=1)
    model.fit(x, y, batch_size=len(x), epochs=MAX_EPOCHS, shuffle=False, verbose=0, callbacks=[trace])
    return model


def run(plot=None):
    age, afford, y = training_rows()
    print(f"Insurance table: {len(y)} training rows, age / 100; start w1 = w2 = 1, bias = 0, "
          f"learning rate {LEARNING_RATE:g}")
    print(f"Stop when the log loss is <= {THRESHOLD:g}\n")
    hand = gn.Trace(names=NAMES, stop_below=THRESHOLD)
    by_hand(age, afford, y, hand)
    print(hand.table(first=3, last=1))

    print()
    for e in range(2):
        for name in NAMES:
            old = hand.values[name][e] - hand.updates[name][e]
            print(f"epoch {e}: {name:<4} = {old:.4f} − {LEARNING_RATE:g} × {hand.grads[name][e]:.4f} "
                  f"= {hand.values[name][e]:.4f}")
    last = len(hand) - 1
    final = ", ".join(f"{n} = {hand.values[n][last]:.4f}" for n in NAMES)
    print(f"\nBy hand: stopped after epoch {hand.epochs[last]} (log loss {hand.loss[last]:.4f} <= "
          f"{THRESHOLD:g}): {final}")

    fit = gn.Trace(names=NAMES, stop_below=THRESHOLD)
    model = with_fit(age, afford, y, fit)
    kernel, bias = model.get_weights()
    print(f"Sequential.fit: stopped after epoch {fit.epochs[-1]} (log loss {fit.loss[-1]:.4f}): "
          f"w1 = {kernel[0, 0]:.4f}, w2 = {kernel[1, 0]:.4f}, bias = {bias[0]:.4f}")
    gaps = [np.max(np.abs(hand.grads[n] - fit.grads[n])) for n in NAMES]
    print(f"Largest difference between the two traces' gradients over all {len(fit)} epochs: {max(gaps):.1e}")
    print("(fit feeds x to the model in float32, glassnet's default dtype; the hand loop used float64)")
