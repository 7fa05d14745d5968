"""Shared test setup: helper modules in tests/ are importable, plus the strict ACP checker."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from acp_bridge.counters import Counters

# --import-mode=importlib puts nothing on sys.path, and tests/ is no package: make its helper
# modules (acp_schema, strategies, ...) importable as top-level modules.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from acp_schema import StrictAcp, default_acp  # noqa: E402 - needs the path set above


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
