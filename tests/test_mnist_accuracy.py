"""The notes' digits models on the full MNIST (issue 2, "Tests"): the accuracy gates Keras meets.

Keras reaches 92.6% with the notes' single layer; glassnet must reach >= 92%, and >= 97% with a
hidden Dense(100, relu) layer. Needs ../shared/data/mnist (skipped with the reason when absent).
"""
import numpy as np
import pytest

import glassnet as keras
from conftest import shared_file


@pytest.fixture(scope="module")
def mnist():
    folder = shared_file("mnist", "train-images-idx3-ubyte.gz").parent
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=folder)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    x_train = x_train.reshape(len(x_train), 28 * 28) / 255
    x_test = x_test.reshape(len(x_test), 28 * 28) / 255
    return x_train, y_train, x_test, y_test


def train_and_score(model, mnist):
    x_train, y_train, x_test, y_test = mnist
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Adam's moments of the always-blank border pixels decay towards 0 and underflow float32 after
    # a few thousand steps: harmless (NumPy's default ignores it), so only here is underflow allowed.
    with np.errstate(under="ignore"):
        history = model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predicted = model.predict(x_test, verbose=0).argmax(-1)
    assert accuracy == pytest.approx(float(np.mean(predicted == y_test)))
    return accuracy


def test_notes_digits_model_reaches_92_percent(mnist):
    model = keras.Sequential([keras.layers.Dense(10, input_shape=(784,), activation="sigmoid")])
    assert train_and_score(model, mnist) >= 0.92


def test_hidden_layer_model_reaches_97_percent(mnist):
    model = keras.Sequential([keras.layers.Dense(100, input_shape=(784,), activation="relu"),
                              keras.layers.Dense(10, activation="sigmoid")])
    assert train_and_score(model, mnist) >= 0.97
