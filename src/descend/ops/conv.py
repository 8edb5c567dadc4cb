"""Convolution and pooling over images (N, C, H, W), by im2col / col2im and one matrix product.

A 2-D convolution with kernel (kh, kw), stride (sh, sw), zero padding (ph, pw)
and dilation (dh, dw) computes, for output pixel (a, b),

    y[n, o, a, b] = b_o + Σ_{c, i, j} w[o, c, i, j] · xp[n, c, a·sh + i·dh, b·sw + j·dw]

where ``xp`` is the input padded by (ph, pw) zeros on each side. Its output has
OH = ⌊(H + 2ph − dh(kh − 1) − 1)/sh⌋ + 1 rows (OW likewise). *im2col* lays the
receptive fields out as the columns of a matrix: ``cols[(c, i, j), (n, a, b)]``
is a strided view of ``xp`` (``numpy.lib.stride_tricks``) copied once, so the
sum above is a matrix product ``W (Co, C·kh·kw) @ cols[n] (C·kh·kw, OH·OW)`` per
example, all made by one stacked ``matmul`` call (per group too: with
``groups = G`` the channels split into G independent blocks). The backward
pass is two more products per example,

    dL/dW     = Σ_n g[n] @ cols[n]ᵀ  (computed as (cols[n] @ g[n]ᵀ)ᵀ)   (Co, C·kh·kw)
    dL/dcols[n] = Wᵀ @ g[n]                                          (C·kh·kw, OH·OW)

(``g[n]``: dL/dy of example n as a (Co, OH·OW) matrix; the products are per
example because these small ones keep their operands in cache and run up to 2x
faster than one product over the whole batch's columns, and their results come
out laid out (N, Co, …) with no transposing copy; the weight gradient is one
product over the batch where that is faster, see ``_per_example_dw``), and *col2im* sends dL/dcols
back to the pixels it was copied from: for each kernel offset (i, j) the slab
``dcols[(c, i, j)]`` is added to the strided slice of ``dxp`` it was read
from. That loop runs kh·kw times (over kernel offsets, never over pixels or
examples); the additions overlap when the stride is smaller than the kernel,
which is why they cannot be one vectorised write. With stride 1 the columns of
an example are laid out *wide*, output pixel (a, b) at column a·Wp + b (Wp the
padded width): each row of ``cols`` is then one contiguous run of ``xp``, and
im2col and col2im copy and add long runs instead of rows of OW pixels.

Pooling reads the same windows one kernel offset at a time (a pass over the
whole output per offset): max pooling keeps a one-hot mask of each window's
first maximum (the gradient flows to that element only, PyTorch's convention
for ties), average pooling divides each window's sum by its size (with
``count_include_pad=False`` the number of input pixels in it), and adaptive
average pooling is two products with fixed averaging matrices,
``y = P_h x P_wᵀ`` (PyTorch's bins: rows ⌊i·H/OH⌋ to ⌈(i+1)·H/OH⌉).

Every operation is a :class:`~descend.ops.rule.Rule` (forward and vjp kernels),
so the traced fast path of :mod:`descend.compile` replays them.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from ..tensor import Tensor, as_tensor
from .rule import EAGER, Rule
from .shape import reshape

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pad"]


# ============================================================================ arguments
def _pair(value, what: str, fn: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each ≥ ``minimum``, as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in pair)
    if not ok:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{fn}: {what} must be a {kind} integer or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _conv_padding(padding, kernel: tuple, stride: tuple, dilation: tuple, fn: str) -> tuple[int, int]:
    """``padding`` as a (height, width) pair: an int, a pair, ``"valid"`` (none) or ``"same"``.

    ``"same"`` keeps the input's size: stride 1 and ⌊dilation·(k − 1)/2⌋ zeros on each side; an
    even dilated kernel needs one more on the bottom or right (:func:`_same_extra`), as PyTorch pads.
    """
    if isinstance(padding, str) and padding == "valid":
        return (0, 0)
    if isinstance(padding, str) and padding == "same":
        if tuple(stride) != (1, 1):
            raise ValueError(
                f"{fn}: padding='same' needs stride 1 (a strided output cannot keep the input's size), "
                f"got stride {tuple(stride)}"
            )
        spans = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return (spans[0] // 2, spans[1] // 2)
    if isinstance(padding, str):
        raise ValueError(f"{fn}: padding must be 'valid', 'same', a non-negative integer or a pair of them, "
                         f"got {padding!r}")
    return _pair(padding, "padding", fn, 0)


def _same_extra(kernel: tuple, dilation: tuple) -> tuple[int, int]:
    """The zeros ``padding="same"`` adds below and right of :func:`_conv_padding`'s equal ones:
    1 along an axis whose dilated kernel span dilation·(k − 1) is odd (an even kernel), else 0."""
    return tuple(d * (k - 1) % 2 for k, d in zip(kernel, dilation, strict=True))


def _image(x, fn: str, name: str = "input") -> tuple[Tensor, bool]:
    """``x`` as a batch of images (N, C, H, W), and whether it was one unbatched image (C, H, W)
    (which PyTorch's functions accept too: it is given a batch axis of 1, removed from the result)."""
    x = x if isinstance(x, Tensor) else as_tensor(x)
    if x.data.ndim not in (3, 4):
        raise ValueError(f"{fn}: {name} must be 4-D (N, C, H, W) or 3-D (C, H, W), got shape {x.data.shape}")
    if x.data.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got dtype {x.data.dtype}")
    if x.data.ndim == 3:
        return reshape(x, (1, *x.data.shape)), True
    return x, False


def _unbatch(y: Tensor, unbatched: bool) -> Tensor:
    """The result of an unbatched image without its batch axis of 1 (see :func:`_image`)."""
    return reshape(y, y.data.shape[1:]) if unbatched else y


def _out_size(fn: str, axis: str, size: int, kernel: int, stride: int, pad: int, dilation: int,
              ceil_mode: bool = False) -> int:
    """⌊(size + 2·pad − dilation·(kernel − 1) − 1)/stride⌋ + 1, or an error saying why it is < 1.

    With ``ceil_mode`` (pooling) ⌈…⌉ + 1: a last window that runs past the padded input
    counts too, as long as it starts inside the input or its leading padding (PyTorch's rule).
    """
    span = dilation * (kernel - 1) + 1
    if size + 2 * pad < span:
        dilated = f" (dilated to {span})" if dilation > 1 else ""
        raise ValueError(
            f"{fn}: the output {axis} would be zero or negative: the input {axis} {size} padded by "
            f"{pad} on each side ({size + 2 * pad}) is smaller than the kernel {axis} {kernel}{dilated}"
        )
    if not ceil_mode:
        return (size + 2 * pad - span) // stride + 1
    out = -(-(size + 2 * pad - span) // stride) + 1
    if (out - 1) * stride >= size + pad:  # a window starting in the trailing padding: dropped
        out -= 1
    return out


class _Geometry:
    """Where the windows of a convolution or pooling lie: kernel, stride, padding, dilation.

    ``eh``, ``ew``: rows and columns past the padded input that the last windows of
    ``ceil_mode`` reach (0 otherwise): the input is padded that much more at the end.
    """

    __slots__ = ("kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "oh", "ow", "eh", "ew")

    def __init__(self, fn, shape, kernel, stride, padding, dilation, ceil_mode: bool = False):
        (self.kh, self.kw), (self.sh, self.sw) = kernel, stride
        (self.ph, self.pw), (self.dh, self.dw) = padding, dilation
        H, W = shape[2], shape[3]
        self.oh = _out_size(fn, "height", H, self.kh, self.sh, self.ph, self.dh, ceil_mode)
        self.ow = _out_size(fn, "width", W, self.kw, self.sw, self.pw, self.dw, ceil_mode)
        self.eh = max(0, (self.oh - 1) * self.sh + self.dh * (self.kh - 1) + 1 - (H + 2 * self.ph))
        self.ew = max(0, (self.ow - 1) * self.sw + self.dw * (self.kw - 1) + 1 - (W + 2 * self.pw))

    def pad_widths(self) -> tuple:
        """The padding of an (N, C, H, W) input: (before, after) per axis."""
        return ((0, 0), (0, 0), (self.ph, self.ph + self.eh), (self.pw, self.pw + self.ew))

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """The receptive fields of the padded input, a view (N, C, OH, OW, kh, kw)."""
        span_h, span_w = self.dh * (self.kh - 1) + 1, self.dw * (self.kw - 1) + 1
        v = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
        return v[:, :, :: self.sh, :: self.sw, :: self.dh, :: self.dw][:, :, : self.oh, : self.ow]

    def target(self, dxp: np.ndarray, i: int, j: int) -> np.ndarray:
        """The pixels of the padded input that kernel offset (i, j) reads, a view (N, C, OH, OW)."""
        r, c = i * self.dh, j * self.dw
        return dxp[:, :, r: r + self.sh * (self.oh - 1) + 1: self.sh, c: c + self.sw * (self.ow - 1) + 1: self.sw]


def _geometry(attrs, shape) -> _Geometry:
    return _Geometry("", shape, attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"],
                     attrs.get("ceil_mode", False))


# ============================================================================ shared kernels
def _pad_kernel(k, x: np.ndarray, widths: tuple, value) -> np.ndarray:
    """``x`` with ``widths[d] = (before, after)`` elements of ``value`` around axis d."""
    if not any(b or a for b, a in widths):
        return x
    shape = tuple(n + b + a for n, (b, a) in zip(x.shape, widths, strict=True))
    y = k.empty(shape, x.dtype)
    k.copyto(y, np.full((), value, x.dtype))
    k.copyto(y[_interior(x.shape, widths)], x)
    return y


def _interior(shape: tuple, widths: tuple) -> tuple:
    """The index of the original elements inside the padded array."""
    return tuple(slice(b, b + n) for n, (b, _) in zip(shape, widths, strict=True))


def _disjoint(geo: _Geometry) -> bool:
    """Windows side by side (stride ≥ kernel, no dilation): no pixel is read by two windows."""
    return (geo.dh == 1 or geo.kh == 1) and (geo.dw == 1 or geo.kw == 1) and geo.sh >= geo.kh and geo.sw >= geo.kw


def _col2im(k, part, shape: tuple, geo: _Geometry, dtype, out, write=None):
    """Σ over kernel offsets (i, j) of ``part(i, j)`` (N, C, OH, OW) added back where it was read.

    The sum of the overlapping windows' gradients, as an (N, C, H, W) array:
    written into ``out`` when given, else a new array (or a view of the padded one).
    Windows side by side (:func:`_disjoint`) never overlap: each offset's part is
    then written in place, by ``write(i, j, target)`` when given (which computes it
    straight into the target: no intermediate array) or copied, and only pixels no
    window reads are zeroed first.
    """
    N, C, H, W = shape
    ph, pw = geo.ph, geo.pw
    padded = bool(ph or pw or geo.eh or geo.ew)
    dxp = k.empty((N, C, H + 2 * ph + geo.eh, W + 2 * pw + geo.ew), dtype) if padded or out is None else out
    disjoint = _disjoint(geo)
    covered = disjoint and geo.sh == geo.kh and geo.sw == geo.kw \
        and geo.oh * geo.sh == dxp.shape[2] and geo.ow * geo.sw == dxp.shape[3]
    if not covered:
        k.copyto(dxp, np.zeros((), dtype))
    for i in range(geo.kh):
        for j in range(geo.kw):
            t = geo.target(dxp, i, j)
            if disjoint and write is not None:
                write(i, j, t)
            elif disjoint:
                k.copyto(t, part(i, j))
            else:
                k.add(t, part(i, j), out=t)
    return dxp[:, :, ph: ph + H, pw: pw + W] if padded else dxp


# ============================================================================ pad
def _pad_forward(k, xs, attrs):
    return _pad_kernel(k, xs[0], attrs["widths"], attrs["value"]), None


def _pad_vjp(k, i, xs, y, saved, attrs, g, out=None):
    return g[_interior(xs[0].shape, attrs["widths"])]  # a view: the caller copies it if needed


_PAD = Rule("pad", _pad_forward, _pad_vjp)


def pad(x, pad, value: float = 0.0) -> Tensor:
    """Constant padding, PyTorch's ``F.pad`` convention.

    ``pad = (left, right, top, bottom, ...)``: pairs of non-negative widths for
    the last axis, the one before it, and so on. Backward: the gradient's
    interior (the padding's gradient is dropped).
    """
    x = as_tensor(x)
    shape = x.data.shape
    if (not isinstance(pad, (tuple, list)) or len(pad) % 2 or len(pad) > 2 * len(shape)
            or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0 for p in pad)):
        raise ValueError(
            f"pad: pad must be an even number (at most {2 * len(shape)}) of non-negative integers, "
            f"(before, after) per axis from the last, got {pad!r}"
        )
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"pad: value must be a real number, got {value!r}")
    pairs = [(int(pad[2 * d]), int(pad[2 * d + 1])) for d in range(len(pad) // 2)]
    widths = tuple([(0, 0)] * (len(shape) - len(pairs)) + pairs[::-1])
    return _PAD((x,), {"widths": widths, "value": float(value)})


# ============================================================================ conv2d
def _pixels(a: np.ndarray, geo: _Geometry, pitch: int, channels_first: bool = False) -> np.ndarray:
    """The output pixels (N, Co, OH, OW) of columns laid out (N, Co, L) (or (Co, N, L) when
    ``channels_first``) with pixel (i, j) at i·pitch + j.

    The view takes ``a``'s own strides: NumPy lays out an allocated matmul result in its
    operands' memory order (the groups outermost for the rows-first columns), and a reshape
    that merges a group axis with a single output channel keeps those strides.
    """
    s_l = a.strides[-1]
    N, Co = (a.shape[1], a.shape[0]) if channels_first else a.shape[:2]
    s_n, s_co = (a.strides[1], a.strides[0]) if channels_first else a.strides[:2]
    return as_strided(a, (N, Co, geo.oh, geo.ow), (s_n, s_co, pitch * s_l, s_l), writeable=True)


def _per_example_dw(co_g: int, n_cols: int) -> bool:
    """Whether dL/dW is summed from one product per example (True) or is one product over the batch.

    Per example, cols[n] (K, L) @ g[n]ᵀ (L, Co/G) gives a (K, Co/G) result, and the N results are
    summed: while Co/G is small next to the L pixels contracted (LeNet-5's first layer, 6 channels
    over 892 columns) that is twice as fast as the batch-wide product, whose skinny (25, 6) result
    BLAS computes slowly. With more channels over fewer pixels (its second layer, 16 over 136)
    the two cost the same on one thread, but the batch-wide product gains from a second BLAS
    thread and the per-example ones do not, and with many channels summing N results costs more
    than it saves. The forward lays the columns out for the one chosen (see there).
    """
    return 16 * co_g <= n_cols


def _conv2d_forward(k, xs, attrs):
    x, w, b = xs
    geo, G = _geometry(attrs, x.shape), attrs["groups"]
    N, C = x.shape[:2]
    Co, Cg, kh, kw = w.shape
    xp = _pad_kernel(k, x, ((0, 0), (0, 0), (geo.ph, geo.ph), (geo.pw, geo.pw)), 0.0)
    # im2col, per example: rows (c, i, j), columns the output pixels; channel-major, so a group
    # is a block of rows. With stride 1 the columns are "wide": output pixel (a, b) sits at
    # column a·Wp + b, where Wp is the padded width, so that every row (c, i, j) of an example
    # is one contiguous run of the padded input (a fast copy, and a fast col2im); the columns
    # between two rows of output pixels (b ≥ OW) are computed and thrown away.
    Wp = xp.shape[3]
    wide = geo.sh == geo.sw == 1 and geo.ow < Wp and x.size > 0 and xp.flags.c_contiguous
    pitch = Wp if wide else geo.ow
    n_cols = (geo.oh - 1) * pitch + geo.ow
    K = Cg * kh * kw
    sN, sC, sH, sW = xp.strides
    windows = geo.windows(xp)  # (N, C, OH, OW, kh, kw)
    if _per_example_dw(Co // G, n_cols):  # the columns example first, (N, C, kh, kw, L)
        cols = k.empty((N, C, kh, kw, n_cols), x.dtype)
        if wide:
            k.copyto(cols, as_strided(xp, cols.shape, (sN, sC, geo.dh * sH, geo.dw * sW, sW)))
        else:
            k.copyto(cols.reshape(N, C, kh, kw, geo.oh, geo.ow), windows.transpose(0, 1, 4, 5, 2, 3))
        per_example = cols.reshape(N, G, K, n_cols)
    else:  # rows first, (C, kh, kw, N, L): the batch's columns of a row are one matrix row
        cols = k.empty((C, kh, kw, N, n_cols), x.dtype)
        if wide:
            k.copyto(cols, as_strided(xp, cols.shape, (sC, geo.dh * sH, geo.dw * sW, sN, sW)))
        else:
            k.copyto(cols.reshape(C, kh, kw, N, geo.oh, geo.ow), windows.transpose(1, 4, 5, 0, 2, 3))
        per_example = cols.reshape(G, K, N, n_cols).transpose(2, 0, 1, 3)  # (a view)
    # One product per example (and group), W (Co/G, K) @ cols[n] (K, L): NumPy's stacked matmul
    # calls BLAS for each, and these small products keep their operands in cache (LeNet-5's two
    # ran 1.7x and 1.6x faster than one product over the batch's columns); the result is laid out
    # (N, Co, L) already, with no transposing copy.
    y = k.empty((N, Co, geo.oh, geo.ow), x.dtype)
    products = (w.reshape(G, Co // G, K), per_example)
    if wide:  # the output pixels cut out of the wide columns
        prod = k.matmul(*products, out=k.buffer((N, G, Co // G, n_cols), x.dtype))
        k.copyto(y, _pixels(prod.reshape(N, Co, n_cols), geo, pitch))
    else:
        k.matmul(*products, out=y.reshape(N, G, Co // G, n_cols))
    if b is not None:  # (added to the contiguous output: over strided rows it cost twice the copy)
        flat = y.reshape(N, Co, geo.oh * geo.ow)
        k.add(flat, b.reshape(1, Co, 1), out=flat)
    return y, cols


def _conv2d_vjp(k, i, xs, y, cols, attrs, g, out=None):
    x, w, b = xs
    if i == 2:  # dL/db = Σ over examples and pixels
        return k.add.reduce(g, (0, 2, 3), None, out)
    geo, G = _geometry(attrs, x.shape), attrs["groups"]
    N, Co = g.shape[:2]
    n_cols = cols.shape[-1]
    by_example = _per_example_dw(Co // G, n_cols)  # the forward's column layout (see there)
    C, kh, kw = cols.shape[1:4] if by_example else cols.shape[:3]
    wide = n_cols != geo.oh * geo.ow
    pitch = x.shape[3] + 2 * geo.pw if wide else geo.ow
    K = (C // G) * kh * kw

    def g_laid_out(channels_first: bool):
        """g in the columns' layout, (N, Co, L) or (Co, N, L): the columns between two rows of
        output pixels (wide columns) get no gradient."""
        if not (wide or channels_first):
            return g.reshape(N, Co, n_cols)  # (a view: g is contiguous)
        a = k.empty((Co, N, n_cols) if channels_first else (N, Co, n_cols), g.dtype)
        if wide:
            k.copyto(a, np.zeros((), g.dtype))
        k.copyto(_pixels(a, geo, pitch, channels_first), g)
        return a

    if i == 1:
        if by_example:
            # dL/dW = Σ_n g[n] cols[n]ᵀ: one product per example, computed transposed (cols[n] g[n]ᵀ,
            # the faster operand order for BLAS), then summed over the examples
            g_cols = g_laid_out(False).reshape(N, G, Co // G, n_cols)
            per_example = k.matmul(cols.reshape(N, G, K, n_cols), g_cols.swapaxes(-1, -2),
                                   out=k.buffer((N, G, K, Co // G), g.dtype))
            dw_t = k.add.reduce(per_example, 0, None, k.buffer((G, K, Co // G), g.dtype))
        else:  # one product over the batch's columns, cols (K, N·L) @ g_rowsᵀ (N·L, Co/G)
            g_rows = g_laid_out(True).reshape(G, Co // G, N * n_cols)
            dw_t = k.matmul(cols.reshape(G, K, N * n_cols), g_rows.swapaxes(-1, -2),
                            out=k.buffer((G, K, Co // G), g.dtype))
        if out is None:
            return dw_t.swapaxes(-1, -2).reshape(w.shape)
        k.copyto(out.reshape(G, Co // G, K), dw_t.swapaxes(-1, -2))
        return out
    # dL/dx: dcols[n] = Wᵀ g[n] (one product per example), then col2im. The products are written
    # rows first, (C, kh, kw, N, L): col2im then reads each kernel offset's rows as one contiguous
    # slab (N·L per channel), not as N·C short runs far apart (which cost more than the product
    # gains from writing contiguously).
    g_cols = g_laid_out(False).reshape(N, G, Co // G, n_cols)
    dcols = k.empty((G, K, N, n_cols), g.dtype)
    k.matmul(w.reshape(G, Co // G, K).swapaxes(-1, -2), g_cols, out=dcols.transpose(2, 0, 1, 3))
    dcols = dcols.reshape(C, kh, kw, N, n_cols)
    if not wide:
        dcols = dcols.reshape(C, kh, kw, N, geo.oh, geo.ow)
        return _col2im(k, lambda a, c: dcols[:, a, c].transpose(1, 0, 2, 3), x.shape, geo, g.dtype, out)
    # col2im of wide columns: row (c, i, j) of an example goes back as one contiguous run
    H, W = x.shape[2:]
    Wp = pitch
    padded = bool(geo.ph or geo.pw)
    # (the runs are cut from the flat array: written in place only into a contiguous ``out``;
    # anything else gets its own buffer, which the caller copies)
    in_place = out is not None and not padded and out.flags.c_contiguous
    dxp = out if in_place else k.empty((N, C, H + 2 * geo.ph, Wp), g.dtype)
    k.copyto(dxp, np.zeros((), g.dtype))
    flat = dxp.reshape(-1)
    sN, sC = dxp.strides[:2]
    for a in range(kh):
        for c in range(kw):
            run = as_strided(flat[a * geo.dh * Wp + c * geo.dw:], (N, C, n_cols), (sN, sC, dxp.itemsize),
                             writeable=True)
            k.add(run, dcols[:, a, c].transpose(1, 0, 2), out=run)
    return dxp[:, :, geo.ph: geo.ph + H, geo.pw: geo.pw + W] if padded else dxp


_CONV2D = Rule("conv2d", _conv2d_forward, _conv2d_vjp)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in every deep-learning library), PyTorch's ``F.conv2d``.

    Shapes: ``input`` (N, C, H, W) (or one unbatched image (C, H, W), giving
    (Co, OH, OW)), ``weight`` (Co, C/groups, kh, kw), ``bias`` (Co,) or None;
    output (N, Co, OH, OW) with
    OH = ⌊(H + 2·padding − dilation·(kh − 1) − 1)/stride⌋ + 1 (OW likewise).
    ``stride``, ``padding`` (zeros) and ``dilation`` are ints or (height, width)
    pairs (``padding`` also ``"valid"``, none, or ``"same"``, the input's size
    kept: stride 1; an even kernel gets its extra zero below and right, as in
    PyTorch); ``groups`` splits the channels into independent convolutions.

    y[n, o] = b_o + Σ_c w[o, c] ⋆ xp[n, c]; backward (g = dL/dy):
    dL/dW[o, c] = Σ_n g[n, o] ⋆ xp[n, c], dL/db = Σ g,
    dL/dx = the *full* correlation of g with the flipped kernel (col2im).
    """
    fn = "conv2d"
    x, unbatched = _image(input, fn)
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    X, Wt = x.data, w.data
    shown = X.shape[1:] if unbatched else X.shape  # (the shape the caller gave)
    if Wt.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-D (out_channels, in_channels/groups, kh, kw), got shape {Wt.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive integer, got {groups!r}")
    Co, Cg = Wt.shape[:2]
    C = X.shape[1]
    if Co % groups:
        raise ValueError(f"{fn}: out_channels {Co} (weight shape {Wt.shape}) is not divisible by groups={groups}")
    if Cg * groups != C:
        raise ValueError(
            f"{fn}: input has {C} channels (shape {shown}) but weight {Wt.shape} with groups={groups} "
            f"expects {Cg * groups}"
        )
    if X.dtype != Wt.dtype:
        raise TypeError(f"{fn}: input dtype {X.dtype} and weight dtype {Wt.dtype} differ")
    b = None
    if bias is not None:
        b = bias if isinstance(bias, Tensor) else as_tensor(bias)
        if b.data.shape != (Co,) or b.data.dtype != Wt.dtype:
            raise ValueError(f"{fn}: bias must have shape ({Co},) and dtype {Wt.dtype}, got {b.data.shape} {b.data.dtype}")
    stride, dilation = _pair(stride, "stride", fn, 1), _pair(dilation, "dilation", fn, 1)
    attrs = {
        "kernel": Wt.shape[2:], "stride": stride, "dilation": dilation, "groups": int(groups),
        "padding": _conv_padding(padding, Wt.shape[2:], stride, dilation, fn),
    }
    if isinstance(padding, str) and padding == "same" and any(extra := _same_extra(Wt.shape[2:], dilation)):
        # an even kernel: its one unequal zero goes below and right, by the pad op (so the
        # convolution itself keeps equal padding, and the traced step replays both ops)
        x = pad(x, (0, extra[1], 0, extra[0]))
        X = x.data
    # built only for its check: an input too small for the kernel is refused here, naming conv2d,
    # before the op is recorded (the kernels' own geometry has no name to give)
    _Geometry(fn, X.shape, attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"])
    return _unbatch(_CONV2D((x, w, b), attrs), unbatched)


# ============================================================================ pooling
def _pool_attrs(fn, X, kernel_size, stride, padding, dilation=1, ceil_mode=False) -> dict:
    kernel = _pair(kernel_size, "kernel_size", fn, 1)
    attrs = {
        "kernel": kernel, "stride": kernel if stride is None else _pair(stride, "stride", fn, 1),
        "padding": _pair(padding, "padding", fn, 0), "dilation": _pair(dilation, "dilation", fn, 1),
        "ceil_mode": bool(ceil_mode),
    }
    for p, kk, axis in zip(attrs["padding"], kernel, ("height", "width"), strict=True):
        if 2 * p > kk:  # (else a window could hold padding alone)
            raise ValueError(f"{fn}: padding {p} must be at most half the kernel {axis} {kk}")
    # (built for its check only: an input too small for the window is refused naming fn)
    _Geometry(fn, X.shape, attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"], ceil_mode)
    return attrs


def _max_pool_forward(k, xs, attrs):
    (x,) = xs
    geo = _geometry(attrs, x.shape)
    kk = geo.kh * geo.kw
    out_shape = x.shape[:2] + (geo.oh, geo.ow)
    xp = _pad_kernel(k, x, geo.pad_widths(), -np.inf)
    # The windows' elements gathered offset first, (kh·kw, N, C, OH, OW), in one copy: every pass
    # after it reads contiguous memory (reading the strided offsets of the input four times over
    # cost more than the copy), and the maximum is a reduction over the leading axis, that is
    # kh·kw − 1 elementwise passes (a NaN propagates).
    stack = k.empty((geo.kh, geo.kw) + out_shape, x.dtype)
    k.copyto(stack, geo.windows(xp).transpose(4, 5, 0, 1, 2, 3))
    stack = stack.reshape((kk,) + out_shape)
    y = k.maximum.reduce(stack, 0, None, k.buffer(out_shape, x.dtype))
    # One-hot masks, offset first: mask[t] marks the windows whose first maximum is offset t
    # (equal to the maximum and no earlier offset was), so a tie goes to the first, as in PyTorch.
    mask = k.equal(stack, y, out=k.empty((kk,) + out_shape, bool))
    free = k.empty(out_shape, bool)  # no earlier offset held the maximum
    k.copyto(free, np.ones((), bool))
    for t in range(kk):
        k.logical_and(mask[t], free, out=mask[t])
        if t < kk - 1:
            k.logical_xor(free, mask[t], out=free)  # (mask[t] lies inside free: this removes it)
    return y, mask


def _max_pool_vjp(k, i, xs, y, mask, attrs, g, out=None):
    (x,) = xs
    geo = _geometry(attrs, x.shape)
    if _disjoint(geo):  # each window's g at its maximum, written straight where it goes
        return _col2im(k, None, x.shape, geo, g.dtype, out,
                       write=lambda a, c, t: k.multiply(mask[a * geo.kw + c], g, out=t))
    d = k.multiply(mask, g[None], out=k.buffer(mask.shape, g.dtype))  # each window's g at its maximum
    return _col2im(k, lambda a, c: d[a * geo.kw + c], x.shape, geo, g.dtype, out)


_MAX_POOL2D = Rule("max_pool2d", _max_pool_forward, _max_pool_vjp)


def _max_indices(X: np.ndarray, attrs: dict) -> np.ndarray:
    """Where each window's first maximum is: its index in the flattened (H·W) input plane, int64.

    From the one-hot masks of the same forward kernel (run once more, without a graph).
    """
    _, mask = _max_pool_forward(EAGER, (X,), attrs)
    geo = _geometry(attrs, X.shape)
    i, j = np.divmod(np.argmax(mask, axis=0), geo.kw)  # the offset (i, j) holding it, (N, C, OH, OW)
    rows = (np.arange(geo.oh) * geo.sh - geo.ph)[:, None] + i * geo.dh
    cols = (np.arange(geo.ow) * geo.sw - geo.pw)[None, :] + j * geo.dw
    return (rows * X.shape[3] + cols).astype(np.int64)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """The maximum of each window (N, C, H, W) -> (N, C, OH, OW), PyTorch's ``F.max_pool2d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (−∞, at most half the
    kernel) and ``dilation`` as in :func:`conv2d`; ``ceil_mode``: OH = ⌈…⌉ + 1,
    a last window that runs past the input counts if it starts inside it.
    An unbatched (C, H, W) image gives (C, OH, OW). Backward: each window's
    gradient goes to its first maximum (summed where windows overlap).
    ``return_indices``: also that maximum's index in the flattened H·W plane
    (an int64 tensor, as PyTorch's).
    """
    fn = "max_pool2d"
    x, unbatched = _image(input, fn)
    attrs = _pool_attrs(fn, x.data, kernel_size, stride, padding, dilation, ceil_mode)
    y = _unbatch(_MAX_POOL2D((x,), attrs), unbatched)
    if not return_indices:
        return y
    indices = _max_indices(x.data, attrs)
    return y, Tensor._wrap(indices[0] if unbatched else indices)


def _avg_divisor(geo: _Geometry, shape: tuple, attrs: dict, dtype) -> np.ndarray:
    """1/(pixels averaged) per output position (OH, OW), PyTorch's divisors.

    The window's size within the padded input (a ``ceil_mode`` window past its
    end is cut there), or with ``count_include_pad=False`` its input pixels;
    ``divisor_override`` replaces both.
    """
    count_include_pad, override = attrs["count_include_pad"], attrs.get("divisor_override")
    if override is not None:
        return np.full((geo.oh, geo.ow), 1.0 / override, dtype)
    if not (geo.eh or geo.ew) and (count_include_pad or not (geo.ph or geo.pw)):
        return np.full((geo.oh, geo.ow), 1.0 / (geo.kh * geo.kw), dtype)

    def counts(size, k, s, p, n_out):  # pixels under each window along one axis
        start = np.arange(n_out) * s - p
        end = np.minimum(start + k, size + p)  # (a ceil_mode window ends with the padding)
        if count_include_pad:
            return end - start
        return np.minimum(end, size) - np.maximum(start, 0)

    rows = counts(shape[2], geo.kh, geo.sh, geo.ph, geo.oh)
    cols = counts(shape[3], geo.kw, geo.sw, geo.pw, geo.ow)
    return (1.0 / np.multiply.outer(rows, cols)).astype(dtype)


def _avg_pool_forward(k, xs, attrs):
    (x,) = xs
    geo = _geometry(attrs, x.shape)
    xp = _pad_kernel(k, x, geo.pad_widths(), 0.0)
    # the window sums as one pass per kernel offset (faster than reducing the windows' short axes)
    total = k.empty(x.shape[:2] + (geo.oh, geo.ow), x.dtype)
    k.copyto(total, geo.target(xp, 0, 0))
    for i in range(geo.kh):
        for j in range(geo.kw):
            if i or j:
                k.add(total, geo.target(xp, i, j), out=total)
    scale = _avg_divisor(geo, x.shape, attrs, x.dtype)
    return k.multiply(total, scale, out=total), None


def _avg_pool_vjp(k, i, xs, y, saved, attrs, g, out=None):
    (x,) = xs
    geo = _geometry(attrs, x.shape)
    scale = _avg_divisor(geo, x.shape, attrs, g.dtype)
    share = k.multiply(g, scale, out=k.buffer(g.shape, g.dtype))  # each pixel of a window gets g/size
    return _col2im(k, lambda a, c: share, x.shape, geo, g.dtype, out)


_AVG_POOL2D = Rule("avg_pool2d", _avg_pool_forward, _avg_pool_vjp)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """The mean of each window (N, C, H, W) -> (N, C, OH, OW), PyTorch's ``F.avg_pool2d``.

    ``stride`` defaults to ``kernel_size``; zero ``padding`` of at most half the
    kernel counts in the mean unless ``count_include_pad=False``; ``ceil_mode``
    as in :func:`max_pool2d` (a last window past the padded input averages what
    it covers); ``divisor_override``: divide every window's sum by this instead.
    An unbatched (C, H, W) image gives (C, OH, OW). Backward: each pixel of a
    window receives the window's gradient divided by the window's divisor.
    """
    fn = "avg_pool2d"
    x, unbatched = _image(input, fn)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, (int, np.integer)) or divisor_override < 1):
        raise ValueError(f"{fn}: divisor_override must be a positive integer or None, got {divisor_override!r}")
    attrs = _pool_attrs(fn, x.data, kernel_size, stride, padding, ceil_mode=ceil_mode)
    attrs["count_include_pad"] = bool(count_include_pad)
    attrs["divisor_override"] = None if divisor_override is None else int(divisor_override)
    return _unbatch(_AVG_POOL2D((x,), attrs), unbatched)


def _averaging_matrix(n_in: int, n_out: int, dtype) -> np.ndarray:
    """(n_out, n_in): row i averages inputs ⌊i·n_in/n_out⌋ to ⌈(i+1)·n_in/n_out⌉ − 1 (PyTorch's bins)."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    j = np.arange(n_in)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_forward(k, xs, attrs):
    (x,) = xs
    N, C, H, W = x.shape
    oh, ow = attrs["output_size"]
    ph, pw = _averaging_matrix(H, oh, x.dtype), _averaging_matrix(W, ow, x.dtype)
    rows = k.matmul(ph, x, out=k.buffer((N, C, oh, W), x.dtype))
    return k.matmul(rows, pw.T, out=k.buffer((N, C, oh, ow), x.dtype)), None


def _adaptive_vjp(k, i, xs, y, saved, attrs, g, out=None):
    N, C, H, W = xs[0].shape
    oh, ow = attrs["output_size"]
    ph, pw = _averaging_matrix(H, oh, g.dtype), _averaging_matrix(W, ow, g.dtype)
    rows = k.matmul(g, pw, out=k.buffer((N, C, oh, W), g.dtype))
    return k.matmul(ph.T, rows, out=out)  # dL/dx = P_hᵀ g P_w


_ADAPTIVE_AVG_POOL2D = Rule("adaptive_avg_pool2d", _adaptive_forward, _adaptive_vjp)


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed (OH, OW), PyTorch's ``F.adaptive_avg_pool2d``.

    ``output_size``: an int or an (OH, OW) pair, None keeping that input size.
    Output pixel (a, b) is the mean of input rows ⌊a·H/OH⌋ … ⌈(a+1)·H/OH⌉ − 1 and
    the columns likewise: ``y = P_h x P_wᵀ`` with averaging matrices P, so
    dL/dx = P_hᵀ g P_w.
    """
    fn = "adaptive_avg_pool2d"
    x, unbatched = _image(input, fn)
    H, W = x.data.shape[2:]
    size = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    size = tuple(n if s is None else s for s, n in zip(size, (H, W), strict=False)) if len(size) == 2 else size
    oh, ow = _pair(size, "output_size", fn, 1)
    for n, axis in ((H, "height"), (W, "width")):
        if n < 1:
            raise ValueError(f"{fn}: the input {axis} is zero (shape {np.shape(input)}): nothing to average")
    return _unbatch(_ADAPTIVE_AVG_POOL2D((x,), {"output_size": (oh, ow)}), unbatched)
