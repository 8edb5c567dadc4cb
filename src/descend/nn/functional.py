"""Stateless network functions: activations, softmax (and, with the nn layer, losses)."""

from ..ops.activation import elu, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, softplus
from ..ops.elementwise import tanh

__all__ = ["sigmoid", "relu", "leaky_relu", "softplus", "gelu", "elu", "softmax", "log_softmax", "tanh"]
