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
from ..optimizers import SGD, Adam, RMSprop
from ..layers import (Activation, AveragePooling2D, Conv2D, Dense, Flatten, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, InputLayer, LeakyReLU, MaxPooling2D, ReLU, Softmax)

_PER_SAMPLE = (Activation, AveragePooling2D, Conv2D, Dense, Flatten, GlobalAveragePooling2D,
               GlobalMaxPooling2D, InputLayer, LeakyReLU, MaxPooling2D, ReLU, Softmax)
_LOSSES = (L.MeanSquaredError, L.MeanAbsoluteError, L.BinaryCrossentropy, L.CategoricalCrossentropy,
           L.SparseCategoricalCrossentropy)
MAX_PARAMS = 2_000_000
MIN_MACS = 1_000_000    # multiply-adds per batch (forward): below this a step is too short to share
MIN_STEPS = 10          # a fit with fewer steps runs both halves here (forking costs ≈ 50 ms)
MIN_SHARED_UPDATE = 16_384   # values: a variable this large has its optimizer update shared by the two
SPIN_S = 0.002               # a wait spins this long on the shared counter before it sleeps in a read
_ELEMENTWISE = (SGD, RMSprop, Adam)   # optimizers whose update of each value needs only that value's state


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

    def _stopped(self, worker):
        same = "with the same numbers, " if worker.exact else ""
        warnings.warn(f"fit's worker process stopped: {worker.failure}. Training goes on in one process, "
                      f"{same}more slowly.", RuntimeWarning, stacklevel=5)

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
        worker = self.worker
        if worker is not None and not worker.in_sync(trainable):    # e.g. a callback froze a layer
            worker.close()
            worker = self.worker = None
        if worker is not None:
            worker.go(sl.start, sl.stop, self.order is not None)
        first = self.half(trainable, idx, 0, mid, n)
        second = None
        if worker is not None:
            worker.share(first[0])
            second = worker.result(n - mid)
        if second is None:
            self.worker = None
            second = self.half(trainable, idx, mid, n, n)
            if worker is not None:                       # (an error in the data raised just above instead)
                self._stopped(worker)
        (g0, v0, p0), (g1, v1, p1) = first, second
        value = (v0 * mid + v1 * (n - mid)) / n          # the mean over the batch
        y_pred = np.concatenate([p0, p1])
        if not math.isfinite(value):
            return value, y_pred, y, sw
        if self.worker is not None and self.worker.shares_update:
            self.worker.update(trainable, g0, g1)
            if self.worker.failure is not None:
                self.worker = None
                self._stopped(worker)
            return value, y_pred, y, sw
        pairs = []
        for a, b, w in zip(g0, g1, trainable):
            w.grad = a if b is None else (b.copy() if a is None else a + b)
            if w.grad is not None:
                pairs.append((w.grad, w))
        model.optimizer.apply_gradients(pairs)
        return value, y_pred, y, sw


def _flat(a):
    return a.reshape(-1)


class _SharedUpdate:
    """A variable whose optimizer step the two processes share: the main process updates its values
    [0, cut), the worker [cut, size). Its optimizer slots, the main process's gradient (which the
    worker reads) and the summed gradient are in shared memory; ``mine`` and ``theirs`` hold each
    part's flat views ``(weight, slots, summed gradient, main's gradient, worker's gradient)``."""

    def __init__(self, index, var, worker_grad, arrays):
        self.index, self.var, size = index, var, var.data.size
        self.cut = cut = _cut(size)
        self.main_grad, self.total, self.slots = arrays[0], arrays[1], arrays[2:]
        self.mine, self.theirs = self._views(0, cut, worker_grad), self._views(cut, size, worker_grad)

    def _views(self, lo, hi, worker_grad):
        return (_flat(self.var.data)[lo:hi], [_flat(a)[lo:hi] for a in self.slots], _flat(self.total)[lo:hi],
                _flat(self.main_grad)[lo:hi], _flat(worker_grad)[lo:hi])


def _step_part(optimizer, part, main_grad, worker_grad):
    """The optimizer's update of one part of a shared variable from the two halves' gradients."""
    w, slots, total, _, _ = part
    np.add(main_grad, worker_grad, out=total)
    optimizer._update(w, total, slots, w.dtype.type)


class _Worker:
    """The forked process that computes the second half of each batch, and the shared memory it
    works in: the model's weights (the main process's Variables point into it for the fit), the
    worker's gradients, loss and outputs, the epoch's sample order, and what the optimizer step of
    the variables of ``MIN_SHARED_UPDATE`` values or more needs (``_SharedUpdate``).

    Messages go through two pipes (main → worker: "go" and "update"; worker → main: a status byte,
    or an error). Each side also counts the messages it sent in shared memory, and a reader spins on
    that count for up to ``SPIN_S`` before it reads the pipe: a process woken from a pipe read loses
    ≈ 70 µs, a fifth of a dense network's step. The read still carries the synchronisation (the kernel
    orders the sender's writes before its message), so the spin only saves the sleep.
    """

    def __init__(self, split, batch_size):
        model = split.model
        self.split, self.model, self.loss, self.failure, self.exact = split, model, model.loss, None, True
        self.variables, self.trainable = model.weights, model.trainable_weights
        opt = self.optimizer = model.optimizer
        self.hyper = _hyper(opt)
        big = ([i for i, w in enumerate(self.trainable)
                if w.data.size >= MIN_SHARED_UPDATE and w.data.dtype == model.dtype]
               if type(opt) in _ELEMENTWISE else [])
        per_big = 2 + opt._n_slots()
        most = batch_size // 2                           # the second half is the smaller one
        out_shape = (most,) + tuple(model.output_shape[1:])
        specs = ([(v.data.shape, v.data.dtype) for v in self.variables]
                 + [(v.data.shape, v.data.dtype) for v in self.trainable]
                 + [(out_shape, model.dtype), ((1,), np.float64), ((len(self.trainable),), np.uint8),
                    ((len(split.x),), np.intp), ((4,), np.int64)]
                 + [(self.trainable[i].data.shape, self.trainable[i].data.dtype) for i in big for _ in range(per_big)])
        arrays = _shared_arrays(specs)
        k, t = len(self.variables), len(self.trainable)
        self.views, self.grads = arrays[:k], arrays[k:k + t]
        # ctl: [messages main → worker, messages back, updates the worker began, updates it finished]
        self.pred, self.value, self.has, self.order, self.ctl = arrays[k + t:k + t + 5]
        rest = arrays[k + t + 5:]
        self.sent = self.seen = self.updates = 0         # messages this process sent / read; update steps
        self.originals = [v.data for v in self.variables]
        self.pid, self.cmd_w, self.shared, pipes = None, None, [], []
        try:
            for v, view in zip(self.variables, self.views):
                view[...] = v.data
                v.data = view
            for j, i in enumerate(big):                  # their optimizer state, in shared memory
                var = self.trainable[i]
                update = _SharedUpdate(i, var, self.grads[i], rest[j * per_big:(j + 1) * per_big])
                for a, b in zip(update.slots, opt._slots_of(var)):
                    a[...] = b
                opt._slots[id(var)] = (var, update.slots)
                self.shared.append(update)
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
                self.cmd_w, self.res_r, self._mine = res_w, cmd_r, 1     # this side's ends
                self._serve()
                code = 0
            finally:
                os._exit(code)                           # no atexit handlers, no flushing the parent's buffers
        os.close(cmd_r)
        os.close(res_w)

    @property
    def shares_update(self):
        return bool(self.shared)

    # -- messages (either process) -----------------------------------------------------------------------
    _mine = 0                                            # which count in ctl is this process's

    def _send(self, data):
        os.write(self.cmd_w, data)
        self.sent += 1
        self.ctl[self._mine] = self.sent                 # (after the bytes: a reader who sees it finds them)

    def _receive(self, size):
        """The next message from the other process (``size`` bytes), or None if it has gone."""
        self.seen += 1
        ctl, theirs, seen = self.ctl, 1 - self._mine, self.seen
        if ctl[theirs] < seen:
            deadline = time.perf_counter() + SPIN_S
            while ctl[theirs] < seen and time.perf_counter() < deadline:
                pass
        return _read(self.res_r, size)

    # -- in the worker ---------------------------------------------------------------------------------
    def _serve(self):
        _blas.blas_threads(1).__enter__()                # for this process's life
        opt, trainable, grads = self.optimizer, self.trainable, None
        while True:
            message = self._receive(_MESSAGE.size)
            if message is None:
                return
            kind, a, b, c, lr = _MESSAGE.unpack(message)
            try:
                if kind == _GO:
                    start, stop = a, b
                    idx = self.order[start:stop] if c else slice(start, stop)
                    n = stop - start
                    mid = (n + 1) // 2
                    grads, value, y_pred = self.split.half(trainable, idx, mid, n, n)
                    self.value[0] = value
                    self.pred[:n - mid] = y_pred
                    for i, g in enumerate(grads):
                        self.has[i] = g is not None
                        if g is not None:
                            self.grads[i][...] = g
                else:                                    # _UPDATE: its part of the shared variables
                    self.ctl[2] += 1                     # begun: the state may change from here
                    opt.iterations, opt._learning_rate = a, lr
                    for u in self.shared:
                        if grads[u.index] is not None:
                            _step_part(opt, u.theirs, u.theirs[3], u.theirs[4])
                    self.ctl[3] += 1
                self._send(b"\0")
            except BaseException as e:                   # report it; the main process goes on without us
                text = f"{type(e).__name__}: {e}".encode("utf-8", "replace")[:2000]
                self._send(b"\1" + struct.pack("i", len(text)) + text)
                return

    # -- in the main process ---------------------------------------------------------------------------
    def go(self, start, stop, shuffled):
        try:
            self._send(_MESSAGE.pack(_GO, start, stop, int(shuffled), 0.0))
        except OSError:                                  # it is gone: result() says so
            pass

    def share(self, grads):
        """Put this process's gradients for the worker's part of each shared variable where the worker
        reads them (it is still computing its half)."""
        for u in self.shared:
            if grads[u.index] is not None:
                u.theirs[3][...] = _flat(grads[u.index])[u.cut:]

    def _reply(self):
        """True if the worker answered the last message with success; else sets ``failure``."""
        head = self._receive(1)
        if head == b"\0":
            return True
        if head is None:
            reason = "it exited unexpectedly"           # (killed, e.g. for memory)
        else:
            size = struct.unpack("i", _read(self.res_r, 4) or b"\0\0\0\0")[0]
            reason = (_read(self.res_r, size) or b"").decode("utf-8", "replace")
        self.failure = reason
        return False

    def result(self, rows):
        """The worker's ``(gradients, loss value, y_pred)`` for the step just sent, or None if it failed."""
        if not self._reply():
            self.close()
            return None
        grads = [g if has else None for g, has in zip(self.grads, self.has)]
        return grads, float(self.value[0]), self.pred[:rows]

    def update(self, trainable, g0, g1):
        """The optimizer step on the summed gradients g0 + g1, the worker doing its part of each shared
        variable meanwhile; each ``w.grad`` is left holding its summed gradient. If the worker fails,
        this process does its part: exactly, unless it had begun (``failure`` then says so)."""
        opt = self.optimizer
        try:
            self._send(_MESSAGE.pack(_UPDATE, opt.iterations, 0, 0, opt.learning_rate))
        except OSError:
            pass
        self.updates += 1
        shared = {u.index for u in self.shared}
        for i, (a, b, w) in enumerate(zip(g0, g1, trainable)):
            if i not in shared:
                w.grad = a if b is None else (b.copy() if a is None else a + b)
                if w.grad is not None:
                    opt._update(w.data, w.grad, opt._slots_of(w), w.data.dtype.type)
        for u in self.shared:
            if g0[u.index] is not None:
                _step_part(opt, u.mine, _flat(g0[u.index])[:u.cut], u.mine[4])
                trainable[u.index].grad = u.total
        if not self._reply():
            if self.ctl[2] < self.updates:               # it had not begun: its part here
                for u in self.shared:
                    if g0[u.index] is not None:
                        _step_part(opt, u.theirs, u.theirs[3], u.theirs[4])
            elif self.ctl[3] < self.updates:
                names = ", ".join(u.var.name for u in self.shared)
                self.failure += f" while it updated part of {names}, which may have missed this step's update"
                self.exact = False
            self.close()
        opt.iterations += 1

    def in_sync(self, trainable):
        """The worker's copy of the model still matches: same ``trainable`` weights, loss and optimizer
        (only its learning rate may change), the weights still in shared memory (a Variable given a new
        array is copied back in), and the shared variables' optimizer state still the shared one."""
        model, opt = self.model, self.optimizer
        if (model.loss is not self.loss or len(trainable) != len(self.trainable)
                or any(a is not b for a, b in zip(trainable, self.trainable))):
            return False
        if self.shared and (model.optimizer is not opt or _hyper(opt) != self.hyper or any(
                opt._slots.get(id(u.var), (None, None))[1] is not u.slots for u in self.shared)):
            return False
        for v, view in zip(self.variables, self.views):
            if v.data is not view:
                if np.shape(v.data) != view.shape:
                    return False
                view[...] = v.data
                v.data = view
        return True

    def close(self):
        """Stop the worker and give the Variables (and the optimizer) their own arrays back, with the
        trained values."""
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
        opt = self.optimizer
        for u in self.shared:
            if opt._slots.get(id(u.var), (None, None))[1] is u.slots:
                opt._slots[id(u.var)] = (u.var, [a.copy() for a in u.slots])
            if u.var.grad is u.total:
                u.var.grad = u.total.copy()


def _hyper(optimizer):
    """An optimizer's hyperparameters other than its learning rate (which the worker is sent each step)."""
    return tuple(getattr(optimizer, k, None) for k in optimizer._config_keys() if k != "learning_rate")


def _cut(size):
    """Where a shared variable's values divide between the processes: about half, on a 64-byte line."""
    return min(size, -(-size // 2 // 16) * 16)


_MESSAGE = struct.Struct("qqqqd")                       # kind, three integers, the learning rate
_GO, _UPDATE = 0, 1


__all__ = ["SplitSteps", "qualifies", "forward_macs", "worker_possible", "MAX_PARAMS", "MIN_MACS",
           "MIN_STEPS"]
