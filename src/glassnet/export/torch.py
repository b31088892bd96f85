"""PyTorch export and import: ``to_torch(model)`` -> ``torch.nn.Sequential``, ``from_torch(module, input_shape)``.

The PyTorch side follows PyTorch's conventions, so the module trains with anything written for
PyTorch (``DistributedDataParallel`` included) and holds only standard ``torch.nn`` modules:

* **Images are (N, C, H, W)** there: feed ``torch.from_numpy(x.transpose(0, 3, 1, 2))``. A 4-D output
  (a model that ends on a conv or pooling layer) comes back (N, C, H, W) as well.
* **Kernels**: Dense ``kernel (D, U)`` <-> ``Linear.weight (U, D)`` (transposed); Conv2D ``kernel
  (KH, KW, C, F)`` <-> ``Conv2d.weight (F, C, KH, KW)``.
* **Flatten order**: glassnet flattens (H, W, C), ``nn.Flatten`` flattens (C, H, W). Instead of a
  permute module, the columns of the Linear layer after the Flatten are permuted (and the
  parameters of a BatchNorm1d in between), so both compute the same numbers.
* **"same" padding** puts the odd pixel at the bottom/right (Keras/TF): symmetric amounts become the
  layer's ``padding``, asymmetric ones an ``nn.ZeroPad2d`` before the conv (``nn.ConstantPad2d`` of
  -inf before a max pool).
* **BatchNormalization**: ``momentum_torch = 1 - momentum_keras``; ``eps`` unchanged. (PyTorch updates
  ``running_var`` with the unbiased batch variance, Keras with the biased one: training differs in that
  detail, inference does not.)

``to_torch`` returns the module in ``eval()`` mode (Dropout off, BatchNorm on its running
statistics), where it computes what ``model.predict`` does. ``from_torch`` reads the same family of
modules back (a nested ``nn.Sequential`` is flattened); anything else raises ``NotImplementedError``
naming the module.
"""
import numpy as np

from .. import activations, conv
from ..layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input,
                      GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU, MaxPooling2D, ReLU, Softmax)

TORCH_HINT = 'PyTorch export needs torch: pip install "glassnet[torch]"'
_NHWC_TO_NCHW_AXIS = {1: 2, 2: 3, 3: 1}


def import_torch():
    try:
        import torch
    except ImportError:
        raise ImportError(TORCH_HINT) from None
    return torch


def flatten_permutation(h, w, c):
    """``perm[k]``: the glassnet (H, W, C) flat index of the k-th feature of ``nn.Flatten`` on (C, H, W)."""
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


def _refuse(what, op):
    raise NotImplementedError(f"PyTorch conversion: {what} uses {op}, which has no exact counterpart here. "
                              f"Hint: use the layers and activations listed in glassnet.export.torch.")


def _pads(shape, window, strides, padding):
    """((top, bottom), (left, right)) for an (N, H, W, C) input, as glassnet (and Keras) pad."""
    return tuple(conv.padding_amounts(shape[axis], k, s, padding) for axis, k, s in zip((1, 2), window, strides))


# -- glassnet -> torch --------------------------------------------------------------------------------------
def to_torch(model):
    """A ``torch.nn.Sequential`` (in eval mode) computing what the built glassnet ``model`` computes.

    Raises:
        ImportError: torch is not installed.
        NotImplementedError: a layer or setting without an exact PyTorch counterpart (named).
        ValueError: the model is not built.
    """
    torch = import_torch()
    nn = torch.nn
    if not getattr(model, "built", False):
        raise ValueError("to_torch needs a built model: give the first layer input_shape=... or call build().")
    modules, shape, perm = [], tuple(model.input_shape), None

    def tensor(array):
        return torch.from_numpy(np.ascontiguousarray(array))

    def act(fn, layer, ndim):
        try:
            key = activations.serialize(fn)
        except ValueError:
            _refuse(f"layer {layer.name!r}", f"the custom activation {getattr(fn, '__name__', fn)!r}")
        simple = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
        if key in simple:
            modules.append(simple[key]())
        elif key == "leaky_relu":
            modules.append(nn.LeakyReLU(0.2))
        elif key == "softmax":
            modules.append(nn.Softmax(dim=1 if ndim == 4 else -1))
        elif key != "linear":
            _refuse(f"layer {layer.name!r}", f"the activation {key!r}")

    for layer in model.layers:
        ndim, what = len(shape), f"layer {layer.name!r} ({type(layer).__name__})"
        if isinstance(layer, Dense):
            if ndim != 2:
                _refuse(what, f"Dense on a {ndim}-D input (add Flatten first)")
            kernel = layer.kernel.data if perm is None else layer.kernel.data[perm]
            linear = nn.Linear(kernel.shape[0], layer.units, bias=layer.use_bias)
            linear.weight.data = tensor(kernel.T)
            if layer.use_bias:
                linear.bias.data = tensor(layer.bias.data)
            modules.append(linear)
            perm = None
            act(layer.activation, layer, 2)
        elif isinstance(layer, Conv2D):
            (t, b), (l, r) = _pads(shape, layer.kernel_size, layer.strides, layer.padding)
            if (t, l) != (b, r):
                modules.append(nn.ZeroPad2d((l, r, t, b)))
                t = l = 0
            c2d = nn.Conv2d(shape[-1], layer.filters, layer.kernel_size, layer.strides, (t, l), bias=layer.use_bias)
            c2d.weight.data = tensor(layer.kernel.data.transpose(3, 2, 0, 1))
            if layer.use_bias:
                c2d.bias.data = tensor(layer.bias.data)
            modules.append(c2d)
            act(layer.activation, layer, 4)
        elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
            (t, b), (l, r) = _pads(shape, layer.pool_size, layer.strides, layer.padding)
            if isinstance(layer, MaxPooling2D):
                if (t, l) != (b, r):
                    modules.append(nn.ConstantPad2d((l, r, t, b), float("-inf")))
                    t = l = 0
                modules.append(nn.MaxPool2d(layer.pool_size, layer.strides, (t, l)))
            elif (t, l) != (b, r):
                _refuse(what, f"'same' average pooling with uneven padding {((t, b), (l, r))} (PyTorch pads "
                              f"evenly; padded cells must not be counted)")
            else:
                modules.append(nn.AvgPool2d(layer.pool_size, layer.strides, (t, l), count_include_pad=False))
        elif isinstance(layer, (GlobalAveragePooling2D, GlobalMaxPooling2D)):
            pool = nn.AdaptiveAvgPool2d if isinstance(layer, GlobalAveragePooling2D) else nn.AdaptiveMaxPool2d
            modules.append(pool(1))
            if not layer.keepdims:
                modules.append(nn.Flatten())
        elif isinstance(layer, BatchNormalization):
            if (ndim, layer.axis % ndim) not in ((2, 1), (4, 3)):
                _refuse(what, f"BatchNormalization over axis {layer.axis} of a {ndim}-D input")
            c = layer.moving_mean.shape[0]
            momentum = round(1 - layer.momentum, 12)                     # Keras 0.99 <-> PyTorch 0.01
            bn = (nn.BatchNorm1d if ndim == 2 else nn.BatchNorm2d)(c, eps=layer.epsilon, momentum=momentum)
            order = slice(None) if perm is None else perm
            for target, var, default in ((bn.weight, layer.gamma, 1.0), (bn.bias, layer.beta, 0.0)):
                target.data = tensor(var.data[order]) if var is not None else torch.full((c,), default)
                target.requires_grad_(var is not None)
            bn.running_mean.data = tensor(layer.moving_mean.data[order])
            bn.running_var.data = tensor(layer.moving_variance.data[order])
            modules.append(bn)
        elif isinstance(layer, Flatten):
            modules.append(nn.Flatten())
            if ndim == 4 and shape[1] * shape[2] > 1:
                perm = flatten_permutation(*shape[1:])
        elif isinstance(layer, Dropout):
            if layer.noise_shape is not None:
                _refuse(what, "Dropout with a noise_shape")
            modules.append(nn.Dropout(layer.rate))
        elif isinstance(layer, Activation):
            act(layer.activation, layer, ndim)
        elif isinstance(layer, LeakyReLU):
            modules.append(nn.LeakyReLU(layer.negative_slope))
        elif isinstance(layer, ReLU):
            if layer.threshold != 0 or (layer.negative_slope != 0 and layer.max_value is not None):
                _refuse(what, "ReLU with a threshold, or with both negative_slope and max_value")
            if layer.max_value is not None:
                modules.append(nn.Hardtanh(0.0, layer.max_value))      # min(max(x, 0), max_value)
            else:
                modules.append(nn.LeakyReLU(layer.negative_slope) if layer.negative_slope else nn.ReLU())
        elif isinstance(layer, Softmax):
            axis = layer.axis % ndim if isinstance(layer.axis, (int, np.integer)) else None
            if axis is None or axis == 0 or (perm is not None and axis != ndim - 1):
                _refuse(what, f"Softmax over axis {layer.axis!r}")
            modules.append(nn.Softmax(dim=_NHWC_TO_NCHW_AXIS[axis] if ndim == 4 else axis))
        else:
            _refuse(what, f"the layer type {type(layer).__name__}")
        shape = tuple(layer.compute_output_shape(shape))
    if perm is not None:
        _refuse("the model", "a Flatten of images that is not followed by a Dense layer (the output order "
                             "would differ)")
    return nn.Sequential(*modules).to(getattr(torch, model.dtype.name)).eval()


# -- torch -> glassnet --------------------------------------------------------------------------------------
def _leaves(module, nn):
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child, nn)]
    return [module]


def _padding_of(shape, window, strides, pads, name):
    """"valid" or "same" for explicit ((top, bottom), (left, right)) pads on an (N, H, W, C) input."""
    if pads == ((0, 0), (0, 0)):
        return "valid"
    if pads == _pads(shape, window, strides, "same"):
        return "same"
    _refuse(name, f"padding {pads}, which is neither 'valid' nor Keras's 'same' for input {shape}")


def from_torch(module, input_shape):
    """A glassnet ``Sequential`` equal to a ``torch.nn.Sequential`` of the modules ``to_torch`` makes.

    Args:
        module: an ``nn.Sequential`` (nested ones are flattened) of Linear, Conv2d, MaxPool2d,
            AvgPool2d, AdaptiveAvgPool2d(1), AdaptiveMaxPool2d(1), BatchNorm1d/2d, Flatten, Dropout,
            ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Hardtanh(0, m), ZeroPad2d / ConstantPad2d(-inf)
            before a conv / max pool, Identity. Wrapped by DDP? pass ``ddp.module``.
        input_shape: one sample **as glassnet sees it**, channels last: ``(28, 28, 1)`` for images the
            PyTorch module takes as (N, 1, 28, 28); ``(784,)`` for vectors.

    Returns:
        the built model, with copies of the weights (the weights are transposed and permuted only,
        so outputs are identical up to floating-point summation order).
    """
    torch = import_torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module (an nn.Sequential). Received: {type(module).__name__}")
    shape, perm, pads = (None,) + tuple(int(d) for d in input_shape), None, None
    built = []                                    # [(glassnet layer, [weight arrays] or None)]
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    dtype = str(dtype).replace("torch.", "")

    def numpy(t):
        return t.detach().cpu().numpy().copy()

    def add(layer, weights=None):
        nonlocal shape
        built.append((layer, weights))
        shape = tuple(layer.compute_output_shape(shape))
        return layer

    def fold(name, make_layer):
        """An activation module right after a Dense/Conv2D without one becomes that layer's activation."""
        last = built[-1][0] if built else None
        if isinstance(last, (Dense, Conv2D)) and last.activation is activations.linear:
            last.activation = activations.get(name)
        else:
            add(make_layer())

    for m in _leaves(module, nn):
        ndim, name = len(shape), f"module {type(m).__name__}"
        if pads is not None and not isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            _refuse(name, "a padding module that is not followed by Conv2d / MaxPool2d")
        if isinstance(m, nn.Identity):
            continue
        if isinstance(m, nn.Linear):
            kernel = numpy(m.weight).T                              # (D, U)
            if perm is not None:
                kernel, perm = kernel[np.argsort(perm)], None       # row perm[k] <- row k
            add(Dense(m.out_features, use_bias=m.bias is not None, dtype=dtype),
                [kernel] + ([numpy(m.bias)] if m.bias is not None else []))
        elif isinstance(m, nn.Conv2d):
            if m.dilation != (1, 1) or m.groups != 1 or m.padding_mode != "zeros":
                _refuse(name, f"dilation {m.dilation}, groups {m.groups}, padding_mode {m.padding_mode!r}")
            if isinstance(m.padding, str):
                padding = m.padding                                  # "valid", or "same" (stride 1: as Keras)
            else:
                given = pads or ((m.padding[0],) * 2, (m.padding[1],) * 2)
                padding = _padding_of(shape, m.kernel_size, m.stride, given, name)
            pads = None
            add(Conv2D(m.out_channels, m.kernel_size, m.stride, padding, use_bias=m.bias is not None, dtype=dtype),
                [numpy(m.weight).transpose(2, 3, 1, 0)] + ([numpy(m.bias)] if m.bias is not None else []))
        elif isinstance(m, (nn.ZeroPad2d, nn.ConstantPad2d)):
            l, r, t, b = m.padding
            if isinstance(m, nn.ConstantPad2d) and not (m.value == 0 or m.value == float("-inf")):
                _refuse(name, f"padding with the value {m.value}")
            pads = ((t, b), (l, r))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            is_max = isinstance(m, nn.MaxPool2d)
            window = tuple(np.broadcast_to(m.kernel_size, 2).tolist())
            strides = tuple(np.broadcast_to(m.stride or m.kernel_size, 2).tolist())
            p = tuple(np.broadcast_to(m.padding, 2).tolist())
            bad = m.ceil_mode or (getattr(m, "dilation", 1) not in (1, (1, 1))) or \
                (not is_max and (m.divisor_override or (any(p) and m.count_include_pad)))
            if bad:
                _refuse(name, "ceil_mode, dilation, divisor_override or count_include_pad with padding")
            padding = _padding_of(shape, window, strides, pads or ((p[0],) * 2, (p[1],) * 2), name)
            pads = None
            add((MaxPooling2D if is_max else AveragePooling2D)(window, strides, padding, dtype=dtype))
        elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            if tuple(np.broadcast_to(m.output_size, 2).tolist()) != (1, 1):
                _refuse(name, f"output_size {m.output_size} (only 1, a global pooling)")
            pool = GlobalAveragePooling2D if isinstance(m, nn.AdaptiveAvgPool2d) else GlobalMaxPooling2D
            add(pool(keepdims=True, dtype=dtype))
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                _refuse(name, f"start_dim={m.start_dim}, end_dim={m.end_dim}")
            last = built[-1][0] if built else None
            if isinstance(last, (GlobalAveragePooling2D, GlobalMaxPooling2D)) and last.keepdims:
                last.keepdims, shape = False, (None, shape[-1])     # pool + flatten = one global pooling
                continue
            if ndim == 4 and shape[1] * shape[2] > 1:
                perm = flatten_permutation(*shape[1:])
            add(Flatten(dtype=dtype))
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if m.running_mean is None or (ndim, isinstance(m, nn.BatchNorm2d)) not in ((2, False), (4, True)):
                _refuse(name, "no running statistics, or an input of another rank")
            order = slice(None) if perm is None else np.argsort(perm)
            stats = [numpy(m.running_mean)[order], numpy(m.running_var)[order]]
            # to_torch stands in for a missing gamma / beta with frozen ones / zeros: read those back as absent
            scale = m.affine and (m.weight.requires_grad or not bool((m.weight == 1).all()))
            center = m.affine and (m.bias.requires_grad or not bool((m.bias == 0).all()))
            affine = ([numpy(m.weight)[order]] if scale else []) + ([numpy(m.bias)[order]] if center else [])
            momentum = round(1 - (m.momentum if m.momentum is not None else 0.1), 12)
            add(BatchNormalization(momentum=momentum, epsilon=m.eps, center=center, scale=scale, dtype=dtype),
                affine + stats)
        elif isinstance(m, nn.Dropout):
            add(Dropout(m.p, dtype=dtype))
        elif isinstance(m, (nn.ReLU, nn.Sigmoid, nn.Tanh)):
            key = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}[type(m)]
            fold(key, lambda: Activation(key, dtype=dtype))
        elif isinstance(m, nn.LeakyReLU):
            if m.negative_slope == 0.2:
                fold("leaky_relu", lambda: LeakyReLU(m.negative_slope, dtype=dtype))
            else:
                add(LeakyReLU(m.negative_slope, dtype=dtype))
        elif isinstance(m, nn.Hardtanh):
            if m.min_val != 0:
                _refuse(name, f"min_val={m.min_val} (only Hardtanh(0, max) = ReLU(max_value))")
            add(ReLU(max_value=m.max_val, dtype=dtype))
        elif isinstance(m, nn.Softmax):
            dim = (m.dim if m.dim is not None else 1) % ndim
            axis = {1: 3, 2: 1, 3: 2}[dim] if ndim == 4 else dim
            if axis == 0 or (perm is not None and axis != ndim - 1):
                _refuse(name, f"Softmax over dim {m.dim}")
            if axis == ndim - 1:
                fold("softmax", lambda: Softmax(dtype=dtype))
            else:
                add(Softmax(axis=axis, dtype=dtype))
        else:
            _refuse(name, "a module type glassnet does not have")
    if pads is not None or perm is not None:
        _refuse("the module", "a trailing padding module, or a Flatten of images not followed by a Linear")
    from ..models import Sequential
    model = Sequential([Input(input_shape, dtype=dtype)] + [layer for layer, _ in built])
    for layer, weights in built:
        if weights is not None:
            layer.set_weights(weights)
    return model
