"""One ACP session's protocol state: turns, cancellation, and what each VM line becomes.

:class:`SessionCore` decides, for every line a VM writes, what is persisted (always
something, and always before anything is sent), what is sent to the editor (only while the
VM has the prompt of an open turn: ACP allows updates only between a prompt and its answer)
and which counter a bad line bumps. The server around it does the I/O in that order.

The turn's state is a :class:`~acp_bridge.core.turn.TurnMachine`: every turn rule is in its
transition table, and this module only turns its transitions into log records.

Rule: nothing in this module performs I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

from acp_bridge.core.translate import Translator, TranslatorOptions
from acp_bridge.core.translate import outgoing as outgoing_entry
from acp_bridge.core.turn import Phase, TurnInput, TurnMachine, TurnState
from acp_bridge.eventlog.records import (
    prompt_record,
    session_record,
    turn_ended_record,
    undecodable_record,
    vm_turn_record,
)
from acp_bridge.jsonrpc.framing import LineTooLong
from acp_bridge.vm.events import (
    InvalidEvent,
    NotAnEvent,
    UnknownEvent,
    checked_object,
    decode_event,
    is_plain_text_chunk,
    parse_object,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.acp.updates import JsonObject, Notification, StopReason
    from acp_bridge.counters import CounterName
    from acp_bridge.eventlog.records import PendingRecord

#: The session-mode notification that carries one AgentEvent.
VM_EVENT_METHOD: Final = "session/event"


@dataclass(frozen=True, slots=True)
class Ingested:
    """What to do with one VM line.

    Attributes:
        record: The event (or bridge record) to persist, first; ``None`` for a JSON-RPC
            message that is not an event (a VM's answer or request, see ``rpc``).
        frame_depth: The envelope's ``frame_depth``, when the VM sent one.
        notifications: What to send to the editor, in order, after persisting.
        counter: The counter to bump, for a line that was not a usable event.
        problem: A one-line description of what was wrong, for stderr.
        rpc: A JSON-RPC response or request from a session-mode VM, for its supervisor.
    """

    record: JsonObject | None
    frame_depth: int | None = None
    notifications: list[Notification] = field(default_factory=list)
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


@dataclass(slots=True)
class SessionCore:
    """The pure state of one ACP session."""

    session_id: str
    cwd: str
    options: TranslatorOptions
    additional_directories: list[str] = field(default_factory=list)
    turn: TurnMachine = field(default_factory=TurnMachine)
    translator: Translator = field(init=False)

    def __post_init__(self) -> None:
        """Create the session's translator."""
        self.translator = Translator(self.session_id, self.options)

    @property
    def phase(self) -> Phase:
        """Where the session is in its turn cycle, as ``_acp_bridge/status`` reports it."""
        return self.turn.phase

    def started(self, mcp_servers: list[Any]) -> JsonObject:
        """The record that opens a session's log."""
        return session_record(self.session_id, self.cwd, mcp_servers, self.additional_directories)

    @property
    def roots(self) -> list[str]:
        """The directories the VM may touch through the editor: cwd, then the others."""
        return [self.cwd, *self.additional_directories]

    def begin_turn(self, prompt: list[JsonObject]) -> JsonObject:
        """A prompt starts a turn; return the record to persist.

        Raises:
            LocalProtocolError: A turn is already running (the server serialises turns).
        """
        self.turn.handle(TurnInput.PROMPT)
        self.translator.begin_turn()
        return prompt_record(self.session_id, prompt)

    def cancel(self) -> bool:
        """The editor cancelled; return whether a turn was running."""
        return self.turn.handle(TurnInput.CANCEL) is not TurnState.IDLE

    def vm_has_prompt(self) -> JsonObject | None:
        """The prompt is being handed to the VM: its events belong to the turn from now.

        Returns:
            The record to persist, so a replay knows where forwarding started; ``None`` when
            nothing changed (no turn is open, or the VM has the prompt already).
        """
        if self.turn.handle(TurnInput.VM_HAS_PROMPT) is self.turn.state:
            return None
        return vm_turn_record(self.session_id, started=True)

    def vm_answered(self) -> JsonObject | None:
        """The VM answered its prompt: nothing it writes from now is forwarded.

        Returns:
            The record to persist, so a replay stops forwarding at the same place; ``None``
            when nothing changed (the VM did not have the prompt).
        """
        if self.turn.handle(TurnInput.VM_ANSWERED) is self.turn.state:
            return None
        return vm_turn_record(self.session_id, started=False)

    @property
    def forwarding(self) -> bool:
        """Whether the VM's updates may be sent now."""
        return self.turn.forwarding

    def final_stop_reason(self, vm_reason: StopReason) -> StopReason:
        """The stop reason to answer with, given what the VM said."""
        if self.turn.phase is Phase.CANCELLING:
            return "cancelled"
        return self.translator.stop_requested or vm_reason

    def end_turn(self, stop_reason: StopReason | None) -> tuple[list[Notification], JsonObject]:
        """Close the turn: the last notifications to send, and the record to persist.

        ``stop_reason`` is ``None`` when the turn failed (answered with an error).

        Raises:
            LocalProtocolError: No turn is running.
        """
        self.turn.handle(TurnInput.ANSWERED)
        closing = self.translator.end_turn(stop_reason or "end_turn")
        return closing, turn_ended_record(self.session_id, stop_reason)

    def vm_lines(self, lines: Sequence[bytes | LineTooLong], start: int = 0) -> Batch:
        """Decide what the VM's stdout lines from ``start`` on become.

        A batch ends at the end of ``lines`` or just after the first JSON-RPC message that
        is not an event (see :attr:`Batch.rpc`).

        The bulk of a stream, plain text chunks, takes a fast lane that skips the full
        decoder and the notification dicts; it makes exactly what :meth:`vm_line` makes.
        """
        batch = Batch()
        records, outgoing, counts = batch.records, batch.outgoing, batch.counts
        in_turn = self.turn.forwarding
        text_chunks = self.translator.text_chunks
        loads = orjson.loads
        for position in range(start, len(lines)):
            line = lines[position]
            data: Any = None
            if type(line) is bytes:
                try:
                    data = loads(line)
                except orjson.JSONDecodeError:
                    data = None
            if is_plain_text_chunk(data):
                records.append((data, None))
                if in_turn:
                    outgoing += text_chunks(data["type"], data["content"])
                else:
                    counts["vm_events_outside_turn"] = counts.get("vm_events_outside_turn", 0) + 1
                continue
            ingested = self._ingest(line, data)
            if ingested.record is None:
                batch.rpc = ingested.rpc
                batch.end = position + 1
                return batch
            records.append((ingested.record, ingested.frame_depth))
            if ingested.counter is not None:
                counts[ingested.counter] = counts.get(ingested.counter, 0) + 1
            if ingested.problem is not None:
                batch.problems.append((position, ingested.problem))
            outgoing += map(outgoing_entry, ingested.notifications)
        batch.end = len(lines)
        return batch

    def vm_line(self, line: bytes | LineTooLong) -> Ingested:
        """Decide what one line of the VM's stdout becomes."""
        return self._ingest(line, None)

    def _ingest(self, line: bytes | LineTooLong, data: Any) -> Ingested:
        """:meth:`vm_line`, given what ``line`` parsed to, if it was parsed already."""
        if isinstance(line, LineTooLong):
            reason = f"line of {line.length} bytes is over the limit"
            return Ingested(
                undecodable_record(self.session_id, line.head, reason),
                counter="vm_overlong_lines",
                problem=reason,
            )
        parsed = parse_object(line) if data is None else checked_object(line, data)
        if isinstance(parsed, NotAnEvent):
            return self._undecodable(line, parsed.reason)
        frame_depth: int | None = None
        if "jsonrpc" in parsed and not isinstance(parsed.get("type"), str):
            if parsed.get("method") != VM_EVENT_METHOD:
                return Ingested(None, rpc=parsed)
            params = parsed.get("params")
            event = params.get("event") if isinstance(params, dict) else None
            if not isinstance(event, dict):
                return self._undecodable(line, "session/event without an event object")
            depth = params.get("frame_depth") if isinstance(params, dict) else None
            frame_depth = depth if isinstance(depth, int) and not isinstance(depth, bool) else None
            return self.vm_event(event, frame_depth)
        return self.vm_event(parsed)

    def vm_event(self, data: JsonObject, frame_depth: int | None = None) -> Ingested:
        """Decide what one event object from the VM becomes."""
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
        if not self.turn.forwarding:
            return Ingested(data, frame_depth, counter="vm_events_outside_turn")
        return Ingested(data, frame_depth, self.translator.translate(decoded))

    def _undecodable(self, line: bytes, reason: str) -> Ingested:
        return Ingested(
            undecodable_record(self.session_id, line, reason),
            counter="vm_undecodable_lines",
            problem=reason,
        )
