"""Recording on/off is per thread, as in PyTorch."""

import threading

import descend


def test_no_grad_in_one_thread_does_not_switch_off_another():
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def evaluator():
        with descend.no_grad():
            seen["evaluator"] = descend.is_grad_enabled()
            inside.set()
            release.wait(5)

    t = threading.Thread(target=evaluator)
    t.start()
    assert inside.wait(5)
    try:
        x = descend.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()  # recorded here although the other thread is inside no_grad
        assert descend.is_grad_enabled()
        y.backward()
        assert x.grad.tolist() == [2.0, 4.0]
    finally:
        release.set()
        t.join()
    assert seen["evaluator"] is False


def test_a_new_thread_starts_with_recording_on():
    seen = {}
    with descend.no_grad():
        t = threading.Thread(target=lambda: seen.setdefault("mode", descend.is_grad_enabled()))
        t.start()
        t.join()
        assert not descend.is_grad_enabled()
    assert seen["mode"] is True
