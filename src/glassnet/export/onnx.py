"""ONNX export: ``to_onnx(model, path, opset=17)`` writes a glassnet ``Sequential`` as an ONNX graph.

The graph takes the same input as glassnet, channels last: images (N, H, W, C). ONNX's Conv,
MaxPool, AveragePool and BatchNormalization want (N, C, H, W), so a ``Transpose`` goes in before the
first of a run of image layers and another one after it; a Flatten therefore sees (N, H, W, C) and
keeps glassnet's order, and the Dense kernel that follows needs no change.

    Dense                     MatMul(x, kernel) + bias, then the activation
    Conv2D                    Conv (kernel (KH, KW, C, F) -> (F, C, KH, KW)); "same" padding as explicit
                              pads, the odd one at the bottom/right (as Keras/TF and glassnet)
    MaxPooling2D              MaxPool (padded cells never win)
    AveragePooling2D          AveragePool, count_include_pad=0 (padded cells not counted, as Keras)
    Global{Average,Max}Pool   GlobalAveragePool / GlobalMaxPool, then Flatten unless keepdims
    BatchNormalization        BatchNormalization in inference form (moving mean and variance)
    Flatten                   Flatten(axis=1) on channels-last data
    Dropout                   nothing (identity at inference)
    relu, sigmoid, tanh, softmax, leaky_relu, step, ReLU, LeakyReLU, Softmax: the ONNX op of that name
                              (step: Cast(Greater(x, 0)); ReLU(max_value): Clip or Min)

Anything else (a custom activation, a ReLU with a threshold, BatchNormalization on another axis, a
layer class glassnet's export does not know) raises ``NotImplementedError`` naming the layer and the
op before anything is written: a file that runs but computes something different is worse than none.
"""
import numpy as np

from .. import activations, conv
from ..layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                      GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU, MaxPooling2D, ReLU, Softmax)

DEFAULT_OPSET = 17
MIN_OPSET = 11          # Clip with min/max inputs; below that, opset-specific attributes would be needed
ONNX_HINT = 'ONNX export needs the onnx package: pip install "glassnet[onnx]" (onnx and onnxruntime)'


def import_onnx():
    """The ``onnx`` module, or an ImportError that names the extra to install."""
    try:
        import onnx
    except ImportError:
        raise ImportError(ONNX_HINT) from None
    return onnx


class _Graph:
    """The nodes and initializers built so far, and the layout of the current 4-D tensor."""

    def __init__(self, onnx, dtype, opset):
        self.onnx, self.dtype, self.opset = onnx, np.dtype(dtype), opset
        self.nodes, self.initializers = [], []
        self.layout = "nhwc"                   # for 4-D tensors: glassnet's (N, H, W, C) or ONNX's (N, C, H, W)

    def const(self, name, array):
        array = np.ascontiguousarray(array, dtype=self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, **attrs):
        out = f"{name}_out"
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out], name=name, **attrs))
        return out

    def nchw(self, x, name, ndim):
        if ndim != 4 or self.layout == "nchw":
            return x
        self.layout = "nchw"
        return self.node("Transpose", [x], f"{name}/to_nchw", perm=[0, 3, 1, 2])

    def nhwc(self, x, name, ndim):
        if ndim != 4 or self.layout == "nhwc":
            return x
        self.layout = "nhwc"
        return self.node("Transpose", [x], f"{name}/to_nhwc", perm=[0, 2, 3, 1])


def _refuse(layer, op):
    raise NotImplementedError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) uses {op}, which "
                              f"has no ONNX mapping in glassnet. Nothing was written. Hint: use the built-in "
                              f"layers and activations (relu, sigmoid, tanh, softmax, leaky_relu, step).")


def _softmax(g, x, layer, axis, ndim, name):
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        _refuse(layer, f"softmax over axis {axis!r}")
    axis = int(axis) % ndim
    if g.opset < 13 and axis != ndim - 1:
        raise ValueError(f"ONNX export: layer {layer.name!r} applies Softmax on axis {axis} of a {ndim}-D "
                         f"tensor, which opset {g.opset} cannot express (before opset 13 Softmax flattens "
                         f"from the axis on). Use opset >= 13. Nothing was written.")
    x = g.nhwc(x, name, ndim)                                  # the axis is counted in glassnet's layout
    return g.node("Softmax", [x], name, axis=axis)


def _activation(g, x, layer, fn, ndim, name):
    """The ONNX op(s) for one glassnet activation function; ``linear`` adds nothing."""
    try:
        key = activations.serialize(fn)
    except ValueError:
        _refuse(layer, f"the custom activation {getattr(fn, '__name__', fn)!r}")
    if key == "linear":
        return x
    if key == "softmax":
        return _softmax(g, x, layer, -1, ndim, name)
    if key == "step":                                          # 1 if x > 0 else 0
        zero = g.const(f"{name}/zero", np.zeros(()))
        positive = g.node("Greater", [x, zero], f"{name}/greater")
        return g.node("Cast", [positive], name, to=g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype))
    if key == "leaky_relu":
        return g.node("LeakyRelu", [x], name, alpha=0.2)       # activations.leaky_relu's default slope
    return g.node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[key], [x], name)


# -- one converter per layer type: (graph, layer, x, input shape) -> x ----------------------------------
def _dense(g, layer, x, shape):
    x = g.nhwc(x, layer.name, len(shape))
    y = g.node("MatMul", [x, g.const(f"{layer.name}/kernel", layer.kernel.data)], f"{layer.name}/matmul")
    if layer.use_bias:
        y = g.node("Add", [y, g.const(f"{layer.name}/bias", layer.bias.data)], f"{layer.name}/bias_add")
    return _activation(g, y, layer, layer.activation, len(shape), f"{layer.name}/activation")


def _window_pads(layer, shape, window, strides):
    (top, bottom), (left, right) = (conv.padding_amounts(shape[axis], k, s, layer.padding)
                                    for axis, k, s in zip((1, 2), window, strides))
    return [top, left, bottom, right]                          # ONNX order: begins, then ends


def _conv2d(g, layer, x, shape):
    x = g.nchw(x, layer.name, 4)
    inputs = [x, g.const(f"{layer.name}/kernel", layer.kernel.data.transpose(3, 2, 0, 1))]  # (F, C, KH, KW)
    if layer.use_bias:
        inputs.append(g.const(f"{layer.name}/bias", layer.bias.data))
    y = g.node("Conv", inputs, f"{layer.name}/conv", kernel_shape=list(layer.kernel_size),
               strides=list(layer.strides), pads=_window_pads(layer, shape, layer.kernel_size, layer.strides))
    return _activation(g, y, layer, layer.activation, 4, f"{layer.name}/activation")


def _pool2d(g, layer, x, shape):
    x = g.nchw(x, layer.name, 4)
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides),
             "pads": _window_pads(layer, shape, layer.pool_size, layer.strides)}
    if isinstance(layer, AveragePooling2D):
        return g.node("AveragePool", [x], layer.name, count_include_pad=0, **attrs)
    return g.node("MaxPool", [x], layer.name, **attrs)


def _global_pool2d(g, layer, x, shape):
    x = g.nchw(x, layer.name, 4)
    op = "GlobalAveragePool" if isinstance(layer, GlobalAveragePooling2D) else "GlobalMaxPool"
    y = g.node(op, [x], layer.name)                            # (N, C, 1, 1)
    if layer.keepdims:
        return y
    g.layout = "nhwc"                                          # 2-D from here on
    return g.node("Flatten", [y], f"{layer.name}/flatten", axis=1)


def _batch_norm(g, layer, x, shape):
    ndim, axis = len(shape), layer.axis % len(shape)
    if (ndim, axis) not in ((2, 1), (4, 3)):
        _refuse(layer, f"BatchNormalization over axis {layer.axis} of a {ndim}-D input (supported: the "
                       f"last axis of 2-D or 4-D inputs)")
    x = g.nchw(x, layer.name, ndim)
    c = layer.moving_mean.shape[0]
    gamma = layer.gamma.data if layer.gamma is not None else np.ones(c)
    beta = layer.beta.data if layer.beta is not None else np.zeros(c)
    stats = [g.const(f"{layer.name}/{key}", value) for key, value in (
        ("gamma", gamma), ("beta", beta), ("moving_mean", layer.moving_mean.data),
        ("moving_variance", layer.moving_variance.data))]
    return g.node("BatchNormalization", [x] + stats, layer.name, epsilon=layer.epsilon)


def _flatten(g, layer, x, shape):
    x = g.nhwc(x, layer.name, len(shape))                      # glassnet's (channels-last) order
    return g.node("Flatten", [x], layer.name, axis=1)


def _relu(g, layer, x, shape):
    if layer.threshold != 0:
        _refuse(layer, f"ReLU(threshold={layer.threshold})")
    if layer.negative_slope == 0 and layer.max_value is None:
        return g.node("Relu", [x], layer.name)
    if layer.negative_slope == 0:                              # min(max(x, 0), max_value)
        low, high = g.const(f"{layer.name}/min", np.zeros(())), g.const(f"{layer.name}/max", layer.max_value)
        return g.node("Clip", [x, low, high], layer.name)
    y = g.node("LeakyRelu", [x], f"{layer.name}/leaky", alpha=layer.negative_slope)
    if layer.max_value is None:
        return y
    return g.node("Min", [y, g.const(f"{layer.name}/max", layer.max_value)], layer.name)


CONVERTERS = {
    Dense: _dense, Conv2D: _conv2d, MaxPooling2D: _pool2d, AveragePooling2D: _pool2d,
    GlobalAveragePooling2D: _global_pool2d, GlobalMaxPooling2D: _global_pool2d,
    BatchNormalization: _batch_norm, Flatten: _flatten, ReLU: _relu,
    Dropout: lambda g, layer, x, shape: x,                    # identity at inference
    Activation: lambda g, layer, x, shape: _activation(g, x, layer, layer.activation, len(shape), layer.name),
    LeakyReLU: lambda g, layer, x, shape: g.node("LeakyRelu", [x], layer.name, alpha=layer.negative_slope),
    Softmax: lambda g, layer, x, shape: _softmax(g, x, layer, layer.axis, len(shape), layer.name),
}


def to_onnx(model, path=None, opset=DEFAULT_OPSET):
    """Convert a built glassnet ``Sequential`` to an ONNX ``ModelProto``; also save it if ``path`` is given.

    Args:
        model: a built ``Sequential`` made of the layers listed in this module's docstring.
        path: where to write the ``.onnx`` file (optional).
        opset: the ONNX opset, ``MIN_OPSET`` (11) up to what the installed ``onnx`` knows; default 17.

    Input: "input", (N, ...) exactly as ``model.predict`` takes it (images channels last), with a
    symbolic batch axis "N". Output: "output", as ``model.predict`` returns it.

    Returns:
        the checked ``onnx.ModelProto`` (``onnx.checker.check_model`` has passed).

    Raises:
        ImportError: onnx is not installed (``pip install "glassnet[onnx]"``).
        NotImplementedError: a layer or activation without an ONNX mapping (the message names it).
        ValueError: an unbuilt model, an opset out of range, or an op the opset cannot express.

    Example::

        >>> to_onnx(model, "mnist.onnx")                                       # doctest: +SKIP
        >>> onnxruntime.InferenceSession("mnist.onnx").run(None, {"input": x})[0]  # doctest: +SKIP
    """
    onnx = import_onnx()
    if not getattr(model, "built", False) or model.input_shape is None:
        raise ValueError("to_onnx needs a built model: give the first layer input_shape=... or call "
                         "model.build(input_shape) (or predict) first.")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"to_onnx: opset must be an int from {MIN_OPSET} to {newest} (the installed onnx "
                         f"{onnx.__version__}). Received: opset={opset!r}")
    g = _Graph(onnx, model.dtype, int(opset))
    x, shape = "input", tuple(model.input_shape)
    for layer in model.layers:
        convert = CONVERTERS.get(type(layer))
        if convert is None:
            _refuse(layer, f"the layer type {type(layer).__name__}")
        x = convert(g, layer, x, shape)
        shape = tuple(layer.compute_output_shape(shape))
    x = g.nhwc(x, "output", len(shape))
    if g.nodes and g.nodes[-1].output[0] == x:
        g.nodes[-1].output[0] = "output"
    else:
        g.node("Identity", [x], "output")
        g.nodes[-1].output[0] = "output"
    return _finish(onnx, g, model, shape, path)


def _finish(onnx, g, model, out_shape, path):
    from .. import __version__
    helper, elem = onnx.helper, onnx.helper.np_dtype_to_tensor_dtype(g.dtype)

    def dims(shape):
        return ["N"] + [d if d is not None else f"d{i}" for i, d in enumerate(shape[1:], 1)]

    graph = helper.make_graph(
        g.nodes, model.name, [helper.make_tensor_value_info("input", elem, dims(model.input_shape))],
        [helper.make_tensor_value_info("output", elem, dims(out_shape))], g.initializers)
    proto = helper.make_model(graph, producer_name="glassnet", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", g.opset)],
                              doc_string="Exported by glassnet.export.to_onnx; input channels last.")
    proto.ir_version = min(proto.ir_version, _IR_FOR_OPSET.get(g.opset, proto.ir_version))
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, str(path))
    return proto


# The oldest IR version that carries each opset, so older runtimes can still open the file.
_IR_FOR_OPSET = {11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}
