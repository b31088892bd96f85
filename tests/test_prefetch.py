"""fit's prefetching worker (models/prefetch.py): a forked process that gathers the next shuffled
batches into shared memory. It must change nothing but the speed: every run here is compared bit for
bit with the same run without it (``config.set_fit_worker(False)``)."""
import os
import platform
import signal
import sys
import time
import types

import numpy as np
import pytest

import glassnet
from glassnet import callbacks
from glassnet.layers import Dense
from glassnet.models import data_parallel, prefetch
from glassnet.models.training import Trainer
from worker_helpers import AtBatch, assert_same, fit_once, no_children_left

needs_fork = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
         and data_parallel.worker_possible()),
    reason="the prefetching worker needs Linux's fork on x86-64 and two usable cores")


@pytest.fixture
def prefetchers(monkeypatch):
    """The prefetchers ``fit`` starts, recorded; and small fits qualify (real ones need 64 MiB of x and
    1,000 steps)."""
    started, real = [], prefetch.Prefetcher

    class Recorded(real):
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self)
    monkeypatch.setattr(prefetch, "Prefetcher", Recorded)
    monkeypatch.setattr(prefetch, "MIN_BYTES", 0)
    monkeypatch.setattr(prefetch, "MIN_STEPS", 10)
    return started


def mlp(seed=0):
    glassnet.utils.set_random_seed(seed)
    model = glassnet.Sequential([Dense(8, activation="relu", input_shape=(20,)), Dense(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=200):
    rng = np.random.default_rng(3)
    x = rng.random((n, 20), dtype=np.float32)
    y = rng.integers(0, 3, n)
    x[y == 1, :5] += 0.5
    return x, y


class Pause(callbacks.Callback):
    """Slows each step down, so that the worker gets ahead however busy the machine is."""

    def __init__(self, seconds=0.0005):
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


def run(worker, callbacks_=(), make=mlp, **fit_args):
    """(history, weights, model) of one seeded fit, with or without the worker process."""
    fit_args = {"epochs": 3, "batch_size": 7, **fit_args}            # 29 steps an epoch, the last one of 4
    return fit_once(worker, make(), *data(), callbacks_, **fit_args)


@needs_fork
@pytest.mark.parametrize("fit_args", [{}, {"batch_size": 1}, {"batch_size": 64, "epochs": 4},
                                      {"validation_split": 0.2},
                                      {"class_weight": {0: 1.0, 1: 3.0, 2: 0.5}},
                                      {"sample_weight": np.linspace(0.1, 2.0, 200)}],
                         ids=["batch-7", "batch-1", "batch-64", "validation", "class-weight", "sample-weight"])
def test_the_prefetched_batches_give_the_same_bits(prefetchers, fit_args):
    with_worker = run(True, callbacks_=[Pause()], **fit_args)
    assert len(prefetchers) == 1
    ahead = prefetchers[0]
    assert ahead.served > 0 and ahead.served + ahead.gathered == fit_args.get("epochs", 3) * ahead.steps
    alone = run(False, **fit_args)
    assert len(prefetchers) == 1
    assert_same(with_worker, alone)
    assert not np.array_equal(with_worker[1][0], mlp().get_weights()[0])   # it trained
    assert no_children_left()


@needs_fork
def test_a_batch_does_not_change_during_its_step(prefetchers, monkeypatch):
    """The worker never rewrites the slot of the step the main process is on, though it gathers
    faster than the steps go (about twice as fast here) into a ring of only four slots."""
    monkeypatch.setattr(prefetch, "RING_BYTES", 1)                  # the fewest slots: 4

    def take(*args, **kwargs):
        time.sleep(0.0003)
        return np.take(*args, **kwargs)
    monkeypatch.setattr(prefetch, "np", types.SimpleNamespace(take=take, intp=np.intp, int64=np.int64))
    real, changed = Trainer.train_step, []

    def watched(self, x, y, sample_weight=None):
        before = np.array(x)
        out = real(self, x, y, sample_weight)
        time.sleep(0.001)                                           # time for the worker to run ahead
        changed.append(not np.array_equal(before, x))
        return out
    monkeypatch.setattr(Trainer, "train_step", watched)             # (still the stock step for prefetch.wanted)
    run(True, epochs=2)
    assert len(prefetchers) == 1 and prefetchers[0].slots == 4 and prefetchers[0].served > 0
    assert len(changed) == 2 * 29 and not any(changed)


@needs_fork
def test_a_slow_worker_costs_speed_not_results(prefetchers, monkeypatch):
    def slow_take(*args, **kwargs):
        time.sleep(0.002)
        return np.take(*args, **kwargs)
    monkeypatch.setattr(prefetch, "np", types.SimpleNamespace(take=slow_take, intp=np.intp, int64=np.int64))
    with_worker = run(True)
    assert len(prefetchers) == 1 and prefetchers[0].gathered > 0
    assert_same(with_worker, run(False))
    assert no_children_left()


@needs_fork
def test_a_killed_worker_costs_speed_not_results(prefetchers):
    kill = AtBatch(1, 3, lambda model: os.kill(prefetchers[0].pid, signal.SIGKILL))
    with_worker = run(True, callbacks_=[kill, Pause()])
    assert no_children_left()
    assert_same(with_worker, run(False))


@needs_fork
def test_when_fork_fails_training_goes_on_in_one_process(prefetchers, monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(os, "fork", no_fork)
    with_worker = run(True)
    assert prefetchers == []
    assert_same(with_worker, run(False))


class Custom(glassnet.Sequential):
    def train_step(self, x, y, sample_weight=None):
        return super().train_step(x, y, sample_weight)


def custom():
    glassnet.utils.set_random_seed(0)
    model = Custom([Dense(3, activation="sigmoid", input_shape=(20,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@needs_fork
@pytest.mark.parametrize("case", ["in-order", "no-worker", "custom-step", "few-steps", "small-x", "not-x86",
                                  "split-steps"])
def test_when_no_worker_prefetches(prefetchers, monkeypatch, case):
    fit_args, make = {}, mlp
    if case == "in-order":
        fit_args["shuffle"] = False                                  # x[slice] is a view: nothing to gather
    elif case == "custom-step":                                      # it might keep its batch
        make = custom
    elif case == "few-steps":
        monkeypatch.setattr(prefetch, "MIN_STEPS", 1000)
    elif case == "small-x":
        monkeypatch.setattr(prefetch, "MIN_BYTES", 64 << 20)
    elif case == "not-x86":
        monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    elif case == "split-steps":                                      # the worker shares the steps instead
        monkeypatch.setattr(data_parallel, "MIN_MACS", 1)
    run(case != "no-worker", make=make, **fit_args)
    assert prefetchers == []


@needs_fork
@pytest.mark.skipif(signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                    reason="SIGINT has a non-default handler in this test process")
def test_ctrl_c_stops_the_worker_too(prefetchers):
    ctrl_c = AtBatch(1, 2, lambda model: os.kill(os.getpid(), signal.SIGINT))
    with pytest.warns(UserWarning, match=r"interrupted \(Ctrl-C\) in epoch 2 after batch 3/29"):
        history, _, model = run(True, callbacks_=[ctrl_c])
    assert model.interrupted and len(history["loss"]) == 1
    assert len(prefetchers) == 1 and no_children_left()


@needs_fork
def test_an_error_during_fit_stops_the_worker(prefetchers):
    def fail(model):
        raise RuntimeError("a callback failed")
    with pytest.raises(RuntimeError, match="a callback failed"):
        run(True, callbacks_=[AtBatch(0, 5, fail)])
    assert len(prefetchers) == 1 and no_children_left()


def test_the_ring_holds_four_to_thirty_two_batches():
    assert prefetch._slots(100_352) == 32                            # MNIST's 32 rows of 784 floats
    assert prefetch._slots(32 * 3072 * 4) == 21                      # CIFAR's
    assert prefetch._slots(10 << 20) == 4
