"""descend's own optimizers, held to the public conformance kit (descend.optim.testing)."""

import numpy as np
import pytest

import descend
from descend import optim
from descend.optim import testing as kit

# factory, hyperparameters for all checks, Rosenbrock settings (hyperparameters, steps, tol)
CASES = {
    "sgd": (optim.SGD, {"lr": 0.1}, ({"lr": 2e-3, "momentum": 0.9}, 2000, 1e-2)),
    "momentum": (optim.SGD, {"lr": 0.05, "momentum": 0.9}, ({"lr": 2e-3}, 2000, 1e-2)),
    "nesterov": (optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}, ({"lr": 1e-3}, 2000, 1e-2)),
    "adagrad": (optim.Adagrad, {"lr": 0.5}, ({}, 5000, 1e-2)),
    "rmsprop": (optim.RMSprop, {"lr": 0.01, "momentum": 0.5}, ({"lr": 1e-3, "momentum": 0.9}, 2000, 1e-2)),
    "rmsprop-centered": (optim.RMSprop, {"lr": 0.01, "centered": True}, ({"lr": 3e-3}, 5000, 1e-2)),
    "adadelta": (optim.Adadelta, {"lr": 1.0}, ({"lr": 0.1}, 5000, 5e-2)),
    "adam": (optim.Adam, {"lr": 0.05}, ({}, 2000, 1e-2)),
    "adam-amsgrad": (optim.Adam, {"lr": 0.05, "amsgrad": True}, ({}, 3000, 1e-2)),
    "adamw": (optim.AdamW, {"lr": 0.05, "weight_decay": 0.0}, ({}, 2000, 1e-2)),
    "adamw-decay": (optim.AdamW, {"lr": 0.05}, ({"weight_decay": 0.0}, 2000, 1e-2)),
    "adamax": (optim.Adamax, {"lr": 0.1}, ({}, 2000, 1e-2)),
    "nadam": (optim.NAdam, {"lr": 0.05}, ({"lr": 0.01}, 4000, 1e-2)),
    "radam": (optim.RAdam, {"lr": 0.05}, ({"lr": 0.01}, 2000, 1e-2)),
    "lbfgs": (optim.LBFGS, {"lr": 0.5, "max_iter": 5}, ({"lr": 1.0, "max_iter": 20}, 50, 1e-4)),
    "lbfgs-wolfe": (optim.LBFGS, {"line_search_fn": "strong_wolfe", "max_iter": 5},
                    ({"max_iter": 20}, 20, 1e-6)),
}

# Parabola (steps, tolerance): constant-rate NAdam hovers around the minimum, Adadelta is slow,
# and AdamW's default decay pulls the optimum towards 0.
PARABOLA = {"adadelta": (3000, 1e-2), "adamw-decay": (1000, 5e-2), "nadam": (1000, 1e-2)}


@pytest.mark.parametrize("case", list(CASES))
def test_conformance(case):
    factory, hp, (rosen_hp, rosen_steps, rosen_tol) = CASES[case]
    steps, tol = PARABOLA.get(case, (1000, 1e-3))
    report = kit.check_optimizer(
        factory, parabola_steps=steps, parabola_tol=tol, rosenbrock_steps=rosen_steps, rosenbrock_tol=rosen_tol,
        rosenbrock_hyperparameters=rosen_hp, **hp,
    )
    statuses = {r.name: r.status for r in report}
    assert statuses.pop("maximize") == ("skipped" if factory is optim.LBFGS else "passed")
    assert statuses.pop("param_groups") == ("skipped" if factory is optim.LBFGS else "passed")
    assert set(statuses.values()) == {"passed"}, str(report)


# -- the kit itself catches broken optimizers ------------------------------------------------------


class _WrongSign(optim.SGD):
    """Gradient ascent by mistake."""

    def _hyper(self, state, group, fresh):
        return {**super()._hyper(state, group, fresh), "lr": -group["lr"]}


class _ForgetsState(optim.SGD):
    """Drops its momentum on load: resuming is not bit-identical."""

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.state.clear()


class _NoValidation(optim.SGD):
    def _validate(self, group, where):
        pass


class _TouchesNoneGrads(optim.SGD):
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    p.data *= 0.5
        return loss


@pytest.mark.parametrize("broken,check", [
    (_WrongSign, "descends"),
    (_ForgetsState, "state_dict"),
    (_NoValidation, "invalid_hyperparameters"),
    (_TouchesNoneGrads, "none_and_zero_grads"),
])
def test_kit_detects_broken_optimizers(broken, check):
    report = kit.check_optimizer(broken, checks=[check], raise_on_failure=False, lr=0.05, momentum=0.9)
    assert [r.status for r in report] == ["failed"], str(report)
    with pytest.raises(AssertionError, match=check):
        kit.check_optimizer(broken, checks=[check], lr=0.05, momentum=0.9)


def test_kit_reports_slow_convergence():
    report = kit.check_optimizer(optim.SGD, checks=["parabola"], parabola_steps=5, raise_on_failure=False, lr=1e-3)
    assert report[0].status == "failed" and "tol=" in report[0].message
    assert not report.ok and report.failures == [report[0]]
    assert "parabola" in str(report)


def test_unknown_check_name():
    with pytest.raises(ValueError, match="unknown checks"):
        kit.check_optimizer(optim.SGD, checks=["speed"])


def test_kit_works_with_a_plain_function_factory():
    def factory(params, lr=0.1, **kw):
        return optim.get("momentum", params, lr=lr, **kw)

    report = kit.check_optimizer(factory, checks=["descends", "maximize", "state_dict"])
    assert report.ok and len(report) == 3


def test_param_with_int_dtype_rejected():
    p = descend.tensor(np.arange(3))
    with pytest.raises(TypeError, match="dtype int64"):
        optim.SGD([p], lr=0.1)
