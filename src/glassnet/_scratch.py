"""A small free list of large scratch arrays, so a training step does not fault in fresh memory.

A conv layer's forward and backward each need arrays of several MB (the im2col matrix, the conv
output before pooling, the column gradients). Allocated anew every batch, their pages come fresh
from the operating system each time: measured, the MNIST CNN spent a third of its epoch in page
faults. ``take`` hands out an array that an earlier step gave back (or a new one); ``Saved`` gives
its arrays back when the graph that holds it is freed, so a buffer is never reused while a
graph can still read it (``retain_graph=True`` included).
"""
import os
import threading

import numpy as np

_LOCK = threading.RLock()  # models may be called from several threads (and a GC pass may free a Saved)
_FREE = {}            # (shape, dtype) -> arrays nobody uses now
_PER_SHAPE = 2        # keep at most this many arrays of one shape ...
_SHAPES = 24          # ... and of this many shapes (the oldest shape is dropped first) ...
_MAX_BYTES = 128 << 20   # ... and of this many bytes in all, which bounds what a one-off call on
                         # a huge batch leaves behind (utils.clear_session() lets go of all of it)


def take(shape, dtype):
    """An uninitialised array of ``shape`` and ``dtype``: a given-back one when there is one."""
    with _LOCK:
        free = _FREE.get((shape, np.dtype(dtype)))
        if free:
            return free.pop()
    return np.empty(shape, dtype)


def give(*arrays):
    """Put arrays back for later ``take`` calls (the caller must not use them any more)."""
    with _LOCK:
        kept = kept_bytes()
        for a in arrays:
            if a is None or kept + a.nbytes > _MAX_BYTES:
                continue
            free = _FREE.setdefault((a.shape, a.dtype), [])
            if len(free) < _PER_SHAPE:
                free.append(a)
                kept += a.nbytes
            if len(_FREE) > _SHAPES:
                kept -= sum(b.nbytes for b in _FREE.pop(next(iter(_FREE))))


def kept_bytes():
    """Bytes held by the free list now."""
    with _LOCK:
        return sum(a.nbytes for free in _FREE.values() for a in free)


def _after_fork():
    """A forked child starts with a fresh lock (another thread may have held it at the fork)."""
    global _LOCK
    _LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class Saved:
    """Arrays an op's backward closure needs; they go back to the free list when it is freed."""

    def __init__(self, **arrays):
        self.__dict__.update(arrays)

    def __del__(self):
        if give is not None:                  # None only while the interpreter shuts down
            give(*self.__dict__.values())


def clear():
    """Forget every kept array (tests; ``utils.clear_session``)."""
    with _LOCK:
        _FREE.clear()
