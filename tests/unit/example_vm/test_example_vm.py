"""The example VM, driven directly over real pipes (no bridge); smoke tests of tests/support/vms."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.paths import VMS

from acp_bridge.example_vm.program import PACE_ENV, pace_from_env
from acp_bridge.example_vm.prose import chunk_words
from acp_bridge.example_vm.request import Request
from acp_bridge.example_vm.workspace import find_file, summarise_file
from acp_bridge.vm.events import (
    AgentEvent,
    AgentMessageChunk,
    AgentThoughtChunk,
    BudgetExhausted,
    InvalidEvent,
    Plan,
    ToolCall,
    ToolCallUpdate,
    TurnEnd,
    TurnStart,
    UnknownEvent,
    decode_event,
    decode_line,
)

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 10.0
SESSION = "sess-1"
README_LINES = 50


class Pipe:
    """A VM subprocess spoken to line by line, every wait bounded."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.stderr = b""
        self._next_id = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._err.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps(message).encode() + b"\n")

    def request(self, method: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def read(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing from the VM in {timeout}s") from None
        assert line is not None, "the VM closed its stdout"
        message: dict[str, Any] = json.loads(line)
        return message

    def until_answer(
        self, msg_id: int, timeout: float = TIMEOUT
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Everything the VM sends before the answer to ``msg_id``, and that answer."""
        deadline = time.monotonic() + timeout
        before: list[dict[str, Any]] = []
        while True:
            message = self.read(max(deadline - time.monotonic(), 0.001))
            if message.get("id") == msg_id and "method" not in message:
                return before, message
            before.append(message)

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the VM did not exit within {timeout}s") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._err.join(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def example(cwd: Path, pace: float = 0.2) -> Pipe:
    env = {"ACP_BRIDGE_EXAMPLE_PACE": str(pace)}
    return Pipe([sys.executable, "-m", "acp_bridge.example_vm"], cwd, env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    body = [f"line {n}" for n in range(3, README_LINES + 1)]
    (root / "README.md").write_text("\n".join(["# Widget", "", *body]) + "\n")
    return root


@pytest.fixture
def vm(project: Path) -> Iterator[Pipe]:
    pipe = example(project)
    yield pipe
    pipe.stop()


def initialize(pipe: Pipe, cwd: Path) -> dict[str, Any]:
    msg_id = pipe.request(
        "initialize",
        {
            "protocolVersion": 1,
            "sessionId": SESSION,
            "cwd": str(cwd),
            "mcpServers": [],
            "clientCapabilities": {},
        },
    )
    _, answer = pipe.until_answer(msg_id)
    result: dict[str, Any] = answer["result"]
    return result


def prompt(pipe: Pipe, text: str, *extra: dict[str, Any]) -> int:
    blocks = [{"type": "text", "text": text}, *extra]
    return pipe.request("session/prompt", {"sessionId": SESSION, "prompt": blocks})


#: The events of what a VM offers (commands, mode, options, title, usage, notices, its own
#: terminals), checked by the ``test_offers_*`` tests and left out of :func:`events_of`,
#: which returns the conversation's events.
OFFER_EVENTS = frozenset(
    {
        "available_commands",
        "mode_changed",
        "config_options",
        "session_info",
        "usage",
        "notice",
        "terminal_output",
    }
)


def events_of(messages: list[dict[str, Any]]) -> list[AgentEvent]:
    """Decode every session/event; fail on anything else or undecodable; leave out offers."""
    events: list[AgentEvent] = []
    for message in messages:
        assert message.get("method") == "session/event", message
        decoded = decode_event(message["params"]["event"])
        assert not isinstance(decoded, UnknownEvent | InvalidEvent), decoded
        assert decoded.session_id == SESSION
        if decoded.type not in OFFER_EVENTS:
            events.append(decoded)
    return events


def text_of(events: list[AgentEvent], kind: type[AgentMessageChunk | AgentThoughtChunk]) -> str:
    return "".join(e.content for e in events if isinstance(e, kind))


def terminal_updates(events: list[AgentEvent]) -> dict[str, ToolCallUpdate]:
    return {
        e.tool_call_id: e
        for e in events
        if isinstance(e, ToolCallUpdate) and e.status in {"completed", "failed"}
    }


# --------------------------------------------------------------------------- the protocol


def test_initialize_names_the_example_vm(vm: Pipe, project: Path) -> None:
    result = initialize(vm, project)
    assert result["protocolVersion"] == 1
    assert result["agentInfo"]["name"] == "acp-bridge-example-vm"


def test_a_prompt_streams_a_whole_turn_and_ends_turn(vm: Pipe, project: Path) -> None:
    initialize(vm, project)
    link = {"type": "resource_link", "uri": "file:///somewhere/notes.md", "name": "notes.md"}
    messages, answer = vm.until_answer(prompt(vm, "What is this project about?", link))
    assert answer["result"] == {"stopReason": "end_turn"}
    events = events_of(messages)

    assert isinstance(events[0], TurnStart)
    assert isinstance(events[-1], TurnEnd)
    kinds = [type(e).__name__ for e in events]
    first = {kind: kinds.index(kind) for kind in reversed(kinds)}
    assert (
        first["AgentThoughtChunk"]
        < first["Plan"]
        < first["ToolCall"]
        < first["ToolCallUpdate"]
        < first["AgentMessageChunk"]
    )
    assert kinds.count("AgentThoughtChunk") >= 2  # streamed in pieces

    plans = [e for e in events if isinstance(e, Plan)]
    assert len(plans) >= 2
    assert all(isinstance(p.plan, list) and len(p.plan) == 3 for p in plans)
    assert isinstance(plans[-1].plan, list)
    assert [s["status"] for s in plans[-1].plan] == ["completed"] * 3
    assert all(s["priority"] for s in plans[-1].plan)

    (call,) = [e for e in events if isinstance(e, ToolCall)]
    assert (call.tool_name, call.kind, call.raw_input) == (
        "read_file",
        "read",
        {"path": "README.md"},
    )
    updates = [e for e in events if isinstance(e, ToolCallUpdate)]
    assert [u.status for u in updates] == ["in_progress", "completed"]
    assert {u.tool_call_id for u in updates} == {call.tool_call_id}
    readme = (project / "README.md").read_text()
    assert updates[-1].raw_output == {"text": "".join(readme.splitlines(keepends=True)[:40])}

    answer_text = text_of(events, AgentMessageChunk)
    assert "What is this project about?" in answer_text
    assert "notes.md" in answer_text
    assert f"{README_LINES} lines" in answer_text
    assert "Widget" in answer_text
    chunks = [e.content for e in events if isinstance(e, AgentMessageChunk)]
    assert len(chunks) > 5
    assert all(len(c.split()) <= 3 for c in chunks)


def test_without_readable_files_the_tool_fails_but_the_turn_ends(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden").mkdir()
    (empty / ".hidden" / "notes.txt").write_text("hidden\n")
    (empty / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    pipe = example(empty, pace=0)
    try:
        initialize(pipe, empty)
        messages, answer = pipe.until_answer(prompt(pipe, "hello"))
        assert answer["result"] == {"stopReason": "end_turn"}
        events = events_of(messages)
        (call,) = [e for e in events if isinstance(e, ToolCall)]
        final = terminal_updates(events)[call.tool_call_id]
        assert final.status == "failed"
        assert final.error
        assert "could not" in text_of(events, AgentMessageChunk)
        assert isinstance(events[-1], TurnEnd)
    finally:
        pipe.stop()


def test_cancel_answers_cancelled_at_once_and_the_next_prompt_works(project: Path) -> None:
    pipe = example(project, pace=0.5)
    try:
        initialize(pipe, project)
        msg_id = prompt(pipe, "read something")
        seen: list[dict[str, Any]] = []
        while not any(m["params"]["event"]["type"] == "tool_call" for m in seen):
            seen.append(pipe.read())
        sent = time.monotonic()
        pipe.notify("session/cancel", {"sessionId": SESSION})
        rest, answer = pipe.until_answer(msg_id, timeout=2)
        assert time.monotonic() - sent < 0.5
        assert answer["result"] == {"stopReason": "cancelled"}
        events = events_of(seen + rest)
        opened = {e.tool_call_id for e in events if isinstance(e, ToolCall)}
        assert opened
        assert opened <= set(terminal_updates(events))
        assert not any(isinstance(e, TurnEnd) for e in events)

        messages, answer = pipe.until_answer(prompt(pipe, "again"))
        assert answer["result"] == {"stopReason": "end_turn"}
        assert isinstance(events_of(messages)[-1], TurnEnd)
    finally:
        pipe.stop()


def test_cancel_right_after_the_turn_starts(project: Path) -> None:
    pipe = example(project, pace=1.0)
    try:
        initialize(pipe, project)
        msg_id = prompt(pipe, "slow down")
        first = pipe.read()
        assert first["params"]["event"]["type"] == "turn_start"
        sent = time.monotonic()
        pipe.notify("session/cancel", {"sessionId": SESSION})
        rest, answer = pipe.until_answer(msg_id, timeout=2)
        assert time.monotonic() - sent < 0.5
        assert answer["result"] == {"stopReason": "cancelled"}
        events = events_of([first, *rest])
        opened = {e.tool_call_id for e in events if isinstance(e, ToolCall)}
        assert opened <= set(terminal_updates(events))
    finally:
        pipe.stop()


def test_a_prompt_sent_during_a_turn_waits_for_it(vm: Pipe, project: Path) -> None:
    initialize(vm, project)
    first = prompt(vm, "one")
    second = prompt(vm, "two")
    between, answer1 = vm.until_answer(first)
    after, answer2 = vm.until_answer(second)
    assert answer1["result"] == answer2["result"] == {"stopReason": "end_turn"}
    assert isinstance(events_of(between)[-1], TurnEnd)
    assert "“two”" in text_of(events_of(after), AgentMessageChunk)


def test_eof_mid_turn_exits_0_promptly(vm: Pipe, project: Path) -> None:
    initialize(vm, project)
    prompt(vm, "start, then the editor goes away")
    vm.read()
    vm.close_stdin()
    assert vm.wait(1.0) == 0


def test_eof_when_idle_exits_0(vm: Pipe) -> None:
    vm.close_stdin()
    assert vm.wait(1.0) == 0


def test_unknown_methods_and_bad_lines(vm: Pipe, project: Path) -> None:
    _, answer = vm.until_answer(vm.request("session/frobnicate", {}))
    assert answer["error"]["code"] == -32601
    vm.send_raw(b"this is not json\n[1, 2]\n\n")
    vm.notify("some/notification", {})
    assert initialize(vm, project)["protocolVersion"] == 1  # still serving
    _, answer = vm.until_answer(vm.request("session/prompt", {"prompt": "not a list"}))
    assert answer["error"]["code"] == -32602
    vm.close_stdin()
    assert vm.wait(2.0) == 0
    vm.stop()
    assert b"not JSON" in vm.stderr


def test_the_cli_runs_the_example_vm(project: Path) -> None:
    env = {"ACP_BRIDGE_EXAMPLE_PACE": "0"}
    pipe = Pipe([sys.executable, "-m", "acp_bridge", "example-vm"], project, env)
    try:
        assert initialize(pipe, project)["agentInfo"]["name"] == "acp-bridge-example-vm"
        messages, answer = pipe.until_answer(prompt(pipe, "hi"))
        assert answer["result"] == {"stopReason": "end_turn"}
        assert isinstance(events_of(messages)[-1], TurnEnd)
    finally:
        pipe.stop()


# --------------------------------------------------------------------------- the editor's powers

ALL_POWERS = {"fs": {"readTextFile": True, "writeTextFile": True}, "terminal": True}
NOTES = "acp-bridge-notes.md"


def initialize_with(pipe: Pipe, cwd: Path, caps: dict[str, Any]) -> None:
    msg_id = pipe.request(
        "initialize",
        {
            "protocolVersion": 1,
            "sessionId": SESSION,
            "cwd": str(cwd),
            "mcpServers": [],
            "clientCapabilities": caps,
        },
    )
    pipe.until_answer(msg_id)


def play(
    pipe: Pipe, msg_id: int, editor: Any, timeout: float = TIMEOUT
) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """Act as the bridge until the prompt is answered: ``editor(method, params)`` answers
    each VM request with ("result", value) or ("error", {...}). Returns the events' messages,
    the requests in order, and the prompt's answer."""
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    requests: list[tuple[str, dict[str, Any]]] = []
    while True:
        message = pipe.read(max(deadline - time.monotonic(), 0.001))
        if message.get("id") == msg_id and "method" not in message:
            return events, requests, message
        if message.get("method") == "session/event":
            events.append(message)
            continue
        assert "id" in message, message
        params = message["params"]
        assert params["sessionId"] == SESSION
        requests.append((message["method"], params))
        kind, value = editor(message["method"], params)
        pipe.send({"jsonrpc": "2.0", "id": message["id"], kind: value})


def permission(option: str) -> tuple[str, Any]:
    return ("result", {"outcome": {"outcome": "selected", "optionId": option}, "kind": option})


def test_allowed_it_writes_through_the_editor_and_runs_in_its_terminal(project: Path) -> None:
    pipe = example(project, pace=0)
    asked: list[dict[str, Any]] = []

    def editor(method: str, params: dict[str, Any]) -> tuple[str, Any]:
        if method == "session/request_permission":
            asked.append(params)
            assert [o["kind"] for o in params["options"]] == [
                "allow_once",
                "allow_always",
                "reject_once",
                "reject_always",
            ]
            return permission("allow_once")
        if method == "fs/read_text_file":
            if params["path"].endswith("README.md"):
                return ("result", {"content": "# From the buffer\n"})
            return ("error", {"code": -32002, "message": "Resource not found"})
        return {
            "fs/write_text_file": ("result", None),
            "terminal/create": ("result", {"terminalId": "t-1"}),
            "terminal/wait_for_exit": ("result", {"exitCode": 0, "signal": None}),
            "terminal/output": ("result", {"output": "ok\n", "truncated": False}),
            "terminal/release": ("result", None),
        }[method]

    try:
        initialize_with(pipe, project, ALL_POWERS)
        messages, requests, answer = play(
            pipe, prompt(pipe, "Run `make check` then save notes"), editor
        )
        assert answer["result"] == {"stopReason": "end_turn"}
        assert [m for m, _ in requests] == [
            "fs/read_text_file",
            "session/request_permission",
            "terminal/create",
            "terminal/wait_for_exit",
            "terminal/output",
            "terminal/release",
            "fs/read_text_file",
            "session/request_permission",
            "fs/write_text_file",
        ]
        create = requests[2][1]
        assert (create["command"], create["args"], create["cwd"]) == (
            "make",
            ["check"],
            str(project),
        )
        assert [a["toolCall"]["kind"] for a in asked] == ["execute", "edit"]
        write = requests[-1][1]
        assert write["path"] == str(project / NOTES)
        assert "From the buffer" in write["content"]
        assert asked[1]["toolCall"]["content"] == [
            {
                "type": "diff",
                "path": str(project / NOTES),
                "oldText": None,
                "newText": write["content"],
            }
        ]
        assert not (project / NOTES).exists()
        events = events_of(messages)
        finals = terminal_updates(events)
        ran, wrote = finals["call_1_2"], finals["call_1_3"]
        assert ran.status == wrote.status == "completed"
        assert isinstance(ran.raw_output, dict)
        assert ran.raw_output["terminal_id"] == "t-1"
        assert any(
            isinstance(e, ToolCallUpdate) and e.raw_output == {"terminal_id": "t-1"} for e in events
        ), "the terminal is shown while the command runs"
        assert wrote.raw_output == {
            "path": str(project / NOTES),
            "old_text": None,
            "new_text": write["content"],
        }
        plans = [e for e in events if isinstance(e, Plan)]
        assert isinstance(plans[-1].plan, list)
        assert len(plans[-1].plan) == 5
        said = text_of(events, AgentMessageChunk)
        assert "in the editor's terminal" in said
        assert "through the editor" in said
    finally:
        pipe.stop()


def test_rejected_nothing_runs_and_nothing_is_written(project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, ALL_POWERS)

        def editor(method: str, params: dict[str, Any]) -> tuple[str, Any]:
            if method == "session/request_permission":
                return permission("reject_once")
            if method == "fs/read_text_file":
                return ("error", {"code": -32002, "message": "Resource not found"})
            raise AssertionError(f"{method} after a rejection")

        messages, requests, answer = play(pipe, prompt(pipe, "run it and write notes"), editor)
        assert answer["result"] == {"stopReason": "end_turn"}
        assert [m for m, _ in requests].count("session/request_permission") == 2
        finals = terminal_updates(events_of(messages))
        assert finals["call_1_2"].status == finals["call_1_3"].status == "failed"
        assert finals["call_1_3"].error == "not written: the user declined"
        assert not (project / NOTES).exists()
    finally:
        pipe.stop()


def test_without_fs_or_terminal_it_runs_and_writes_itself(project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, {})
        (project / NOTES).write_text("old notes\n")

        def editor(method: str, params: dict[str, Any]) -> tuple[str, Any]:
            assert method == "session/request_permission", method
            return permission("allow_always")

        cmd = "Run `python3 -c 'print(6*7)'` and write notes"
        messages, requests, answer = play(pipe, prompt(pipe, cmd), editor)
        assert answer["result"] == {"stopReason": "end_turn"}
        assert len(requests) == 2
        events = events_of(messages)
        finals = terminal_updates(events)
        assert finals["call_1_2"].status == "completed"
        assert finals["call_1_2"].raw_output == {"stdout": "42\n", "exit_code": 0}
        notes = (project / NOTES).read_text()
        assert "it succeeded" in notes
        [write_call] = [
            e for e in events if isinstance(e, ToolCall) and e.tool_name == "write_file"
        ]
        assert isinstance(write_call.raw_input, dict)
        assert write_call.raw_input["old_text"] == "old notes\n"
        assert "myself" in text_of(events, AgentMessageChunk)
    finally:
        pipe.stop()


def test_cancel_while_asking_and_while_a_terminal_runs(project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, ALL_POWERS)
        cancelled = {"done": False}

        def asking(method: str, params: dict[str, Any]) -> tuple[str, Any]:
            if method == "session/request_permission":
                pipe.notify("session/cancel", {"sessionId": SESSION})
                return ("result", {"outcome": {"outcome": "cancelled"}, "kind": None})
            return ("error", {"code": -32002, "message": "Resource not found"})

        messages, requests, answer = play(pipe, prompt(pipe, "run"), asking)
        assert answer["result"] == {"stopReason": "cancelled"}
        assert [m for m, _ in requests][-1] == "session/request_permission"
        finals = terminal_updates(events_of(messages))
        assert finals["call_1_2"].status == "failed"

        def running(method: str, params: dict[str, Any]) -> tuple[str, Any]:
            if method == "session/request_permission":
                return permission("allow_once")
            if method == "terminal/create":
                return ("result", {"terminalId": "t-9"})
            if method == "terminal/wait_for_exit":  # the user cancels; the bridge says so
                pipe.notify("session/cancel", {"sessionId": SESSION})
                cancelled["done"] = True
                return ("error", {"code": -32800, "message": "the turn was cancelled"})
            if method in ("terminal/kill", "terminal/release"):
                return ("result", None)
            return ("error", {"code": -32002, "message": "Resource not found"})

        messages, requests, answer = play(pipe, prompt(pipe, "run `sleep 60`"), running)
        assert answer["result"] == {"stopReason": "cancelled"}
        assert cancelled["done"]
        assert [m for m, _ in requests][-2:] == ["terminal/kill", "terminal/release"]
        finals = terminal_updates(events_of(messages))
        assert finals["call_2_2"].status == "failed"
    finally:
        pipe.stop()


def test_eof_while_waiting_on_the_editor_exits_0(project: Path) -> None:
    pipe = example(project, pace=0)
    initialize_with(pipe, project, ALL_POWERS)
    prompt(pipe, "hello")
    while "method" not in (message := pipe.read()) or message["method"] == "session/event":
        pass
    assert message["method"] == "fs/read_text_file"
    pipe.close_stdin()  # the bridge goes away while the VM waits for an answer
    assert pipe.wait(2.0) == 0
    pipe.stop()


def test_requests_name_what_to_run_and_write() -> None:
    request = Request.from_prompt([{"type": "text", "text": "please `make  test` it"}])
    assert (request.command, request.write_notes) == (["make", "test"], False)
    assert Request.from_prompt([{"type": "text", "text": "run"}]).command == [
        "ls",
        "-la",
    ]
    unbalanced = Request.from_prompt([{"type": "text", "text": "run `a 'b`"}])
    assert unbalanced.command == ["ls", "-la"]
    assert Request.from_prompt([{"type": "text", "text": "Save notes"}]).write_notes
    plain = Request.from_prompt([{"type": "text", "text": "What is running here?"}])
    assert (plain.command, plain.write_notes) == (None, False)


# --------------------------------------------------------------------------- its pieces


def test_find_file_prefers_readme_md(tmp_path: Path) -> None:
    (tmp_path / "README.rst").write_text("Title\n=====\n")
    (tmp_path / "README.md").write_text("# Title\n")
    (tmp_path / "a.txt").write_text("a\n")
    assert find_file(tmp_path) == "README.md"
    (tmp_path / "README.md").unlink()
    assert find_file(tmp_path) == "README.rst"


def test_find_file_scans_without_leaving_cwd(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    root = tmp_path / "root"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "x.js").write_text("x\n")
    (root / "README").symlink_to(outside)
    (root / "aaa.txt").symlink_to(outside)
    (root / "bin.dat").write_bytes(b"\x00" * 10)
    (root / "empty.txt").write_text("")
    assert find_file(root) is None
    (root / "src").mkdir()
    (root / "src" / "main.py").write_text("print('hi')\n")
    assert find_file(root) == "src/main.py"
    assert find_file(tmp_path / "missing") is None


def test_summarise_file_counts_lines_and_finds_headings(tmp_path: Path) -> None:
    path = tmp_path / "notes.rst"
    path.write_text(".. badge\n\nNotes\n=====\n\nSome text here.\n")
    summary = summarise_file(path)
    assert (summary.line_count, summary.heading, summary.opening) == (6, "Notes", "Some text here.")
    assert summary.complete


def test_chunks_concatenate_back_to_the_text() -> None:
    text = "one two  three\n\nfour five six seven"
    chunks = list(chunk_words(text, 3))
    assert "".join(chunks) == text
    assert chunks[0] == "one two  three\n\n"


@pytest.mark.parametrize(
    ("raw", "pace"), [("", 1.0), ("0", 0.0), ("0.25", 0.25), ("fast", 1.0), ("-1", 1.0)]
)
def test_pace_from_env(monkeypatch: pytest.MonkeyPatch, raw: str, pace: float) -> None:
    monkeypatch.setenv(PACE_ENV, raw)
    assert pace_from_env() == pace


# --------------------------------------------------------------------------- tests/support/vms


def test_exec_vm_echo_reads_the_request_and_prints_an_event(tmp_path: Path) -> None:
    request = {
        "protocolVersion": 1,
        "sessionId": "s-exec",
        "cwd": str(tmp_path),
        "prompt": [{"type": "text", "text": "echo me"}],
        "mcpServers": [],
    }
    done = subprocess.run(
        [sys.executable, str(VMS / "exec_vm.py"), "--echo"],
        input=json.dumps(request).encode() + b"\n",
        capture_output=True,
        timeout=TIMEOUT,
        check=True,
    )
    (line,) = done.stdout.splitlines()
    event = decode_line(line)
    assert isinstance(event, AgentMessageChunk)
    assert (event.session_id, event.content) == ("s-exec", "echo me")


def test_exec_vm_exit_code_and_stderr(tmp_path: Path) -> None:
    options = ["--no-read-stdin", "--exit", "3", "--stderr", "boom", "--budget-exhausted"]
    done = subprocess.run(
        [sys.executable, str(VMS / "exec_vm.py"), *options],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr == b"boom\n"
    event = decode_line(done.stdout.strip())
    assert isinstance(event, BudgetExhausted)
    assert event.model_dump()["max_iterations"] == 3


def test_session_vm_answers_a_prompt_and_honours_cancel(tmp_path: Path) -> None:
    pipe = Pipe(
        [sys.executable, str(VMS / "session_vm.py"), "--chunks", "50", "--interval", "0.05"],
        tmp_path,
    )
    try:
        assert initialize(pipe, tmp_path)["protocolVersion"] == 1
        msg_id = prompt(pipe, "ping")
        first = events_of([pipe.read()])[0]
        assert isinstance(first, AgentMessageChunk)
        assert "ping" in first.content
        pipe.notify("session/cancel", {"sessionId": SESSION})
        _, answer = pipe.until_answer(msg_id, timeout=2)
        assert answer["result"] == {"stopReason": "cancelled"}
        _, answer = pipe.until_answer(pipe.request("nope", {}))
        assert answer["error"]["code"] == -32601
        pipe.close_stdin()
        assert pipe.wait(2.0) == 0
    finally:
        pipe.stop()


def test_session_vm_default_turn_ends_turn(tmp_path: Path) -> None:
    pipe = Pipe([sys.executable, str(VMS / "session_vm.py")], tmp_path)
    try:
        initialize(pipe, tmp_path)
        messages, answer = pipe.until_answer(prompt(pipe, "hello"))
        assert answer["result"] == {"stopReason": "end_turn"}
        assert text_of(events_of(messages), AgentMessageChunk) == (
            "[1/2] You said: hello\n[2/2] You said: hello\n"
        )
    finally:
        pipe.stop()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--bad-stop-reason"], {"result": {"stopReason": "finished_somehow"}}),
        (["--error-answer"], {"error": {"code": -32000}}),
        (["--slow-cancel", "0.3", "--chunks", "100", "--interval", "0.02"], "cancelled"),
        (["--exit-mid-turn", "7"], 7),
    ],
)
def test_session_vm_misbehaves_on_request(
    tmp_path: Path, options: list[str], expected: dict[str, Any] | str | int
) -> None:
    pipe = Pipe([sys.executable, str(VMS / "session_vm.py"), *options], tmp_path)
    try:
        initialize(pipe, tmp_path)
        msg_id = prompt(pipe, "misbehave")
        if isinstance(expected, int):
            pipe.read()
            assert pipe.wait(2.0) == expected
            return
        if expected == "cancelled":
            pipe.read()
            sent = time.monotonic()
            pipe.notify("session/cancel", {"sessionId": SESSION})
            _, answer = pipe.until_answer(msg_id)
            assert answer["result"] == {"stopReason": "cancelled"}
            assert time.monotonic() - sent >= 0.3
            return
        _, answer = pipe.until_answer(msg_id)
        assert isinstance(expected, dict)
        for key, value in expected.items():
            assert answer[key] | value == answer[key]
    finally:
        pipe.stop()


def test_session_vm_plain_events_outside_a_turn(tmp_path: Path) -> None:
    options = ["--plain-events", "--events-outside-turn", "--chunks", "1"]
    pipe = Pipe([sys.executable, str(VMS / "session_vm.py"), *options], tmp_path)
    try:
        initialize(pipe, tmp_path)
        assert pipe.read()["content"] == "outside a turn, after initialize"
        turn, answer = pipe.until_answer(prompt(pipe, "hi"))
        assert [m["type"] for m in turn] == ["agent_message_chunk"]
        assert answer["result"] == {"stopReason": "end_turn"}
        assert pipe.read()["content"] == "outside a turn, after the answer"
    finally:
        pipe.stop()


def test_session_vm_ignore_cancel_streams_on_and_never_answers(tmp_path: Path) -> None:
    options = ["--ignore-cancel", "--chunks", "100", "--interval", "0.05"]
    pipe = Pipe([sys.executable, str(VMS / "session_vm.py"), *options], tmp_path)
    try:
        initialize(pipe, tmp_path)
        msg_id = prompt(pipe, "hi")
        pipe.read()
        pipe.notify("session/cancel", {"sessionId": SESSION})
        contents = []
        for _ in range(4):
            message = pipe.read()
            assert message.get("id") != msg_id
            contents.append(message["params"]["event"]["content"])
        assert contents[-1].startswith("still going")
        pipe.close_stdin()
        assert pipe.wait(2.0) == 0
    finally:
        pipe.stop()


# --------------------------------------------------------------------------- what it offers


def initialize_choosing(pipe: Pipe, cwd: Path, mode: str, model: str) -> None:
    msg_id = pipe.request(
        "initialize",
        {
            "protocolVersion": 1,
            "sessionId": SESSION,
            "cwd": str(cwd),
            "mcpServers": [],
            "clientCapabilities": {},
            "modeId": mode,
            "configValues": {"model": model, "mode": mode},
        },
    )
    pipe.until_answer(msg_id)


def offered(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The events of one of the :data:`OFFER_EVENTS` kinds, as the VM sent them."""
    assert kind in OFFER_EVENTS
    return [
        m["params"]["event"]
        for m in messages
        if m.get("method") == "session/event" and m["params"]["event"]["type"] == kind
    ]


def answer_text(messages: list[dict[str, Any]]) -> str:
    return text_of(events_of(messages), AgentMessageChunk)


def test_offers_the_manifest_is_valid_and_its_commands_are_what_the_vm_handles() -> None:
    from acp_bridge.example_vm import offers
    from acp_bridge.vm.manifest import Manifest, config_options, parse_manifest

    path = Path(offers.__file__).with_name("manifest.json")
    manifest = parse_manifest(path.read_bytes())
    assert isinstance(manifest, Manifest), manifest
    assert [c.name for c in manifest.commands] == ["help", "files", "run", "notes", "mode"]
    assert manifest.modes is not None
    assert [m.id for m in manifest.modes.availableModes] == ["ask", "auto"]
    # The VM's complete option list is the bridge's, so its config_options event agrees.
    assert offers.Choices().config_options() == config_options(manifest)
    assert offers.Choices("auto", "brief").config_options() == config_options(
        manifest, {"mode": "auto", "model": "brief"}
    )


def test_offers_usage_and_a_title_end_every_turn(acp: Any, project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, {})
        first, answer = pipe.until_answer(prompt(pipe, "What is this project about?"))
        assert answer["result"] == {"stopReason": "end_turn"}
        [info] = offered(first, "session_info")
        assert info["title"] == "What is this project about?"
        assert info["updated_at"].endswith("Z")
        [usage] = offered(first, "usage")
        assert 0 < usage["used"] < usage["size"] == 200_000
        assert usage["cost"]["currency"] == "USD"
        assert usage["cost"]["amount"] > 0
        # usage and session_info come inside the turn, before turn_end
        kinds = [m["params"]["event"]["type"] for m in first if m.get("method") == "session/event"]
        assert kinds[-3:] == ["usage", "session_info", "turn_end"]
        second, _ = pipe.until_answer(prompt(pipe, "And now?"))
        [later] = offered(second, "session_info")
        assert "title" not in later  # the title was set by the first turn
        [more] = offered(second, "usage")
        assert more["used"] > usage["used"]  # the context grows
        assert more["cost"]["amount"] > usage["cost"]["amount"]
    finally:
        pipe.stop()


def test_offers_ask_mode_asks_and_auto_mode_does_not_and_says_so(project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, {})
        cmd = "Run `python3 -c 'print(6*7)'`"

        def editor(method: str, params: dict[str, Any]) -> tuple[str, Any]:
            assert method == "session/request_permission", method
            return permission("allow_once")

        messages, requests, _ = play(pipe, prompt(pipe, cmd), editor)
        assert [m for m, _ in requests] == ["session/request_permission"]
        assert offered(messages, "notice") == []
        assert (
            pipe.until_answer(
                pipe.request("session/set_mode", {"sessionId": SESSION, "modeId": "auto"})
            )[1]["result"]
            == {}
        )
        messages, requests, answer = play(pipe, prompt(pipe, cmd + " and write notes"), editor)
        assert answer["result"] == {"stopReason": "end_turn"}
        assert requests == []  # nobody asked
        notices = offered(messages, "notice")
        assert [(n["severity"], n["title"]) for n in notices] == [
            ("info", "Run `python3 -c 'print(6*7)'`: not asking (auto mode)"),
            ("info", f"Write {NOTES}: not asking (auto mode)"),
        ]
        assert "auto mode" in notices[0]["description"]
        assert (project / NOTES).exists()
    finally:
        pipe.stop()


def test_offers_the_mode_and_model_from_initialize_and_set_config_option(project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_choosing(pipe, project, "auto", "brief")
        messages, requests, _ = play(pipe, prompt(pipe, "Run `true`"), nothing_asked)
        assert requests == []
        brief = answer_text(messages)
        assert brief.startswith("- README.md: 50 lines, “Widget”.")
        assert "You asked" not in brief
        set_model = {"sessionId": SESSION, "configId": "model", "value": "thorough"}
        assert pipe.until_answer(pipe.request("session/set_config_option", set_model))[1] == {
            "jsonrpc": "2.0",
            "id": pipe._next_id,
            "result": {},
        }
        set_mode = {"sessionId": SESSION, "configId": "mode", "value": "ask"}
        assert (
            pipe.until_answer(pipe.request("session/set_config_option", set_mode))[1]["result"]
            == {}
        )
        messages, requests, _ = play(
            pipe, prompt(pipe, "Run `true`"), lambda m, p: permission("allow_once")
        )
        assert [m for m, _ in requests] == ["session/request_permission"]
        thorough = answer_text(messages)
        assert thorough.startswith("You asked: “Run `true`”.")
        assert len(thorough) > len(brief)
    finally:
        pipe.stop()


def nothing_asked(method: str, params: dict[str, Any]) -> tuple[str, Any]:
    raise AssertionError(f"the VM asked {method} in auto mode")


@pytest.mark.parametrize(
    ("method", "params", "why"),
    [
        ("session/set_mode", {"modeId": "fly"}, "unknown mode 'fly'"),
        ("session/set_config_option", {"configId": "model", "value": "x"}, "unknown model 'x'"),
        ("session/set_config_option", {"configId": "web", "value": True}, "unknown config"),
    ],
)
def test_offers_a_choice_not_declared_is_refused(
    vm: Pipe, project: Path, method: str, params: dict[str, Any], why: str
) -> None:
    initialize(vm, project)
    _, answer = vm.until_answer(vm.request(method, {"sessionId": SESSION, **params}))
    assert answer["error"]["code"] == -32602
    assert why in answer["error"]["message"]


def test_offers_help_lists_the_commands_and_refreshes_them(acp: Any, project: Path) -> None:
    from acp_bridge.example_vm import offers

    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, {})
        messages, _ = pipe.until_answer(prompt(pipe, "/help"))
        text = answer_text(messages)
        for name in offers.COMMANDS:
            assert f"/{name}" in text
        assert "/run <command to run>: Run a command in the project" in text
        assert "- Ask (`ask`) (current):" in text
        assert "- Brief (`brief`):" in text
        [commands] = offered(messages, "available_commands")
        assert commands["commands"] == offers.commands()
        for command in commands["commands"]:
            assert acp.validate("AvailableCommand", command) == []
        assert not [m for m in events_of(messages) if isinstance(m, ToolCall)]  # no tools
        [info] = offered(messages, "session_info")
        assert info["title"] == "/help"
    finally:
        pipe.stop()


def test_offers_mode_switches_from_the_vm_side_and_tells_the_editor(
    acp: Any, project: Path
) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, {})
        messages, _ = pipe.until_answer(prompt(pipe, "/mode auto"))
        assert offered(messages, "mode_changed") == [
            {"type": "mode_changed", "session_id": SESSION, "mode_id": "auto"}
        ]
        [options] = offered(messages, "config_options")
        current = {o["id"]: o["currentValue"] for o in options["config_options"]}
        assert current == {"model": "thorough", "mode": "auto"}
        for option in options["config_options"]:
            assert acp.validate("SessionConfigOption", option) == []
        assert answer_text(messages).startswith("Switched to Auto mode")
        # It holds: the next command runs without asking.
        messages, requests, _ = play(pipe, prompt(pipe, "/run true"), nothing_asked)
        assert requests == []
        messages, _ = pipe.until_answer(prompt(pipe, "/mode bogus"))
        [notice] = offered(messages, "notice")
        assert (notice["severity"], notice["title"]) == ("warning", "No mode 'bogus'")
        assert offered(messages, "mode_changed") == []
        assert answer_text(messages).startswith("The session is in Auto mode")
    finally:
        pipe.stop()


def test_offers_an_unknown_command_is_a_warning_notice(project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, {})
        messages, answer = pipe.until_answer(prompt(pipe, "/frobnicate now"))
        assert answer["result"] == {"stopReason": "end_turn"}
        [notice] = offered(messages, "notice")
        assert notice == {
            "type": "notice",
            "session_id": SESSION,
            "severity": "warning",
            "title": "Unknown command /frobnicate",
            "description": "Type /help for the commands.",
        }
        assert "Type /help" in answer_text(messages)
    finally:
        pipe.stop()


def test_offers_files_runs_ls_itself_and_streams_its_output(project: Path) -> None:
    """Even with an editor terminal: /files is the command the VM runs itself."""
    pipe = example(project, pace=0)
    try:
        initialize_with(pipe, project, ALL_POWERS)

        def editor(method: str, params: dict[str, Any]) -> tuple[str, Any]:
            if method == "session/request_permission":
                return permission("allow_once")
            if method == "fs/read_text_file":
                return ("result", {"content": "# Widget\n"})
            raise AssertionError(f"unexpected {method}")

        messages, requests, _ = play(pipe, prompt(pipe, "/files"), editor)
        assert [m for m, _ in requests] == ["fs/read_text_file", "session/request_permission"]
        output = offered(messages, "terminal_output")
        call_id = requests[1][1]["toolCall"]["toolCallId"]
        assert {o["tool_call_id"] for o in output} == {call_id}
        assert {o["terminal_id"] for o in output} == {f"term_{call_id}"}
        assert output[0]["command"] == "ls -la"
        assert output[0]["cwd"] == str(project)
        assert "data" not in output[0]
        assert output[-1]["exit_code"] == 0
        data = "".join(o.get("data", "") for o in output)
        assert "README.md" in data
        final = terminal_updates(events_of(messages))[call_id]
        assert final.status == "completed"
        assert final.raw_output == {"stdout": data, "exit_code": 0}
    finally:
        pipe.stop()


def test_offers_a_failing_command_reports_its_exit_code(project: Path) -> None:
    pipe = example(project, pace=0)
    try:
        initialize_choosing(pipe, project, "auto", "thorough")
        cmd = "/run python3 -c 'import sys; print(1); sys.exit(4)'"
        messages, _, _ = play(pipe, prompt(pipe, cmd), nothing_asked)
        output = offered(messages, "terminal_output")
        assert "".join(o.get("data", "") for o in output) == "1\n"
        assert output[-1]["exit_code"] == 4
    finally:
        pipe.stop()
