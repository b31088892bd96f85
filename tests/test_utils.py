"""utils: set_random_seed makes runs bit-identical; to_categorical as Keras, with clear errors."""
import random

import numpy as np
import pytest

from glassnet import config, layers, optimizers, utils
from glassnet.engine import Tensor


def _tiny_run(seed):
    """Initial weights, dropout masks and a few Adam steps: everything that draws random numbers."""
    utils.set_random_seed(seed)
    dense, drop = layers.Dense(4, activation="tanh"), layers.Dropout(0.5)
    opt = optimizers.Adam(0.01)
    x = config.rng().standard_normal((8, 3)).astype("float32")
    for _ in range(3):
        out = drop(dense(Tensor(x)), training=True)
        (out * out).sum().backward()
        opt.apply_gradients([(w.grad, w) for w in dense.trainable_weights])
        for w in dense.trainable_weights:
            w.zero_grad()
    return dense.get_weights() + [np.random.rand(3), np.array(random.random())]


def test_set_random_seed_is_bit_for_bit_reproducible():
    a, b, c = _tiny_run(42), _tiny_run(42), _tiny_run(43)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not all(np.array_equal(u, w) for u, w in zip(a, c))


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError),
                                       (True, TypeError), ("42", TypeError)])
def test_set_random_seed_validates(seed, exc):
    with pytest.raises(exc, match="seed"):
        utils.set_random_seed(seed)


def test_to_categorical_basic_and_shapes():
    np.testing.assert_array_equal(utils.to_categorical([0, 2, 1]), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    out = utils.to_categorical(np.array([[3], [1]]), num_classes=5)       # CIFAR-style (N, 1) labels
    assert out.shape == (2, 5) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(-1), [3, 1])
    assert utils.to_categorical(np.zeros((2, 3), dtype=int), 4).shape == (2, 3, 4)
    assert utils.to_categorical([1.0, 0.0]).dtype == np.float32           # integral floats are fine
    assert utils.to_categorical([1], 2, dtype="int64").dtype == np.int64
    assert utils.to_categorical(np.array([], dtype=int), num_classes=3).shape == (0, 3)


@pytest.mark.parametrize("y, kwargs, words", [
    ([0, -1, 2], {}, "negative"),
    ([0.5, 1.0], {}, "non-integer"),
    ([0, 3], {"num_classes": 3}, "out of range"),
    ([0, np.nan], {}, "NaN"),
    ([], {}, "empty"),
    ([0, 1], {"num_classes": 0}, "positive int"),
])
def test_to_categorical_errors(y, kwargs, words):
    with pytest.raises(ValueError, match=words):
        utils.to_categorical(y, **kwargs)


def test_to_categorical_rejects_strings():
    with pytest.raises(TypeError, match="integer class labels"):
        utils.to_categorical(["cat", "dog"])
