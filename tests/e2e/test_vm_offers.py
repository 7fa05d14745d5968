"""What a VM offers, as events, reaches the editor in place: after the session's answer,
between turns too, again after a load from a new bridge; and a VM's terminals show on
their tool call, as Zed's ``_meta`` or as text.

The bridge runs over real pipes; every message it writes is checked against the pinned
ACP schema with closed objects, and turn updates outside a turn are flagged
(``editor.problems()``).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor
from support.manifests import MODEL, MODES
from support.paths import VMS

pytestmark = pytest.mark.e2e

MANIFEST: dict[str, Any] = {
    "modes": MODES,
    "configOptions": [MODEL],
    "commands": [{"name": "declared", "description": "From the manifest"}],
}
COMMANDS = [{"name": "review", "description": "Review the diff", "input": {"hint": "focus"}}]
AT_START = [
    {"type": "available_commands", "commands": COMMANDS},
    {"type": "session_info", "title": "The VM's own title"},
    {"type": "usage", "used": 100, "size": 1000},
    {"type": "mode_changed", "mode_id": "code"},
]
AFTER_ANSWER = [
    {"type": "usage", "used": 250, "size": 1000, "cost": {"amount": 0.5, "currency": "USD"}},
]


def manifest_file(tmp_path: Path) -> str:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(MANIFEST))
    return str(path)


def session_vm(*args: str) -> str:
    return shlex.join([sys.executable, str(VMS / "session_vm.py"), *args])


def position(editor: FakeEditor, predicate: Any) -> int:
    return next(i for i, m in enumerate(editor.messages) if predicate(m))


def is_update(session_id: str, kind: str) -> Any:
    def check(message: dict[str, Any]) -> bool:
        params: Any = message.get("params")
        return (
            message.get("method") == "session/update"
            and params["sessionId"] == session_id
            and params["update"]["sessionUpdate"] == kind
        )

    return check


def answer_to(request_id: Any) -> Any:
    return lambda m: m.get("id") == request_id and "method" not in m


def test_session_level_events_reach_the_editor_in_place_and_again_after_a_load(
    tmp_path: Path,
) -> None:
    manifest = manifest_file(tmp_path)
    logs = tmp_path / "logs"
    vm = session_vm(
        "--emit-at-start", json.dumps(AT_START), "--emit-after-answer", json.dumps(AFTER_ANSWER)
    )
    with FakeEditor("--vm", vm, "--vm-manifest", manifest, log_dir=logs) as editor:
        editor.initialize()
        new_id = editor.request("session/new", {"cwd": str(tmp_path), "mcpServers": []})
        sid = editor.wait_response(new_id)["result"]["sessionId"]
        editor.wait_for(is_update(sid, "current_mode_update"))
        answered = position(editor, answer_to(new_id))
        first = position(editor, lambda m: m.get("method") == "session/update")
        assert answered < first  # nothing about the session before its answer
        commands = [
            u["availableCommands"]
            for u in editor.updates(sid, session_level=True)
            if u["sessionUpdate"] == "available_commands_update"
        ]
        assert commands[-1] == COMMANDS  # the VM's list follows the declared one
        assert editor.wait_response(editor.prompt(sid, "hello"))["result"] == {
            "stopReason": "end_turn"
        }
        # Between turns, after the prompt's answer: forwarded.
        usage = editor.wait_for(
            lambda m: is_update(sid, "usage_update")(m) and "cost" in m["params"]["update"]
        )
        assert usage["params"]["update"]["used"] == 250
        listed = editor.call("session/list", {})["sessions"]
        assert [s["title"] for s in listed if s["sessionId"] == sid] == ["The VM's own title"]
        assert editor.close() == 0
        assert editor.problems() == []

    # A new bridge, with no VM running at the load: what follows the answer is the log's.
    with FakeEditor("--vm-exec", "true", "--vm-manifest", manifest, log_dir=logs) as editor:
        editor.initialize()
        load_id = editor.request(
            "session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []}
        )
        answer = editor.wait_response(load_id)["result"]
        assert answer["modes"]["currentModeId"] == "code"
        editor.wait_for(is_update(sid, "usage_update"))
        answered = position(editor, answer_to(load_id))
        after = [
            m["params"]["update"]
            for m in editor.messages[answered + 1 :]
            if m.get("method") == "session/update"
        ]
        by_kind = {u["sessionUpdate"]: u for u in after}
        assert by_kind["available_commands_update"]["availableCommands"] == COMMANDS
        assert by_kind["current_mode_update"]["currentModeId"] == "code"
        assert by_kind["session_info_update"]["title"] == "The VM's own title"
        assert by_kind["usage_update"] == {
            "sessionUpdate": "usage_update",
            "used": 250,
            "size": 1000,
            "cost": {"amount": 0.5, "currency": "USD"},
        }
        modes = [o for o in by_kind["config_option_update"]["configOptions"] if o["id"] == "mode"]
        assert modes[0]["currentValue"] == "code"
        # The replay before the answer sent no session-level update.
        before = [
            m["params"]["update"]["sessionUpdate"]
            for m in editor.messages[:answered]
            if m.get("method") == "session/update"
        ]
        assert not {"usage_update", "available_commands_update", "current_mode_update"} & set(
            before
        )
        assert editor.close() == 0
        assert editor.problems() == []


def test_a_notice_is_a_notice_only_for_clients_that_take_notices(tmp_path: Path) -> None:
    notice = [{"type": "notice", "severity": "warning", "title": "Low disk"}]
    vm = session_vm("--emit-at-start", json.dumps(notice))
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs") as editor:
        editor.initialize(session={"notices": {}})
        sid = editor.new_session(tmp_path)
        got = editor.wait_for(is_update(sid, "notice"))
        assert got["params"]["update"] == {
            "sessionUpdate": "notice",
            "severity": "warning",
            "title": "Low disk",
        }
        assert editor.close() == 0
        assert editor.problems() == []


def terminal_events(tmp_path: Path) -> str:
    events: list[dict[str, Any]] = [
        {"type": "tool_call", "tool_call_id": "c1", "tool_name": "bash", "raw_input": {}},
        {"type": "terminal_output", "tool_call_id": "c1", "terminal_id": "t1", "command": "ls"},
        {"type": "terminal_output", "tool_call_id": "c1", "terminal_id": "t1", "data": "a.txt\n"},
        {"type": "terminal_output", "tool_call_id": "c1", "terminal_id": "t1", "exit_code": 0},
        {"type": "tool_call_update", "tool_call_id": "c1", "status": "completed"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"session_id": "x", **e}) + "\n" for e in events))
    vm = [sys.executable, str(VMS / "exec_vm.py"), "--no-read-stdin", "--events", str(path)]
    return shlex.join(vm)


@pytest.mark.parametrize("meta", [True, False], ids=["terminal_meta", "text"])
def test_a_vms_own_terminal_shows_on_its_tool_call(tmp_path: Path, meta: bool) -> None:
    vm = terminal_events(tmp_path)
    capabilities: dict[str, Any] = {"fs": {"readTextFile": False}}
    if meta:
        capabilities["_meta"] = {"terminal_output": True}
    with FakeEditor("--vm-exec", vm, log_dir=tmp_path / "logs") as editor:
        editor.initialize(**capabilities)
        sid = editor.new_session(tmp_path)
        assert editor.wait_response(editor.prompt(sid, "go"))["result"] == {
            "stopReason": "end_turn"
        }
        calls = [u for u in editor.updates(sid) if u["sessionUpdate"] == "tool_call_update"]
        if meta:
            metas = [u["_meta"] for u in calls if "_meta" in u]
            assert metas[0]["terminal_info"] == {"terminal_id": "t1"}
            assert calls[0]["content"] == [{"type": "terminal", "terminalId": "t1"}]
            assert metas[1]["terminal_output"] == {"terminal_id": "t1", "data": "a.txt\n"}
            assert metas[2]["terminal_exit"] == {
                "terminal_id": "t1",
                "exit_code": 0,
                "signal": None,
            }
        else:
            texts = [
                u["content"][0]["content"]["text"] for u in calls if u.get("content") is not None
            ]
            assert texts[-1] == "$ ls\na.txt\n[exit code 0]"
        assert calls[-1]["status"] == "completed"
        assert editor.close() == 0
        assert editor.problems() == []
