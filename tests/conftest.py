"""Shared pytest configuration.

Hypothesis runs under the "ci" profile: a modest number of examples per test and no
per-example deadline (timings on a shared machine are noisy). Select another profile with
``HYPOTHESIS_PROFILE=<name>``, e.g. "thorough" for a longer local search.
"""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
