"""Appending events to a session's log: the ``EventLog`` protocol and its two backends.

Rules:

- Append only. An existing session's log is never truncated, except to cut a torn last
  line (which is first copied to ``<segment>.torn``) or to cut back a partial line that a
  failed write of ours left behind.
- Every record reaches the OS as one ``write`` of the whole line on an unbuffered fd, or,
  through ``append_many``, with the records that arrived with it in one ``write`` of whole
  lines: nothing is ever held in a buffer of the process once an append returns.
  ``fsync`` follows ``FsyncPolicy`` (and rotation / close).
- ``append`` never raises: a record that cannot be stored is counted in
  ``Counters.eventlog_write_failures``, logged (once per distinct cause until a write
  succeeds again), its index is not consumed, and ``append`` returns ``None``.
- Opening resumes ``next_index`` from the last good record, so indices have no gaps.
- One appender per session across processes: opening takes an exclusive ``flock`` on the
  session's first segment file, held until ``close`` (the OS drops it if the process
  dies); a second bridge opening the same session gets ``EventLogInUseError``, before it
  touches the file (its tail may be another process's line in the making).

Synchronous by design: async callers run ``flush(durable=True)`` / ``close`` through
``anyio.to_thread.run_sync`` when a blocking ``fsync`` matters.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Final, Protocol

from acp_bridge.counters import Counters
from acp_bridge.errors import EventLogError, EventLogInUseError
from acp_bridge.eventlog.naming import log_name_for, segment_file_name, select_segments
from acp_bridge.eventlog.records import LogRecord, PendingRecord, decode_record, encode_record
from acp_bridge.eventlog.recovery import copy_range, end_of_last_line, scan_last_index
from acp_bridge.eventlog.rotation import (
    FsyncPolicy,
    RotationPolicy,
    fsync_at_boundary,
    fsync_due,
    should_rotate,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

LOGGER: Final = logging.getLogger("acp_bridge.eventlog")
DIRECTORY_MODE: Final = 0o700
FILE_MODE: Final = 0o600
TORN_SUFFIX: Final = ".torn"
_OPEN_FLAGS: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
_DEFAULT_ROTATION: Final = RotationPolicy()
_DEFAULT_FSYNC: Final = FsyncPolicy()


def wall_clock_ms() -> int:
    """Return the wall clock in whole milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class EventLog(Protocol):
    """What the bridge needs from a session's event log."""

    @property
    def next_index(self) -> int:
        """The index the next successful ``append`` will assign."""
        ...

    @property
    def last_error(self) -> OSError | None:
        """The error of the latest failed append, or None once an append succeeds."""
        ...

    def append(
        self,
        event: Mapping[str, Any],
        *,
        frame_depth: int | None = None,
        emitted_at_ms: int | None = None,
    ) -> int | None:
        """Store one event; return its index, or None when it could not be stored."""
        ...

    def append_many(self, records: Sequence[PendingRecord]) -> int:
        """Store ``(event, frame_depth)`` records in order.

        Returns how many were stored; the others are counted and logged, as by ``append``.
        """
        ...

    @property
    def sync_wanted(self) -> bool:
        """An interval ``fsync`` is due and left to the caller (``background_sync``)."""
        ...

    def begin_sync(self) -> int | None:
        """Start a due ``fsync`` elsewhere: a descriptor to sync, then :meth:`end_sync`."""
        ...

    def end_sync(self, handle: int, error: OSError | None) -> None:
        """The ``fsync`` of ``handle`` is over (``error``: it failed)."""
        ...

    def flush(self, *, durable: bool = False) -> None:
        """Push buffered records to the OS; with ``durable``, to stable storage."""
        ...

    def close(self) -> None:
        """Flush (and ``fsync`` per policy) and release the log; idempotent."""
        ...


class _Failures:
    """Counts every failure and logs each distinct cause once until that operation succeeds.

    Every failed operation bumps ``eventlog_write_failures``: a record not stored (append,
    encode, truncate, rotate) or records not made durable (fsync, close).
    """

    _CONSEQUENCE: Final = {"fsync": "records may not be durable", "close": "file left open"}

    def __init__(self, counters: Counters, logger: logging.Logger, where: str) -> None:
        self.counters = counters
        self.logger = logger
        self.where = where
        self.last_error: OSError | None = None
        self._quiet: dict[str, int] = {}  # "op:cause" -> failures since it was logged

    def failed(self, op: str, exc: OSError | TypeError, records: int = 1) -> None:
        self.counters.eventlog_write_failures += records
        if isinstance(exc, OSError):
            self.last_error = exc
            key = f"{op}:errno {exc.errno}"
        else:
            key = f"{op}:{type(exc).__name__}"
        if key in self._quiet:
            self._quiet[key] += 1
            return
        self._quiet[key] = 1
        self.logger.error(
            "event log %s: %s failed, %s: %s (repeats are counted, not logged, until it works)",
            self.where,
            op,
            self._CONSEQUENCE.get(op, "record not stored"),
            exc,
        )

    def succeeded(self, op: str) -> None:
        if op == "append":
            self.last_error = None
        for key in [k for k in self._quiet if k.startswith(op + ":")]:
            count = self._quiet.pop(key)
            self.logger.warning(
                "event log %s: %s works again after %d failure(s) (%s)",
                self.where,
                op,
                count,
                key,
            )


#: flock errors that mean the file system has no locks (some network and FUSE ones).
_NO_LOCKS: Final = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


def lock_session(first_segment: Path) -> int:
    """Take the session's append lock: an exclusive ``flock`` on its first segment file.

    Returns:
        The descriptor that holds the lock; closing it releases the lock.

    A file system that cannot lock at all is warned about, and the log is used unlocked.

    Raises:
        EventLogInUseError: Another process holds it.
        OSError: The file cannot be opened (or locked, for another reason).
    """
    fd = os.open(first_segment, _OPEN_FLAGS, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EventLogInUseError(
            f"the log of this session is open in another process ({first_segment})"
        ) from None
    except OSError as exc:
        if exc.errno not in _NO_LOCKS:
            os.close(fd)
            raise
        LOGGER.warning(
            "event log %s: the file system cannot lock it (%s); another process could "
            "append to this session at the same time",
            first_segment,
            exc,
        )
    return fd


def session_in_use(first_segment: Path) -> bool:
    """Whether another process holds the session's append lock (False if no log exists)."""
    try:
        fd = os.open(first_segment, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _progress(written: int) -> int:
    """``written`` by a ``write`` call, which must have made progress."""
    if written <= 0:
        raise OSError(errno.EIO, "write made no progress")
    return written


def _closed_error() -> OSError:
    return OSError(errno.EBADF, "event log is closed")


class MemoryEventLog:
    """An ``EventLog`` keeping encoded lines in memory (tests and the in-memory backend)."""

    def __init__(
        self,
        *,
        counters: Counters | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        logger: logging.Logger | None = None,
    ) -> None:
        """Create an empty log; ``counters`` defaults to a private ``Counters``."""
        self.counters = counters if counters is not None else Counters()
        self.lines: list[bytes] = []
        self._clock_ms = clock_ms
        self._failures = _Failures(self.counters, logger or LOGGER, "<memory>")
        self._closed = False

    @property
    def next_index(self) -> int:
        """The index the next successful ``append`` will assign."""
        return len(self.lines)

    @property
    def last_error(self) -> OSError | None:
        """The error of the latest failed append, or None once an append succeeds."""
        return self._failures.last_error

    def append(
        self,
        event: Mapping[str, Any],
        *,
        frame_depth: int | None = None,
        emitted_at_ms: int | None = None,
    ) -> int | None:
        """Store one event; return its index, or None (counted, logged) on failure."""
        if self._closed:
            self._failures.failed("append", _closed_error())
            return None
        index = len(self.lines)
        at = self._clock_ms() if emitted_at_ms is None else emitted_at_ms
        try:
            line = encode_record(index, at, frame_depth, event)
        except TypeError as exc:
            self._failures.failed("encode", exc)
            return None
        self.lines.append(line)
        self._failures.succeeded("append")
        return index

    def append_many(self, records: Sequence[PendingRecord]) -> int:
        """Store each record in order (one clock reading for all); return how many were."""
        at = self._clock_ms()
        stored = 0
        for event, frame_depth in records:
            if self._closed:
                self._failures.failed("append", _closed_error())
                continue
            try:
                line = encode_record(len(self.lines), at, frame_depth, event)
            except TypeError as exc:
                self._failures.failed("encode", exc)
                continue
            self.lines.append(line)
            stored += 1
        if stored:
            self._failures.succeeded("append")
        return stored

    def records(self) -> list[LogRecord]:
        """Decode every stored line."""
        return [decode_record(line) for line in self.lines]

    @property
    def sync_wanted(self) -> bool:
        """Never: memory has nothing to sync."""
        return False

    def begin_sync(self) -> int | None:
        """Nothing to sync."""
        return None

    def end_sync(self, handle: int, error: OSError | None) -> None:
        """Nothing was synced."""

    def flush(self, *, durable: bool = False) -> None:
        """Do nothing: memory has nothing to flush."""

    def close(self) -> None:
        """Refuse further appends; the stored lines stay readable."""
        self._closed = True

    def __enter__(self) -> MemoryEventLog:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class JsonlEventLog:
    """An ``EventLog`` appending Harn-shaped JSONL lines to numbered segment files.

    One instance per session, used from one thread; nothing stops a second process from
    opening the same session, so the composition root must not do that.
    """

    def __init__(
        self,
        directory: Path,
        session_id: str,
        *,
        counters: Counters,
        rotation: RotationPolicy = _DEFAULT_ROTATION,
        fsync: FsyncPolicy = _DEFAULT_FSYNC,
        clock_ms: Callable[[], int] = wall_clock_ms,
        monotonic: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
        write: Callable[[int, bytes], int] = os.write,
        sync: Callable[[int], None] = os.fsync,
        background_sync: bool = False,
    ) -> None:
        """Open (or create) the session's log and recover its tail.

        Args:
            directory: The log directory; created with mode 0o700 when missing.
            session_id: Any session id; ``naming.log_name_for`` makes it a safe name.
            counters: Where write failures, torn tails and skipped corrupt lines are counted.
            rotation: Segment size cap.
            fsync: When to ``fsync``.
            clock_ms: Wall clock for ``emitted_at_ms``.
            monotonic: Clock for the fsync interval.
            logger: Defaults to the ``acp_bridge.eventlog`` logger.
            write: ``os.write`` or a stand-in (failure injection in tests).
            sync: ``os.fsync`` or a stand-in.
            background_sync: Leave the ``fsync`` the ``interval`` policy asks for to the
                caller (``sync_wanted``, ``begin_sync``, ``end_sync``), to run away from the
                thread that appends: syncing a second's worth of records can take long.
                ``always`` (and rotation and close) still sync right here.

        Raises:
            EventLogError: The directory or the newest segment cannot be created or opened.
        """
        self.directory = directory
        self.session_id = session_id
        self.name = log_name_for(session_id)
        self.counters = counters
        self._rotation = rotation
        self._fsync = fsync
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._logger = logger or LOGGER
        self._write = write
        self._sync = sync
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._cut_pending = False
        self._records_since_sync = 0
        self._last_sync = monotonic()
        self._background_sync = background_sync and fsync.mode == "interval"
        self._sync_wanted = False
        try:
            self._ensure_directory()
            first = directory / segment_file_name(self.name, 0)
            fresh = not first.exists()
            self._lock_fd = lock_session(first)
            if fresh:
                self._sync_directory()  # the lock made the file: make its entry durable
            segments = self._existing_segments()
            self._segment = segments[-1] if segments else 0
            self._path = directory / segment_file_name(self.name, self._segment)
            self._fd = self._open_segment(self._path)
            self._failures = _Failures(counters, self._logger, str(self._path))
            self._segment_bytes = self._recover_torn_tail(self._fd, self._path)
            self._next_index = self._resume_index(segments)
        except OSError as exc:
            self._release()
            raise EventLogError(f"cannot open the event log in {directory}: {exc}") from exc
        except EventLogError:
            self._release()
            raise

    # -- public API -----------------------------------------------------------------------

    @property
    def next_index(self) -> int:
        """The index the next successful ``append`` will assign."""
        return self._next_index

    @property
    def path(self) -> Path:
        """The segment file currently appended to."""
        return self._path

    @property
    def segment(self) -> int:
        """The number of the segment currently appended to (0 for the unnumbered file)."""
        return self._segment

    @property
    def last_error(self) -> OSError | None:
        """The error of the latest failed append, or None once an append succeeds."""
        return self._failures.last_error

    def append(
        self,
        event: Mapping[str, Any],
        *,
        frame_depth: int | None = None,
        emitted_at_ms: int | None = None,
    ) -> int | None:
        """Store one event; return its index, or None (counted, logged) on failure.

        Never raises: an unencodable event, a closed log and every ``OSError`` are counted
        in ``counters.eventlog_write_failures``; the index is then not consumed and no
        partial line remains in the file.
        """
        if self._fd is None:
            self._failures.failed("append", _closed_error())
            return None
        index = self._next_index
        at = self._clock_ms() if emitted_at_ms is None else emitted_at_ms
        try:
            line = encode_record(index, at, frame_depth, event)
        except TypeError as exc:
            self._failures.failed("encode", exc)
            return None
        # A partial line of ours is still in the file: never write after it.
        if self._cut_pending and (cut_error := self._cut_back(self._fd)) is not None:
            self._failures.failed("truncate", cut_error)
            return None
        if should_rotate(self._segment_bytes, len(line), self._rotation) and not self.rotate():
            return None
        try:
            self._write_all(self._fd, line)
        except OSError as exc:
            self._failures.failed("append", exc)
            self._cut_back(self._fd)
            return None
        self._failures.succeeded("append")
        self._segment_bytes += len(line)
        self._next_index = index + 1
        self._records_since_sync += 1
        self._after_append()
        return index

    def append_many(self, records: Sequence[PendingRecord]) -> int:
        """Store records in order with one ``write`` per segment they go to.

        The hot path: the records a VM wrote in one burst reach the OS together, before any
        of their notifications is sent. All get the same ``emitted_at_ms`` (one clock
        reading). Failures are what ``append`` does for each record: counted, logged, the
        index not consumed; records after a failed ``write`` are still tried.

        Returns:
            How many records were stored.
        """
        if not records:
            return 0
        if self._fd is None:
            self._failures.failed("append", _closed_error(), len(records))
            return 0
        if self._cut_pending and (cut_error := self._cut_back(self._fd)) is not None:
            self._failures.failed("truncate", cut_error, len(records))
            return 0
        at = self._clock_ms()
        group: list[bytes] = []
        group_bytes = 0
        stored = 0
        for event, frame_depth in records:
            try:
                line = encode_record(self._next_index + len(group), at, frame_depth, event)
            except TypeError as exc:
                self._failures.failed("encode", exc)
                continue
            if should_rotate(self._segment_bytes + group_bytes, len(line), self._rotation):
                stored += self._write_group(group, group_bytes)
                group, group_bytes = [], 0
                if not self.rotate():
                    continue
                # Its index was counted after the lines just written; one may have failed.
                line = encode_record(self._next_index, at, frame_depth, event)
            group.append(line)
            group_bytes += len(line)
        stored += self._write_group(group, group_bytes)
        self._after_append()
        return stored

    def _after_append(self) -> None:
        elapsed = self._monotonic() - self._last_sync
        if self._fd is None or not fsync_due(self._fsync, self._records_since_sync, elapsed):
            return
        if self._background_sync:
            self._sync_wanted = True
        else:
            self._sync_now(self._fd)

    @property
    def sync_wanted(self) -> bool:
        """An interval ``fsync`` is due and left to the caller (``background_sync``)."""
        return self._sync_wanted

    def begin_sync(self) -> int | None:
        """Start the due ``fsync``: return a duplicate of the descriptor for the caller to sync.

        The duplicate stays valid whatever happens to the log meanwhile (rotation, close),
        so the sync can run in another thread; :meth:`end_sync` closes it. The interval
        restarts now. None when there is nothing to sync (or the duplicate failed: counted).
        """
        self._sync_wanted = False
        if self._fd is None or self._records_since_sync == 0:
            return None
        try:
            handle = os.dup(self._fd)
        except OSError as exc:
            self._failures.failed("fsync", exc)
            return None
        self._records_since_sync = 0
        self._last_sync = self._monotonic()
        return handle

    def end_sync(self, handle: int, error: OSError | None) -> None:
        """The ``fsync`` of ``handle`` is over: count a failure, close the duplicate."""
        if error is not None:
            self._failures.failed("fsync", error)
        else:
            self._failures.succeeded("fsync")
        self._close_fd(handle)

    def _write_group(self, group: list[bytes], size: int) -> int:
        """Write whole lines with one ``write``; return how many were stored.

        When a ``write`` fails part way (a full disk, a file size limit), the lines that
        made it whole are kept and only the partial one is cut back.
        """
        if not group or self._fd is None:
            return 0
        data = b"".join(group)
        done = 0
        try:
            while done < size:
                done += _progress(self._write(self._fd, data[done:] if done else data))
        except OSError as exc:
            kept = kept_bytes = 0
            for line in group:
                if kept_bytes + len(line) > done:
                    break
                kept, kept_bytes = kept + 1, kept_bytes + len(line)
            self._failures.failed("append", exc, len(group) - kept)
            self._stored(kept, kept_bytes)
            self._cut_back(self._fd)
            return kept
        self._failures.succeeded("append")
        self._stored(len(group), size)
        return len(group)

    def _stored(self, records: int, size: int) -> None:
        self._segment_bytes += size
        self._next_index += records
        self._records_since_sync += records

    def rotate(self) -> bool:
        """Continue in the next numbered segment.

        Returns:
            False (counted, logged) when the new segment cannot be opened; the log then
            stays on the current segment.
        """
        if self._fd is None:
            self._failures.failed("rotate", _closed_error())
            return False
        segment = self._segment + 1
        path = self.directory / segment_file_name(self.name, segment)
        try:
            fd = self._open_segment(path)
            size = os.fstat(fd).st_size
        except OSError as exc:
            self._failures.failed("rotate", exc)
            return False
        self._failures.succeeded("rotate")
        old = self._fd
        if fsync_at_boundary(self._fsync):
            self._sync_now(old)
        self._close_fd(old)
        self._fd, self._segment, self._path, self._segment_bytes = fd, segment, path, size
        self._failures.where = str(path)
        self._sync_directory()
        return True

    def flush(self, *, durable: bool = False) -> None:
        """Records are flushed to the OS on append; ``durable`` also ``fsync``s them now."""
        if durable and self._fd is not None and self._records_since_sync > 0:
            self._sync_now(self._fd)

    def _release(self) -> None:
        """Close what a failed open had opened (the lock last)."""
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    def close(self) -> None:
        """``fsync`` (unless the policy is ``never``), close and unlock; idempotent."""
        if self._fd is None:
            return
        if self._cut_pending and (cut_error := self._cut_back(self._fd)) is not None:
            self._failures.failed("truncate", cut_error)
        if fsync_at_boundary(self._fsync) and self._records_since_sync > 0:
            self._sync_now(self._fd)
        self._close_fd(self._fd)
        self._fd = None
        if self._lock_fd is not None:
            self._close_fd(self._lock_fd)  # the lock goes with it
            self._lock_fd = None

    def __enter__(self) -> JsonlEventLog:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------

    def _write_all(self, fd: int, data: bytes) -> None:
        written = self._write(fd, data)
        while written < len(data):  # a short write (rare on regular files): finish it
            if written <= 0:
                raise OSError(errno.EIO, "write made no progress")
            data = data[written:]
            written = self._write(fd, data)

    def _cut_back(self, fd: int) -> OSError | None:
        """Truncate to the last known good size so no partial line stays behind."""
        try:
            os.ftruncate(fd, self._segment_bytes)
        except OSError as exc:
            error = exc
        else:
            self._cut_pending = False
            return None
        if not self._cut_pending:
            self._logger.error(
                "event log %s: cannot cut back a partial line (%s); appends wait until it can",
                self._path,
                error,
            )
        self._cut_pending = True
        return error

    def _sync_now(self, fd: int) -> None:
        try:
            self._sync(fd)
        except OSError as exc:
            self._failures.failed("fsync", exc)
            return
        self._failures.succeeded("fsync")
        self._records_since_sync = 0
        self._last_sync = self._monotonic()

    def _close_fd(self, fd: int) -> None:
        try:
            os.close(fd)
        except OSError as exc:
            self._failures.failed("close", exc)

    def _sync_directory(self) -> None:
        """Make a new segment's directory entry durable (best effort, per policy)."""
        if not fsync_at_boundary(self._fsync):
            return
        try:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self._logger.debug("event log %s: directory fsync failed: %s", self.directory, exc)

    # -- opening and recovery -------------------------------------------------------------

    def _ensure_directory(self) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
            os.chmod(self.directory, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask

    def _existing_segments(self) -> list[int]:
        with os.scandir(self.directory) as entries:
            names = [entry.name for entry in entries]
        return [segment for segment, _ in select_segments(self.name, names)]

    def _open_segment(self, path: Path) -> int:
        created = not path.exists()
        fd = os.open(path, _OPEN_FLAGS, FILE_MODE)
        if created:
            self._sync_directory()
        return fd

    def _recover_torn_tail(self, fd: int, path: Path) -> int:
        """Quarantine and cut an unterminated tail; return the segment's good size."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        good = end_of_last_line(fd, size)
        torn_path = path.with_name(path.name + TORN_SUFFIX)
        torn_fd = os.open(torn_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            copy_range(fd, good, size, lambda data: self._write_all(torn_fd, data))
            self._write_all(torn_fd, b"\n")  # one quarantined tail per line
            self._sync(torn_fd)
        finally:
            os.close(torn_fd)
        os.ftruncate(fd, good)
        if fsync_at_boundary(self._fsync):
            self._sync(fd)
        self.counters.eventlog_torn_tails += 1
        self._logger.warning(
            "event log %s: torn last line (%d bytes) moved to %s", path, size - good, torn_path
        )
        return good

    def _resume_index(self, segments: list[int]) -> int:
        """Find the last good record, newest segment first; return the index after it."""
        order = [self._segment, *(s for s in reversed(segments) if s != self._segment)]
        for segment in order:
            path = self.directory / segment_file_name(self.name, segment)
            if segment == self._segment and self._fd is not None:
                scan = scan_last_index(self._fd, self._segment_bytes)
            else:
                with path.open("rb", buffering=0) as f:
                    scan = scan_last_index(f.fileno(), os.fstat(f.fileno()).st_size)
            if scan.corrupt or scan.unindexed:
                self.counters.eventlog_corrupt_lines += scan.corrupt
                self._logger.warning(
                    "event log %s: resuming past %d corrupt and %d unindexed line(s) (first: %s)",
                    path,
                    scan.corrupt,
                    scan.unindexed,
                    scan.first_problem,
                )
            if scan.index is not None:
                return scan.index + 1
        return 0
