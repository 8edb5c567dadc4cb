"""Layers for images (N, C, H, W): ``Conv2d``, the pooling layers, ``BatchNorm2d``, ``Dropout2d``,
and ``LeNet``, a small convolutional network built from them.

Names, arguments, parameter shapes and default initialisation follow PyTorch,
so a ``state_dict`` moves between the two unchanged (``Conv2d.weight`` is
(out_channels, in_channels/groups, kh, kw)). The operations are those of
:mod:`descend.ops.conv`; :class:`~descend.nn.Flatten` turns the last feature
maps into the rows a :class:`~descend.nn.Linear` layer reads.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..ops.conv import _conv_padding, _pair, _same_extra
from ..ops.elementwise import astype
from ..ops.shape import reshape
from ..tensor import Tensor, as_tensor
from . import functional as F
from . import init
from .activations import ACTIVATIONS, activation_module
from .layers import BatchNorm1d, Dropout, Flatten, Linear, _float_dtype, _positive_int
from .module import Module, Parameter, Sequential

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d", "Dropout2d", "LeNet"]


def _images(x, layer: str, unbatched: bool = True) -> Tensor:
    """``x`` as a tensor of images (N, C, H, W), or one unbatched image (C, H, W) where PyTorch's
    layer takes one too (``unbatched``)."""
    x = as_tensor(x)
    if x.data.ndim != 4 and not (unbatched and x.data.ndim == 3):
        expected = "4-D input (N, C, H, W) or 3-D (C, H, W)" if unbatched else "4-D input (N, C, H, W)"
        raise ValueError(f"{layer}: expected {expected}, got shape {x.data.shape}")
    return x


class Conv2d(Module):
    """2-D convolution layer (see :func:`descend.nn.functional.conv2d`).

    ``weight`` (out_channels, in_channels/groups, kh, kw) and ``bias``
    (out_channels,); input (N, in_channels, H, W) -> output (N, out_channels,
    OH, OW), OH = ⌊(H + 2·padding − dilation·(kh − 1) − 1)/stride⌋ + 1; one
    unbatched image (in_channels, H, W) -> (out_channels, OH, OW).
    ``padding`` is an int, a pair, ``"valid"`` (0) or ``"same"`` (stride 1: the
    output keeps H and W; kept as a pair, or as ``"same"`` for an even kernel,
    whose extra zero goes below and right as in PyTorch); zeros are padded.

    Initialisation (PyTorch's default): W and b uniform on ±1/√fan_in with
    fan_in = in_channels/groups · kh · kw (``kaiming_uniform_(W, a=√5)``).
    An input of another dtype is cast to the weight's.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=None):
        super().__init__()
        name = "Conv2d"
        self.in_channels = _positive_int(in_channels, "in_channels", name)
        self.out_channels = _positive_int(out_channels, "out_channels", name)
        self.groups = _positive_int(groups, "groups", name)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{name}: in_channels ({self.in_channels}) and out_channels ({self.out_channels}) must "
                f"both be divisible by groups ({self.groups})"
            )
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode must be 'zeros', got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.kernel_size = _pair(kernel_size, "kernel_size", name, 1)
        self.stride = _pair(stride, "stride", name, 1)
        self.dilation = _pair(dilation, "dilation", name, 1)
        self.padding = _conv_padding(padding, self.kernel_size, self.stride, self.dilation, name)
        if isinstance(padding, str) and padding == "same" and any(_same_extra(self.kernel_size, self.dilation)):
            self.padding = "same"  # (unequal sides: no pair says it; PyTorch keeps the word too)
        dt = _float_dtype(dtype, name)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw W and b with PyTorch's default initialisation."""
        init.default_affine_(self.weight, self.bias)

    def forward(self, x) -> Tensor:
        x = _images(x, f"Conv2d(in_channels={self.in_channels})")
        shape = x.data.shape
        channels = shape[-3]
        if channels != self.in_channels:
            raise ValueError(
                f"Conv2d(in_channels={self.in_channels}): input has shape {shape}, its {channels} "
                f"channel(s) do not match in_channels={self.in_channels}"
            )
        w = self.weight
        if x.data.dtype != w.data.dtype:
            x = astype(x, w.data.dtype) if x.requires_grad else Tensor._wrap(x.data.astype(w.data.dtype))
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class MaxPool2d(Module):
    """The maximum of each ``kernel_size`` window (see :func:`descend.nn.functional.max_pool2d`).

    ``stride`` defaults to ``kernel_size`` (windows side by side); ``ceil_mode``
    keeps a last window that runs past the input; ``return_indices``: the layer
    returns ``(output, indices)``, each maximum's index in its flattened H·W plane.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", "MaxPool2d", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", "MaxPool2d", 1)
        self.padding = _pair(padding, "padding", "MaxPool2d", 0)
        self.dilation = _pair(dilation, "dilation", "MaxPool2d", 1)
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)

    def forward(self, x):
        return F.max_pool2d(_images(x, "MaxPool2d"), self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean of each ``kernel_size`` window (see :func:`descend.nn.functional.avg_pool2d`).

    PyTorch's arguments, in its order: ``ceil_mode`` keeps a last window that runs
    past the input, ``count_include_pad`` counts the zero padding in the mean,
    ``divisor_override`` divides every window's sum by that number instead.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", "AvgPool2d", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", "AvgPool2d", 1)
        self.padding = _pair(padding, "padding", "AvgPool2d", 0)
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
                divisor_override, (int, np.integer)) or divisor_override < 1):
            raise ValueError(f"AvgPool2d: divisor_override must be a positive integer or None, got "
                             f"{divisor_override!r}")
        self.divisor_override = None if divisor_override is None else int(divisor_override)

    def forward(self, x) -> Tensor:
        return F.avg_pool2d(_images(x, "AvgPool2d"), self.kernel_size, self.stride, self.padding,
                            ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                            divisor_override=self.divisor_override)

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        if self.ceil_mode:
            s += ", ceil_mode=True"
        if not self.count_include_pad:
            s += ", count_include_pad=False"
        return s + ("" if self.divisor_override is None else f", divisor_override={self.divisor_override}")


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` whatever the input's H and W (None keeps one)."""

    def __init__(self, output_size):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        if len(sizes) != 2 or not all(
                s is None or (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1) for s in sizes):
            raise ValueError(
                f"AdaptiveAvgPool2d: output_size must be a positive integer or a pair of them (None keeps "
                f"the input's size), got {output_size!r}"
            )
        self.output_size = output_size

    def forward(self, x) -> Tensor:
        return F.adaptive_avg_pool2d(_images(x, "AdaptiveAvgPool2d"), self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of images (N, C, H, W): per channel, over the batch and every pixel.

    y = γ (x − μ)/√(σ² + ε) + β with μ, σ² over N·H·W values per channel while
    training (running estimates updated with ``momentum``), the running
    estimates in evaluation mode; see :class:`~descend.nn.BatchNorm1d`.
    """

    _input_ndims = (4,)
    _input_shape = "(N, {C}, H, W)"  # (4-D only, as PyTorch's)


class Dropout2d(Module):
    """During training zero whole channels with probability ``p``, scale the others by 1/(1 − p).

    See :func:`descend.nn.functional.dropout2d`; the identity in evaluation mode.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        F._check_p(p, "Dropout2d")
        self.p = float(p)

    def forward(self, x) -> Tensor:
        x = _images(x, "Dropout2d", unbatched=False)
        if not self.training or self.p == 0.0:
            return x
        return F.dropout2d(x, self.p, True)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LeNet(Sequential):
    """A LeNet-5-style network for images of shape ``in_shape`` = (C, H, W).

    Two stages of Conv2d → activation → MaxPool2d(2), then Flatten and fully
    connected layers ``hidden`` with the activation between them, ending in
    ``num_classes`` logits. On 28×28 images with the defaults it is LeNet-5
    (ReLU and max pooling in place of the original's tanh and subsampling):
    conv 5×5 (padding 2) → 6×28×28 → pool → 6×14×14 → conv 5×5 → 16×10×10 →
    pool → 16×5×5 → 400-120-84-10. Small images get 3×3 kernels (below 16
    pixels a side) and padded second convolutions (when the kernel would
    shrink the maps below its size), so any image of at least 2×2 fits.

    Input: (N, C, H, W) images, or (N, C·H·W) rows of pixels (a data table's
    rows, reshaped in the first step). ``dropout`` > 0 adds a Dropout after each
    hidden fully connected layer.
    """

    def __init__(self, in_shape, num_classes: int, channels=(6, 16), hidden=(120, 84), kernel_size=None,
                 activation: str = "relu", dropout: float = 0.0, dtype=None):
        shape = tuple(in_shape) if isinstance(in_shape, (tuple, list)) else ()
        if len(shape) != 3 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
            raise ValueError(f"LeNet: in_shape must be (channels, height, width) of positive integers, got {in_shape!r}")
        C, H, W = (int(n) for n in shape)
        if min(H, W) < 2:
            raise ValueError(f"LeNet: images must be at least 2x2 pixels, got {H}x{W}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"LeNet: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"LeNet: dropout must be a number in [0, 1), got {dropout!r}")
        k = _positive_int(kernel_size, "kernel_size", "LeNet") if kernel_size is not None \
            else (5 if min(H, W) >= 16 else 3)
        layers: list = []
        c_in, h, w = C, H, W
        for i, c_out in enumerate(channels):
            c_out = _positive_int(c_out, f"channels[{i}]", "LeNet")
            # the first convolution keeps the image size (LeNet-5 pads its 28x28 input to 32x32);
            # a later one pads only when an unpadded kernel would leave maps smaller than itself
            pad = k // 2 if i == 0 or min(h, w) - k + 1 < k else 0
            layers += [Conv2d(c_in, c_out, k, padding=pad, dtype=dtype), activation_module(activation)]
            h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
            if min(h, w) >= 2:
                layers.append(MaxPool2d(2))
                h, w = h // 2, w // 2
            c_in = c_out
        layers.append(Flatten())
        widths = [c_in * h * w, *(_positive_int(n, "hidden size", "LeNet") for n in hidden)]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [Linear(a, b, dtype=dtype), activation_module(activation)]
            if dropout > 0:
                layers.append(Dropout(dropout))
        layers.append(Linear(widths[-1], _positive_int(num_classes, "num_classes", "LeNet"), dtype=dtype))
        super().__init__(*layers)
        self.in_shape = (C, H, W)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        shape = x.data.shape
        C, H, W = self.in_shape
        if len(shape) == 2 and shape[1] == C * H * W:
            x = reshape(x, (shape[0], C, H, W))
        elif len(shape) != 4 or shape[1:] != self.in_shape:
            raise ValueError(
                f"LeNet(in_shape={self.in_shape}): input has shape {shape}, expected (N, {C}, {H}, {W}) "
                f"images or (N, {C * H * W}) rows of pixels"
            )
        for m in self._modules.values():
            x = m(x)
        return x
