"""Backpropagation written out by hand: the δ recursion on plain NumPy arrays.

For a fully-connected network with L layers, a batch of B examples in the rows
of x, weights W⁽ˡ⁾ of shape (n_l, n_{l−1}) (PyTorch's layout) and biases
b⁽ˡ⁾ of shape (n_l,):

    a⁽⁰⁾ = x
    z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾,   a⁽ˡ⁾ = σ(z⁽ˡ⁾)                 (forward)
    δ⁽ᴸ⁾ = ∂L/∂z⁽ᴸ⁾                                                (1: output error)
    δ⁽ˡ⁾ = (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾) ⊙ σ'(z⁽ˡ⁾)                              (2: error moves back)
    ∂L/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀ a⁽ˡ⁻¹⁾                                         (3: weight gradient)
    ∂L/∂b⁽ˡ⁾ = Σ_rows δ⁽ˡ⁾                                           (4: bias gradient)

Row i of δ⁽ˡ⁾ is ∂L/∂z⁽ˡ⁾ for example i; since L averages over the batch,
each row already carries its factor 1/B. ``docs/backprop.md`` derives the four
equations and works a small example through by hand; the functions below are
named after the equation they compute.

No autodiff is used here: this module is the independent hand computation the
engine (:mod:`descend.autograd`) is tested against, and the tool that shows,
layer by layer, how the error signal shrinks or grows on its way back
(:meth:`MLP.explain`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .ops.special import erf
from .tensor import Tensor

__all__ = ["forward_backward", "BackpropResult", "MLP", "LayerStats", "Explanation",
           "output_delta", "hidden_delta", "weight_gradient", "bias_gradient", "ACTIVATIONS", "LOSSES",
           "conv_forward", "conv_input_error", "conv_weight_gradient", "conv_bias_gradient"]

LOSSES = ("half_sse", "mse", "cross_entropy")


# ---------------------------------------------------------------- activations σ and σ'
# Each entry: (σ(z), σ'(z) given z and a = σ(z)). Defaults match descend.nn's modules
# (leaky_relu slope 0.01, elu α = 1, softplus β = 1 with threshold 20, exact gelu).
def _sigmoid(z):
    e = np.exp(-np.abs(z))  # e^(−|z|) ≤ 1: no overflow for any z
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _gelu_cdf(z):
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))


ACTIVATIONS = {
    "sigmoid": (_sigmoid, lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
    "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z, a: np.where(z > 0, 1.0, 0.01)),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
            lambda z, a: np.where(z > 0, 1.0, a + 1)),
    "softplus": (lambda z: np.where(z > 20, z, np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))),
                 lambda z, a: np.where(z > 20, 1.0, _sigmoid(z))),
    "gelu": (lambda z: z * _gelu_cdf(z),
             lambda z, a: _gelu_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)),
}


def _check_activation(name, what: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"{what} must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return name


# ---------------------------------------------------------------- result
@dataclass
class BackpropResult:
    """Everything the forward and backward passes computed (layers numbered from 1 in the maths).

    Attributes
    ----------
    loss : float
    weight_grads : list of arrays
        ``weight_grads[l-1]`` is ∂L/∂W⁽ˡ⁾, shape (n_l, n_{l−1}).
    bias_grads : list of arrays (None for a layer without bias)
        ``bias_grads[l-1]`` is ∂L/∂b⁽ˡ⁾, shape (n_l,).
    deltas : list of arrays
        ``deltas[l-1]`` is δ⁽ˡ⁾ = ∂L/∂z⁽ˡ⁾, shape (B, n_l).
    activations : list of arrays
        ``activations[l]`` is a⁽ˡ⁾, shape (B, n_l); ``activations[0]`` is the input x.
        With ``loss="cross_entropy"`` the last one holds the softmax probabilities.
    preactivations : list of arrays
        ``preactivations[l-1]`` is z⁽ˡ⁾, shape (B, n_l) (the last one: the logits).
    """

    loss: float
    weight_grads: list
    bias_grads: list
    deltas: list
    activations: list
    preactivations: list

    @property
    def output(self) -> np.ndarray:
        """a⁽ᴸ⁾, the network's output."""
        return self.activations[-1]


# ---------------------------------------------------------------- validation
def _raw(value):
    return value.data if isinstance(value, Tensor) else value


def _array(value, what: str) -> np.ndarray:
    try:
        arr = np.asarray(_raw(value))
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"{what} is not an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr.astype(np.float64, copy=False)


def _one_per_layer(values, what: str):
    """A 1-D array of numbers is one number per layer (the one-neuron-per-layer network)."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"{what} must be a list with one entry per layer, or a 1-D array of one "
                             f"number per layer (one neuron each), got an array of shape {values.shape}")
        return list(values)
    return values


def _neuron_rows(w: np.ndarray) -> np.ndarray:
    """A number is the 1×1 weight of a neuron with one input; a 1-D array the weights of one
    neuron (a row): the one-neuron-per-layer network written with plain numbers."""
    return w.reshape(1, -1) if w.ndim <= 1 else w


def _parameters(weights, biases):
    weights = _one_per_layer(weights, "weights")
    if not hasattr(weights, "__len__") or len(weights) == 0:
        raise ValueError("weights must be a non-empty list of 2-D arrays, weights[l] of shape (out, in)")
    Ws = [_neuron_rows(_array(w, f"weights[{i}]")) for i, w in enumerate(weights)]
    if biases is None:
        biases = [None] * len(Ws)
    biases = _one_per_layer(biases, "biases")
    if not hasattr(biases, "__len__") or len(biases) != len(Ws):
        raise ValueError(f"biases must be a list with one entry per layer ({len(Ws)}), or None")
    bs = []
    for i, (w, b) in enumerate(zip(Ws, biases, strict=True)):
        if w.ndim != 2:
            raise ValueError(f"weights[{i}] must be 2-D (out, in), got shape {w.shape}")
        if i and w.shape[1] != Ws[i - 1].shape[0]:
            raise ValueError(
                f"weights[{i}] has shape {w.shape}: it takes {w.shape[1]} inputs but layer {i - 1} "
                f"has {Ws[i - 1].shape[0]} outputs"
            )
        if b is not None:
            b = _array(b, f"biases[{i}]")
            if b.ndim == 0:  # the bias of a one-neuron layer, as a number
                b = b.reshape(1)
            if b.shape != (w.shape[0],):
                raise ValueError(f"biases[{i}] must have shape ({w.shape[0]},) to match weights[{i}], got {b.shape}")
        bs.append(b)
    return Ws, bs


def _inputs(x, y, n_in: int, n_out: int, loss: str):
    X = _array(x, "x")
    if n_in == 1 and X.ndim <= 1:  # one input: a number is one example, a 1-D array a batch
        X = X.reshape(-1, 1)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}), got {X.shape} (a single example: x[None, :])")
    B = X.shape[0]
    if B == 0:
        raise ValueError("x is an empty batch")
    if loss == "cross_entropy":
        Y = np.asarray(_raw(y))
        if Y.dtype.kind not in "iu":
            raise TypeError(f"y must hold integer class labels for loss='cross_entropy', got dtype {Y.dtype}")
        if Y.shape != (B,):
            raise ValueError(f"y must have shape ({B},) (one label per row of x), got {Y.shape}")
        if Y.min() < 0 or Y.max() >= n_out:
            bad = Y[(Y < 0) | (Y >= n_out)][0]
            raise ValueError(f"y contains label {int(bad)}, but the network has {n_out} outputs (labels 0..{n_out - 1})")
        return X, Y
    Y = _array(y, "y")
    if n_out == 1 and (Y.shape == (B,) or (B == 1 and Y.ndim == 0)):
        Y = Y.reshape(B, 1)
    if Y.shape != (B, n_out):
        raise ValueError(f"y must have shape ({B}, {n_out}) for loss={loss!r}, got {Y.shape}")
    return X, Y


# ---------------------------------------------------------------- the passes
def _forward(X, Ws, bs, acts, loss):
    """z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾ and a⁽ˡ⁾ = σ(z⁽ˡ⁾), layer by layer (softmax on top for cross-entropy)."""
    a_list, z_list = [X], []
    a = X
    L = len(Ws)
    for k in range(L):
        z = a @ Ws[k].T
        if bs[k] is not None:
            z = z + bs[k]
        if k == L - 1 and loss == "cross_entropy":
            a = _softmax(z)
        else:
            a = ACTIVATIONS[acts[k]][0](z)
        z_list.append(z)
        a_list.append(a)
    return a_list, z_list


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _loss_value(aL, zL, Y, loss) -> float:
    B = aL.shape[0]
    if loss == "half_sse":  # L = (1/B) Σᵢ ½‖aᵢ − yᵢ‖²
        return float(0.5 * np.sum((aL - Y) ** 2) / B)
    if loss == "mse":  # L = (1/(B·K)) Σᵢₖ (aᵢₖ − yᵢₖ)²
        return float(np.mean((aL - Y) ** 2))
    # L = −(1/B) Σᵢ log softmax(zᵢ)_{yᵢ}, with the log-sum-exp shifted by the row maximum
    shifted = zL - zL.max(axis=1, keepdims=True)
    log_p = shifted[np.arange(B), Y] - np.log(np.exp(shifted).sum(axis=1))
    return float(-np.mean(log_p))


def output_delta(aL, zL, Y, activation: str, loss: str) -> np.ndarray:
    """Equation (1): δ⁽ᴸ⁾ = ∂L/∂z⁽ᴸ⁾ = ∂L/∂a⁽ᴸ⁾ ⊙ σ'(z⁽ᴸ⁾).

    half_sse: ∂L/∂a = (a − y)/B;  mse: ∂L/∂a = 2(a − y)/(B·K);
    cross_entropy (a = softmax(z)): δ = (a − onehot(y))/B, the softmax Jacobian
    and the log's 1/a having cancelled.
    """
    B = aL.shape[0]
    if loss == "cross_entropy":
        delta = aL.copy()
        delta[np.arange(B), Y] -= 1.0
        return delta / B
    dL_da = (aL - Y) / B if loss == "half_sse" else 2.0 * (aL - Y) / aL.size
    return dL_da * ACTIVATIONS[activation][1](zL, aL)


def hidden_delta(delta_next, W_next, z, a, activation: str) -> np.ndarray:
    """Equation (2): δ⁽ˡ⁾ = (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾) ⊙ σ'(z⁽ˡ⁾)."""
    return (delta_next @ W_next) * ACTIVATIONS[activation][1](z, a)


def weight_gradient(delta, a_prev) -> np.ndarray:
    """Equation (3): ∂L/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀ a⁽ˡ⁻¹⁾ (summing over the batch)."""
    return delta.T @ a_prev


def bias_gradient(delta) -> np.ndarray:
    """Equation (4): ∂L/∂b⁽ˡ⁾ = Σ over the rows (examples) of δ⁽ˡ⁾."""
    return delta.sum(axis=0)


def _backward(a_list, z_list, Y, Ws, bs, acts, loss) -> BackpropResult:
    L = len(Ws)
    deltas = [None] * L
    gW, gb = [None] * L, [None] * L
    delta = output_delta(a_list[L], z_list[L - 1], Y, acts[L - 1], loss)
    for k in reversed(range(L)):  # 0-based: layer k + 1 in the maths
        if k < L - 1:
            delta = hidden_delta(delta, Ws[k + 1], z_list[k], a_list[k + 1], acts[k])
        deltas[k] = delta
        gW[k] = weight_gradient(delta, a_list[k])
        gb[k] = bias_gradient(delta) if bs[k] is not None else None
    return BackpropResult(
        loss=_loss_value(a_list[L], z_list[L - 1], Y, loss),
        weight_grads=gW, bias_grads=gb, deltas=deltas,
        activations=a_list, preactivations=z_list,
    )


def _layer_activations(activation, output_activation, L: int, loss: str) -> list[str]:
    _check_activation(activation, "activation")
    if loss == "cross_entropy":
        if output_activation not in (None, "softmax", "identity"):
            raise ValueError(
                "output_activation must be None, 'softmax' or 'identity' for loss='cross_entropy' "
                f"(the last layer's z are the logits and the loss applies softmax), got {output_activation!r}"
            )
        out = "identity"
    else:
        out = activation if output_activation is None else _check_activation(output_activation, "output_activation")
    return [activation] * (L - 1) + [out]


def _check_loss(loss) -> str:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
    return loss


def forward_backward(x, y, weights, biases, activation: str = "sigmoid", output_activation: str | None = None,
                     loss: str = "half_sse") -> BackpropResult:
    """One forward and one backward pass by hand, returning every intermediate quantity.

    Parameters
    ----------
    x : array (B, n_0)
        A batch of inputs, one per row. With one input (n_0 = 1), a number is one example
        and a 1-D array a batch of them.
    y : array
        Targets: (B, n_L) for ``half_sse`` and ``mse`` ((B,) is accepted when
        n_L = 1); integer class labels (B,) in 0..n_L−1 for ``cross_entropy``.
    weights : list of arrays
        ``weights[l-1]`` is W⁽ˡ⁾ with shape (n_l, n_{l−1}), as in ``nn.Linear``. A layer of
        one neuron may be given as a number (one input) or a 1-D array (its n_{l−1} input
        weights), and a network of one neuron per layer as a 1-D array of one number per
        layer; gradients come back as (n_l, n_{l−1}) arrays all the same.
    biases : list of arrays (or None entries / None for no biases)
        ``biases[l-1]`` is b⁽ˡ⁾ with shape (n_l,); a one-neuron layer's may be a number, and
        a one-neuron-per-layer network's a 1-D array of one number per layer.
    activation : str
        σ of the hidden layers: sigmoid, tanh, relu, identity (also leaky_relu,
        elu, softplus, gelu with descend.nn's default parameters).
    output_activation : str or None
        σ of the last layer; None means the same as ``activation``. For
        ``cross_entropy`` the output is always softmax of the last z (pass None,
        "softmax" or "identity").
    loss : str
        ``half_sse``: L = (1/B) Σᵢ ½‖a⁽ᴸ⁾ᵢ − yᵢ‖²;
        ``mse``: L = mean over all B·n_L entries of (a⁽ᴸ⁾ − y)²;
        ``cross_entropy``: L = −(1/B) Σᵢ log softmax(z⁽ᴸ⁾ᵢ)_{yᵢ}.

    Everything is computed in float64. Bad input (shapes that do not chain,
    NaN, labels out of range or not integers) raises an error naming the argument.
    """
    loss = _check_loss(loss)
    Ws, bs = _parameters(weights, biases)
    acts = _layer_activations(activation, output_activation, len(Ws), loss)
    X, Y = _inputs(x, y, Ws[0].shape[1], Ws[-1].shape[0], loss)
    a_list, z_list = _forward(X, Ws, bs, acts, loss)
    return _backward(a_list, z_list, Y, Ws, bs, acts, loss)


# ---------------------------------------------------------------- explaining a network
@dataclass
class LayerStats:
    """The numbers that show vanishing or exploding gradients, for one layer (``layer`` counts from 1).

    delta_norm : ‖δ⁽ˡ⁾‖ (Frobenius norm over the batch)
    weight_norm, weight_grad_norm : ‖W⁽ˡ⁾‖ and ‖∂L/∂W⁽ˡ⁾‖
    bias_grad_norm : ‖∂L/∂b⁽ˡ⁾‖ (None without bias)
    update_ratio : lr · ‖∂L/∂W⁽ˡ⁾‖ / ‖W⁽ˡ⁾‖, the relative size of one SGD step
        (around 1e-3 is the usual healthy range; far below: the layer barely
        learns; far above: it is being overwritten)
    mean_abs_derivative : mean |σ'(z⁽ˡ⁾)|, the factor each δ picks up in
        equation (2) (≤ 0.25 for sigmoid: why deep sigmoid nets vanish); None
        for a softmax/cross-entropy output
    dead_fraction : fraction of units whose σ'(z) is 0 for every example
        (dead ReLUs)
    """

    layer: int
    shape: tuple
    activation: str
    delta_norm: float
    weight_norm: float
    weight_grad_norm: float
    bias_grad_norm: float | None
    update_ratio: float
    mean_abs_derivative: float | None
    dead_fraction: float | None


@dataclass
class Explanation:
    """Per-layer statistics of one forward/backward pass (``print`` it for a table)."""

    loss: float
    lr: float
    layers: list = field(default_factory=list)
    result: BackpropResult | None = None

    def __str__(self) -> str:
        head = (f"{'layer':>5} {'shape':>12} {'σ':>10} {'‖δ‖':>10} {'‖W‖':>10} {'‖∂L/∂W‖':>10} "
                f"{'‖∂L/∂b‖':>10} {'lr·‖∂W‖/‖W‖':>12} {'mean|σ′|':>9} {'dead':>6}")
        lines = [f"loss = {self.loss:.6g}   (lr = {self.lr:g})", head]

        def fmt(v, width=10):
            return f"{'-':>{width}}" if v is None else f"{v:>{width}.3e}"

        for s in self.layers:
            shape = "x".join(map(str, s.shape))
            dead = "-" if s.dead_fraction is None else f"{s.dead_fraction:.0%}"
            mad = "-" if s.mean_abs_derivative is None else f"{s.mean_abs_derivative:.3f}"
            lines.append(
                f"{s.layer:>5} {shape:>12} {s.activation:>10} {fmt(s.delta_norm)} {fmt(s.weight_norm)} "
                f"{fmt(s.weight_grad_norm)} {fmt(s.bias_grad_norm)} {fmt(s.update_ratio, 12)} {mad:>9} {dead:>6}"
            )
        first, last = self.layers[0].weight_grad_norm, self.layers[-1].weight_grad_norm
        if last > 0 and len(self.layers) > 1:
            ratio = first / last
            verdict = ""
            if ratio < 1e-3:
                verdict = "  <- vanishing: the first layer learns far more slowly than the last"
            elif ratio > 1e3:
                verdict = "  <- exploding: the gradient grows on its way back"
            lines.append(f"‖∂L/∂W‖ first layer / last layer = {ratio:.3e}{verdict}")
        return "\n".join(lines)


class MLP:
    """A fully-connected network held as plain NumPy arrays, trained and explained by hand.

    ``MLP(weights, biases, activation="sigmoid", output_activation=None)`` with
    the conventions of :func:`forward_backward`; ``activation`` may also be a
    list with one name per layer. :meth:`from_module` copies a
    :class:`descend.nn.MLP` (or a ``Sequential`` of ``Linear`` and activation
    modules) so that the engine's network can be taken apart layer by layer.
    """

    def __init__(self, weights, biases=None, activation="sigmoid", output_activation: str | None = None):
        self.weights, self.biases = _parameters(weights, biases)
        self.weights = [w.copy() for w in self.weights]
        self.biases = [None if b is None else b.copy() for b in self.biases]
        L = len(self.weights)
        if isinstance(activation, (list, tuple)):
            if len(activation) != L:
                raise ValueError(f"activation: got {len(activation)} names for {L} layers")
            if output_activation is not None:
                raise ValueError("output_activation: give it inside the activation list instead")
            self.activations = [_check_activation(a, f"activation[{i}]") for i, a in enumerate(activation)]
        else:
            _check_activation(activation, "activation")
            out = activation if output_activation is None else _check_activation(output_activation, "output_activation")
            self.activations = [activation] * (L - 1) + [out]

    @classmethod
    def from_module(cls, module) -> MLP:
        """Copy (as float64) the weights, biases and activations of a ``descend.nn.MLP`` or ``Sequential``.

        Dropout layers are skipped: the copy is the network as evaluated in
        ``eval()`` mode.
        """
        from .nn import activations as nn_act
        from .nn.layers import Dropout, Identity, Linear

        names = {nn_act.ReLU: "relu", nn_act.Sigmoid: "sigmoid", nn_act.Tanh: "tanh",
                 nn_act.LeakyReLU: "leaky_relu", nn_act.ELU: "elu", nn_act.Softplus: "softplus",
                 nn_act.GELU: "gelu"}
        defaults = {nn_act.LeakyReLU: ("negative_slope", 0.01), nn_act.ELU: ("alpha", 1.0),
                    nn_act.GELU: ("approximate", "none")}
        try:
            children = list(module.children())
        except AttributeError:
            raise TypeError(f"from_module: expected a descend.nn.MLP or Sequential, got {type(module).__name__}") from None
        weights, biases, acts = [], [], []
        for i, m in enumerate(children):
            if isinstance(m, Linear):
                weights.append(m.weight.data)
                biases.append(None if m.bias is None else m.bias.data)
                acts.append("identity")
            elif isinstance(m, (Dropout, Identity)):
                continue
            elif type(m) in names:
                if not weights or acts[-1] != "identity":
                    raise ValueError(f"from_module: child {i} ({m!r}) does not follow a Linear layer")
                if type(m) in defaults:
                    attr, value = defaults[type(m)]
                    if getattr(m, attr) != value:
                        raise ValueError(f"from_module: child {i} ({m!r}): only {attr}={value!r} is supported")
                if isinstance(m, nn_act.Softplus) and (m.beta != 1.0 or m.threshold != 20.0):
                    raise ValueError(f"from_module: child {i} ({m!r}): only beta=1, threshold=20 is supported")
                acts[-1] = names[type(m)]
            else:
                raise ValueError(f"from_module: child {i} is a {type(m).__name__}, which backprop cannot handle "
                                 "(only Linear, activations, Dropout and Identity)")
        if not weights:
            raise ValueError("from_module: the module has no Linear layers")
        return cls(weights, biases, activation=acts)

    def _resolve(self, loss: str) -> list[str]:
        acts = list(self.activations)
        if loss == "cross_entropy":
            if acts[-1] != "identity":
                raise ValueError(
                    f"loss='cross_entropy' needs logits out of the last layer, but its activation is "
                    f"{acts[-1]!r}; use an output activation of 'identity'"
                )
        return acts

    def forward(self, x) -> np.ndarray:
        """a⁽ᴸ⁾ for a batch x (B, n_0)."""
        X = _array(x, "x")
        if X.ndim != 2 or X.shape[1] != self.weights[0].shape[1]:
            raise ValueError(f"x must have shape (batch, {self.weights[0].shape[1]}), got {X.shape}")
        a_list, _ = _forward(X, self.weights, self.biases, self.activations, "half_sse")
        return a_list[-1]

    def forward_backward(self, x, y, loss: str = "half_sse") -> BackpropResult:
        """:func:`forward_backward` with this network's parameters."""
        loss = _check_loss(loss)
        acts = self._resolve(loss)
        X, Y = _inputs(x, y, self.weights[0].shape[1], self.weights[-1].shape[0], loss)
        a_list, z_list = _forward(X, self.weights, self.biases, acts, loss)
        return _backward(a_list, z_list, Y, self.weights, self.biases, acts, loss)

    def step(self, x, y, lr: float, loss: str = "half_sse") -> BackpropResult:
        """One step of gradient descent by hand: W ← W − lr ∂L/∂W, b ← b − lr ∂L/∂b."""
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        res = self.forward_backward(x, y, loss)
        for k, gw in enumerate(res.weight_grads):
            self.weights[k] -= lr * gw
            if self.biases[k] is not None:
                self.biases[k] -= lr * res.bias_grads[k]
        return res

    def explain(self, x, y, loss: str = "half_sse", lr: float = 0.01) -> Explanation:
        """Per-layer δ norms, gradient norms and update/weight ratios for one batch (nothing is updated)."""
        res = self.forward_backward(x, y, loss)
        acts = self._resolve(loss)
        L = len(self.weights)
        stats = []
        for k in range(L):
            W = self.weights[k]
            wn = float(np.linalg.norm(W))
            gwn = float(np.linalg.norm(res.weight_grads[k]))
            if k == L - 1 and loss == "cross_entropy":
                mad, dead, act = None, None, "softmax"
            else:
                d = ACTIVATIONS[acts[k]][1](res.preactivations[k], res.activations[k + 1])
                mad = float(np.mean(np.abs(d)))
                dead = float(np.mean(np.all(d == 0, axis=0)))
                act = acts[k]
            stats.append(LayerStats(
                layer=k + 1, shape=W.shape, activation=act,
                delta_norm=float(np.linalg.norm(res.deltas[k])),
                weight_norm=wn, weight_grad_norm=gwn,
                bias_grad_norm=None if res.bias_grads[k] is None else float(np.linalg.norm(res.bias_grads[k])),
                update_ratio=lr * gwn / wn if wn > 0 else (0.0 if gwn == 0 else math.inf),
                mean_abs_derivative=mad, dead_fraction=dead,
            ))
        return Explanation(loss=res.loss, lr=lr, layers=stats, result=res)

    def __repr__(self) -> str:
        sizes = [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]
        return f"backprop.MLP(sizes={sizes}, activations={self.activations})"


# ---------------------------------------------------------------- a convolution layer
# The same four equations for z⁽ˡ⁾ = W⁽ˡ⁾ ⋆ a⁽ˡ⁻¹⁾ + b⁽ˡ⁾, a 2-D cross-correlation (what deep-learning
# libraries call convolution) of images (B, C, H, W) with kernels W (K, C, kh, kw), stride s and
# zero padding p on each side:
#
#     z[n, k, i, j] = b_k + Σ_{c, u, v} W[k, c, u, v] · â[n, c, s·i + u, s·j + v]     (â: a padded)
#
# Each sum is written as the correlation it is, over kernel offsets (u, v); no im2col and no
# engine, so that descend.ops.conv can be checked against it.
def _check_image(a, what: str) -> np.ndarray:
    a = _array(a, what)
    if a.ndim != 4:
        raise ValueError(f"{what} must be 4-D (batch, channels, height, width), got shape {a.shape}")
    return a


def _correlate(a: np.ndarray, kernels: np.ndarray, stride: int = 1) -> np.ndarray:
    """Valid cross-correlation: out[n, k, i, j] = Σ_{c,u,v} kernels[k, c, u, v] · a[n, c, s·i + u, s·j + v]."""
    K, C, kh, kw = kernels.shape
    oh = (a.shape[2] - kh) // stride + 1
    ow = (a.shape[3] - kw) // stride + 1
    out = np.zeros((a.shape[0], K, oh, ow), dtype=np.result_type(a, kernels))
    for u in range(kh):
        for v in range(kw):
            window = a[:, :, u: u + stride * (oh - 1) + 1: stride, v: v + stride * (ow - 1) + 1: stride]
            out += np.einsum("nchw,kc->nkhw", window, kernels[:, :, u, v])
    return out


def _pad(a: np.ndarray, p: int) -> np.ndarray:
    return np.pad(a, ((0, 0), (0, 0), (p, p), (p, p))) if p else a


def conv_forward(a_prev, weight, bias=None, stride: int = 1, padding: int = 0) -> np.ndarray:
    """z⁽ˡ⁾ = W⁽ˡ⁾ ⋆ a⁽ˡ⁻¹⁾ + b⁽ˡ⁾: every kernel slid over the padded input, ``stride`` pixels a step.

    Shapes: ``a_prev`` (B, C, H, W), ``weight`` (K, C, kh, kw), ``bias`` (K,); output
    (B, K, (H + 2p − kh)//s + 1, (W + 2p − kw)//s + 1).
    """
    a_prev, weight = _check_image(a_prev, "a_prev"), _check_image(weight, "weight")
    if a_prev.shape[1] != weight.shape[1]:
        raise ValueError(f"a_prev has {a_prev.shape[1]} channels, weight {weight.shape} expects {weight.shape[1]}")
    z = _correlate(_pad(a_prev, padding), weight, stride)
    return z if bias is None else z + _array(bias, "bias")[None, :, None, None]


def conv_input_error(delta, weight, input_shape, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Equation (2) for a convolution: ∂L/∂a⁽ˡ⁻¹⁾, the *full* correlation of δ⁽ˡ⁾ with the flipped kernels.

    Pixel (h, w) of the padded input met kernel offset (u, v) in every output pixel (i, j) with
    s·i + u = h, s·j + v = w, so ∂L/∂â[n, c, h, w] = Σ_{k,u,v} δ[n, k, (h−u)/s, (w−v)/s] W[k, c, u, v].
    With δ spread out to stride 1 (s − 1 zeros between its pixels) and padded by kh − 1 and kw − 1
    zeros, that sum is a valid correlation of δ with the kernels turned by 180° and their in- and
    output channels swapped. The padding's rows and columns are then cut off. (Multiplied by
    σ'(z⁽ˡ⁻¹⁾) it is δ⁽ˡ⁻¹⁾, as for a fully connected layer.)
    """
    delta, weight = _check_image(delta, "delta"), _check_image(weight, "weight")
    B, C, H, W = (int(n) for n in input_shape)
    K, _, kh, kw = weight.shape
    oh, ow = delta.shape[2:]
    # δ at stride 1: the output pixel (i, j) sits at (s·i, s·j) of the padded input
    spread = np.zeros((B, K, H + 2 * padding - kh + 1, W + 2 * padding - kw + 1), dtype=delta.dtype)
    spread[:, :, : stride * (oh - 1) + 1: stride, : stride * (ow - 1) + 1: stride] = delta
    full = np.pad(spread, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, K, kh, kw), turned by 180°
    padded_error = _correlate(full, flipped)
    return padded_error[:, :, padding: padding + H, padding: padding + W]


def conv_weight_gradient(delta, a_prev, kernel_size, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Equation (3) for a convolution: ∂L/∂W[k, c, u, v] = Σ_{n,i,j} δ[n, k, i, j] · â[n, c, s·i + u, s·j + v].

    The correlation of the input with the error, summed over the batch: for every kernel
    offset, the error times the input pixels that offset met (shapes (K, C, kh, kw)).
    """
    delta, a_prev = _check_image(delta, "delta"), _check_image(a_prev, "a_prev")
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    padded = _pad(a_prev, padding)
    oh, ow = delta.shape[2:]
    grad = np.empty((delta.shape[1], a_prev.shape[1], kh, kw), dtype=np.result_type(delta, a_prev))
    for u in range(kh):
        for v in range(kw):
            window = padded[:, :, u: u + stride * (oh - 1) + 1: stride, v: v + stride * (ow - 1) + 1: stride]
            grad[:, :, u, v] = np.einsum("nkhw,nchw->kc", delta, window)
    return grad


def conv_bias_gradient(delta) -> np.ndarray:
    """Equation (4) for a convolution: ∂L/∂b_k = Σ over examples and pixels of δ[:, k]."""
    return _check_image(delta, "delta").sum(axis=(0, 2, 3))
