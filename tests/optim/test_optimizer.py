"""The Optimizer base: construction, groups, errors, non-finite gradients, registry, allocation."""

import tracemalloc

import numpy as np
import pytest

import descend
from descend import optim


def _p(*shape, value=1.0, dtype=np.float64):
    return descend.tensor(np.full(shape, value, dtype=dtype), requires_grad=True)


def test_named_parameters_name_the_culprit():
    w, b = _p(2, 3), _p(3)
    opt = optim.SGD([("fc.weight", w), ("fc.bias", b)], lr=0.1, momentum=0.9)
    w.grad = np.ones((2, 3))
    b.grad = np.array([1.0, np.nan, np.inf])
    with pytest.raises(optim.NonFiniteGradientError, match=r"'fc\.bias' \(shape \(3,\)\).*1 NaN, 1 infinite"):
        opt.step()
    # nothing changed: not the parameters, not the state
    np.testing.assert_array_equal(w.data, np.ones((2, 3)))
    assert not opt.state.get(w)


def test_unnamed_parameters_are_named_by_position():
    a, b = _p(2), _p(2, 2)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}])
    b.grad = np.full((2, 2), np.inf)
    with pytest.raises(FloatingPointError, match=r"param_groups\[1\]\['params'\]\[0\] \(shape \(2, 2\)\)"):
        opt.step()


def test_skip_nonfinite_skips_and_counts():
    a, b = _p(2), _p(2)
    opt = optim.Adam([a, b], lr=0.1, skip_nonfinite=True)
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    after_one = a.data.copy()
    a.grad, b.grad = np.ones(2), np.array([np.nan, 1.0])
    opt.step()
    np.testing.assert_array_equal(a.data, after_one)  # the whole step was skipped, not just b
    assert opt.skipped_steps == 1 and opt.state[a]["step"] == 1
    assert opt.state_dict()["skipped_steps"] == 1
    opt2 = optim.Adam([_p(2), _p(2)], lr=0.1, skip_nonfinite=True)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.skipped_steps == 1


def test_lbfgs_checks_gradients_too():
    p = _p(2)

    def closure():
        p.grad = np.array([np.nan, 1.0])
        return 1.0

    with pytest.raises(optim.NonFiniteGradientError, match="'w'"):
        optim.LBFGS([("w", p)]).step(closure)
    opt = optim.LBFGS([p], skip_nonfinite=True)
    opt.step(closure)
    assert opt.skipped_steps == 1
    np.testing.assert_array_equal(p.data, [1.0, 1.0])


def test_large_finite_gradients_are_not_mistaken_for_overflow():
    p = _p(4, dtype=np.float32)
    opt = optim.SGD([p], lr=1e-40)
    p.grad = np.full(4, 3e38, dtype=np.float32)  # the sum overflows float32; the values are finite
    opt.step()
    assert np.all(np.isfinite(p.data))


def test_grad_shape_and_type_errors():
    p = _p(3)
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(4)
    with pytest.raises(ValueError, match=r"shape \(4,\), which does not match"):
        opt.step()
    p.grad = [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="not a NumPy array"):
        opt.step()


@pytest.mark.parametrize("params,error,match", [
    (lambda: [], ValueError, "empty parameter list"),
    (lambda: _p(2), TypeError, "single Tensor"),
    (lambda: {_p(2)}, TypeError, "ordered"),
    (lambda: [np.ones(2)], TypeError, "ndarray"),
    (lambda: [_p(2) * 2], ValueError, "not a leaf"),
    (lambda: (lambda t: [t, t])(_p(2)), ValueError, "more than once"),
    (lambda: (lambda t: [{"params": [t]}, {"params": [t]}])(_p(2)), ValueError, "more than one parameter group"),
    (lambda: [{"params": [("a", _p(2))]}, {"params": [_p(2)]}], ValueError, "with names or all without"),
    (lambda: [("a", _p(2)), _p(2)], ValueError, "mixes named"),
    (lambda: [{"lr": 0.1}], ValueError, "no 'params'"),
])
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        optim.SGD(params(), lr=0.1)


@pytest.mark.parametrize("cls,kwargs,name", [
    (optim.SGD, {"lr": -0.1}, "lr"),
    (optim.SGD, {"momentum": -1}, "momentum"),
    (optim.SGD, {"momentum": 0.9, "dampening": 0.1, "nesterov": True}, "nesterov"),
    (optim.SGD, {"nesterov": "yes", "momentum": 0.9}, "nesterov"),
    (optim.Adam, {"betas": (0.9, 1.0)}, r"betas\[1\]"),
    (optim.Adam, {"betas": 0.9}, "betas"),
    (optim.Adam, {"eps": float("nan")}, "eps"),
    (optim.Adam, {"weight_decay": "0.1"}, "weight_decay"),
    (optim.RMSprop, {"alpha": -0.5}, "alpha"),
    (optim.Adadelta, {"rho": 1.5}, "rho"),
    (optim.Adagrad, {"lr_decay": -1}, "lr_decay"),
    (optim.NAdam, {"momentum_decay": -1e-3}, "momentum_decay"),
    (optim.LBFGS, {"max_iter": 0}, "max_iter"),
    (optim.LBFGS, {"history_size": 2.5}, "history_size"),
    (optim.LBFGS, {"line_search_fn": "armijo"}, "line_search_fn"),
])
def test_invalid_hyperparameters_are_named(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls([_p(2)], **kwargs)


def test_param_groups_inherit_defaults_and_are_validated():
    a, b, c = _p(1), _p(1), _p(1)
    opt = optim.SGD([{"params": [a]}, {"params": b, "momentum": 0.5}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["momentum"] == 0.5
    with pytest.raises(ValueError, match=r"invalid lr=-2 \(param group 2\)"):
        opt.add_param_group({"params": [c], "lr": -2})
    opt.add_param_group({"params": [c], "lr": 0.2})
    assert len(opt.param_groups) == 3 and opt.param_groups[2]["momentum"] == 0
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [_p(1)]}, {"params": [_p(1)]}])


def test_zero_grad():
    p = _p(3)
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and not p.grad.any()
    opt.zero_grad()
    assert p.grad is None


def test_a_full_training_loop_with_autograd():
    """Gradients from backward(); the loss goes down and parameters stay float32."""
    descend.manual_seed(0)
    x = descend.tensor(np.linspace(-1, 1, 16, dtype=np.float32).reshape(-1, 1))
    y = 3 * x - 1
    w, b = descend.tensor(np.zeros((1, 1), np.float32), requires_grad=True), _p(1, value=0.0, dtype=np.float32)
    opt = optim.get("nesterov", [w, b], lr=0.1)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-6 < losses[0]
    assert w.data.dtype == np.float32
    np.testing.assert_allclose([w.data.item(), b.data.item()], [3.0, -1.0], atol=1e-3)


def test_step_returns_closure_loss_and_enables_grad():
    p = _p(2)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        assert descend.is_grad_enabled()
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with descend.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 2.0
    np.testing.assert_allclose(p.data, [0.8, 0.8])
    with pytest.raises(TypeError, match="closure"):
        optim.LBFGS([p]).step()


# -- in place, allocation-free, layout- and thread-independent ------------------------------------------


@pytest.mark.parametrize("name", [n for n in optim.names() if n != "lbfgs"])
def test_no_allocation_in_steady_state(name):
    p = descend.tensor(np.ones(300_000, np.float32), requires_grad=True)
    q = descend.tensor(np.ones((40, 50), np.float32), requires_grad=True)
    opt = optim.get(name, [p, q], lr=1e-3)
    grads = (np.full(p.shape, 0.5, np.float32), np.full(q.shape, 0.5, np.float32))
    for _ in range(2):
        p.grad, q.grad = grads
        opt.step()
    data = p.data
    tracemalloc.start()
    p.grad, q.grad = grads
    opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert p.data is data  # updated in place
    assert peak < 50_000, f"{name}.step() allocated {peak} bytes (the parameters hold {p.data.nbytes + q.data.nbytes})"


@pytest.mark.parametrize("name", [n for n in optim.names() if n != "lbfgs"])
def test_layout_does_not_change_results(name):
    """A column-major (not C-contiguous) parameter gets exactly the result of a C-ordered one."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3000,)).astype(np.float32)
    grads = [rng.normal(size=start.shape).astype(np.float32) for _ in range(3)]

    def run(fortran):
        p = descend.tensor(start.copy().reshape(-1, 2), requires_grad=True)
        if fortran:
            p.data = np.asfortranarray(p.data)
        opt = optim.get(name, [p], lr=1e-2)
        for g in grads:
            p.grad = g.reshape(-1, 2)
            opt.step()
        return np.ascontiguousarray(p.data)

    np.testing.assert_array_equal(run(True), run(False))


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_results_and_blas_threads_untouched_whatever_the_blas_thread_count(name):
    """The user's BLAS thread count (set with threadpoolctl) changes no bit of a step, and a
    step leaves it as it was: the library never changes process-wide BLAS settings."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(3)
    shapes = [(300, 70), (700,), (40, 50), (1,)]
    starts = [rng.normal(size=s).astype(np.float32) for s in shapes]
    grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(4)]

    def run():
        params = [descend.tensor(v.copy(), requires_grad=True) for v in starts]
        opt = optim.get(name, params, lr=1e-2)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g
            opt.step()
        return [p.data for p in params]

    def counts():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    reference = run()
    assert counts() == before
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        inside = counts()
        one = run()
        assert counts() == inside
    assert counts() == before
    for a, b in zip(one, reference, strict=True):
        np.testing.assert_array_equal(a, b)


def test_check_names_the_first_bad_parameter():
    params = [(f"w{i}", _p(400, dtype=np.float32)) for i in range(6)]
    opt = optim.Adam(params, lr=0.1)
    for i, (_, p) in enumerate(params):
        p.grad = np.full(400, 0.5, np.float32)
        if i in (2, 4):
            p.grad[7] = np.nan
    with pytest.raises(optim.NonFiniteGradientError, match=r"'w2'"):
        opt.step()
    assert all(np.all(p.data == 1.0) for _, p in params) and not opt.state


def test_thread_control_is_not_descends_business():
    assert not hasattr(optim, "set_num_threads") and not hasattr(optim, "get_num_threads")


# -- the registry ------------------------------------------------------------------------------------------


def test_registry():
    assert optim.names() == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
                             "adamax", "nadam", "radam", "lbfgs"]
    p = _p(2)
    opt = optim.get("Momentum", [p])
    assert type(opt) is optim.SGD and opt.defaults["momentum"] == 0.9
    opt = optim.get("nesterov", [p], lr=0.5, momentum=0.8)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.8 and opt.defaults["lr"] == 0.5
    assert optim.get_class("adamw") == (optim.AdamW, {})
    with pytest.raises(ValueError, match="did you mean 'rmsprop'"):
        optim.get("rmsprob", [p])
    with pytest.raises(TypeError, match="'adam' \\(Adam\\) has no hyperparameter 'momentum'"):
        optim.get("adam", [p], momentum=0.9)


def test_repr_lists_hyperparameters():
    text = repr(optim.SGD([_p(1)], lr=0.3))
    assert text.startswith("SGD (") and "lr: 0.3" in text and "Parameter Group 0" in text


@pytest.mark.parametrize("size", [1, 10, 10_000, 70_003])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, "overflow"])
def test_non_finite_detected_whatever_the_size(size, bad):
    w = descend.tensor(np.zeros(size, dtype=np.float32), requires_grad=True)
    g = np.ones(size, dtype=np.float32)
    if bad == "overflow":  # finite values whose sum and squares overflow float32: not an error
        g[:] = 3e38
    else:
        g[size // 2] = bad
    w.grad = g
    opt = optim.SGD([w], lr=0.1)
    if bad == "overflow":
        opt.step()
        assert np.isfinite(w.data).all()
    else:
        with pytest.raises(optim.NonFiniteGradientError):
            opt.step()
        assert not w.data.any()  # nothing was updated


def test_lbfgs_line_search_objective_keeps_its_own_iterations_start_and_direction(monkeypatch):
    """Each line search gets an objective bound to that iteration's start and direction, not
    to variables a later iteration rebinds (a closure created in a loop)."""
    from descend.optim import functional as F

    objectives = []
    real = F.strong_wolfe

    def recording(obj_func, *args, **kwargs):
        objectives.append(obj_func)
        return real(obj_func, *args, **kwargs)

    monkeypatch.setattr(F, "strong_wolfe", recording)
    p = descend.tensor(np.array([1.5, -0.5]), requires_grad=True)
    scales = np.array([1.0, 10.0])

    def closure():
        p.grad = 2 * scales * p.data
        return float(np.sum(scales * p.data**2))

    start = p.data.copy()
    opt = optim.LBFGS([p], max_iter=4, line_search_fn="strong_wolfe")
    opt.step(closure)
    assert len(objectives) >= 2
    objectives[0](0.0)  # evaluates, then puts back the first iteration's starting point
    np.testing.assert_array_equal(p.data, start)
