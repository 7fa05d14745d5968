"""What a turn of the example agent can do: speak, wait, ask the editor, keep a tool call open.

A :class:`Turn` is one ``session/prompt`` being played: it sends AgentEvents as
``session/event`` notifications, paces itself (every pause wakes at once on cancel), sends
the plan, asks the editor through the bridge and waits for the answer, and owns the one tool
call that may be open at a time, from ``tool_call`` to its last ``tool_call_update``. The
script of the turn (:mod:`.script`) and its tools (:mod:`.tools`) are written in these terms.

Rule: a cancel (``session/cancel``, or the end of stdin) surfaces as :class:`Cancelled`
from the next pause or editor call, and nowhere else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.example_vm.offers import Choices
from acp_bridge.example_vm.prose import chunk_words
from acp_bridge.example_vm.request import Powers

if TYPE_CHECKING:
    import threading
    from pathlib import Path

    from acp_bridge.example_vm.wire import Calls, Wire
    from acp_bridge.jsonrpc.messages import JsonObject

log = logging.getLogger(__name__)

# The pace of a turn, in seconds before the multiplier.
CHUNK_DELAY: Final = 0.025  # before each streamed piece of text
EVENT_DELAY: Final = 0.08  # before each plan and tool event
CALL_POLL: Final = 0.05  # how often a turn waiting on the editor checks for a cancel
CALL_CANCEL_WAIT: Final = 2.0  # how long a cancelled turn waits for a pending call's answer
PERMISSION_OPTIONS: Final = (
    {"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"},
    {"optionId": "allow_always", "name": "Always allow", "kind": "allow_always"},
    {"optionId": "reject_once", "name": "Reject", "kind": "reject_once"},
    {"optionId": "reject_always", "name": "Always reject", "kind": "reject_always"},
)


CONTEXT_SIZE: Final = 200_000  # the context window the usage figures are out of
SYSTEM_TOKENS: Final = 1_200  # what the first turn's context holds before the prompt
#: Dollars per million tokens of context read in a turn, by model.
PRICE_PER_MTOK: Final = {"thorough": 3.0, "brief": 0.5}


def tokens(text: str) -> int:
    """A plausible token count for ``text`` (four tokens for every three words)."""
    return (len(text.split()) * 4 + 2) // 3


@dataclass(slots=True)
class Ledger:
    """The session's usage so far: tokens in its context, and what its turns cost."""

    used: int = 0
    cost: float = 0.0


class Cancelled(Exception):
    """The running turn was cancelled (``session/cancel``, or the end of stdin)."""


class EndOfInput(Exception):
    """Stdin ended while a turn ran: the session is over."""


class EditorError(Exception):
    """The bridge (or the editor behind it) answered one of our requests with an error."""

    def __init__(self, method: str, error: JsonObject) -> None:
        """Describe ``error``, the JSON-RPC error object answering a ``method`` request."""
        self.code = error.get("code")
        self.reason = str(error.get("message") or error)
        super().__init__(f"{method} failed: {self.reason} ({self.code})")


@dataclass(frozen=True, slots=True)
class OpenToolCall:
    """The tool call announced and not finished yet."""

    id: str
    name: str
    kind: str
    raw_input: JsonObject


@dataclass(slots=True)
class Turn:
    """One ``session/prompt`` being played, and everything it does on the wire."""

    session_id: str
    cwd: Path
    iteration: int
    pace: float
    cancelled: threading.Event
    eof: threading.Event
    wire: Wire
    calls: Calls
    powers: Powers = field(default_factory=Powers)
    choices: Choices = field(default_factory=Choices)
    ledger: Ledger = field(default_factory=Ledger)
    steps: list[str] = field(default_factory=list)
    tokens: int = 0  # what this turn adds to the context: the prompt, tool results, words said
    open_tool_call: OpenToolCall | None = None
    tool_calls: int = 0

    def emit(self, event_type: str, **fields: Any) -> None:
        """Send one AgentEvent as a ``session/event`` notification."""
        event = {"type": event_type, "session_id": self.session_id, **fields}
        self.wire.notify("session/event", {"event": event})

    def notice(self, severity: str, title: str, description: str | None = None) -> None:
        """Tell the user something outside the conversation (``info``, ``warning``, ``error``)."""
        extra = {} if description is None else {"description": description}
        self.emit("notice", severity=severity, title=title, **extra)

    def count(self, text: str) -> None:
        """Add ``text`` to what this turn puts in the context."""
        self.tokens += tokens(text)

    def report_usage(self) -> None:
        """Send the ``usage`` event: the context after this turn, and the session's cost.

        A turn reads its whole context, so it costs the context's size at the model's price.
        """
        ledger = self.ledger
        if ledger.used == 0:
            ledger.used = SYSTEM_TOKENS
        ledger.used = min(ledger.used + self.tokens, CONTEXT_SIZE)
        self.tokens = 0
        ledger.cost += ledger.used * PRICE_PER_MTOK.get(self.choices.model, 1.0) / 1e6
        cost = {"amount": round(ledger.cost, 6), "currency": "USD"}
        self.emit("usage", used=ledger.used, size=CONTEXT_SIZE, cost=cost)

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` (times the pace), waking at once on cancel.

        Raises:
            Cancelled: The turn was cancelled, before or during the wait.
        """
        delay = seconds * self.pace
        if self.cancelled.wait(delay) if delay > 0 else self.cancelled.is_set():
            raise Cancelled

    def stream(self, event_type: str, text: str, words_per_chunk: int) -> None:
        """Stream ``text`` as a series of chunk events of a few words each."""
        self.count(text)
        for piece in chunk_words(text, words_per_chunk):
            self.pause(CHUNK_DELAY)
            self.emit(event_type, content=piece)

    def plan(self, current: int) -> None:
        """Send the plan: steps before ``current`` done, ``current`` in progress."""
        entries = [
            {
                "content": content,
                "status": "completed"
                if index < current
                else ("in_progress" if index == current else "pending"),
                "priority": "medium" if index == len(self.steps) - 1 else "high",
            }
            for index, content in enumerate(self.steps)
        ]
        self.pause(EVENT_DELAY)
        self.emit("plan", plan=entries)

    def call(self, method: str, params: JsonObject) -> JsonObject:
        """Ask the editor, through the bridge, and wait for its answer.

        Raises:
            EditorError: The answer is an error.
            Cancelled: The turn was cancelled (and the answer is an error, or none came
                within a grace period), or stdin ended.
        """
        call = self.calls.start(method, {"sessionId": self.session_id, **params})
        waited = 0.0
        while not call.done.wait(CALL_POLL):
            if self.cancelled.is_set():  # the bridge answers cancelled calls; be safe
                waited += CALL_POLL
                if waited >= CALL_CANCEL_WAIT:
                    raise Cancelled
        if call.answer is None:  # stdin ended
            raise Cancelled
        if call.answer.error is not None:
            if self.cancelled.is_set():  # refused or withdrawn because of the cancel
                raise Cancelled
            raise EditorError(method, call.answer.error)
        result = call.answer.result
        return result if isinstance(result, dict) else {}

    def cleanup_call(self, method: str, params: JsonObject) -> None:
        """A call that tidies up after a tool (kill or release a terminal); never raises."""
        try:
            self.call(method, params)
        except (EditorError, Cancelled) as exc:
            log.info("%s: %s", method, exc)

    def open_tool(self, tool_name: str, kind: str, raw_input: JsonObject) -> str:
        """Announce a tool call (``pending``); return its id."""
        self.tool_calls += 1
        call_id = f"call_{self.iteration}_{self.tool_calls}"
        self.pause(EVENT_DELAY)
        self.open_tool_call = OpenToolCall(call_id, tool_name, kind, raw_input)
        self.emit(
            "tool_call",
            tool_call_id=call_id,
            tool_name=tool_name,
            kind=kind,
            status="pending",
            raw_input=raw_input,
        )
        return call_id

    def update_tool(self, status: str = "in_progress", **fields: Any) -> None:
        """Send a ``tool_call_update`` of the open tool call."""
        assert self.open_tool_call is not None
        tool = self.open_tool_call
        self.emit(
            "tool_call_update", tool_call_id=tool.id, tool_name=tool.name, status=status, **fields
        )

    def close_tool(self, status: str, **fields: Any) -> None:
        """The open tool call's last update (``completed`` or ``failed``)."""
        self.update_tool(status, **fields)
        self.open_tool_call = None

    def fail_open_tool(self, error: str) -> None:
        """Fail the open tool call, if there is one (the turn ends without finishing it)."""
        if self.open_tool_call is not None:
            self.close_tool("failed", error=error)

    def allowed(self, title: str, **details: Any) -> tuple[bool, str]:
        """Ask the user about the open tool call; return (allowed, why not).

        ``details`` are more fields of ACP's ``toolCall`` (``content``, ``locations``). In
        ``auto`` mode nobody is asked: a ``notice`` says what is done without asking.

        Raises:
            Cancelled: The turn was cancelled while the question was open.
        """
        assert self.open_tool_call is not None
        tool = self.open_tool_call
        if not self.choices.asks:
            self.notice(
                "info",
                f"{title}: not asking (auto mode)",
                "The session is in auto mode; switch to Ask to approve each command and edit.",
            )
            return True, ""
        tool_call = {
            "toolCallId": tool.id,
            "title": title,
            "kind": tool.kind,
            "status": "pending",
            "rawInput": tool.raw_input,
            **details,
        }
        params = {"toolCall": tool_call, "options": [dict(o) for o in PERMISSION_OPTIONS]}
        try:
            answer = self.call("session/request_permission", params)
        except EditorError as exc:
            log.warning("%s", exc)
            return False, f"the permission request failed: {exc.reason}"
        outcome = answer.get("outcome")
        if not isinstance(outcome, dict) or outcome.get("outcome") != "selected":
            raise Cancelled  # ACP: "cancelled" is the only other outcome
        kind = answer.get("kind")
        if kind is None:  # a bridge that does not add the kind: our option ids are kinds
            kind = outcome.get("optionId")
        if kind in ("allow_once", "allow_always"):
            return True, ""
        return False, "the user declined"
