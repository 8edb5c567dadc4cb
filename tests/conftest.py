"""Shared pytest configuration.

Hypothesis runs under the "ci" profile: a modest number of examples per test and no
per-example deadline (timings on a shared machine are noisy). Select another profile with
``HYPOTHESIS_PROFILE=<name>``, e.g. "thorough" for a longer local search.
"""

import os
import threading

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _in_threads(jobs):
    """Run ``jobs`` (functions) at once, one thread each, started together; their results in order.

    An exception in a job is re-raised in the test's thread.
    """
    barrier = threading.Barrier(len(jobs))
    out, errors = [None] * len(jobs), []

    def work(i):
        try:
            barrier.wait()
            out[i] = jobs[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


@pytest.fixture
def in_threads():
    """:func:`_in_threads`: for tests of what runs concurrently (training in two threads)."""
    return _in_threads
