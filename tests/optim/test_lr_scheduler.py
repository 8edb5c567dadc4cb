"""Learning-rate schedules: the same sequences as torch.optim.lr_scheduler, checkpoints, preview."""

import math

import numpy as np
import pytest

import descend
from descend import optim
from descend.optim import lr_scheduler as S

STEPS = 100


def _metric(k):
    """A deterministic, noisy, plateauing validation loss."""
    return 1.0 / (1 + 0.2 * k) + 0.05 * math.sin(1.7 * k) ** 2 + (0.3 if 40 < k < 45 else 0.0)


# (name, kwargs, optimizer, optimizer kwargs); kwargs may hold lambdas taking the library module.
CONFIGS = [
    ("LambdaLR", {"lr_lambda": lambda e: 0.95**e}, "SGD", {}),
    ("LambdaLR", {"lr_lambda": [lambda e: 0.95**e, lambda e: 1.0 / (e + 1)]}, "SGD", {}),
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.97}, "SGD", {}),
    ("StepLR", {"step_size": 10, "gamma": 0.5}, "SGD", {}),
    ("MultiStepLR", {"milestones": [10, 30, 30, 60], "gamma": 0.3}, "SGD", {}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 7}, "SGD", {}),
    ("LinearLR", {"start_factor": 0.1, "total_iters": 20}, "SGD", {}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 30}, "SGD", {}),
    ("ExponentialLR", {"gamma": 0.97}, "SGD", {}),
    ("PolynomialLR", {"total_iters": 40, "power": 2.0}, "SGD", {}),
    ("CosineAnnealingLR", {"T_max": 30, "eta_min": 0.001}, "SGD", {}),
    ("CosineAnnealingLR", {"T_max": 100}, "SGD", {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 10}, "SGD", {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 2, "eta_min": 0.01}, "SGD", {}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 7}, "SGD", {"momentum": 0.9}),
    ("CyclicLR", {"base_lr": [0.01, 0.02], "max_lr": 0.1, "step_size_up": 5, "step_size_down": 13,
                  "mode": "triangular2"}, "SGD", {"momentum": 0.9}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 6, "mode": "exp_range", "gamma": 0.99,
                  "cycle_momentum": False}, "SGD", {}),
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 8}, "Adam", {}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 100}, "SGD", {"momentum": 0.9}),
    ("OneCycleLR", {"max_lr": [0.5, 0.2], "epochs": 10, "steps_per_epoch": 10, "three_phase": True,
                    "anneal_strategy": "linear"}, "SGD", {"momentum": 0.9}),
    ("OneCycleLR", {"max_lr": 0.01, "total_steps": 120, "pct_start": 0.25}, "Adam", {}),
    ("ReduceLROnPlateau", {"patience": 3, "factor": 0.5}, "SGD", {}),
    ("ReduceLROnPlateau", {"patience": 2, "cooldown": 3, "threshold": 0.01, "threshold_mode": "abs",
                           "min_lr": [0.01, 0.02]}, "SGD", {}),
    ("ReduceLROnPlateau", {"mode": "max", "patience": 1, "factor": 0.7}, "SGD", {}),
]

COMPOSITES = [
    ("SequentialLR", lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.1, total_iters=10), L.ExponentialLR(o, gamma=0.95)], milestones=[10])),
    ("SequentialLR", lambda L, o: L.SequentialLR(
        o, [L.ConstantLR(o, factor=0.5, total_iters=5), L.StepLR(o, step_size=7, gamma=0.5),
            L.CosineAnnealingLR(o, T_max=30)], milestones=[5, 40])),
    ("ChainedScheduler", lambda L, o: L.ChainedScheduler(
        [L.ExponentialLR(o, gamma=0.97), L.StepLR(o, step_size=10, gamma=0.5)])),
    ("ChainedScheduler", lambda L, o: L.ChainedScheduler(
        [L.ConstantLR(o, factor=0.25, total_iters=8), L.LinearLR(o, start_factor=0.5, total_iters=20),
         L.CosineAnnealingLR(o, T_max=50, eta_min=0.001)])),
]


def _optimizer(lib, name, hp):
    if lib == "torch":
        import torch

        params = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
        return getattr(torch.optim, name)([{"params": [params[0]], "lr": 0.1},
                                           {"params": [params[1]], "lr": 0.05}], lr=0.1, **hp)
    params = [descend.tensor(np.zeros(2), requires_grad=True), descend.tensor(np.zeros(3), requires_grad=True)]
    return getattr(optim, name)([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.05}],
                                lr=0.1, **hp)


def _trace(opt, sched, steps, plateau):
    rows = []
    for k in range(steps):
        group_momenta = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
        rows.append(list(sched.get_last_lr()) + [g["lr"] for g in opt.param_groups] + group_momenta)
        opt.step()
        if plateau:
            sched.step(_metric(k))
        else:
            sched.step()
    return np.array(rows, dtype=float)


def _pair(name, kwargs, opt_name, opt_hp):
    torch = pytest.importorskip("torch")
    t_opt = _optimizer("torch", opt_name, opt_hp)
    d_opt = _optimizer("descend", opt_name, opt_hp)
    t_sched = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    d_sched = getattr(S, name)(d_opt, **kwargs)
    plateau = name == "ReduceLROnPlateau"
    return _trace(t_opt, t_sched, STEPS, plateau), _trace(d_opt, d_sched, STEPS, plateau)


@pytest.mark.parametrize("name,kwargs,opt_name,opt_hp", CONFIGS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONFIGS)])
def test_schedule_matches_torch(name, kwargs, opt_name, opt_hp):
    theirs, ours = _pair(name, kwargs, opt_name, opt_hp)
    assert np.ptp(ours[:, 0]) > 0  # the schedule does change the rate
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("name,build", COMPOSITES, ids=[f"{c[0]}-{i}" for i, c in enumerate(COMPOSITES)])
def test_composite_matches_torch(name, build):
    torch = pytest.importorskip("torch")
    t_opt = _optimizer("torch", "SGD", {})
    d_opt = _optimizer("descend", "SGD", {})
    theirs = _trace(t_opt, build(torch.optim.lr_scheduler, t_opt), STEPS, False)
    ours = _trace(d_opt, build(S, d_opt), STEPS, False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("decay,power", [(0.1, 1.0), (0.5, 0.5), (0.05, 2.0)])
def test_inverse_time_lr(decay, power):
    lrs = S.preview(lambda o: S.InverseTimeLR(o, decay=decay, power=power), STEPS, lr=0.3)
    expected = 0.3 / (1 + decay * np.arange(STEPS)) ** power
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    torch = pytest.importorskip("torch")
    t_opt = _optimizer("torch", "SGD", {})
    t_sched = torch.optim.lr_scheduler.LambdaLR(t_opt, lambda t: 1 / (1 + decay * t) ** power)
    theirs = _trace(t_opt, t_sched, STEPS, False)
    d_opt = _optimizer("descend", "SGD", {})
    ours = _trace(d_opt, S.InverseTimeLR(d_opt, decay=decay, power=power), STEPS, False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def _builder(name, kw):
    def build(L, o):
        return getattr(L, name)(o, **kw)

    return build


def _all_configs():
    out = [(n, _builder(n, kw), on, oh) for n, kw, on, oh in CONFIGS]
    out += [(n, b, "SGD", {}) for n, b in COMPOSITES]
    out.append(("InverseTimeLR", lambda L, o: L.InverseTimeLR(o, decay=0.1), "SGD", {}))
    return out


@pytest.mark.parametrize("name,build,opt_name,opt_hp", _all_configs(), ids=[f"{c[0]}-{i}" for i, c in enumerate(_all_configs())])
def test_state_dict_resumes_exactly(tmp_path, name, build, opt_name, opt_hp):
    plateau = name == "ReduceLROnPlateau"
    opt = _optimizer("descend", opt_name, opt_hp)
    full = _trace(opt, build(S, opt), STEPS, plateau)

    opt = _optimizer("descend", opt_name, opt_hp)
    sched = build(S, opt)
    first = _trace(opt, sched, 37, plateau)
    descend.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = descend.load(tmp_path / "ckpt.npz")
    opt2 = _optimizer("descend", opt_name, opt_hp)
    sched2 = build(S, opt2)
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])

    def rest(k0):
        rows = []
        for k in range(k0, STEPS):
            momenta = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt2.param_groups]
            rows.append(list(sched2.get_last_lr()) + [g["lr"] for g in opt2.param_groups] + momenta)
            opt2.step()
            sched2.step(_metric(k)) if plateau else sched2.step()
        return rows

    # _trace stepped the scheduler after its last row; continue from step 37
    resumed = np.array(first.tolist() + rest(37), dtype=float)
    np.testing.assert_array_equal(resumed, full)


def test_preview_shapes_and_values():
    lrs = S.preview(lambda o: S.StepLR(o, step_size=2, gamma=0.5), 5, lr=1.0)
    np.testing.assert_array_equal(lrs, [1.0, 1.0, 0.5, 0.5, 0.25])
    two = S.preview(lambda o: S.ExponentialLR(o, gamma=0.5), 3, lr=[1.0, 2.0])
    np.testing.assert_array_equal(two, [[1.0, 2.0], [0.5, 1.0], [0.25, 0.5]])
    # OneCycleLR can be previewed over exactly its total_steps
    one = S.preview(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=50), 50)
    assert one.shape == (50,) and one.max() == pytest.approx(1.0, rel=1e-3)
    assert one[0] == pytest.approx(1.0 / 25) and one[-1] == pytest.approx(1.0 / 25 / 1e4)


def test_preview_plateau_needs_metrics():
    with pytest.raises(ValueError, match="metrics"):
        S.preview(lambda o: S.ReduceLROnPlateau(o, patience=0), 5)
    lrs = S.preview(lambda o: S.ReduceLROnPlateau(o, patience=0, factor=0.5), 4, lr=1.0, metrics=[1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(lrs, [1.0, 1.0, 0.5, 0.25])


def test_plateau_inside_sequential_lr():
    """Warm up linearly for 4 epochs, then reduce on plateau: not possible with torch's SequentialLR."""

    def build(o):
        warm = S.LinearLR(o, start_factor=0.25, total_iters=4)
        plateau = S.ReduceLROnPlateau(o, patience=1, factor=0.5)
        return S.SequentialLR(o, [warm, plateau], milestones=[4])

    metrics = [5.0, 4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    lrs = S.preview(build, len(metrics), lr=1.0, metrics=metrics)
    expected = [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_plateau_inside_chained_scheduler():
    def build(o):
        return S.ChainedScheduler([S.ExponentialLR(o, gamma=0.9), S.ReduceLROnPlateau(o, patience=0, factor=0.5)])

    lrs = S.preview(build, 4, lr=1.0, metrics=[3.0, 2.0, 2.0, 2.0])
    # the plateau (patience 0) halves the rate after the first non-improving value (step 2)
    np.testing.assert_allclose(lrs, [1.0, 0.9, 0.81, 0.9**3 * 0.5], rtol=1e-12)
    p = descend.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    chained = build(opt)
    with pytest.raises(TypeError, match="ReduceLROnPlateau.*step\\(metrics\\)"):
        chained.step()


@pytest.mark.parametrize("make,match", [
    (lambda o: S.StepLR(o, step_size=0), "step_size"),
    (lambda o: S.StepLR(o, step_size=2, gamma=float("nan")), "gamma"),
    (lambda o: S.MultiStepLR(o, milestones=[3, -1]), "milestone"),
    (lambda o: S.LinearLR(o, start_factor=0.0), "start_factor"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=0), "T_mult"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1), "total_steps"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5), "pct_start"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, mode="sawtooth"), "mode"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: S.ReduceLROnPlateau(o, mode="lowest"), "mode"),
    (lambda o: S.InverseTimeLR(o, decay=-1.0), "decay"),
    (lambda o: S.LambdaLR(o, lr_lambda=[lambda e: 1.0] * 3), "lr_lambdas"),
])
def test_invalid_arguments_are_named(make, match):
    p = descend.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=match):
        make(opt)


def test_scheduler_needs_a_descend_optimizer():
    with pytest.raises(TypeError, match="Optimizer"):
        S.StepLR(object(), step_size=2)


def test_onecycle_refuses_extra_steps():
    p = descend.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        sched.step()
