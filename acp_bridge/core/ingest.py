"""What the lines a VM writes become: records to persist, entries to send, counts to bump.

:func:`batch` takes a run of a VM's stdout lines and returns a :class:`Batch`: every line
becomes a record (an event as it arrived, or a bridge record keeping a line that was not
one), in order; while the session forwards (see :mod:`acp_bridge.core.turn`), the events
become outbox entries for the editor, and session-level ones (commands, mode, options,
title, usage: :meth:`Translator.session_level`) whatever the turn, as the translator
decides (never before the session's answer); every line that was not a usable event bumps one
counter. A batch stops early, just after a JSON-RPC message that is not an event (a
session-mode VM's answer or request), because its supervisor must handle that first: the
answer to the prompt ends the VM's part of the turn.

Two lanes, one result. A plain text chunk (exactly ``type``, ``session_id`` and
``content``, all strings: the bulk of any stream) is persisted as parsed and handed to
:meth:`Translator.text_chunks` without the full decoder; every other line takes
:func:`line`, the full decoder. :func:`line` is right for a text chunk too: the fuzz tests
hold the two lanes to the same output, line for line.

The bridge's own record types (``acp_bridge.*``, see :mod:`acp_bridge.eventlog.records`)
are the bridge's to write: replay trusts them (a prompt record shows as the user's words).
A VM line of such a type, bare or inside ``session/event``, is never persisted as that
type: :func:`_event`, the one place a VM's object becomes a record by the full decoder,
keeps it as an ``acp_bridge.undecodable`` record (the raw line and why), counts it in
``vm_forged_records`` and forwards nothing. The fast lane takes only the text chunk types,
so no such line can reach it.

An event nested deeper than :data:`~acp_bridge.jsonrpc.messages.MAX_NESTING_DEPTH` (valid
JSON, which ``orjson`` reads but could not write again) is kept the same way, as the
``acp_bridge.undecodable`` record of its raw line, counted in ``vm_undecodable_lines``:
as it came it could be neither persisted nor sent. The check costs two byte counts per
line unless the line has more brackets than the limit. A JSON-RPC message that is not an
event goes to the supervisor whatever its depth: the VM's peer refuses a deep one with an
answer, so nothing waits for it (:mod:`acp_bridge.jsonrpc.messages`).

Rule: nothing in this module performs I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

from acp_bridge.eventlog.records import is_bridge_record, undecodable_record
from acp_bridge.jsonrpc.framing import LineTooLong
from acp_bridge.jsonrpc.messages import MAX_NESTING_DEPTH, nested_deeper_than
from acp_bridge.vm.events import (
    InvalidEvent,
    NotAnEvent,
    UnknownEvent,
    checked_object,
    decode_event,
    is_plain_text_chunk,
    is_rpc_message,
    parse_object,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.core.translate import Translator
    from acp_bridge.counters import CounterName
    from acp_bridge.eventlog.records import PendingRecord

#: The session-mode notification that carries one AgentEvent.
VM_EVENT_METHOD: Final = "session/event"


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one VM line becomes.

    Attributes:
        record: The event (or bridge record) to persist, first; ``None`` for a JSON-RPC
            message that is not an event (a VM's answer or request, see ``rpc``).
        frame_depth: The envelope's ``frame_depth``, when the VM sent one.
        outgoing: What to send to the editor, in order, after persisting.
        counter: The counter to bump, for a line that was not a usable event.
        problem: A one-line description of what was wrong, for stderr.
        rpc: A JSON-RPC response or request from a session-mode VM, for its supervisor.
    """

    record: JsonObject | None
    frame_depth: int | None = None
    outgoing: list[Outgoing] = field(default_factory=list)
    counter: CounterName | None = None
    problem: str | None = None
    rpc: JsonObject | None = None


@dataclass(slots=True)
class Batch:
    """What a run of VM lines becomes: persist ``records`` first, then send ``outgoing``.

    Attributes:
        records: What to persist, in order.
        outgoing: For the editor, in order: wire lines, and plain text chunks not encoded
            yet (they may merge with their neighbours in the outbox).
        counts: Counters to bump, by name.
        problems: ``(position in the lines, description)`` of each bad line, for stderr.
        end: The lines up to here (exclusive) are done.
        rpc: The JSON-RPC message that ended the batch early (the line just before
            ``end``): the supervisor handles it before the next batch is made, since it may
            end the turn.
    """

    records: list[PendingRecord] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    counts: dict[CounterName, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    end: int = 0
    rpc: JsonObject | None = None


def batch(
    translator: Translator,
    forwarding: bool,
    lines: Sequence[bytes | LineTooLong],
    start: int = 0,
) -> Batch:
    """Decide what the VM's stdout lines from ``start`` on become.

    Args:
        translator: The session's translator; its ``session_id`` names the session.
        forwarding: Whether the session sends what the VM writes now.
        lines: Lines as the framing delivered them.
        start: The first line to take.

    Returns:
        The batch, which ends at the end of ``lines`` or just after the first JSON-RPC
        message that is not an event (see :attr:`Batch.rpc`).
    """
    out = Batch()
    records, outgoing, counts = out.records, out.outgoing, out.counts
    text_chunks = translator.text_chunks
    loads = orjson.loads
    for position in range(start, len(lines)):
        raw = lines[position]
        data: Any = None
        if type(raw) is bytes:
            try:
                data = loads(raw)
            except orjson.JSONDecodeError:
                data = None
        if is_plain_text_chunk(data):
            records.append((data, None))
            if forwarding:
                outgoing += text_chunks(data["type"], data["content"])
            else:
                counts["vm_events_outside_turn"] = counts.get("vm_events_outside_turn", 0) + 1
            continue
        ingested = line(translator, forwarding, raw, data)
        if ingested.record is None:
            out.rpc = ingested.rpc
            out.end = position + 1
            return out
        records.append((ingested.record, ingested.frame_depth))
        if ingested.counter is not None:
            counts[ingested.counter] = counts.get(ingested.counter, 0) + 1
        if ingested.problem is not None:
            out.problems.append((position, ingested.problem))
        outgoing += ingested.outgoing
    out.end = len(lines)
    return out


def line(
    translator: Translator, forwarding: bool, raw: bytes | LineTooLong, parsed: Any = None
) -> Ingested:
    """Decide what one line of the VM's stdout becomes, by the full decoder.

    Args:
        translator: The session's translator; its ``session_id`` names the session.
        forwarding: Whether the session sends what the VM writes now.
        raw: The line.
        parsed: What ``raw`` parsed to as JSON, if it was parsed already (``None``: parse
            it here).
    """
    session_id = translator.session_id
    if isinstance(raw, LineTooLong):
        reason = f"line of {raw.length} bytes is over the limit"
        return Ingested(
            undecodable_record(session_id, raw.head, reason),
            counter="vm_overlong_lines",
            problem=reason,
        )
    value = parse_object(raw) if parsed is None else checked_object(raw, parsed)
    if isinstance(value, NotAnEvent):
        return _undecodable(session_id, raw, value.reason)
    if not is_rpc_message(value):
        return _event(translator, forwarding, raw, value)
    if value.get("method") != VM_EVENT_METHOD:
        return Ingested(None, rpc=value)
    params = value.get("params")
    wrapped = params.get("event") if isinstance(params, dict) else None
    if not isinstance(wrapped, dict):
        return _undecodable(session_id, raw, "session/event without an event object")
    depth = params.get("frame_depth") if isinstance(params, dict) else None
    frame_depth = depth if isinstance(depth, int) and not isinstance(depth, bool) else None
    return _event(translator, forwarding, raw, wrapped, frame_depth)


def _event(
    translator: Translator,
    forwarding: bool,
    raw: bytes,
    data: JsonObject,
    frame_depth: int | None = None,
) -> Ingested:
    """Decide what one event object from the VM becomes (persisted whatever it is).

    Args:
        translator: The session's translator.
        forwarding: Whether the session sends what the VM writes now.
        raw: The line the object came from (kept as it is when the object is refused).
        data: The event object: the line itself, or the event of a ``session/event``.
        frame_depth: The envelope's ``frame_depth``, when the VM sent one.
    """
    if _too_deep(raw, data):
        return _undecodable(
            translator.session_id, raw, f"nested deeper than {MAX_NESTING_DEPTH} levels"
        )
    if is_bridge_record(data):
        reason = f"event type {data['type'][:80]!r} is the bridge's own record type (not forwarded)"
        return Ingested(
            undecodable_record(translator.session_id, raw, reason),
            frame_depth,
            counter="vm_forged_records",
            problem=reason,
        )
    decoded = decode_event(data)
    if isinstance(decoded, UnknownEvent):
        return Ingested(
            data,
            frame_depth,
            counter="vm_unknown_event_types",
            problem=f"unknown event type {decoded.type!r} (kept in the log, not forwarded)",
        )
    if isinstance(decoded, InvalidEvent):
        return Ingested(
            data,
            frame_depth,
            counter="vm_invalid_events",
            problem=f"invalid {decoded.type} event: {decoded.reason}",
        )
    if not forwarding and not translator.session_level(decoded):
        return Ingested(data, frame_depth, counter="vm_events_outside_turn")
    outgoing = translator.translate(decoded)
    problem = translator.problem
    if problem is not None:  # a shape only the session can check (an option list)
        translator.problem = None
        return Ingested(
            data,
            frame_depth,
            outgoing,
            counter="vm_invalid_events",
            problem=f"invalid {decoded.type} event: {problem} (kept in the log, not taken)",
        )
    return Ingested(data, frame_depth, outgoing)


def _too_deep(raw: bytes, value: JsonObject) -> bool:
    """Whether ``value`` (parsed from ``raw``) nests deeper than the bridge may write.

    A line with no more opening brackets than the limit cannot nest deeper (brackets inside
    strings only make the count larger), so most lines are settled by two byte counts.
    """
    if raw.count(b"{") + raw.count(b"[") <= MAX_NESTING_DEPTH:
        return False
    return nested_deeper_than(value, MAX_NESTING_DEPTH)


def _undecodable(session_id: str, raw: bytes, reason: str) -> Ingested:
    return Ingested(
        undecodable_record(session_id, raw, reason),
        counter="vm_undecodable_lines",
        problem=reason,
    )
