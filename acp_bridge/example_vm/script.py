"""The example agent's scripted turn, step by step.

:func:`play` acts out one ``session/prompt`` on a :class:`~.turn.Turn`: think, plan, read
the project's file, run a command and write notes when asked, think again, answer, end.
Each step is one method of :class:`_Script`, in the order the editor sees them. Every
turn ends with its ``usage`` and a ``session_info`` (the title, after the first turn).
``/help``, ``/mode`` and unknown slash commands answer without tools.

Rule: the script decides what happens and in what order; how an event, a pause or a tool
call goes out is :mod:`.turn`'s and :mod:`.tools`' business, and every sentence is
:mod:`.prose`'s.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from acp_bridge.example_vm import offers, prose, tools
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
        """Every step, in order; ``/help``, ``/mode`` and unknown commands just answer."""
        slash = self.request.slash
        if slash == "help":
            self.help()
        elif slash == "mode":
            self.mode()
        elif slash is not None and slash not in offers.COMMANDS:
            self.unknown(slash)
        else:
            self.start()
            self.read()
            if self.request.command:
                self.run_command(self.request.command)
            if self.request.write_notes:
                self.write_notes()
            self.reflect()
            self.answer()
        self.end()

    def say(self, text: str) -> None:
        """``turn_start`` and an answer without tools (the commands that only talk)."""
        turn = self.turn
        turn.emit("turn_start", iteration=turn.iteration)
        turn.count(self.request.text)
        turn.pause(FIRST_THOUGHT_DELAY)
        turn.stream("agent_message_chunk", text, MESSAGE_WORDS_PER_CHUNK)

    def help(self) -> None:
        """``/help``: the commands, modes and models; the editor's command list refreshed."""
        turn = self.turn
        manifest = offers.MANIFEST
        modes = [
            (m["id"], m["name"], m["description"]) for m in manifest["modes"]["availableModes"]
        ]
        model = next(o for o in turn.choices.config_options() if o["id"] == offers.MODEL_OPTION_ID)
        models = [(c["value"], c["name"], c["description"]) for c in model["options"]]
        current = (turn.choices.mode, turn.choices.model)
        self.say(prose.help_text(offers.commands(), modes, models, current))
        turn.emit("available_commands", commands=offers.commands())

    def mode(self) -> None:
        """``/mode [ask|auto]``: switch the mode from the VM's side, and tell the editor."""
        turn, wanted = self.turn, self.request.slash_args.lower()
        choices = turn.choices
        if wanted and wanted not in offers.MODES:
            turn.notice(
                "warning", f"No mode {wanted!r}", f"Choose one of {', '.join(offers.MODES)}."
            )
        changed = wanted in offers.MODES and wanted != choices.mode
        if changed:
            choices.set_mode(wanted)
            turn.emit("mode_changed", mode_id=choices.mode)
            turn.emit("config_options", config_options=choices.config_options())
        name = offers.mode_name(choices.mode)
        self.say(prose.mode_text(name, choices.asks, changed))

    def unknown(self, name: str) -> None:
        """A slash command the VM does not offer: a notice, and a pointer to ``/help``."""
        self.turn.notice("warning", f"Unknown command /{name}", "Type /help for the commands.")
        self.say(prose.unknown_command(name))

    def start(self) -> None:
        """``turn_start``, find the file, lay out the plan, think about the request."""
        turn, request = self.turn, self.request
        turn.emit("turn_start", iteration=turn.iteration)
        turn.count(request.text)
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
        thought = prose.first_thought(request, turn.cwd, self.found, turn.choices.brief)
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
        self.outcomes.append(tools.run_command(self.turn, command, here=self.request.run_here))

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
        thought = prose.second_thought(self.target, self.summary, self.error, turn.choices.brief)
        turn.stream("agent_thought_chunk", thought, THOUGHT_WORDS_PER_CHUNK)
        turn.pause(THINKING_PAUSES[1])
        self.next_step()

    def answer(self) -> None:
        """Stream the answer."""
        text = prose.answer_text(
            self.request,
            self.turn.cwd,
            self.target,
            self.summary,
            self.error,
            self.outcomes,
            brief=self.turn.choices.brief,
        )
        self.turn.stream("agent_message_chunk", text, MESSAGE_WORDS_PER_CHUNK)

    def wrap_up(self) -> None:
        """What the turn cost (``usage``), and the session's title after its first turn."""
        turn = self.turn
        turn.report_usage()
        updated_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if turn.iteration == 1:
            title = prose.title(self.request, turn.cwd)
            turn.emit("session_info", title=title, updated_at=updated_at)
        else:
            turn.emit("session_info", updated_at=updated_at)

    def end(self) -> None:
        """The plan with every step done (if there is one), the wrap-up, ``turn_end``."""
        turn = self.turn
        if turn.steps:
            turn.plan(len(turn.steps))
        self.wrap_up()
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
