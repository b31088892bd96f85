"""Handwritten digits: an image is a grid of numbers; flatten it, and a single Dense layer reads it.

The digits are the MNIST sample shipped inside glassnet (``mnist.load_embedded()``: the first
10,000 training and all 10,000 test digits of real MNIST), so the lesson runs offline. The model
is the notes' first one: ``Dense(10, input_shape=(784,), activation="sigmoid")``, Adam, sparse
categorical cross-entropy, 5 epochs.
"""
import numpy as np

import glassnet as gn
from . import figure, save

EPOCHS, INDEX = 5, 2


def run(plot=None):
    (x_train, y_train), (x_test, y_test) = gn.datasets.mnist.load_embedded()
    digit = x_train[INDEX]
    print(f"x_train: {x_train.shape} {x_train.dtype}; digit {INDEX} is a {y_train[INDEX]}, "
          f"as {digit.shape[0]} × {digit.shape[1]} pixel values (0 = white, 255 = black ink):\n")
    for row in digit:
        print(" ".join(f"{v:>3}" if v else "  ." for v in row))

    x_train_flat = x_train.reshape(len(x_train), 28 * 28) / 255       # the notes' preprocessing
    x_test_flat = x_test.reshape(len(x_test), 28 * 28) / 255
    print(f"\nFlattened and scaled: {x_train_flat.shape}, values in [{x_train_flat.min():g}, "
          f"{x_train_flat.max():g}]")

    gn.utils.set_random_seed(0)
    model = gn.Sequential([gn.layers.Dense(10, input_shape=(784,), activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kernel, bias = model.get_weights()
    print(f"The notes' model: {model.count_params():,} weights ({kernel.shape[0]} × {kernel.shape[1]} "
          f"+ {bias.shape[0]})\n")
    history = model.fit(x_train_flat, y_train, epochs=EPOCHS, verbose=0)
    for epoch, (loss, acc) in enumerate(zip(history.history["loss"], history.history["accuracy"])):
        print(f"Epoch {epoch + 1}/{EPOCHS}: loss {loss:.4f}, accuracy {acc:.4f}")
    loss, accuracy = model.evaluate(x_test_flat, y_test, verbose=0)
    print(f"Test ({len(x_test):,} digits): loss {loss:.4f}, accuracy {accuracy:.4f}")

    scores = model.predict(x_test_flat[:10], verbose=0)
    print(f"\nThe first 10 test digits: true      {y_test[:10].tolist()}")
    print(f"                          predicted {np.argmax(scores, axis=1).tolist()}")
    print(f"Sigmoid scores for test digit 0 (a {y_test[0]}): " + " ".join(f"{v:.2f}" for v in scores[0]))
    if plot:
        save(draw(digit, y_train[INDEX]), plot)


def draw(digit, label):
    fig = figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(digit, cmap="gray_r")
    ax.set_title(f"x_train[{INDEX}]: a {label}")
    return fig
