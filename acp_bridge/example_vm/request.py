"""What a prompt asks the example agent to do, and what the editor offers it.

Rule: nothing here performs I/O; both classes are read from ACP's JSON as it arrives, and
anything missing or malformed reads as "not asked" or "not offered".
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass, replace
from typing import Any, Final

log = logging.getLogger(__name__)

#: What "run" runs when the prompt names no command in backticks.
DEFAULT_COMMAND: Final = ("ls", "-la")

_WRITE_WORDS = re.compile(r"\b(write|save|notes?)\b", re.IGNORECASE)
_RUN_WORDS = re.compile(r"\brun\b", re.IGNORECASE)
_BACKTICKS = re.compile(r"`([^`\n]+)`")
_SLASH = re.compile(r"^/([A-Za-z][\w-]*)(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked: the prompt's text, what they attached, and what to do.

    ``write_notes`` is set when the text asks to write, save or take notes; ``command``
    when it asks to run something: the first command in backticks, else ``ls -la``.

    A text that starts with ``/name`` is a slash command (``slash``, with ``slash_args``
    the rest of the text): ``/files`` runs ``ls -la`` here, never in the editor's terminal
    (``run_here``); ``/run ARGS`` runs ``ARGS``; ``/notes TEXT`` writes the notes file;
    the others (``/help``, ``/mode``, and any unknown name) are the script's to act on.
    """

    text: str
    attachments: list[str]
    write_notes: bool = False
    command: list[str] | None = None
    slash: str | None = None
    slash_args: str = ""
    run_here: bool = False

    @classmethod
    def from_prompt(cls, prompt: list[Any]) -> Request:
        """Read the ACP content blocks of a ``session/prompt``."""
        texts: list[str] = []
        attachments: list[str] = []
        for block in prompt:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif (name := _block_name(block)) is not None:
                attachments.append(name)
        raw = " ".join(texts)
        if (slash := _SLASH.match(raw.strip())) is not None:
            return _slash_command(slash[1].lower(), slash[2] or "", attachments)
        return cls(
            text=" ".join(raw.split()),
            attachments=attachments,
            write_notes=_WRITE_WORDS.search(raw) is not None,
            command=_command_in(raw),
        )


def _slash_command(name: str, args: str, attachments: list[str]) -> Request:
    """The request a slash command stands for."""
    text = " ".join(f"/{name} {args}".split())
    args = " ".join(args.split())
    request = Request(text=text, attachments=attachments, slash=name, slash_args=args)
    if name == "files":
        return replace(request, command=list(DEFAULT_COMMAND), run_here=True)
    if name == "run":
        return replace(request, command=_command_in(f"`{args}`") or list(DEFAULT_COMMAND))
    if name == "notes":
        return replace(request, write_notes=True)
    return request


def _block_name(block: dict[str, Any]) -> str | None:
    """How the answer names a non-text content block (a resource link by its name)."""
    kind = block.get("type")
    if kind == "resource_link":
        name = block.get("name") or block.get("title")
        if isinstance(name, str) and name:
            return name
        return _last_segment(block.get("uri"))
    if kind == "resource":
        resource = block.get("resource")
        return _last_segment(resource.get("uri") if isinstance(resource, dict) else None)
    if kind == "image":
        return "an image"
    if kind == "audio":
        return "an audio clip"
    return None


def _last_segment(uri: Any) -> str | None:
    """The last path segment of a URI (``None`` without one)."""
    return uri.rstrip("/").rsplit("/", 1)[-1] if isinstance(uri, str) and uri else None


def _command_in(text: str) -> list[str] | None:
    """The command a prompt asks to run, if it asks to run one."""
    for quoted in _BACKTICKS.findall(text):
        try:
            argv = shlex.split(quoted)
        except ValueError as exc:  # unbalanced quotes: not a command
            log.info("not a command: %r (%s)", quoted, exc)
            continue
        if argv:
            return argv
    return list(DEFAULT_COMMAND) if _RUN_WORDS.search(text) else None


@dataclass(frozen=True, slots=True)
class Powers:
    """What the editor offers the VM, from the ``clientCapabilities`` it advertised."""

    read: bool = False
    write: bool = False
    terminal: bool = False

    @classmethod
    def from_capabilities(cls, caps: Any) -> Powers:
        """Read ACP's ``clientCapabilities`` (missing or malformed parts mean "no")."""
        if not isinstance(caps, dict):
            return cls()
        given = caps.get("fs")
        fs: dict[str, Any] = given if isinstance(given, dict) else {}
        return cls(
            read=fs.get("readTextFile") is True,
            write=fs.get("writeTextFile") is True,
            terminal=caps.get("terminal") is True,
        )
