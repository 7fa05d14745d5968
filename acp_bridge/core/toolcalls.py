"""How a tool call looks in an editor: its title, kind, locations and output content.

AgentEvents name tools by their programmatic name (``read_file``) and carry raw arguments
and raw output. Editors want a human title ("Read src/lexer.rs"), one of ACP's ten tool
kinds for the icon, the files touched (``locations``, which drive "follow the agent"), and
the output as content blocks. This module derives all of that from the raw values.

Rule: pure functions only; no I/O, no clock. Paths are resolved lexically (``posixpath``),
never against the file system.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from acp_bridge.acp.updates import (
    TOOL_KINDS,
    ContentToolCallContent,
    DiffToolCallContent,
    ToolCallContent,
    ToolCallLocation,
    ToolKind,
)

#: Longest text the bridge puts into one tool-call content block; ``rawOutput`` keeps all.
MAX_CONTENT_CHARS: Final = 100_000
_TITLE_ARG_CHARS: Final = 80

# Word -> kind, first match over the name's words wins; checked in this order so that
# "tool_search" is a search and "read_file" a read.
_KIND_WORDS: Final[tuple[tuple[ToolKind, frozenset[str]], ...]] = (
    ("switch_mode", frozenset({"switch", "mode"})),
    ("delete", frozenset({"delete", "remove", "rm", "unlink", "rmdir"})),
    ("move", frozenset({"move", "rename", "mv"})),
    (
        "edit",
        frozenset(
            {
                "edit",
                "write",
                "patch",
                "replace",
                "apply",
                "create",
                "insert",
                "modify",
                "append",
                "update",
                "save",
                "mkdir",
                "touch",
            }
        ),
    ),
    ("search", frozenset({"search", "grep", "find", "glob", "lookup", "query", "rg"})),
    (
        "execute",
        frozenset(
            {
                "run",
                "exec",
                "execute",
                "shell",
                "bash",
                "sh",
                "command",
                "terminal",
                "test",
                "build",
                "spawn",
                "eval",
            }
        ),
    ),
    ("fetch", frozenset({"fetch", "http", "https", "web", "download", "curl", "url", "browse"})),
    ("read", frozenset({"read", "cat", "view", "open", "get", "load", "list", "ls", "show"})),
    ("think", frozenset({"think", "plan", "reason", "reflect"})),
)

_PATH_KEYS: Final = (
    "path",
    "file_path",
    "filePath",
    "filepath",
    "file",
    "filename",
    "target_file",
    "source",
    "src",
    "destination",
    "dest",
    "dst",
    "old_path",
    "new_path",
    "directory",
    "dir",
)
_PATH_LIST_KEYS: Final = ("paths", "files", "file_paths")
_LINE_KEYS: Final = ("line", "line_number", "lineNumber", "start_line", "startLine", "lineno")
_OLD_TEXT_KEYS: Final = ("old_string", "old_str", "old_text", "oldText", "search")
_NEW_TEXT_KEYS: Final = ("new_string", "new_str", "new_text", "newText", "replacement")
_COMMAND_KEYS: Final = ("command", "cmd", "script", "argv", "args")
_QUERY_KEYS: Final = ("query", "pattern", "regex", "q", "search")
_URL_KEYS: Final = ("url", "uri", "href")

_WORD_SPLIT: Final = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def name_words(name: str) -> list[str]:
    """Split ``read_file``, ``readFile`` or ``read-file`` into lower-case words."""
    return [word.lower() for word in _WORD_SPLIT.split(name) if word]


def infer_kind(name: str | None) -> ToolKind:
    """Guess ACP's tool kind from a tool name; ``other`` when nothing fits."""
    words = name_words(name or "")
    for word in words:
        for kind, vocabulary in _KIND_WORDS:
            if word in vocabulary:
                return kind
    return "other"


def tool_kind(declared: str | None, name: str | None) -> tuple[ToolKind, bool]:
    """The kind to send, and whether the declared one had to be repaired.

    A valid declared kind wins; an invalid one is mapped by its own words, then by the
    tool name.
    """
    if declared in TOOL_KINDS:
        return declared, False  # type: ignore[return-value]
    if declared is None:
        return infer_kind(name), False
    inferred = infer_kind(declared)
    return (inferred if inferred != "other" else infer_kind(name)), True


def _first_str(args: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = args.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _clip(text: str, limit: int = _TITLE_ARG_CHARS) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _command_text(args: Mapping[str, Any]) -> str | None:
    for key in _COMMAND_KEYS:
        value = args.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return " ".join(value)
    return None


def humanize(name: str) -> str:
    """``linear_search`` -> ``Linear search``."""
    words = name_words(name)
    if not words:
        return "Tool call"
    text = " ".join(words)
    return text[0].upper() + text[1:]


def tool_title(name: str | None, kind: ToolKind, raw_input: Any) -> str:
    """A short human title for a tool call, from its kind and arguments."""
    args: Mapping[str, Any] = raw_input if isinstance(raw_input, Mapping) else {}
    path = _first_str(args, _PATH_KEYS)
    verbs: dict[ToolKind, str] = {
        "read": "Read",
        "edit": "Edit",
        "delete": "Delete",
        "fetch": "Fetch",
    }
    if kind == "move":
        src = _first_str(args, ("source", "src", "old_path", "from", "path"))
        dst = _first_str(args, ("destination", "dest", "dst", "new_path", "to"))
        if src and dst:
            return f"Move {_clip(src)} → {_clip(dst)}"
    if kind == "execute" and (command := _command_text(args)):
        return f"Run `{_clip(command)}`"
    if kind == "search" and (query := _first_str(args, _QUERY_KEYS)):
        where = f" in {_clip(path, 40)}" if path else ""
        return f"Search “{_clip(query, 60)}”{where}"
    if kind == "fetch" and (url := _first_str(args, _URL_KEYS)):
        return f"Fetch {_clip(url)}"
    if kind in verbs and path:
        return f"{verbs[kind]} {_clip(path)}"
    base = humanize(name) if name else "Tool call"
    return f"{base}: {_clip(path)}" if path else base


def resolve_path(path: str, cwd: str | None) -> str:
    """Make ``path`` absolute against ``cwd`` when it is relative and a cwd is known."""
    if cwd and not posixpath.isabs(path):
        return posixpath.normpath(posixpath.join(cwd, path))
    return path


def _looks_like_path(value: str) -> bool:
    return 0 < len(value) <= 4096 and "\n" not in value and "\x00" not in value


def tool_locations(raw_input: Any, cwd: str | None) -> list[ToolCallLocation]:
    """The files a tool call names in its arguments, in argument order, without repeats."""
    if not isinstance(raw_input, Mapping):
        return []
    found: list[str] = []
    for key in _PATH_KEYS:
        value = raw_input.get(key)
        if isinstance(value, str) and _looks_like_path(value):
            found.append(value)
    for key in _PATH_LIST_KEYS:
        values = raw_input.get(key)
        if isinstance(values, list):
            found.extend(v for v in values if isinstance(v, str) and _looks_like_path(v))
    line: int | None = None
    for key in _LINE_KEYS:
        value = raw_input.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**32:
            line = value
            break
    locations: list[ToolCallLocation] = []
    seen: set[str] = set()
    for raw_path in found:
        path = resolve_path(raw_path, cwd)
        if path in seen:
            continue
        seen.add(path)
        location: ToolCallLocation = {"path": path}
        if line is not None and not locations:
            location["line"] = line
        locations.append(location)
    return locations


def edit_diff(raw_input: Any, cwd: str | None) -> list[ToolCallContent]:
    """A diff content block for an edit whose arguments carry both old and new text.

    An old text given as ``null`` (the key present) means a new file: ACP's ``oldText:
    null``. Without an old-text key there is no diff, since the old content is unknown.
    """
    if not isinstance(raw_input, Mapping):
        return []
    path = _first_str(raw_input, _PATH_KEYS)
    old_key = next((k for k in _OLD_TEXT_KEYS if k in raw_input), None)
    old = raw_input[old_key] if old_key is not None else None
    new = next((raw_input[k] for k in _NEW_TEXT_KEYS if isinstance(raw_input.get(k), str)), None)
    if path is None or old_key is None or not isinstance(old, str | None) or new is None:
        return []
    diff: DiffToolCallContent = {
        "type": "diff",
        "path": resolve_path(path, cwd),
        "oldText": old,
        "newText": new,
    }
    return [diff]


def terminal_id(raw: Any) -> str | None:
    """The editor terminal a tool's output names (``terminal_id`` or ``terminalId``)."""
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("terminal_id", raw.get("terminalId"))
    return value if isinstance(value, str) and value else None


#: What a replayed card shows for an editor terminal whose output the log does not hold.
TERMINAL_NOT_CAPTURED: Final = (
    "This ran in the editor's terminal, which is gone now; its output was not captured "
    "(the agent never asked the editor for it), so it cannot be shown again."
)
#: Said after replayed terminal output the editor had cut to its byte limit.
TERMINAL_TRUNCATED: Final = "(The editor kept only the end of this output.)"
TERMINAL_NO_OUTPUT: Final = "(no output)"


def exit_sentence(status: Any) -> str | None:
    """How a terminal's command ended (``{exitCode?, signal?}``), in words; None: unknown."""
    if not isinstance(status, Mapping):
        return None
    code, signal = status.get("exitCode"), status.get("signal")
    if isinstance(signal, str) and signal:
        return f"Killed by signal {_clip(signal, 40)}."
    if isinstance(code, int) and not isinstance(code, bool):
        return f"Exited with code {code}."
    return None


def replayed_terminal(output: str | None, truncated: bool, exit_status: Any) -> str:
    """The text a replayed card shows in place of an editor terminal that is gone.

    Args:
        output: What the editor answered to ``terminal/output`` (``None``: never asked).
        truncated: Whether the editor cut that output to its byte limit.
        exit_status: How the command ended, as the editor said (``{exitCode?, signal?}``).
    """
    if output is None:
        parts = [TERMINAL_NOT_CAPTURED]
    else:
        parts = [output.rstrip("\n") or TERMINAL_NO_OUTPUT]
        if truncated:
            parts.append(TERMINAL_TRUNCATED)
    ended = exit_sentence(exit_status)
    if ended is not None:
        parts.append(ended)
    return "\n\n".join(parts)


def text_block(text: str) -> ContentToolCallContent:
    """Wrap text as tool-call content, clipped to :data:`MAX_CONTENT_CHARS`."""
    if len(text) > MAX_CONTENT_CHARS:
        omitted = len(text) - MAX_CONTENT_CHARS
        text = f"{text[:MAX_CONTENT_CHARS]}\n… ({omitted} more characters in rawOutput)"
    return {"type": "content", "content": {"type": "text", "text": text}}


def _output_text(raw_output: Any) -> str | None:
    if raw_output is None:
        return None
    if isinstance(raw_output, str):
        return raw_output
    if isinstance(raw_output, Mapping):
        for key in ("text", "content", "output", "result"):
            value = raw_output.get(key)
            if isinstance(value, str):
                return value
        streams = [raw_output.get(k) for k in ("stdout", "stderr")]
        if any(isinstance(s, str) for s in streams):
            return "\n".join(s for s in streams if isinstance(s, str) and s)
    if (
        isinstance(raw_output, list)
        and raw_output
        and all(
            isinstance(item, Mapping)
            and item.get("type") == "text"
            and isinstance(item.get("text"), str)
            for item in raw_output
        )
    ):
        return "\n".join(item["text"] for item in raw_output)
    try:
        dumped = orjson.dumps(raw_output, option=orjson.OPT_INDENT_2).decode()
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
        dumped = json.dumps(raw_output, indent=2, ensure_ascii=False)
    return f"```json\n{dumped}\n```"


def output_content(raw_output: Any, error: str | None, cwd: str | None) -> list[ToolCallContent]:
    """Tool output (and error, if any) as content blocks for the editor to show.

    Output that names an editor terminal is shown as that terminal (the editor renders
    its output; ``rawOutput`` keeps the text); output shaped like an edit (path, old and
    new text) as a diff; anything else as text.
    """
    content: list[ToolCallContent] = []
    terminal = terminal_id(raw_output)
    diff = edit_diff(raw_output, cwd)
    if terminal is not None:
        content.append({"type": "terminal", "terminalId": terminal})
    elif diff:
        content.extend(diff)
    elif text := _output_text(raw_output):
        content.append(text_block(text))
    if error:
        content.append(text_block(f"Error: {error}"))
    return content
