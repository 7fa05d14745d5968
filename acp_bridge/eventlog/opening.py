"""Opening a session's log on disk, for appending: everything before the first append.

In order: make the private log directory, take the session's lock, find the newest
segment, quarantine and cut its torn tail, and resume the index from the last good
record. The segment file helpers the writer also needs when it rotates live here too.

Rules:

- All or nothing: :func:`open_session_log` returns a log ready for appending, or closes
  everything it opened and raises ``EventLogError``, whatever stops it (an interrupt too).
- Every file is opened through :func:`~acp_bridge.eventlog.files.open_log_file`: a link
  or a file that is not regular (a segment, a ``.torn`` file) is refused and counted,
  never followed, truncated or appended to.
- Nothing is lost: a torn tail is copied to ``<segment>.torn`` (and synced) before it is
  cut; if the copy fails, the segment is left as it was and opening fails.
- Damage found while resuming is counted (``eventlog_torn_tails``,
  ``eventlog_corrupt_lines``) and logged, never raised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from acp_bridge.errors import EventLogError
from acp_bridge.eventlog.files import open_directory, open_log_file, prepare_directory
from acp_bridge.eventlog.locking import SEGMENT_FLAGS, lock_session
from acp_bridge.eventlog.naming import segment_file_name, select_segments, torn_file_name
from acp_bridge.eventlog.recovery import copy_range, end_of_last_line, scan_last_index
from acp_bridge.eventlog.rotation import fsync_at_boundary
from acp_bridge.fdio import write_all

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from pathlib import Path

    from acp_bridge.counters import Counters
    from acp_bridge.eventlog.rotation import FsyncPolicy


@dataclass(frozen=True, slots=True)
class OpenedLog:
    """A session's log, opened and recovered: where appending continues.

    Attributes:
        lock_fd: The descriptor that holds the session's lock; closing it releases it.
        fd: The newest segment, open for appending.
        segment: Its number (0 for the unnumbered first segment).
        path: Its file.
        size: Its size in bytes once the torn tail is cut: only whole lines.
        next_index: The index after the last good record of the log.
    """

    lock_fd: int
    fd: int
    segment: int
    path: Path
    size: int
    next_index: int


@dataclass(frozen=True, slots=True)
class SegmentIo:
    """How the writer reaches the disk: its policy, and its stand-ins for tests.

    Attributes:
        fsync: When to ``fsync`` (a new segment's directory entry, a cut tail).
        write: ``os.write`` or a stand-in.
        sync: ``os.fsync`` or a stand-in.
        logger: Where recovery and directory-sync trouble is logged.
    """

    fsync: FsyncPolicy
    write: Callable[[int, bytes], int]
    sync: Callable[[int], None]
    logger: logging.Logger


def open_session_log(directory: Path, name: str, io: SegmentIo, counters: Counters) -> OpenedLog:
    """Open (or create) a session's log for appending and recover its tail.

    Args:
        directory: The log directory; created with mode 0o700 when missing.
        name: The session's log name (``naming.log_name_for``).
        io: The writer's policy and stand-ins.
        counters: Where torn tails and skipped corrupt lines are counted.

    Raises:
        EventLogInUseError: Another process has the session's log open.
        EventLogUnsafeFileError: A file of it is a link or not a regular file (counted).
        EventLogError: The directory or the newest segment cannot be created, opened or
            recovered (nothing is left open).
    """
    lock_fd: int | None = None
    fd: int | None = None
    try:
        prepare_directory(directory)
        first = directory / segment_file_name(name, 0)
        lock_fd, fresh = lock_session(first, counters)
        if fresh:
            sync_directory(directory, io)  # the lock made the file: make its entry durable
        segments = _existing_segments(directory, name)
        segment = segments[-1] if segments else 0
        path = directory / segment_file_name(name, segment)
        fd = open_segment(path, io, counters)
        size = _recover_torn_tail(fd, path, io, counters)
        next_index = _resume_index(directory, name, segments, (segment, fd, size), io, counters)
    except OSError as exc:
        _release(fd, lock_fd)
        raise EventLogError(f"cannot open the event log in {directory}: {exc}") from exc
    except BaseException:
        _release(fd, lock_fd)
        raise
    return OpenedLog(lock_fd, fd, segment, path, size, next_index)


def open_segment(path: Path, io: SegmentIo, counters: Counters | None = None) -> int:
    """Open a segment file for appending, creating it (and syncing its entry) if missing.

    Raises:
        EventLogUnsafeFileError: It is a link or not a regular file (counted).
        OSError: It cannot be opened or created.
    """
    fd, created = open_log_file(path, SEGMENT_FLAGS, counters, create=True)
    if created:
        sync_directory(path.parent, io)
    return fd


def sync_directory(directory: Path, io: SegmentIo) -> None:
    """Make a new segment's directory entry durable (best effort, per policy)."""
    if not fsync_at_boundary(io.fsync):
        return
    try:
        dir_fd = open_directory(directory)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        io.logger.debug("event log %s: directory fsync failed: %s", directory, exc)


def _release(fd: int | None, lock_fd: int | None) -> None:
    """Close what a failed open had opened (the lock last)."""
    for opened in (fd, lock_fd):
        if opened is not None:
            os.close(opened)


def _existing_segments(directory: Path, name: str) -> list[int]:
    with os.scandir(directory) as entries:
        names = [entry.name for entry in entries]
    return [segment for segment, _ in select_segments(name, names)]


def _recover_torn_tail(fd: int, path: Path, io: SegmentIo, counters: Counters) -> int:
    """Quarantine and cut an unterminated tail; return the segment's good size."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    good = end_of_last_line(fd, size)
    torn_path = path.with_name(torn_file_name(path.name))
    torn_fd, _ = open_log_file(torn_path, os.O_WRONLY | os.O_APPEND, counters, create=True)
    try:
        copy_range(fd, good, size, lambda data: write_all(torn_fd, data, io.write))
        write_all(torn_fd, b"\n", io.write)  # one quarantined tail per line
        io.sync(torn_fd)
    finally:
        os.close(torn_fd)
    os.ftruncate(fd, good)
    if fsync_at_boundary(io.fsync):
        io.sync(fd)
    counters.eventlog_torn_tails += 1
    io.logger.warning(
        "event log %s: torn last line (%d bytes) moved to %s", path, size - good, torn_path
    )
    return good


def _resume_index(
    directory: Path,
    name: str,
    segments: list[int],
    newest: tuple[int, int, int],
    io: SegmentIo,
    counters: Counters,
) -> int:
    """Find the last good record, newest segment first; return the index after it.

    ``newest`` is the segment appended to, already open: ``(segment, fd, good size)``.
    """
    current, fd, size = newest
    order = [current, *(s for s in reversed(segments) if s != current)]
    for segment in order:
        path = directory / segment_file_name(name, segment)
        if segment == current:
            scan = scan_last_index(fd, size)
        else:
            older, _ = open_log_file(path, os.O_RDONLY, counters)
            try:
                scan = scan_last_index(older, os.fstat(older).st_size)
            finally:
                os.close(older)
        if scan.corrupt or scan.unindexed:
            counters.eventlog_corrupt_lines += scan.corrupt
            io.logger.warning(
                "event log %s: resuming past %d corrupt and %d unindexed line(s) (first: %s)",
                path,
                scan.corrupt,
                scan.unindexed,
                scan.first_problem,
            )
        if scan.index is not None:
            return scan.index + 1
    return 0
