"""The course's models, built and compiled as the tutorials do: one function per model.

=================  ==========================================================================  =========
function           layers                                                                      compile
=================  ==========================================================================  =========
``mnist_notes``    Dense(10, sigmoid) on 784 pixels                                            adam
``mnist_hidden``   Dense(100, relu) → Dense(10, sigmoid)                                       adam
``mnist_cnn``      Conv2D(30, 3×3, relu) → MaxPool 2 → Flatten → Dense(100, relu) → Dense(10)  adam
``mnist_convnet``  Conv32 3×3 relu → MaxPool → Conv64 3×3 relu → MaxPool → Flatten → Dense(10)  adam
``cifar10_cnn``    Conv32 3×3 relu → MaxPool → Conv64 3×3 relu → MaxPool → Flatten →           adam
                   Dense(64, relu) → Dense(10, softmax)   (167,562 parameters)
``cifar10_ann``    Flatten → Dense(3000, relu) → Dense(1000, relu) → Dense(10, softmax)        SGD
=================  ==========================================================================  =========

Every model takes pixels scaled to [0, 1] (``x / 255``): MNIST MLPs (N, 784), MNIST CNNs
(N, 28, 28, 1), CIFAR-10 models (N, 32, 32, 3); labels are class numbers
(``sparse_categorical_crossentropy``) and ``metrics=["accuracy"]``. ``MODELS[dataset][name]``
lists them for the command line. The same code runs in Keras with ``from tensorflow import keras``.

Example:
    >>> model = cifar10_cnn()
    >>> model.count_params()
    167562
"""
from . import models
from .layers import Conv2D, Dense, Flatten, MaxPooling2D

LOSS = "sparse_categorical_crossentropy"


def _compiled(layers, optimizer):
    model = models.Sequential(layers)
    model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"])
    return model


def mnist_notes():
    """The notes' first digits model: ``Dense(10, activation="sigmoid")`` on (N, 784) pixels."""
    return _compiled([Dense(10, input_shape=(784,), activation="sigmoid")], "adam")


def mnist_hidden():
    """One hidden layer: ``Dense(100, relu) → Dense(10, sigmoid)`` on (N, 784) pixels."""
    return _compiled([Dense(100, input_shape=(784,), activation="relu"),
                      Dense(10, activation="sigmoid")], "adam")


def mnist_cnn():
    """The notes' digits CNN on (N, 28, 28, 1): one 3×3 convolution with 30 filters, a 2×2 max pool,
    then the hidden-layer classifier (26·26·30 → 13·13·30 = 5,070 features → 100 → 10 softmax)."""
    return _compiled([Conv2D(30, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                      MaxPooling2D((2, 2)),
                      Flatten(),
                      Dense(100, activation="relu"),
                      Dense(10, activation="softmax")], "adam")


def mnist_convnet():
    """Keras's "simple MNIST convnet" example without its dropout (the benchmark's MNIST CNN)."""
    return _compiled([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                      MaxPooling2D((2, 2)),
                      Conv2D(64, (3, 3), activation="relu"),
                      MaxPooling2D((2, 2)),
                      Flatten(),
                      Dense(10, activation="softmax")], "adam")


def cifar10_cnn():
    """The tutorial's CIFAR-10 CNN on (N, 32, 32, 3): 32×32×3 → 30×30×32 → 15×15×32 → 13×13×64 →
    6×6×64 = 2,304 features → 64 → 10 softmax; 167,562 parameters (896 + 18,496 + 147,520 + 650)."""
    return _compiled([Conv2D(filters=32, kernel_size=(3, 3), activation="relu", input_shape=(32, 32, 3)),
                      MaxPooling2D((2, 2)),
                      Conv2D(filters=64, kernel_size=(3, 3), activation="relu"),
                      MaxPooling2D((2, 2)),
                      Flatten(),
                      Dense(64, activation="relu"),
                      Dense(10, activation="softmax")], "adam")


def cifar10_ann():
    """The tutorial's dense baseline on (N, 32, 32, 3): 3,072 pixels → 3000 relu → 1000 relu → 10
    softmax, trained with plain SGD (lr 0.01); 12,230,010 parameters, ~73× the CNN's, and worse."""
    return _compiled([Flatten(input_shape=(32, 32, 3)),
                      Dense(3000, activation="relu"),
                      Dense(1000, activation="relu"),
                      Dense(10, activation="softmax")], "SGD")


MODELS = {
    "mnist": {"notes": mnist_notes, "hidden": mnist_hidden, "cnn": mnist_cnn},
    "cifar10": {"cnn": cifar10_cnn, "ann": cifar10_ann},
}
DEFAULT_MODEL = {"mnist": "notes", "cifar10": "cnn"}


def build(dataset, name=None):
    """``MODELS[dataset][name]()``, with the dataset's default model when ``name`` is None.

    Raises:
        ValueError: an unknown dataset or model, with the valid names.
    """
    if dataset not in MODELS:
        raise ValueError(f"Unknown dataset {dataset!r}: expected one of {sorted(MODELS)}.")
    name = DEFAULT_MODEL[dataset] if name is None else name
    if name not in MODELS[dataset]:
        raise ValueError(f"No model {name!r} for {dataset}: expected one of {sorted(MODELS[dataset])}.")
    return MODELS[dataset][name]()


def input_shape(dataset, name):
    """The per-sample shape the model takes, e.g. ("mnist", "cnn") → (28, 28, 1)."""
    if dataset == "cifar10":
        return (32, 32, 3)
    return (28, 28, 1) if name in ("cnn", "convnet") else (784,)


__all__ = ["mnist_notes", "mnist_hidden", "mnist_cnn", "mnist_convnet", "cifar10_cnn", "cifar10_ann",
           "MODELS", "DEFAULT_MODEL", "build", "input_shape"]
