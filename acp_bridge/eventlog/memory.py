"""``MemoryEventLog``: an ``EventLog`` that keeps its encoded lines in a list.

The in-memory backend, and the public test double for code that appends to a log (as
httpcore's ``MockStream`` is for its streams): the same contract as the JSONL backend
(``tests/unit/eventlog/test_eventlog_contract.py`` runs over both), without files, locks,
rotation or ``fsync``.

Rules:

- The lines are exactly what the JSONL backend would write (:func:`encode_record`).
- Failures are what the JSONL backend does with them: counted, logged once per cause, the
  index not consumed, never raised (:class:`~acp_bridge.eventlog.appending.Failures`).
- No ``fsync`` handshake: there is nothing to make durable, so it offers no
  ``BackgroundSync``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acp_bridge.counters import Counters
from acp_bridge.eventlog.appending import LOGGER, Failures, closed_error, wall_clock_ms
from acp_bridge.eventlog.records import LogRecord, decode_record, encode_record

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

    from acp_bridge.eventlog.records import PendingRecord


class MemoryEventLog:
    """An ``EventLog`` keeping encoded lines in memory (tests and the in-memory backend).

    Attributes:
        counters: Where failures are counted.
        lines: Every stored line, newline included, in index order.
    """

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
        self._failures = Failures(self.counters, logger or LOGGER, "<memory>")
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
        """Store one event: :meth:`append_many` of one; its index, or None on failure."""
        index = len(self.lines)
        stored = self.append_many(((event, frame_depth),), emitted_at_ms=emitted_at_ms)
        return index if stored else None

    def append_many(
        self, records: Sequence[PendingRecord], *, emitted_at_ms: int | None = None
    ) -> int:
        """Store each record in order, all with one time stamp; return how many were.

        Args:
            records: ``(event, frame_depth)`` pairs.
            emitted_at_ms: The time stamp of every record; one clock reading by default.
        """
        if self._closed:
            if records:
                self._failures.failed("append", closed_error(), len(records))
            return 0
        at = self._clock_ms() if emitted_at_ms is None else emitted_at_ms
        lines = self.lines
        stored = 0
        for event, frame_depth in records:
            try:
                line = encode_record(len(lines), at, frame_depth, event)
            except TypeError as exc:
                self._failures.failed("encode", exc)
                continue
            lines.append(line)
            stored += 1
        if stored:
            self._failures.succeeded("append")
        return stored

    def records(self) -> list[LogRecord]:
        """Decode every stored line."""
        return [decode_record(line) for line in self.lines]

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
