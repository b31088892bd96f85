"""glassnet: deep learning you can see through.

A Keras-shaped neural-network library written from the math up in NumPy alone, so that
``import glassnet as keras`` runs classic Keras tutorial code and every formula is a short read.

Where each formula lives: see the README's table (engine.py for the chain rule, ops.py for each
op's derivative, activations.py, losses.py, layers/, optimizers.py, metrics.py, models/training.py).
"""
from . import config
from .engine import Tensor, Variable, no_grad, is_grad_enabled
from .ops import (exp, log, sqrt, abs, sin, cos, maximum, clip, where, matmul, concatenate)
from .activations import sigmoid, tanh, relu, softmax, leaky_relu
from .gradcheck import gradcheck
from . import activations, initializers, layers, losses, metrics, optimizers, callbacks, utils, models
from .models import Sequential, save_model, load_model
from .layers import Input


def __getattr__(name):
    """``glassnet.datasets`` is imported on first use: it pulls in http/urllib/certifi (~30 ms)."""
    if name == "datasets":
        import importlib
        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")

from .trace import Trace

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Variable", "no_grad", "is_grad_enabled", "gradcheck",
    "exp", "log", "sqrt", "abs", "sin", "cos", "maximum", "clip", "where", "matmul", "concatenate",
    "sigmoid", "tanh", "relu", "softmax", "leaky_relu",
    "activations", "initializers", "layers", "losses", "metrics", "optimizers", "callbacks", "utils",
    "models", "datasets", "Sequential", "Input", "save_model", "load_model", "config",
    "Trace",
]
