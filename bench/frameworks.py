"""One runner per framework: train the notes' MLP or the hidden MLP, time each epoch, time predict.

Every runner returns ``(epoch_seconds, epoch_cpu_seconds, predict_seconds)``: wall-clock and
process CPU time of each epoch, and a dict mapping a label to the median latency of one
single-sample call. CPU time is the load-robust number for the single-threaded runs (glassnet
and bare NumPy use one BLAS thread); for PyTorch and Keras it sums their threads. Workloads are identical everywhere: 784 → 10
sigmoid (``hidden=None``) or 784 → hidden relu → 10 sigmoid; Adam (lr 1e-3, eps 1e-7); sparse
categorical cross-entropy of the sigmoid output computed from its logits, as Keras 3 does
(``logsumexp(z) − z_y``; Keras and glassnet fuse any cross-entropy with the activation); batch 32; reshuffled each epoch; the epoch loss accumulated from every batch.
"""
import contextlib
import io
import time

import numpy as np

EPS = 1e-7


class TTYSink(io.TextIOBase):
    """A stdout that claims to be a terminal and discards the text: the progress bar is redrawn in
    place (the costlier path), as it would be in a console, without flooding the benchmark output."""

    encoding = "utf-8"

    def isatty(self):
        return True

    def write(self, text):
        return len(text)


def time_calls(fn, calls, rounds=5):
    """Median over ``rounds`` of the mean seconds per call of ``fn()`` (``calls`` calls per round)."""
    fn()
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - start) / calls)
    return float(np.median(per_call))


# -- glassnet --------------------------------------------------------------------------------------
def run_glassnet(x, y, hidden, epochs, predict_calls):
    import glassnet

    class EpochTimer(glassnet.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu_times = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)
            self.cpu_times.append(time.process_time() - self.cpu)

    glassnet.utils.set_random_seed(0)
    layers = [] if hidden is None else [glassnet.layers.Dense(hidden, activation="relu")]
    model = glassnet.Sequential([glassnet.Input((784,))] + layers
                                + [glassnet.layers.Dense(10, activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    with contextlib.redirect_stdout(TTYSink()):
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=1, callbacks=[timer])
    x1 = x[:1]
    latency = {"glassnet predict(x1, verbose=0)": time_calls(lambda: model.predict(x1, verbose=0), predict_calls),
               "glassnet model(x1)": time_calls(lambda: model(x1), predict_calls)}
    return timer.times, timer.cpu_times, latency


# -- PyTorch ---------------------------------------------------------------------------------------
def run_torch(x, y, hidden, epochs, predict_calls, threads=2):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers = [] if hidden is None else [torch.nn.Linear(784, hidden), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(784 if hidden is None else hidden, 10),
                                torch.nn.Sigmoid())
    logits_of = model[:-1]                      # everything before the Sigmoid
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=EPS)
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    n = len(X)
    times, cpu_times = [], []
    for _ in range(epochs):
        start, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        total = 0.0
        for s in range(0, n, 32):
            idx = order[s:s + 32]
            xb, yb = X[idx], Y[idx]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(logits_of(xb), yb)   # from the logits, as Keras 3
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)
    x1 = X[:1]
    with torch.no_grad():
        latency = {f"torch module(x1), no_grad, {threads} thread(s)": time_calls(lambda: model(x1), predict_calls)}
    return times, cpu_times, latency


# -- Keras (tensorflow-cpu) ------------------------------------------------------------------------
def keras_available():
    try:
        import importlib.util
        return importlib.util.find_spec("keras") is not None and importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def run_keras(x, y, hidden, epochs, predict_calls):
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu_times = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)
            self.cpu_times.append(time.process_time() - self.cpu)

    keras.utils.set_random_seed(0)
    layers = [] if hidden is None else [keras.layers.Dense(hidden, activation="relu")]
    model = keras.Sequential([keras.Input((784,))] + layers + [keras.layers.Dense(10, activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    with contextlib.redirect_stdout(TTYSink()):
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=1, callbacks=[timer])
    x1 = x[:1]
    calls = max(predict_calls // 200, 5)
    latency = {"keras predict(x1, verbose=0)": time_calls(lambda: model.predict(x1, verbose=0), calls, rounds=3)}
    return timer.times, timer.cpu_times, latency


# -- bare NumPy ------------------------------------------------------------------------------------
def run_bare(x, y, hidden, epochs, predict_calls):
    import bare_numpy
    from glassnet import _blas

    times, cpu_times, marks = [], [], {}

    def on_epoch(when, epoch):
        if when == "begin":
            marks["start"], marks["cpu"] = time.perf_counter(), time.process_time()
        else:
            times.append(time.perf_counter() - marks["start"])
            cpu_times.append(time.process_time() - marks["cpu"])

    with _blas.blas_threads(1), np.errstate(over="ignore", under="ignore"):
        bare_numpy.train(x, y, hidden, epochs=epochs, on_epoch=on_epoch)
    return times, cpu_times, {}


def run_torch_1_thread(x, y, hidden, epochs, predict_calls):
    """PyTorch with one thread: on a busy 2-core machine its 2-thread barriers wait for a free core."""
    return run_torch(x, y, hidden, epochs, predict_calls, threads=1)


RUNNERS = {"glassnet": run_glassnet, "torch": run_torch, "torch1": run_torch_1_thread, "keras": run_keras,
           "numpy": run_bare}
