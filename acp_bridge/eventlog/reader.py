"""Reading logs back: finding a session's segments and streaming their records in order.

Rules:

- Stream line by line; memory is bounded by the longest line (or by ``max_line_bytes``),
  never by the size of a log.
- A bad line is a value (``CorruptLine``), not an exception, so one damaged line never hides
  the rest; ``iter_session_records(strict=True)`` turns the first one into
  ``EventLogCorruptError``. An unterminated last line is reported as torn, never parsed.
- Both shapes read: Harn-enveloped records and raw event lines without an envelope
  (``LogRecord.index is None``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Final

from acp_bridge.errors import EventLogCorruptError, EventLogError
from acp_bridge.eventlog.naming import log_name_for, parse_segment_file_name, select_segments
from acp_bridge.eventlog.records import LogRecord, decode_record

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

TORN_REASON: Final = "torn last line (no trailing newline)"
_SKIP_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class CorruptLine:
    """A line that is not a valid record, or breaks the index sequence.

    Attributes:
        path: The segment file.
        lineno: The 1-based line number inside that file.
        reason: What is wrong with the line.
        raw: The line's bytes without the newline (the head only, for an overlong line).
    """

    path: str
    lineno: int
    reason: str
    raw: bytes

    def __str__(self) -> str:
        """Return ``path:lineno: reason``."""
        return f"{self.path}:{self.lineno}: {self.reason}"

    def to_error(self) -> EventLogCorruptError:
        """Return the matching ``EventLogCorruptError``."""
        return EventLogCorruptError(self.path, self.lineno, self.reason)


def _listing(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return [entry.name for entry in entries]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise EventLogError(f"cannot list {directory}: {exc}") from exc


def segment_paths(directory: Path, session_id: str) -> list[Path]:
    """Return every segment file of a session's log, oldest first.

    Args:
        directory: The log directory (a missing directory has no segments).
        session_id: The session id, named as ``naming.log_name_for`` does.

    Raises:
        EventLogError: The directory exists but cannot be listed.
    """
    name = log_name_for(session_id)
    return [directory / file_name for _, file_name in select_segments(name, _listing(directory))]


def segments_for_file(path: Path) -> list[Path]:
    """Expand a log file given by path into the segments to read.

    Args:
        path: A segment-0 file (``event_log-<name>.jsonl``), a numbered segment, or any
            other JSONL file.

    Returns:
        For a segment-0 file, that file and its numbered segments in order; otherwise just
        ``[path]``.

    Raises:
        EventLogError: The file's directory exists but cannot be listed.
    """
    parsed = parse_segment_file_name(path.name)
    if parsed is None or parsed[1] != 0:
        return [path]
    later = select_segments(parsed[0], _listing(path.parent))
    return [path, *(path.parent / file_name for segment, file_name in later if segment > 0)]


def _lines(f: IO[bytes], max_line_bytes: int | None) -> Iterator[tuple[bytes, bool, bool]]:
    """Yield ``(line without newline, terminated, overlong)``."""
    limit = -1 if max_line_bytes is None else max_line_bytes + 1
    while line := f.readline(limit):
        if line.endswith(b"\n"):
            yield line[:-1], True, False
        elif len(line) == limit:  # longer than max_line_bytes: keep the head, skip the rest
            terminated = False
            while chunk := f.readline(_SKIP_CHUNK):
                if chunk.endswith(b"\n"):
                    terminated = True
                    break
            yield line[:-1], terminated, True
        else:
            yield line, False, False


def read_records(
    paths: Iterable[Path], *, check_index: bool = True, max_line_bytes: int | None = None
) -> Iterator[LogRecord | CorruptLine]:
    """Stream the records of the given files, in the order given.

    Args:
        paths: Segment files, usually from ``segment_paths`` or ``segments_for_file``.
        check_index: Report a record whose ``index`` does not follow the previous one (a
            gap or a step back) as a ``CorruptLine`` just before the record itself, which is
            still yielded. Lines without an index are not checked.
        max_line_bytes: Report longer lines as corrupt instead of holding them in memory.

    Yields:
        A ``LogRecord`` per good line and a ``CorruptLine`` per bad line or index break.

    Raises:
        EventLogError: A file cannot be opened or read.
    """
    for _, item in read_located_records(
        paths, check_index=check_index, max_line_bytes=max_line_bytes
    ):
        yield item


def read_located_records(
    paths: Iterable[Path], *, check_index: bool = True, max_line_bytes: int | None = None
) -> Iterator[tuple[str, LogRecord | CorruptLine]]:
    """Like ``read_records``, with ``path:lineno`` of each item for diagnostics.

    Raises:
        EventLogError: A file cannot be opened or read.
    """
    expected: int | None = None
    for path in paths:
        prefix = f"{path}:"
        for lineno, item, raw in _file_items(path, max_line_bytes):
            where = prefix + str(lineno)
            if check_index and type(item) is LogRecord and item.index is not None:
                if expected is not None and item.index != expected:
                    kind = "index gap" if item.index > expected else "index went back"
                    reason = f"{kind}: expected {expected}, found {item.index}"
                    yield where, CorruptLine(str(path), lineno, reason, raw.rstrip(b"\n"))
                expected = item.index + 1
            yield where, item


def _file_items(
    path: Path, max_line_bytes: int | None
) -> Iterator[tuple[int, LogRecord | CorruptLine, bytes]]:
    """Yield ``(lineno, record or corrupt line, raw line)`` for one file.

    The raw line of a record still ends in its newline (the common case pays for no copy).
    """
    where = str(path)
    try:
        with path.open("rb") as f:
            if max_line_bytes is None:  # the fast path: every line whole, as it comes
                for lineno, line in enumerate(f, 1):
                    if line[-1] != 0x0A:  # no newline: the torn end of a file
                        yield lineno, CorruptLine(where, lineno, TORN_REASON, line), line
                        continue
                    try:
                        record = decode_record(line)
                    except ValueError as exc:
                        raw = line[:-1]
                        yield lineno, CorruptLine(where, lineno, str(exc), raw), raw
                        continue
                    yield lineno, record, line
                return
            for lineno, (raw, terminated, overlong) in enumerate(_lines(f, max_line_bytes), 1):
                if overlong:
                    reason = f"line longer than {max_line_bytes} bytes"
                    yield lineno, CorruptLine(where, lineno, reason, raw), raw
                elif not terminated:
                    yield lineno, CorruptLine(where, lineno, TORN_REASON, raw), raw
                else:
                    try:
                        record = decode_record(raw)
                    except ValueError as exc:
                        yield lineno, CorruptLine(where, lineno, str(exc), raw), raw
                        continue
                    yield lineno, record, raw
    except OSError as exc:
        raise EventLogError(f"cannot read {path}: {exc}") from exc


def iter_session_records(
    directory: Path, session_id: str, *, strict: bool, check_index: bool = True
) -> Iterator[LogRecord | CorruptLine]:
    """Stream a session's records across all its segments.

    Args:
        directory: The log directory.
        session_id: The session id.
        strict: Raise on the first corrupt line instead of yielding it.
        check_index: As for ``read_records``.

    Yields:
        Records, and (when not strict) ``CorruptLine`` values.

    Raises:
        EventLogCorruptError: ``strict`` is set and a line is corrupt or breaks the index
            sequence; it carries the file and the 1-based line number.
        EventLogError: A segment cannot be listed, opened or read.
    """
    for item in read_records(segment_paths(directory, session_id), check_index=check_index):
        if strict and isinstance(item, CorruptLine):
            raise item.to_error()
        yield item
