"""A turn played in-process: its primitives, its tools and its script, no subprocess.

``Editor`` stands in for the bridge: it answers each request the turn makes at once, as
``answer(method, params)`` says, and remembers them; events are read back from the wire.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acp_bridge.example_vm import script, tools
from acp_bridge.example_vm.request import Powers, Request
from acp_bridge.example_vm.turn import Cancelled, EditorError, EndOfInput, Turn
from acp_bridge.example_vm.wire import Call, Calls, Wire
from acp_bridge.jsonrpc.messages import JsonObject, Response

Answer = Callable[[str, JsonObject], tuple[str, Any]]


class Editor(Calls):
    def __init__(self, wire: Wire, answer: Answer) -> None:
        super().__init__(wire)
        self.answer = answer
        self.requests: list[tuple[str, JsonObject]] = []

    def start(self, method: str, params: JsonObject) -> Call:
        self.requests.append((method, params))
        call = Call(method)
        kind, value = self.answer(method, params)
        if kind != "none":  # "none": the input ended, no answer comes
            result, error = (value, None) if kind == "result" else (None, value)
            call.answer = Response(len(self.requests), result, error, {})
        call.done.set()
        return call


def nothing(method: str, params: JsonObject) -> tuple[str, Any]:
    raise AssertionError(f"unexpected {method}")


class Played:
    def __init__(self, cwd: Path, answer: Answer = nothing, powers: Powers | None = None) -> None:
        self.out = io.BytesIO()
        wire = Wire(self.out)
        self.editor = Editor(wire, answer)
        self.turn = Turn(
            session_id="s-1",
            cwd=cwd,
            iteration=1,
            pace=0,
            cancelled=threading.Event(),
            eof=threading.Event(),
            wire=wire,
            calls=self.editor,
            powers=powers or Powers(),
        )

    def events(self) -> list[dict[str, Any]]:
        messages = [json.loads(line) for line in self.out.getvalue().splitlines()]
        assert all(m["method"] == "session/event" for m in messages), messages
        return [m["params"]["event"] for m in messages]

    def methods(self) -> list[str]:
        return [method for method, _ in self.editor.requests]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "README.md").write_text("# Widget\n\nA small tool.\n")
    return tmp_path


def test_a_tool_call_from_pending_to_completed(tmp_path: Path) -> None:
    played = Played(tmp_path)
    turn = played.turn
    assert turn.open_tool("read_file", "read", {"path": "x"}) == "call_1_1"
    turn.update_tool()
    turn.close_tool("completed", raw_output={"text": ""})
    turn.fail_open_tool("cancelled")  # nothing open: nothing sent
    assert turn.open_tool("read_file", "read", {"path": "y"}) == "call_1_2"
    turn.fail_open_tool("cancelled")
    assert [(e["type"], e["status"], e["tool_call_id"]) for e in played.events()] == [
        ("tool_call", "pending", "call_1_1"),
        ("tool_call_update", "in_progress", "call_1_1"),
        ("tool_call_update", "completed", "call_1_1"),
        ("tool_call", "pending", "call_1_2"),
        ("tool_call_update", "failed", "call_1_2"),
    ]
    assert played.events()[-1]["error"] == "cancelled"
    assert all(e["session_id"] == "s-1" for e in played.events())


def test_the_plan_marks_steps_done_current_and_pending(tmp_path: Path) -> None:
    played = Played(tmp_path)
    played.turn.steps = ["one", "two", "three"]
    played.turn.plan(1)
    (event,) = played.events()
    assert [(s["status"], s["priority"]) for s in event["plan"]] == [
        ("completed", "high"),
        ("in_progress", "high"),
        ("pending", "medium"),
    ]


def test_a_cancelled_turn_stops_at_its_next_pause(tmp_path: Path) -> None:
    played = Played(tmp_path)
    played.turn.pause(1.0)  # pace 0: no wait
    played.turn.cancelled.set()
    with pytest.raises(Cancelled):
        played.turn.pause(1.0)


def test_editor_calls_error_cancel_and_the_end_of_input(tmp_path: Path) -> None:
    answers = iter(
        [
            ("result", {"content": "x"}),
            ("result", None),
            ("error", {"code": -32002, "message": "Resource not found"}),
            ("none", None),
            ("error", {"code": -32800, "message": "cancelled"}),
        ]
    )
    played = Played(tmp_path, lambda method, params: next(answers))
    turn = played.turn
    assert turn.call("fs/read_text_file", {"path": "/p"}) == {"content": "x"}
    assert played.editor.requests[0] == ("fs/read_text_file", {"sessionId": "s-1", "path": "/p"})
    assert turn.call("fs/write_text_file", {}) == {}
    with pytest.raises(EditorError, match="Resource not found") as raised:
        turn.call("fs/read_text_file", {})
    assert raised.value.code == -32002
    with pytest.raises(Cancelled):
        turn.call("terminal/output", {})
    turn.cancelled.set()
    with pytest.raises(Cancelled):
        turn.call("terminal/output", {})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            ("result", {"outcome": {"outcome": "selected", "optionId": "x"}, "kind": "allow_once"}),
            (True, ""),
        ),
        (("result", {"outcome": {"outcome": "selected", "optionId": "allow_always"}}), (True, "")),
        (
            ("result", {"outcome": {"outcome": "selected", "optionId": "reject_once"}}),
            (False, "the user declined"),
        ),
        (
            ("error", {"code": -32603, "message": "no editor"}),
            (False, "the permission request failed: no editor"),
        ),
    ],
)
def test_permission_answers(tmp_path: Path, answer: tuple[str, Any], expected: Any) -> None:
    played = Played(tmp_path, lambda method, params: answer)
    played.turn.open_tool("run_command", "execute", {"command": "ls"})
    assert played.turn.allowed("Run `ls`") == expected
    ((method, params),) = played.editor.requests
    assert method == "session/request_permission"
    assert params["toolCall"] == {
        "toolCallId": "call_1_1",
        "title": "Run `ls`",
        "kind": "execute",
        "status": "pending",
        "rawInput": {"command": "ls"},
    }
    assert [o["optionId"] for o in params["options"]] == [
        "allow_once",
        "allow_always",
        "reject_once",
        "reject_always",
    ]


def test_a_cancelled_permission_question_cancels_the_turn(tmp_path: Path) -> None:
    played = Played(tmp_path, lambda m, p: ("result", {"outcome": {"outcome": "cancelled"}}))
    played.turn.open_tool("write_file", "edit", {})
    with pytest.raises(Cancelled):
        played.turn.allowed("Write it")


def test_read_file_prefers_the_editors_buffer(project: Path) -> None:
    def answer(method: str, params: JsonObject) -> tuple[str, Any]:
        return ("result", {"content": "# From the buffer\n"})

    played = Played(project, answer, Powers(read=True))
    summary, error = tools.read_file(played.turn, "README.md", exists=True)
    assert summary is not None
    assert (summary.heading, error) == ("From the buffer", None)
    assert played.events()[-1]["raw_output"] == {"text": "# From the buffer\n"}


@pytest.mark.parametrize(
    "refusal",
    [
        ("error", {"code": -32002, "message": "Resource not found"}),
        ("error", {"code": -32603, "message": "the buffer is locked"}),
        ("result", {"text": "not the content member"}),
    ],
)
def test_a_read_the_editor_refuses_fails_and_nothing_is_read_from_disk(
    project: Path, refusal: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def from_disk(path: Path) -> None:
        raise AssertionError(f"{path} read from disk")

    monkeypatch.setattr(tools, "summarise_file", from_disk)
    played = Played(project, lambda m, p: refusal, Powers(read=True))
    summary, error = tools.read_file(played.turn, "README.md", exists=True)
    assert summary is None
    assert error is not None
    assert error.startswith("the editor did not let me read README.md: ")
    message = refusal[1].get("message", "the answer has no text content")
    assert error.endswith(message)
    final = played.events()[-1]
    assert (final["status"], final["error"]) == ("failed", error)
    assert played.methods() == ["fs/read_text_file"]


def test_read_file_reads_from_disk_only_without_the_editors_reads(project: Path) -> None:
    played = Played(project)  # nothing: any request fails the test
    summary, _ = tools.read_file(played.turn, "README.md", exists=True)
    assert summary is not None
    assert summary.heading == "Widget"
    summary, error = tools.read_file(played.turn, "README.md", exists=False)
    assert summary is None
    assert error == f"no readable text file found in {project}"
    assert played.events()[-1]["status"] == "failed"


@pytest.mark.parametrize(
    "refusal",
    [
        {"code": -32002, "message": "Resource not found"},
        {"code": -32603, "message": "Internal error"},  # how the TS SDK and acpx say it
    ],
)
def test_write_notes_takes_a_read_error_as_a_new_file_never_the_disk(
    tmp_path: Path, refusal: JsonObject
) -> None:
    (tmp_path / tools.NOTES_FILE).write_text("on disk, not in the editor\n")

    def answer(method: str, params: JsonObject) -> tuple[str, Any]:
        return {
            "fs/read_text_file": ("error", refusal),
            "session/request_permission": (
                "result",
                {"outcome": {"outcome": "selected", "optionId": "allow_once"}},
            ),
            "fs/write_text_file": ("result", None),
        }[method]

    played = Played(tmp_path, answer, Powers(read=True, write=True))
    outcome = tools.write_notes(played.turn, "new\n")
    assert not outcome.failed
    assert "I created" in outcome.sentence
    assert played.events()[0]["raw_input"]["old_text"] is None  # not the disk's text
    assert played.methods() == [
        "fs/read_text_file",
        "session/request_permission",
        "fs/write_text_file",
    ]


def test_write_notes_rejected_writes_nothing(tmp_path: Path) -> None:
    reject = ("result", {"outcome": {"outcome": "selected", "optionId": "reject_once"}})
    played = Played(tmp_path, lambda m, p: reject)
    outcome = tools.write_notes(played.turn, "new notes\n")
    assert outcome.failed
    assert outcome.sentence == f"I did not write {tools.NOTES_FILE}: the user declined."
    assert not (tmp_path / tools.NOTES_FILE).exists()
    assert played.events()[-1]["error"] == "not written: the user declined"


def test_write_notes_allowed_without_the_editor_writes_to_disk(tmp_path: Path) -> None:
    (tmp_path / tools.NOTES_FILE).write_text("old\n")
    allow = ("result", {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    played = Played(tmp_path, lambda m, p: allow)
    outcome = tools.write_notes(played.turn, "new\n")
    assert "I updated" in outcome.sentence
    assert (tmp_path / tools.NOTES_FILE).read_text() == "new\n"
    ((_, params),) = played.editor.requests
    assert params["toolCall"]["content"] == [
        {
            "type": "diff",
            "path": str(tmp_path / tools.NOTES_FILE),
            "oldText": "old\n",
            "newText": "new\n",
        }
    ]
    assert [e["status"] for e in played.events()] == ["pending", "in_progress", "completed"]


def test_a_command_in_the_editors_terminal_that_fails(tmp_path: Path) -> None:
    def answer(method: str, params: JsonObject) -> tuple[str, Any]:
        return {
            "session/request_permission": (
                "result",
                {"outcome": {"outcome": "selected", "optionId": "allow_once"}},
            ),
            "terminal/create": ("result", {"terminalId": "t-1"}),
            "terminal/wait_for_exit": ("result", {"exitCode": 1, "signal": None}),
            "terminal/output": ("result", {"output": "no\n", "truncated": False}),
            "terminal/release": ("result", None),
        }[method]

    played = Played(tmp_path, answer, Powers(terminal=True))
    outcome = tools.run_command(played.turn, ["make", "check"])
    assert (
        outcome.sentence == "I ran `make check` in the editor's terminal: it exited with status 1."
    )
    assert played.methods()[1:] == [
        "terminal/create",
        "terminal/wait_for_exit",
        "terminal/output",
        "terminal/release",
    ]
    final = played.events()[-1]
    assert (final["status"], final["error"]) == ("failed", "it exited with status 1")
    assert final["raw_output"]["terminal_id"] == "t-1"


def test_a_command_run_here_reports_its_exit_status(tmp_path: Path) -> None:
    allow = ("result", {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    played = Played(tmp_path, lambda m, p: allow)
    command = [sys.executable, "-c", "print('out'); raise SystemExit(3)"]
    outcome = tools.run_command(played.turn, command)
    assert outcome.sentence.endswith(
        "myself, since the editor offers no terminal: it exited with status 3."
    )
    final = played.events()[-1]
    assert final["raw_output"] == {"stdout": "out\n", "exit_code": 3}
    assert final["status"] == "failed"


def test_the_script_plays_a_whole_turn(project: Path) -> None:
    played = Played(project)
    assert (
        script.play(played.turn, Request.from_prompt([{"type": "text", "text": "hi"}]))
        == "end_turn"
    )
    events = played.events()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "turn_start"
    assert kinds[-1] == "turn_end"
    assert events[-1]["turn_info"] == {
        "tool_names": ["read_file"],
        "tool_count": 1,
        "iteration": 1,
        "failed": False,
    }
    plans = [e["plan"] for e in events if e["type"] == "plan"]
    assert [[s["status"] for s in plan] for plan in plans] == [
        ["completed", "in_progress", "pending"],
        ["completed", "completed", "in_progress"],
        ["completed", "completed", "completed"],
    ]
    answer = "".join(e["content"] for e in events if e["type"] == "agent_message_chunk")
    assert "I read README.md" in answer


def test_a_cancel_fails_the_open_tool_call_and_the_end_of_input_stops_silently(
    project: Path,
) -> None:
    played = Played(project)
    turn = played.turn
    turn.open_tool("read_file", "read", {"path": "README.md"})
    turn.cancelled.set()
    assert script.play(turn, Request("hi", [])) == "cancelled"
    assert played.events()[-1]["status"] == "failed"
    turn.eof.set()
    with pytest.raises(EndOfInput):
        script.play(turn, Request("hi", []))
