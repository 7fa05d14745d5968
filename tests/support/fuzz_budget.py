"""How hard the fuzz tests try: a CI budget, or a hundred times more on demand.

``ACP_BRIDGE_FUZZ=long .venv/bin/pytest tests/fuzz`` runs the long budget (see README.md
here); without it each test tries the CI number of examples. ``ACP_BRIDGE_FUZZ_FACTOR=N``
sets the long run's multiple (100 unless given), to fit a run into the time there is.
A long run lifts the per-test timeout (``pytest-timeout``), which bounds CI runs only.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

LONG = os.environ.get("ACP_BRIDGE_FUZZ") == "long"
LONG_FACTOR = int(os.environ.get("ACP_BRIDGE_FUZZ_FACTOR", "100")) if LONG else 1


def fuzz_settings(ci_examples: int, **extra: Any) -> settings:
    """Hypothesis settings with ``ci_examples`` (x100 in a long run) and no deadline."""
    return settings(
        max_examples=ci_examples * LONG_FACTOR if LONG else ci_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **extra,
    )
