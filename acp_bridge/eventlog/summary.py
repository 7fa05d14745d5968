"""One log as ``session/list`` shows it: what its first and newest segments say.

Listing never reads a log in full: a session's id, cwd and title come from the first
records of its first segment (read up to :data:`HEAD_BYTES`), and ``updatedAt`` from the
last complete line of its newest segment (read from the end, up to :data:`TAIL_BYTES`).
A title the VM set (a ``session_info`` event) wins over the first prompt's: the latest one
in the newest segment's tail or head, else the first segment's; a load or resume writes
the session's title into its session record, so a title set long before the tail is found
again there once the session was reopened.
Logs written by Harn itself (no ``acp_bridge.session`` record) are described too, under
the id they are named after.

Rules:

- Files are opened through :func:`~acp_bridge.eventlog.files.open_log_file` (never
  followed, only regular files).
- What is kept of a segment (:class:`SegmentFacts`) is small and holds no records, so a
  catalogue may keep it for every file of a large directory.
- A log is described under the id whose files it is (``naming.listed_session_id``), or
  not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.eventlog.files import open_log_file
from acp_bridge.eventlog.naming import listed_session_id
from acp_bridge.eventlog.records import (
    PROMPT_RECORD,
    SESSION_INFO_EVENT,
    SESSION_RECORD,
    decode_record,
    prompt_title,
    vm_title,
)

if TYPE_CHECKING:
    from pathlib import Path

    from acp_bridge.counters import Counters

HEAD_BYTES: Final = 256 * 1024
TAIL_BYTES: Final = 64 * 1024
_SESSION_NEEDLE: Final = f'"{SESSION_RECORD}"'.encode()
_INFO_NEEDLE: Final = f'"{SESSION_INFO_EVENT}"'.encode()

#: What tells one version of a file from another: device, inode, size, mtime, ctime.
FileKey = tuple[int, int, int, int, int]


def file_key(info: os.stat_result) -> FileKey:
    """The :data:`FileKey` of a ``stat`` result."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """What ``session/list`` says about one logged session."""

    session_id: str
    cwd: str | None
    title: str | None
    updated_at_ms: int | None
    path: str
    recorded_by_bridge: bool
    additional_directories: tuple[str, ...] = ()

    def info(self, fallback_cwd: str) -> dict[str, Any]:
        """This session as an ACP ``SessionInfo``."""
        entry: dict[str, Any] = {"sessionId": self.session_id, "cwd": self.cwd or fallback_cwd}
        if self.additional_directories:
            entry["additionalDirectories"] = list(self.additional_directories)
        if self.title:
            entry["title"] = self.title
        if self.updated_at_ms is not None:
            stamp = datetime.fromtimestamp(self.updated_at_ms / 1000, tz=UTC)
            entry["updatedAt"] = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return entry


@dataclass(frozen=True, slots=True)
class SegmentFacts:
    """What listing needs of one segment file, read once per version of it (kept small).

    Attributes:
        key: The version read (``fstat`` of the descriptor read from).
        mtime_ms: Its modification time, for a log without time stamps.
        by_bridge: Its first record is the bridge's ``acp_bridge.session`` record.
        recorded_id: The session id that record names (None: not a string, or no record).
        cwd: The cwd that record names.
        title: The first prompt's text, shortened, from its first :data:`HEAD_BYTES`.
        head_roots: The additional directories of the last session record there.
        stamp: The last ``emitted_at_ms`` in its last :data:`TAIL_BYTES`.
        tail_roots: Those of the last session record in that tail (a later load or
            resume), or None when it has none.
        torn: It ends in a line without its newline (a load cuts it off).
        vm_title: The latest title the VM gave the session in its head or tail (a
            ``session_info`` event, or a session record a load or resume wrote with it).
    """

    key: FileKey
    mtime_ms: int
    by_bridge: bool
    recorded_id: str | None
    cwd: str | None
    title: str | None
    head_roots: tuple[str, ...]
    stamp: int | None
    tail_roots: tuple[str, ...] | None
    torn: bool
    vm_title: str | None = None


def read_facts(path: Path, counters: Counters | None = None) -> SegmentFacts:
    """Read the head and the tail of one segment file.

    Raises:
        EventLogUnsafeFileError: It is a link or not a regular file (counted).
        OSError: It cannot be opened or read.
    """
    fd, _ = open_log_file(path, os.O_RDONLY, counters)
    try:
        info = os.fstat(fd)
        head = _read_at(fd, 0, HEAD_BYTES)
        start = max(0, info.st_size - TAIL_BYTES)
        # The head holds the tail only when it holds the whole file.
        tail = head[start:] if info.st_size <= len(head) else _read_at(fd, start, TAIL_BYTES)
    finally:
        os.close(fd)
    records = _head_records(head)
    opening = records[0] if records else {}
    by_bridge = opening.get("type") == SESSION_RECORD
    recorded, cwd = opening.get("session_id"), opening.get("cwd")
    # The latest load or resume names the session's current roots; the opening, the first.
    latest = next((r for r in reversed(records) if r.get("type") == SESSION_RECORD), opening)
    stamp, reopened = _tail(tail)
    titled = _tail_title(tail) or next(
        (title for r in reversed(records) if (title := vm_title(r)) is not None), None
    )
    return SegmentFacts(
        key=file_key(info),
        mtime_ms=info.st_mtime_ns // 1_000_000,
        by_bridge=by_bridge,
        recorded_id=recorded if by_bridge and isinstance(recorded, str) else None,
        cwd=cwd if by_bridge and isinstance(cwd, str) else None,
        title=_title(records),
        head_roots=_roots(latest),
        stamp=stamp,
        tail_roots=None if reopened is None else _roots(reopened),
        torn=not tail.endswith(b"\n") and info.st_size > 0,
        vm_title=titled,
    )


def _read_at(fd: int, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes from ``offset`` (short reads finished, to the end of the file)."""
    parts: list[bytes] = []
    while size > 0:
        data = os.pread(fd, size, offset)
        if not data:
            break
        parts.append(data)
        offset += len(data)
        size -= len(data)
    return b"".join(parts)


def _head_records(head: bytes) -> list[dict[str, Any]]:
    lines = head.split(b"\n")
    lines = lines[:-1]  # a partial line at the budget's edge, a torn tail, or b""
    records: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(decode_record(line).event)
        except ValueError:
            continue
    return records


def _stamp(line: bytes) -> int | None:
    try:
        return decode_record(line).emitted_at_ms
    except ValueError:
        return None


def _tail(tail: bytes) -> tuple[int | None, dict[str, Any] | None]:
    """The last time stamp in a segment's tail, and the last session record there."""
    stamp: int | None = None
    for line in reversed(tail.split(b"\n")[:-1] if tail.endswith(b"\n") else tail.split(b"\n")):
        if not line.strip():
            continue
        if _SESSION_NEEDLE in line:
            try:
                record = decode_record(line)
            except ValueError:
                continue
            if record.event.get("type") == SESSION_RECORD:
                return (stamp if stamp is not None else record.emitted_at_ms), record.event
        if stamp is None:
            stamp = _stamp(line)
    return stamp, None


def _tail_title(tail: bytes) -> str | None:
    """The latest title the VM gave in a segment's tail (only likely lines are decoded)."""
    for line in reversed(tail.split(b"\n")):
        if _INFO_NEEDLE not in line and _SESSION_NEEDLE not in line:
            continue
        try:
            title = vm_title(decode_record(line).event)
        except ValueError:
            continue
        if title is not None:
            return title
    return None


def _roots(record: dict[str, Any]) -> tuple[str, ...]:
    dirs = record.get("additional_directories")
    if not isinstance(dirs, list):
        return ()
    return tuple(d for d in dirs if isinstance(d, str))


def _title(records: list[dict[str, Any]]) -> str | None:
    for record in records:
        if record.get("type") == PROMPT_RECORD:
            title = prompt_title(record.get("prompt"))
            if title is not None:
                return title
    return None


def describe(
    name: str, first_path: Path, first: SegmentFacts, last: SegmentFacts
) -> SessionEntry | None:
    """Describe the session whose first and newest segments say ``first`` and ``last``.

    Returns:
        None when no id the bridge serves leads to this log (see ``listed_session_id``).
    """
    session_id = listed_session_id(name, first.recorded_id)
    if session_id is None:
        return None
    roots = last.tail_roots if last.tail_roots is not None else first.head_roots
    return SessionEntry(
        session_id=session_id,
        cwd=first.cwd,
        title=last.vm_title or first.vm_title or first.title,
        updated_at_ms=last.stamp if last.stamp is not None else first.mtime_ms,
        path=str(first_path),
        recorded_by_bridge=first.by_bridge,
        additional_directories=roots if first.by_bridge else (),
    )
