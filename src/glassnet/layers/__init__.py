"""Layers, as ``keras.layers``: each file holds one idea (see layer.py for the anatomy)."""
from .layer import Layer, reset_names
from .dense import Dense
from .core import Activation, Dropout, Flatten, Input, InputLayer, LeakyReLU, ReLU, Softmax
from .conv2d import Conv2D
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from .normalization import BatchNormalization

# Keras's short aliases
Convolution2D = Conv2D
MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D

__all__ = ["Layer", "Dense", "Activation", "Dropout", "Flatten", "Input", "InputLayer",
           "LeakyReLU", "ReLU", "Softmax", "reset_names",
           "Conv2D", "Convolution2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D",
           "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D",
           "BatchNormalization"]
