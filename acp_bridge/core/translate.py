"""AgentEvent -> ACP: the translator that serves live traffic and replay alike.

One :class:`Translator` per ACP session holds the streaming state that translation needs
(text held back while a ``<think>`` tag may be splitting across chunks, which tool calls
the editor has been told about and which are still open, a stop the VM asked for), so a
log replayed through a fresh translator produces exactly the notifications the live
session produced.

What it makes is what the outbox takes (:data:`~acp_bridge.acp.coalesce.Outgoing`): a plain
text chunk (an agent message or thought with nothing but its text) as a
:class:`~acp_bridge.acp.coalesce.Chunk` value, encoded only when it is written, so that it
may still merge with its neighbours; every other notification as its finished wire line.
The bulk of a stream, plain text chunks, has an entry of its own, :meth:`Translator.text_chunks`,
which is also the path :meth:`Translator.translate` takes for a message chunk, so callers
that recognise such a chunk without the full decoder get exactly what ``translate`` gives.

What goes where, by default (strict ACP, valid against the official schema):

* ``agent_message_chunk`` / ``agent_thought_chunk`` -> the same ACP updates with a text
  block; text inside ``<think>...</think>`` in a message becomes thought chunks. An empty
  chunk of either kind (valid, but it says nothing) sends nothing and counts nothing.
* ``tool_call`` / ``tool_call_update`` -> ``tool_call`` / ``tool_call_update`` with a human
  title, a valid ``kind`` and ``status``, ``locations`` from path arguments and the output
  as ``content``; an update for a call never announced becomes a ``tool_call``, a repeated
  ``tool_call`` becomes an update. Harn's extra fields (``durationMs``, ``executor``,
  ``errorCategory``, ``audit``, ...) travel in ``_meta.harn``.
* ``plan`` -> ``plan`` with every entry given a valid priority and status; the Harn plan
  artifact travels in ``_meta.harn``.
* Harn's extension variants (``skill_*``, ``tool_search_*``, ``transcript_compacted``,
  ``handoff``, ``fs_watch``, ``worker_update``) -> the extension notification
  ``_harn/session_update``, which ACP clients must ignore unless they know it.
* Internal variants (``turn_start``, ``turn_end``, ``feedback_injected``,
  ``daemon_watchdog_tripped``) are not forwarded; ``budget_exhausted`` and ``loop_stuck``
  ask for the turn to end with ``max_turn_requests``.

With ``harn_extensions=True`` (a client that opted in) the extension variants are sent as
top-level ``session/update``s and the extra fields as top-level keys, exactly as Harn's own
ACP adapter does.

What needs none of the translator's state lives beside it: tool-call titles, kinds,
locations and content in :mod:`~acp_bridge.core.toolcalls`, Harn's own shapes in
:mod:`~acp_bridge.core.harn`, the ``<think>`` splitting in :mod:`~acp_bridge.core.think`.
What is left here is one class: every event kind that reads or changes the session's
translation state is translated in it; the tables that repair the values it gets are data,
in :mod:`~acp_bridge.core.repairs`.

Rule: nothing in this module performs I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, assert_never

from acp_bridge.acp.coalesce import Outgoing, new_chunk
from acp_bridge.acp.updates import (
    SESSION_UPDATE,
    TOOL_CALL_STATUSES,
    ContentChunkUpdate,
    JsonObject,
    PlanEntry,
    PlanUpdate,
    SessionUpdate,
    StopReason,
    ToolCallProgress,
    ToolCallStart,
    ToolCallStatus,
    ToolKind,
)
from acp_bridge.core import toolcalls as tools
from acp_bridge.core.harn import (
    HARN_META_KEY,
    HARN_UPDATE_METHOD,
    camel,
    dump_part,
    encode_event_part,
    harn_executor,
    harn_extension_update,
)
from acp_bridge.core.repairs import PLAN_PRIORITY, PLAN_STATUS, TOOL_STATUS_ALIASES
from acp_bridge.core.think import THINK_OPEN, ThinkSplitter
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.vm.events import (
    AgentEvent,
    AgentMessageChunk,
    AgentThoughtChunk,
    BudgetExhausted,
    DaemonWatchdogTripped,
    FeedbackInjected,
    FsWatch,
    Handoff,
    LoopStuck,
    Plan,
    PlanArtifact,
    SkillActivated,
    SkillDeactivated,
    SkillScopeTools,
    ToolCall,
    ToolCallUpdate,
    ToolSearchQuery,
    ToolSearchResult,
    TranscriptCompacted,
    TurnEnd,
    TurnStart,
    WorkerUpdate,
)

#: The ``_meta`` key for facts the bridge adds itself (e.g. a synthesised tool result).
BRIDGE_META_KEY: Final = "acp_bridge"

_TERMINAL: Final = frozenset({"completed", "failed"})


@dataclass(frozen=True, slots=True)
class TranslatorOptions:
    """How a translator renders events.

    Attributes:
        harn_extensions: Send Harn's extension updates and fields top-level (opt-in).
        cwd: The session's working directory, to make relative paths absolute.
    """

    harn_extensions: bool = False
    cwd: str | None = None


@dataclass(slots=True)
class _ToolState:
    kind: ToolKind
    title: str
    status: ToolCallStatus


@dataclass(slots=True)
class Translator:
    """The stateful, pure translator of one session's AgentEvents into ACP notifications.

    Attributes:
        session_id: The ACP session id every notification carries.
        options: Rendering options.
        stop_requested: A stop reason an event asked for (``max_turn_requests``), if any.
        repairs: How many invalid values (kinds, statuses, priorities) were repaired.
    """

    session_id: str
    options: TranslatorOptions = field(default_factory=TranslatorOptions)
    stop_requested: StopReason | None = None
    repairs: int = 0
    _tools: dict[str, _ToolState] = field(default_factory=dict)
    _open: dict[str, None] = field(default_factory=dict)
    _think: ThinkSplitter = field(default_factory=ThinkSplitter)

    # ------------------------------------------------------------------ public API

    def translate(self, event: AgentEvent) -> list[Outgoing]:
        """Translate one event into the notifications to send, in order, as outbox entries."""
        match event:
            case AgentMessageChunk() | AgentThoughtChunk():
                return self.text_chunks(event.type, event.content)
            case ToolCall():
                return [self._update(self._tool_call(event))]
            case ToolCallUpdate():
                return [self._update(self._tool_call_update(event))]
            case Plan():
                return [self._update(self._plan(event))]
            case (
                SkillActivated()
                | SkillDeactivated()
                | SkillScopeTools()
                | ToolSearchQuery()
                | ToolSearchResult()
                | TranscriptCompacted()
                | Handoff()
                | FsWatch()
                | WorkerUpdate()
            ):
                return [self._extension(event)]
            case BudgetExhausted() | LoopStuck():
                self.stop_requested = "max_turn_requests"
                return []
            case TurnStart() | TurnEnd() | FeedbackInjected() | DaemonWatchdogTripped():
                return []
            case _:
                assert_never(event)

    def text_chunks(self, kind: str, text: str) -> list[Outgoing]:
        """The plain chunks one ``agent_message_chunk`` / ``agent_thought_chunk`` becomes.

        What :meth:`translate` sends for such an event (it comes here), for callers that
        have the event's ``type`` and ``content`` without decoding it: the lane the bulk of
        a stream takes. Text inside ``<think>...</think>`` in a message becomes thought
        chunks; a partial tag is held back until the next chunk or the end of the turn. An
        empty chunk, of either kind, becomes nothing (it changes no held text either).
        """
        if not text:
            return []
        think = self._think
        if kind != "agent_message_chunk" or (
            THINK_OPEN[0] not in text and not think.held and not think.inside
        ):
            return [new_chunk(self.session_id, kind, text)]
        return [
            new_chunk(self.session_id, self._kind(thought), part)
            for thought, part in think.feed(text)
        ]

    def user_prompt(self, blocks: list[JsonObject]) -> list[Outgoing]:
        """Replay a user's prompt: one ``user_message_chunk`` per content block."""
        return [
            self._update({"sessionUpdate": "user_message_chunk", "content": block})
            for block in blocks
        ]

    def notice(self, text: str) -> bytes:
        """A message from the bridge itself, marked as such in ``_meta``."""
        update: ContentChunkUpdate = {
            "sessionUpdate": "agent_message_chunk",
            "content": {"type": "text", "text": text},
            "_meta": {BRIDGE_META_KEY: {"notice": True}},
        }
        return self._update(update)

    def session_update(self, update: JsonObject) -> bytes:
        """A session-level update (commands, options, mode, title): sent as it is."""
        return self._update(update)

    def begin_turn(self) -> None:
        """Forget a stop requested during the previous turn."""
        self.stop_requested = None

    def end_turn(self, stop_reason: StopReason) -> list[Outgoing]:
        """Close the turn: release held text, and end every tool call left open.

        ACP clients show a tool call as running until they see a terminal status, so each
        open call gets a synthesised ``failed`` update naming why the turn ended.
        """
        session_id = self.session_id
        out: list[Outgoing] = [
            new_chunk(session_id, self._kind(thought), text)
            for thought, text in self._think.flush()
        ]
        for tool_call_id in list(self._open):
            state = self._tools[tool_call_id]
            state.status = "failed"
            reason = "was cancelled" if stop_reason == "cancelled" else "ended"
            update: ToolCallProgress = {
                "sessionUpdate": "tool_call_update",
                "toolCallId": tool_call_id,
                "status": "failed",
                "content": [tools.text_block(f"The turn {reason} before this tool call finished.")],
                "_meta": {BRIDGE_META_KEY: {"synthesized": True, "stopReason": stop_reason}},
            }
            out.append(self._update(update))
        self._open.clear()
        self.stop_requested = None
        return out

    @property
    def open_tool_calls(self) -> list[str]:
        """Ids of tool calls that have not reached a terminal status."""
        return list(self._open)

    # ------------------------------------------------------------------ helpers

    def _update(self, update: SessionUpdate) -> bytes:
        """The wire line of a ``session/update`` that is not a plain text chunk."""
        return jsonrpc.encode(
            {
                "jsonrpc": "2.0",
                "method": SESSION_UPDATE,
                "params": {"sessionId": self.session_id, "update": update},
            }
        )

    @staticmethod
    def _kind(thought: bool) -> str:
        return "agent_thought_chunk" if thought else "agent_message_chunk"

    def _harn_extras(self, fields: dict[str, Any]) -> JsonObject:
        return {camel(key): value for key, value in fields.items() if value is not None}

    def _attach_extras(self, update: JsonObject, extras: JsonObject) -> None:
        if not extras:
            return
        if self.options.harn_extensions:
            update.update(extras)
        else:
            update["_meta"] = {HARN_META_KEY: extras}

    def _status(self, raw: str | None) -> ToolCallStatus | None:
        if raw is None:
            return None
        if raw in TOOL_CALL_STATUSES:
            return raw  # type: ignore[return-value]
        self.repairs += 1
        return TOOL_STATUS_ALIASES.get(raw.lower(), "in_progress")

    def _track(self, tool_call_id: str, state: _ToolState) -> None:
        self._tools[tool_call_id] = state
        if state.status in _TERMINAL:
            self._open.pop(tool_call_id, None)
        else:
            self._open[tool_call_id] = None

    def _tool_call(self, event: ToolCall) -> ToolCallStart | ToolCallProgress:
        kind, repaired = tools.tool_kind(event.kind, event.tool_name)
        self.repairs += repaired
        title = tools.tool_title(event.tool_name, kind, event.raw_input)
        status = self._status(event.status) or "pending"
        locations = tools.tool_locations(event.raw_input, self.options.cwd)
        diff = tools.edit_diff(event.raw_input, self.options.cwd)
        extras = self._harn_extras({"parsing": event.parsing, "audit": dump_part(event.audit)})
        known = self._tools.get(event.tool_call_id)
        self._track(event.tool_call_id, _ToolState(kind, title, status))
        if known is not None:
            # A second tool_call for the same id (e.g. once its input finished streaming)
            # must not create a second entry in the editor: send what changed.
            progress: ToolCallProgress = {
                "sessionUpdate": "tool_call_update",
                "toolCallId": event.tool_call_id,
                "status": status,
            }
            if title != known.title:
                progress["title"] = title
            if kind != known.kind:
                progress["kind"] = kind
            _input_fields(progress, event.raw_input, locations, diff)  # type: ignore[arg-type]
            self._attach_extras(progress, extras)  # type: ignore[arg-type]
            return progress
        start: ToolCallStart = {
            "sessionUpdate": "tool_call",
            "toolCallId": event.tool_call_id,
            "title": title,
            "kind": kind,
            "status": status,
        }
        if event.tool_name:
            start["name"] = event.tool_name
        _input_fields(start, event.raw_input, locations, diff)  # type: ignore[arg-type]
        self._attach_extras(start, extras)  # type: ignore[arg-type]
        return start

    def _tool_call_update(self, event: ToolCallUpdate) -> ToolCallStart | ToolCallProgress:
        status = self._status(event.status)
        content = tools.output_content(event.raw_output, event.error, self.options.cwd)
        extras = self._harn_extras(
            {
                "duration_ms": event.duration_ms,
                "execution_duration_ms": event.execution_duration_ms,
                "executor": harn_executor(event),
                "error": event.error,
                "error_category": event.error_category,
                "raw_input_partial": event.raw_input_partial,
                "audit": dump_part(event.audit),
            }
        )
        known = self._tools.get(event.tool_call_id)
        if known is None:
            # ACP clients ignore updates for calls they never saw: announce it now.
            kind = tools.infer_kind(event.tool_name)
            title = tools.tool_title(event.tool_name, kind, None)
            start: ToolCallStart = {
                "sessionUpdate": "tool_call",
                "toolCallId": event.tool_call_id,
                "title": title,
                "kind": kind,
                "status": status or "pending",
            }
            if event.tool_name:
                start["name"] = event.tool_name
            if content:
                start["content"] = content
            if event.raw_output is not None:
                start["rawOutput"] = event.raw_output
            self._track(event.tool_call_id, _ToolState(kind, title, start["status"]))
            self._attach_extras(start, extras)  # type: ignore[arg-type]
            return start
        update: ToolCallProgress = {
            "sessionUpdate": "tool_call_update",
            "toolCallId": event.tool_call_id,
        }
        if status is not None:
            update["status"] = status
            known.status = status
            self._track(event.tool_call_id, known)
        if content:
            update["content"] = content
        if event.raw_output is not None:
            update["rawOutput"] = event.raw_output
        self._attach_extras(update, extras)  # type: ignore[arg-type]
        return update

    def _plan(self, event: Plan) -> PlanUpdate:
        steps = event.plan.steps if isinstance(event.plan, PlanArtifact) else event.plan
        entries: list[PlanEntry] = []
        for step in steps:
            status = PLAN_STATUS.get((step.status or "pending").lower())
            priority = PLAN_PRIORITY.get((step.priority or "medium").lower())
            if status is None or priority is None:
                self.repairs += 1
            entry: PlanEntry = {
                "content": step.content,
                "priority": priority or "medium",
                "status": status or "pending",
            }
            if step.status is not None and step.status != entry["status"]:
                entry["_meta"] = {HARN_META_KEY: {"status": step.status}}
            entries.append(entry)
        update: PlanUpdate = {"sessionUpdate": "plan", "entries": entries}
        if isinstance(event.plan, PlanArtifact):
            artifact = encode_event_part(event.plan)
            if self.options.harn_extensions:
                update["harnPlan"] = artifact  # type: ignore[typeddict-unknown-key]
            else:
                update["_meta"] = {HARN_META_KEY: {"plan": artifact}}
        return update

    def _extension(self, event: AgentEvent) -> bytes:
        update = harn_extension_update(event)
        if self.options.harn_extensions:
            return self._update(update)
        return jsonrpc.encode(
            {
                "jsonrpc": "2.0",
                "method": HARN_UPDATE_METHOD,
                "params": {"sessionId": self.session_id, "update": update},
            }
        )


def _input_fields(update: JsonObject, raw_input: Any, locations: Any, diff: Any) -> None:
    """What a tool call's input tells, on its start or its progress: input, paths, diff."""
    if raw_input is not None:
        update["rawInput"] = raw_input
    if locations:
        update["locations"] = locations
    if diff:
        update["content"] = diff
