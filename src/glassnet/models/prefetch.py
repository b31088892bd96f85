"""Shuffled batches gathered ahead by a forked worker process: a prefetching input pipeline.

Each step of a shuffled epoch starts by copying its batch's rows out of x (``x[idx]``). For the
notes' MLP that is 32 rows scattered over 188 MB: ≈ 15 µs of waiting for memory, an eighth of the
whole step. When ``fit`` shares no step with a worker (``data_parallel.plan_for`` gives None), it
may fork one that only gathers: it copies the next batches' rows into a ring of buffers in shared
memory while the main process trains, so a step finds its batch ready, already contiguous::

    main process                                   worker
    new_epoch: the permutation → shared memory
    step s: "I am at step s"                       gathers steps s+1 … s+SLOTS−2 (never the slot of
            its slot holds step s? use it;         step s), each one's rows, then the number of the
            else gather x[idx] here                step they hold (its tag)

The main process never waits: a step whose slot is not ready gathers its rows itself. Either way
its batch holds exactly the rows ``x[idx]``, so the numbers do not depend on the worker, its speed,
or whether it runs at all. The worker never writes the slot of the step the main process is on
(it stays at most SLOTS−2 steps ahead and rewrites a slot only once the main process has passed
it), and a tag is written after its rows, which every other core sees in that order on x86-64
(total store order), the only architecture where this runs.

Which fits: Linux x86-64 with fork, two usable cores, ``config.fit_worker()``, a shuffled fit of
at least ``MIN_STEPS`` steps over an x of at least ``MIN_BYTES`` (smaller arrays sit in the CPU's
caches, where gathering is cheap), the stock ``train_step`` (which keeps no reference to its batch
after the step: a slot is reused ``SLOTS`` steps later).
"""
import os
import platform
import signal
import sys
import time

import numpy as np

from .. import config
from . import data_parallel

MIN_BYTES = 64 << 20        # x smaller than this is gathered from the caches: cheap, nothing to gain
MIN_STEPS = 1000            # a shorter fit does not repay the fork (≈ 10–50 ms)
RING_BYTES = 8 << 20        # the ring's size (within 4..32 slots)
SLEEP_S = 0.0001            # the worker's nap when it is far enough ahead, or between epochs

_STEP, _EPOCH, _STOP = 0, 1, 2     # ctl: the main process's step (counted over the fit), its epoch count, stop


def wanted(model, x, batch_size, steps):
    """Whether ``fit`` runs a prefetching worker for these shuffled batches (module docstring)."""
    from .training import Trainer
    return (config.fit_worker() and sys.platform.startswith("linux") and hasattr(os, "fork")
            and platform.machine() in ("x86_64", "AMD64")
            and type(model).train_step is Trainer.train_step
            and x.nbytes >= MIN_BYTES and steps >= MIN_STEPS
            and data_parallel.worker_possible())


def _slots(batch_bytes):
    """How many batches the ring holds: ``RING_BYTES`` worth, at least 4 and at most 32."""
    return int(min(32, max(4, RING_BYTES // max(batch_bytes, 1))))


class Prefetcher:
    """The worker and the ring for one ``fit`` (a context manager). ``new_epoch(order)`` before each
    epoch, then ``batch(step, idx)`` → the rows ``x[idx]`` of that step, from the ring when ready."""

    def __init__(self, x, batch_size):
        self.x, self.batch_size = x, batch_size
        self.steps = -(-len(x) // batch_size)            # per epoch
        row = x[0].nbytes
        self.slots = _slots(row * batch_size)
        ring, order, ctl, tags = data_parallel._shared_arrays(
            [((self.slots, batch_size) + x.shape[1:], x.dtype), ((len(x),), np.intp),
             ((3,), np.int64), ((self.slots,), np.int64)])
        tags[:] = -1
        self.ring, self.order, self.ctl, self.tags = ring, order, ctl, tags
        self.epochs = self.base = 0
        self.served = self.gathered = 0                  # batches taken from the ring / gathered here
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:                                # the child: gather until told to stop
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is for the main process
                self._serve(parent)
                code = 0
            finally:
                os._exit(code)                           # no atexit handlers, no flushing the parent's buffers

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- in the main process ---------------------------------------------------------------------------
    def new_epoch(self, order):
        """A new epoch in this order (a permutation of the samples)."""
        self.base = self.epochs * self.steps
        self.epochs += 1
        self.order[:] = order
        self.ctl[_EPOCH] = self.epochs                   # (after the order: the worker reads it then)

    def batch(self, step, idx):
        """The rows ``x[idx]`` of this epoch's step ``step``: the worker's copy if it is ready."""
        g = self.base + step
        self.ctl[_STEP] = g                              # from now on the worker leaves this slot alone
        slot = g % self.slots
        if self.tags[slot] == g:
            self.served += 1
            return self.ring[slot, :len(idx)]
        self.gathered += 1
        return self.x[idx]

    def close(self):
        """Stop the worker and wait for it (it naps at most ``SLEEP_S`` between checks)."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        self.ctl[_STOP] = 1
        data_parallel.reap(pid)

    # -- in the worker -------------------------------------------------------------------------------------
    def _serve(self, parent):
        ctl, tags, ring, order, x = self.ctl, self.tags, self.ring, self.order, self.x
        steps, size, slots, done = self.steps, self.batch_size, self.slots, 0
        while not ctl[_STOP] and os.getppid() == parent:
            epoch = int(ctl[_EPOCH])
            if epoch == done:                            # this epoch's batches are gathered (or given up)
                time.sleep(SLEEP_S)
                continue
            base, t = (epoch - 1) * steps, (epoch - 1) * steps
            while t < base + steps and ctl[_EPOCH] == epoch and not ctl[_STOP]:
                main = int(ctl[_STEP])
                if t <= main:                            # the main process is there already
                    t = main + 1
                elif t > main + slots - 2:               # far enough ahead: its slot may still be in use
                    time.sleep(SLEEP_S)
                    if os.getppid() != parent:
                        return
                else:
                    rows = order[(t - base) * size:(t - base + 1) * size]
                    np.take(x, rows, axis=0, out=ring[t % slots, :len(rows)])
                    tags[t % slots] = t                  # after the rows
                    t += 1
            done = epoch


__all__ = ["Prefetcher", "wanted", "MIN_BYTES", "MIN_STEPS"]
