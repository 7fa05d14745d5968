"""Replay: turn the records of an event log back into the ACP notifications they made.

A log holds the VM's AgentEvents as they arrived plus the bridge's own records, which carry
what AgentEvents lack: the user's prompt and where each turn ended and why. Feeding those
records in order through :class:`Replayer` drives the very same :class:`Translator` the
live session used, in the same order, so a replayed session looks exactly as it did live.

Logs written by Harn itself have no bridge records: their events replay as they are, and no
user turns are invented.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.acp.updates import STOP_REASONS, JsonObject, Notification, StopReason
from acp_bridge.core.translate import Translator, TranslatorOptions, outgoing
from acp_bridge.vm.events import InvalidEvent, UnknownEvent, decode_event, is_plain_text_chunk

if TYPE_CHECKING:
    from collections.abc import Mapping

    from acp_bridge.acp.coalesce import Outgoing

#: A user's prompt, written when a turn starts: ``{"prompt": [ContentBlock, ...]}``.
PROMPT_RECORD: Final = "acp_bridge.prompt"
#: The end of a turn: ``{"stop_reason": StopReason}``.
TURN_ENDED_RECORD: Final = "acp_bridge.turn_ended"
#: The start of a session: ``{"cwd": str, "mcp_servers": [...]}``.
SESSION_RECORD: Final = "acp_bridge.session"
#: The prompt was handed to the VM: its events belong to the turn from here.
VM_TURN_STARTED_RECORD: Final = "acp_bridge.vm_turn_started"
#: The VM answered the prompt (or was given up on): its later events were not forwarded.
VM_TURN_OVER_RECORD: Final = "acp_bridge.vm_turn_over"
#: A request a VM made of the editor through the bridge, with its answer.
EDITOR_CALL_RECORD: Final = "acp_bridge.editor_call"
#: A VM line that was not an event object: ``{"raw": str, "reason": str}``.
UNDECODABLE_RECORD: Final = "acp_bridge.undecodable"
#: Prefix of every record type the bridge itself writes.
BRIDGE_RECORD_PREFIX: Final = "acp_bridge."


def session_record(
    session_id: str, cwd: str, mcp_servers: list[Any], additional_directories: list[str]
) -> JsonObject:
    """The record that opens a session's log (and each later load or resume of it)."""
    record: JsonObject = {
        "type": SESSION_RECORD,
        "session_id": session_id,
        "cwd": cwd,
        "mcp_servers": mcp_servers,
    }
    if additional_directories:
        record["additional_directories"] = additional_directories
    return record


def prompt_record(session_id: str, blocks: list[JsonObject]) -> JsonObject:
    """The record that starts a turn with the user's prompt."""
    return {"type": PROMPT_RECORD, "session_id": session_id, "prompt": blocks}


def turn_ended_record(session_id: str, stop_reason: StopReason | None) -> JsonObject:
    """The record that ends a turn (``stop_reason`` None: the turn failed)."""
    return {"type": TURN_ENDED_RECORD, "session_id": session_id, "stop_reason": stop_reason}


def vm_turn_record(session_id: str, *, started: bool) -> JsonObject:
    """The record that marks where the VM's part of a turn starts or ends."""
    kind = VM_TURN_STARTED_RECORD if started else VM_TURN_OVER_RECORD
    return {"type": kind, "session_id": session_id}


def undecodable_record(session_id: str, raw: bytes, reason: str) -> JsonObject:
    """The record that keeps a VM line which was not an event, byte for byte."""
    record: JsonObject = {"type": UNDECODABLE_RECORD, "session_id": session_id, "reason": reason}
    try:
        record["raw"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        record["raw_hex"] = raw.hex()
    return record


@dataclass(slots=True)
class ReplayStats:
    """What a replay skipped, by kind."""

    records: int = 0
    unknown_event_types: int = 0
    invalid_events: int = 0
    undecodable_lines: int = 0
    unknown_bridge_records: int = 0
    not_forwarded: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Replayer:
    """Feeds log records, in order, through one translator per session id.

    Attributes:
        options: Translator options used for every session.
        default_session_id: The session id for records that carry none.
        stats: Counts of what was skipped, with a short description of each problem.
    """

    options: TranslatorOptions = field(default_factory=TranslatorOptions)
    default_session_id: str = "unknown"
    stats: ReplayStats = field(default_factory=ReplayStats)
    _translators: dict[str, Translator] = field(default_factory=dict)
    _bound: str | None = None
    # Per session: None while the log has no turn records (Harn's logs: forward all).
    _forwarding: dict[str, bool] = field(default_factory=dict)

    def begin_log(self, session_id: str | None = None) -> None:
        """A new log file starts; ``session_id`` (if given) owns every record in it."""
        self._bound = session_id

    def translator(self, session_id: str, cwd: str | None = None) -> Translator:
        """The translator of ``session_id``, created on first use."""
        found = self._translators.get(session_id)
        if found is None:
            options = self.options
            if cwd is not None and options.cwd is None:
                options = TranslatorOptions(harn_extensions=options.harn_extensions, cwd=cwd)
            found = self._translators[session_id] = Translator(session_id, options)
        return found

    def feed(self, event: Mapping[str, Any], where: str = "") -> list[Notification]:
        """Replay one record (envelope keys already removed).

        Args:
            event: The record's event object.
            where: ``file:line`` of the record, for problem descriptions.

        Returns:
            The notifications the record makes, in order.
        """
        self.stats.records += 1
        data = dict(event)
        session_id = data.get("session_id")
        if not isinstance(session_id, str):
            session_id = self.default_session_id
        if self._bound is not None:
            # One of the bridge's logs belongs to one ACP session, whatever id the VM used.
            session_id = self._bound
        record_type = data.get("type")
        if isinstance(record_type, str) and record_type.startswith(BRIDGE_RECORD_PREFIX):
            return self._bridge_record(record_type, session_id, data, where)
        decoded = decode_event(data)
        if isinstance(decoded, UnknownEvent):
            self.stats.unknown_event_types += 1
            self.stats.problems.append(f"{where}: unknown event type {decoded.type!r}, skipped")
            return []
        if isinstance(decoded, InvalidEvent):
            self.stats.invalid_events += 1
            self.stats.problems.append(
                f"{where}: invalid {decoded.type} event ({decoded.reason}), skipped"
            )
            return []
        if not self._forwarding.get(session_id, True):
            self.stats.not_forwarded += 1  # it arrived outside a turn and was not sent live
            return []
        return self.translator(session_id).translate(decoded)

    def feed_wire(self, event: Mapping[str, Any], where: str = "") -> list[Outgoing]:
        """:meth:`feed`, as the outbox takes it (``translate.outgoing``).

        Plain text chunks, the bulk of a log, take the fast lane (no full decoder, no
        notification dicts); on the wire they are byte for byte those of :meth:`feed`.
        """
        if not is_plain_text_chunk(event):
            return [outgoing(n) for n in self.feed(event, where)]
        self.stats.records += 1
        session_id = self._bound if self._bound is not None else event["session_id"]
        if not self._forwarding.get(session_id, True):
            self.stats.not_forwarded += 1
            return []
        return list(self.translator(session_id).text_chunks(event["type"], event["content"]))

    def finish(self) -> list[Notification]:
        """End of the log: close any turn still open, as the live bridge would have."""
        out: list[Notification] = []
        for translator in self._translators.values():
            if translator.open_tool_calls:
                out.extend(translator.end_turn("end_turn"))
        return out

    def _bridge_record(
        self, record_type: str, session_id: str, data: JsonObject, where: str
    ) -> list[Notification]:
        if record_type == SESSION_RECORD:
            cwd = data.get("cwd")
            self.translator(session_id, cwd if isinstance(cwd, str) else None)
            self._bound = session_id
            return []
        translator = self.translator(session_id)
        if record_type == VM_TURN_STARTED_RECORD:
            self._forwarding[session_id] = True
            return []
        if record_type == VM_TURN_OVER_RECORD:
            self._forwarding[session_id] = False
            return []
        if record_type == PROMPT_RECORD:
            self._forwarding[session_id] = False
            blocks = data.get("prompt")
            translator.begin_turn()
            if isinstance(blocks, list):
                return translator.user_prompt([b for b in blocks if isinstance(b, dict)])
            self.stats.problems.append(f"{where}: prompt record without a prompt list")
            return []
        if record_type == TURN_ENDED_RECORD:
            self._forwarding[session_id] = False
            reason = data.get("stop_reason")
            stop: StopReason = reason if reason in STOP_REASONS else "end_turn"
            return translator.end_turn(stop)
        if record_type == UNDECODABLE_RECORD:
            self.stats.undecodable_lines += 1
            return []
        if record_type == EDITOR_CALL_RECORD:
            return []  # ACP has no notification for a past request; the log keeps it
        self.stats.unknown_bridge_records += 1
        self.stats.problems.append(f"{where}: unknown bridge record {record_type!r}, skipped")
        return []
