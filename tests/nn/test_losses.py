"""Losses (functions and modules) against PyTorch, finite differences and bad input."""

import numpy as np
import pytest

import descend
from descend import nn
from descend.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]
rng = np.random.default_rng(0)


def _torch():
    return pytest.importorskip("torch")


def _compare(ours, theirs, inputs, rtol=1e-10):
    """Run both with random output cotangent; compare values and input gradients."""
    torch = _torch()
    ts = [descend.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    tt = [torch.from_numpy(a).requires_grad_(a.dtype.kind == "f") for a in inputs]
    out = ours(*ts)
    tout = theirs(*tt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=1e-12)
    v = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(v)
    tout.backward(torch.from_numpy(v))
    for t, u in zip(ts, tt, strict=True):
        if t.requires_grad:
            np.testing.assert_allclose(t.grad, u.grad.numpy(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_regression_losses_match_torch(name, reduction):
    torch = _torch()
    x = rng.standard_normal((5, 3)) * 2
    y = rng.standard_normal((5, 3))
    kw = {"delta": 0.7} if name == "huber_loss" else {}
    _compare(lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kw),
             lambda a, b: getattr(torch.nn.functional, name)(a, b, reduction=reduction, **kw), [x, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_torch(reduction):
    torch = _torch()
    p = rng.uniform(0.02, 0.98, (6, 2))
    y = rng.uniform(0, 1, (6, 2))
    w = rng.uniform(0.5, 2, (6, 2))
    _compare(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
             lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, weight=torch.from_numpy(w),
                                                                   reduction=reduction), [p, y])
    # probabilities at exactly 0 and 1: PyTorch clamps the log at -100
    edge = np.array([[0.0, 1.0], [1.0, 0.0]])
    ones = np.array([[1.0, 1.0], [0.0, 0.0]])
    ours = F.binary_cross_entropy(edge, ones, reduction=reduction).data
    theirs = torch.nn.functional.binary_cross_entropy(torch.from_numpy(edge), torch.from_numpy(ones), reduction=reduction)
    np.testing.assert_allclose(ours, theirs.numpy())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, "vector"])
def test_bce_with_logits_matches_torch_and_is_stable(reduction, pos_weight):
    torch = _torch()
    x = rng.standard_normal((4, 3)) * 5
    x[0, 0], x[1, 1] = 1e4, -1e4
    y = rng.uniform(0, 1, (4, 3))
    pw = rng.uniform(0.5, 3, 3) if pos_weight else None
    w = rng.uniform(0.5, 2, (4, 3))
    _compare(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction, pos_weight=pw),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
            a, b, weight=torch.from_numpy(w), reduction=reduction,
            pos_weight=None if pw is None else torch.from_numpy(pw)),
        [x, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_class_indices_match_torch(reduction, weighted, smoothing, ignore):
    torch = _torch()
    x = rng.standard_normal((7, 4)) * 3
    y = rng.integers(0, 4, 7)
    if ignore:
        y[[1, 4]] = -100
    w = rng.uniform(0.2, 3, 4) if weighted else None
    tw = None if w is None else torch.from_numpy(w)
    _compare(lambda a: F.cross_entropy(a, y, weight=w, reduction=reduction, label_smoothing=smoothing),
             lambda a: torch.nn.functional.cross_entropy(a, torch.from_numpy(y), weight=tw, reduction=reduction,
                                                         label_smoothing=smoothing), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probabilities_match_torch_including_target_grad(reduction, smoothing):
    torch = _torch()
    x = rng.standard_normal((5, 3))
    q = rng.dirichlet(np.ones(3), 5)
    w = rng.uniform(0.5, 2, 3)
    _compare(lambda a, b: F.cross_entropy(a, b, weight=w, reduction=reduction, label_smoothing=smoothing),
             lambda a, b: torch.nn.functional.cross_entropy(a, b, weight=torch.from_numpy(w), reduction=reduction,
                                                            label_smoothing=smoothing), [x, q])


def test_cross_entropy_spatial_and_unbatched_match_torch():
    torch = _torch()
    x = rng.standard_normal((2, 3, 4))
    y = rng.integers(0, 3, (2, 4))
    for reduction in REDUCTIONS:
        _compare(lambda a, r=reduction: F.cross_entropy(a, y, reduction=r, label_smoothing=0.1),
                 lambda a, r=reduction: torch.nn.functional.cross_entropy(a, torch.from_numpy(y), reduction=r,
                                                                          label_smoothing=0.1), [x])
        _compare(lambda a, r=reduction: F.nll_loss(a, y, reduction=r),
                 lambda a, r=reduction: torch.nn.functional.nll_loss(a, torch.from_numpy(y), reduction=r), [x])
    single = rng.standard_normal(5)
    _compare(lambda a: F.cross_entropy(a, np.array(2)),
             lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(2)), [single])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(reduction):
    torch = _torch()
    logp = np.log(rng.dirichlet(np.ones(4), 6))
    y = rng.integers(0, 4, 6)
    y[0] = 1
    y[3] = -1
    w = rng.uniform(0.5, 2, 4)
    _compare(lambda a: F.nll_loss(a, y, weight=w, ignore_index=-1, reduction=reduction),
             lambda a: torch.nn.functional.nll_loss(a, torch.from_numpy(y), weight=torch.from_numpy(w),
                                                    ignore_index=-1, reduction=reduction), [logp])


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    x = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    xt = descend.tensor(x, requires_grad=True)
    F.cross_entropy(xt, y).backward()
    p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    p[np.arange(4), y] -= 1
    np.testing.assert_allclose(xt.grad, p / 4, rtol=1e-12)
    # one fused node, whose only parent is the logits
    loss = F.cross_entropy(descend.tensor(x, requires_grad=True), y)
    assert loss._op == "cross_entropy" and len(loss._parents) == 1


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4], [3e4, 3e4 + 1, 3e4]], dtype=np.float32)
    y = np.array([0, 0, 1])
    xt = descend.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, y, label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(xt.grad))
    # row 0: loss ≈ 0 for the nll part; row 1: log 2 + 2e4 ; row 2: logsumexp(0,1,0) − 1
    exact = [0.0, np.log(2.0) + 2e4, np.log(2 + np.e) - 1]
    per = F.cross_entropy(x.astype(np.float64), y, reduction="none").data
    np.testing.assert_allclose(per, exact, rtol=1e-12)
    for fn in (F.binary_cross_entropy_with_logits,):
        out = fn(descend.tensor(x, requires_grad=True), np.ones_like(x))
        assert np.isfinite(out.item())


@pytest.mark.parametrize("fn,args", [
    (F.mse_loss, ()), (F.l1_loss, ()), (F.huber_loss, ()),
    (F.binary_cross_entropy_with_logits, ()),
])
def test_elementwise_loss_gradcheck(fn, args):
    x = rng.standard_normal((3, 2))
    y = rng.uniform(0.1, 0.9, (3, 2))
    x[np.abs(x - y) < 0.05] += 0.2  # stay away from the kinks of |d|
    for reduction in REDUCTIONS:
        descend.gradcheck(lambda a, b, r=reduction: fn(a, b, reduction=r), x, y)


def test_classification_gradcheck():
    x = rng.standard_normal((4, 3))
    y = np.array([2, 0, 1, 1])
    w = np.array([0.5, 1.0, 2.0])
    descend.gradcheck(lambda a: F.cross_entropy(a, y, weight=w, label_smoothing=0.1), x)
    descend.gradcheck(lambda a, q: F.cross_entropy(a, q, weight=w, label_smoothing=0.1),
                      x, rng.dirichlet(np.ones(3), 4))
    descend.gradcheck(lambda a: F.nll_loss(a, y, weight=w, reduction="sum"), x)
    descend.gradcheck(lambda a, b: F.binary_cross_entropy(a, b), rng.uniform(0.1, 0.9, (3, 2)), rng.random((3, 2)))


def test_loss_modules_forward_their_options():
    torch = _torch()
    x = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, 5)
    w = np.array([1.0, 2.0, 0.5])
    ours = nn.CrossEntropyLoss(weight=w, reduction="sum", label_smoothing=0.05, ignore_index=2)(x, y)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w), reduction="sum", label_smoothing=0.05,
                                       ignore_index=2)(torch.from_numpy(x), torch.from_numpy(y))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    z = rng.standard_normal((5, 3))
    t = rng.random((5, 3))
    pairs = [
        (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), z),
        (nn.L1Loss(), torch.nn.L1Loss(), z),
        (nn.HuberLoss(delta=0.3), torch.nn.HuberLoss(delta=0.3), z),
        (nn.BCELoss(), torch.nn.BCELoss(), 1 / (1 + np.exp(-z))),
        (nn.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 3.0])),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)), z),
        (nn.NLLLoss(), torch.nn.NLLLoss(), None),
    ]
    for ours_m, theirs_m, inp in pairs:
        if inp is None:
            lp = np.log(rng.dirichlet(np.ones(3), 5))
            a, b = ours_m(lp, y).item(), theirs_m(torch.from_numpy(lp), torch.from_numpy(y)).item()
        else:
            a, b = ours_m(inp, t).item(), theirs_m(torch.from_numpy(inp), torch.from_numpy(t)).item()
        assert a == pytest.approx(b, rel=1e-12), type(ours_m).__name__
    assert repr(nn.MSELoss(reduction="none")) == "MSELoss(reduction='none')"


def test_float32_losses_stay_float32():
    x = rng.standard_normal((4, 3)).astype(np.float32)
    for loss in (F.cross_entropy(x, np.array([0, 1, 2, 0])), F.mse_loss(x, np.zeros((4, 3))),
                 F.binary_cross_entropy_with_logits(x, np.ones((4, 3), dtype=np.float32))):
        assert loss.dtype == np.float32


# ------------------------------------------------------------------ bad input
def test_labels_out_of_range_wrong_dtype_or_shape():
    x = descend.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"target contains class 3.*3 classes"):
        F.cross_entropy(x, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match="target contains class -2"):
        F.cross_entropy(x, np.array([0, 1, -2, 2]))
    with pytest.raises(TypeError, match="integer class indices.*float64"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="integer class indices.*bool"):
        F.cross_entropy(x, np.array([True, False, True, True]))
    with pytest.raises(ValueError, match=r"shape \(4,\).*got \(4, 1\)"):
        F.cross_entropy(x, np.array([[0], [1], [2], [1]]))
    with pytest.raises(ValueError, match=r"target contains class 5"):
        F.nll_loss(x, np.array([0, 5, 1, 1]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([0, 1, 2, 1]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.array([0, 1, 2, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight must be.*\(3,\)"):
        F.cross_entropy(x, np.array([0, 1, 2, 1]), weight=np.ones(4))
    assert x.grad is None


def test_nan_and_shape_mismatch_are_errors():
    x = rng.standard_normal((4, 1))
    bad = x.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="cross_entropy: input contains NaN"):
        F.cross_entropy(bad, np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="mse_loss: target contains NaN"):
        F.mse_loss(x, bad)
    with pytest.raises(ValueError, match=r"target has shape \(4,\) but input has shape \(4, 1\)"):
        F.mse_loss(x, np.zeros(4))
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(x, np.zeros((4, 1)))
    with pytest.raises(TypeError, match="floating-point"):
        F.mse_loss(np.array([1, 2]), np.array([1, 2]))
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0)


def test_ignore_everything_gives_nan_without_warnings():
    out = F.cross_entropy(rng.standard_normal((2, 3)), np.array([-100, -100]))
    assert np.isnan(out.item())
