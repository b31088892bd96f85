"""What the tests of fit's worker processes share (test_data_parallel.py, test_prefetch.py): a seeded
fit with or without the worker, bit-for-bit comparison, and checks that no child process is left."""
import os

import numpy as np

from glassnet import callbacks, config


def fit_once(worker, model, x, y, callbacks_=(), **fit_args):
    """(history, weights, model) of ``model.fit(x, y, ...)`` with the worker allowed or not."""
    before = config.fit_worker()
    config.set_fit_worker(worker)
    try:
        history = model.fit(x, y, verbose=0, callbacks=list(callbacks_), **fit_args)
        return history.history, model.get_weights(), model
    finally:
        config.set_fit_worker(before)


def assert_same(a, b):
    """Two ``fit_once`` results: every loss and metric, and every weight, exactly equal."""
    assert a[0] == b[0]
    for wa, wb in zip(a[1], b[1]):
        np.testing.assert_array_equal(wa, wb)


def no_children_left():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


class AtBatch(callbacks.Callback):
    """Calls ``action(model)`` after batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch, batch, action):
        super().__init__()
        self.at, self.action, self.epoch = (epoch, batch), action, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.action(self.model)
