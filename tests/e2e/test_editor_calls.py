"""Requests a session-mode VM makes of the editor, proxied by the bridge."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor
from support.paths import VMS

from acp_bridge.eventlog.naming import log_name_for, segment_file_name

pytestmark = pytest.mark.e2e


def vm_calling(*calls: tuple[str, dict[str, Any]]) -> str:
    argv = [sys.executable, str(VMS / "session_vm.py"), "--chunks", "1"]
    for method, params in calls:
        argv += ["--call", method, json.dumps(params)]
    return shlex.join(argv)


def answers_seen(editor: FakeEditor, session_id: str) -> list[dict[str, Any]]:
    """What the VM got back, as it streamed it into its message chunks."""
    out = []
    for update in editor.updates(session_id):
        text = update.get("content", {}).get("text", "")
        if text.startswith("{"):
            out.append(json.loads(text))
    return out


def run_turn(editor: FakeEditor, tmp_path: Path, **caps: Any) -> str:
    editor.initialize(**caps)
    sid = editor.new_session(tmp_path)
    assert editor.call(
        "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "go"}]}
    ) == {"stopReason": "end_turn"}
    return sid


def test_read_is_forwarded_with_the_acp_session_and_answered_under_the_vms_id(
    tmp_path: Path,
) -> None:
    target = str(tmp_path / "a.txt")
    seen: list[tuple[str, Any]] = []

    def answer(method: str, params: Any) -> Any:
        seen.append((method, params))
        return ("result", {"content": "hello from the editor buffer"})

    with FakeEditor(
        "--vm",
        vm_calling(("fs/read_text_file", {"path": target})),
        log_dir=tmp_path / "logs",
        answer=answer,
    ) as editor:
        sid = run_turn(editor, tmp_path, fs={"readTextFile": True, "writeTextFile": False})
        [(method, params)] = seen
        assert method == "fs/read_text_file"
        assert params == {"sessionId": sid, "path": target}
        [got] = answers_seen(editor, sid)
        assert got["id"] == "vm-call-1"
        assert got["result"] == {"content": "hello from the editor buffer"}
        editor.close()
        assert editor.problems() == []
    records = [
        json.loads(line)
        for line in (tmp_path / "logs" / segment_file_name(log_name_for(sid), 0))
        .read_text()
        .splitlines()
    ]
    calls = [r for r in records if r["type"] == "acp_bridge.editor_call"]
    assert calls[0]["method"] == "fs/read_text_file"
    assert calls[0]["result"] == {"content": "hello from the editor buffer"}


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("fs/read_text_file", {"path": "/x"}),
        ("fs/write_text_file", {"path": "/x", "content": ""}),
        ("terminal/create", {"command": "ls"}),
    ],
)
def test_a_capability_the_editor_did_not_advertise_is_refused_at_once(
    tmp_path: Path, method: str, params: dict[str, Any]
) -> None:
    with FakeEditor("--vm", vm_calling((method, params)), log_dir=tmp_path / "l") as editor:
        sid = run_turn(editor, tmp_path, fs={"readTextFile": False})
        [got] = answers_seen(editor, sid)
        assert got["error"]["code"] == -32601
        assert editor.requests == []
        assert editor.call("_acp_bridge/status", {})["counters"]["vm_refused_requests"] == 1
        editor.close()
        assert editor.problems() == []
    assert any(f"asked for {method}, refused" in line for line in editor.stderr_lines)


@pytest.mark.parametrize("path", ["relative/a.txt", "/etc/passwd"])
def test_paths_must_be_absolute_and_inside_the_session(tmp_path: Path, path: str) -> None:
    with FakeEditor(
        "--vm", vm_calling(("fs/read_text_file", {"path": path})), log_dir=tmp_path / "l"
    ) as editor:
        sid = run_turn(editor, tmp_path, fs={"readTextFile": True})
        [got] = answers_seen(editor, sid)
        assert got["error"]["code"] == -32602
        assert editor.requests == []
        assert editor.call("_acp_bridge/status", {})["counters"]["vm_refused_requests"] == 1
        editor.close()


def test_permission_gets_acp_options_and_the_chosen_kind_and_always_is_remembered(
    tmp_path: Path,
) -> None:
    asked: list[Any] = []

    def answer(method: str, params: Any) -> Any:
        asked.append(params)
        return ("result", {"outcome": {"outcome": "selected", "optionId": "allow_always"}})

    harn_style = {"approvalRequest": {"toolCallId": "c1", "title": "Edit src/a.rs"}}
    vm = vm_calling(
        ("session/request_permission", harn_style), ("session/request_permission", harn_style)
    )
    with FakeEditor("--vm", vm, log_dir=tmp_path / "l", answer=answer) as editor:
        sid = run_turn(editor, tmp_path)
        assert len(asked) == 1, "the second request is answered from memory"
        assert {o["kind"] for o in asked[0]["options"]} == {
            "allow_once",
            "allow_always",
            "reject_once",
            "reject_always",
        }
        assert asked[0]["toolCall"] == {"toolCallId": "c1", "title": "Edit src/a.rs"}
        first, second = answers_seen(editor, sid)
        assert first["result"]["kind"] == "allow_always"
        assert second["result"]["kind"] == "allow_always"
        assert second["result"]["_meta"] == {"acp_bridge": {"remembered": True}}
        editor.close()
        assert editor.problems() == []


def test_editor_errors_reach_the_vm(tmp_path: Path) -> None:
    def answer(method: str, params: Any) -> Any:
        return ("error", {"code": -32002, "message": "no such file"})

    target = str(tmp_path / "missing.txt")
    with FakeEditor(
        "--vm",
        vm_calling(("fs/read_text_file", {"path": target})),
        log_dir=tmp_path / "l",
        answer=answer,
    ) as editor:
        sid = run_turn(editor, tmp_path, fs={"readTextFile": True})
        [got] = answers_seen(editor, sid)
        assert got["error"] == {"code": -32002, "message": "no such file"}
        editor.close()
        assert editor.problems() == []


def test_cancel_while_a_permission_prompt_is_open(tmp_path: Path) -> None:
    vm = vm_calling(
        ("session/request_permission", {"toolCall": {"toolCallId": "c", "title": "Run rm -rf"}})
    )
    with FakeEditor("--vm", vm, log_dir=tmp_path / "l", answer=lambda m, p: None) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        prompt = editor.prompt(sid, "go")
        editor.wait_for(lambda m: m.get("method") == "session/request_permission")
        editor.notify("session/cancel", {"sessionId": sid})
        cancel = editor.wait_for(lambda m: m.get("method") == "$/cancel_request")
        assert cancel["params"]["requestId"] == editor.requests[0]["id"]
        assert editor.wait_response(prompt)["result"] == {"stopReason": "cancelled"}
        # the editor may still answer late: the bridge must not mind
        editor.send(
            {
                "jsonrpc": "2.0",
                "id": editor.requests[0]["id"],
                "error": {"code": -32800, "message": "cancelled"},
            }
        )
        editor.close()
        problems = editor.problems()
        assert problems == [] or all(
            "response to" in p or "never answered" in p for p in problems
        ), problems


def test_a_session_with_editor_calls_reloads_cleanly(tmp_path: Path) -> None:
    target = str(tmp_path / "a.txt")

    def answer(method: str, params: Any) -> Any:
        return ("result", {"content": "x"})

    logs = tmp_path / "logs"
    vm = vm_calling(("fs/read_text_file", {"path": target}))
    with FakeEditor("--vm", vm, log_dir=logs, answer=answer) as editor:
        sid = run_turn(editor, tmp_path, fs={"readTextFile": True})
        live = editor.updates(sid)
        editor.close()
    with FakeEditor("--vm", vm, log_dir=logs, answer=answer) as again:
        again.initialize(fs={"readTextFile": True})
        again.call("session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []})
        replayed = [u for u in again.updates(sid) if u["sessionUpdate"] != "user_message_chunk"]
        assert replayed == live
        again.close()
        assert not any("unknown bridge record" in line for line in again.stderr_lines)
        assert again.problems() == []


def test_a_vm_that_exits_with_a_request_pending_leaves_nothing_dangling(tmp_path: Path) -> None:
    vm = (
        vm_calling(
            ("session/request_permission", {"toolCall": {"toolCallId": "c", "title": "Deploy"}})
        )
        + " --exit-after-call 3"
    )
    with FakeEditor("--vm", vm, log_dir=tmp_path / "l", answer=lambda m, p: None) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        prompt = editor.prompt(sid, "go")
        answer = editor.wait_response(prompt, timeout=10)
        assert answer["error"]["code"] == -32603
        cancel = editor.wait_for(lambda m: m.get("method") == "$/cancel_request", timeout=10)
        assert cancel["params"]["requestId"] == editor.requests[0]["id"]
        editor.send(
            {
                "jsonrpc": "2.0",
                "id": editor.requests[0]["id"],
                "error": {"code": -32800, "message": "cancelled"},
            }
        )
        assert editor.close() == 0
        assert editor.problems() == []


def test_an_editor_that_never_answers_times_out(tmp_path: Path) -> None:
    target = str(tmp_path / "a.txt")
    vm = vm_calling(("fs/read_text_file", {"path": target}))
    with FakeEditor(
        "--editor-timeout", "0.5", "--vm", vm, log_dir=tmp_path / "l", answer=lambda m, p: None
    ) as editor:
        sid = run_turn(editor, tmp_path, fs={"readTextFile": True})
        [got] = answers_seen(editor, sid)
        assert got["error"]["code"] == -32603
        assert "did not answer" in got["error"]["message"]
        cancel = editor.wait_for(lambda m: m.get("method") == "$/cancel_request")
        assert cancel["params"]["requestId"] == editor.requests[0]["id"]
        assert editor.call("_acp_bridge/status", {})["counters"]["editor_call_timeouts"] == 1
        editor.send(
            {
                "jsonrpc": "2.0",
                "id": editor.requests[0]["id"],
                "error": {"code": -32800, "message": "cancelled"},
            }
        )
        editor.close()
        assert editor.problems() == []


# --------------------------------------------------------------------------- additional roots


def test_additional_directories_are_roots_for_the_vms_paths(tmp_path: Path) -> None:
    """A path in an additional directory goes to the editor; one outside every root does not."""
    work, extra, elsewhere = (tmp_path / n for n in ("work", "extra", "elsewhere"))
    for directory in (work, extra, elsewhere):
        directory.mkdir()
    inside, outside = str(extra / "a.txt"), str(elsewhere / "b.txt")

    def answer(method: str, params: Any) -> Any:
        return ("result", {"content": f"read {params['path']}"})

    vm = vm_calling(
        ("fs/read_text_file", {"path": inside}), ("fs/read_text_file", {"path": outside})
    )
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs", answer=answer) as editor:
        init = editor.initialize(fs={"readTextFile": True})
        assert init["agentCapabilities"]["sessionCapabilities"]["additionalDirectories"] == {}
        sid = editor.call(
            "session/new",
            {"cwd": str(work), "mcpServers": [], "additionalDirectories": [str(extra)]},
        )["sessionId"]
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "go"}]}
        ) == {"stopReason": "end_turn"}
        first, second = answers_seen(editor, sid)
        assert first["result"] == {"content": f"read {inside}"}
        assert second["error"]["code"] == -32602
        assert [r["params"]["path"] for r in editor.requests] == [inside]
        [listed] = editor.call("session/list", {})["sessions"]
        assert listed["additionalDirectories"] == [str(extra)]
        editor.close()
        assert editor.problems() == []


def test_a_relative_additional_directory_is_invalid_params(tmp_path: Path) -> None:
    with FakeEditor("--vm", vm_calling(), log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        answer = editor.wait_response(
            editor.request(
                "session/new",
                {"cwd": str(tmp_path), "mcpServers": [], "additionalDirectories": ["rel"]},
            )
        )
        assert answer["error"]["code"] == -32602
        assert answer["error"]["data"] == {"field": "additionalDirectories.0"}
        editor.close()
        assert editor.problems() == []


def test_load_replaces_the_roots_and_list_reports_the_latest(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    logs = tmp_path / "logs"
    with FakeEditor("--vm", vm_calling(), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.call(
            "session/new",
            {"cwd": str(tmp_path), "mcpServers": [], "additionalDirectories": [str(one)]},
        )["sessionId"]
        editor.close()
    with FakeEditor("--vm", vm_calling(), log_dir=logs) as editor:
        editor.initialize()
        editor.call(
            "session/load",
            {
                "sessionId": sid,
                "cwd": str(tmp_path),
                "mcpServers": [],
                "additionalDirectories": [str(two)],
            },
        )
        [listed] = editor.call("session/list", {})["sessions"]
        assert listed["additionalDirectories"] == [str(two)]
        editor.close()
        assert editor.problems() == []


# --------------------------------------------------------------------------- the example VM


def test_the_example_vm_edits_a_file_in_the_editor_only_after_the_user_allowed_it(
    tmp_path: Path,
) -> None:
    """Through the bridge: ask (with the diff), then fs/write_text_file; nothing on disk."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("# Demo\n\nSome text.\n")
    asked: list[str] = []
    writes: list[dict[str, Any]] = []

    def answer(method: str, params: Any) -> Any:
        asked.append(method)
        if method == "session/request_permission":
            assert params["toolCall"]["content"][0]["type"] == "diff"
            return ("result", {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
        if method == "fs/read_text_file":
            if params["path"].endswith("README.md"):
                return ("result", {"content": "# From the buffer\n\nUnsaved.\n"})
            return ("error", {"code": -32002, "message": "Resource not found"})
        if method == "fs/write_text_file":
            writes.append(params)
            return ("result", {})
        return ("error", {"code": -32601, "message": "no"})

    with FakeEditor(
        log_dir=tmp_path / "logs", answer=answer, env={"ACP_BRIDGE_EXAMPLE_PACE": "0"}
    ) as editor:
        editor.initialize(fs={"readTextFile": True, "writeTextFile": True})
        sid = editor.new_session(work)
        assert editor.call(
            "session/prompt",
            {"sessionId": sid, "prompt": [{"type": "text", "text": "write notes"}]},
        ) == {"stopReason": "end_turn"}
        assert asked == [
            "fs/read_text_file",  # README, from the editor's buffer
            "fs/read_text_file",  # the notes file's current text (none yet)
            "session/request_permission",
            "fs/write_text_file",
        ]
        [write] = writes
        assert write["path"] == str(work / "acp-bridge-notes.md")
        assert "From the buffer" in write["content"]
        assert not (work / "acp-bridge-notes.md").exists()  # the editor writes, not the VM
        edit = [u for u in editor.updates(sid) if u.get("kind") == "edit"]
        assert edit[0]["content"][0] == {
            "type": "diff",
            "path": str(work / "acp-bridge-notes.md"),
            "oldText": None,
            "newText": write["content"],
        }
        editor.close()
        assert editor.problems() == []
