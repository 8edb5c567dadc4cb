"""Helpers shared by the training tests."""

import numpy as np

import descend
from descend import nn


def small_mlp(seed=0, sizes=(2, 16, 3), **kw):
    descend.manual_seed(seed)
    return nn.MLP(list(sizes), **kw)


def params_of(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
