"""Write the Keras 3 ``.keras`` fixtures that ``tests/test_keras_import.py`` opens with glassnet.

Run once, by hand, with tensorflow-cpu (Keras 3) installed; the output is committed, so the tests
need only h5py:

    python tools/make_keras_fixtures.py            # -> tests/fixtures/keras/

For each model NAME it writes ``NAME.keras`` (``model.save``), ``NAME.x.npy`` (the inputs) and
``NAME.y.npy`` (Keras's ``model.predict`` on them, float32). Weights are random but fixed (seed 0),
biases and batch-norm statistics included, so that every weight array matters to the outputs.
"""
import os
import pathlib
import sys

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
from keras import layers  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"


def mnist_mlp():
    """The tutorial's MNIST network: Flatten, Dense 100 relu, Dense 10 sigmoid."""
    return keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(100, activation="relu"),
                             layers.Dense(10, activation="sigmoid")], name="mnist_mlp")


def cifar_cnn():
    """The tutorial's CIFAR-10 CNN (167,562 parameters)."""
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
    ], name="cifar_cnn")


def every_layer():
    """Each layer type glassnet reads, with the settings that change the arithmetic: odd sizes,
    'same' padding with stride 2 (the extra pad at the bottom/right), batch-norm statistics."""
    return keras.Sequential([
        keras.Input((11, 9, 2)),
        layers.Conv2D(4, (3, 2), strides=(2, 2), padding="same", use_bias=False),
        layers.BatchNormalization(epsilon=1e-3),
        layers.LeakyReLU(negative_slope=0.1),
        layers.AveragePooling2D((2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(6, 3, padding="same", activation="tanh"),
        layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same"),
        layers.ReLU(max_value=1.5),
        layers.Conv2D(5, 1, activation="leaky_relu"),
        layers.GlobalMaxPooling2D(),
        layers.Dropout(0.3),
        layers.Dense(7, activation="sigmoid"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Dense(3),
        layers.Softmax(),
    ], name="every_layer")


def global_average():
    return keras.Sequential([keras.Input((6, 6, 3)), layers.Conv2D(4, 3, activation="relu"),
                             layers.GlobalAveragePooling2D(), layers.Dense(2)], name="global_average")


def unsupported():
    """A layer glassnet does not have (LayerNormalization): loading must refuse it."""
    return keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.LayerNormalization()],
                            name="unsupported")


def randomize(model, rng):
    """Fixed random weights; variances (moving_variance) kept positive."""
    values = []
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            values.append(rng.uniform(0.5, 2.0, shape))
        else:
            scale = 1.0 / np.sqrt(max(np.prod(shape[:-1]), 1)) if len(shape) > 1 else 0.3
            values.append(rng.normal(0.0, scale, shape))
    model.set_weights([v.astype("float32") for v in values])


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    digits = None
    sys.path.insert(0, str(OUT.parents[2] / "src"))
    try:
        from glassnet.datasets import mnist
        digits = np.load(mnist.EMBEDDED_FILE)["x_test"][:16].astype("float32") / 255.0
    except (ImportError, OSError, KeyError):
        pass
    for build in (mnist_mlp, cifar_cnn, every_layer, global_average, unsupported):
        model = build()
        randomize(model, rng)
        shape = (16,) + tuple(model.input_shape[1:])
        x = digits if build is mnist_mlp and digits is not None else rng.uniform(-1, 1, shape)
        x = x.astype("float32")
        y = model.predict(x, verbose=0).astype("float32")
        model.save(OUT / f"{model.name}.keras")
        np.save(OUT / f"{model.name}.x.npy", x)
        np.save(OUT / f"{model.name}.y.npy", y)
        print(f"{model.name}: {model.count_params()} parameters, x {x.shape}, y {y.shape}")
    print(f"keras {keras.__version__}; wrote {OUT}")


if __name__ == "__main__":
    main()
