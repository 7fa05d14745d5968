"""Appending events to a session's log: the ``EventLog`` protocol and its JSONL backend.

Beside it: ``memory`` (the other backend), ``appending`` (what both share: clock, failure
bookkeeping), ``opening`` (directory, lock, torn tail, resumed index) and ``locking``.

Rules:

- Append only. An existing session's log is never truncated, except to cut a torn last
  line (which is first copied to ``<segment>.torn``) or to cut back a partial line that a
  failed write of ours left behind.
- One append path: ``append`` is ``append_many`` of one record. The records of one call
  reach the OS as one ``write`` of whole lines per segment they go to, on an unbuffered fd:
  nothing is ever held in a buffer of the process once an append returns. ``fsync``
  follows ``FsyncPolicy`` (and rotation / close).
- Appends never raise: a record that cannot be stored is counted in
  ``Counters.eventlog_write_failures``, logged (once per distinct cause until a write
  succeeds again), its index is not consumed, and ``append`` returns ``None``.
- Opening resumes ``next_index`` from the last good record, so indices have no gaps.
- One appender per session across processes: opening takes the session's lock
  (:func:`~acp_bridge.eventlog.locking.lock_session`), held until ``close``; a second
  bridge opening the same session gets ``EventLogInUseError``, before it touches the file
  (its tail may be another process's line in the making).

Synchronous by design: async callers run ``flush(durable=True)`` / ``close`` through
``anyio.to_thread.run_sync`` when a blocking ``fsync`` matters, and take the interval
``fsync`` off the appending thread through :class:`BackgroundSync`.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from acp_bridge.errors import EventLogUnsafeFileError
from acp_bridge.eventlog.appending import LOGGER, Failures, closed_error, wall_clock_ms
from acp_bridge.eventlog.naming import log_name_for, segment_file_name
from acp_bridge.eventlog.opening import SegmentIo, open_segment, open_session_log, sync_directory
from acp_bridge.eventlog.records import encode_record
from acp_bridge.eventlog.rotation import (
    FsyncPolicy,
    RotationPolicy,
    fsync_at_boundary,
    fsync_due,
    should_rotate,
)
from acp_bridge.fdio import write_fully

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

    from acp_bridge.counters import Counters
    from acp_bridge.eventlog.records import PendingRecord

_DEFAULT_ROTATION: Final = RotationPolicy()
_DEFAULT_FSYNC: Final = FsyncPolicy()


class EventLog(Protocol):
    """What the bridge needs from a session's event log, whatever the backend."""

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
        """Store ``(event, frame_depth)`` records in order; return how many were stored."""
        ...

    def flush(self, *, durable: bool = False) -> None:
        """Push buffered records to the OS; with ``durable``, to stable storage."""
        ...

    def close(self) -> None:
        """Flush (and ``fsync`` per policy) and release the log; idempotent."""
        ...


@runtime_checkable
class BackgroundSync(Protocol):
    """A log whose interval ``fsync`` its owner runs elsewhere (a worker thread).

    The handshake: after an append, ``sync_wanted`` says one is due; ``begin_sync`` hands
    out a descriptor to ``fsync``; ``end_sync`` takes it back with the outcome. Only the
    JSONL backend offers it (and asks for syncs only when opened with
    ``background_sync=True``). ``isinstance`` against this protocol is slow: check once
    per log, not per append.
    """

    @property
    def sync_wanted(self) -> bool:
        """An interval ``fsync`` is due and left to the caller."""
        ...

    def begin_sync(self) -> int | None:
        """Start a due ``fsync`` elsewhere: a descriptor to sync, then :meth:`end_sync`."""
        ...

    def end_sync(self, handle: int, error: OSError | None) -> None:
        """The ``fsync`` of ``handle`` is over (``error``: it failed)."""
        ...


class JsonlEventLog:
    """An ``EventLog`` (and a ``BackgroundSync``) appending JSONL lines to segment files.

    The lines are Harn-shaped, the segments numbered upward. One instance per session, used
    from one thread; the session lock keeps a second process out.
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
        self._io = SegmentIo(fsync, write, sync, logger or LOGGER)
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._cut_pending = False
        self._records_since_sync = 0
        self._last_sync = monotonic()
        self._background_sync = background_sync and fsync.mode == "interval"
        self._sync_wanted = False
        opened = open_session_log(directory, self.name, self._io, counters)
        self._lock_fd: int | None = opened.lock_fd
        self._fd: int | None = opened.fd
        self._segment, self._path, self._segment_bytes = opened.segment, opened.path, opened.size
        self._next_index = opened.next_index
        self._failures = Failures(counters, self._io.logger, str(self._path))

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
        """Store one event: :meth:`append_many` of one; its index, or None on failure.

        Never raises: an unencodable event, a closed log and every ``OSError`` are counted
        in ``counters.eventlog_write_failures``; the index is then not consumed and no
        partial line remains in the file.
        """
        index = self._next_index
        stored = self.append_many(((event, frame_depth),), emitted_at_ms=emitted_at_ms)
        return index if stored else None

    def append_many(
        self, records: Sequence[PendingRecord], *, emitted_at_ms: int | None = None
    ) -> int:
        """Store records in order with one ``write`` per segment they go to.

        The hot path: the records a VM wrote in one burst reach the OS together, before any
        of their notifications is sent. All get the same ``emitted_at_ms`` (one clock
        reading, unless given). Each record that cannot be stored is counted and logged,
        its index not consumed; records after a failed ``write`` are still tried.

        Returns:
            How many records were stored.
        """
        if not records:
            return 0
        if self._fd is None:
            self._failures.failed("append", closed_error(), len(records))
            return 0
        # A partial line of ours is still in the file: never write after it.
        if self._cut_pending and (cut_error := self._cut_back(self._fd)) is not None:
            self._failures.failed("truncate", cut_error, len(records))
            return 0
        at = self._clock_ms() if emitted_at_ms is None else emitted_at_ms
        group: list[bytes] = []
        group_bytes = 0
        stored = 0
        may_rotate = True  # once per call: a segment that would not open is retried next time
        for event, frame_depth in records:
            try:
                line = encode_record(self._next_index + len(group), at, frame_depth, event)
            except TypeError as exc:
                self._failures.failed("encode", exc)
                continue
            if may_rotate and should_rotate(
                self._segment_bytes + group_bytes, len(line), self._rotation
            ):
                stored += self._write_group(group, group_bytes)
                group, group_bytes = [], 0
                # If the next segment would not open, the record stays in this one: a
                # segment past its cap loses nothing, a skipped record would.
                may_rotate = self.rotate()
                # Its index was counted after the lines just written; one may have failed.
                line = encode_record(self._next_index, at, frame_depth, event)
            group.append(line)
            group_bytes += len(line)
        stored += self._write_group(group, group_bytes)
        self._after_append()
        return stored

    def rotate(self) -> bool:
        """Continue in the next numbered segment.

        Returns:
            False (counted, logged) when the new segment cannot be opened, or its name is
            taken by a link or a file that is not regular (refused, never followed); the
            log then stays on the current segment.
        """
        if self._fd is None:
            self._failures.failed("rotate", closed_error())
            return False
        segment = self._segment + 1
        path = self.directory / segment_file_name(self.name, segment)
        try:
            fd = open_segment(path, self._io, self.counters)
        except EventLogUnsafeFileError as exc:
            self._failures.failed("rotate", exc, records=0)  # counted as an unsafe file
            return False
        except OSError as exc:
            self._failures.failed("rotate", exc)
            return False
        try:
            size = os.fstat(fd).st_size
        except OSError as exc:
            self._close_fd(fd)
            self._failures.failed("rotate", exc)
            return False
        self._failures.succeeded("rotate")
        old = self._fd
        if fsync_at_boundary(self._io.fsync):
            self._sync_now(old)
        self._close_fd(old)
        self._fd, self._segment, self._path, self._segment_bytes = fd, segment, path, size
        self._failures.where = str(path)
        sync_directory(self.directory, self._io)
        return True

    def flush(self, *, durable: bool = False) -> None:
        """Records are flushed to the OS on append; ``durable`` also ``fsync``s them now."""
        if durable and self._fd is not None and self._records_since_sync > 0:
            self._sync_now(self._fd)

    def close(self) -> None:
        """``fsync`` (unless the policy is ``never``), close and unlock; idempotent."""
        if self._fd is None:
            return
        if self._cut_pending and (cut_error := self._cut_back(self._fd)) is not None:
            self._failures.failed("truncate", cut_error)
        fd, self._fd = self._fd, None
        try:
            if fsync_at_boundary(self._io.fsync) and self._records_since_sync > 0:
                self._sync_now(fd)
        finally:  # whatever happens, the descriptors and the lock go
            self._close_fd(fd)
            if self._lock_fd is not None:
                self._close_fd(self._lock_fd)  # the lock goes with it
                self._lock_fd = None

    def __enter__(self) -> JsonlEventLog:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- background fsync (BackgroundSync) --------------------------------------------------

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

    # -- writing ----------------------------------------------------------------------------

    def _write_group(self, group: list[bytes], size: int) -> int:
        """Write whole lines with one ``write``; return how many were stored.

        When a ``write`` fails part way (a full disk, a file size limit), the lines that
        made it whole are kept and only the partial one is cut back.
        """
        if not group or self._fd is None:
            return 0
        done, error = write_fully(self._fd, b"".join(group), self._io.write)
        if error is None:
            self._failures.succeeded("append")
            self._stored(len(group), size)
            return len(group)
        kept = kept_bytes = 0
        for line in group:
            if kept_bytes + len(line) > done:
                break
            kept, kept_bytes = kept + 1, kept_bytes + len(line)
        self._failures.failed("append", error, len(group) - kept)
        self._stored(kept, kept_bytes)
        self._cut_back(self._fd)
        return kept

    def _stored(self, records: int, size: int) -> None:
        self._segment_bytes += size
        self._next_index += records
        self._records_since_sync += records

    def _after_append(self) -> None:
        elapsed = self._monotonic() - self._last_sync
        if self._fd is None or not fsync_due(self._io.fsync, self._records_since_sync, elapsed):
            return
        if self._background_sync:
            self._sync_wanted = True
        else:
            self._sync_now(self._fd)

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
            self._io.logger.error(
                "event log %s: cannot cut back a partial line (%s); appends wait until it can",
                self._path,
                error,
            )
        self._cut_pending = True
        return error

    def _sync_now(self, fd: int) -> None:
        try:
            self._io.sync(fd)
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
