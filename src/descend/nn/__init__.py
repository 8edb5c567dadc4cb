"""Neural-network building blocks with PyTorch's names: modules, layers, activations, losses.

::

    import descend
    from descend import nn

    model = nn.MLP([784, 256, 256, 10])          # Linear-ReLU-Linear-ReLU-Linear
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()                               # gradients in p.grad for p in model.parameters()

Submodules: :mod:`~descend.nn.functional` (stateless functions),
:mod:`~descend.nn.init` (initialisers), :mod:`~descend.nn.utils` (gradient
clipping, parameter vectors).
"""

from . import functional, init, utils  # noqa: F401
from .activations import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .conv import AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, Dropout2d, LeNet, MaxPool2d
from .layers import MLP, BatchNorm1d, Dropout, Flatten, Identity, Linear
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from .module import Module, ModuleList, Parameter, Sequential

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList",
    "Linear", "Dropout", "BatchNorm1d", "Identity", "Flatten", "MLP",
    "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d", "Dropout2d", "LeNet",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softplus", "ELU", "Softmax", "LogSoftmax",
    "MSELoss", "L1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "functional", "init", "utils",
]
