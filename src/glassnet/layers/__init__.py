"""Layers, as ``keras.layers``: each file holds one idea (see layer.py for the anatomy)."""
from .layer import Layer, reset_names
from .dense import Dense
from .core import Activation, Dropout, Flatten, Input, InputLayer, LeakyReLU, ReLU, Softmax

__all__ = ["Layer", "Dense", "Activation", "Dropout", "Flatten", "Input", "InputLayer",
           "LeakyReLU", "ReLU", "Softmax", "reset_names"]
