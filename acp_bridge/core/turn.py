"""The turn state machine of one ACP session, live and replayed: one table decides.

A session's thread (text, tools, plans) is updated only inside a prompt turn: between
``session/prompt`` and its answer (session-level updates, such as commands and usage, are
the translator's to send at any time once the session's answer is out). Inside that, the
bridge forwards what the VM writes only while the VM has the prompt (from handing it over
until the VM answers), so nothing the VM says before or after its part of the turn reaches
the editor. Both facts are one state, changed only by the inputs below
through :data:`TRANSITIONS`, in the manner of h11's ``_state.py``::

    IDLE --prompt--> PROMPTING --vm_has_prompt--> VM_TURN --vm_answered--> PROMPTING
    PROMPTING --cancel--> CANCELLING --vm_has_prompt--> CANCELLING_VM_TURN
    VM_TURN --cancel--> CANCELLING_VM_TURN --vm_answered--> CANCELLING
    PROMPTING | VM_TURN | CANCELLING | CANCELLING_VM_TURN --answered--> IDLE

Inputs that change nothing are listed too (the VM's answer when it no longer has the
prompt, a second cancel, ...), so that the table says everything: an input it has no entry
for is a protocol error (:class:`~acp_bridge.errors.LocalProtocolError`): a second prompt
while one runs, or answering a prompt that is not there.

What the editor is told about a session (``_acp_bridge/status``) is the coarser
:class:`Phase`: ``idle``, ``prompting`` or ``cancelling``.

The live session logs four of these transitions as records (``acp_bridge.prompt``,
``vm_turn_started``, ``vm_turn_over``, ``turn_ended``), and a replay drives a machine of its
own with them (:meth:`TurnMachine.follow`).

Rule: nothing in this module performs I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from acp_bridge.errors import LocalProtocolError


class Phase(Enum):
    """Where a session is in its turn cycle, as the editor and operators see it."""

    IDLE = "idle"
    PROMPTING = "prompting"
    CANCELLING = "cancelling"


class TurnState(Enum):
    """Where a session is in its turn, including whether the VM has the prompt."""

    #: No turn: nothing the VM writes is forwarded.
    IDLE = "idle"
    #: A prompt is open, and the VM does not have it (not yet, or no longer).
    PROMPTING = "prompting"
    #: The VM has the prompt: what it writes is forwarded.
    VM_TURN = "vm_turn"
    #: The editor cancelled, and the VM does not have the prompt.
    CANCELLING = "cancelling"
    #: The editor cancelled while the VM has the prompt: its updates are still forwarded
    #: until the VM answers (ACP allows updates after a cancel, before the answer).
    CANCELLING_VM_TURN = "cancelling_vm_turn"


class TurnInput(Enum):
    """What happens to a session's turn."""

    #: The editor sent ``session/prompt``.
    PROMPT = "prompt"
    #: The prompt is being handed to the VM.
    VM_HAS_PROMPT = "vm_has_prompt"
    #: The VM answered its prompt (or was given up on).
    VM_ANSWERED = "vm_answered"
    #: The editor sent ``session/cancel``.
    CANCEL = "cancel"
    #: The bridge answered the prompt: the turn is over.
    ANSWERED = "answered"


_S = TurnState
_I = TurnInput

#: Every allowed (state, input) pair and the state it leads to; a pair not here is an error.
TRANSITIONS: Final[dict[tuple[TurnState, TurnInput], TurnState]] = {
    (_S.IDLE, _I.PROMPT): _S.PROMPTING,
    (_S.IDLE, _I.VM_HAS_PROMPT): _S.IDLE,  # no turn to hand over: nothing is forwarded
    (_S.IDLE, _I.VM_ANSWERED): _S.IDLE,  # a late answer, after the turn ended
    (_S.IDLE, _I.CANCEL): _S.IDLE,  # nothing to cancel
    (_S.PROMPTING, _I.VM_HAS_PROMPT): _S.VM_TURN,
    (_S.PROMPTING, _I.VM_ANSWERED): _S.PROMPTING,
    (_S.PROMPTING, _I.CANCEL): _S.CANCELLING,
    (_S.PROMPTING, _I.ANSWERED): _S.IDLE,
    (_S.VM_TURN, _I.VM_HAS_PROMPT): _S.VM_TURN,
    (_S.VM_TURN, _I.VM_ANSWERED): _S.PROMPTING,
    (_S.VM_TURN, _I.CANCEL): _S.CANCELLING_VM_TURN,
    (_S.VM_TURN, _I.ANSWERED): _S.IDLE,
    (_S.CANCELLING, _I.VM_HAS_PROMPT): _S.CANCELLING_VM_TURN,
    (_S.CANCELLING, _I.VM_ANSWERED): _S.CANCELLING,
    (_S.CANCELLING, _I.CANCEL): _S.CANCELLING,
    (_S.CANCELLING, _I.ANSWERED): _S.IDLE,
    (_S.CANCELLING_VM_TURN, _I.VM_HAS_PROMPT): _S.CANCELLING_VM_TURN,
    (_S.CANCELLING_VM_TURN, _I.VM_ANSWERED): _S.CANCELLING,
    (_S.CANCELLING_VM_TURN, _I.CANCEL): _S.CANCELLING_VM_TURN,
    (_S.CANCELLING_VM_TURN, _I.ANSWERED): _S.IDLE,
}

#: The states in which what the VM writes is forwarded to the editor.
FORWARDING: Final = frozenset({_S.VM_TURN, _S.CANCELLING_VM_TURN})

PHASES: Final[dict[TurnState, Phase]] = {
    _S.IDLE: Phase.IDLE,
    _S.PROMPTING: Phase.PROMPTING,
    _S.VM_TURN: Phase.PROMPTING,
    _S.CANCELLING: Phase.CANCELLING,
    _S.CANCELLING_VM_TURN: Phase.CANCELLING,
}

#: Where a replay is after each input the live session logs: the state the transition that
#: wrote the record leads to, in a turn that was not cancelled (the log has no cancel).
REPLAYED: Final[dict[TurnInput, TurnState]] = {
    _I.PROMPT: _S.PROMPTING,
    _I.VM_HAS_PROMPT: _S.VM_TURN,
    _I.VM_ANSWERED: _S.PROMPTING,
    _I.ANSWERED: _S.IDLE,
}


@dataclass(slots=True)
class TurnMachine:
    """The turn state of one session.

    Attributes:
        state: The current state; change it only through :meth:`handle` or :meth:`follow`.
        forwarding: Whether what the VM writes now is sent to the editor (the state is in
            :data:`FORWARDING`); kept beside the state because the hot paths read it for
            every event.
    """

    state: TurnState = TurnState.IDLE
    forwarding: bool = field(init=False)

    def __post_init__(self) -> None:
        """Derive ``forwarding`` from the initial state."""
        self.forwarding = self.state in FORWARDING

    def _enter(self, state: TurnState) -> None:
        self.state = state
        self.forwarding = state in FORWARDING

    def handle(self, event: TurnInput) -> TurnState:
        """Take the transition for ``event``.

        Returns:
            The state before the transition.

        Raises:
            LocalProtocolError: :data:`TRANSITIONS` has no entry for the current state and
                ``event`` (a second prompt while one runs, answering with no turn running).
        """
        before = self.state
        target = TRANSITIONS.get((before, event))
        if target is None:
            raise LocalProtocolError(f"{event.value!r} is not allowed while {before.value}")
        self._enter(target)
        return before

    def follow(self, event: TurnInput) -> None:
        """Replay: take the transition a log record says the live session took.

        The live session writes a record only on a transition that changes its state. When
        the replayed state cannot take such a transition for ``event`` (a line of the log
        was lost, or the bridge stopped in the middle of a turn), the record wins: the state
        becomes the one the record leads to (:data:`REPLAYED`). So a replay never fails on
        the order of records, and forwards what the live session forwarded.

        Raises:
            LocalProtocolError: ``event`` is not one the live session logs.
        """
        replayed = REPLAYED.get(event)
        if replayed is None:
            raise LocalProtocolError(f"{event.value!r} is never logged, so never replayed")
        target = TRANSITIONS.get((self.state, event))
        self._enter(replayed if target is None or target is self.state else target)

    @property
    def phase(self) -> Phase:
        """The state as the editor and operators see it."""
        return PHASES[self.state]
