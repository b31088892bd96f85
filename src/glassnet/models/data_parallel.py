"""Each training step of a CNN in two halves, the second half in a forked worker process.

A conv model's step is a few large matrix products and many short memory-bound NumPy calls. Two
threads (``_parallel``) share one GIL, so those short calls wait for each other; a process has its
own. Measured on the 2-core machine (CIFAR CNN, batch 32): a half-batch step alone in one process
takes 0.82× the time of the full-batch step on two threads, and two such processes side by side
slow each other by only ≈ 6 % (memory bandwidth).

One step on a batch of n samples, mid = ⌈n/2⌉ (``SplitSteps.step``)::

    main process                                  worker (forked when fit starts)
    "go": where the batch lies in this epoch's order  →
    forward, loss, backward on samples [0, mid)   forward, loss, backward on samples [mid, n)
      upstream gradient mid/n                       upstream gradient (n − mid)/n
                                               ←  its gradients, loss and outputs (shared memory)
    g = g_main + g_worker                         (the loss is the mean over the batch, so the
                                                   halves' means weighted mid/n and (n − mid)/n)
    optimizer step on the weights, which live in shared memory: the worker sees them at once

Which fits split (``qualifies``), on Linux: a Sequential with a Conv2D, only layers that treat each
sample on its own (Dropout's random masks and BatchNormalization's batch statistics would differ),
at most 2,000,000 parameters (their gradients cross between the processes every step), at least
a million multiply-adds per batch in the forward pass (shorter steps gain less than the hand-over
costs), a built-in loss with the default reduction, and the stock ``train_step``. Other fits, and other
platforms (macOS's ``fork`` is unsafe with its system libraries, Windows has none), train as before,
with the conv layers' halves on two threads.

The numbers depend only on the model, the batch size and the platform. Where no worker runs (one
usable core, a fit of fewer than 10 steps, ``config.set_fit_worker(False)``, a failed worker), the
main process computes the two halves one after the other, with the same results bit for bit.
"""
import math
import mmap
import os
import signal
import struct
import sys
import time
import warnings

import numpy as np

from .. import _blas, _parallel, config
from .. import losses_classes as L
from ..engine import Tensor
from ..layers import (Activation, AveragePooling2D, Conv2D, Dense, Flatten, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, InputLayer, LeakyReLU, MaxPooling2D, ReLU, Softmax)

_PER_SAMPLE = (Activation, AveragePooling2D, Conv2D, Dense, Flatten, GlobalAveragePooling2D,
               GlobalMaxPooling2D, InputLayer, LeakyReLU, MaxPooling2D, ReLU, Softmax)
_LOSSES = (L.MeanSquaredError, L.MeanAbsoluteError, L.BinaryCrossentropy, L.CategoricalCrossentropy,
           L.SparseCategoricalCrossentropy)
MAX_PARAMS = 2_000_000
MIN_MACS = 1_000_000    # multiply-adds per batch (forward): below this a step is too short to share
MIN_STEPS = 10          # a fit with fewer steps runs both halves here (forking costs ≈ 50 ms)


def forward_macs(model):
    """Multiply-adds of one sample's forward pass through the Conv2D and Dense layers (output
    values × the kernel values each one sums: KH·KW·C for a conv, the input width for a Dense)."""
    total = 0
    for layer, shape in zip(model.layers, model._shapes):
        if type(layer) in (Conv2D, Dense):
            total += int(np.prod(shape[1:])) * int(np.prod(layer.kernel.shape[:-1]))
    return total


def qualifies(model, batch_size):
    """Whether ``fit`` trains ``model`` in split steps with batches of ``batch_size`` (module docstring).
    This decides the numbers, so it depends on the model, the batch size and the platform only."""
    from .training import Trainer
    layers = model.layers
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and type(model).train_step is Trainer.train_step
            and any(type(layer) is Conv2D for layer in layers)
            and all(type(layer) in _PER_SAMPLE for layer in layers)
            and type(model.loss) in _LOSSES and model.loss.reduction == "sum_over_batch_size"
            and model.count_params() <= MAX_PARAMS
            and forward_macs(model) * batch_size >= MIN_MACS)


def worker_possible():
    """Whether a worker process can run beside this one: two usable cores."""
    return _parallel.usable_cores() >= 2


def _part(idx, start, stop):
    """Rows [start, stop) of a batch given by an index array or a slice."""
    if isinstance(idx, slice):
        return slice(idx.start + start, idx.start + stop)
    return idx[start:stop]


def _half(model, trainable, x, y, sample_weight, scale):
    """Forward, loss and backward on one half (its loss's gradient scaled by ``scale``, the half's
    share of the batch): ``(gradients, loss value, y_pred)``; no gradients if the loss is not finite."""
    for w in trainable:
        w.grad = None
    with _parallel.whole_batches():
        y_pred = model._forward(Tensor(x, dtype=model.dtype), training=True)
        loss = model.loss(y, y_pred, sample_weight=sample_weight)
        value = float(loss.data)
        if math.isfinite(value):
            loss.backward(np.asarray(scale, loss.data.dtype))
    return [w.grad for w in trainable], value, y_pred.data


def _shared_arrays(specs):
    """Zero-filled arrays ``[(shape, dtype), ...]`` in one anonymous shared mapping, which a forked
    child shares (rather than copies)."""
    offsets, total = [], 0
    for shape, dtype in specs:
        total = -(-total // 64) * 64                     # each array on its own cache line
        offsets.append(total)
        total += int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    buf = mmap.mmap(-1, total + 64)
    return [np.frombuffer(buf, dtype, int(np.prod(shape, dtype=np.int64)), off).reshape(shape)
            for (shape, dtype), off in zip(specs, offsets)]


def _read(fd, size):
    """Exactly ``size`` bytes from a pipe, or None at end of file (the other side has gone)."""
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class SplitSteps:
    """The split steps of one ``fit`` (a context manager: the worker, if any, lives inside it).

    ``new_epoch(order)`` before each epoch (``order`` a permutation, or None in order), then
    ``step(batch_slice)`` → ``(loss value, y_pred, y, sample_weight)`` of that batch.
    """

    def __init__(self, model, x, y, sample_weight, batch_size, steps):
        self.model, self.x, self.y, self.sample_weight = model, x, y, sample_weight
        self.order = None
        self.worker = None
        self.one_thread = None
        if config.fit_worker() and steps >= MIN_STEPS and worker_possible():
            try:
                self.worker = _Worker(self, batch_size)
            except OSError as e:                         # no process to spare (a limit, a sandbox)
                warnings.warn(f"fit could not start its worker process ({e}); training in one process, "
                              "with the same numbers, more slowly.", RuntimeWarning, stacklevel=4)
            else:
                self.one_thread = _blas.blas_threads(1)    # two processes, one core each
                self.one_thread.__enter__()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self.one_thread is not None:
            self.one_thread.__exit__(None, None, None)
            self.one_thread = None

    def half(self, trainable, idx, start, stop, n):
        """``_half`` on rows [start, stop) of the batch ``idx`` of n samples (either process)."""
        rows = _part(idx, start, stop)
        sw = None if self.sample_weight is None else self.sample_weight[rows]
        return _half(self.model, trainable, self.x[rows], self.y[rows], sw, (stop - start) / n)

    def new_epoch(self, order):
        self.order = order
        if self.worker is not None and order is not None:
            self.worker.order[:] = order

    def step(self, sl):
        model = self.model
        idx = self.order[sl] if self.order is not None else sl
        y = self.y[idx]
        sw = None if self.sample_weight is None else self.sample_weight[idx]
        n = len(y)
        if n < 2:
            value, y_pred = model.train_step(self.x[idx], y, sw)
            return value, y_pred, y, sw
        mid = (n + 1) // 2
        trainable = model.trainable_weights
        if self.worker is not None and not self.worker.in_sync(trainable):     # e.g. a callback froze a layer
            self.worker.close()
            self.worker = None
        if self.worker is not None:
            self.worker.go(sl.start, sl.stop, self.order is not None)
        first = self.half(trainable, idx, 0, mid, n)
        second = self.worker.result(n - mid) if self.worker is not None else None
        if second is None:
            failed, self.worker = self.worker, None
            second = self.half(trainable, idx, mid, n, n)
            if failed is not None:                       # (an error in the data raised just above instead)
                warnings.warn(f"fit's worker process stopped: {failed.failure}. Training goes on in one "
                              "process, with the same numbers, more slowly.", RuntimeWarning, stacklevel=5)
        (g0, v0, p0), (g1, v1, p1) = first, second
        value = (v0 * mid + v1 * (n - mid)) / n          # the mean over the batch
        y_pred = np.concatenate([p0, p1])
        if not math.isfinite(value):
            return value, y_pred, y, sw
        pairs = []
        for a, b, w in zip(g0, g1, trainable):
            w.grad = a if b is None else (b.copy() if a is None else a + b)
            if w.grad is not None:
                pairs.append((w.grad, w))
        model.optimizer.apply_gradients(pairs)
        return value, y_pred, y, sw


class _Worker:
    """The forked process that computes the second half of each batch, and the shared memory it
    works in: the model's weights (the main process's Variables point into it for the fit), the
    worker's gradients, loss and outputs, and the epoch's sample order."""

    def __init__(self, split, batch_size):
        model = split.model
        self.split, self.model, self.loss, self.failure = split, model, model.loss, None
        self.variables, self.trainable = model.weights, model.trainable_weights
        most = batch_size // 2                           # the second half is the smaller one
        out_shape = (most,) + tuple(model.output_shape[1:])
        specs = ([(v.data.shape, v.data.dtype) for v in self.variables]
                 + [(v.data.shape, v.data.dtype) for v in self.trainable]
                 + [(out_shape, model.dtype), ((1,), np.float64), ((len(self.trainable),), np.uint8),
                    ((len(split.x),), np.intp)])
        arrays = _shared_arrays(specs)
        k, t = len(self.variables), len(self.trainable)
        self.views, self.grads = arrays[:k], arrays[k:k + t]
        self.pred, self.value, self.has, self.order = arrays[k + t:]
        self.originals = [v.data for v in self.variables]
        self.pid, self.cmd_w, pipes = None, None, []
        try:
            for v, view in zip(self.variables, self.views):
                view[...] = v.data
                v.data = view
            pipes += os.pipe()
            pipes += os.pipe()
            cmd_r, self.cmd_w, self.res_r, res_w = pipes
            with warnings.catch_warnings():              # Python ≥ 3.12 warns about forking a process with
                warnings.simplefilter("ignore", DeprecationWarning)   # threads; the child runs no thread
                self.pid = os.fork()
        except BaseException:                            # no worker: the weights back in their own arrays
            for fd in pipes:
                os.close(fd)
            self.cmd_w = None
            self._restore()
            raise
        if self.pid == 0:                                # the child: serve until the main process goes
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is for the main process to handle
                os.close(self.cmd_w)
                os.close(self.res_r)
                self._serve(cmd_r, res_w)
                code = 0
            finally:
                os._exit(code)                           # no atexit handlers, no flushing the parent's buffers
        os.close(cmd_r)
        os.close(res_w)

    # -- in the worker ---------------------------------------------------------------------------------
    def _serve(self, cmd_r, res_w):
        _blas.blas_threads(1).__enter__()                # for this process's life
        while True:
            message = _read(cmd_r, 24)
            if message is None:
                return
            start, stop, shuffled = struct.unpack("qqq", message)
            try:
                idx = self.order[start:stop] if shuffled else slice(start, stop)
                n = stop - start
                mid = (n + 1) // 2
                grads, value, y_pred = self.split.half(self.trainable, idx, mid, n, n)
                self.value[0] = value
                self.pred[:n - mid] = y_pred
                for i, g in enumerate(grads):
                    self.has[i] = g is not None
                    if g is not None:
                        self.grads[i][...] = g
                os.write(res_w, b"\0")
            except BaseException as e:                   # report it; the main process goes on without us
                text = f"{type(e).__name__}: {e}".encode("utf-8", "replace")[:2000]
                os.write(res_w, b"\1" + struct.pack("i", len(text)) + text)
                return

    # -- in the main process ---------------------------------------------------------------------------
    def go(self, start, stop, shuffled):
        try:
            os.write(self.cmd_w, struct.pack("qqq", start, stop, int(shuffled)))
        except OSError:                                  # it is gone: result() says so
            pass

    def result(self, rows):
        """The worker's ``(gradients, loss value, y_pred)`` for the step just sent, or None if it failed."""
        head = _read(self.res_r, 1)
        if head == b"\0":
            grads = [g if has else None for g, has in zip(self.grads, self.has)]
            return grads, float(self.value[0]), self.pred[:rows]
        if head is None:
            reason = "it exited unexpectedly"           # (killed, e.g. for memory)
        else:
            size = struct.unpack("i", _read(self.res_r, 4) or b"\0\0\0\0")[0]
            reason = (_read(self.res_r, size) or b"").decode("utf-8", "replace")
        self.failure = reason
        self.close()
        return None

    def in_sync(self, trainable):
        """The worker's copy of the model still matches: same ``trainable`` weights and loss, and the
        weights still in shared memory (a Variable given a new array is copied back in)."""
        model = self.model
        if (model.loss is not self.loss or len(trainable) != len(self.trainable)
                or any(a is not b for a, b in zip(trainable, self.trainable))):
            return False
        for v, view in zip(self.variables, self.views):
            if v.data is not view:
                if np.shape(v.data) != view.shape:
                    return False
                view[...] = v.data
                v.data = view
        return True

    def close(self):
        """Stop the worker and give the Variables their own arrays back (with the trained values)."""
        if self.cmd_w is None:
            return
        os.close(self.cmd_w)                             # the worker reads end of file and exits
        os.close(self.res_r)
        self.cmd_w = None
        deadline = time.monotonic() + 5
        while os.waitpid(self.pid, os.WNOHANG)[0] == 0:
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.001)
        self._restore()

    def _restore(self):
        for v, original, view in zip(self.variables, self.originals, self.views):
            if v.data is view:
                if original.flags.writeable and original.shape == view.shape and original.dtype == view.dtype:
                    original[...] = view
                    v.data = original
                else:
                    v.data = view.copy()


__all__ = ["SplitSteps", "qualifies", "forward_macs", "worker_possible", "MAX_PARAMS", "MIN_MACS",
           "MIN_STEPS"]
