"""Training steps shared with a forked worker process: two plans, one per kind of network.

Two threads (``_parallel``) share one GIL, so short NumPy calls wait for each other; a process has
its own. So on Linux ``fit`` forks one worker when it starts, and each step is divided between the
two processes in one of two ways (``plan_for``).

**Kernel rows** (``_Rows``), for networks that start with a Dense layer (after Flatten / InputLayer),
such as the notes' MLPs. The first layer's product x·W is split along the inputs: the main process
takes the first R rows of W (and columns of x), the worker the rest::

    main process                                     worker
    "go": where the batch lies in the epoch's order →
    a₀ = x[:, :R] · W[:R]                            a₁ = x[:, R:] · W[R:]
                                                  ←  a₁ (n × units, shared memory)
    z = a₀ + a₁, then bias, activation, the other
    layers, loss and backward (the engine): dL/dz →
    dW[:R] = x[:, :R]ᵀ · dL/dz                       dW[R:] = x[:, R:]ᵀ · dL/dz
    optimizer step of W[:R] and the other weights    optimizer step of W[R:]

What crosses between the processes is two n × units blocks, so the plan does not depend on how far
apart the two cores are; the first layer's products and its kernel's optimizer step (more than half
of the hidden MLP's step in one process) run on both cores.

**Halves** (``_Halves``), for the other networks (CNNs): the worker runs forward, loss and backward
on the second half of the batch, the main process on the first; each half's loss gradient is scaled
by its share of the batch, so their gradients add up to the batch's. The worker's gradients cross
over, and each process then updates one half of every large variable (``MIN_SHARED_UPDATE``).

Which fits are shared: Linux, the stock ``train_step``, at least a million multiply-adds per batch
(``MIN_MACS``; below it a step is too short to share). Rows: any layers after the first Dense, any
loss. Halves: only layers that treat each sample on its own (Dropout's random masks and
BatchNormalization's batch statistics would differ), a built-in loss with the default reduction, at
most 2,000,000 parameters. Other fits, and other platforms (macOS's ``fork`` is unsafe with its
system libraries, Windows has none), train as before (on Linux x86-64 a large shuffled fit may get a
worker that only gathers its next batches: ``prefetch.py``).

The numbers depend only on the model, the batch size and the platform. Where no worker runs (one
usable core, a fit of fewer than 10 steps, ``config.set_fit_worker(False)``, a failed worker), the
main process computes both parts one after the other, with the same results bit for bit.
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


def _first_dense(model):
    """The index of the model's first Dense layer if only InputLayer / Flatten come before it and its
    input is one vector a sample (the kernel rows plan), else None."""
    for i, layer in enumerate(model.layers):
        if type(layer) is Dense:
            shape = model._shapes[i - 1] if i else model.input_shape
            return i if len(shape) == 2 and layer.kernel.shape[0] >= 2 else None
        if type(layer) not in (InputLayer, Flatten):
            return None
    return None


def plan_for(model, batch_size):
    """``_Rows``, ``_Halves`` or None: how ``fit`` shares each step of ``model`` with batches of
    ``batch_size`` (module docstring). It decides the numbers, so it depends on the model, the batch
    size and the platform only."""
    from .training import Trainer
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")
            and type(model).train_step is Trainer.train_step and forward_macs(model) * batch_size >= MIN_MACS):
        return None
    first = _first_dense(model)
    if first is not None:
        kernel = model.layers[first].kernel
        return _Rows if kernel.shape[0] * kernel.shape[1] * batch_size >= MIN_MACS else None
    layers = model.layers
    if (all(type(layer) in _PER_SAMPLE for layer in layers)
            and type(model.loss) in _LOSSES and model.loss.reduction == "sum_over_batch_size"
            and model.count_params() <= MAX_PARAMS):
        return _Halves
    return None


def qualifies(model, batch_size):
    """Whether ``fit`` shares the steps of ``model`` with a worker process (``plan_for``)."""
    return plan_for(model, batch_size) is not None


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


def _flat(a):
    return a.reshape(-1)


class SplitSteps:
    """The shared steps of one ``fit`` (a context manager: the worker, if any, lives inside it).

    ``new_epoch(order)`` before each epoch (``order`` a permutation, or None in order), then
    ``step(batch_slice)`` → ``(loss value, y_pred, y, sample_weight)`` of that batch.
    """

    def __init__(self, model, x, y, sample_weight, batch_size, steps):
        self.model, self.x, self.y, self.sample_weight = model, x, y, sample_weight
        self.order = None
        self.plan = plan_for(model, batch_size)(self, batch_size)
        self.worker = self.stopped = None
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
        if self.worker is None:                          # the plan's buffers, in this process only
            self.plan.bind([np.zeros(shape, dtype) for shape, dtype in self.plan.specs()])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self.one_thread is not None:
            self.one_thread.__exit__(None, None, None)
            self.one_thread = None

    def new_epoch(self, order):
        self.order = order
        if self.worker is not None and order is not None:
            self.worker.order[:] = order

    def step(self, sl):
        model = self.model
        idx = self.order[sl] if self.order is not None else sl
        y = self.y[idx]
        sw = None if self.sample_weight is None else self.sample_weight[idx]
        trainable = model.trainable_weights
        worker = self.worker
        if worker is not None and not worker.in_sync(trainable):    # e.g. a callback froze a layer
            worker.close()
            self.worker = None
        value, y_pred = self.plan.step(sl, idx, y, sw, trainable)
        return value, y_pred, y, sw

    def go(self, sl):
        """Tell the worker (if any) to start on batch ``sl``; False if there is none."""
        if self.worker is None:
            return False
        self.worker.go(sl.start, sl.stop, self.order is not None)
        return True

    def reply(self):
        """The worker's answer to the last message: True, or False (it failed, and is closed)."""
        worker = self.worker
        if worker is None:
            return False
        if worker._reply():
            return True
        self._lose(worker)
        return False

    def _lose(self, worker):
        """The worker failed: stop it (its memory back to the Variables) and warn later (``warn_stopped``)."""
        worker.close()
        self.worker, self.stopped = None, worker

    def finish_update(self, theirs):
        """Wait for the worker's part of the optimizer step. If it failed before it began, ``theirs()``
        does that part here (exactly; still in the shared memory, which ``close`` then copies back)."""
        worker = self.worker
        if worker._reply():
            return
        if worker.ctl[2] < worker.updates:
            theirs()
        elif worker.ctl[3] < worker.updates:
            worker.partial()
        self._lose(worker)
        self.warn_stopped()

    def warn_stopped(self):
        """The warning for a worker that failed in this step (after the step's own errors, if any)."""
        worker = self.stopped
        if worker is not None:
            self.stopped = None
            same = "with the same numbers, " if worker.exact else ""
            warnings.warn(f"fit's worker process stopped: {worker.failure}. Training goes on in one process, "
                          f"{same}more slowly.", RuntimeWarning, stacklevel=6)

    def update(self, pairs, parts):
        """The optimizer's update (not yet counted in its ``iterations``) of ``pairs`` [(gradient,
        variable)], whole, and of ``parts`` of shared variables (``_SharedUpdate.mine`` or ``theirs``)."""
        opt = self.model.optimizer
        if pairs and self.worker is not None and self.worker.group is not None:
            pairs = self.worker.group.update(opt, pairs)
        for g, w in pairs:
            if g is not None:
                opt._update(w.data, g, opt._slots_of(w), w.data.dtype.type)
        for w, slots, total in parts:
            opt._update(w, total, slots, w.dtype.type)


class _SharedUpdate:
    """A variable whose optimizer step the two processes share: the main process updates its values
    [0, cut), the worker [cut, size). Its gradient and optimizer slots are in shared memory; ``mine``
    and ``theirs`` hold each part's flat views ``(weight, slots, gradient)``."""

    def __init__(self, index, var, cut, grad, slots):
        self.index, self.var, self.cut, self.grad, self.slots = index, var, cut, grad, slots
        self.mine, self.theirs = self._views(0, cut), self._views(cut, var.data.size)

    def _views(self, lo, hi):
        return _flat(self.var.data)[lo:hi], [_flat(a)[lo:hi] for a in self.slots], _flat(self.grad)[lo:hi]


class _Group:
    """The variables the main process updates whole (the small ones), as one flat array in shared
    memory, so the optimizer's dozen NumPy calls run once for all of them rather than once each
    (a call costs ≈ 1 µs whatever its size). Elementwise optimizers only: the same bits."""

    def __init__(self, variables, flat, optimizer):
        self.variables, self.weights, self.ids = variables, flat, {id(w) for w in variables}
        self.grad = np.empty_like(flat)
        self.slots = [np.zeros_like(flat) for _ in range(optimizer._n_slots())]
        self.views, self.slot_views, start = [], [], 0
        for w in variables:
            stop = start + w.data.size
            self.views.append(flat[start:stop].reshape(w.data.shape))
            self.slot_views.append([a[start:stop].reshape(w.data.shape) for a in self.slots])
            start = stop

    def take_slots(self, optimizer):
        """The optimizer's state of these variables, moved into the flat slots."""
        for w, views in zip(self.variables, self.slot_views):
            for a, b in zip(views, optimizer._slots_of(w)):
                a[...] = b
            optimizer._slots[id(w)] = (w, views)

    def in_sync(self, optimizer):
        return all(optimizer._slots.get(id(w), (None, None))[1] is views
                   for w, views in zip(self.variables, self.slot_views))

    def update(self, optimizer, pairs):
        """The update of these variables from ``pairs`` [(gradient, variable)], if each has a gradient
        there; returns the pairs left to update one by one."""
        grads = {id(w): g for g, w in pairs if g is not None}
        if not self.ids <= grads.keys():
            return pairs
        np.concatenate([_flat(grads[id(w)]) for w in self.variables], out=self.grad)
        optimizer._update(self.weights, self.grad, self.slots, self.weights.dtype.type)
        return [(g, w) for g, w in pairs if id(w) not in self.ids]

    def restore(self, optimizer):
        for w, views in zip(self.variables, self.slot_views):
            if optimizer._slots.get(id(w), (None, None))[1] is views:
                optimizer._slots[id(w)] = (w, [a.copy() for a in views])


class _Rows:
    """The kernel rows plan (module docstring): the worker computes rows [R, D) of the first Dense
    layer's product and kernel gradient, and updates those rows of its kernel."""

    def __init__(self, split, batch_size):
        model = self.model = split.model
        self.split, self.first = split, _first_dense(model)
        layer = self.layer = model.layers[self.first]
        self.kernel = layer.kernel                       # (when the fit starts: for the shared memory)
        self.rest = model._plan[self.first + 1:]
        d, units = self.kernel.shape
        self.rows = d // 2
        x = split.x
        self.x2 = x.reshape(len(x), -1) if x.flags.c_contiguous else None     # (a view, or per batch)
        self.batch_size, self.units = batch_size, units
        self.xs = None                                   # the worker's columns of the batch

    def columns(self, idx, lo, hi):
        """Columns [lo, hi) of the batch ``idx`` (index array or slice), flattened."""
        if self.x2 is not None:
            return self.x2[:, lo:hi][idx]
        x = self.split.x[idx]
        return np.ascontiguousarray(x.reshape(len(x), -1)[:, lo:hi])

    # what the worker needs in shared memory: its product a₁, dL/dz, the kernel's gradient
    def specs(self):
        dtype = self.kernel.data.dtype
        return [((self.batch_size, self.units), dtype), ((self.batch_size, self.units), dtype),
                (self.kernel.shape, dtype)]

    def bind(self, arrays):
        self.a1, self.dz, self.grad = arrays

    def shared_updates(self, trainable, optimizer):
        """[(index, cut)]: the kernel's rows [R, D) (its values from cut on) are the worker's to update."""
        if type(optimizer) not in _ELEMENTWISE or not any(w is self.kernel for w in trainable):
            return []
        return [(next(k for k, w in enumerate(trainable) if w is self.kernel), self.rows * self.units)]

    def shared_grad(self, i):
        return self.grad

    # -- in the worker ---------------------------------------------------------------------------------
    def worker_go(self, worker, idx, n):
        self.xs = self.columns(idx, self.rows, self.kernel.shape[0])
        np.matmul(self.xs, self.kernel.data[self.rows:], out=self.a1[:n])

    def worker_back(self, worker, n, update):
        np.matmul(self.xs.T, self.dz[:n], out=self.grad[self.rows:])
        if update:
            worker.ctl[2] += 1                           # begun: the state may change from here
            for u in worker.shared:
                w, slots, total = u.theirs
                worker.optimizer._update(w, total, slots, w.dtype.type)
            worker.ctl[3] += 1

    # -- in the main process ---------------------------------------------------------------------------
    def step(self, sl, idx, y, sw, trainable):
        split, model, layer = self.split, self.model, self.layer
        kernel, n, rows, d = layer.kernel, len(y), self.rows, layer.kernel.shape[0]
        sent = split.go(sl)
        x0 = self.columns(idx, 0, rows)
        a = x0 @ kernel.data[:rows]
        x1 = None
        if sent and split.reply():
            a1 = self.a1[:n]
        else:
            x1 = self.columns(idx, rows, d)
            a1 = x1 @ kernel.data[rows:]
        a += a1                                          # x·W, as the sum of the two parts
        for w in trainable:
            w.grad = None
        z = Tensor(a, requires_grad=True)
        out = layer.activation(z + layer.bias if layer.use_bias else z)
        for call, takes_training in self.rest:
            out = call(out, training=True) if takes_training else call(out)
        loss = model.loss(y, out, sample_weight=sw)
        value = float(loss.data)
        split.warn_stopped()
        if not math.isfinite(value):
            return value, out.data
        loss.backward()
        dz = z.grad
        learns = any(w is kernel for w in trainable)
        worker = split.worker if learns else None
        shared = worker.shared if worker is not None else []
        if worker is not None:                           # its rows of the kernel's gradient (and update)
            self.dz[:n] = dz
            worker.back(n, bool(shared))
        if learns:
            np.matmul(x0.T, dz, out=self.grad[:rows])
            if not shared and not (worker is not None and split.reply()):     # its rows here
                x1 = self.columns(idx, rows, d) if x1 is None else x1
                np.matmul(x1.T, dz, out=self.grad[rows:])
            kernel.grad = self.grad
        mine = {u.index for u in shared}
        split.update([(w.grad, w) for i, w in enumerate(trainable) if i not in mine], [u.mine for u in shared])
        if shared:
            def theirs():                                # its rows, here
                x = self.columns(idx, rows, d) if x1 is None else x1
                np.matmul(x.T, dz, out=self.grad[rows:])
                split.update([], [u.theirs for u in shared])
            split.finish_update(theirs)
        model.optimizer.iterations += 1
        return value, out.data


class _Halves:
    """The halves plan (module docstring): the worker computes forward, loss and backward of the
    second half of each batch, and updates the second part of each large variable."""

    def __init__(self, split, batch_size):
        self.split, self.model, self.batch_size = split, split.model, batch_size
        self.grads = None

    def specs(self):
        model = self.model
        out_shape = (self.batch_size // 2,) + tuple(model.output_shape[1:])   # the second half: the smaller
        return ([(w.data.shape, w.data.dtype) for w in model.trainable_weights]       # the worker's gradients
                + [(w.data.shape, w.data.dtype) for w in model.trainable_weights]     # the summed gradients
                + [(out_shape, model.dtype), ((1,), np.float64), ((len(model.trainable_weights),), np.uint8)])

    def bind(self, arrays):
        t = len(self.model.trainable_weights)
        self.theirs, self.sums = arrays[:t], arrays[t:2 * t]
        self.pred, self.value, self.has = arrays[2 * t:]

    def shared_updates(self, trainable, optimizer):
        """[(index, cut)]: the second part of each large variable is the worker's."""
        if type(optimizer) not in _ELEMENTWISE:
            return []
        return [(i, _cut(w.data.size)) for i, w in enumerate(trainable)
                if w.data.size >= MIN_SHARED_UPDATE and w.data.dtype == self.model.dtype]

    def shared_grad(self, i):
        return self.sums[i]

    def half(self, trainable, idx, start, stop, n):
        """``_half`` on rows [start, stop) of the batch ``idx`` of n samples (either process)."""
        split = self.split
        rows = _part(idx, start, stop)
        sw = None if split.sample_weight is None else split.sample_weight[rows]
        return _half(self.model, trainable, split.x[rows], split.y[rows], sw, (stop - start) / n)

    # -- in the worker ---------------------------------------------------------------------------------
    def worker_go(self, worker, idx, n):
        mid = (n + 1) // 2
        grads, value, y_pred = self.half(worker.trainable, idx, mid, n, n)
        self.value[0] = value
        self.pred[:n - mid] = y_pred
        for i, g in enumerate(grads):
            self.has[i] = g is not None
            if g is not None:
                self.theirs[i][...] = g
        self.grads = grads

    def worker_back(self, worker, n, update):
        worker.ctl[2] += 1                               # begun: the state may change from here
        for u in worker.shared:
            w, slots, total = u.theirs                   # total holds the main process's half already
            np.add(total, _flat(self.grads[u.index])[u.cut:], out=total)
            worker.optimizer._update(w, total, slots, w.dtype.type)
        worker.ctl[3] += 1

    # -- in the main process ---------------------------------------------------------------------------
    def step(self, sl, idx, y, sw, trainable):
        split, n = self.split, len(y)
        if n < 2:                                        # nothing to split
            return self.model.train_step(split.x[idx], y, sw)
        mid = (n + 1) // 2
        sent = split.go(sl)
        g0, v0, p0 = self.half(trainable, idx, 0, mid, n)
        worker = split.worker
        shared = worker.shared if worker is not None else []
        for u in shared:                                 # the worker's part of this half's gradient, for it
            if g0[u.index] is not None:                  # to add its own to (in place)
                u.theirs[2][...] = _flat(g0[u.index])[u.cut:]
        if sent and split.reply():
            g1 = [g if has else None for g, has in zip(self.theirs, self.has)]
            v1, p1 = float(self.value[0]), self.pred[:n - mid]
        else:
            g1, v1, p1 = self.half(trainable, idx, mid, n, n)
            shared = []
        split.warn_stopped()                             # (an error in the data raised just above instead)
        value = (v0 * mid + v1 * (n - mid)) / n          # the mean over the batch
        y_pred = np.concatenate([p0, p1])
        if not math.isfinite(value):
            return value, y_pred
        shared = [u for u in shared if g0[u.index] is not None]
        if shared:
            split.worker.back(n, True)
        mine = {u.index for u in shared}
        pairs = []
        for i, (a, b, w) in enumerate(zip(g0, g1, trainable)):
            if i not in mine:
                w.grad = a if b is None else (b.copy() if a is None else a + b)
                pairs.append((w.grad, w))
        for u in shared:
            np.add(_flat(g0[u.index])[:u.cut], _flat(g1[u.index])[:u.cut], out=u.mine[2])
            trainable[u.index].grad = u.grad
        split.update(pairs, [u.mine for u in shared])
        if shared:
            def theirs():                                # its part, here
                for u in shared:
                    np.add(u.theirs[2], _flat(g1[u.index])[u.cut:], out=u.theirs[2])
                split.update([], [u.theirs for u in shared])
            split.finish_update(theirs)
        self.model.optimizer.iterations += 1
        return value, y_pred


class _Worker:
    """The forked process, and the shared memory both processes work in: the model's weights (the
    main process's Variables point into it for the fit), the epoch's sample order, what the plan
    passes between the processes, and the optimizer slots of the variables whose update the two
    share (``_SharedUpdate``).

    Messages go through two pipes (main → worker: "go" and "back"; worker → main: a status byte, or
    an error). Each side also counts the messages it sent in shared memory, and a reader spins on
    that count for up to ``SPIN_S`` before it reads the pipe: a process woken from a pipe read loses
    ≈ 70 µs, a fifth of a dense network's step. The read still carries the synchronisation (the kernel
    orders the sender's writes before its message), so the spin only saves the sleep.
    """

    def __init__(self, split, batch_size):
        model, plan = split.model, split.plan
        self.split, self.plan, self.model, self.loss = split, plan, model, model.loss
        self.failure, self.exact = None, True
        self.variables, self.trainable = model.weights, model.trainable_weights
        opt = self.optimizer = model.optimizer
        self.hyper = _hyper(opt)
        updates = plan.shared_updates(self.trainable, opt)        # [(index in trainable, cut)]
        taken = {i for i, _ in updates}
        group = [w for i, w in enumerate(self.trainable) if i not in taken and w.data.dtype == model.dtype]
        group = group if type(opt) in _ELEMENTWISE and len(group) >= 2 else []
        in_group = {id(w) for w in group}
        alone = [v for v in self.variables if id(v) not in in_group]
        arrays = _shared_arrays([(v.data.shape, v.data.dtype) for v in alone]
                                + [((sum(w.data.size for w in group),), model.dtype),
                                   ((len(split.x),), np.intp), ((4,), np.int64)] + plan.specs())
        k = len(alone)
        flat, self.order, self.ctl = arrays[k:k + 3]
        # ctl: [messages main → worker, messages back, updates the worker began, updates it finished]
        self.group = _Group(group, flat, opt) if group else None
        views = dict(zip(map(id, alone), arrays[:k]))
        views.update(zip(map(id, group), self.group.views if group else []))
        self.views = [views[id(v)] for v in self.variables]
        self.sent = self.seen = self.updates = 0         # messages this process sent / read; update steps
        self.originals = [v.data for v in self.variables]
        self.pid, self.cmd_w, self.shared, pipes = None, None, [], []
        try:
            for v, view in zip(self.variables, self.views):
                view[...] = v.data
                v.data = view
            plan.bind(arrays[k + 3:])
            slots = _shared_arrays([(self.trainable[i].data.shape, self.trainable[i].data.dtype)
                                    for i, _ in updates for _ in range(opt._n_slots())])
            per = opt._n_slots()
            for j, (i, cut) in enumerate(updates):       # their optimizer state, in shared memory
                var = self.trainable[i]
                mine = slots[j * per:(j + 1) * per]
                for a, b in zip(mine, opt._slots_of(var)):
                    a[...] = b
                opt._slots[id(var)] = (var, mine)
                self.shared.append(_SharedUpdate(i, var, cut, plan.shared_grad(i), mine))
            if self.group is not None:
                self.group.take_slots(opt)
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
        plan, opt, n = self.plan, self.optimizer, 0
        while True:
            message = self._receive(_MESSAGE.size)
            if message is None:
                return
            kind, a, b, c, lr = _MESSAGE.unpack(message)
            try:
                if kind == _GO:
                    start, stop, shuffled = a, b, c
                    n = stop - start
                    plan.worker_go(self, self.order[start:stop] if shuffled else slice(start, stop), n)
                else:                                    # _BACK: a = the optimizer's iterations, c = update?
                    opt.iterations, opt._learning_rate = a, lr
                    plan.worker_back(self, b, bool(c))
                self._send(b"\0")
            except BaseException as e:                   # report it; the main process goes on without us
                text = f"{type(e).__name__}: {e}".encode("utf-8", "replace")[:2000]
                self._send(b"\1" + struct.pack("i", len(text)) + text)
                return

    # -- in the main process ---------------------------------------------------------------------------
    def go(self, start, stop, shuffled):
        try:
            self._send(_MESSAGE.pack(_GO, start, stop, int(shuffled), 0.0))
        except OSError:                                  # it is gone: its reply says so
            pass

    def back(self, n, update):
        """The second message of a step: the worker's backward part, and its optimizer step if ``update``."""
        opt = self.optimizer
        try:
            self._send(_MESSAGE.pack(_BACK, opt.iterations, n, int(update), opt.learning_rate))
        except OSError:
            pass
        self.updates += update

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

    def partial(self):
        """The worker failed in the middle of its optimizer step: say which variables may have missed it."""
        names = ", ".join(u.var.name for u in self.shared)
        self.failure += f" while it updated part of {names}, which may have missed this step's update"
        self.exact = False

    def in_sync(self, trainable):
        """The worker's copy of the model still matches: same ``trainable`` weights, loss and optimizer
        (only its learning rate may change), the weights still in shared memory (a Variable given a new
        array is copied back in), and the shared variables' optimizer state still the shared one."""
        model, opt = self.model, self.optimizer
        if (model.loss is not self.loss or len(trainable) != len(self.trainable)
                or any(a is not b for a, b in zip(trainable, self.trainable))):
            return False
        if (self.shared or self.group) and (model.optimizer is not opt or _hyper(opt) != self.hyper or any(
                opt._slots.get(id(u.var), (None, None))[1] is not u.slots for u in self.shared)):
            return False
        if self.group is not None and not self.group.in_sync(opt):
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
        reap(self.pid)
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
            if u.var.grad is u.grad:
                u.var.grad = u.grad.copy()
        if self.group is not None:
            self.group.restore(opt)


def reap(pid, seconds=5):
    """Wait for a worker process that was told to exit; kill it if it has not within ``seconds``."""
    deadline = time.monotonic() + seconds
    while os.waitpid(pid, os.WNOHANG)[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.001)


def _hyper(optimizer):
    """An optimizer's hyperparameters other than its learning rate (which the worker is sent each step)."""
    return tuple(getattr(optimizer, k, None) for k in optimizer._config_keys() if k != "learning_rate")


def _cut(size):
    """Where a shared variable's values divide between the processes: about half, on a 64-byte line."""
    return min(size, -(-size // 2 // 16) * 16)


_MESSAGE = struct.Struct("qqqqd")                       # kind, three integers, the learning rate
_GO, _BACK = 0, 1


__all__ = ["SplitSteps", "plan_for", "qualifies", "forward_macs", "worker_possible", "MAX_PARAMS", "MIN_MACS",
           "MIN_STEPS"]
