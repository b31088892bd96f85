"""Weight initializers: ``init(shape, dtype=None) -> ndarray`` (float32 unless asked otherwise).

Each limit is a formula (fan_in, fan_out from ``compute_fans``, as Keras):

    glorot_uniform   U(-limit, limit),  limit = sqrt(6 / (fan_in + fan_out))     Keras's default kernel
    glorot_normal    truncated N(0, stddev),  stddev = sqrt(2 / (fan_in + fan_out))
    he_uniform       U(-limit, limit),  limit = sqrt(6 / fan_in)
    he_normal        truncated N(0, stddev),  stddev = sqrt(2 / fan_in)
    lecun_uniform    U(-limit, limit),  limit = sqrt(3 / fan_in)
    lecun_normal     truncated N(0, stddev),  stddev = sqrt(1 / fan_in)
    random_normal    N(mean, stddev);  random_uniform U(minval, maxval);  zeros, ones, constant

"Truncated" means values further than 2 standard deviations from the mean are redrawn; as in
Keras the draw uses ``stddev / 0.87962566103423978`` so the *truncated* distribution has the
stddev in the table.

Randomness: with ``seed=None`` values come from ``glassnet.config.rng()`` (reset by
``glassnet.utils.set_random_seed``); with an integer ``seed`` every call returns the same values,
as Keras 3 documents for seeded initializers.

Example::

    >>> w = get("glorot_uniform")((784, 10))
    >>> w.shape, w.dtype, bool(abs(w).max() <= (6 / (784 + 10)) ** 0.5)
    ((784, 10), dtype('float32'), True)
"""
import difflib
import math

import numpy as np

from . import config

_TRUNCATION_STDDEV = 0.87962566103423978   # stddev of N(0, 1) truncated to [-2, 2]


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight shape, as Keras.

    Dense kernel (D, U): (D, U).  Conv kernel (KH, KW, C, F): (KH·KW·C, KH·KW·F).
    A vector (n,) has fan_in = fan_out = n; a scalar has 1 and 1.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _dtype(dtype):
    dt = np.dtype(dtype or config.floatx())
    if dt.kind != "f":
        raise TypeError(f"Initializers produce float arrays; expected dtype 'float32' or 'float64'. "
                        f"Received: dtype={dtype!r}")
    return dt


def _shape(shape):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"A weight shape must be a tuple of non-negative ints (known dimensions). "
                         f"Received: shape={shape}")
    return tuple(int(n) for n in shape)


class Initializer:
    """Base class: subclasses define ``__call__(shape, dtype=None)`` and ``get_config()``."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Every entry equals ``value``."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return np.full(_shape(shape), self.value, dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    """All zeros (Keras's default bias)."""

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    """All ones."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class _Random(Initializer):
    """Shared seeding: ``seed=None`` draws from the global generator, an int seed repeats itself."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be None or a non-negative int. Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)

    def _rng(self):
        return config.rng() if self.seed is None else np.random.default_rng(self.seed)


def _truncated_normal(rng, shape, mean, stddev):
    """N(mean, stddev) with every value beyond 2·stddev of the mean redrawn."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


class RandomNormal(_Random):
    """``N(mean, stddev)``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, _shape(shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """``N(mean, stddev)`` with values beyond 2·stddev redrawn."""

    def __call__(self, shape, dtype=None):
        return _truncated_normal(self._rng(), _shape(shape), self.mean, self.stddev).astype(_dtype(dtype))


class RandomUniform(_Random):
    """``U(minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, _shape(shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(_Random):
    """Variance ``scale / n`` with n = fan_in, fan_out or their mean (``mode``):

        uniform            U(-limit, limit),  limit = sqrt(3 · scale / n)
        truncated_normal   N(0, stddev) truncated at 2σ, stddev = sqrt(scale / n) / 0.8796...
        untruncated_normal N(0, sqrt(scale / n))
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if not scale > 0:
            raise ValueError(f"scale must be a positive float. Received: scale={scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"mode must be one of {self._MODES}. Received: mode={mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {self._DISTRIBUTIONS}. "
                             f"Received: distribution={distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape).astype(dtype)
        stddev = math.sqrt(variance) / _TRUNCATION_STDDEV
        return _truncated_normal(rng, shape, 0.0, stddev).astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed arguments; its config is just the seed."""

    _ARGS = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed=None):
        super().__init__(*self._ARGS, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    """``U(-limit, limit)``, limit = sqrt(6 / (fan_in + fan_out)). Keras's default kernel initializer."""
    _ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated ``N(0, stddev)``, stddev = sqrt(2 / (fan_in + fan_out))."""
    _ARGS = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Preset):
    """``U(-limit, limit)``, limit = sqrt(6 / fan_in). For ReLU layers."""
    _ARGS = (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    """Truncated ``N(0, stddev)``, stddev = sqrt(2 / fan_in). For ReLU layers."""
    _ARGS = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """``U(-limit, limit)``, limit = sqrt(3 / fan_in)."""
    _ARGS = (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated ``N(0, stddev)``, stddev = sqrt(1 / fan_in)."""
    _ARGS = (1.0, "fan_in", "truncated_normal")


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in _BY_NAME.values()}
_NAME_OF_CLASS = {cls: name for name, cls in _BY_NAME.items()}


def serialize(initializer):
    """Keras-style config dict ``{"module", "class_name", "config", "registered_name"}``."""
    if initializer is None:
        return None
    if not isinstance(initializer, Initializer):      # a plain function: keep its name
        return getattr(initializer, "__name__", repr(initializer))
    return {"module": "glassnet.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def deserialize(config):
    cls = _BY_CLASS_NAME.get(config.get("class_name"))
    if cls is None:
        return get(config.get("class_name"))
    return cls.from_config(config.get("config") or {})


def get(identifier):
    """An initializer from a name ("glorot_uniform" or "GlorotUniform"), a config dict, an instance,
    a class, a callable ``(shape, dtype) -> array``, or None (returns None)."""
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower()) or _BY_CLASS_NAME.get(identifier)
        if cls is not None:
            return cls()
        valid = sorted(_BY_NAME)
        close = difflib.get_close_matches(identifier.lower(), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"Unknown initializer: {identifier!r}{hint}. Valid names: {', '.join(valid)}.")
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret initializer identifier: expected a name, an Initializer or a "
                    f"callable. Received: {identifier!r} ({type(identifier).__name__})")
