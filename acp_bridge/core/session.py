"""One ACP session's protocol state: turns, cancellation, and what each VM line becomes.

:class:`SessionCore` decides, for every line a VM writes, what is persisted (always
something, and always before anything is sent), what is sent to the editor (the thread's
updates only while the VM has the prompt of an open turn; session-level ones whenever the
session's answer is out) and which counter a bad line bumps. The server around it does
the I/O in that order.

The turn's state is a :class:`~acp_bridge.core.turn.TurnMachine`: every turn rule is in its
transition table, and this module only turns its transitions into log records. What the
VM's lines become is :mod:`acp_bridge.core.ingest`'s to decide, given whether the turn
forwards them.

Rule: nothing in this module performs I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acp_bridge.core import ingest
from acp_bridge.core.translate import Translator, TranslatorOptions
from acp_bridge.core.turn import Phase, TurnInput, TurnMachine, TurnState
from acp_bridge.eventlog.records import (
    prompt_record,
    session_record,
    turn_ended_record,
    vm_turn_record,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.acp.updates import JsonObject, StopReason
    from acp_bridge.core.ingest import Batch
    from acp_bridge.jsonrpc.framing import LineTooLong


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
        """The record that opens a session's log (with the VM's title, once restored)."""
        return session_record(
            self.session_id,
            self.cwd,
            mcp_servers,
            self.additional_directories,
            self.translator.offers.title,
        )

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
        self.translator.begin_turn(prompt)
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

    def end_turn(self, stop_reason: StopReason | None) -> tuple[list[Outgoing], JsonObject]:
        """Close the turn: the last notifications to send, and the record to persist.

        ``stop_reason`` is ``None`` when the turn failed (answered with an error).

        Raises:
            LocalProtocolError: No turn is running.
        """
        self.turn.handle(TurnInput.ANSWERED)
        closing = self.translator.end_turn(stop_reason or "end_turn")
        return closing, turn_ended_record(self.session_id, stop_reason)

    def vm_lines(self, lines: Sequence[bytes | LineTooLong], start: int = 0) -> Batch:
        """Decide what the VM's stdout lines from ``start`` on become (see :func:`ingest.batch`).

        A batch ends at the end of ``lines`` or just after the first JSON-RPC message that
        is not an event (see :attr:`Batch.rpc`).
        """
        return ingest.batch(self.translator, self.turn.forwarding, lines, start)
