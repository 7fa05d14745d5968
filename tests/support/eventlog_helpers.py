"""Reading logs back in tests: records without their locations, or a session's, strictly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from acp_bridge.eventlog.reader import CorruptLine, read_located_records, segment_paths

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from acp_bridge.eventlog.records import LogRecord


def read_records(
    paths: Iterable[Path], *, check_index: bool = True, max_line_bytes: int | None = None
) -> Iterator[LogRecord | CorruptLine]:
    """``read_located_records`` without the ``path:lineno`` of each item."""
    for _, item in read_located_records(
        paths, check_index=check_index, max_line_bytes=max_line_bytes
    ):
        yield item


def iter_session_records(
    directory: Path, session_id: str, *, strict: bool, check_index: bool = True
) -> Iterator[LogRecord | CorruptLine]:
    """Stream a session's records across all its segments.

    With ``strict``, the first corrupt line (or index break) raises ``EventLogCorruptError``
    instead of being yielded.
    """
    for item in read_records(segment_paths(directory, session_id), check_index=check_index):
        if strict and isinstance(item, CorruptLine):
            raise item.to_error()
        yield item
