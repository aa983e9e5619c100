"""Hypothesis profiles for the unit tests.

``ci`` (the default) keeps the whole unit suite well under a minute on two cores; ``thorough``
is for hunting: ``HYPOTHESIS_PROFILE=thorough python -m pytest tests/unit``. No deadlines in
either: the first example pays for imports and a slow CI box is not a bug.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=75,
    stateful_step_count=30,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    stateful_step_count=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
