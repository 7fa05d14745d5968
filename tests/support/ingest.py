"""One VM line through a session, seen as a test wants it: record, counter, notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from support.wire import notes

if TYPE_CHECKING:
    from acp_bridge.core.session import SessionCore
    from acp_bridge.jsonrpc.framing import LineTooLong


@dataclass(frozen=True)
class Line:
    """What one VM line became: as :class:`acp_bridge.core.ingest.Ingested`, decoded."""

    record: Any
    frame_depth: int | None = None
    notifications: list[Any] = field(default_factory=list)
    counter: str | None = None
    problem: str | None = None
    rpc: Any = None


def vm_line(core: SessionCore, line: bytes | LineTooLong) -> Line:
    """What one line becomes, through the session's own entry point (a batch of one)."""
    batch = core.vm_lines([line])
    assert batch.end == 1
    assert len(batch.records) <= 1
    assert list(batch.counts.values()) in ([], [1])
    assert len(batch.problems) <= 1
    record, frame_depth = batch.records[0] if batch.records else (None, None)
    counter = next(iter(batch.counts), None)
    problem = batch.problems[0][1] if batch.problems else None
    return Line(record, frame_depth, notes(batch.outgoing), counter, problem, batch.rpc)
