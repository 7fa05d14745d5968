"""The example agent's scripted turn, step by step.

:func:`play` acts out one ``session/prompt`` on a :class:`~.turn.Turn`: think, plan, read
the project's file, run a command and write notes when asked, think again, answer, end.
Each step is one method of :class:`_Script`, in the order the editor sees them.

Rule: the script decides what happens and in what order; how an event, a pause or a tool
call goes out is :mod:`.turn`'s and :mod:`.tools`' business, and every sentence is
:mod:`.prose`'s.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from acp_bridge.example_vm import prose, tools
from acp_bridge.example_vm.turn import EVENT_DELAY, Cancelled, EndOfInput
from acp_bridge.example_vm.workspace import find_file

if TYPE_CHECKING:
    from acp_bridge.example_vm.request import Request
    from acp_bridge.example_vm.turn import Turn
    from acp_bridge.example_vm.workspace import FileSummary

FIRST_THOUGHT_DELAY: Final = 0.2  # between turn_start and the first thought
THINKING_PAUSES: Final = (0.3, 0.35)  # after each thought
THOUGHT_WORDS_PER_CHUNK: Final = 4
MESSAGE_WORDS_PER_CHUNK: Final = 3
FALLBACK_PATH: Final = "README.md"  # what the tool call names when nothing was found


def play(turn: Turn, request: Request) -> str:
    """Play the turn; return the stop reason (``end_turn`` or ``cancelled``).

    Raises:
        EndOfInput: Stdin ended during the turn (the caller exits without answering).
    """
    try:
        _Script(turn, request).play()
    except Cancelled:
        if turn.eof.is_set():  # nobody listens any more: write nothing, just stop
            raise EndOfInput from None
        turn.fail_open_tool("cancelled")
        return "cancelled"
    return "end_turn"


@dataclass(slots=True)
class _Script:
    """What the turn learns as it goes, shared by its steps."""

    turn: Turn
    request: Request
    found: str | None = None  # the file to read, if the project has one
    target: str = FALLBACK_PATH  # the file the tool call names
    step: int = 0  # the plan step in progress
    summary: FileSummary | None = None
    error: str | None = None  # why there is no summary
    outcomes: list[prose.Outcome] = field(default_factory=list)

    def play(self) -> None:
        """Every step, in order."""
        self.start()
        self.read()
        if self.request.command:
            self.run_command(self.request.command)
        if self.request.write_notes:
            self.write_notes()
        self.reflect()
        self.answer()
        self.end()

    def start(self) -> None:
        """``turn_start``, find the file, lay out the plan, think about the request."""
        turn, request = self.turn, self.request
        turn.emit("turn_start", iteration=turn.iteration)
        turn.pause(FIRST_THOUGHT_DELAY)
        self.found = find_file(turn.cwd)
        self.target = self.found or FALLBACK_PATH
        turn.steps = [
            "Understand the request",
            f"Read {self.target}",
            *([f"Run `{shlex.join(request.command)}`"] if request.command else []),
            *([f"Write {tools.NOTES_FILE}"] if request.write_notes else []),
            "Answer with a short summary",
        ]
        thought = prose.first_thought(request, turn.cwd, self.found)
        turn.stream("agent_thought_chunk", thought, THOUGHT_WORDS_PER_CHUNK)
        turn.pause(THINKING_PAUSES[0])

    def next_step(self) -> None:
        """Move the plan on by one step."""
        self.step += 1
        self.turn.plan(self.step)

    def read(self) -> None:
        """The read_file tool call."""
        self.next_step()
        self.summary, self.error = tools.read_file(self.turn, self.target, self.found is not None)
        self.outcomes.append(prose.Outcome("read_file", "", failed=self.summary is None))

    def run_command(self, command: list[str]) -> None:
        """The run_command tool call."""
        self.next_step()
        self.outcomes.append(tools.run_command(self.turn, command))

    def write_notes(self) -> None:
        """The write_file tool call, with notes on what the earlier tools did."""
        self.next_step()
        notes = prose.notes_text(
            self.request, self.target, self.summary, self.error, self.outcomes[1:]
        )
        self.outcomes.append(tools.write_notes(self.turn, notes))

    def reflect(self) -> None:
        """Think about what the file said; the plan moves on to answering."""
        turn = self.turn
        turn.pause(EVENT_DELAY)
        thought = prose.second_thought(self.target, self.summary, self.error)
        turn.stream("agent_thought_chunk", thought, THOUGHT_WORDS_PER_CHUNK)
        turn.pause(THINKING_PAUSES[1])
        self.next_step()

    def answer(self) -> None:
        """Stream the answer."""
        text = prose.answer_text(
            self.request, self.turn.cwd, self.target, self.summary, self.error, self.outcomes
        )
        self.turn.stream("agent_message_chunk", text, MESSAGE_WORDS_PER_CHUNK)

    def end(self) -> None:
        """The plan with every step done, then ``turn_end``."""
        turn = self.turn
        turn.plan(len(turn.steps))
        turn.pause(EVENT_DELAY)
        turn.emit(
            "turn_end",
            iteration=turn.iteration,
            turn_info={
                "tool_names": [o.tool_name for o in self.outcomes],
                "tool_count": len(self.outcomes),
                "iteration": turn.iteration,
                "failed": False,
            },
        )
