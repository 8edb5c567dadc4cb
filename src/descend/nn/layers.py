"""Layers: ``Linear``, ``Dropout``, ``BatchNorm1d``, ``Identity``, ``Flatten`` and ``MLP``.

``Identity`` is defined in :mod:`descend.nn.activations`, as the module of the ``"identity"``
activation, so that the activation registry needs nothing from here; it is re-exported here.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence as _SequenceABC

import numpy as np

from ..ops.elementwise import astype
from ..ops.shape import reshape
from ..tensor import Tensor, as_tensor
from . import functional as F
from . import init
from .activations import ACTIVATIONS, Identity, activation_module
from .module import Module, Parameter, Sequential

__all__ = ["Linear", "Dropout", "BatchNorm1d", "Identity", "Flatten", "MLP"]


def _float_dtype(dtype, name: str) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{name}: dtype must be a floating-point type, got {dt}")
    return dt


def _positive_int(value, what: str, name: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise ValueError(f"{name}: {what} must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")
    return int(value)


class Linear(Module):
    """Fully-connected layer y = x Wᵀ + b.

    ``weight`` has shape (out_features, in_features) and ``bias``
    (out_features,), PyTorch's layout. Input (..., in_features) -> output
    (..., out_features).

    Initialisation (PyTorch's default): W and b uniform on
    [−1/√in_features, 1/√in_features] (that is ``kaiming_uniform_(W, a=√5)``),
    drawn from the global generator.

    An input whose dtype differs from the weight's is cast to it, so a float32
    model stays float32 end to end when fed float64 NumPy arrays.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear", allow_zero=True)
        self.out_features = _positive_int(out_features, "out_features", "Linear", allow_zero=True)
        dt = _float_dtype(dtype, "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw W and b with PyTorch's default initialisation."""
        init.default_affine_(self.weight, self.bias)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        shape = x.data.shape
        if not shape or shape[-1] != self.in_features:
            raise ValueError(
                f"Linear(in_features={self.in_features}): input has shape {shape}, but its last "
                f"dimension must be {self.in_features}"
            )
        w = self.weight
        if x.data.dtype != w.data.dtype:
            x = astype(x, w.data.dtype) if x.requires_grad else Tensor._wrap(x.data.astype(w.data.dtype))
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Dropout(Module):
    """During training zero each element with probability ``p`` and scale the others by 1/(1 − p).

    In evaluation mode (``eval()``) it is the identity. Masks come from the
    global generator (:func:`descend.manual_seed`).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        F._check_p(p, "Dropout")
        self.p = float(p)

    def forward(self, x) -> Tensor:
        if not self.training or self.p == 0.0:
            return as_tensor(x)
        return F.dropout(x, self.p, True)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm1d(Module):
    """Batch normalisation for input (N, C) or (N, C, L) (see :func:`descend.nn.functional.batch_norm`).

    y = γ (x − μ)/√(σ² + ε) + β per channel. Training uses the batch's mean and
    (biased) variance and updates ``running_mean`` / ``running_var`` with
    ``momentum`` (the unbiased variance goes into the running estimate;
    ``momentum=None`` keeps a cumulative average instead); evaluation uses the
    running estimates. γ (``weight``) starts at 1, β (``bias``) at 0.
    """

    _input_ndims = (2, 3)  # the input's number of dimensions, and how to say its shape
    _input_shape = "(N, {C}) or (N, {C}, L)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=None):
        super().__init__()
        cls = type(self).__name__
        self.num_features = _positive_int(num_features, "num_features", cls)
        if not eps > 0:
            raise ValueError(f"{cls}: eps must be positive, got {eps!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{cls}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = _float_dtype(dtype, cls)
        C = self.num_features
        if self.affine:
            self.weight = Parameter(np.ones(C, dtype=dt))
            self.bias = Parameter(np.zeros(C, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(C, dtype=dt))
            self.register_buffer("running_var", np.ones(C, dtype=dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        shape = x.data.shape
        if len(shape) not in self._input_ndims or shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}(num_features={self.num_features}): expected input of shape "
                f"{self._input_shape.format(C=self.num_features)}, got {shape}"
            )
        ref = self.weight if self.affine else self.running_mean
        if ref is not None and x.data.dtype != ref.data.dtype:
            x = astype(x, ref.data.dtype) if x.requires_grad else Tensor._wrap(x.data.astype(ref.data.dtype))
        # Batch statistics while training, and always when no running estimates are kept; the
        # operation updates the running estimates and the batch counter (so a replay does too).
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=self.training or not self.track_running_stats, momentum=self.momentum, eps=self.eps,
            num_batches_tracked=self.num_batches_tracked if self.training else None,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one: (N, 1, 28, 28) -> (N, 784) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        shape = x.data.shape
        nd = max(len(shape), 1)
        start, end = self.start_dim % nd, self.end_dim % nd
        if not (-nd <= self.start_dim < nd and -nd <= self.end_dim < nd) or start > end:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit input of shape {shape}"
            )
        if not shape:
            return reshape(x, (1,))
        merged = int(np.prod(shape[start:end + 1]))
        return reshape(x, shape[:start] + (merged,) + shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class MLP(Sequential):
    """A multilayer perceptron: Linear layers with an activation between them.

    ``MLP([784, 256, 256, 10])`` is
    ``Linear(784, 256), ReLU(), Linear(256, 256), ReLU(), Linear(256, 10)``
    (children ``"0"``, ``"1"``, ... as in :class:`Sequential`), producing
    logits for :func:`~descend.nn.functional.cross_entropy`.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: at least two entries.
    activation : str
        Hidden activation: ``relu``, ``leaky_relu``, ``sigmoid``, ``tanh``,
        ``gelu``, ``softplus``, ``elu`` or ``identity``.
    output_activation : str or None
        Applied after the last Linear layer; None (default) means none (logits).
    dropout : float
        If > 0, a :class:`Dropout` follows every hidden activation.
    bias : bool
        Whether the Linear layers have biases.
    dtype :
        Parameter dtype (float32 by default).

    ``linears`` lists the Linear layers; ``activation`` and
    ``output_activation`` keep the names (used by
    :meth:`descend.backprop.MLP.from_module`). Input must be (N, sizes[0]) (or
    (sizes[0],)); NaN in it is reported as an error.
    """

    def __init__(self, sizes, activation: str = "relu", output_activation: str | None = None,
                 dropout: float = 0.0, bias: bool = True, dtype=None):
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, _SequenceABC) or len(sizes) < 2:
            raise ValueError(f"MLP: sizes must be a list of at least two layer widths, e.g. [784, 256, 10]; got {sizes!r}")
        sizes = [_positive_int(s, f"sizes[{i}]", "MLP") for i, s in enumerate(sizes)]
        if activation is None:
            activation = "identity"
        for arg, value in (("activation", activation), ("output_activation", output_activation or "identity")):
            if value not in ACTIVATIONS:
                raise ValueError(f"MLP: {arg} must be one of {sorted(ACTIVATIONS)}, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"MLP: dropout must be in [0, 1), got {dropout!r}")
        layers = []
        n = len(sizes) - 1
        for i in range(n):
            layers.append(Linear(sizes[i], sizes[i + 1], bias=bias, dtype=dtype))
            if i < n - 1:
                layers.append(activation_module(activation))
                if dropout > 0:
                    layers.append(Dropout(dropout))
            elif output_activation is not None and output_activation != "identity":
                layers.append(activation_module(output_activation))
        super().__init__(*layers)
        self.sizes = tuple(sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.dropout = float(dropout)

    @property
    def linears(self) -> list[Linear]:
        """The Linear layers, input side first."""
        return [m for m in self._modules.values() if isinstance(m, Linear)]

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        X = x.data
        if X.ndim not in (1, 2) or X.shape[-1] != self.sizes[0]:
            raise ValueError(
                f"MLP: input x has shape {X.shape}, expected (batch, {self.sizes[0]}) or ({self.sizes[0]},)"
            )
        if F._has_nan(X):
            raise ValueError("MLP: input x contains NaN")
        for m in self._modules.values():
            x = m(x)
        return x
