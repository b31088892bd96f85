"""The Layer base class: the Keras anatomy every layer follows.

    __init__(...)                 validate and store hyper-parameters (no weights yet)
    build(input_shape)            create the weights once the input size is known;
                                  input_shape includes the batch axis as None, e.g. (None, 784)
    call(x, training=False)       the formula, on Tensors (autograd supplies the backward)
    compute_output_shape(shape)   the output shape without computing anything
    get_config() / from_config()  exactly the constructor arguments, and back

``layer(x)`` builds on the first call, checks the input shape, then runs ``call``. A Tensor in gives a
Tensor out (part of the graph); an array or list in gives an array out (computed under ``no_grad``).
"""
import contextlib
import inspect
import re
import threading

import numpy as np

from .. import config, initializers
from ..engine import Tensor, Variable, no_grad

_NAME_COUNTS = {}


class _Building(threading.local):
    from_file = False       # True while saving.py builds a model whose every weight comes from a file


_BUILDING = _Building()


@contextlib.contextmanager
def weights_from_file():
    """Build inside this block when every weight is about to be overwritten from a model file:
    ``add_weight`` then allocates zeros (pages the OS hands out only when written to) instead of running
    the initializers. A 1 KB file whose config asks for a huge layer then fails the shape check at once,
    without filling gigabytes first. This thread only."""
    previous, _BUILDING.from_file = _BUILDING.from_file, True
    try:
        yield
    finally:
        _BUILDING.from_file = previous


def to_snake_case(name):
    """"Dense" -> "dense", "InputLayer" -> "input_layer", "MaxPooling2D" -> "max_pooling2d" (as Keras)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """"dense", then "dense_1", "dense_2", ... (one counter per prefix, as Keras's auto names)."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names():
    """Restart the automatic names ("dense", "dense_1", ...), like ``keras.backend.clear_session()``."""
    _NAME_COUNTS.clear()


def _shape_tuple(value, argname, layer_cls):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    try:
        shape = tuple(value)
    except TypeError:
        shape = None
    if shape is None or any(d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))
                                               or d < 1) for d in shape):
        raise ValueError(f"{layer_cls}: {argname} must be a tuple of positive ints (or None), without the "
                         f"batch axis, e.g. {argname}=(784,). Received: {argname}={value!r}")
    return tuple(None if d is None else int(d) for d in shape)


class Layer:
    """``Layer(name=None, trainable=True, dtype=None, input_shape=None)``: base of every layer.

    Args:
        name: unique name; by default the snake_case class name, numbered ("dense", "dense_1", ...).
        trainable: if False the layer's weights are frozen (listed in ``non_trainable_weights``).
        dtype: weight dtype, "float32" (default, ``config.floatx()``) or "float64".
        input_shape: shape of one sample, e.g. ``(784,)``, for the first layer of a ``Sequential``.
            Keras's ``batch_input_shape=(None, 784)`` and ``input_dim=784`` are accepted too.

    Attributes:
        weights, trainable_weights, non_trainable_weights: lists of ``Variable``.
        built: whether ``build`` has run.
    """

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, **kwargs):
        cls = type(self).__name__
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        kwargs.pop("batch_size", None)              # Keras 2 legacy; the batch axis is always None here
        if kwargs:
            bad = sorted(kwargs)
            raise TypeError(f"{cls}() got an unexpected keyword argument {bad[0]!r}. Accepted: the "
                            f"arguments of {cls} plus name, trainable, dtype, input_shape. "
                            f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in bad)}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{cls}: name must be a non-empty str. Received: name={name!r}")
        self.name = name if name is not None else unique_name(to_snake_case(cls))
        self._trainable = bool(trainable)
        try:
            self.dtype = np.dtype(dtype or config.floatx()).name
        except TypeError:
            raise TypeError(f"{cls}: dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}") from None
        if self.dtype not in ("float32", "float64"):
            raise TypeError(f"{cls}: dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
        self._input_shape_arg = None
        if input_shape is not None:
            self._input_shape_arg = (None,) + _shape_tuple(input_shape, "input_shape", cls)
        elif batch_input_shape is not None:
            shape = tuple(batch_input_shape)
            self._input_shape_arg = (None,) + _shape_tuple(shape[1:], "batch_input_shape[1:]", cls)
        elif input_dim is not None:
            self._input_shape_arg = (None,) + _shape_tuple(input_dim, "input_dim", cls)
        self._weights = []
        self.built = False
        self._build_input_shape = None
        self._expected_last_dim = None         # set by build(): checked on every call
        self._min_ndim = None
        self._call_takes_training = "training" in inspect.signature(self.call).parameters

    # -- the anatomy: subclasses override these -----------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included, as None)."""
        self._build_input_shape = tuple(input_shape)
        self.built = True

    def call(self, x, training=False):
        """The layer's formula on a Tensor ``x``; the default is the identity."""
        return x

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (batch axis included); the default is unchanged."""
        return tuple(input_shape)

    def get_config(self):
        """The constructor arguments; ``type(layer).from_config(layer.get_config())`` rebuilds it."""
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._input_shape_arg is not None:
            cfg["batch_input_shape"] = self._input_shape_arg
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- calling ----------------------------------------------------------------------------------
    def __call__(self, x, training=False):
        is_tensor = isinstance(x, Tensor)
        if not is_tensor:
            x = np.asarray(x)
            if x.dtype != self.dtype:
                if x.dtype.kind not in "biuf":
                    raise TypeError(f"Layer {self.name!r} ({type(self).__name__}) expects numeric input. "
                                    f"Received an array of dtype {x.dtype}.")
                x = x.astype(self.dtype)
        shape = (None,) + tuple(x.shape[1:])
        if not self.built:
            self.maybe_build(shape)
        self._check_input_shape(shape)
        kwargs = {"training": training} if self._call_takes_training else {}
        if is_tensor:
            return self.call(x, **kwargs)
        with no_grad():
            return self.call(Tensor(x), **kwargs).data

    def maybe_build(self, input_shape):
        """``build(input_shape)`` unless already built (Sequential and ``__call__`` use this)."""
        if not self.built:
            input_shape = tuple(input_shape)
            self._check_input_shape(input_shape)
            self.build(input_shape)
            self.built = True
            self._build_input_shape = input_shape

    def _check_input_shape(self, shape):
        """Raise a clear ValueError if ``shape`` (batch axis included) does not fit this layer."""
        if self._min_ndim is not None and len(shape) < self._min_ndim:
            raise ValueError(
                f"{type(self).__name__} expected input with at least {self._min_ndim} dimensions "
                f"(batch first), got input of shape {shape} (layer {self.name!r}); if x is one sample, "
                f"add the batch axis: x[None] or x.reshape(1, -1)")
        d = self._expected_last_dim
        if d is not None and shape and shape[-1] is not None and shape[-1] != d:
            raise ValueError(
                f"{type(self).__name__} expected last dimension {d}, got input of shape {shape}; "
                f"add Flatten() or reshape x (layer {self.name!r})")

    # -- weights ----------------------------------------------------------------------------------
    def add_weight(self, shape, initializer="glorot_uniform", name=None, trainable=True, dtype=None):
        """Create a ``Variable`` of ``shape`` filled by ``initializer`` and track it."""
        init = initializers.get(initializer)
        dtype = np.dtype(dtype or self.dtype)
        if _BUILDING.from_file:
            value = np.zeros(tuple(shape), dtype)                # replaced from the file (weights_from_file)
        else:
            value = np.asarray(init(tuple(shape), dtype=dtype), dtype=dtype)
        var = Variable(value, name=name or f"variable_{len(self._weights)}", trainable=trainable, dtype=dtype)
        var.requires_grad = trainable and self._trainable
        self._weights.append(var)
        return var

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for v in self._weights:
            v.requires_grad = v.trainable and self._trainable

    @property
    def trainable_weights(self):
        return [v for v in self._weights if v.trainable] if self._trainable else []

    @property
    def non_trainable_weights(self):
        return [v for v in self._weights if not (v.trainable and self._trainable)]

    @property
    def weights(self):
        """Trainable weights first, then the rest (Keras's order)."""
        return self.trainable_weights + self.non_trainable_weights

    def get_weights(self):
        """Copies of the weight arrays, in the order of ``weights``."""
        return [v.data.copy() for v in self.weights]

    def set_weights(self, weights):
        """Copy arrays into the weights in place; count and shapes must match ``get_weights()``."""
        own = self.weights
        weights = list(weights)
        expected = ", ".join(f"{v.name} {v.shape}" for v in own) or "none"
        if len(weights) != len(own):
            hint = " Build the layer first (call it on data or call build(input_shape))." if not self.built else ""
            raise ValueError(f"Layer {self.name!r} expects {len(own)} weight arrays ({expected}), "
                             f"received {len(weights)}.{hint}")
        arrays = [np.asarray(w) for w in weights]
        for v, a in zip(own, arrays):
            if a.shape != v.shape:
                raise ValueError(f"Layer {self.name!r}: weight {v.name!r} has shape {v.shape}, received an "
                                 f"array of shape {a.shape}. Expected shapes: {expected}.")
        for v, a in zip(own, arrays):
            v.assign(a)

    def count_params(self):
        """Number of scalars in all weights (the layer must be built)."""
        if not self.built:
            raise ValueError(f"You called count_params() on layer {self.name!r}, but the layer isn't built. "
                             f"Build it first: layer.build(input_shape), or call it on data.")
        return int(sum(v.size for v in self._weights))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
