"""Byte-level recovery of a segment file on open: its torn tail and its last good record.

Rules:

- Work on open file descriptors with positional reads, 64 KiB at a time, scanning from the
  end; memory stays bounded by the longest line, never by the size of a segment.
- Change nothing: these functions only read (and copy bytes out); the writer decides what
  to cut, counts and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from acp_bridge.eventlog.records import decode_record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CHUNK: Final = 64 * 1024


def end_of_last_line(fd: int, size: int, *, chunk: int = CHUNK) -> int:
    """Return the offset just after the last newline before ``size`` (0 if there is none)."""
    end = size
    while end > 0:
        start = max(0, end - chunk)
        at = os.pread(fd, end - start, start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def copy_range(fd: int, start: int, end: int, write_all: Callable[[bytes], None]) -> None:
    """Hand the bytes ``[start, end)`` of ``fd`` to ``write_all``, a chunk at a time."""
    for offset in range(start, end, CHUNK):
        write_all(os.pread(fd, min(CHUNK, end - offset), offset))


def lines_backwards(fd: int, size: int, *, chunk: int = CHUNK) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, line)`` for each complete line of ``[0, size)``, last line first.

    An unterminated tail is not a line and is skipped. ``chunk`` is the read size.
    """
    end = end_of_last_line(fd, size, chunk=chunk)
    if end == 0:
        return
    pos = end - 1  # the region [0, pos) holds the lines; the byte at pos is the final newline
    tail: list[bytes] = []  # pieces of the line being assembled, latest piece first
    while pos > 0:
        start = max(0, pos - chunk)
        parts = os.pread(fd, pos - start, start).split(b"\n")
        if len(parts) > 1:
            line_start = pos - len(parts[-1])
            tail.append(parts[-1])
            yield line_start, b"".join(reversed(tail))
            for part in reversed(parts[1:-1]):
                line_start -= len(part) + 1
                yield line_start, part
            tail = []
        tail.append(parts[0])
        pos = start
    yield 0, b"".join(reversed(tail))


@dataclass(slots=True)
class LastIndexScan:
    """What scanning a segment backwards for its last indexed record found.

    Attributes:
        index: The index of the last decodable record with an index, or None.
        corrupt: Undecodable lines skipped on the way (after that record).
        unindexed: Decodable lines without an index skipped on the way.
        first_problem: Where and why the first line was skipped, for the log message.
    """

    index: int | None = None
    corrupt: int = 0
    unindexed: int = 0
    first_problem: str | None = None


def scan_last_index(fd: int, size: int) -> LastIndexScan:
    """Find the last record with an index in ``[0, size)``, skipping lines that lack one."""
    scan = LastIndexScan()
    for offset, line in lines_backwards(fd, size):
        try:
            record = decode_record(line)
        except ValueError as exc:
            scan.corrupt += 1
            scan.first_problem = scan.first_problem or f"byte {offset}: {exc}"
            continue
        if record.index is not None:
            scan.index = record.index
            return scan
        scan.unindexed += 1
        scan.first_problem = scan.first_problem or f"byte {offset}: no index"
    return scan
