"""The fused θ ← θ + α·d through NumPy's BLAS: same bits whatever the slicing, layout or threads."""

import numpy as np
import pytest

import descend
from descend import optim
from descend.optim import _blas
from descend.optim import functional as F

needs_blas = pytest.mark.skipif(not _blas.available(), reason="no BLAS axpy reachable from NumPy here")


def _fma32(alpha, x, y):
    """fl32(y + α·x) rounded once: the product of two float32 values is exact in float64."""
    a = np.float64(np.float32(alpha))
    return (y.astype(np.float64) + a * x.astype(np.float64)).astype(np.float32)


def _data(n, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


@needs_blas
@pytest.mark.parametrize("n", [1, 5, 31, 32, 63, 64, 65, 200, 10_001, 70_000, 300_007])
def test_every_element_is_one_fused_multiply_add(n):
    # the bulk, the kernel's own remainder and a padded tail must all round once
    x, y = _data(n)
    out = y.copy()
    _blas.axpy_(-0.37, x, out)
    np.testing.assert_array_equal(out, _fma32(-0.37, x, y))


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slicing_layout_and_blas_threads_do_not_change_bits(dtype, monkeypatch):
    n = 3 * 70_000 + 77
    x, y = _data(n, dtype, seed=1)
    whole = y.copy()
    _blas.axpy_(1e-3, x, whole)
    rng = np.random.default_rng(2)
    cuts = np.sort(rng.choice(np.arange(1, n), size=40, replace=False))
    sliced = y.copy()
    for lo, hi in zip([0, *cuts], [*cuts, n]):
        _blas.axpy_(1e-3, x[lo:hi], sliced[lo:hi])
    np.testing.assert_array_equal(sliced, whole)
    # column-major and strided operands
    fy = np.asfortranarray(y[: n - 1].reshape(-1, 2))
    fx = np.asfortranarray(x[: n - 1].reshape(-1, 2))
    _blas.axpy_(1e-3, fx, fy)
    np.testing.assert_array_equal(np.ascontiguousarray(fy).reshape(-1), whole[: n - 1])
    strided = np.zeros(2 * n, dtype)
    strided[::2] = y
    _blas.axpy_(1e-3, x, strided[::2])
    np.testing.assert_array_equal(strided[::2], whole)
    # however many threads BLAS is told it has (OpenBLAS splits a long call among them)
    for threads in (1, 2, 3, 5, 8, 16):
        monkeypatch.setattr(_blas, "_get_threads", lambda t=threads: t)
        again = y.copy()
        _blas.axpy_(1e-3, x, again)
        np.testing.assert_array_equal(again, whole)
    with _blas.single_threaded():
        again = y.copy()
        _blas.axpy_(1e-3, x, again)
    np.testing.assert_array_equal(again, whole)


@needs_blas
def test_matches_torch_add_with_alpha_bit_for_bit():
    torch = pytest.importorskip("torch")
    x, y = _data(100_003, seed=4)
    ours = y.copy()
    _blas.axpy_(-1e-3, x, ours)
    theirs = torch.from_numpy(y.copy())
    theirs.add_(torch.from_numpy(x), alpha=-1e-3)
    np.testing.assert_array_equal(ours, theirs.numpy())


@needs_blas
def test_plain_sgd_equals_torch_in_float32_bit_for_bit():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    shapes = [(300, 70), (70,), (5, 3)]
    starts = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(20)]
    ours = [descend.tensor(v.copy(), requires_grad=True) for v in starts]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in starts]
    opt, topt = optim.SGD(ours, lr=0.05), torch.optim.SGD(theirs, lr=0.05)
    for step in grads:
        for p, tp, g in zip(ours, theirs, step):
            p.grad, tp.grad = g, torch.from_numpy(g)
        opt.step()
        topt.step()
    for p, tp in zip(ours, theirs):
        np.testing.assert_array_equal(p.data, tp.detach().numpy())


def test_numpy_fallback_when_no_blas(monkeypatch):
    monkeypatch.setattr(_blas, "_routines", {})
    x, y = _data(1000)
    out = y.copy()
    assert not _blas.try_axpy_(0.5, x, out)
    _blas.axpy_(0.5, x, out)
    np.testing.assert_array_equal(out, y + np.float32(0.5) * x)  # two roundings
    # and the optimizer still steps (through its sliced rules)
    p = descend.tensor(y.copy(), requires_grad=True)
    p.grad = x
    optim.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(p.data, y + np.float32(-0.5) * x)


@pytest.mark.parametrize("dtype", [np.float16, np.int64])
def test_other_dtypes_use_numpy(dtype):
    y = np.arange(10).astype(dtype)
    x = np.ones(10, dtype)
    assert not _blas.try_axpy_(2, x, y.copy())
    out = _blas.axpy_(2, x, y.copy(), tmp=np.empty_like(y))
    np.testing.assert_array_equal(out, y + 2 * x)


@needs_blas
def test_functional_step_is_the_fused_one():
    x, y = _data(777, seed=6)
    out = y.copy()
    F.add_scaled_(out, x, -0.1, np.empty_like(out))
    np.testing.assert_array_equal(out, _fma32(-0.1, x, y))
    assert _blas.library()


def test_read_only_gradient_and_empty_arrays():
    x, y = _data(5000, seed=7)
    x.flags.writeable = False
    out = y.copy()
    _blas.axpy_(0.25, x, out)
    expect = _fma32(0.25, x, y) if _blas.available() else y + np.float32(0.25) * x
    np.testing.assert_array_equal(out, expect)
    empty = np.zeros(0, np.float32)
    assert _blas.axpy_(1.0, empty, empty.copy()).size == 0


@needs_blas
@pytest.mark.parametrize("n", [10, 64, 1000, 70_000 + 13])
def test_planned_axpy_matches_the_unplanned_one(n):
    x, y = _data(n, seed=8)
    expect = y.copy()
    _blas.axpy_(-0.01, x, expect)
    planned = y.copy()
    run = _blas.planned_axpy(x, planned)
    run(-0.01)
    np.testing.assert_array_equal(planned, expect)
    run(0.0)  # and again, on the same arrays: adding 0·x changes nothing
    np.testing.assert_array_equal(planned, expect)


def test_planned_axpy_refuses_what_blas_cannot_walk():
    x, y = _data(100, seed=9)
    assert _blas.planned_axpy(x[::2], y[::2]) is None
    assert _blas.planned_axpy(x.astype(np.float16), y.astype(np.float16)) is None
    assert _blas.planned_axpy(x, y[:50]) is None


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_sum_is_a_finiteness_probe(dtype):
    x, _ = _data(100_001, dtype, seed=10)
    assert _blas.abs_sum(x) == pytest.approx(float(np.abs(x.astype(np.float64)).sum()), rel=1e-4)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[77_777] = bad
        assert not np.isfinite(_blas.abs_sum(y))
    assert _blas.abs_sum(x[::2]) is None  # strided: left to NumPy
    assert _blas.abs_sum(x.astype(np.float16)) is None


@needs_blas
def test_one_thread_sections_hold_for_every_thread_until_the_last_closes():
    """OpenBLAS has one thread count per process: a thread leaving its section must not
    hand the BLAS threads back while another thread is still in one."""
    import threading

    _blas._get()
    before = _blas._get_threads()
    inside, stop, seen = threading.Event(), threading.Event(), []

    def holder():
        with _blas.single_threaded():
            inside.set()
            while not stop.is_set():
                seen.append(_blas._get_threads())

    t = threading.Thread(target=holder)
    t.start()
    inside.wait(10)
    x, y = _data(70_000, seed=3)
    try:
        for _ in range(200):  # other threads open and close sections meanwhile
            with _blas.single_threaded():
                _blas.axpy_(1e-3, x, y)
            _blas.abs_sum(x, one_thread=True)
            # and a call that would be threaded runs on one thread, for the section's sake
            assert _blas._threaded(_blas._routine_for(x, y), 70_000 - 70_000 % 64, 0.0,
                                   x.ctypes.data, y.ctypes.data) == 0
    finally:
        stop.set()
        t.join()
    assert seen and set(seen) == {1}
    assert _blas._get_threads() == before  # the last section to close restored the count
    with _blas.single_threaded():  # nested: the inner block neither opens nor closes a section
        with _blas.single_threaded():
            assert _blas._get_threads() == 1
        assert _blas._get_threads() == 1
    assert _blas._get_threads() == before


@needs_blas
def test_optimizer_threads_keep_blas_on_one_thread(monkeypatch):
    """The slices of an optimizer's step run on descend's threads with one BLAS thread
    each, and the step leaves BLAS's thread count as it found it."""
    _blas._get()
    before = _blas._get_threads()
    counts = []
    real = _blas.try_axpy_

    def spy(alpha, x, y):
        counts.append(_blas._get_threads())
        return real(alpha, x, y)

    monkeypatch.setattr(_blas, "try_axpy_", spy)
    params = [descend.tensor(np.ones(300_000, np.float32), requires_grad=True) for _ in range(3)]
    for p in params:
        p.grad = np.full(300_000, 0.5, np.float32)
    old = optim.get_num_threads()
    optim.set_num_threads(2)
    try:
        opt = optim.SGD(params, lr=0.1, momentum=0.9)
        for _ in range(3):
            opt.step()
    finally:
        optim.set_num_threads(old)
    assert len(counts) >= 6 and set(counts) == {1}
    assert _blas._get_threads() == before
