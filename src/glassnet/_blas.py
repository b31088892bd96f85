"""How many threads NumPy's BLAS may use (threadpoolctl-style, with ctypes and no dependency).

Small matrix products (a batch of 32 through a dense layer) are slower with several BLAS threads
than with one: waking and joining the threads costs more than the arithmetic. ``blas_threads(1)``
limits the BLAS for the duration of a ``with`` block and restores the previous setting after (also
when several threads open such blocks at once: the setting is one for the whole process).
Where the BLAS can't be found or controlled (not OpenBLAS, not Linux/macOS), it does nothing.
"""
import contextlib
import ctypes
import glob
import os
import threading

import numpy as np

_NAMES = [("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
          ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
          ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
          ("openblas_set_num_threads", "openblas_get_num_threads")]
_API = None


def _candidates():
    try:                                  # the libraries this process has actually loaded
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
        yield from sorted(paths)
    except OSError:
        pass
    base = os.path.dirname(os.path.dirname(np.__file__))
    for pattern in ("numpy.libs/*blas*", "numpy/.dylibs/*blas*", "scipy_openblas*/lib/*blas*"):
        yield from sorted(glob.glob(os.path.join(base, pattern)))


def _api():
    """(set, get) functions of the loaded OpenBLAS, or (None, None)."""
    global _API
    if _API is None:
        _API = (None, None)
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for set_name, get_name in _NAMES:
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                    setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
                    _API = (setter, getter)
                    return _API
    return _API


def get_num_threads():
    """Threads the BLAS uses now, or None when unknown."""
    getter = _api()[1]
    return getter() if getter else None


# The thread count is one setting for the whole process, so the blocks open at one time, in any
# threads, are kept together: the one opened last decides, and the count from before the first one
# comes back when the last one closes, in whatever order they close.
_LOCK = threading.Lock()
_OPEN = {}            # token -> (threads, thread ident), in the order the blocks were opened
_OUTSIDE = None       # the count before the first open block


@contextlib.contextmanager
def blas_threads(n):
    """Use at most ``n`` BLAS threads inside the block (other threads' blocks: see ``_OPEN``)."""
    global _OUTSIDE
    setter, getter = _api()
    if setter is None:
        yield
        return
    token = object()
    with _LOCK:
        if not _OPEN:
            _OUTSIDE = getter()
        _OPEN[token] = (int(n), threading.get_ident())
        setter(int(n))
    try:
        yield
    finally:
        with _LOCK:
            del _OPEN[token]
            setter(_asked_for())


def _asked_for():
    """The count the open blocks ask for: the last one opened's, or the one from before them all."""
    return next(reversed(_OPEN.values()))[0] if _OPEN else _OUTSIDE


def _after_fork_in_child():
    """Only the forking thread lives on in a child: forget the other threads' blocks (they never
    close there) and the lock one of them may have held."""
    global _LOCK
    _LOCK = threading.Lock()
    me = threading.get_ident()
    gone = [token for token, (_, ident) in _OPEN.items() if ident != me]
    for token in gone:
        del _OPEN[token]
    if gone and _API[0] is not None:
        _API[0](_asked_for())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


SMALL_BATCH = 256     # up to this many rows per matrix product, one BLAS thread is faster (bench/)


def for_batch(batch_size):
    """The thread setting for products with ``batch_size`` rows: one thread for small batches."""
    if batch_size <= SMALL_BATCH:
        return blas_threads(1)
    return contextlib.nullcontext()
