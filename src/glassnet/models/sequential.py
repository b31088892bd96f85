"""Sequential: a plain stack of layers, each feeding the next (``keras.Sequential``)."""
import numpy as np

from .. import config, conv_fused
from ..engine import Tensor, no_grad
from ..layers import Conv2D, InputLayer, Layer, MaxPooling2D
from .training import Trainer

_counter = {}


def _unique_name(base):
    n = _counter.get(base, 0)
    _counter[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _fused_plan(layers, calls):
    """The calls ``_forward`` makes: one per layer, except that a Conv2D with ReLU (or no activation)
    followed by a MaxPooling2D with disjoint windows runs as one op (``conv_fused``: pooling before
    ReLU, the same numbers in less time). ``layer_outputs`` keeps to one call per layer."""
    plan, i = [], 0
    while i < len(layers):
        layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if _fuses(layer, after):
            plan.append((_conv_then_pool(layer, after), False))
            i += 2
        else:
            plan.append(calls[i])
            i += 1
    return plan


def _fuses(layer, after):
    """Whether ``layer`` and the layer ``after`` it run as one fused op."""
    return (isinstance(layer, Conv2D) and layer.fuses_pooling and type(after) is MaxPooling2D
            and conv_fused.can_pool(after))


def _conv_then_pool(conv, pool):
    """One plan step for a Conv2D and the MaxPooling2D after it: fused while they still qualify
    (an activation or pooling setting changed after build() falls back to the two calls)."""
    def step(x):
        if conv.fuses_pooling and conv_fused.can_pool(pool):
            return conv.call_pooled(x, pool.pool_size)
        return pool.call(conv.call(x))
    return step


class Sequential(Trainer):
    """``Sequential([Dense(100, activation="relu", input_shape=(784,)), Dense(10)])``.

    Args:
        layers: a list of layers (the first may be ``glassnet.Input(shape)``); more with ``add``.
        name: the model's name (default "sequential", "sequential_1", ...).
    """

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or _unique_name("sequential")
        self._layers = []
        self._input_shape = None
        self.built = False
        self.history = None
        self.compile_config = None
        for layer in layers or []:
            self.add(layer)

    # -- structure -------------------------------------------------------------------------------------
    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer):
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("An Input/InputLayer can only be the first element of a Sequential model.")
            self._input_shape = tuple(layer.batch_shape)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a glassnet layer (e.g. glassnet.layers.Dense). "
                            f"Received: {layer!r} of type {type(layer).__name__}")
        if not self._layers and self._input_shape is None and getattr(layer, "_input_shape_arg", None):
            self._input_shape = tuple(layer._input_shape_arg)
        if any(other.name == layer.name for other in self._layers):
            raise ValueError(f"Layer names must be unique within a model; {layer.name!r} is used twice.")
        self._layers.append(layer)
        self.built = False
        if self._input_shape is not None:
            self.build(self._input_shape)

    def pop(self):
        if not self._layers:
            raise IndexError("pop() on a Sequential model with no layers.")
        layer = self._layers.pop()
        self.built = False
        if self._input_shape is not None and self._layers:
            self.build(self._input_shape)
        return layer

    @property
    def dtype(self):
        return np.dtype(config.floatx())

    @property
    def input_shape(self):
        return self._input_shape

    def build(self, input_shape=None):
        """Create every layer's weights by passing the shape (None, ...) through the stack."""
        shape = tuple(input_shape if input_shape is not None else self._input_shape or ())
        if not shape:
            raise ValueError("build() needs an input shape, e.g. model.build((None, 784)), or give the first "
                             "layer input_shape=... .")
        self._input_shape = shape
        self._shapes = []
        self._calls = []
        for layer in self._layers:
            layer.maybe_build(shape)
            layer._check_input_shape(shape)          # a built layer must still fit (bad input #1)
            shape = tuple(layer.compute_output_shape(shape))
            self._shapes.append(shape)
            self._calls.append((layer.call, layer._call_takes_training))
        self._plan = _fused_plan(self._layers, self._calls)
        self.built = True

    @property
    def output_shape(self):
        if not self.built:
            raise ValueError("The model has not been built yet: give the first layer input_shape=... or "
                             "call fit/predict/build first.")
        return self._shapes[-1] if self._shapes else self._input_shape

    def _forward(self, x, training=False):
        for call, takes_training in self._plan:
            x = call(x, training=training) if takes_training else call(x)
        return x

    def __call__(self, x, training=False):
        """Calling the model: Tensor in → Tensor out (with graph); array in → array out."""
        if isinstance(x, Tensor):
            if not self.built:
                self.build((None,) + x.shape[1:])
            return self._forward(x, training=training)
        x = np.asarray(x, dtype=self.dtype)
        if not self.built:
            self.build((None,) + x.shape[1:])
        with no_grad():
            return self._forward(Tensor(x), training=training).data

    def layer_outputs(self, x):
        """Look inside: the output of every layer for input ``x``, as a list of arrays (inference mode).

        ``outputs[i]`` is what ``model.layers[i]`` produced, e.g. for the CIFAR CNN the feature maps
        (N, 30, 30, 32) after the first Conv2D (its ReLU included), (N, 15, 15, 32) after pooling, ...,
        and ``outputs[-1] == model.predict(x)``. (A Conv2D and the MaxPooling2D after it run as one op
        in ``predict``, whose products may round differently from the Conv2D's alone (``conv_winograd``):
        the pooling layer's output here is that op's, so that the two agree exactly.) Keras 3 spells this
        ``keras.Model(model.inputs, [layer.output for layer in model.layers])(x)``.

        Example:
            >>> from glassnet.layers import Dense
            >>> model = Sequential([Dense(3, input_shape=(2,)), Dense(1)])
            >>> [a.shape for a in model.layer_outputs(np.zeros((5, 2)))]
            [(5, 3), (5, 1)]
        """
        x = np.asarray(x, dtype=self.dtype)
        if not self.built:
            self.build((None,) + x.shape[1:])
        inputs, outputs, layers = [Tensor(x)], [], self._layers      # inputs[i]: the input of layers[i]
        with no_grad():
            for i, (call, takes_training) in enumerate(self._calls):
                if i and _fuses(layers[i - 1], layers[i]):      # as predict runs the pair: one op
                    t = _conv_then_pool(layers[i - 1], layers[i])(inputs[i - 1])
                else:
                    t = call(inputs[i], training=False) if takes_training else call(inputs[i])
                inputs.append(t)
                outputs.append(t.data)
        return outputs

    def _final_activation(self):
        for layer in reversed(self._layers):
            act = getattr(layer, "activation", None)
            if act is not None:
                name = getattr(act, "__name__", "")
                if name != "linear":
                    return name
                return "linear"
        return None

    # -- weights ----------------------------------------------------------------------------------------
    @property
    def weights(self):
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def get_weights(self):
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"set_weights expected a list of {len(mine)} arrays, received {len(weights)}.")
        for w, value in zip(mine, weights):
            if np.shape(value) != w.shape:
                raise ValueError(f"set_weights: weight {w.name!r} has shape {w.shape}, received an array "
                                 f"of shape {np.shape(value)}.")
        for w, value in zip(mine, weights):
            w.data[...] = value

    def count_params(self):
        if not self.built:
            raise ValueError("count_params() needs a built model (give input_shape or call build()).")
        return int(sum(w.size for w in self.weights))

    # -- description ------------------------------------------------------------------------------------
    def get_config(self):
        layers = []
        if self._input_shape is not None:
            layers.append({"class_name": "InputLayer",
                           "config": {"batch_shape": list(self._input_shape), "name": "input_layer"}})
        for layer in self._layers:
            layers.append({"class_name": type(layer).__name__, "config": layer.get_config()})
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving import get_layer_class
        model = cls(name=config.get("name"))
        for entry in config["layers"]:
            layer_cls = get_layer_class(entry["class_name"])
            if layer_cls is InputLayer:
                model.add(InputLayer(shape=tuple(entry["config"]["batch_shape"])[1:]))
            else:
                model.add(layer_cls.from_config(entry["config"]))
        return model

    def summary(self, line_length=None, positions=None, print_fn=None):
        """Print Keras's table: layer (type), output shape, parameter count, then the totals."""
        from .summary import summary_lines
        for line in summary_lines(self, line_length):
            (print_fn or print)(line)

    # -- files ------------------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True):
        from ..saving import save_model
        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        from ..saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, strict=False):
        from ..saving import load_weights
        load_weights(self, filepath, strict=strict)
