"""Steady long runs: 50 epochs of the MNIST MLP do not grow memory after the first epoch.

(The speed side, epoch 50 as fast as epoch 2, is measured by bench/bench_steady.py: timings are
too noisy on shared CI machines to gate on.)
"""
import os
import sys
import warnings

import numpy as np
import pytest

import glassnet
from glassnet import callbacks, layers

EPOCHS, SAMPLES = 50, 5000
RSS_GROWTH_BOUND_MB = 8


def rss_mb():
    """Resident set size now (not the peak), from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RSSLog(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.rss = []

    def on_epoch_end(self, epoch, logs=None):
        self.rss.append(rss_mb())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_fifty_epochs_of_the_mnist_mlp_keep_rss_flat():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), _ = glassnet.datasets.mnist.load_data(embedded=True)
    x = (x[:SAMPLES].reshape(-1, 784) / 255).astype(np.float32)
    model = glassnet.models.Sequential([layers.Dense(100, input_shape=(784,), activation="relu"),
                                        layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    log = RSSLog()
    history = model.fit(x, y[:SAMPLES], epochs=EPOCHS, batch_size=128, verbose=0,
                        validation_data=(x[:500], y[:500]), callbacks=[log])
    assert len(history.epoch) == EPOCHS and history.history["accuracy"][-1] > 0.95
    growth = max(log.rss[1:]) - log.rss[0]
    assert growth < RSS_GROWTH_BOUND_MB, f"RSS grew by {growth:.1f} MB after epoch 1: {log.rss[::10]}"
