"""Reading logs back: finding a session's segments and streaming their records in order.

Rules:

- Stream line by line; memory is bounded by the longest line (or by ``max_line_bytes``),
  never by the size of a log.
- A bad line is a value (``CorruptLine``), not an exception, so one damaged line never hides
  the rest; a caller that wants to stop at the first one raises ``CorruptLine.to_error()``.
  An unterminated last line is reported as torn, never parsed.
- Both shapes read: Harn-enveloped records and raw event lines without an envelope
  (``LogRecord.index is None``).
- One reader: segment files (:func:`read_located_records`) and any other binary stream,
  such as stdin (:func:`read_stream`), go through the same line loop.
- Segment files are opened through :func:`~acp_bridge.eventlog.files.open_log_file`: a
  link or a file that is not regular (a FIFO, ``/dev/zero``) is refused, never read.
  Only a file a person names on the command line (:func:`segments_for_file`) is followed
  to where it points; the segments beside it are not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Final

from acp_bridge.errors import EventLogCorruptError, EventLogError
from acp_bridge.eventlog.files import open_log_file
from acp_bridge.eventlog.naming import log_name_for, parse_segment_file_name, select_segments
from acp_bridge.eventlog.records import LogRecord, decode_record

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator
    from pathlib import Path

    from acp_bridge.counters import Counters

#: What the readers yield: ``path:lineno`` (for diagnostics) and the record or bad line.
Located = tuple[str, "LogRecord | CorruptLine"]

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
            other JSONL file. A link is followed to its file (a person named it), and the
            segments are looked for beside that file.

    Returns:
        For a segment-0 file, that file and its numbered segments in order; otherwise just
        ``[path]``.

    Raises:
        EventLogError: The file's directory exists but cannot be listed.
    """
    path = path.resolve()
    parsed = parse_segment_file_name(path.name)
    if parsed is None or parsed[1] != 0:
        return [path]
    later = select_segments(parsed[0], _listing(path.parent))
    return [path, *(path.parent / file_name for segment, file_name in later if segment > 0)]


def read_located_records(
    paths: Iterable[Path],
    *,
    check_index: bool = True,
    max_line_bytes: int | None = None,
    counters: Counters | None = None,
) -> Generator[Located, None, None]:
    """Stream the records of the given files, in the order given.

    Args:
        paths: Segment files, usually from ``segment_paths`` or ``segments_for_file``.
        check_index: Report a record whose ``index`` does not follow the previous one (a
            gap or a step back, across files too) as a ``CorruptLine`` just before the
            record itself, which is still yielded. Lines without an index are not checked.
        max_line_bytes: Report longer lines as corrupt instead of holding them in memory.
        counters: Where a refused file is counted (``eventlog_unsafe_files``).

    Yields:
        ``(path:lineno, item)``: a ``LogRecord`` per good line and a ``CorruptLine`` per bad
        line or index break.

    Raises:
        EventLogUnsafeFileError: A file is a link or not a regular file (counted).
        EventLogError: A file cannot be opened or read.
    """
    expected: int | None = None
    for path in paths:
        try:
            fd, _ = open_log_file(path, os.O_RDONLY, counters)
            with os.fdopen(fd, "rb") as f:
                decoding = _Decoding(str(path), expected, check_index, max_line_bytes)
                yield from decoding.decode(_lines(f, max_line_bytes))
                expected = decoding.expected
        except OSError as exc:
            raise EventLogError(f"cannot read {path}: {exc}") from exc


def read_stream(
    stream: IO[bytes],
    name: str,
    *,
    check_index: bool = True,
    max_line_bytes: int | None = None,
    skip_blank_lines: bool = False,
) -> Iterator[Located]:
    """Stream the records of an open binary stream (stdin, a pipe), as for a file.

    Args:
        stream: Read line by line, to its end; not closed.
        name: What ``CorruptLine.path`` and the ``name:lineno`` locations say.
        check_index: As for :func:`read_located_records`.
        max_line_bytes: As for :func:`read_located_records`.
        skip_blank_lines: Pass over lines of only whitespace instead of reporting them (a
            hand-made event stream may have them; a log never does).

    Yields:
        ``(name:lineno, item)``, as :func:`read_located_records` does.

    Raises:
        EventLogError: The stream cannot be read.
    """
    decoding = _Decoding(name, None, check_index, max_line_bytes, skip_blank_lines)
    try:
        yield from decoding.decode(_lines(stream, max_line_bytes))
    except OSError as exc:
        raise EventLogError(f"cannot read {name}: {exc}") from exc


class SegmentChunks:
    """A session's segments read in chunks: the reading for a worker thread, the rest not.

    What :func:`read_located_records` yields, split in two so that an event loop never
    reads a file itself: :meth:`read` (in a worker thread) opens the segments in turn and
    returns their next raw lines, and :meth:`decode` (anywhere, cheaply) turns them into
    ``(path:lineno, item)`` pairs. Decoding stays with the caller because it is most of the
    work, and a worker thread doing it would contend with the caller for the interpreter.
    Call :meth:`close` when done (or abandoning): it closes the segment being read.
    """

    def __init__(
        self,
        paths: Iterable[Path],
        *,
        check_index: bool = True,
        max_line_bytes: int | None = None,
        counters: Counters | None = None,
    ) -> None:
        """Nothing is opened yet; the arguments are :func:`read_located_records`'s."""
        self._paths = iter(paths)
        self._check_index = check_index
        self._max_line_bytes = max_line_bytes
        self._counters = counters
        self._file: IO[bytes] | None = None
        self._lines: Iterator[bytes] = iter(())
        self._decoding: _Decoding | None = None

    def read(self, count: int, max_bytes: int = 1 << 20) -> tuple[_Decoding, list[bytes]] | None:
        """The next lines of one segment, and its decoding state; None at the end.

        As many lines as fit ``count`` and ``max_bytes`` (and at least one), so a chunk's
        memory is bounded by ``max_bytes`` plus one line.

        Raises:
            EventLogUnsafeFileError: A file is a link or not a regular file (counted).
            EventLogError: A file cannot be opened or read.
        """
        while True:
            if self._decoding is not None:
                lines: list[bytes] = []
                size = 0
                try:
                    for line in self._lines:
                        lines.append(line)
                        size += len(line)
                        if len(lines) >= count or size >= max_bytes:
                            break
                except OSError as exc:
                    raise EventLogError(f"cannot read {self._decoding.name}: {exc}") from exc
                if lines:
                    return self._decoding, lines
            path = next(self._paths, None)
            self.close()
            if path is None:
                return None
            try:
                fd, _ = open_log_file(path, os.O_RDONLY, self._counters)
            except OSError as exc:
                raise EventLogError(f"cannot read {path}: {exc}") from exc
            self._file = os.fdopen(fd, "rb")
            self._lines = _lines(self._file, self._max_line_bytes)
            expected = None if self._decoding is None else self._decoding.expected
            self._decoding = _Decoding(str(path), expected, self._check_index, self._max_line_bytes)

    @staticmethod
    def decode(chunk: tuple[_Decoding, list[bytes]]) -> list[Located]:
        """The records (and bad lines) of a chunk :meth:`read` returned, in order."""
        decoding, lines = chunk
        return list(decoding.decode(lines))

    def close(self) -> None:
        """Close the segment being read, if any (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class _Decoding:
    """Where decoding one stream has got to: its line number, the index the next needs."""

    __slots__ = ("check_index", "expected", "lineno", "max_line_bytes", "name", "skip_blank")

    def __init__(
        self,
        name: str,
        expected: int | None,
        check_index: bool,
        max_line_bytes: int | None,
        skip_blank: bool = False,
    ) -> None:
        self.name = name
        self.lineno = 0
        self.expected = expected  # None: no record seen yet, or not checked
        self.check_index = check_index
        self.max_line_bytes = max_line_bytes
        self.skip_blank = skip_blank

    def decode(self, lines: Iterable[bytes]) -> Iterator[Located]:
        """Yield ``(name:lineno, item)`` for the stream's next lines (as :func:`_lines` gives)."""
        name, prefix, max_line_bytes = self.name, self.name + ":", self.max_line_bytes
        check_index, skip_blank = self.check_index, self.skip_blank
        expected, lineno = self.expected, self.lineno
        try:
            for line in lines:
                lineno += 1
                if skip_blank and not line.strip():
                    continue
                item: LogRecord | CorruptLine
                if line[-1] != 0x0A:  # no newline: a torn last line, or the head of an overlong one
                    if max_line_bytes is not None and len(line) > max_line_bytes:
                        reason = f"line longer than {max_line_bytes} bytes"
                        item = CorruptLine(name, lineno, reason, line[:max_line_bytes])
                    else:
                        item = CorruptLine(name, lineno, TORN_REASON, line)
                else:
                    try:
                        item = decode_record(line)
                    except ValueError as exc:
                        item = CorruptLine(name, lineno, str(exc), line[:-1])
                    else:
                        index = item.index
                        if check_index and index is not None:
                            if expected is not None and index != expected:
                                kind = "index gap" if index > expected else "index went back"
                                reason = f"{kind}: expected {expected}, found {index}"
                                broken = CorruptLine(name, lineno, reason, line[:-1])
                                yield prefix + str(lineno), broken
                            expected = index + 1
                yield prefix + str(lineno), item
        finally:
            self.expected, self.lineno = expected, lineno


def _lines(f: IO[bytes], max_line_bytes: int | None) -> Iterator[bytes]:
    """Yield each line as read, its newline included.

    A line without one is a torn last line or, with ``max_line_bytes``, the first
    ``max_line_bytes + 1`` bytes of a longer line, whose rest is skipped unread.
    """
    if max_line_bytes is None:  # the common case: every line whole, as the file gives it
        return iter(f)
    return _bounded_lines(f, max_line_bytes)


def _bounded_lines(f: IO[bytes], max_line_bytes: int) -> Iterator[bytes]:
    limit = max_line_bytes + 1
    while line := f.readline(limit):
        yield line
        if len(line) == limit and not line.endswith(b"\n"):
            while chunk := f.readline(_SKIP_CHUNK):  # skip the rest, up to its newline
                if chunk.endswith(b"\n"):
                    break
