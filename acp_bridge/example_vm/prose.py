"""Every sentence the example agent says or writes, and the way it streams them.

The thoughts, the answer and the notes file are built here from what the turn learnt (the
:class:`~.request.Request`, the :class:`~.workspace.FileSummary`, each tool's
:class:`Outcome`), so that the turn's steps read as steps and the wording lives in one place.

Rule: pure functions of their arguments: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from acp_bridge.example_vm.request import Request
    from acp_bridge.example_vm.workspace import FileSummary

OPENING_LIMIT: Final = 160  # how much of a file's first line of prose is quoted
_WORD = re.compile(r"\S+\s*")
_OUTRO: Final = (
    "I am acp-bridge's built-in example VM, so that is as far as I go: start acp-bridge "
    "with --vm or --vm-exec to talk to a real agent."
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a tool call of the turn went, in words for the answer."""

    tool_name: str
    sentence: str
    failed: bool = False


def chunk_words(text: str, words_per_chunk: int) -> Iterator[str]:
    """Split ``text`` into pieces of a few words; the pieces concatenate back to ``text``."""
    words = _WORD.findall(text)
    for start in range(0, len(words), words_per_chunk):
        yield "".join(words[start : start + words_per_chunk])


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (ending in "…" when cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quoted(text: str, limit: int) -> str:
    """``text`` shortened and in quotes, ending a sentence (with a full stop if it has none)."""
    text = shorten(text, limit)
    return f"“{text}”" + ("" if text.endswith((".", "?", "!", "…")) else ".")


def join_names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def lines(count: int) -> str:
    """``1 line``, ``2 lines``."""
    return f"{count} line" if count == 1 else f"{count} lines"


def exit_text(code: Any, signal: Any) -> str:
    """How a command ended, as the end of a sentence."""
    if signal:
        return f"it was stopped by {signal}"
    if code == 0:
        return "it succeeded"
    return f"it exited with status {code}"


def place(cwd: Path) -> str:
    """How the agent names the project: its directory's name."""
    return cwd.name or str(cwd)


def first_thought(request: Request, cwd: Path, found: str | None, brief: bool = False) -> str:
    """The thought before reading: what was asked, and where to look."""
    if brief:
        return f"Look at {found or 'the project'} first."
    if request.slash:
        asked = f"The user typed the command {shorten(request.text, 80)}."
    elif request.text:
        asked = f"The user asks {quoted(request.text, 80)}"
    else:
        asked = "The prompt has no text, only attachments."
    look = (
        f"{found} looks like the place to start."
        if found
        else "I will look for a README or some other text file there."
    )
    return f"{asked} Before answering I should look at the project in {place(cwd)}; {look}"


def second_thought(
    target: str, summary: FileSummary | None, error: str | None, brief: bool = False
) -> str:
    """The thought after reading: what the file turned out to be."""
    if brief:
        return f"{target}: " + (
            "unreadable." if summary is None else f"{lines(summary.line_count)}."
        )
    if summary is None:
        return f"Reading {target} failed ({error}). I will say so in the answer."
    about = f", headed “{summary.heading}”" if summary.heading else ""
    return f"{target} has {lines(summary.line_count)}{about}. That is enough for a short answer."


def answer_text(
    request: Request,
    cwd: Path,
    target: str,
    summary: FileSummary | None,
    error: str | None,
    outcomes: list[Outcome],
    brief: bool = False,
) -> str:
    """The answer, in paragraphs: the request, the file, what the tools did, who I am.

    ``brief`` (the ``brief`` model): one short line per point instead.
    """
    if brief:
        return _brief_answer(target, summary, error, outcomes)
    if request.slash:
        asked = f"You typed {shorten(request.text, 200)}."
    elif request.text:
        asked = f"You asked: {quoted(request.text, 200)}"
    else:
        asked = "You sent no text."
    if request.attachments:
        asked += f" You also pointed me at {join_names(request.attachments)}."
    if summary is None:
        found = f"I tried to read {target} in {place(cwd)}, but could not: {error}."
    else:
        count = (
            lines(summary.line_count)
            if summary.complete
            else f"more than {lines(summary.line_count)}"
        )
        heading = (
            f"and its first heading is “{summary.heading}”."
            if summary.heading
            else "and no heading that I could find."
        )
        found = f"I read {target} in {place(cwd)}: it has {count}, {heading}"
        if summary.opening:
            found += f" It begins: “{shorten(summary.opening, OPENING_LIMIT)}”"
    done = " ".join(outcome.sentence for outcome in outcomes if outcome.sentence)
    return "\n\n".join((asked, found, done, _OUTRO) if done else (asked, found, _OUTRO))


def _brief_answer(
    target: str, summary: FileSummary | None, error: str | None, outcomes: list[Outcome]
) -> str:
    """The ``brief`` model's answer: a line per point."""
    if summary is None:
        found = f"- {target}: unreadable ({error})."
    else:
        heading = f", “{summary.heading}”" if summary.heading else ""
        found = f"- {target}: {lines(summary.line_count)}{heading}."
    done = [f"- {outcome.sentence}" for outcome in outcomes if outcome.sentence]
    return "\n".join([found, *done, "- (Example VM: use --vm for a real agent.)"])


def title(request: Request, cwd: Path) -> str:
    """The session's title, from its first request."""
    if request.text:
        return shorten(request.text, 60)
    return f"Attachments in {place(cwd)}"


def help_text(
    commands: list[dict[str, Any]],
    modes: list[tuple[str, str, str]],
    models: list[tuple[str, str, str]],
    current: tuple[str, str],
) -> str:
    """``/help``: the commands, then the modes and models as ``(id, name, description)``."""
    listed = []
    for command in commands:
        hint = command.get("input", {}).get("hint")
        usage = f"/{command['name']}" + (f" <{hint}>" if hint else "")
        listed.append(f"- {usage}: {command['description']}")
    mode, model = current

    def choice(items: list[tuple[str, str, str]], chosen: str) -> list[str]:
        return [
            f"- {name} (`{key}`){' (current)' if key == chosen else ''}: {about}"
            for key, name, about in items
        ]

    return "\n".join(
        [
            "Commands:",
            *listed,
            "",
            "Modes (the editor's mode picker, or /mode):",
            *choice(modes, mode),
            "",
            "Models (the editor's model picker):",
            *choice(models, model),
        ]
    )


def mode_text(name: str, asks: bool, changed: bool) -> str:
    """``/mode``: the mode the session is (now) in, and what it means."""
    what = (
        "I ask before running a command or writing a file."
        if asks
        else "I run commands and write files without asking."
    )
    return f"{'Switched to' if changed else 'The session is in'} {name} mode: {what}"


def unknown_command(name: str) -> str:
    """The answer to a slash command the example VM does not know."""
    return f"I do not know /{name}. Type /help for the commands I know."


def notes_text(
    request: Request,
    target: str,
    summary: FileSummary | None,
    error: str | None,
    done: list[Outcome],
) -> str:
    """The notes file the example agent writes: what was asked and what it found."""
    notes = ["# Notes from acp-bridge's example agent", ""]
    if request.text:
        notes += [f"Asked: {shorten(request.text, 200)}", ""]
    if summary is None:
        notes.append(f"- {target}: could not be read ({error})")
    else:
        heading = f", headed “{summary.heading}”" if summary.heading else ""
        notes.append(f"- {target}: {lines(summary.line_count)}{heading}")
        if summary.opening:
            notes.append(f"  - begins: {shorten(summary.opening, OPENING_LIMIT)}")
    notes.extend(f"- {outcome.sentence}" for outcome in done if outcome.sentence)
    return "\n".join(notes) + "\n"
