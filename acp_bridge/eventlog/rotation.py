"""When to start a new segment and when to ``fsync``: policies and pure decisions.

Rule: nothing here performs I/O or reads a clock; callers pass sizes, counts and elapsed
seconds in, and ``JsonlEventLog`` acts on the answers (the stdlib's ``shouldRollover`` /
``doRollover`` split, without its rename chain: segments are numbered upward, never renamed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

DEFAULT_MAX_SEGMENT_BYTES: Final = 100 * 1024 * 1024

FsyncMode = Literal["never", "interval", "always"]


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """Size cap of one segment file, counted in bytes of encoded lines (newline included)."""

    max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES

    def __post_init__(self) -> None:
        """Reject a cap that could never hold a line.

        Raises:
            ValueError: ``max_segment_bytes`` is not positive.
        """
        if self.max_segment_bytes <= 0:
            raise ValueError(f"max_segment_bytes must be > 0, got {self.max_segment_bytes}")


def should_rotate(current_bytes: int, next_record_bytes: int, policy: RotationPolicy) -> bool:
    """Decide whether the next record starts a new segment.

    A record is never split: one larger than the cap goes alone into a fresh segment (and
    the record after it rotates again). An empty segment never rotates.

    Args:
        current_bytes: Size of the current segment.
        next_record_bytes: Size of the encoded line about to be written.
        policy: The size cap.

    Returns:
        True when the segment is non-empty and the record would take it past the cap.
    """
    return current_bytes > 0 and current_bytes + next_record_bytes > policy.max_segment_bytes


@dataclass(frozen=True, slots=True)
class FsyncPolicy:
    """How often appended records are forced to stable storage.

    Every record reaches the OS on append (an unbuffered ``write``); this policy only
    governs ``fsync``:

    - ``"never"``: no automatic ``fsync`` at all, not even at rotation or close (for tests
      and throwaway logs); ``flush(durable=True)`` still syncs when asked.
    - ``"interval"``: after ``every_records`` records or ``every_seconds`` seconds since the
      last sync, whichever comes first (checked on append), plus at rotation and close.
    - ``"always"``: after every record, plus at rotation and close.

    The interval's record count is a backstop for bursts: a VM streaming at full speed
    writes a batch of several hundred records per read of its pipe, and an ``fsync`` per
    batch (about 0.5 ms on a virtual disk) cost more than everything else the bridge does
    for those records. A crash of the bridge loses nothing either way (every record is in
    the OS before its notification is sent); the interval bounds what a power cut may take.
    """

    mode: FsyncMode = "interval"
    every_records: int = 16_384
    every_seconds: float = 1.0

    def __post_init__(self) -> None:
        """Reject thresholds that make no sense.

        Raises:
            ValueError: A threshold is not positive or the mode is unknown.
        """
        if self.mode not in ("never", "interval", "always"):
            raise ValueError(f"unknown fsync mode {self.mode!r}")
        if self.every_records <= 0:
            raise ValueError(f"every_records must be > 0, got {self.every_records}")
        if not self.every_seconds > 0:
            raise ValueError(f"every_seconds must be > 0, got {self.every_seconds}")


def fsync_due(policy: FsyncPolicy, records_since_sync: int, seconds_since_sync: float) -> bool:
    """Decide whether to ``fsync`` after an append.

    Args:
        policy: The fsync policy.
        records_since_sync: Records written since the last successful sync.
        seconds_since_sync: Monotonic seconds since the last sync (or since opening).

    Returns:
        True when there is something unsynced and the policy asks for a sync now.
    """
    if records_since_sync <= 0 or policy.mode == "never":
        return False
    if policy.mode == "always":
        return True
    return records_since_sync >= policy.every_records or seconds_since_sync >= policy.every_seconds


def fsync_at_boundary(policy: FsyncPolicy) -> bool:
    """Tell whether to ``fsync`` at rotation and close (every mode but ``"never"``)."""
    return policy.mode != "never"
