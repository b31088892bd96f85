"""fit's split steps (models/data_parallel.py): each CNN batch in two halves, the second in a forked
worker process. The worker must change nothing but the speed: every run here is compared bit for bit
with the same run without it (``config.set_fit_worker(False)``: both halves in this process)."""
import os
import signal
import sys
import warnings

import numpy as np
import pytest

import glassnet
from glassnet import _parallel, config, losses
from glassnet.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from glassnet.models import data_parallel
from worker_helpers import AtBatch, assert_same, fit_once, no_children_left

LINUX = sys.platform.startswith("linux")
needs_fork = pytest.mark.skipif(not (LINUX and data_parallel.worker_possible()),
                                reason="fit's worker process needs Linux's fork and two usable cores")


@pytest.fixture
def forked_workers(monkeypatch):
    """The worker processes ``fit`` forks (``data_parallel._Worker``), recorded as they start."""
    started, real = [], data_parallel._Worker

    class Recorded(real):
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self)
    monkeypatch.setattr(data_parallel, "_Worker", Recorded)
    return started


@pytest.fixture(autouse=True)
def small_steps_split(monkeypatch):
    """These tests' tiny CNNs split too (real ones need a million multiply-adds per batch), and the
    worker shares the optimizer step of their kernels (72 and 108 values; real ones need 16,384)."""
    monkeypatch.setattr(data_parallel, "MIN_MACS", 1)
    monkeypatch.setattr(data_parallel, "MIN_SHARED_UPDATE", 32)


def cnn(seed=0, **compile_args):
    glassnet.utils.set_random_seed(seed)
    model = glassnet.Sequential([Conv2D(4, 3, activation="relu", input_shape=(9, 9, 2)), MaxPooling2D(),
                                 Flatten(), Dense(3, activation="softmax")])
    model.compile(**{"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                     **compile_args})
    return model


def mlp(seed=0, **compile_args):
    glassnet.utils.set_random_seed(seed)
    model = glassnet.Sequential([Flatten(input_shape=(9, 9, 2)), Dense(16, activation="relu"),
                                 Dense(3, activation="softmax")])
    model.compile(**{"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                     **compile_args})
    return model


@pytest.fixture(params=[cnn, mlp], ids=["halves", "rows"])
def net(request):
    """Each test runs with both plans: a CNN's batch halves, an MLP's first-layer kernel rows."""
    return request.param


def data(n=45):
    rng = np.random.default_rng(5)
    x = rng.random((n, 9, 9, 2), dtype=np.float32)
    y = rng.integers(0, 3, n)
    x[y == 1, :3] += 0.7
    return x, y


def run(worker, make=cnn, callbacks_=(), **fit_args):
    """(history, weights, model) of one seeded fit, with or without the worker process."""
    fit_args = {"epochs": 3, "batch_size": 7, **fit_args}            # 7 steps an epoch, the last one of 3
    return fit_once(worker, make(), *data(), callbacks_, **fit_args)


@needs_fork
@pytest.mark.parametrize("fit_args", [{}, {"shuffle": False}, {"batch_size": 4},
                                      {"batch_size": 11, "epochs": 4},   # a last batch of 1: not split
                                      {"validation_split": 0.2},
                                      {"class_weight": {0: 1.0, 1: 3.0, 2: 0.5}}],
                         ids=["shuffled", "in-order", "batch-4", "last-batch-of-1", "validation", "class-weight"])
def test_the_worker_gives_the_same_bits(forked_workers, net, fit_args):
    with_worker = run(True, make=net, **fit_args)
    assert len(forked_workers) == 1
    alone = run(False, make=net, **fit_args)
    assert len(forked_workers) == 1
    assert_same(with_worker, alone)
    assert not np.array_equal(with_worker[1][0], net().get_weights()[0])   # it trained
    assert no_children_left()


@needs_fork
def test_one_core_gives_the_same_bits_without_a_worker(forked_workers, net, monkeypatch):
    with_worker = run(True, make=net)
    monkeypatch.setattr(_parallel, "_CORES", 1)
    assert_same(with_worker, run(True, make=net))
    assert len(forked_workers) == 1


@needs_fork
def test_sample_weight_and_mse(forked_workers):
    weights = np.random.default_rng(6).random(45)
    make = lambda: cnn(loss="mse")                                   # noqa: E731
    one_hot = lambda y: np.eye(3, dtype=np.float32)[y]              # noqa: E731

    def fit(worker):
        before = config.fit_worker()
        config.set_fit_worker(worker)
        try:
            model = make()
            x, y = data()
            h = model.fit(x, one_hot(y), sample_weight=weights, epochs=3, batch_size=6, verbose=0)
            return h.history, model.get_weights()
        finally:
            config.set_fit_worker(before)
    assert_same(fit(True), fit(False))
    assert len(forked_workers) == 1


def test_split_loss_and_gradient_equal_the_whole_batch():
    """The halves' losses weighted by their share, and their gradients summed, are the batch's."""
    model = cnn()
    x, y = data(9)
    ws = model.trainable_weights
    grads, value, y_pred = data_parallel._half(model, ws, x, y, None, 1.0)
    first = data_parallel._half(model, ws, x[:5], y[:5], None, 5 / 9)
    second = data_parallel._half(model, ws, x[5:], y[5:], None, 4 / 9)
    assert (first[1] * 5 + second[1] * 4) / 9 == pytest.approx(value, rel=1e-6)
    np.testing.assert_allclose(np.concatenate([first[2], second[2]]), y_pred, rtol=1e-6)
    for g, a, b in zip(grads, first[0], second[0]):
        np.testing.assert_allclose(a + b, g, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not LINUX, reason="fit splits its steps on Linux only")
def test_which_models_split(monkeypatch):
    assert data_parallel.qualifies(cnn(), 7)
    assert data_parallel.qualifies(cnn(loss=losses.CategoricalCrossentropy(from_logits=False)), 7)
    dense = glassnet.Sequential([Dense(3, input_shape=(4,), activation="softmax")])
    dense.compile("adam", "sparse_categorical_crossentropy")
    assert data_parallel.qualifies(dense, 7)                         # (only with this test's MIN_MACS)
    for extra in (Dropout(0.5), BatchNormalization()):               # random masks, batch statistics
        model = glassnet.Sequential([Conv2D(4, 3, input_shape=(9, 9, 2)), extra, Flatten(), Dense(3)])
        model.compile("adam", "mse")
        assert not data_parallel.qualifies(model, 7)
    custom = cnn()
    custom.loss = losses.LossFunctionWrapper(lambda y, p: ((p - y) ** 2).mean())   # maybe not per sample
    assert not data_parallel.qualifies(custom, 7)
    assert not data_parallel.qualifies(cnn(loss=losses.MeanSquaredError(reduction="sum")), 7)
    big = glassnet.Sequential([Conv2D(8, 3, input_shape=(64, 64, 3)), Flatten(), Dense(100)])
    big.compile("adam", "mse")
    assert big.count_params() > data_parallel.MAX_PARAMS and not data_parallel.qualifies(big, 7)

    class OwnStep(glassnet.Sequential):
        def train_step(self, x, y, sample_weight=None):
            return super().train_step(x, y, sample_weight)
    own = OwnStep([Conv2D(4, 3, input_shape=(9, 9, 2)), Flatten(), Dense(3)])
    own.compile("adam", "mse")
    assert not data_parallel.qualifies(own, 7)
    monkeypatch.setattr(data_parallel, "MIN_MACS", 1_000_000)      # the real threshold
    assert data_parallel.forward_macs(cnn()) == 7 * 7 * 4 * (3 * 3 * 2) + 3 * 36
    assert not data_parallel.qualifies(cnn(), 7)
    cifar = glassnet.Sequential([Conv2D(32, 3, activation="relu", input_shape=(32, 32, 3)), MaxPooling2D(),
                                 Conv2D(64, 3, activation="relu"), MaxPooling2D(), Flatten(), Dense(10)])
    cifar.compile("adam", "mse")
    assert data_parallel.forward_macs(cifar) == 30 * 30 * 32 * 27 + 13 * 13 * 64 * 288 + 10 * 2304
    assert data_parallel.qualifies(cifar, 32)
    assert data_parallel.qualifies(cnn(), 300) and not data_parallel.qualifies(cnn(), 200)   # 3,636 a sample
    assert not data_parallel.qualifies(dense, 7)
    assert data_parallel.plan_for(cnn(), 300) is data_parallel._Halves
    notes = glassnet.Sequential([Dense(10, input_shape=(784,), activation="sigmoid")])
    notes.compile("adam", "sparse_categorical_crossentropy")
    assert not data_parallel.qualifies(notes, 32)                    # 250,880 a batch: its steps are too short
    hidden = glassnet.Sequential([Dense(100, input_shape=(784,), activation="relu"), Dense(10)])
    hidden.compile("adam", "sparse_categorical_crossentropy")
    assert data_parallel.plan_for(hidden, 32) is data_parallel._Rows and not data_parallel.qualifies(hidden, 8)
    for any_rest in (Dropout(0.5), BatchNormalization()):         # the main process runs all after the first
        model = glassnet.Sequential([Flatten(input_shape=(28, 28)), Dense(100), any_rest, Dense(10)])
        model.compile("sgd", "mse")
        model.loss = losses.LossFunctionWrapper(lambda y, p: ((p - y) ** 2).mean())      # any loss
        assert data_parallel.plan_for(model, 32) is data_parallel._Rows
    sequence = glassnet.Sequential([Dense(100, input_shape=(20, 784)), Flatten(), Dense(10)])
    sequence.compile("adam", "mse")                                  # Dense on a sequence: not one vector
    assert data_parallel.plan_for(sequence, 32) is data_parallel._Halves


def rows_models():
    """MLPs for the kernel rows plan: (name, make) pairs."""
    def make(layers, **compile_args):
        def build():
            glassnet.utils.set_random_seed(3)
            model = glassnet.Sequential([Flatten(input_shape=(9, 9, 2)), *layers()])
            model.compile(**{"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                             "metrics": ["accuracy"], **compile_args})
            return model
        return build
    return {
        "relu": make(lambda: [Dense(16, activation="relu"), Dense(3, activation="softmax")]),
        "no-bias-sigmoid": make(lambda: [Dense(16, activation="sigmoid", use_bias=False), Dense(3)],
                                loss=losses.SparseCategoricalCrossentropy(from_logits=True)),
        "output-layer": make(lambda: [Dense(3, activation="softmax")]),
        # SGD: the bias before the batch norm has a zero gradient, whose rounding noise Adam would amplify
        "dropout-batchnorm": make(lambda: [Dense(16, activation="relu"), Dropout(0.3), BatchNormalization(),
                                           Dense(3, activation="softmax")], optimizer="sgd"),
        "mse-sgd": make(lambda: [Dense(16, activation="tanh"), Dense(3)], loss="mse",
                        optimizer=glassnet.optimizers.SGD(0.1, momentum=0.5)),
    }


@pytest.mark.parametrize("name", list(rows_models()))
def test_the_rows_plan_computes_the_whole_batch_step(name, monkeypatch):
    """The first layer's product as two row blocks, its gradient from dL/dz: the usual step's numbers
    (to float32 rounding: the sums are grouped differently)."""
    make = rows_models()[name]
    x, y = data()
    targets = np.eye(3, dtype=np.float32)[y] if name == "mse-sgd" else y
    sw = np.random.default_rng(1).random(len(x))

    def fit(plan):
        monkeypatch.setattr(data_parallel, "qualifies", lambda model, batch: plan)
        model = make()
        assert (data_parallel.plan_for(model, 7) is data_parallel._Rows) or not plan
        history = model.fit(x, targets, sample_weight=sw, epochs=2, batch_size=7, verbose=0)
        return history.history["loss"], model.get_weights()
    before = config.fit_worker()
    config.set_fit_worker(False)
    try:
        rows, whole = fit(True), fit(False)
    finally:
        config.set_fit_worker(before)
    np.testing.assert_allclose(rows[0], whole[0], rtol=1e-5)
    for a, b in zip(rows[1], whole[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert not np.allclose(rows[1][0], make().get_weights()[0])     # it trained


def test_short_fits_do_not_fork(forked_workers, net):
    assert_same(run(True, make=net, epochs=1), run(False, make=net, epochs=1))           # 7 steps < MIN_STEPS: both halves here
    assert forked_workers == []


@needs_fork
def test_after_fit_the_weights_are_their_own_arrays_again(forked_workers):
    model = cnn()
    arrays = [w.data for w in model.weights]
    x, y = data()
    model.fit(x, y, epochs=3, batch_size=7, verbose=0)
    assert len(forked_workers) == 1 and no_children_left()
    for w, a in zip(model.weights, arrays):
        assert w.data is a                                           # the same objects, trained in place
    assert not np.array_equal(arrays[0], cnn().get_weights()[0])


def halve_weights(model):
    model.set_weights([w * 0.5 for w in model.get_weights()])


def first_weighted(model):
    return next(layer for layer in model.layers if layer.get_weights())


def replace_kernel(model):
    kernel = first_weighted(model).kernel
    kernel.data = kernel.data * -1.0                                  # a new array, not in shared memory


def freeze_first(model):
    first_weighted(model).trainable = False
    model.frozen = first_weighted(model).get_weights()


@needs_fork
@pytest.mark.parametrize("action", [halve_weights, replace_kernel, freeze_first])
def test_what_callbacks_change_reaches_the_worker(forked_workers, net, action):
    cb = lambda: [AtBatch(1, 2, action)]                             # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")                              # (none of this needs a warning)
        with_worker = run(True, make=net, callbacks_=cb())
    assert len(forked_workers) == 1 and no_children_left()
    assert_same(with_worker, run(False, make=net, callbacks_=cb()))
    if action is freeze_first:                                       # frozen from then on
        for got, frozen in zip(first_weighted(with_worker[2]).get_weights(), with_worker[2].frozen):
            np.testing.assert_array_equal(got, frozen)


@needs_fork
def test_a_killed_worker_costs_speed_not_results(forked_workers, net):
    kill = AtBatch(1, 3, lambda model: os.kill(forked_workers[0].pid, signal.SIGKILL))
    with pytest.warns(RuntimeWarning, match=r"fit's worker process stopped: it exited unexpectedly.*same numbers"):
        with_worker = run(True, make=net, callbacks_=[kill])
    assert no_children_left()
    assert_same(with_worker, run(False, make=net))


@needs_fork
def test_when_fork_fails_training_goes_on_in_one_process(forked_workers, net, monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(os, "fork", no_fork)
    with pytest.warns(RuntimeWarning, match=r"could not start its worker process \(\[Errno 11\].*same numbers"):
        with_worker = run(True, make=net)
    model = with_worker[2]
    assert all(w.data.base is None for w in model.weights)          # their own arrays again
    assert_same(with_worker, run(False, make=net))


@needs_fork
def test_an_error_in_the_workers_half_is_raised_as_itself(forked_workers):
    x, y = data()
    x[4:7] = 3e38                                 # finite, but it overflows: rows 4-6 are the worker's half
    model = cnn()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)              # no "worker stopped" warning first
        with pytest.raises(FloatingPointError):
            model.fit(x, y, epochs=3, batch_size=7, shuffle=False, verbose=0)
    assert len(forked_workers) == 1 and no_children_left()


@needs_fork
def test_nonfinite_loss_stops_with_a_diagnosis(forked_workers):
    def fit(worker):
        before = config.fit_worker()
        config.set_fit_worker(worker)
        try:
            model = cnn(optimizer=glassnet.optimizers.SGD(learning_rate=1e30))
            x, y = data()
            with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match=r"loss became nan at epoch 1"):
                h = model.fit(x, y, epochs=3, batch_size=7, verbose=0)
            return h.history, model.get_weights()
        finally:
            config.set_fit_worker(before)
    assert_same(fit(True), fit(False))
    assert len(forked_workers) == 1 and no_children_left()


@needs_fork
@pytest.mark.skipif(signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                    reason="SIGINT has a non-default handler in this test process")
def test_ctrl_c_stops_the_worker_too(forked_workers, net):
    ctrl_c = AtBatch(1, 2, lambda model: os.kill(os.getpid(), signal.SIGINT))
    with pytest.warns(UserWarning, match=r"interrupted \(Ctrl-C\) in epoch 2 after batch 3/7"):
        history, _, model = run(True, make=net, callbacks_=[ctrl_c])
    assert model.interrupted and len(history["loss"]) == 1
    assert len(forked_workers) == 1 and no_children_left()


OPTIMIZERS = {
    "sgd": lambda: glassnet.optimizers.SGD(0.05),
    "nesterov": lambda: glassnet.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop-centered": lambda: glassnet.optimizers.RMSprop(momentum=0.5, centered=True),
    "adam-amsgrad": lambda: glassnet.optimizers.Adam(amsgrad=True),
}


@needs_fork
@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("make", [cnn, mlp], ids=["cnn", "mlp"])
def test_the_shared_optimizer_step_gives_the_same_bits(forked_workers, name, make):
    """Each optimizer's update of the two parts of a kernel, in two processes, is the whole update."""
    build = lambda: make(optimizer=OPTIMIZERS[name]())              # noqa: E731
    with_worker = run(True, make=build)
    assert [len(w.shared) for w in forked_workers] == [2 if make is cnn else 1]    # the kernels / the first
    assert_same(with_worker, run(False, make=build))
    optimizer = with_worker[2].optimizer
    for var in with_worker[2].trainable_weights:                    # the state is its own again after fit
        assert all(a.base is None for a in optimizer._slots[id(var)][1])


class Halving(glassnet.optimizers.Adam):
    """An optimizer the worker cannot know to be elementwise."""

    def _update(self, w, g, slots, f):
        super()._update(w, g * f(0.5), slots, f)


@needs_fork
def test_other_optimizers_step_in_the_main_process(forked_workers, net):
    with_worker = run(True, make=lambda: net(optimizer=Halving()))
    assert len(forked_workers) == 1 and forked_workers[0].shared == []
    assert_same(with_worker, run(False, make=lambda: net(optimizer=Halving())))


def change_optimizer(model):
    model.optimizer.learning_rate = 0.01                             # sent to the worker with each step
    model.optimizer.beta_1 = 0.5                                    # not sent: the worker stops


@needs_fork
@pytest.mark.parametrize("action", [lambda model: setattr(model.optimizer, "learning_rate", 0.01),
                                    change_optimizer,
                                    lambda model: model.optimizer.set_state(
                                        model.trainable_weights, model.optimizer.get_state(model.trainable_weights))],
                         ids=["learning-rate", "beta_1", "set_state"])
def test_what_callbacks_change_in_the_optimizer_reaches_the_worker(forked_workers, net, action):
    cb = lambda: [AtBatch(1, 2, action)]                             # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_worker = run(True, make=net, callbacks_=cb())
    assert len(forked_workers) == 1 and no_children_left()
    assert_same(with_worker, run(False, make=net, callbacks_=cb()))


def kill_before_update(monkeypatch, at_step):
    """Kill the worker (and wait until it is dead) just before the main process sends it the
    ``at_step``-th "back" message (its part of the backward pass and of the update)."""
    real, calls = data_parallel._Worker.back, []

    def back(self, *args):
        calls.append(1)
        if len(calls) == at_step:
            os.kill(self.pid, signal.SIGKILL)
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        return real(self, *args)
    monkeypatch.setattr(data_parallel._Worker, "back", back)


@needs_fork
def test_a_worker_killed_before_its_update_costs_speed_not_results(forked_workers, net, monkeypatch):
    kill_before_update(monkeypatch, 9)
    with pytest.warns(RuntimeWarning, match=r"stopped: it exited unexpectedly\. .*with the same numbers"):
        with_worker = run(True, make=net)
    assert no_children_left()
    assert_same(with_worker, run(False, make=net))


@needs_fork
def test_a_worker_killed_during_its_update_says_what_may_be_lost(forked_workers, net, monkeypatch):
    real, parent = glassnet.optimizers.Adam._update, os.getpid()

    def update(self, w, g, slots, f):
        if os.getpid() != parent:                                   # the worker dies halfway through its part
            w[: len(w) // 2] = 0.0
            os._exit(3)
        real(self, w, g, slots, f)
    monkeypatch.setattr(glassnet.optimizers.Adam, "_update", update)
    with pytest.warns(RuntimeWarning) as caught:
        history, weights, model = run(True, make=net)
    messages = [str(w.message) for w in caught if "worker" in str(w.message)]
    assert len(messages) == 1 and "same numbers" not in messages[0]
    assert "while it updated part of" in messages[0] and "may have missed this step's update" in messages[0]
    assert len(history["loss"]) == 3 and all(np.isfinite(w).all() for w in weights)
    assert no_children_left()


def test_set_fit_worker_checks_its_argument():
    with pytest.raises(TypeError, match="True or False"):
        config.set_fit_worker("no")
