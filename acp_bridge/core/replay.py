"""Replay: turn the records of an event log back into the ACP notifications they made.

A log holds the VM's AgentEvents as they arrived plus the bridge's own records, which carry
what AgentEvents lack: the user's prompt and where each turn ended and why. Feeding those
records in order through :class:`Replayer` drives the very same :class:`Translator` the
live session used, in the same order, so a replayed session looks exactly as it did live;
what comes out is what the outbox takes (:data:`~acp_bridge.acp.coalesce.Outgoing`), as it
was live.

Whether an event is forwarded is decided as it was live: each session's turn records
(``prompt``, ``vm_turn_started``, ``vm_turn_over``, ``turn_ended``) drive a
:class:`~acp_bridge.core.turn.TurnMachine` of its own, the same table the live session ran.
Logs written by Harn itself have no bridge records: their events replay as they are, and no
user turns are invented.

Session-level events (commands, mode, options, title, usage) are taken whatever the turn,
as live, but a replay sends none of them: it keeps the latest of each
(:class:`~acp_bridge.core.offers.SessionOffers`), which the session sends right after its
load answer, in place, rather than every old value ahead of it.

One thing cannot look as it did live: a card that showed an editor terminal, since the
terminal is gone. The translators a replay makes are ``replaying``: such a card shows what
the editor answered about the terminal (the log's ``editor_call`` records of
``terminal/output`` and ``terminal/wait_for_exit``), and says so when it never was asked.
A session that goes live after a load gets its translator through :meth:`Replayer.go_live`.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.acp.updates import STOP_REASONS, JsonObject, StopReason
from acp_bridge.core.translate import Translator, TranslatorOptions
from acp_bridge.core.turn import TurnInput, TurnMachine
from acp_bridge.eventlog.records import (
    CHOICES_RECORD,
    EDITOR_CALL_RECORD,
    PROMPT_RECORD,
    SESSION_RECORD,
    TURN_ENDED_RECORD,
    UNDECODABLE_RECORD,
    VM_TURN_OVER_RECORD,
    VM_TURN_STARTED_RECORD,
    is_bridge_record,
    prompt_title,
)
from acp_bridge.vm.events import InvalidEvent, UnknownEvent, decode_event, is_plain_text_chunk

if TYPE_CHECKING:
    from collections.abc import Mapping

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.core.choices import Choices


#: The records that say how a turn went, and the input each one was written on.
TURN_RECORDS: Final = {
    PROMPT_RECORD: TurnInput.PROMPT,
    VM_TURN_STARTED_RECORD: TurnInput.VM_HAS_PROMPT,
    VM_TURN_OVER_RECORD: TurnInput.VM_ANSWERED,
    TURN_ENDED_RECORD: TurnInput.ANSWERED,
}


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
        choices: Per session, the ``values`` of its last choices record, as logged (a
            restored session checks them against its manifest).
        titles: Per session, its title: its first prompt's (``session/list``'s).
        base_choices: The declared modes and options every session starts from: the
            logged choices and the VM's mode and option events apply to them, in order.
    """

    options: TranslatorOptions = field(default_factory=TranslatorOptions)
    default_session_id: str = "unknown"
    stats: ReplayStats = field(default_factory=ReplayStats)
    choices: dict[str, Any] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    base_choices: Choices | None = None
    _translators: dict[str, Translator] = field(default_factory=dict)
    _bound: str | None = None
    # Per session, from its first turn record; until then (Harn's logs) all is forwarded.
    _turns: dict[str, TurnMachine] = field(default_factory=dict)

    def begin_log(self, session_id: str | None = None) -> None:
        """A new log file starts; ``session_id`` (if given) owns every record in it."""
        self._bound = session_id

    def translator(self, session_id: str, cwd: str | None = None) -> Translator:
        """The translator of ``session_id``, created on first use."""
        found = self._translators.get(session_id)
        if found is None:
            options = self.options
            if cwd is not None and options.cwd is None:
                options = replace(options, cwd=cwd)
            found = self._translators[session_id] = Translator(session_id, options, replaying=True)
            found.offers.choices = self.base_choices
        return found

    def go_live(self, session_id: str) -> Translator:
        """The translator of ``session_id``, handed to the live session the log goes on in."""
        translator = self.translator(session_id)
        translator.go_live()
        return translator

    def feed(self, event: Mapping[str, Any], where: str = "") -> list[Outgoing]:
        """Replay one record (envelope keys already removed).

        A plain text chunk, the bulk of a log, skips the full decoder, as it does live
        (:mod:`acp_bridge.core.ingest`), and comes out exactly as it would through it.

        Args:
            event: The record's event object.
            where: ``file:line`` of the record, for problem descriptions.

        Returns:
            What the record makes for the editor, in order, as the outbox takes it.
        """
        if not is_plain_text_chunk(event):
            return self._feed_decoded(event, where)
        self.stats.records += 1
        session_id = self._bound if self._bound is not None else event["session_id"]
        if not self._forwards(session_id):
            return []
        return self.translator(session_id).text_chunks(event["type"], event["content"])

    def finish(self) -> list[Outgoing]:
        """End of the log: close any turn still open, as the live bridge would have."""
        out: list[Outgoing] = []
        for translator in self._translators.values():
            out += self._close_open(translator)
        return out

    @staticmethod
    def _close_open(translator: Translator) -> list[Outgoing]:
        """Close the tool calls of a turn the log has no end for (the bridge stopped)."""
        return translator.end_turn("end_turn") if translator.open_tool_calls else []

    def _feed_decoded(self, event: Mapping[str, Any], where: str) -> list[Outgoing]:
        """:meth:`feed` by the full decoder, which is right for every record."""
        self.stats.records += 1
        data = dict(event)
        session_id = data.get("session_id")
        if not isinstance(session_id, str):
            session_id = self.default_session_id
        if self._bound is not None:
            # One of the bridge's logs belongs to one ACP session, whatever id the VM used.
            session_id = self._bound
        if is_bridge_record(data):
            return self._bridge_record(data["type"], session_id, data, where)
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
        translator = self.translator(session_id)
        if not translator.session_level(decoded) and not self._forwards(session_id):
            return []
        out = translator.translate(decoded)
        if translator.problem is not None:
            self.stats.invalid_events += 1
            self.stats.problems.append(
                f"{where}: invalid {decoded.type} event ({translator.problem})"
            )
            translator.problem = None
        return out

    def _forwards(self, session_id: str) -> bool:
        """Whether the session forwarded its VM's events at this point of the log, live."""
        turn = self._turns.get(session_id)
        if turn is None or turn.forwarding:
            return True
        self.stats.not_forwarded += 1  # it arrived outside a turn and was not sent live
        return False

    def _bridge_record(
        self, record_type: str, session_id: str, data: JsonObject, where: str
    ) -> list[Outgoing]:
        if record_type == SESSION_RECORD:
            cwd = data.get("cwd")
            translator = self.translator(session_id, cwd if isinstance(cwd, str) else None)
            self._bound = session_id
            # A later load of a log that ended mid-turn: the load closed the calls left
            # open (:meth:`finish`) before the session went live again, here.
            return self._close_open(translator)
        translator = self.translator(session_id)
        turn_input = TURN_RECORDS.get(record_type)
        if turn_input is not None:
            turn = self._turns.get(session_id)
            if turn is None:
                turn = self._turns[session_id] = TurnMachine()
            turn.follow(turn_input)
        if record_type == PROMPT_RECORD:
            return self._prompt(translator, session_id, data.get("prompt"), where)
        if record_type == TURN_ENDED_RECORD:
            reason = data.get("stop_reason")
            stop: StopReason = reason if reason in STOP_REASONS else "end_turn"
            return translator.end_turn(stop)
        if turn_input is not None:  # vm_turn_started, vm_turn_over: nothing to send
            return []
        if record_type == UNDECODABLE_RECORD:
            self.stats.undecodable_lines += 1
            return []
        if record_type == EDITOR_CALL_RECORD:
            return self._editor_call(translator, session_id, data, where)
        if record_type == CHOICES_RECORD:  # the answers and the VM get them, not the thread
            self.choices[session_id] = data.get("values")
            translator.offers.restore(data.get("values"))
            return []
        self.stats.unknown_bridge_records += 1
        self.stats.problems.append(f"{where}: unknown bridge record {record_type!r}, skipped")
        return []

    def _prompt(
        self, translator: Translator, session_id: str, blocks: Any, where: str
    ) -> list[Outgoing]:
        """A turn starts with the user's prompt (the first one with text names the session)."""
        out = self._close_open(translator)  # a turn whose end the log lost
        if session_id not in self.titles and (title := prompt_title(blocks)) is not None:
            self.titles[session_id] = title
        if isinstance(blocks, list):
            prompt = [b for b in blocks if isinstance(b, dict)]
            translator.begin_turn(prompt)
            return out + translator.user_prompt(prompt)
        translator.begin_turn()
        self.stats.problems.append(f"{where}: prompt record without a prompt list")
        return out

    def _editor_call(
        self, translator: Translator, session_id: str, data: JsonObject, where: str
    ) -> list[Outgoing]:
        """A request a VM made of the editor: shown only where it told of a terminal.

        ACP has no notification for a past request; what the editor said of its terminals
        is shown on the cards that showed them, since those are gone.
        """
        if "result" not in data:  # the editor refused, or was never heard from
            return []
        updates = translator.terminal_answer(
            str(data.get("method")), data.get("params"), data["result"]
        )
        if updates is None:
            self.stats.problems.append(
                f"{where}: the editor's {data.get('method')} answer is not the shape ACP "
                "gives it; its terminal is shown without it"
            )
            return []
        return updates if updates and self._forwards(session_id) else []
