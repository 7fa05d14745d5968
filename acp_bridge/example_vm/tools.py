"""The example agent's three tools, each one tool call from its announcement to its end.

- :func:`read_file`: read the project's file, through the editor (its buffer) when it offers
  ``fs/read_text_file``, else from disk; an editor that offers reads and refuses this one
  fails the call with its message, and nothing is read from disk;
- :func:`run_command`: ask (unless the session is in ``auto`` mode), then run a command in
  the editor's terminal (``terminal/*``), or here when the editor offers none or ``/files``
  asks for it, its output streamed live as ``terminal_output`` events;
- :func:`write_notes`: show the diff, ask (unless in ``auto`` mode), then write the notes
  file through the editor (``fs/write_text_file``) or to disk. Its old text comes from the
  editor too when it offers reads; an error there means the file is new (editors say "not
  found" in different ways), and the disk is not read instead.

Rule: every tool ends its tool call (``completed`` or ``failed``) before it returns; only
:class:`~.turn.Cancelled` leaves one open, for the turn to fail.
"""

from __future__ import annotations

import codecs
import logging
import queue
import shlex
import signal
import subprocess
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Final

from acp_bridge.example_vm.prose import Outcome, exit_text
from acp_bridge.example_vm.turn import CALL_POLL, EVENT_DELAY, Cancelled, EditorError
from acp_bridge.example_vm.workspace import FileSummary, summarise_file, summarise_text

if TYPE_CHECKING:
    from pathlib import Path

    from acp_bridge.example_vm.turn import Turn
    from acp_bridge.jsonrpc.messages import JsonObject

log = logging.getLogger(__name__)

NOTES_FILE: Final = "acp-bridge-notes.md"
TOOL_DELAY: Final = 0.15  # the tool "working", before the pace multiplier
COMMAND_OUTPUT_LIMIT: Final = 64 * 1024
COMMAND_TIMEOUT: Final = 30.0  # running a command ourselves (no editor terminal)
READ_BYTES: Final = 4096  # how much of a command's output one read takes


def read_file(turn: Turn, target: str, exists: bool) -> tuple[FileSummary | None, str | None]:
    """The read_file tool call; return the summary, or why there is none."""
    turn.open_tool("read_file", "read", {"path": target})
    turn.pause(EVENT_DELAY)
    turn.update_tool()
    started = time.monotonic()
    summary: FileSummary | None = None
    error: str | None = None
    if not exists:
        error = f"no readable text file found in {turn.cwd}"
    else:
        try:
            summary = _summarise(turn, turn.cwd / target)
        except OSError as exc:
            error = f"{exc.strerror or exc}: {target}"
            log.info("read_file %s failed: %s", target, exc)
        except EditorError as exc:  # refused: a failure, not a reason to read it myself
            error = f"the editor did not let me read {target}: {exc.reason}"
            log.info("read_file %s refused: %s", target, exc)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    turn.pause(TOOL_DELAY)
    if summary is not None:
        turn.count(summary.preview)
        turn.close_tool("completed", raw_output={"text": summary.preview}, duration_ms=elapsed_ms)
    else:
        turn.close_tool("failed", error=error, duration_ms=elapsed_ms)
    return summary, error


def _editor_text(turn: Turn, path: Path) -> str:
    """A file's text as the editor has it (only for an editor that offers to read files).

    Raises:
        EditorError: The editor refused (its answer was an error, or had no text).
    """
    answer = turn.call("fs/read_text_file", {"path": str(path)})
    content = answer.get("content")
    if not isinstance(content, str):
        raise EditorError("fs/read_text_file", {"message": "the answer has no text content"})
    return content


def _summarise(turn: Turn, path: Path) -> FileSummary:
    """Summarise a file, read through the editor (its buffer) when it offers that.

    Raises:
        OSError: Reading it ourselves failed.
        EditorError: The editor offers reads and refused this one.
    """
    if turn.powers.read:
        return summarise_text(_editor_text(turn, path), complete=True)
    return summarise_file(path)


def _current_text(turn: Turn, path: Path) -> str | None:
    """A file's text as the editor has it (else from disk); ``None`` if it is new.

    Editors answer a read of a file that does not exist with different errors ("not found",
    an internal error), so when the editor offers reads any error means there is no text to
    show in the diff: the file is taken as new, and the disk is never read instead.
    """
    if turn.powers.read:
        try:
            return _editor_text(turn, path)
        except EditorError as exc:
            log.info("no current text for %s from the editor (%s): a new file", path, exc)
            return None
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.info("cannot read %s: %s", path, exc)
        return None


def write_notes(turn: Turn, new: str) -> Outcome:
    """The write_file tool call: show the diff of the notes file, ask, then write ``new``."""
    path = turn.cwd / NOTES_FILE
    try:
        old = _current_text(turn, path)
    except EditorError as exc:
        log.warning("reading %s failed: %s", path, exc)
        turn.open_tool("write_file", "edit", {"path": str(path), "new_text": new})
        return _fail(
            turn,
            f"I did not write {NOTES_FILE}: the editor did not let me read it ({exc.reason}).",
            error=f"reading {path} failed: {exc.reason}",
        )
    raw_input = {"path": str(path), "old_text": old, "new_text": new}
    turn.open_tool("write_file", "edit", raw_input)
    allowed, why = turn.allowed(
        f"Write {NOTES_FILE}",
        content=[{"type": "diff", "path": str(path), "oldText": old, "newText": new}],
        locations=[{"path": str(path)}],
    )
    if not allowed:
        return _fail(turn, f"I did not write {NOTES_FILE}: {why}.", error=f"not written: {why}")
    turn.update_tool()
    try:
        if turn.powers.write:
            turn.call("fs/write_text_file", {"path": str(path), "content": new})
            how = "through the editor"
        else:
            path.write_text(new, encoding="utf-8")
            how = "myself, since the editor does not offer to write files"
    except (EditorError, OSError) as exc:
        log.warning("writing %s failed: %s", path, exc)
        return _fail(
            turn, f"Writing {NOTES_FILE} failed: {exc}.", error=f"writing {path} failed: {exc}"
        )
    turn.close_tool("completed", raw_output=raw_input)
    verb = "created" if old is None else "updated"
    return Outcome("write_file", f"With your permission I {verb} {NOTES_FILE} {how}.")


def run_command(turn: Turn, command: list[str], here: bool = False) -> Outcome:
    """The run_command tool call: ask, then run in the editor's terminal (or here).

    ``here``: run it here even when the editor offers a terminal (``/files``).
    """
    text = shlex.join(command)
    turn.open_tool("run_command", "execute", {"command": text, "cwd": str(turn.cwd)})
    allowed, why = turn.allowed(f"Run `{text}`")
    if not allowed:
        return _fail(turn, f"I did not run `{text}`: {why}.", error=f"not run: {why}")
    turn.update_tool()
    if turn.powers.terminal and not here:
        return _run_in_terminal(turn, command, text)
    return _run_here(turn, command, text)


def _fail(turn: Turn, sentence: str, **fields: Any) -> Outcome:
    """End the open tool call ``failed`` (with ``fields``); ``sentence`` tells the user."""
    assert turn.open_tool_call is not None
    tool_name = turn.open_tool_call.name
    turn.close_tool("failed", **fields)
    return Outcome(tool_name, sentence, failed=True)


def _close_with_exit(turn: Turn, result: JsonObject, code: Any, signal: Any) -> str:
    """End the tool call by how the command exited; return that in words."""
    status = exit_text(code, signal)
    if code == 0:
        turn.close_tool("completed", raw_output=result)
    else:
        turn.close_tool("failed", raw_output=result, error=status)
    return status


def _run_in_terminal(turn: Turn, command: list[str], text: str) -> Outcome:
    """Run through ``terminal/*``: the editor shows the terminal as the tool's content."""
    create = {
        "command": command[0],
        "args": command[1:],
        "cwd": str(turn.cwd),
        "outputByteLimit": COMMAND_OUTPUT_LIMIT,
    }
    try:
        created = turn.call("terminal/create", create)
    except EditorError as exc:
        return _fail(turn, f"The editor could not run `{text}`: {exc.reason}.", error=str(exc))
    terminal_id = str(created.get("terminalId"))
    terminal = {"terminalId": terminal_id}
    turn.update_tool(raw_output={"terminal_id": terminal_id})
    try:
        exited = turn.call("terminal/wait_for_exit", terminal)
        output = turn.call("terminal/output", terminal)
    except Cancelled:
        turn.cleanup_call("terminal/kill", terminal)
        turn.cleanup_call("terminal/release", terminal)
        raise
    except EditorError as exc:
        turn.cleanup_call("terminal/release", terminal)
        return _fail(
            turn,
            f"Running `{text}` failed: {exc.reason}.",
            error=str(exc),
            raw_output={"terminal_id": terminal_id},
        )
    result = {
        "terminal_id": terminal_id,
        "exit_code": exited.get("exitCode"),
        "signal": exited.get("signal"),
        "output": output.get("output"),
        "truncated": output.get("truncated"),
    }
    status = _close_with_exit(turn, result, exited.get("exitCode"), exited.get("signal"))
    turn.cleanup_call("terminal/release", terminal)
    return Outcome("run_command", f"I ran `{text}` in the editor's terminal: {status}.")


def _run_here(turn: Turn, command: list[str], text: str) -> Outcome:
    """Run the command ourselves, its output streamed live as ``terminal_output`` events.

    The first event names the command and its directory, the next ones carry the output
    as it comes (up to :data:`COMMAND_OUTPUT_LIMIT` bytes), the last one how it exited; the
    tool call's raw output then holds the whole text too, for clients that show no terminal.
    """
    assert turn.open_tool_call is not None
    call_id = turn.open_tool_call.id
    term = {"tool_call_id": call_id, "terminal_id": f"term_{call_id}"}
    try:
        proc = subprocess.Popen(
            command,
            cwd=turn.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as exc:
        return _fail(turn, f"I could not run `{text}`: {exc}.", error=f"cannot run {text}: {exc}")
    turn.emit("terminal_output", **term, command=text, cwd=str(turn.cwd))
    chunks: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_pump, args=(proc.stdout, chunks), daemon=True).start()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    kept = bytearray()
    started = time.monotonic()
    while (chunk := _next_chunk(chunks)) != b"":
        if chunk is None:  # nothing yet
            if turn.cancelled.is_set() or time.monotonic() - started > COMMAND_TIMEOUT:
                proc.kill()
                proc.wait()
                if turn.cancelled.is_set():
                    raise Cancelled
                timed_out = f"timed out after {COMMAND_TIMEOUT:.0f} s"
                turn.emit("terminal_output", **term, signal="SIGKILL")
                return _fail(turn, f"`{text}` took too long; I stopped it.", error=timed_out)
            continue
        part = chunk[: COMMAND_OUTPUT_LIMIT - len(kept)]
        kept += part
        if data := decoder.decode(part):
            turn.emit("terminal_output", **term, data=data)
    if data := decoder.decode(b"", final=True):
        turn.emit("terminal_output", **term, data=data)
    code = proc.wait()
    killed_by = signal.Signals(-code).name if code < 0 else None
    if killed_by is None:
        turn.emit("terminal_output", **term, exit_code=code)
    else:
        turn.emit("terminal_output", **term, signal=killed_by)
    output = kept.decode("utf-8", errors="replace")
    turn.count(output)
    result = {"stdout": output, "exit_code": code}
    status = _close_with_exit(turn, result, code, killed_by)
    how = "myself" if turn.powers.terminal else "myself, since the editor offers no terminal"
    return Outcome("run_command", f"I ran `{text}` {how}: {status}.")


def _pump(stream: IO[bytes], chunks: queue.Queue[bytes]) -> None:
    """Body of a command's reader thread: its output in chunks, then ``b""``."""
    try:
        while chunk := stream.read1(READ_BYTES):  # type: ignore[attr-defined]
            chunks.put(chunk)
    except (OSError, ValueError) as exc:
        log.info("reading a command's output stopped: %s", exc)
    finally:
        chunks.put(b"")
        stream.close()


def _next_chunk(chunks: queue.Queue[bytes]) -> bytes | None:
    """The next piece of output (``b""`` at its end), or ``None`` if none came for a while."""
    try:
        return chunks.get(timeout=CALL_POLL)
    except queue.Empty:
        return None
