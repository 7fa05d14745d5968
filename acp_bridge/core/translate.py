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
  title (made once, when the call is first shown, and never sent again), a valid ``kind``
  and ``status``, ``locations`` from path arguments and the output as ``content``; an
  update for a call never announced becomes a ``tool_call``, a repeated ``tool_call`` of an
  open call becomes an update. Harn's extra fields (``durationMs``,
  ``executor``, ``errorCategory``, ``audit``, ...) travel in ``_meta.harn``. A call lives in
  one turn, and its ``toolCallId`` is unique in the session: the VM's id while it is new,
  else the VM's id joined with the call's number (:meth:`Translator._wire_id`), so a VM
  started again, numbering its calls from the start, never names an earlier card.
* ``plan`` (any JSON), ``plan_document_updated`` (its current revision's plan) and
  ``progress_reported`` with entries -> ``plan`` with every entry given a valid priority
  and status; the plan, document or progress travels in ``_meta.harn``.
* ``user_message`` -> ``user_message_chunk`` per block, except the first repeat of the
  turn's prompt in that turn (the bridge records the prompt itself).
* Every other type goes where its catalogue entry (:mod:`acp_bridge.vm.catalog`) says:
  Harn's extension updates -> the extension notification ``_harn/session_update`` with
  Harn's update (``sessionUpdate`` and ``_meta.harn``); loop milestones -> Harn's
  extension notification ``_harn/agentEvent`` (ACP clients ignore ``_`` methods they do
  not know); internal ones -> nothing. An entry's stop rule sets the stop reason
  (``budget_exhausted``, ``loop_stuck``, ``budget_circuit_breaker``, a terminal
  ``turn_phase_changed``).

With ``harn_extensions=True`` (a client that opted in) the output is what Harn's own
adapter (0.8.17 and later) sends: the extension updates as ``session/update``s, an agent
message's text block with ``_meta.harn.visible_text``/``visible_delta``, and, while a log
is replayed, every update marked ``_meta.harn.replayed`` and every ``_harn/agentEvent``
``replayed`` (:mod:`~acp_bridge.core.harn`). Its text chunks are finished lines, so they
do not merge; the default lane reads one flag more per chunk, nothing else.

What needs none of the translator's state lives beside it: tool-call titles, kinds,
locations and content in :mod:`~acp_bridge.core.toolcalls`, Harn's own shapes in
:mod:`~acp_bridge.core.harn`, the ``<think>`` splitting in :mod:`~acp_bridge.core.think`.
What is left here is one class: every event kind that reads or changes the session's
translation state is translated in it; the tables that repair the values it gets are data,
in :mod:`~acp_bridge.core.repairs`.

Rule: nothing in this module performs I/O or reads the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, assert_never

from acp_bridge.acp.coalesce import Outgoing, new_chunk
from acp_bridge.acp.updates import (
    SESSION_UPDATE,
    STOP_REASONS,
    TOOL_CALL_STATUSES,
    ContentChunkUpdate,
    JsonObject,
    PlanEntry,
    PlanEntryPriority,
    PlanUpdate,
    SessionUpdate,
    StopReason,
    ToolCallContent,
    ToolCallProgress,
    ToolCallStart,
    ToolCallStatus,
    ToolKind,
)
from acp_bridge.core import toolcalls as tools
from acp_bridge.core.choices import shown
from acp_bridge.core.harn import (
    HARN_AGENT_EVENT_METHOD,
    HARN_META_KEY,
    HARN_UPDATE_METHOD,
    REPLAYED_KEY,
    agent_event_params,
    camel,
    harn_executor,
    harn_extension_update,
    visible_text_meta,
)
from acp_bridge.core.offers import SessionOffers
from acp_bridge.core.repairs import (
    PLAN_PRIORITY,
    PLAN_PRIORITY_RANK,
    PLAN_STATUS,
    PLAN_STEP_TEXT_KEYS,
    TOOL_STATUS_ALIASES,
)
from acp_bridge.core.think import THINK_OPEN, ThinkSplitter
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.vm.catalog import Acp, EventSpec, spec_of
from acp_bridge.vm.events import (
    AgentEvent,
    AgentMessageChunk,
    AgentThoughtChunk,
    AvailableCommands,
    ConfigOptions,
    GenericEvent,
    ModeChanged,
    Notice,
    Plan,
    SessionInfo,
    TerminalOutput,
    ToolCall,
    ToolCallUpdate,
    Usage,
    UserMessage,
    encode_event,
)
from acp_bridge.vm.manifest import (
    DEFAULT_MANIFEST,
    ManifestError,
    config_options,
    parse_config_options,
)

#: The ``_meta`` key for facts the bridge adds itself (e.g. a synthesised tool result).
BRIDGE_META_KEY: Final = "acp_bridge"

_TERMINAL: Final = frozenset({"completed", "failed"})

#: Joins a VM's tool-call id and the session's call number into a wire id, for a call
#: whose VM id cannot go on the wire as it is (see :meth:`Translator._wire_id`). A VM id
#: that holds it never goes on the wire as it is, so no VM id can look like a joined one.
WIRE_ID_SEPARATOR: Final = "#"
#: How many of the VM's own ids a session remembers having sent (as 16-byte digests),
#: to send the VM's id as it is while it is new; past this, every new call's wire id is
#: joined with its number (still unique, and the memory stays bounded).
MAX_REMEMBERED_IDS: Final = 100_000
#: How many calls of one turn are tracked; past this the oldest finished one is forgotten
#: (an update naming it later is shown as a new call). Open calls are always tracked.
MAX_TURN_CALLS: Final = 10_000
#: How many editor terminals a replay keeps the captured output of (the latest ones).
MAX_CAPTURED_TERMINALS: Final = 64
#: How many notices are held while the session's answer is not out yet.
MAX_HELD_NOTICES: Final = 64
#: How many of the VM's own terminals one tool call shows.
MAX_VM_TERMINALS: Final = 16
#: The editor's answers a replay reads about a terminal (the log's ``editor_call`` records).
TERMINAL_CREATE: Final = "terminal/create"
TERMINAL_OUTPUT: Final = "terminal/output"
TERMINAL_EXIT: Final = "terminal/wait_for_exit"


@dataclass(frozen=True, slots=True)
class TranslatorOptions:
    """How a translator renders events.

    Attributes:
        harn_extensions: Send what Harn's own adapter sends (opt-in): extension updates
            as ``session/update``, visible text, replay markers.
        cwd: The session's working directory, to make relative paths absolute.
        notices: The client takes ACP's ``notice`` updates (``session.notices``).
        boolean_options: The client takes boolean config options
            (``session.configOptions.boolean``); without it they are left out.
        terminal_meta: The client renders a VM's own terminals from ``_meta.terminal_*``
            (``clientCapabilities._meta.terminal_output``).
    """

    harn_extensions: bool = False
    cwd: str | None = None
    notices: bool = False
    terminal_meta: bool = False
    boolean_options: bool = False


@dataclass(slots=True)
class _ToolState:
    wire_id: str
    kind: ToolKind
    title: str
    status: ToolCallStatus
    # The content last sent when it showed an editor terminal (a replay updates the card
    # when it learns what the terminal printed).
    terminal_content: list[ToolCallContent] | None = None
    # The VM's own terminals the card shows (``_meta.terminal_*``), or the text it shows of
    # them (a client without that convention).
    vm_terminals: set[str] | None = None
    vm_terminal_text: str | None = None


@dataclass(slots=True)
class _Captured:
    """What the editor said of one of its terminals, as a replay reads it from the log."""

    output: str | None = None
    truncated: bool = False
    exit_status: Any = None


@dataclass(slots=True)
class Translator:
    """The stateful, pure translator of one session's AgentEvents into ACP notifications.

    Attributes:
        session_id: The ACP session id every notification carries.
        options: Rendering options.
        stop_requested: A stop reason an event asked for (``max_turn_requests``), if any.
        repairs: How many invalid values (kinds, statuses, priorities) were repaired.
        replaying: The events come from a log, not a VM: an editor terminal a card showed
            is gone, so the card shows what the terminal printed instead
            (:meth:`terminal_answer`); :meth:`go_live` ends it.
    """

    session_id: str
    options: TranslatorOptions = field(default_factory=TranslatorOptions)
    stop_requested: StopReason | None = None
    repairs: int = 0
    replaying: bool = False
    # The calls of the current turn by the VM's id; those still open, and those finished
    # (oldest first), by the same ids.
    _tools: dict[str, _ToolState] = field(default_factory=dict)
    _open: dict[str, None] = field(default_factory=dict)
    _finished: dict[str, None] = field(default_factory=dict)
    # How many calls the session has shown; digests of the VM ids sent as they are.
    _calls: int = 0
    _sent_ids: set[bytes] = field(default_factory=set)
    # Replay only: what the editor said of its terminals, by terminal id (bounded).
    _terminals: dict[str, _Captured] = field(default_factory=dict)
    _think: ThinkSplitter = field(default_factory=ThinkSplitter)
    _prompt_text: str | None = None
    #: The latest session-level facts (commands, choices, title, usage).
    offers: SessionOffers = field(default_factory=SessionOffers)
    #: The session's answer is out: session-level updates may be sent (:meth:`open_session`).
    session_open: bool = False
    #: Why the last event could not be taken, for the caller to count and report.
    problem: str | None = None
    # Notices made before the session's answer was out, sent right after it (bounded).
    _held: list[bytes] = field(default_factory=list)
    # Harn mode (options.harn_extensions), read once: the text lane checks it per chunk.
    _harn: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._harn = self.options.harn_extensions

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
                return [self._update(self._plan(event.plan, {"plan": event.plan}))]
            case UserMessage():
                return self._user_message(event)
            case AvailableCommands() | ModeChanged() | ConfigOptions() | SessionInfo() | Usage():
                return self._session_level(self._offer(event))
            case Notice():
                return self._notice(event)
            case TerminalOutput():
                return self._terminal_output(event)
            case GenericEvent():
                return self._by_catalogue(event)
            case _:
                assert_never(event)

    def session_level(self, event: AgentEvent) -> bool:
        """Whether ``event`` tells of the session rather than its thread.

        Such an event is taken whenever it comes (:meth:`translate` keeps its facts) and
        sent once the session's answer is out, inside a turn or not; a notice is one only
        for a client that takes ACP's notices (else it is a message of the turn).
        """
        if isinstance(event, Notice):
            return self.options.notices
        return isinstance(
            event, AvailableCommands | ModeChanged | ConfigOptions | SessionInfo | Usage
        )

    def open_session(self) -> list[bytes]:
        """The session's answer is being written: from now on session-level updates go out.

        Returns:
            The notices the VM sent before (the rest of what it said is in
            :meth:`SessionOffers.state`, which follows the answer).
        """
        self.session_open = True
        held, self._held = self._held, []
        return held

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
        if self._harn:
            return self._harn_chunks(kind, text)
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

    def begin_turn(self, prompt: list[JsonObject] | None = None) -> None:
        """A turn starts: forget a stop requested before and the tool calls, keep the prompt.

        A tool call lives in one turn (the turn's end closes every call left open), so an
        id the VM names in a later turn is a new call, whatever the VM meant.

        Args:
            prompt: The user's prompt, which the bridge records itself: a ``user_message``
                of the VM that repeats it is not sent again (see :meth:`_user_message`).
        """
        self.stop_requested = None
        self._forget_calls()
        self._prompt_text = None if prompt is None else _text_of(prompt)

    def end_turn(self, stop_reason: StopReason) -> list[Outgoing]:
        """Close the turn: release held text, and end every tool call left open.

        ACP clients show a tool call as running until they see a terminal status, so each
        open call gets a synthesised ``failed`` update naming why the turn ended.
        """
        session_id = self.session_id
        out: list[Outgoing] = [
            self._harn_chunk(self._kind(thought), text)
            if self._harn
            else new_chunk(session_id, self._kind(thought), text)
            for thought, text in self._think.flush()
        ]
        for tool_call_id in self._open:
            state = self._tools[tool_call_id]
            reason = "was cancelled" if stop_reason == "cancelled" else "ended"
            update: ToolCallProgress = {
                "sessionUpdate": "tool_call_update",
                "toolCallId": state.wire_id,
                "status": "failed",
                "content": [tools.text_block(f"The turn {reason} before this tool call finished.")],
                "_meta": {BRIDGE_META_KEY: {"synthesized": True, "stopReason": stop_reason}},
            }
            out.append(self._update(update))
        self._forget_calls()
        self.stop_requested = None
        return out

    @property
    def open_tool_calls(self) -> list[str]:
        """Wire ids of the turn's tool calls that have not reached a terminal status."""
        return [self._tools[vm_id].wire_id for vm_id in self._open]

    @property
    def remembered_ids(self) -> int:
        """How many VM ids the session remembers sending as they were (a bounded number)."""
        return len(self._sent_ids)

    @property
    def tracked_calls(self) -> int:
        """How many tool calls of the current turn are tracked."""
        return len(self._tools)

    def go_live(self) -> None:
        """The replay is over: the events come from a VM again, and terminals are live."""
        self.replaying = False
        self._terminals.clear()

    def terminal_answer(self, method: str, params: Any, result: Any) -> list[Outgoing] | None:
        """Replay: the editor's answer about one of its terminals, from the log.

        ``terminal/create`` starts a terminal afresh (an editor may hand out an id again,
        after a reload say), ``terminal/output`` tells what it printed,
        ``terminal/wait_for_exit`` how it ended. Each card of the turn that shows the
        terminal is updated to say so.

        Returns:
            The updates to send (none when not replaying, or for other methods), or
            ``None`` when the answer is not the shape ACP gives it (nothing is kept).
        """
        if not self.replaying or method not in (TERMINAL_CREATE, TERMINAL_OUTPUT, TERMINAL_EXIT):
            return []
        if method == TERMINAL_CREATE:
            created = result.get("terminalId") if isinstance(result, Mapping) else None
            if not isinstance(created, str):
                return None
            self._terminals.pop(created, None)
            return []
        terminal = params.get("terminalId") if isinstance(params, Mapping) else None
        if not isinstance(terminal, str) or not isinstance(result, Mapping):
            return None
        if method == TERMINAL_OUTPUT:
            output = result.get("output")
            if not isinstance(output, str):
                return None
            captured = self._captured(terminal)
            captured.output = output[-tools.MAX_CONTENT_CHARS :]
            captured.truncated = result.get("truncated") is True
            if result.get("exitStatus") is not None:
                captured.exit_status = result.get("exitStatus")
        else:
            self._captured(terminal).exit_status = result
        out: list[Outgoing] = []
        for state in self._tools.values():
            shown = state.terminal_content
            if shown is not None and any(
                block["type"] == "terminal" and block["terminalId"] == terminal for block in shown
            ):
                update: ToolCallProgress = {
                    "sessionUpdate": "tool_call_update",
                    "toolCallId": state.wire_id,
                    "content": self._replayed_terminals(shown),
                }
                out.append(self._update(update))
        return out

    def tool_card(self, vm_id: str) -> tuple[str, str] | None:
        """The wire id and title of the current turn's call the VM names ``vm_id``, if any."""
        state = self._tools.get(vm_id)
        return None if state is None else (state.wire_id, state.title)

    # ------------------------------------------------------------------ what a VM offers

    def _offer(self, event: AgentEvent) -> list[JsonObject]:
        """Keep a session-level event's facts; the updates that tell the editor of them."""
        offers = self.offers
        match event:
            case AvailableCommands():
                offers.commands = [
                    command.model_dump(exclude_none=True) for command in event.commands
                ]
                return [
                    {
                        "sessionUpdate": "available_commands_update",
                        "availableCommands": offers.commands,
                    }
                ]
            case ModeChanged():
                return self._choices(event.mode_id, None)
            case ConfigOptions():
                return self._choices(None, event.config_options)
            case SessionInfo():
                info: JsonObject = {"sessionUpdate": "session_info_update"}
                if event.title is not None:
                    offers.title = info["title"] = event.title
                if event.updated_at is not None:
                    offers.updated_at = info["updatedAt"] = event.updated_at
                return [info]
            case Usage():
                usage: JsonObject = {
                    "sessionUpdate": "usage_update",
                    "used": event.used,
                    "size": event.size,
                }
                if event.cost is not None:
                    usage["cost"] = event.cost.model_dump()
                offers.usage = usage
                return [usage]
            case _:
                return []

    def _choices(self, mode_id: str | None, options: list[Any] | None) -> list[JsonObject]:
        """The VM changed the mode or the option list: the session's choices follow."""
        choices = self.offers.choices
        if choices is None:  # no declaration known (a replay for the command line)
            if mode_id is not None:
                return [{"sessionUpdate": "current_mode_update", "currentModeId": mode_id}]
            checked = parse_config_options(DEFAULT_MANIFEST, options or [])
            if isinstance(checked, ManifestError):
                self.problem = f"config_options: {checked}"
                return []
            listed = config_options(checked)
            return [{"sessionUpdate": "config_option_update", "configOptions": listed}]
        changed = (
            choices.with_mode(mode_id)
            if mode_id is not None
            else choices.with_options(options or [])
        )
        if isinstance(changed, str):
            self.problem = changed
            return []
        self.offers.choices = changed
        updates: list[JsonObject] = []
        mode = changed.current_mode()
        if mode is not None and (mode_id is not None or mode != choices.current_mode()):
            updates.append({"sessionUpdate": "current_mode_update", "currentModeId": mode})
        updates.append(
            {"sessionUpdate": "config_option_update", "configOptions": changed.options()}
        )
        return updates

    def _session_level(self, updates: list[JsonObject]) -> list[Outgoing]:
        """Session-level updates: sent once the answer is out, never from a replay.

        A replay keeps their facts only: the latest of each follows the load answer
        (:meth:`SessionOffers.state`), in its place, rather than every old value before it.
        """
        if self.replaying or not self.session_open:
            return []
        return [self._update(update) for update in updates]

    def _notice(self, event: Notice) -> list[Outgoing]:
        """ACP's ``notice`` for a client that takes it, else a message marked as a notice."""
        if self.options.notices:
            if self.replaying:  # a notice is a live event, not history
                return []
            notice: JsonObject = {
                "sessionUpdate": "notice",
                "severity": event.severity,
                "title": event.title,
            }
            if event.description is not None:
                notice["description"] = event.description
            line = self._update(notice)
            if self.session_open:
                return [line]
            if len(self._held) < MAX_HELD_NOTICES:
                self._held.append(line)
            else:
                self.problem = "a notice before the session's answer, over the limit: dropped"
            return []
        lead = {"info": "", "warning": "Warning: ", "error": "Error: "}[event.severity]
        text = lead + event.title + ("" if not event.description else f"\n\n{event.description}")
        update: ContentChunkUpdate = {
            "sessionUpdate": "agent_message_chunk",
            "content": {"type": "text", "text": text},
            "_meta": {BRIDGE_META_KEY: {"notice": True, "severity": event.severity}},
        }
        return [self._update(update)]

    def _terminal_output(self, event: TerminalOutput) -> list[Outgoing]:
        """A terminal the VM runs itself, on the tool call that runs it.

        For a client of the ``_meta.terminal_*`` convention (Zed's, as Claude's agent uses
        it): the card shows a terminal (``terminal_info`` the first time), its output
        (``terminal_output``) and how it ended (``terminal_exit``). For any other client:
        the card's content is the text so far, with the command and how it ended.
        """
        out: list[Outgoing] = []
        known = self._tools.get(event.tool_call_id)
        if known is None:  # a terminal for a call never shown: show the call now
            title = f"`{event.command}`" if event.command else "Terminal"
            known = _ToolState(self._wire_id(event.tool_call_id), "execute", title, "in_progress")
            self._track(event.tool_call_id, known)
            start: ToolCallStart = {
                "sessionUpdate": "tool_call",
                "toolCallId": known.wire_id,
                "title": title,
                "kind": "execute",
                "status": "in_progress",
            }
            out.append(self._update(start))
        update: ToolCallProgress = {
            "sessionUpdate": "tool_call_update",
            "toolCallId": known.wire_id,
        }
        shown = self._terminal_meta(known, event) if self.options.terminal_meta else None
        if shown is not None:
            update["_meta"] = shown
            if known.vm_terminals is not None and "terminal_info" in shown:
                update["content"] = [
                    {"type": "terminal", "terminalId": tid} for tid in sorted(known.vm_terminals)
                ]
        elif self.options.terminal_meta or not self._terminal_text(known, event):
            return out
        else:
            update["content"] = [tools.text_block(known.vm_terminal_text or "")]
        return [*out, self._update(update)]

    def _terminal_meta(self, known: _ToolState, event: TerminalOutput) -> JsonObject | None:
        """The ``_meta.terminal_*`` that tell of one terminal output (``None``: nothing new)."""
        meta: JsonObject = {}
        terminal = event.terminal_id
        shown = known.vm_terminals if known.vm_terminals is not None else set()
        if terminal not in shown:
            if len(shown) >= MAX_VM_TERMINALS:
                self.problem = "too many terminals on one tool call: this one is not shown"
                return None
            shown.add(terminal)
            known.vm_terminals = shown
            info: JsonObject = {"terminal_id": terminal}
            if event.cwd is not None:
                info["cwd"] = event.cwd
            meta["terminal_info"] = info
        if event.data:
            meta["terminal_output"] = {"terminal_id": terminal, "data": event.data}
        if event.exit_code is not None or event.signal is not None:
            meta["terminal_exit"] = {
                "terminal_id": terminal,
                "exit_code": event.exit_code,
                "signal": event.signal,
            }
        return meta or None

    @staticmethod
    def _terminal_text(known: _ToolState, event: TerminalOutput) -> bool:
        """Add one terminal output to the card's text; whether the text changed."""
        before = known.vm_terminal_text
        text = before if before is not None else (f"$ {event.command}\n" if event.command else "")
        text += event.data or ""
        ending = None
        if event.exit_code is not None:
            ending = f"[exit code {event.exit_code}]"
        elif event.signal is not None:
            ending = f"[killed by {event.signal}]"
        if ending is not None:
            text += ending if not text or text.endswith("\n") else "\n" + ending
        if text == (before or ""):
            return False
        known.vm_terminal_text = text[-tools.MAX_CONTENT_CHARS :]
        return True

    # ------------------------------------------------------------------ helpers

    def _update(self, update: SessionUpdate) -> bytes:
        """The wire line of a ``session/update`` that is not a plain text chunk.

        In Harn mode, while a log is replayed, the update is marked as Harn marks it:
        ``_meta.harn.replayed``.
        """
        if self._harn and self.replaying:
            update = _marked(update)
        if update.get("sessionUpdate") == "config_option_update":
            options = update.get("configOptions")
            if isinstance(options, list):
                shown_options = shown(options, self.options.boolean_options)
                update = {**update, "configOptions": shown_options}
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

    def _harn_chunks(self, kind: str, text: str) -> list[Outgoing]:
        """Harn mode's text lane: the same split as the default one, as finished lines."""
        think = self._think
        if kind != "agent_message_chunk" or (
            THINK_OPEN[0] not in text and not think.held and not think.inside
        ):
            return [self._harn_chunk(kind, text)]
        return [self._harn_chunk(self._kind(thought), part) for thought, part in think.feed(text)]

    def _harn_chunk(self, kind: str, text: str) -> Outgoing:
        """A text chunk as Harn sends it: a message's block carries its visible text.

        A thought chunk has nothing of Harn's but, in a replay, the marker: otherwise it
        is a plain chunk, as in the default mode.
        """
        content: JsonObject = {"type": "text", "text": text}
        if kind == "agent_message_chunk":
            content["_meta"] = visible_text_meta(text)
        elif not self.replaying:
            return new_chunk(self.session_id, kind, text)
        return self._update({"sessionUpdate": kind, "content": content})

    def _harn_extras(self, fields: dict[str, Any]) -> JsonObject:
        return {camel(key): value for key, value in fields.items() if value is not None}

    def _attach_extras(self, update: JsonObject, extras: JsonObject) -> None:
        if extras:
            update["_meta"] = {HARN_META_KEY: extras}

    def _status(self, raw: str | None) -> ToolCallStatus | None:
        if raw is None:
            return None
        if raw in TOOL_CALL_STATUSES:
            return raw  # type: ignore[return-value]
        self.repairs += 1
        return TOOL_STATUS_ALIASES.get(raw.lower(), "in_progress")

    def _captured(self, terminal: str) -> _Captured:
        found = self._terminals.get(terminal)
        if found is None:
            if len(self._terminals) >= MAX_CAPTURED_TERMINALS:
                del self._terminals[next(iter(self._terminals))]
            found = self._terminals[terminal] = _Captured()
        return found

    def _shown(self, state: _ToolState, content: list[ToolCallContent]) -> list[ToolCallContent]:
        """The content to send for a call; in a replay, a terminal becomes what it printed."""
        if not any(block["type"] == "terminal" for block in content):
            state.terminal_content = None
            return content
        state.terminal_content = content
        return self._replayed_terminals(content) if self.replaying else content

    def _replayed_terminals(self, content: list[ToolCallContent]) -> list[ToolCallContent]:
        out: list[ToolCallContent] = []
        for block in content:
            if block["type"] != "terminal":
                out.append(block)
                continue
            captured = self._terminals.get(block["terminalId"]) or _Captured()
            text = tools.replayed_terminal(
                captured.output, captured.truncated, captured.exit_status
            )
            out.append(tools.text_block(text))
        return out

    def _forget_calls(self) -> None:
        self._tools.clear()
        self._open.clear()
        self._finished.clear()

    def _wire_id(self, vm_id: str) -> str:
        """The id a new call the VM names ``vm_id`` has on the wire: unique in the session.

        The VM's own id while it is new to the session (it holds no
        :data:`WIRE_ID_SEPARATOR` and the session remembers fewer than
        :data:`MAX_REMEMBERED_IDS`); otherwise the VM's id joined with the call's number in
        the session. Both are decided by the events alone, so a replay of the log makes
        exactly the ids the live session sent.
        """
        self._calls += 1
        if WIRE_ID_SEPARATOR not in vm_id:
            digest = hashlib.blake2b(
                vm_id.encode("utf-8", "surrogatepass"), digest_size=16
            ).digest()
            if digest not in self._sent_ids and len(self._sent_ids) < MAX_REMEMBERED_IDS:
                self._sent_ids.add(digest)
                return vm_id
        return f"{vm_id}{WIRE_ID_SEPARATOR}{self._calls}"

    def _track(self, tool_call_id: str, state: _ToolState) -> None:
        self._tools[tool_call_id] = state
        if state.status in _TERMINAL:
            self._open.pop(tool_call_id, None)
            self._finished[tool_call_id] = None
        else:
            self._finished.pop(tool_call_id, None)
            self._open[tool_call_id] = None
        if len(self._tools) > MAX_TURN_CALLS and self._finished:
            oldest = next(iter(self._finished))
            del self._finished[oldest]
            del self._tools[oldest]

    def _tool_call(self, event: ToolCall) -> ToolCallStart | ToolCallProgress:
        kind, repaired = tools.tool_kind(event.kind, event.tool_name)
        self.repairs += repaired
        status = self._status(event.status) or "pending"
        locations = tools.tool_locations(event.raw_input, self.options.cwd)
        diff = tools.edit_diff(event.raw_input, self.options.cwd)
        extras = self._harn_extras(
            {"parsing": event.parsing, "audit": event.audit, "intent": event.intent}
        )
        known = self._tools.get(event.tool_call_id)
        if known is not None and known.status not in _TERMINAL:
            # A second tool_call for an open call (e.g. once its input finished streaming)
            # must not create a second entry in the editor: send what changed. The title
            # is not among it: a call keeps the one it was first shown with, live and in
            # replay (no AgentEvent carries a title of the VM's own to change it to).
            progress: ToolCallProgress = {
                "sessionUpdate": "tool_call_update",
                "toolCallId": known.wire_id,
                "status": status,
            }
            if kind != known.kind:
                progress["kind"] = kind
            known.kind, known.status = kind, status
            self._track(event.tool_call_id, known)
            _input_fields(progress, event.raw_input, locations, diff)  # type: ignore[arg-type]
            self._attach_extras(progress, extras)  # type: ignore[arg-type]
            return progress
        # A new call; a finished call's id used again names a new call too.
        title = tools.tool_title(event.tool_name, kind, event.raw_input)
        wire_id = self._wire_id(event.tool_call_id)
        self._track(event.tool_call_id, _ToolState(wire_id, kind, title, status))
        start: ToolCallStart = {
            "sessionUpdate": "tool_call",
            "toolCallId": wire_id,
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
                "mutation_status": event.mutation_status,
                "changed_paths": event.changed_paths,
                "data": event.data,
                "parsing": event.parsing,
                "raw_input_partial": event.raw_input_partial,
                "audit": event.audit,
            }
        )
        known = self._tools.get(event.tool_call_id)
        if known is None:
            # ACP clients ignore updates for calls they never saw: announce it now.
            kind = tools.infer_kind(event.tool_name)
            title = tools.tool_title(event.tool_name, kind, None)
            state = _ToolState(self._wire_id(event.tool_call_id), kind, title, status or "pending")
            start: ToolCallStart = {
                "sessionUpdate": "tool_call",
                "toolCallId": state.wire_id,
                "title": title,
                "kind": kind,
                "status": state.status,
            }
            if event.tool_name:
                start["name"] = event.tool_name
            if content:
                start["content"] = self._shown(state, content)
            if event.raw_input is not None:
                start["rawInput"] = event.raw_input
            if event.raw_output is not None:
                start["rawOutput"] = event.raw_output
            self._track(event.tool_call_id, state)
            self._attach_extras(start, extras)  # type: ignore[arg-type]
            return start
        update: ToolCallProgress = {
            "sessionUpdate": "tool_call_update",
            "toolCallId": known.wire_id,
        }
        if status is not None:
            update["status"] = status
            known.status = status
            self._track(event.tool_call_id, known)
        if content:
            update["content"] = self._shown(known, content)
        if event.raw_input is not None:
            update["rawInput"] = event.raw_input
        if event.raw_output is not None:
            update["rawOutput"] = event.raw_output
        self._attach_extras(update, extras)  # type: ignore[arg-type]
        return update

    def _plan(self, plan: Any, harn: JsonObject) -> PlanUpdate:
        """ACP's ``plan`` from a plan value of any shape, Harn's facts under ``_meta.harn``.

        ``plan`` is Harn's ``serde_json::Value``: an artifact with ``steps``, a list of
        steps, or anything else (no entries). ``harn`` holds what travels beside the
        entries (the artifact, the document, the progress) by its wire name; an artifact
        that is not an object is not repeated there.
        """
        entries = [entry for step in _plan_steps(plan) if (entry := self._entry(step))]
        update: PlanUpdate = {"sessionUpdate": "plan", "entries": entries}
        extras = {
            key: value
            for key, value in harn.items()
            if isinstance(value, dict) or (key != "plan" and value is not None)
        }
        if not extras:
            return update
        if self.options.harn_extensions:
            for key, value in extras.items():
                update["harn" + camel(key)[:1].upper() + camel(key)[1:]] = value  # type: ignore[literal-required]
        else:
            update["_meta"] = {HARN_META_KEY: {camel(key): value for key, value in extras.items()}}
        return update

    def _entry(self, step: Any) -> PlanEntry | None:
        """One plan entry: text, a valid priority and status (repaired and counted)."""
        if isinstance(step, str):
            step = {"content": step}
        if not isinstance(step, dict):
            self.repairs += 1
            return None
        text = next((step[k] for k in PLAN_STEP_TEXT_KEYS if isinstance(step.get(k), str)), None)
        raw_status, raw_priority = step.get("status"), step.get("priority")
        status = PLAN_STATUS.get(raw_status.lower()) if isinstance(raw_status, str) else None
        priority = _priority(raw_priority)
        if (
            text is None
            or (raw_status is not None and status is None)
            or (raw_priority is not None and priority is None)
        ):
            self.repairs += 1
        entry: PlanEntry = {
            "content": text if text is not None else "",
            "priority": priority or "medium",
            "status": status or "pending",
        }
        if isinstance(raw_status, str) and raw_status != entry["status"]:
            entry["_meta"] = {HARN_META_KEY: {"status": raw_status}}
        return entry

    def _user_message(self, event: UserMessage) -> list[Outgoing]:
        """``user_message_chunk`` per content block, unless it repeats the turn's prompt.

        The bridge records the prompt it hands the VM (the editor shows it live, a replay
        shows it from that record), so the first ``user_message`` of a turn whose text is
        the prompt's is that prompt again and sends nothing. Every other one (a message the
        VM injected, or any in a log without the bridge's records) is sent.
        """
        blocks = [_content_block(block) for block in event.content]
        if self._prompt_text is not None and _text_of(blocks) == self._prompt_text:
            self._prompt_text = None
            return []
        out: list[Outgoing] = []
        for block in blocks:
            update: ContentChunkUpdate = {"sessionUpdate": "user_message_chunk", "content": block}
            update["messageId"] = event.message_id  # type: ignore[typeddict-unknown-key]
            out.append(self._update(update))
        return out

    def _by_catalogue(self, event: GenericEvent) -> list[Outgoing]:
        """Every event without a model of its own: where its catalogue entry sends it."""
        spec = spec_of(event.type)
        if spec is None:  # a model is built only for an entry
            return []
        raw = encode_event(event)
        if spec.stop is not None:
            reason = spec.stop.stop_reason(raw)
            if reason in STOP_REASONS:
                self.stop_requested = reason  # type: ignore[assignment]
        match spec.acp:
            case Acp.PLAN_DOCUMENT:
                change = raw.get("event")
                return [self._update(self._plan(_document_plan(change), {"plan_document": change}))]
            case Acp.PROGRESS:
                entries = raw.get("entries")
                if isinstance(entries, list) and entries:
                    progress = {
                        k: v for k, v in raw.items() if k not in ("type", "session_id", "entries")
                    }
                    return [self._update(self._plan(entries, {"progress": progress}))]
                return [self._extension(spec, raw, "progress")]
            case Acp.SESSION_UPDATE:
                return [self._extension(spec, raw)]
            case Acp.AGENT_EVENT:
                return [self._agent_event(spec, raw)]
            case _:
                return []

    def _extension(self, spec: EventSpec, raw: JsonObject, name: str | None = None) -> bytes:
        update = harn_extension_update(spec, raw, name)
        if self._harn:
            return self._update(update)
        return jsonrpc.encode(
            {
                "jsonrpc": "2.0",
                "method": HARN_UPDATE_METHOD,
                "params": {"sessionId": self.session_id, "update": update},
            }
        )

    def _agent_event(self, spec: EventSpec, raw: JsonObject) -> bytes:
        params = agent_event_params(spec, raw, self.session_id)
        if self._harn and self.replaying:
            params[REPLAYED_KEY] = True
        return jsonrpc.encode(
            {"jsonrpc": "2.0", "method": HARN_AGENT_EVENT_METHOD, "params": params}
        )


def _marked(update: Mapping[str, object]) -> JsonObject:
    """A copy of ``update`` with ``_meta.harn.replayed`` (what it had there is kept)."""
    meta = update.get("_meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    harn = meta.get(HARN_META_KEY)
    meta[HARN_META_KEY] = {**(harn if isinstance(harn, dict) else {}), REPLAYED_KEY: True}
    return {**update, "_meta": meta}


def _plan_steps(plan: Any) -> list[Any]:
    """The steps of a plan value: an artifact's ``steps``, a bare list, or none."""
    if isinstance(plan, dict):
        steps = plan.get("steps")
        return steps if isinstance(steps, list) else []
    return plan if isinstance(plan, list) else []


def _document_plan(change: Any) -> Any:
    """The plan of a plan document event's current revision (``None`` if it has none)."""
    value: Any = change
    for key in ("document", "current_revision", "plan"):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _priority(raw: Any) -> PlanEntryPriority | None:
    """A plan step's priority by name, or by rank (an integer), or ``None``."""
    if raw is None:
        return "medium"
    if isinstance(raw, str):
        return PLAN_PRIORITY.get(raw.lower())
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return PLAN_PRIORITY_RANK.get(raw, "low")
    return None


def _content_block(block: Any) -> JsonObject:
    """An ACP content block: a block as given, a string as text, anything else as JSON."""
    if isinstance(block, dict) and isinstance(block.get("type"), str):
        return block
    text = block if isinstance(block, str) else jsonrpc.encode(block).decode()
    return {"type": "text", "text": text}


def _text_of(blocks: list[JsonObject]) -> str:
    """The text of content blocks, joined, without surrounding white space."""
    return "".join(
        b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
    ).strip()


def _input_fields(update: JsonObject, raw_input: Any, locations: Any, diff: Any) -> None:
    """What a tool call's input tells, on its start or its progress: input, paths, diff."""
    if raw_input is not None:
        update["rawInput"] = raw_input
    if locations:
        update["locations"] = locations
    if diff:
        update["content"] = diff
