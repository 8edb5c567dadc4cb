"""descend.manual_seed and descend.random: one generator, reproducible bit for bit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import descend
import descend.random as drandom


def _draws():
    return [
        drandom.randn(2, 3).data,
        drandom.rand((4,)).data,
        drandom.uniform(-2.0, 5.0, size=(3, 2)).data,
        drandom.normal(1.0, 0.5, size=5, dtype=np.float64).data,
        drandom.randint(0, 100, size=(6,)).data,
        drandom.permutation(7),
        drandom.generator().integers(0, 2**31, size=3),
    ]


def _bytes(draws):
    return [(a.dtype.str, a.shape, a.tobytes()) for a in draws]


def test_same_seed_same_bits():
    descend.manual_seed(1234)
    first = _bytes(_draws())
    descend.manual_seed(1234)
    assert _bytes(_draws()) == first


def test_different_seeds_differ():
    descend.manual_seed(1)
    a = drandom.randn(16).data
    descend.manual_seed(2)
    b = drandom.randn(16).data
    assert not np.array_equal(a, b)


def test_the_sequence_continues_rather_than_repeats():
    descend.manual_seed(5)
    a, b = drandom.rand(8).data, drandom.rand(8).data
    assert not np.array_equal(a, b)


def test_reproducible_across_processes():
    code = (
        "import descend, descend.random as r, sys;"
        "descend.manual_seed(2024);"
        "sys.stdout.write(r.randn(3, 2, dtype='float64').data.tobytes().hex())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    descend.manual_seed(2024)
    assert out == drandom.randn(3, 2, dtype=np.float64).data.tobytes().hex()


def test_matches_numpy_generator_on_pcg64():
    # The documented backing: numpy.random.default_rng(seed), so results are portable.
    g = descend.manual_seed(99)
    assert isinstance(g, np.random.Generator) and g is drandom.generator()
    expected = np.random.default_rng(99).standard_normal((2, 2)).astype(np.float32)
    np.testing.assert_array_equal(drandom.randn(2, 2).data, expected)


def test_dtypes_shapes_and_requires_grad():
    descend.manual_seed(0)
    t = drandom.randn(2, 3)
    assert isinstance(t, descend.Tensor) and t.shape == (2, 3) and t.dtype == np.float32
    assert not t.requires_grad
    assert drandom.randn((2, 3)).shape == (2, 3)
    assert drandom.rand(4, dtype=np.float64).dtype == np.float64
    w = drandom.normal(size=(3,), requires_grad=True)
    assert w.requires_grad and w.is_leaf
    assert drandom.uniform().shape == ()
    assert drandom.randint(3, size=(5,)).dtype.kind == "i"


def test_distributions_have_the_requested_ranges_and_moments():
    descend.manual_seed(7)
    u = drandom.uniform(-2.0, 3.0, size=20_000, dtype=np.float64).data
    assert u.min() >= -2.0 and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 0.05
    r = drandom.rand(20_000, dtype=np.float64).data
    assert r.min() >= 0.0 and r.max() < 1.0
    n = drandom.normal(3.0, 2.0, size=20_000, dtype=np.float64).data
    assert abs(n.mean() - 3.0) < 0.05 and abs(n.std() - 2.0) < 0.05
    z = drandom.randn(20_000, dtype=np.float64).data
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03
    k = drandom.randint(2, 5, size=1000).data
    assert set(np.unique(k)) == {2, 3, 4}
    assert sorted(drandom.permutation(6)) == list(range(6))


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True, None])
def test_manual_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        descend.manual_seed(bad)


def test_numpy_integer_seed_accepted():
    descend.manual_seed(np.int64(3))
    a = drandom.rand(3).data
    descend.manual_seed(3)
    np.testing.assert_array_equal(a, drandom.rand(3).data)


# ----------------------------------------------------------------------------- per thread
def _in_thread(fn):
    import threading

    got = {}
    t = threading.Thread(target=lambda: got.setdefault("v", fn()))
    t.start()
    t.join()
    return got["v"]


def test_each_thread_has_its_own_generator():
    descend.manual_seed(11)
    mine = drandom.generator()
    other = _in_thread(drandom.generator)
    assert other is not mine
    # seeding in another thread leaves this thread's sequence alone
    expected = np.random.default_rng(11).standard_normal(4)
    _in_thread(lambda: descend.manual_seed(11).standard_normal(100))
    np.testing.assert_array_equal(drandom.generator().standard_normal(4), expected)


def test_a_new_thread_starts_with_a_fresh_unseeded_generator():
    descend.manual_seed(0)
    a = _in_thread(lambda: drandom.generator().integers(2**62, size=4))
    b = _in_thread(lambda: drandom.generator().integers(2**62, size=4))
    assert not np.array_equal(a, b)  # entropy-seeded: two threads draw differently
    assert not np.array_equal(a, np.random.default_rng(0).integers(2**62, size=4))


def test_the_same_seed_in_two_threads_at_once_gives_the_same_draws():
    import threading

    barrier = threading.Barrier(2)
    out = [None, None]

    def work(i):
        descend.manual_seed(42)
        barrier.wait()
        out[i] = np.concatenate([drandom.randn(50, dtype=np.float64).data for _ in range(200)])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    descend.manual_seed(42)
    alone = np.concatenate([drandom.randn(50, dtype=np.float64).data for _ in range(200)])
    np.testing.assert_array_equal(out[0], alone)
    np.testing.assert_array_equal(out[1], alone)


def test_fork_rng_restores_the_threads_generator():
    descend.manual_seed(3)
    expected = np.random.default_rng(3).random(3)
    with drandom.fork_rng(9) as g:
        assert drandom.generator() is g
        np.testing.assert_array_equal(drandom.rand(2, dtype=np.float64).data, np.random.default_rng(9).random(2))
    with drandom.fork_rng():  # a copy: the draws inside do not advance the sequence outside
        inside = drandom.generator().random(3)
    np.testing.assert_array_equal(inside, expected)
    mine = np.random.default_rng(5)
    with drandom.fork_rng(generator=mine):
        drandom.rand(4)
    np.testing.assert_array_equal(mine.random(1), np.random.default_rng(5).random(5)[4:])
    np.testing.assert_array_equal(drandom.generator().random(3), expected)


def test_fork_rng_restores_after_an_error_and_checks_its_arguments():
    descend.manual_seed(1)
    g = drandom.generator()
    with pytest.raises(KeyError), drandom.fork_rng(2):
        raise KeyError("x")
    assert drandom.generator() is g
    with pytest.raises(ValueError, match="not both"), drandom.fork_rng(1, generator=g):
        pass
    with pytest.raises(TypeError, match="generator"), drandom.fork_rng(generator=np.random.RandomState(0)):
        pass
    with pytest.raises(ValueError, match="seed"), drandom.fork_rng(-1):
        pass
    assert drandom.generator() is g
