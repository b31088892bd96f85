"""The two halves of a batch on two cores.

The conv layers split each batch into two halves and process them independently: NumPy lets go of
the GIL inside matrix products and large elementwise loops, so a second thread working on the
second half keeps the second core busy. The products scale well (measured on 2 cores: a conv
layer's product 2.06 → 1.07 ms, as with a 2-thread BLAS); the short memory-bound calls in between
gain less, since each NumPy call hands the GIL back and forth (see docs/benchmarks.md).

``fit`` trains most CNNs another way on Linux: each batch's halves in two processes
(``models/data_parallel.py``), with the conv layers taking their half whole (``whole_batches``).

The split depends only on the batch size, never on the number of cores or threads, so a seeded
run gives the same numbers bit for bit on one core or two. Threads are used only while the BLAS
runs single-threaded (``fit``/``predict`` set that for small batches, see ``_blas``) and when the
process may use two cores (its CPU affinity, ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``).
"""
import concurrent.futures
import contextlib
import os
import threading

import numpy as np

from . import _blas

_POOL = None
_CORES = None
_WHOLE = threading.local()      # .on: this thread's conv ops take the batch whole (whole_batches)


def usable_cores():
    """CPUs this process may run on, capped by OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when set."""
    global _CORES
    if _CORES is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:                       # macOS, Windows
            cores = os.cpu_count() or 1
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            value = os.environ.get(var, "")
            if value.isdigit() and int(value) > 0:
                cores = min(cores, int(value))
        _CORES = cores
    return _CORES


def halves(n):
    """The batch slices: two halves (the first one the larger) for n ≥ 2, else the whole batch
    (also inside ``whole_batches``)."""
    if n < 2 or getattr(_WHOLE, "on", False):
        return (slice(0, n),)
    mid = (n + 1) // 2
    return slice(0, mid), slice(mid, n)


@contextlib.contextmanager
def whole_batches():
    """Within this block (in this thread), conv ops do not split their batch: ``fit`` already runs
    each half of a batch in its own process (``models/data_parallel.py``)."""
    before = getattr(_WHOLE, "on", False)
    _WHOLE.on = True
    try:
        yield
    finally:
        _WHOLE.on = before


def _in_thread(fn, errors, *args):
    with np.errstate(**errors):                      # the caller's floating-point error settings
        return fn(*args)


def _forget_worker():
    """In a forked child the worker thread does not exist: start a new one on first use."""
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker)


def _worker():
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="glassnet-half")
    return _POOL


def map_halves(fn, n):
    """``[fn(0, first_half), fn(1, second_half)]`` (or ``[fn(0, slice(0, n))]`` for n < 2).

    The second half runs in a worker thread when two cores are usable and the BLAS is
    single-threaded; otherwise both run here, one after the other, with the same results.
    """
    parts = halves(n)
    if len(parts) == 1 or usable_cores() < 2 or _blas.get_num_threads() != 1:
        return [fn(i, part) for i, part in enumerate(parts)]
    second = _worker().submit(_in_thread, fn, np.geterr(), 1, parts[1])
    try:
        first = fn(0, parts[0])
    finally:
        result = second.result()                     # always wait: the worker writes shared arrays
    return [first, result]
