"""Shared test setup: the strict ACP checker and small fixtures (helpers live in support/)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from support.acp_schema import StrictAcp, default_acp
from support.fuzz_budget import LONG

from acp_bridge.counters import Counters


@pytest.fixture(scope="session")
def acp() -> StrictAcp:
    """The strict ACP v1 validator over the pinned official schema."""
    return default_acp()


@pytest.fixture
def counters() -> Counters:
    return Counters()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """A log directory that does not exist yet (the writer creates it)."""
    return tmp_path / "logs"


@pytest.fixture
def clock_ms() -> Callable[[], int]:
    """A wall clock that starts at 1_700_000_000_000 and ticks 1 ms per reading."""
    ticks = itertools.count(1_700_000_000_000)
    return lambda: next(ticks)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A long fuzz run (``ACP_BRIDGE_FUZZ=long``) is bounded by its example counts.

    ``pytest-timeout`` bounds each test of a CI run; the fuzzers of a long run take far
    longer than that by design, so it is lifted from them.
    """
    if not LONG:
        return
    for item in items:
        if item.path.parent.name == "fuzz":
            item.add_marker(pytest.mark.timeout(0))
