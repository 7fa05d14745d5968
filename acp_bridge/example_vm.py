"""The built-in example agent VM: a session-mode VM that acts out a realistic turn.

acp-bridge runs it when no VM is configured (``acp-bridge example-vm``). It speaks the
session mode of ``protocol/vm/modes.md``: newline-delimited JSON-RPC 2.0 on its own
stdin and stdout. It has no model behind it; each ``session/prompt`` plays one scripted
turn at a human pace, streamed as ``session/event`` notifications:

1. ``turn_start``;
2. an ``agent_thought_chunk`` streamed in pieces, then a "thinking" pause;
3. a ``plan`` of three steps (four or five when asked to run or write, see below);
4. a ``tool_call`` ``read_file`` (kind ``read``) of a real file under the session's
   ``cwd`` (its README, else the first small text file a bounded scan finds), then
   ``tool_call_update`` ``in_progress`` and ``completed`` with the first lines of the file
   (or ``failed`` when there is no such file or it cannot be read). The file is read
   through the editor (``fs/read_text_file``: its buffer, saved or not) when the editor
   offers that, else from disk;
4a. when the prompt asks to *run* something (a command in backticks, else ``ls -la``): a
   ``run_command`` tool call (kind ``execute``); the user is asked
   (``session/request_permission``); if allowed the command runs in an editor terminal
   (``terminal/create``, ``wait_for_exit``, ``output``, ``release``), whose id the tool
   call's output names so that the editor shows the terminal, or, when the editor offers
   none, here (its output shown as text). Rejected: the call fails, nothing runs;
4b. when the prompt asks to *write*, *save* or take *notes*: a ``write_file`` tool call
   (kind ``edit``) whose input is the diff of ``acp-bridge-notes.md`` in ``cwd``; the user
   is asked, with the diff; if allowed the file is written through the editor
   (``fs/write_text_file``) or, when the editor does not offer that, to disk. Rejected:
   the call fails, nothing is written;
5. a second ``agent_thought_chunk`` about the result, then another pause;
6. the ``plan`` again (reading done, answering in progress);
7. ``agent_message_chunk`` events, a few words each, that echo the request and summarise
   the file;
8. the ``plan`` with every step completed, and ``turn_end``.

The prompt is then answered ``{"stopReason": "end_turn"}``. ``session/cancel`` stops the
turn at once: any open tool call is failed with ``"cancelled"`` and the prompt is answered
``cancelled`` (a permission request open at that moment is answered ``cancelled`` by the
bridge; a command running in an editor terminal is killed and its terminal released).
Closing stdin ends the process (status 0), even in the middle of a turn.

The pace is scaled by ``ACP_BRIDGE_EXAMPLE_PACE`` (a float multiplier; ``0`` never sleeps).
Only the standard library and orjson are imported, so that the VM starts fast. stdout
carries the protocol only, written by :func:`send`; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import codecs
import itertools
import logging
import math
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TypeAlias

import orjson

from acp_bridge import __version__

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

log = logging.getLogger(__name__)

JsonObject: TypeAlias = dict[str, Any]

PROTOCOL_VERSION: Final = 1
AGENT_NAME: Final = "acp-bridge-example-vm"
PACE_ENV: Final = "ACP_BRIDGE_EXAMPLE_PACE"

# JSON-RPC error codes
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602

# The pace of a turn, in seconds before the multiplier.
CHUNK_DELAY: Final = 0.025  # before each streamed piece of text
EVENT_DELAY: Final = 0.08  # before each plan and tool event
FIRST_THOUGHT_DELAY: Final = 0.2  # between turn_start and the first thought
THINKING_PAUSES: Final = (0.3, 0.35)  # after each thought
TOOL_DELAY: Final = 0.15  # the tool "working"
THOUGHT_WORDS_PER_CHUNK: Final = 4
MESSAGE_WORDS_PER_CHUNK: Final = 3

# What the read_file tool looks at.
PREVIEW_LINES: Final = 40
MAX_READ_BYTES: Final = 1024 * 1024  # beyond this the line count is a lower bound
SMALL_FILE_BYTES: Final = 64 * 1024  # the scan's idea of "small"
SNIFF_BYTES: Final = 4096  # how much of a candidate the scan reads to call it text
SCAN_MAX_ENTRIES: Final = 2000
SCAN_MAX_DEPTH: Final = 3
SKIP_DIRS: Final = frozenset({"node_modules", "__pycache__", "venv", "target", "build", "dist"})
FALLBACK_PATH: Final = "README.md"  # what the tool call names when nothing was found

# What the write_file and run_command tools do, when the prompt asks for them.
NOTES_FILE: Final = "acp-bridge-notes.md"
DEFAULT_COMMAND: Final = ("ls", "-la")
COMMAND_OUTPUT_LIMIT: Final = 64 * 1024
COMMAND_TIMEOUT: Final = 30.0  # running a command ourselves (no editor terminal)
CALL_POLL: Final = 0.05  # how often a turn waiting on the editor checks for a cancel
CALL_CANCEL_WAIT: Final = 2.0  # how long a cancelled turn waits for a pending call's answer
PERMISSION_OPTIONS: Final = (
    {"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"},
    {"optionId": "allow_always", "name": "Always allow", "kind": "allow_always"},
    {"optionId": "reject_once", "name": "Reject", "kind": "reject_once"},
    {"optionId": "reject_always", "name": "Always reject", "kind": "reject_always"},
)

_WORD = re.compile(r"\S+\s*")
_WRITE_WORDS = re.compile(r"\b(write|save|notes?)\b", re.IGNORECASE)
_RUN_WORDS = re.compile(r"\brun\b", re.IGNORECASE)
_BACKTICKS = re.compile(r"`([^`\n]+)`")
_ATX_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+|~+|\^+|\*+)\s*$")


# --------------------------------------------------------------------------- the wire


def send(message: JsonObject) -> None:
    """Write one JSON-RPC message as one line on stdout: the VM's only stdout writer."""
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")  # wire
    sys.stdout.buffer.flush()  # wire


def _answer(msg_id: Any, result: Any) -> None:
    send({"jsonrpc": "2.0", "id": msg_id, "result": result})


def _answer_error(msg_id: Any, code: int, message: str) -> None:
    send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})


# --------------------------------------------------------------------------- reading stdin


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from the bridge, with the flag that cancels it if it is a prompt."""

    message: JsonObject
    cancelled: threading.Event


class Inbox:
    """What the stdin reader thread hands to the main thread.

    Messages are queued in order and handled one at a time, so a prompt that arrives while
    a turn runs waits for it. ``session/cancel`` is not queued: the reader sets the cancel
    flag of every prompt not answered yet, which wakes the running turn out of its pauses.
    End of input sets :attr:`eof`, cancels everything and queues ``None``.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[Incoming | None] = queue.Queue()
        self.eof = threading.Event()
        self.calls = Calls()
        self._lock = threading.Lock()
        self._open_prompts: list[threading.Event] = []

    def put(self, message: JsonObject) -> None:
        """Queue a message; a prompt's cancel flag is registered until it is answered."""
        cancelled = threading.Event()
        if message.get("method") == "session/prompt":
            with self._lock:
                self._open_prompts.append(cancelled)
        self.queue.put(Incoming(message, cancelled))

    def cancel_prompts(self) -> None:
        """Cancel the running prompt and every queued one."""
        with self._lock:
            for cancelled in self._open_prompts:
                cancelled.set()
            self._open_prompts.clear()

    def done(self, incoming: Incoming) -> None:
        """Forget a message's cancel flag once it has been handled."""
        with self._lock:
            if incoming.cancelled in self._open_prompts:
                self._open_prompts.remove(incoming.cancelled)

    def close(self) -> None:
        """Stdin ended: stop whatever runs, then let the main loop finish."""
        self.eof.set()
        self.cancel_prompts()
        self.calls.abandon()
        self.queue.put(None)


@dataclass(slots=True)
class Call:
    """A request this VM made of the bridge, until its answer arrives."""

    method: str
    done: threading.Event = field(default_factory=threading.Event)
    answer: JsonObject | None = None


class Calls:
    """The VM's own requests to the bridge (the editor's powers), matched to their answers.

    The main thread sends a request and waits; the stdin reader thread hands the answer
    over. Ids are this VM's own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, Call] = {}

    def start(self, method: str, params: JsonObject) -> Call:
        """Send a request; the returned call is done once it is answered (or abandoned)."""
        call = Call(method)
        with self._lock:
            msg_id = next(self._ids)
            self._pending[msg_id] = call
        send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return call

    def resolve(self, message: JsonObject) -> bool:
        """Hand an answer to its call; ``False`` if no request of ours has that id."""
        with self._lock:
            call = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if call is None:
            return False
        call.answer = message
        call.done.set()
        return True

    def abandon(self) -> None:
        """Stdin ended: no answer will come; wake every waiting call."""
        with self._lock:
            calls = list(self._pending.values())
            self._pending.clear()
        for call in calls:
            call.done.set()


def parse_line(line: bytes) -> JsonObject | None:
    """Parse one line from the bridge; log and return ``None`` when it is unusable."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        message = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        log.warning("ignoring a line that is not JSON (%s): %r", exc, stripped[:200])
        return None
    if not isinstance(message, dict):
        log.warning("ignoring a JSON line that is not an object: %r", stripped[:200])
        return None
    return message


def read_stdin(stream: BinaryIO, inbox: Inbox) -> None:
    """Body of the reader thread: parse lines, act on cancels, queue the rest."""
    try:
        while line := stream.readline():
            message = parse_line(line)
            if message is None:
                continue
            if message.get("method") == "session/cancel":
                log.debug("session/cancel received")
                inbox.cancel_prompts()
                if "id" not in message:  # a notification, as it should be
                    continue
            if "method" not in message and "id" in message and inbox.calls.resolve(message):
                continue  # the answer to one of our requests: the waiting turn takes it
            inbox.put(message)
    except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
        log.warning("stopped reading stdin: %s", exc)
    finally:
        inbox.close()


# --------------------------------------------------------------------------- the read_file tool


@dataclass(frozen=True, slots=True)
class FileSummary:
    """What the example agent learnt from reading a file."""

    preview: str  # the first PREVIEW_LINES lines
    line_count: int
    complete: bool  # False when the file exceeds MAX_READ_BYTES: line_count is a lower bound
    heading: str | None
    opening: str | None  # the first line of prose


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with every symlink resolved, is within ``root`` (resolved)."""
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        log.debug("cannot resolve %s: %s", path, exc)
        return False


def _looks_like_text(path: Path) -> bool:
    """A small, non-empty file whose first bytes are UTF-8 without NUL bytes."""
    try:
        size = path.stat().st_size
        if not 0 < size <= SMALL_FILE_BYTES:
            return False
        with path.open("rb") as file:
            head = file.read(SNIFF_BYTES)
    except OSError as exc:
        log.debug("skipping %s: %s", path, exc)
        return False
    if b"\0" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _scan_for_text_file(root: Path) -> Path | None:
    """Breadth-first, sorted, bounded: the first small text file under ``root``.

    Hidden entries and bulky build directories are skipped and no symlink is followed, so
    the scan never leaves ``root``.
    """
    budget = SCAN_MAX_ENTRIES
    level = [root]
    for _depth in range(SCAN_MAX_DEPTH + 1):
        deeper: list[Path] = []
        for directory in level:
            try:
                with os.scandir(directory) as listing:
                    entries = sorted(itertools.islice(listing, budget), key=lambda e: e.name)
            except OSError as exc:
                log.debug("cannot list %s: %s", directory, exc)
                continue
            budget -= len(entries)
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIP_DIRS:
                            deeper.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False) and _looks_like_text(
                        Path(entry.path)
                    ):
                        return Path(entry.path)
                except OSError as exc:
                    log.debug("skipping %s: %s", entry.path, exc)
            if budget <= 0:
                return None
        level = deeper
    return None


def find_file(cwd: Path) -> str | None:
    """The path, relative to ``cwd``, of the file the example agent reads; ``None`` if none.

    A README at the top (``README.md`` first, then any ``README*``) wins, readable or not
    (reading it is the tool's job); otherwise the first small text file of a bounded scan.
    """
    try:
        root = cwd.resolve(strict=True)
        names = sorted(os.listdir(root))
    except OSError as exc:
        log.warning("cannot look into the session directory %s: %s", cwd, exc)
        return None
    readmes = sorted(
        (name for name in names if name.lower().startswith("readme")),
        key=lambda name: (name != "README.md", name.lower() != "readme.md", name),
    )
    for name in readmes:
        path = root / name
        if path.is_file() and _inside(path, root):
            return name
    found = _scan_for_text_file(root)
    return found.relative_to(root).as_posix() if found is not None else None


def _first_heading(lines: list[str]) -> str | None:
    """The first Markdown (``# Title``) or underlined (Markdown/reST) heading."""
    for index, line in enumerate(lines):
        atx = _ATX_HEADING.match(line)
        if atx and atx.group(1).strip():
            return atx.group(1).strip()
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() and not _UNDERLINE.match(line) and _UNDERLINE.match(following):
            return line.strip()
    return None


def _opening(lines: list[str], heading: str | None) -> str | None:
    """The first line that reads like prose (not a heading, rule, badge or markup)."""
    for line in lines:
        text = line.strip()
        if not text or text == heading or _UNDERLINE.match(text) or _ATX_HEADING.match(text):
            continue
        if text[0].isalnum():
            return _shorten(text, 160)
    return None


def summarise_file(path: Path) -> FileSummary:
    """Read ``path`` (at most :data:`MAX_READ_BYTES`) and summarise it.

    Raises:
        OSError: The file cannot be opened or read.
    """
    with path.open("rb") as file:
        data = file.read(MAX_READ_BYTES + 1)
    complete = len(data) <= MAX_READ_BYTES
    return summarise_text(data[:MAX_READ_BYTES].decode("utf-8", errors="replace"), complete)


def summarise_text(text: str, complete: bool) -> FileSummary:
    """Summarise a file's text (``complete``: all of it, so the line count is exact)."""
    lines = text.splitlines()
    preview = "".join(text.splitlines(keepends=True)[:PREVIEW_LINES])
    heading = _first_heading(lines)
    return FileSummary(
        preview=preview,
        line_count=len(lines),
        complete=complete,
        heading=heading,
        opening=_opening(lines, heading),
    )


# --------------------------------------------------------------------------- words


def chunk_words(text: str, words_per_chunk: int) -> Iterator[str]:
    """Split ``text`` into pieces of a few words; the pieces concatenate back to ``text``."""
    words = _WORD.findall(text)
    for start in range(0, len(words), words_per_chunk):
        yield "".join(words[start : start + words_per_chunk])


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quoted(text: str, limit: int) -> str:
    """``text`` shortened and in quotes, ending a sentence (with a full stop if it has none)."""
    text = _shorten(text, limit)
    return f"“{text}”" + ("" if text.endswith((".", "?", "!", "…")) else ".")


def _join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


def _block_name(block: JsonObject) -> str | None:
    """How the answer names a non-text content block (a resource link by its name)."""
    kind = block.get("type")
    if kind == "resource_link":
        name = block.get("name") or block.get("title")
        uri = block.get("uri")
        if isinstance(name, str) and name:
            return name
        return uri.rstrip("/").rsplit("/", 1)[-1] if isinstance(uri, str) and uri else None
    if kind == "resource":
        resource = block.get("resource")
        uri = resource.get("uri") if isinstance(resource, dict) else None
        return uri.rstrip("/").rsplit("/", 1)[-1] if isinstance(uri, str) and uri else None
    if kind == "image":
        return "an image"
    if kind == "audio":
        return "an audio clip"
    return None


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked: the prompt's text, what they attached, and what to do.

    ``write_notes`` is set when the text asks to write, save or take notes; ``command``
    when it asks to run something: the first command in backticks, else ``ls -la``.
    """

    text: str
    attachments: list[str]
    write_notes: bool = False
    command: list[str] | None = None

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
        return cls(
            text=" ".join(raw.split()),
            attachments=attachments,
            write_notes=_WRITE_WORDS.search(raw) is not None,
            command=_command_in(raw),
        )


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
        fs: JsonObject = given if isinstance(given, dict) else {}
        return cls(
            read=fs.get("readTextFile") is True,
            write=fs.get("writeTextFile") is True,
            terminal=caps.get("terminal") is True,
        )


# --------------------------------------------------------------------------- a turn


class Cancelled(Exception):
    """The running turn was cancelled (``session/cancel``, or the end of stdin)."""


class EndOfInput(Exception):
    """Stdin ended while a turn ran: the session is over."""


class EditorError(Exception):
    """The bridge (or the editor behind it) answered one of our requests with an error."""

    def __init__(self, method: str, error: Any) -> None:
        details = error if isinstance(error, dict) else {}
        self.code = details.get("code")
        self.reason = str(details.get("message") or error)
        super().__init__(f"{method} failed: {self.reason} ({self.code})")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a tool call of the turn went, in words for the answer."""

    tool_name: str
    sentence: str
    failed: bool = False


@dataclass(slots=True)
class Turn:
    """One scripted turn of the example agent."""

    session_id: str
    cwd: Path
    iteration: int
    pace: float
    cancelled: threading.Event
    eof: threading.Event
    calls: Calls = field(default_factory=Calls)
    powers: Powers = field(default_factory=Powers)
    steps: list[str] = field(default_factory=list)
    open_tool_call: tuple[str, str] | None = None  # (id, tool name)
    tool_calls: int = 0

    def emit(self, event_type: str, **fields: Any) -> None:
        """Send one AgentEvent as a ``session/event`` notification."""
        event = {"type": event_type, "session_id": self.session_id, **fields}
        send({"jsonrpc": "2.0", "method": "session/event", "params": {"event": event}})

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
        if "error" in call.answer:
            if self.cancelled.is_set():  # refused or withdrawn because of the cancel
                raise Cancelled
            raise EditorError(method, call.answer["error"])
        result = call.answer.get("result")
        return result if isinstance(result, dict) else {}

    def cleanup_call(self, method: str, params: JsonObject) -> None:
        """A call that tidies up after a tool (kill or release a terminal); never raises."""
        try:
            self.call(method, params)
        except (EditorError, Cancelled) as exc:
            log.info("%s: %s", method, exc)

    def run(self, request: Request) -> str:
        """Play the turn; return the stop reason (``end_turn`` or ``cancelled``).

        Raises:
            EndOfInput: Stdin ended during the turn (the caller exits without answering).
        """
        try:
            self._play(request)
        except Cancelled:
            if self.eof.is_set():  # nobody listens any more: write nothing, just stop
                raise EndOfInput from None
            if self.open_tool_call is not None:
                call_id, tool_name = self.open_tool_call
                self.emit(
                    "tool_call_update",
                    tool_call_id=call_id,
                    tool_name=tool_name,
                    status="failed",
                    error="cancelled",
                )
                self.open_tool_call = None
            return "cancelled"
        return "end_turn"

    def _play(self, request: Request) -> None:
        self.emit("turn_start", iteration=self.iteration)
        self.pause(FIRST_THOUGHT_DELAY)
        found = find_file(self.cwd)
        target = found or FALLBACK_PATH
        self.steps = [
            "Understand the request",
            f"Read {target}",
            *([f"Run `{shlex.join(request.command)}`"] if request.command else []),
            *([f"Write {NOTES_FILE}"] if request.write_notes else []),
            "Answer with a short summary",
        ]
        self.stream(
            "agent_thought_chunk", _first_thought(request, self.cwd, found), THOUGHT_WORDS_PER_CHUNK
        )
        self.pause(THINKING_PAUSES[0])
        step = 1
        self.plan(step)
        summary, error = self._read_file(target, found is not None)
        outcomes = [Outcome("read_file", "", failed=summary is None)]
        if request.command:
            step += 1
            self.plan(step)
            outcomes.append(self._run_command(request.command))
        if request.write_notes:
            step += 1
            self.plan(step)
            outcomes.append(self._write_notes(request, target, summary, error, outcomes[1:]))

        self.pause(EVENT_DELAY)
        self.stream(
            "agent_thought_chunk", _second_thought(target, summary, error), THOUGHT_WORDS_PER_CHUNK
        )
        self.pause(THINKING_PAUSES[1])
        self.plan(step + 1)
        answer = _answer_text(request, self.cwd, target, summary, error)
        extra = " ".join(o.sentence for o in outcomes if o.sentence)
        if extra:
            head, _, tail = answer.rpartition("\n\n")
            answer = f"{head}\n\n{extra}\n\n{tail}"
        self.stream("agent_message_chunk", answer, MESSAGE_WORDS_PER_CHUNK)
        self.plan(len(self.steps))
        self.pause(EVENT_DELAY)
        self.emit(
            "turn_end",
            iteration=self.iteration,
            turn_info={
                "tool_names": [o.tool_name for o in outcomes],
                "tool_count": len(outcomes),
                "iteration": self.iteration,
                "failed": False,
            },
        )

    def _open(self, tool_name: str, kind: str, raw_input: JsonObject) -> str:
        """Announce a tool call (``pending``); return its id."""
        self.tool_calls += 1
        call_id = f"call_{self.iteration}_{self.tool_calls}"
        self.pause(EVENT_DELAY)
        self.open_tool_call = (call_id, tool_name)
        self.emit(
            "tool_call",
            tool_call_id=call_id,
            tool_name=tool_name,
            kind=kind,
            status="pending",
            raw_input=raw_input,
        )
        return call_id

    def _close(self, status: str, **fields: Any) -> None:
        """The open tool call's last update (``completed`` or ``failed``)."""
        assert self.open_tool_call is not None
        call_id, tool_name = self.open_tool_call
        self.emit(
            "tool_call_update", tool_call_id=call_id, tool_name=tool_name, status=status, **fields
        )
        self.open_tool_call = None

    def _progress(self, **fields: Any) -> None:
        assert self.open_tool_call is not None
        call_id, tool_name = self.open_tool_call
        self.emit(
            "tool_call_update",
            tool_call_id=call_id,
            tool_name=tool_name,
            status="in_progress",
            **fields,
        )

    def _allowed(self, tool_call: JsonObject) -> tuple[bool, str]:
        """Ask the user (``session/request_permission``); return (allowed, why not).

        Raises:
            Cancelled: The turn was cancelled while the question was open.
        """
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

    def _read_file(self, target: str, exists: bool) -> tuple[FileSummary | None, str | None]:
        """The read_file tool call, from ``tool_call`` to its terminal update."""
        self._open("read_file", "read", {"path": target})
        self.pause(EVENT_DELAY)
        self._progress()
        started = time.monotonic()
        summary: FileSummary | None = None
        error: str | None = None
        if not exists:
            error = f"no readable text file found in {self.cwd}"
        else:
            try:
                summary = self._summarise(self.cwd / target)
            except OSError as exc:
                error = f"{exc.strerror or exc}: {target}"
                log.info("read_file %s failed: %s", target, exc)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        self.pause(TOOL_DELAY)
        if summary is not None:
            self._close("completed", raw_output={"text": summary.preview}, duration_ms=elapsed_ms)
        else:
            self._close("failed", error=error, duration_ms=elapsed_ms)
        return summary, error

    def _summarise(self, path: Path) -> FileSummary:
        """Summarise a file, read through the editor (its buffer) when it offers that.

        Raises:
            OSError: Reading it ourselves failed.
        """
        if self.powers.read:
            try:
                answer = self.call("fs/read_text_file", {"path": str(path)})
            except EditorError as exc:
                log.info("%s; reading it myself", exc)
            else:
                if isinstance(answer.get("content"), str):
                    return summarise_text(answer["content"], complete=True)
        return summarise_file(path)

    def _current_text(self, path: Path) -> str | None:
        """A file's text as the editor has it (else from disk); ``None`` if it is new."""
        if self.powers.read:
            try:
                answer = self.call("fs/read_text_file", {"path": str(path)})
            except EditorError as exc:  # most likely: no such file yet
                log.info("%s; looking on disk", exc)
            else:
                if isinstance(answer.get("content"), str):
                    return str(answer["content"])
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.info("cannot read %s: %s", path, exc)
            return None

    def _write_notes(
        self,
        request: Request,
        target: str,
        summary: FileSummary | None,
        error: str | None,
        done: list[Outcome],
    ) -> Outcome:
        """The write_file tool call: show the diff, ask, then write (editor or disk)."""
        path = self.cwd / NOTES_FILE
        old = self._current_text(path)
        new = _notes_text(request, target, summary, error, done)
        raw_input = {"path": str(path), "old_text": old, "new_text": new}
        call_id = self._open("write_file", "edit", raw_input)
        allowed, why = self._allowed(
            {
                "toolCallId": call_id,
                "title": f"Write {NOTES_FILE}",
                "kind": "edit",
                "status": "pending",
                "rawInput": raw_input,
                "content": [{"type": "diff", "path": str(path), "oldText": old, "newText": new}],
                "locations": [{"path": str(path)}],
            }
        )
        if not allowed:
            self._close("failed", error=f"not written: {why}")
            return Outcome("write_file", f"I did not write {NOTES_FILE}: {why}.", failed=True)
        self._progress()
        try:
            if self.powers.write:
                self.call("fs/write_text_file", {"path": str(path), "content": new})
                how = "through the editor"
            else:
                path.write_text(new, encoding="utf-8")
                how = "myself, since the editor does not offer to write files"
        except (EditorError, OSError) as exc:
            log.warning("writing %s failed: %s", path, exc)
            self._close("failed", error=f"writing {path} failed: {exc}")
            return Outcome("write_file", f"Writing {NOTES_FILE} failed: {exc}.", failed=True)
        self._close("completed", raw_output=raw_input)
        verb = "created" if old is None else "updated"
        return Outcome("write_file", f"With your permission I {verb} {NOTES_FILE} {how}.")

    def _run_command(self, command: list[str]) -> Outcome:
        """The run_command tool call: ask, then run in the editor's terminal (or here)."""
        text = shlex.join(command)
        raw_input = {"command": text, "cwd": str(self.cwd)}
        call_id = self._open("run_command", "execute", raw_input)
        allowed, why = self._allowed(
            {
                "toolCallId": call_id,
                "title": f"Run `{text}`",
                "kind": "execute",
                "status": "pending",
                "rawInput": raw_input,
            }
        )
        if not allowed:
            self._close("failed", error=f"not run: {why}")
            return Outcome("run_command", f"I did not run `{text}`: {why}.", failed=True)
        self._progress()
        if self.powers.terminal:
            return self._run_in_terminal(command, text)
        return self._run_here(command, text)

    def _run_in_terminal(self, command: list[str], text: str) -> Outcome:
        """Run through ``terminal/*``: the editor shows the terminal as the tool's content."""
        try:
            created = self.call(
                "terminal/create",
                {
                    "command": command[0],
                    "args": command[1:],
                    "cwd": str(self.cwd),
                    "outputByteLimit": COMMAND_OUTPUT_LIMIT,
                },
            )
        except EditorError as exc:
            self._close("failed", error=str(exc))
            return Outcome("run_command", f"The editor could not run `{text}`: {exc.reason}.", True)
        terminal = str(created.get("terminalId"))
        self._progress(raw_output={"terminal_id": terminal})
        try:
            exited = self.call("terminal/wait_for_exit", {"terminalId": terminal})
            output = self.call("terminal/output", {"terminalId": terminal})
        except Cancelled:
            self.cleanup_call("terminal/kill", {"terminalId": terminal})
            self.cleanup_call("terminal/release", {"terminalId": terminal})
            raise
        except EditorError as exc:
            self.cleanup_call("terminal/release", {"terminalId": terminal})
            self._close("failed", error=str(exc), raw_output={"terminal_id": terminal})
            return Outcome("run_command", f"Running `{text}` failed: {exc.reason}.", failed=True)
        code = exited.get("exitCode")
        result = {
            "terminal_id": terminal,
            "exit_code": code,
            "signal": exited.get("signal"),
            "output": output.get("output"),
            "truncated": output.get("truncated"),
        }
        if code == 0:
            self._close("completed", raw_output=result)
        else:
            self._close("failed", raw_output=result, error=_exit_text(code, exited.get("signal")))
        self.cleanup_call("terminal/release", {"terminalId": terminal})
        status = _exit_text(code, exited.get("signal"))
        return Outcome("run_command", f"I ran `{text}` in the editor's terminal: {status}.")

    def _run_here(self, command: list[str], text: str) -> Outcome:
        """Run the command ourselves (the editor offers no terminal); output as text."""
        try:
            proc = subprocess.Popen(
                command,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            self._close("failed", error=f"cannot run {text}: {exc}")
            return Outcome("run_command", f"I could not run `{text}`: {exc}.", failed=True)
        started = time.monotonic()
        out: bytes | None = None
        while out is None:
            try:
                out, _ = proc.communicate(timeout=CALL_POLL)
            except subprocess.TimeoutExpired:
                if self.cancelled.is_set() or time.monotonic() - started > COMMAND_TIMEOUT:
                    proc.kill()
                    proc.communicate()
                    if self.cancelled.is_set():
                        raise Cancelled from None
                    self._close("failed", error=f"timed out after {COMMAND_TIMEOUT:.0f} s")
                    return Outcome("run_command", f"`{text}` took too long; I stopped it.", True)
        output = out[:COMMAND_OUTPUT_LIMIT].decode("utf-8", errors="replace")
        result = {"stdout": output, "exit_code": proc.returncode}
        status = _exit_text(proc.returncode, None)
        if proc.returncode == 0:
            self._close("completed", raw_output=result)
        else:
            self._close("failed", raw_output=result, error=status)
        how = "myself, since the editor offers no terminal"
        return Outcome("run_command", f"I ran `{text}` {how}: {status}.")


def _exit_text(code: Any, signal: Any) -> str:
    if signal:
        return f"it was stopped by {signal}"
    if code == 0:
        return "it succeeded"
    return f"it exited with status {code}"


def _notes_text(
    request: Request,
    target: str,
    summary: FileSummary | None,
    error: str | None,
    done: list[Outcome],
) -> str:
    """The notes file the example agent writes: what was asked and what it found."""
    lines = ["# Notes from acp-bridge's example agent", ""]
    if request.text:
        lines += [f"Asked: {_shorten(request.text, 200)}", ""]
    if summary is None:
        lines.append(f"- {target}: could not be read ({error})")
    else:
        heading = f", headed “{summary.heading}”" if summary.heading else ""
        lines.append(f"- {target}: {_lines(summary.line_count)}{heading}")
        if summary.opening:
            lines.append(f"  - begins: {summary.opening}")
    lines.extend(f"- {outcome.sentence}" for outcome in done if outcome.sentence)
    return "\n".join(lines) + "\n"


def _place(cwd: Path) -> str:
    return cwd.name or str(cwd)


def _first_thought(request: Request, cwd: Path, found: str | None) -> str:
    asked = (
        f"The user asks {_quoted(request.text, 80)}"
        if request.text
        else "The prompt has no text, only attachments."
    )
    look = (
        f"{found} looks like the place to start."
        if found
        else "I will look for a README or some other text file there."
    )
    return f"{asked} Before answering I should look at the project in {_place(cwd)}; {look}"


def _second_thought(target: str, summary: FileSummary | None, error: str | None) -> str:
    if summary is None:
        return f"Reading {target} failed ({error}). I will say so in the answer."
    about = f", headed “{summary.heading}”" if summary.heading else ""
    return f"{target} has {_lines(summary.line_count)}{about}. That is enough for a short answer."


def _answer_text(
    request: Request, cwd: Path, target: str, summary: FileSummary | None, error: str | None
) -> str:
    asked = f"You asked: {_quoted(request.text, 200)}" if request.text else "You sent no text."
    if request.attachments:
        asked += f" You also pointed me at {_join_names(request.attachments)}."
    if summary is None:
        found = f"I tried to read {target} in {_place(cwd)}, but could not: {error}."
    else:
        count = (
            _lines(summary.line_count)
            if summary.complete
            else (f"more than {_lines(summary.line_count)}")
        )
        heading = (
            f"and its first heading is “{summary.heading}”."
            if summary.heading
            else "and no heading that I could find."
        )
        found = f"I read {target} in {_place(cwd)}: it has {count}, {heading}"
        if summary.opening:
            found += f" It begins: “{summary.opening}”"
    outro = (
        "I am acp-bridge's built-in example VM, so that is as far as I go: start acp-bridge "
        "with --vm or --vm-exec to talk to a real agent."
    )
    return "\n\n".join((asked, found, outro))


# --------------------------------------------------------------------------- the VM


class ExampleVm:
    """The main loop: answers requests one at a time, playing a turn per prompt."""

    def __init__(self, pace: float, stdin: BinaryIO) -> None:
        self.pace = pace
        self.stdin = stdin
        self.inbox = Inbox()
        self.session_id = os.environ.get("ACP_BRIDGE_SESSION_ID") or "example"
        try:
            self.cwd = Path.cwd()  # initialize names the session's cwd; this is a fallback
        except OSError as exc:  # the directory was removed under us
            log.warning("no current directory: %s", exc)
            self.cwd = Path(".")
        self.turns = 0
        self.powers = Powers()

    def serve(self) -> int:
        """Serve until stdin ends; return the exit status (0)."""
        reader = threading.Thread(
            target=read_stdin, args=(self.stdin, self.inbox), name="stdin", daemon=True
        )
        reader.start()
        while (incoming := self.inbox.queue.get()) is not None:
            try:
                self.dispatch(incoming)
            except EndOfInput:
                break
            finally:
                self.inbox.done(incoming)
        log.debug("stdin closed: exiting")
        return 0

    def dispatch(self, incoming: Incoming) -> None:
        """Handle one message from the bridge."""
        message = incoming.message
        method = message.get("method")
        is_request = "id" in message
        msg_id = message.get("id")
        if not isinstance(method, str):
            if is_request:
                log.warning("ignoring a response to a request never sent (id %r)", msg_id)
            else:
                log.warning("ignoring a message with neither method nor id: %r", message)
                # not JSON-RPC at all: there is no id to answer with an error
            return
        params = message.get("params", {})
        if not isinstance(params, dict):
            if is_request:
                _answer_error(msg_id, INVALID_PARAMS, f"params of {method} must be an object")
            else:
                log.warning("ignoring %s: params is not an object", method)
            return
        if not is_request:
            log.info("ignoring the notification %s", method)
        elif method == "initialize":
            _answer(msg_id, self.initialize(params))
        elif method == "session/prompt":
            self.prompt(msg_id, params, incoming.cancelled)
        elif method == "session/cancel":  # sent as a request: already acted on by the reader
            _answer(msg_id, None)
        else:
            _answer_error(msg_id, METHOD_NOT_FOUND, f"method not found: {method}")

    def initialize(self, params: JsonObject) -> JsonObject:
        """Remember the session and the cwd; say who we are."""
        if isinstance(params.get("sessionId"), str):
            self.session_id = params["sessionId"]
        if isinstance(params.get("cwd"), str):
            self.cwd = Path(params["cwd"])
        self.powers = Powers.from_capabilities(params.get("clientCapabilities"))
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "agentInfo": {
                "name": AGENT_NAME,
                "title": "acp-bridge example VM",
                "version": __version__,
            },
        }

    def prompt(self, msg_id: Any, params: JsonObject, cancelled: threading.Event) -> None:
        """Play one turn for a ``session/prompt`` and answer it.

        Raises:
            EndOfInput: Stdin ended during the turn.
        """
        prompt = params.get("prompt")
        if not isinstance(prompt, list):
            _answer_error(msg_id, INVALID_PARAMS, "session/prompt needs a 'prompt' list")
            return
        if cancelled.is_set():  # cancelled while it waited behind another prompt
            _answer(msg_id, {"stopReason": "cancelled"})
            return
        session_id = params.get("sessionId")
        self.turns += 1
        turn = Turn(
            session_id=session_id if isinstance(session_id, str) else self.session_id,
            cwd=self.cwd,
            iteration=self.turns,
            pace=self.pace,
            cancelled=cancelled,
            eof=self.inbox.eof,
            calls=self.inbox.calls,
            powers=self.powers,
        )
        stop_reason = turn.run(Request.from_prompt(prompt))
        _answer(msg_id, {"stopReason": stop_reason})


# --------------------------------------------------------------------------- entry point


def pace_from_env() -> float:
    """The pace multiplier from ``ACP_BRIDGE_EXAMPLE_PACE`` (1.0 when unset or invalid)."""
    raw = os.environ.get(PACE_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        pace = float(raw)
    except ValueError:
        pace = math.nan
    if not math.isfinite(pace) or pace < 0:
        log.warning("%s=%r is not a non-negative number: using 1", PACE_ENV, raw)
        return 1.0
    return pace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acp-bridge example-vm",
        description="acp-bridge's example agent VM (session mode, JSON-RPC on stdin/stdout).",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        help=f"speed multiplier of a turn, 0 for no pauses (default: ${PACE_ENV} or 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example VM on stdin/stdout until stdin ends."""
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:  # run on its own, not through the acp-bridge CLI
        logging.basicConfig(
            stream=sys.stderr,
            level=logging.WARNING,
            format="example-vm: %(levelname)s: %(message)s",
        )
    pace = max(args.pace, 0.0) if args.pace is not None else pace_from_env()
    try:
        return ExampleVm(pace, sys.stdin.buffer).serve()
    except BrokenPipeError:
        log.info("stdout was closed: the bridge went away")
        # Point stdout at /dev/null so that the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
