"""The notes' MNIST CNN on the full MNIST: Conv2D(30, 3×3, relu) → MaxPool → Flatten → Dense 100 → Dense 10.

    GLASSNET_DATA=/work/shared/data python examples/mnist_cnn.py [EPOCHS] [LIMIT]

Pixels / 255 with a channel axis, (N, 28, 28, 1); Adam, batch 32. Keras reaches 98.4% test accuracy
in 5 epochs; the gate here is 98.5% (issue 4), as in ``tests/test_cnn_usecase.py``.
"""
import sys
import time

import numpy as np

import glassnet
from glassnet import zoo
from glassnet.datasets import mnist


def main(epochs=5, limit=None):
    glassnet.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train, y_train = x_train[:limit], y_train[:limit]
    x_train, x_test = (x_train[..., None] / 255).astype(np.float32), (x_test[..., None] / 255).astype(np.float32)
    model = zoo.mnist_cnn()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=2)
    minutes = (time.perf_counter() - start) / 60
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"MNIST CNN: {len(x_train):,} training digits, {epochs} epochs in {minutes:.1f} min; "
          f"test accuracy on {len(x_test):,} digits: {accuracy:.4f} (loss {loss:.4f})")
    return accuracy


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    accuracy = main(*args) if args else main()
    sys.exit(0 if accuracy >= 0.985 else f"accuracy {accuracy:.4f} is below the gate 0.985")
