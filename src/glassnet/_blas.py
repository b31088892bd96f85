"""How many threads NumPy's BLAS may use (threadpoolctl-style, with ctypes and no dependency).

Small matrix products (a batch of 32 through a dense layer) are slower with several BLAS threads
than with one: waking and joining the threads costs more than the arithmetic. ``blas_threads(1)``
limits the BLAS for the duration of a ``with`` block and restores the previous setting after.
Where the BLAS can't be found or controlled (not OpenBLAS, not Linux/macOS), it does nothing.
"""
import contextlib
import ctypes
import glob
import os

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


@contextlib.contextmanager
def blas_threads(n):
    """Use at most ``n`` BLAS threads inside the block."""
    setter, getter = _api()
    if setter is None:
        yield
        return
    previous = getter()
    setter(int(n))
    try:
        yield
    finally:
        setter(previous)


SMALL_BATCH = 256     # up to this many rows per matrix product, one BLAS thread is faster (bench/)


def for_batch(batch_size):
    """The thread setting for products with ``batch_size`` rows: one thread for small batches."""
    if batch_size <= SMALL_BATCH:
        return blas_threads(1)
    return contextlib.nullcontext()
