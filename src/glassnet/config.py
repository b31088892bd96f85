"""Global settings, as in Keras's ``backend/config.py``.

floatx   "float32"   the dtype of weights, activations and gradients unless asked otherwise
epsilon  1e-7        the fuzz factor: probabilities are clipped to [epsilon, 1 - epsilon]
image_data_format    "channels_last": images are (N, H, W, C)
fit_worker   True        on Linux, ``fit`` may fork a worker process that shares each training step,
                         or gathers the next shuffled batches
"""

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


def floatx():
    """The default float dtype name ("float32")."""
    return _FLOATX


def set_floatx(value):
    """Set the default float dtype: "float32" or "float64" ("float16" is not supported)."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"floatx must be 'float32' or 'float64'. Received: {value!r}")
    _FLOATX = value


def epsilon():
    """The fuzz factor used to clip probabilities (1e-7)."""
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    return _IMAGE_DATA_FORMAT


# -- fit's worker process (models/data_parallel.py) ---------------------------------------------------
_FIT_WORKER = True


def fit_worker():
    """Whether ``fit`` may fork a worker process (True): one that shares each training step (the
    second half of each CNN batch, or half of an MLP's first-layer kernel: ``models/data_parallel.py``)
    or, for fits that share no step, one that gathers the next shuffled batches (``models/prefetch.py``)."""
    return _FIT_WORKER


def set_fit_worker(enabled):
    """Allow (True, the default) or forbid the worker process of ``fit``. Without it the two parts of
    each step run one after the other in this process, and each batch is gathered when its step
    comes: the same numbers, more slowly."""
    global _FIT_WORKER
    if not isinstance(enabled, bool):
        raise TypeError(f"set_fit_worker expects True or False. Received: {enabled!r}")
    _FIT_WORKER = enabled


# -- randomness: one Generator for weights, shuffling and dropout, reset by set_random_seed ----------
import numpy as _np  # noqa: E402

_RNG = _np.random.default_rng()


def rng():
    """The global ``numpy.random.Generator`` used for initial weights, shuffling and dropout."""
    return _RNG


def set_seed(seed):
    global _RNG
    _RNG = _np.random.default_rng(seed)
