"""Checkpoints: stop at step 50, save with descend.save, load into a fresh optimizer, continue to 100."""

import numpy as np
import pytest

import descend
from descend import optim

CONFIGS = [
    ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adadelta", {"weight_decay": 0.01}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("AdamW", {"lr": 0.05}),
    ("Adamax", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05, "decoupled_weight_decay": True, "weight_decay": 0.01}),
    ("RAdam", {"lr": 0.05}),
]


def _setup(dtype, starts=None):
    rng = np.random.default_rng(0)
    shapes = {"layer.weight": (4, 3), "layer.bias": (3,)}
    inits = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    scales = {k: rng.uniform(0.5, 2, size=s).astype(dtype) for k, s in shapes.items()}
    starts = inits if starts is None else starts
    params = {k: descend.tensor(np.array(v, dtype=dtype), requires_grad=True) for k, v in starts.items()}

    def set_grads(step):
        for k, p in params.items():
            noise = np.sin(np.arange(p.data.size).reshape(p.data.shape) + step).astype(dtype)
            p.grad = (scales[k] * p.data + 0.1 * noise).astype(dtype)
        if step % 5 == 2:
            params["layer.bias"].grad = None

    return params, set_grads


def _groups(name, params):
    return [{"params": [("layer.weight", params["layer.weight"])]},
            {"params": [("layer.bias", params["layer.bias"])], "lr": 0.01}]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,hp", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_resume_is_bit_identical(tmp_path, name, hp, dtype):
    params, set_grads = _setup(dtype)
    opt = getattr(optim, name)(_groups(name, params), **hp)
    for k in range(100):
        set_grads(k)
        opt.step()
    straight = {k: p.data.copy() for k, p in params.items()}

    params, set_grads = _setup(dtype)
    opt = getattr(optim, name)(_groups(name, params), **hp)
    for k in range(50):
        set_grads(k)
        opt.step()
    descend.save({"optimizer": opt.state_dict(), "params": {k: p.data for k, p in params.items()}},
                 tmp_path / "ckpt.npz")

    ckpt = descend.load(tmp_path / "ckpt.npz")
    params, set_grads = _setup(dtype, starts=ckpt["params"])
    opt = getattr(optim, name)(_groups(name, params), **hp)
    opt.load_state_dict(ckpt["optimizer"])
    for k in range(50, 100):
        set_grads(k)
        opt.step()
    for k, p in params.items():
        assert p.data.dtype == dtype
        np.testing.assert_array_equal(p.data, straight[k])


def test_lbfgs_resume_is_bit_identical(tmp_path):
    target = np.array([1.0, -2.0, 3.0])

    def make(start):
        p = descend.tensor(np.array(start, dtype=np.float64), requires_grad=True)
        opt = optim.LBFGS([p], lr=0.3, max_iter=3, history_size=4)

        def closure():
            p.grad = np.cosh(p.data - target) * np.sinh(p.data - target) * 2  # d/dθ of cosh²
            return float(np.sum(np.cosh(p.data - target) ** 2))

        return p, opt, closure

    p, opt, closure = make([0.0, 0.0, 0.0])
    for _ in range(6):
        opt.step(closure)
    straight = p.data.copy()
    p, opt, closure = make([0.0, 0.0, 0.0])
    for _ in range(3):
        opt.step(closure)
    descend.save({"opt": opt.state_dict(), "p": p.data}, tmp_path / "l.npz")
    ckpt = descend.load(tmp_path / "l.npz")
    p, opt, closure = make(ckpt["p"])
    opt.load_state_dict(ckpt["opt"])
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_array_equal(p.data, straight)


def test_layout_is_torch_like_and_a_snapshot():
    params, set_grads = _setup(np.float32)
    opt = optim.Adam(_groups("Adam", params), lr=0.1)
    set_grads(0)
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.01 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sd["param_groups"][0]["param_names"] == ["layer.weight"]
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert sd["state"][0]["step"] == 1 and isinstance(sd["state"][0]["step"], int)
    before = sd["state"][0]["exp_avg"].copy()
    set_grads(1)
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)  # the snapshot did not move


def test_loaded_state_is_not_shared_with_the_dict():
    params, set_grads = _setup(np.float64)
    opt = optim.SGD(list(params.values()), lr=0.1, momentum=0.9)
    set_grads(0)
    opt.step()
    sd = opt.state_dict()
    opt2 = optim.SGD(list(params.values()), lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    set_grads(1)
    opt2.step()
    assert not np.array_equal(opt2.state[params["layer.weight"]]["momentum_buffer"],
                              sd["state"][0]["momentum_buffer"])


def test_load_casts_to_parameter_dtype():
    p64 = descend.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([p64], lr=0.1)
    p64.grad = np.ones(3)
    opt.step()
    p32 = descend.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt32 = optim.Adam([p32], lr=0.1)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[p32]["exp_avg"].dtype == np.float32


def test_scheduler_changed_lr_survives():
    params, set_grads = _setup(np.float64)
    opt = optim.SGD(list(params.values()), lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    opt2 = optim.SGD(list(params.values()), lr=1.0)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == 0.5 and opt2.param_groups[0]["initial_lr"] == 1.0


@pytest.mark.parametrize("mutate,match", [
    (lambda sd: sd["param_groups"].pop(), "parameter groups"),
    (lambda sd: sd["param_groups"][0]["params"].append(7), "group 0 has 2 parameters"),
    (lambda sd: sd["state"][0].update(exp_avg=np.zeros((2, 2))), "shape"),
    (lambda sd: sd["param_groups"][1].update(lr=-1.0), "lr"),
    (lambda sd: sd["state"].update({9: {"step": 1}}), "no group lists"),
    (lambda sd: sd.pop("state"), "'state'"),
])
def test_load_rejects_mismatched_state_before_changing_anything(mutate, match):
    params, set_grads = _setup(np.float64)
    opt = optim.Adam(_groups("Adam", params), lr=0.1)
    set_grads(0)
    opt.step()
    sd = opt.state_dict()
    mutate(sd)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], before["state"][0]["exp_avg"])
