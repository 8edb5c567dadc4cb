r"""Update rules as functions over NumPy arrays: the mathematics of every optimizer.

The rules know nothing about tensors, modules or parameter groups. The module
has two layers, the second built from the first:

1. **Rules on arrays** (names ending in ``_``, PyTorch's convention for "in
   place"): the small formulas all optimizers are made of, e.g.
   :func:`lerp_` (an exponential moving average), :func:`ema_square_`,
   :func:`momentum_`, :func:`adam_denominator_`. They overwrite the state
   arrays they are given and use caller-provided scratch arrays, so a caller
   that preallocates everything allocates nothing per step.

2. **One step of each named optimizer** (:func:`sgd_`, :func:`adagrad_`,
   :func:`rmsprop_`, :func:`adadelta_`, :func:`adam_`, :func:`adamax_`,
   :func:`nadam_`, :func:`radam_`, and :func:`lbfgs_direction` /
   :func:`strong_wolfe` for L-BFGS), written with the rules above. These are
   the only copy of each update: the classes of :mod:`descend.optim` call them
   on every parameter (or once over a group whose parameters are one array),
   so the class and the equation can never disagree.

The Optax-style transformations over these rules are in
:mod:`descend.optim.transforms`.

Conventions: step counters are Python ints and start at 1 for the first
update, as in PyTorch. Hyperparameter names and defaults are those of
:mod:`torch.optim` (``lr``, ``betas``, ``eps``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    # rules on arrays
    "lerp_", "ema_square_", "effective_grad", "momentum_", "adam_denominator_", "rms_",
    "infinity_norm_", "add_scaled_", "add_scaled_quotient_",
    # one step of each optimizer, in place
    "sgd_", "adagrad_", "rmsprop_", "adadelta_", "adam_", "adamax_", "nadam_", "radam_",
    "nadam_momentum", "radam_rectification", "lbfgs_direction", "cubic_interpolate",
    "strong_wolfe",
]


# =============================================================================
# 1. Rules on arrays (in place)
# =============================================================================
#
# Every function below works elementwise on arrays of one shape (any shape) and
# takes Python floats as hyperparameters, so that float32 arrays stay float32.
# ``tmp`` / ``out`` are scratch arrays of the same shape the caller provides.


def lerp_(avg: np.ndarray, x: np.ndarray, weight: float, tmp: np.ndarray) -> np.ndarray:
    r"""Exponential moving average, in place: ``avg ← avg + w·(x − avg)``.

    This is ``(1 − w)·avg + w·x`` (the first-moment estimate of Adam with
    ``w = 1 − β₁``) written as a linear interpolation. For ``w ≥ 0.5`` the
    symmetric form ``x − (1 − w)·(x − avg)`` is used, which is exact at
    ``w = 1`` (the same split as ``torch.lerp``).
    """
    np.subtract(x, avg, out=tmp)
    if abs(weight) < 0.5:
        np.multiply(tmp, weight, out=tmp)
        np.add(avg, tmp, out=avg)
    else:
        np.multiply(tmp, 1.0 - weight, out=tmp)
        np.subtract(x, tmp, out=avg)
    return avg


def ema_square_(avg: np.ndarray, x: np.ndarray, decay: float, tmp: np.ndarray) -> np.ndarray:
    r"""Moving average of squares, in place: ``avg ← ρ·avg + (1 − ρ)·x²``.

    The second-moment (uncentred variance) estimate of RMSprop, Adadelta and
    Adam, with ``ρ`` = ``alpha``, ``rho`` or ``β₂``. Evaluated as
    ``ρ·avg + ((1 − ρ)·x)·x``, the order of PyTorch's ``mul_(ρ).addcmul_(x, x, 1 − ρ)``.
    """
    np.multiply(x, 1.0 - decay, out=tmp)
    np.multiply(tmp, x, out=tmp)
    np.multiply(avg, decay, out=avg)
    np.add(avg, tmp, out=avg)
    return avg


def effective_grad(
    grad: np.ndarray,
    param: np.ndarray,
    weight_decay: float,
    maximize: bool,
    out: np.ndarray,
) -> np.ndarray:
    r"""The gradient an optimizer actually follows: ``g ← ±∇L(θ) + λ·θ``.

    ``maximize`` flips the sign (gradient *ascent* on ``L``); ``weight_decay``
    ``λ`` adds the gradient of the L2 penalty ``λ/2·‖θ‖²`` (coupled weight
    decay). Returns ``grad`` itself, unmodified, when there is nothing to do,
    else ``out`` holding the result; ``grad`` is never written.
    """
    if weight_decay != 0:
        np.multiply(param, weight_decay, out=out)
        # λθ − ∇L is exactly −∇L + λθ: one pass instead of negating first
        (np.subtract if maximize else np.add)(out, grad, out=out)
        return out
    if maximize:
        np.negative(grad, out=out)
        return out
    return grad


def momentum_(
    buf: np.ndarray,
    grad: np.ndarray,
    momentum: float,
    dampening: float,
    first: bool,
    tmp: np.ndarray,
) -> np.ndarray:
    r"""Momentum buffer ("heavy ball"), in place: ``b ← μ·b + (1 − τ)·g``.

    On the first step the buffer starts as the gradient itself (``b₁ = g₁``,
    undamped), as in PyTorch. ``μ`` is ``momentum``, ``τ`` ``dampening``.
    The buffer is a running sum of past gradients with weights ``μᵏ``, so
    directions that persist accumulate speed while oscillating ones cancel:
    the cure for ravines, where plain gradient descent zig-zags.
    """
    if first:
        np.copyto(buf, grad, casting="same_kind")
        return buf
    np.multiply(buf, momentum, out=buf)
    if dampening == 0:
        np.add(buf, grad, out=buf)
    else:
        np.multiply(grad, 1.0 - dampening, out=tmp)
        np.add(buf, tmp, out=buf)
    return buf


def adam_denominator_(
    exp_avg_sq: np.ndarray, bias_correction2_sqrt: float, eps: float, out: np.ndarray
) -> np.ndarray:
    r"""``out ← √v + ε·√(1 − β₂ᵗ)``: Adam's denominator, times ``√(1 − β₂ᵗ)``.

    ``v`` starts at 0, so early on it underestimates ``E[g²]`` by the factor
    ``1 − β₂ᵗ``; the bias-corrected RMS is ``√v̂ = √v / √(1 − β₂ᵗ)``, and
    ``√v̂ + ε = out / √(1 − β₂ᵗ)``. Leaving the constant factor to the step
    size (as Kingma & Ba's Algorithm 1 suggests) saves a pass over the array.
    ``ε`` keeps the step finite where the gradient has been zero.
    """
    np.sqrt(exp_avg_sq, out=out)
    np.add(out, eps * bias_correction2_sqrt, out=out)
    return out


def rms_(
    square_avg: np.ndarray,
    grad_avg: np.ndarray | None,
    eps: float,
    out: np.ndarray,
) -> np.ndarray:
    r"""RMSprop's denominator: ``out ← √(E[g²] − E[g]²) + ε`` (centred) or ``√E[g²] + ε``.

    The centred form divides by an estimate of the gradient's standard
    deviation instead of its RMS. Rounding can make ``E[g²] − E[g]²`` a hair
    negative when the gradient is nearly constant; it is clamped at 0 there.
    """
    if grad_avg is not None:
        np.multiply(grad_avg, grad_avg, out=out)
        np.subtract(square_avg, out, out=out)
        np.maximum(out, 0.0, out=out)
        np.sqrt(out, out=out)
    else:
        np.sqrt(square_avg, out=out)
    np.add(out, eps, out=out)
    return out


def infinity_norm_(
    exp_inf: np.ndarray, grad: np.ndarray, beta2: float, eps: float, tmp: np.ndarray
) -> np.ndarray:
    r"""Adamax's exponentially weighted infinity norm: ``u ← max(β₂·u, |g| + ε)``."""
    np.multiply(exp_inf, beta2, out=exp_inf)
    np.abs(grad, out=tmp)
    np.add(tmp, eps, out=tmp)
    np.maximum(exp_inf, tmp, out=exp_inf)
    return exp_inf


def add_scaled_(param: np.ndarray, direction: np.ndarray, alpha: float, tmp: np.ndarray) -> np.ndarray:
    r"""``θ ← θ + α·d``: the step itself (``α = −lr`` for descent).

    Two NumPy passes through ``tmp``: ``α·d`` is rounded, then the sum.
    (PyTorch's ``add_(d, alpha=α)`` may fuse them, so results can differ from
    PyTorch's in the last bit.)
    """
    np.multiply(direction, alpha, out=tmp)
    np.add(param, tmp, out=param)
    return param


def add_scaled_quotient_(
    param: np.ndarray, num: np.ndarray, den: np.ndarray, alpha: float, tmp: np.ndarray
) -> np.ndarray:
    r"""``θ ← θ + α·n/d`` (``tmp`` may be ``den``, which is then overwritten)."""
    np.divide(num, den, out=tmp)
    np.multiply(tmp, alpha, out=tmp)
    np.add(param, tmp, out=param)
    return param


# =============================================================================
# 2. One step of each optimizer, in place
# =============================================================================
#
# Signature pattern: ``rule_(param, grad, *state_arrays, *scratch, **hyperparameters)``.
# ``param`` and the state arrays are updated in place; ``grad`` is only read;
# scratch arrays (``u``, ``t``, ``w``) have the parameter's shape and dtype and
# hold garbage afterwards. ``step`` is the 1-based number of this update.


def sgd_(
    param, grad, momentum_buffer, u, t, *,
    lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
    first=False,
):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    .. math::
        g &\leftarrow \pm\nabla L(\theta) + \lambda\theta \\
        b &\leftarrow \mu b + (1-\tau) g \quad (b_1 = g_1) \\
        d &\leftarrow g + \mu b \ \text{(Nesterov)}, \quad b \ \text{(momentum)},
             \quad g \ \text{(plain)} \\
        \theta &\leftarrow \theta - \alpha d

    ``momentum_buffer`` may be None when ``momentum == 0``; ``first`` says
    whether this is the buffer's first step.
    """
    if momentum == 0 and weight_decay == 0:
        # plain (ascent or descent) step θ ← θ ∓ α∇L: maximize is just the sign of the step
        return add_scaled_(param, grad, lr if maximize else -lr, t)
    d = effective_grad(grad, param, weight_decay, maximize, u)
    if momentum != 0:
        momentum_(momentum_buffer, d, momentum, dampening, first, t)
        if nesterov:
            np.multiply(momentum_buffer, momentum, out=t)
            np.add(t, d, out=t)  # g + μb
            d = t
        else:
            d = momentum_buffer
    return add_scaled_(param, d, -lr, t)


def adagrad_(
    param, grad, state_sum, u, t, *,
    lr, step, lr_decay=0.0, eps=1e-10, weight_decay=0.0, maximize=False,
):
    r"""Adagrad: a per-coordinate learning rate that shrinks with the gradients seen.

    .. math::
        s &\leftarrow s + g^2 \\
        \theta &\leftarrow \theta - \frac{\alpha}{1 + (t-1)\,\eta}\,
                 \frac{g}{\sqrt{s} + \epsilon}

    Coordinates with rare, large gradients (sparse features) keep a large
    step; frequently updated ones slow down. ``η`` is ``lr_decay``.
    """
    clr = lr / (1 + (step - 1) * lr_decay)
    if weight_decay == 0:
        # s only sees g², and the step is odd in g: maximize is the sign of the step
        d, alpha = grad, (clr if maximize else -clr)
    else:
        d, alpha = effective_grad(grad, param, weight_decay, maximize, u), -clr
    np.multiply(d, d, out=t)
    np.add(state_sum, t, out=state_sum)
    np.sqrt(state_sum, out=t)
    np.add(t, eps, out=t)
    return add_scaled_quotient_(param, d, t, alpha, t)


def rmsprop_(
    param, grad, square_avg, grad_avg, momentum_buffer, u, t, *,
    lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False,
):
    r"""RMSprop: divide the gradient by a running RMS of recent gradients.

    .. math::
        v &\leftarrow \alpha v + (1-\alpha) g^2, \qquad
        \bar g \leftarrow \alpha \bar g + (1-\alpha) g \ \text{(centred)} \\
        r &= \sqrt{v - \bar g^2} + \epsilon \ \text{(centred)} \quad
             \text{or} \quad \sqrt{v} + \epsilon \\
        b &\leftarrow \mu b + g / r, \quad \theta \leftarrow \theta - \alpha_{lr} b
             \quad (\mu > 0), \qquad
        \theta \leftarrow \theta - \alpha_{lr}\, g / r \quad (\mu = 0)

    Unlike Adagrad the average forgets, so the step does not decay to zero.
    ``grad_avg`` is None unless ``centered``; ``momentum_buffer`` is None unless
    ``momentum > 0`` (its first value is ``g / r``, i.e. it starts at 0).
    """
    if weight_decay == 0 and not centered:
        # v only sees g², and the rest is linear in g: maximize is the sign of the step
        d, sign = grad, (-1.0 if maximize else 1.0)
    else:
        d, sign = effective_grad(grad, param, weight_decay, maximize, u), 1.0
    ema_square_(square_avg, d, alpha, t)
    if centered:
        lerp_(grad_avg, d, 1.0 - alpha, t)
    rms_(square_avg, grad_avg if centered else None, eps, t)
    if momentum > 0:
        np.divide(d, t, out=t)
        np.multiply(momentum_buffer, momentum, out=momentum_buffer)
        (np.subtract if sign < 0 else np.add)(momentum_buffer, t, out=momentum_buffer)
        return add_scaled_(param, momentum_buffer, -lr, t)
    return add_scaled_quotient_(param, d, t, -lr * sign, t)


def adadelta_(
    param, grad, square_avg, acc_delta, u, t, w, *,
    lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False,
):
    r"""Adadelta: the step's own running RMS sets its units, so ``lr`` can stay 1.

    .. math::
        v &\leftarrow \rho v + (1-\rho) g^2 \\
        \Delta &= \frac{\sqrt{a + \epsilon}}{\sqrt{v + \epsilon}}\, g
                = \sqrt{\frac{a + \epsilon}{v + \epsilon}}\, g \\
        a &\leftarrow \rho a + (1-\rho) \Delta^2 \\
        \theta &\leftarrow \theta - \alpha \Delta

    (one square root of the quotient instead of two: the costliest pass, halved).
    """
    d = effective_grad(grad, param, weight_decay, maximize, u)
    ema_square_(square_avg, d, rho, t)
    np.add(square_avg, eps, out=t)
    np.add(acc_delta, eps, out=w)
    np.divide(w, t, out=w)
    np.sqrt(w, out=w)
    np.multiply(w, d, out=w)  # Δ
    ema_square_(acc_delta, w, rho, t)
    return add_scaled_(param, w, -lr, t)


def _decay_and_effective_grad(grad, param, lr, weight_decay, decoupled, maximize, out):
    """Decoupled decay ``θ ← (1 − αλ)θ`` now and the raw (signed) gradient, or the L2-coupled gradient."""
    if decoupled:
        if weight_decay != 0:
            np.multiply(param, 1.0 - lr * weight_decay, out=param)
        return effective_grad(grad, param, 0.0, maximize, out)
    return effective_grad(grad, param, weight_decay, maximize, out)


def adam_(
    param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, u, t, *,
    lr, step, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
    decoupled_weight_decay=False,
):
    r"""Adam (and AdamW with ``decoupled_weight_decay``): momentum over an RMS-scaled step.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat v &= \max(\hat v_{\max}, v) \ \text{(AMSGrad)} \\
        \theta &\leftarrow \theta - \frac{\alpha}{1-\beta_1^t}\,
                 \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}
               = \theta - \frac{\alpha\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
                 \frac{m}{\sqrt{v} + \epsilon\sqrt{1-\beta_2^t}}

    (the second form, Kingma & Ba's, moves the bias corrections into one
    number). With decoupled weight decay the parameter shrinks first,
    ``θ ← (1 − αλ)·θ``, instead of ``λθ`` joining the gradient (where Adam's
    scaling would weaken it for coordinates with large gradients).
    ``max_exp_avg_sq`` is None unless ``amsgrad``.
    """
    beta1, beta2 = betas
    d = _decay_and_effective_grad(grad, param, lr, weight_decay, decoupled_weight_decay, maximize, u)
    lerp_(exp_avg, d, 1.0 - beta1, t)
    ema_square_(exp_avg_sq, d, beta2, t)
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    else:
        second = exp_avg_sq
    adam_denominator_(second, bias_correction2_sqrt, eps, t)
    return add_scaled_quotient_(param, exp_avg, t, -lr * bias_correction2_sqrt / bias_correction1, t)


def adamax_(
    param, grad, exp_avg, exp_inf, u, t, *,
    lr, step, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False,
):
    r"""Adamax: Adam with the infinity norm in place of the RMS.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        u \leftarrow \max(\beta_2 u, |g| + \epsilon) \\
        \theta &\leftarrow \theta - \frac{\alpha}{1-\beta_1^t}\,\frac{m}{u}
    """
    beta1, beta2 = betas
    d = effective_grad(grad, param, weight_decay, maximize, u)
    lerp_(exp_avg, d, 1.0 - beta1, t)
    infinity_norm_(exp_inf, d, beta2, eps, t)
    return add_scaled_quotient_(param, exp_avg, exp_inf, -(lr / (1.0 - beta1**step)), t)


def nadam_momentum(step: int, beta1: float, momentum_decay: float) -> float:
    r"""NAdam's momentum schedule ``μₜ = β₁·(1 − ½·0.96^{t·ψ})`` (``ψ`` = ``momentum_decay``)."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))


def nadam_(
    param, grad, exp_avg, exp_avg_sq, u, t, *,
    lr, step, mu_product, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
    momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False,
):
    r"""NAdam: Adam with Nesterov momentum (look one momentum step ahead).

    With ``μₜ`` from :func:`nadam_momentum` and ``Πₜ = μ₁⋯μₜ``
    (``mu_product``, *including* this step's ``μₜ``; the caller keeps it):

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
        r = \sqrt{v / (1-\beta_2^t)} + \epsilon \\
        \theta &\leftarrow \theta
          - \alpha\frac{1-\mu_t}{1-\Pi_t}\frac{g}{r}
          - \alpha\frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\frac{m}{r}

    Computed as ``θ ← θ + (c_g·g + c_m·m) / (√v + ε√(1−β₂ᵗ))`` with the two
    coefficients times ``√(1−β₂ᵗ)``: one division instead of two.
    """
    beta1, beta2 = betas
    d = _decay_and_effective_grad(grad, param, lr, weight_decay, decoupled_weight_decay, maximize, u)
    mu = nadam_momentum(step, beta1, momentum_decay)
    mu_next = nadam_momentum(step + 1, beta1, momentum_decay)
    lerp_(exp_avg, d, 1.0 - beta1, t)
    ema_square_(exp_avg_sq, d, beta2, t)
    bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
    c_grad = -lr * (1.0 - mu) / (1.0 - mu_product) * bias_correction2_sqrt
    c_avg = (-lr * mu_next) / (1.0 - mu_product * mu_next) * bias_correction2_sqrt
    if c_avg != 0:  # c_g·g + c_m·m = c_m·((c_g/c_m)·g + m)
        np.multiply(d, c_grad / c_avg, out=u)
        np.add(u, exp_avg, out=u)
        np.multiply(u, c_avg, out=u)
    else:  # β₁ = 0 or lr = 0: no momentum term
        np.multiply(d, c_grad, out=u)
    adam_denominator_(exp_avg_sq, bias_correction2_sqrt, eps, t)
    np.divide(u, t, out=u)
    np.add(param, u, out=param)
    return param


def radam_rectification(step: int, beta2: float) -> float | None:
    r"""RAdam's variance rectification ``rₜ``, or None while it is undefined.

    ``ρ∞ = 2/(1−β₂) − 1`` and ``ρₜ = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ)`` estimate the
    length of the moving average; while ``ρₜ ≤ 5`` the variance of the
    adaptive rate is too large to trust (None: take a plain momentum step);
    after that ``rₜ = √((ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρₜ))``.
    """
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * (beta2**step) / (1.0 - beta2**step)
    if rho_t <= 5.0:
        return None
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def radam_(
    param, grad, exp_avg, exp_avg_sq, u, t, *,
    lr, step, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
    maximize=False,
):
    r"""RAdam: Adam whose adaptive rate is switched in gradually (no warm-up needed).

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
        \hat m = m / (1-\beta_1^t) \\
        \theta &\leftarrow \theta - \alpha\, \hat m\, r_t
           \frac{\sqrt{1-\beta_2^t}}{\sqrt{v} + \epsilon}
           \quad\text{if } r_t \text{ is defined, else} \quad
        \theta \leftarrow \theta - \alpha \hat m

    with ``rₜ`` from :func:`radam_rectification`.
    """
    beta1, beta2 = betas
    d = _decay_and_effective_grad(grad, param, lr, weight_decay, decoupled_weight_decay, maximize, u)
    lerp_(exp_avg, d, 1.0 - beta1, t)
    ema_square_(exp_avg_sq, d, beta2, t)
    bias_correction1 = 1.0 - beta1**step
    rect = radam_rectification(step, beta2)
    if rect is None:
        return add_scaled_(param, exp_avg, -lr / bias_correction1, t)
    np.sqrt(exp_avg_sq, out=t)
    np.add(t, eps, out=t)
    scale_ = lr * rect * (1.0 - beta2**step) ** 0.5 / bias_correction1
    return add_scaled_quotient_(param, exp_avg, t, -scale_, t)


# -- L-BFGS --------------------------------------------------------------------


def lbfgs_direction(
    flat_grad: np.ndarray,
    old_dirs: list,
    old_stps: list,
    ro: list,
    h_diag: float,
) -> np.ndarray:
    r"""The L-BFGS search direction ``d = −H·g`` by the two-loop recursion.

    ``old_stps`` are the last steps ``sᵢ = θᵢ₊₁ − θᵢ``, ``old_dirs`` the
    matching gradient changes ``yᵢ = gᵢ₊₁ − gᵢ`` (oldest first), ``ro`` the
    numbers ``ρᵢ = 1 / (yᵢ·sᵢ)``, and ``h_diag`` the scale ``γ = (s·y)/(y·y)``
    of the initial inverse Hessian ``H₀ = γI``. ``H`` is the inverse-Hessian
    approximation that satisfies the secant equations ``H yᵢ = sᵢ`` for the
    remembered pairs, so ``d`` is a quasi-Newton step. All arrays are flat
    (shape ``(n,)``); returns a new array.
    """
    num_old = len(old_dirs)
    al = [0.0] * num_old
    q = np.negative(flat_grad)
    for i in range(num_old - 1, -1, -1):
        al[i] = float(np.dot(old_stps[i], q)) * ro[i]
        q -= al[i] * old_dirs[i]
    r = np.multiply(q, h_diag)
    for i in range(num_old):
        be_i = float(np.dot(old_dirs[i], r)) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return r


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    r"""Minimiser of the cubic through ``(x1, f1)``, ``(x2, f2)`` with slopes ``g1``, ``g2``.

    Clamped to ``bounds`` (default: the interval between the points); when the
    cubic has no real minimiser the midpoint of the bounds is returned.
    """
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, lo), hi)
    return (lo + hi) / 2.0


def strong_wolfe(
    obj_func: Callable[[float], tuple[float, np.ndarray]],
    t: float,
    d: np.ndarray,
    f: float,
    g: np.ndarray,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:
    r"""Line search for a step ``t`` along ``d`` meeting the strong Wolfe conditions.

    ``obj_func(t)`` returns the loss and flat gradient at ``θ + t·d``; ``f``,
    ``g``, ``gtd = g·d < 0`` describe the start. The accepted ``t`` satisfies

    * sufficient decrease: ``f(t) ≤ f + c₁·t·gtd``, and
    * curvature: ``|∇f(t)·d| ≤ −c₂·gtd``,

    found by bracketing then zooming with cubic interpolation (Nocedal &
    Wright, *Numerical Optimization*, algorithms 3.5 and 3.6; the variant of
    minFunc and PyTorch). Returns ``(f_new, g_new, t, evaluations)``.
    """
    d_norm = float(np.max(np.abs(d)))
    g = g.copy()
    f_new, g_new = obj_func(t)
    evals = 1
    gtd_new = float(np.dot(g_new, d))

    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    # Bracketing phase: expand t until an interval is known to hold a good point.
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        previous = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(t)
        evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]
        bracket_gtd = [gtd, gtd_new]

    # Zoom phase: shrink the bracket around a point meeting both conditions.
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # Keep t away from the ends of the bracket, or the interval stalls.
        hi, lo = max(bracket), min(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(t)
        evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], evals
