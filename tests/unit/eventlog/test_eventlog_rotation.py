"""Pure rotation and fsync decisions."""

from __future__ import annotations

import pytest

from acp_bridge.eventlog.rotation import (
    DEFAULT_MAX_SEGMENT_BYTES,
    FsyncMode,
    FsyncPolicy,
    RotationPolicy,
    fsync_at_boundary,
    fsync_due,
    should_rotate,
)

CAP = RotationPolicy(max_segment_bytes=100)


def test_default_cap_is_100_mib() -> None:
    assert RotationPolicy().max_segment_bytes == DEFAULT_MAX_SEGMENT_BYTES == 100 * 1024 * 1024


@pytest.mark.parametrize(
    ("current", "next_record", "expected"),
    [
        (0, 10, False),
        (0, 100, False),
        (0, 1_000, False),  # too big for any segment: goes alone into the (empty) current one
        (90, 10, False),  # exactly at the cap
        (90, 11, True),
        (100, 1, True),
        (1, 100, True),  # too big: starts a fresh segment
        (150, 1, True),  # already past the cap (a lone big record): the next one rotates
    ],
)
def test_should_rotate(current: int, next_record: int, expected: bool) -> None:
    assert should_rotate(current, next_record, CAP) is expected


@pytest.mark.parametrize("cap", [0, -1])
def test_rotation_policy_rejects_non_positive_caps(cap: int) -> None:
    with pytest.raises(ValueError, match="max_segment_bytes"):
        RotationPolicy(max_segment_bytes=cap)


INTERVAL = FsyncPolicy(mode="interval", every_records=3, every_seconds=2.0)


@pytest.mark.parametrize(
    ("policy", "records", "seconds", "expected"),
    [
        (FsyncPolicy(mode="never"), 10_000, 1e9, False),
        (FsyncPolicy(mode="always"), 1, 0.0, True),
        (FsyncPolicy(mode="always"), 0, 5.0, False),
        (INTERVAL, 0, 100.0, False),
        (INTERVAL, 1, 0.0, False),
        (INTERVAL, 2, 1.99, False),
        (INTERVAL, 3, 0.0, True),
        (INTERVAL, 1, 2.0, True),
        (INTERVAL, 10, 10.0, True),
    ],
)
def test_fsync_due(policy: FsyncPolicy, records: int, seconds: float, expected: bool) -> None:
    assert fsync_due(policy, records, seconds) is expected


def test_fsync_defaults() -> None:
    policy = FsyncPolicy()
    assert (policy.mode, policy.every_records, policy.every_seconds) == ("interval", 16_384, 1.0)


@pytest.mark.parametrize(
    ("mode", "expected"), [("never", False), ("interval", True), ("always", True)]
)
def test_fsync_at_rotation_and_close_unless_never(mode: FsyncMode, expected: bool) -> None:
    assert fsync_at_boundary(FsyncPolicy(mode=mode)) is expected


@pytest.mark.parametrize(
    "kwargs",
    [{"every_records": 0}, {"every_seconds": 0.0}, {"every_seconds": float("nan")}],
)
def test_fsync_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="every_"):
        FsyncPolicy(**kwargs)  # type: ignore[arg-type]


def test_fsync_policy_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="mode"):
        FsyncPolicy(mode="sometimes")  # type: ignore[arg-type]
