"""Hypothesis profiles: a few examples per property in the suite, many under `make fuzz`."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# The suite stays quick, writes nothing and tries the same examples every run (`derandomize`):
# it is what lands a change, and a change must not be refused for a case drawn by chance that
# has nothing to do with it. Exploring is `make fuzz`'s job: it runs long, draws afresh each
# time and keeps what it finds under var/, so a failure found once is tried first next time.
settings.register_profile(
    "suite",
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")),
    deadline=None,
    database=DirectoryBasedExampleDatabase(Path(__file__).parents[3] / "var" / "hypothesis"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))
