"""Session mode end to end: one long-lived JSON-RPC VM per session, well- and ill-behaved."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor, thread_update
from support.paths import VMS

from acp_bridge.eventlog.naming import log_name_for, segment_file_name

pytestmark = pytest.mark.e2e


def session_vm(*flags: str) -> str:
    return shlex.join([sys.executable, str(VMS / "session_vm.py"), *flags])


def exec_vm(*flags: str) -> str:
    return shlex.join([sys.executable, str(VMS / "exec_vm.py"), *flags])


def read_log(log_dir: Path, session_id: str) -> list[dict[str, Any]]:
    text = (log_dir / segment_file_name(log_name_for(session_id), 0)).read_text()
    return [json.loads(line) for line in text.splitlines()]


def texts(editor: FakeEditor, session_id: str) -> list[str]:
    return [
        u["content"]["text"]
        for u in editor.updates(session_id)
        if u["sessionUpdate"] == "agent_message_chunk"
    ]


def start(editor: FakeEditor, cwd: Path) -> str:
    editor.initialize()
    return editor.new_session(cwd)


def test_turns_reach_the_same_vm_and_end_turn(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    with FakeEditor("--vm", session_vm("--frame-depth", "3"), log_dir=logs) as editor:
        sid = start(editor, tmp_path)
        for word in ("one", "two"):
            answer = editor.wait_response(editor.prompt(sid, word))
            assert answer["result"] == {"stopReason": "end_turn"}
        assert texts(editor, sid) == [
            "[1/2] You said: one\n",
            "[2/2] You said: one\n",
            "[1/2] You said: two\n",
            "[2/2] You said: two\n",
        ]
        editor.close()
        assert editor.problems() == []
    records = read_log(logs, sid)
    chunks = [r for r in records if r["type"] == "agent_message_chunk"]
    assert {r["frame_depth"] for r in chunks} == {3}


def test_plain_event_lines_work_in_session_mode(tmp_path: Path) -> None:
    with FakeEditor("--vm", session_vm("--plain-events"), log_dir=tmp_path / "l") as editor:
        sid = start(editor, tmp_path)
        assert editor.wait_response(editor.prompt(sid, "x"))["result"]["stopReason"] == "end_turn"
        assert len(texts(editor, sid)) == 2
        editor.close()
        assert editor.problems() == []


def test_cancel_reaches_the_vm_and_the_prompt_answers_cancelled(tmp_path: Path) -> None:
    with FakeEditor(
        "--vm", session_vm("--chunks", "200", "--interval", "0.02"), log_dir=tmp_path / "l"
    ) as editor:
        sid = start(editor, tmp_path)
        first = editor.prompt(sid, "long")
        editor.wait_for(thread_update)
        sent = time.monotonic()
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(first)["result"] == {"stopReason": "cancelled"}
        assert time.monotonic() - sent < 0.5
        follow_up = editor.prompt(sid, "after")
        editor.wait_for(lambda m: m.get("method") == "session/update" and "after" in json.dumps(m))
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(follow_up)["result"] == {"stopReason": "cancelled"}
        editor.close()
        assert editor.problems() == []


def test_a_prompt_sent_while_a_cancelled_turn_winds_down_works(tmp_path: Path) -> None:
    with FakeEditor(
        "--vm",
        session_vm("--chunks", "100", "--interval", "0.02", "--slow-cancel", "0.6"),
        log_dir=tmp_path / "l",
    ) as editor:
        sid = start(editor, tmp_path)
        first = editor.prompt(sid, "long")
        editor.wait_for(thread_update)
        editor.notify("session/cancel", {"sessionId": sid})
        second = editor.prompt(sid, "next")  # arrives before the VM has wound down
        assert editor.wait_response(first)["result"] == {"stopReason": "cancelled"}
        editor.wait_for(lambda m: "next" in json.dumps(m) and m.get("method") == "session/update")
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(second)["result"]["stopReason"] == "cancelled"
        editor.close()
        assert editor.problems() == []


def test_a_vm_that_ignores_cancel_is_answered_for_and_restarted(tmp_path: Path) -> None:
    logs = tmp_path / "l"
    with FakeEditor(
        "--vm",
        session_vm("--chunks", "1000", "--interval", "0.02", "--ignore-cancel"),
        log_dir=logs,
    ) as editor:
        sid = start(editor, tmp_path)
        first = editor.prompt(sid, "long")
        editor.wait_for(thread_update)
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(first)["result"] == {"stopReason": "cancelled"}
        answered = len(editor.updates(sid))
        time.sleep(0.3)
        assert len(editor.updates(sid)) == answered, "updates after the answer were forwarded"
        editor.close()
        assert editor.problems() == []
    late = [r for r in read_log(logs, sid)[3:] if r["type"] == "agent_message_chunk"]
    assert len(late) > answered  # persisted, never forwarded


def test_vm_exiting_mid_turn_fails_the_prompt_and_the_next_prompt_restarts_it(
    tmp_path: Path,
) -> None:
    with FakeEditor("--vm", session_vm("--exit-mid-turn", "4"), log_dir=tmp_path / "l") as editor:
        sid = start(editor, tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "x"))
        assert answer["error"]["code"] == -32603
        assert "exit status 4" in answer["error"]["message"]
        again = editor.wait_response(editor.prompt(sid, "y"))
        assert again["error"]["code"] == -32603  # it exits again, but it was restarted
        editor.close()
        assert editor.problems() == []


@pytest.mark.parametrize(
    ("flag", "expect"),
    [("--bad-stop-reason", {"result": {"stopReason": "end_turn"}}), ("--error-answer", None)],
)
def test_bad_vm_answers(tmp_path: Path, flag: str, expect: dict[str, Any] | None) -> None:
    with FakeEditor("--vm", session_vm(flag), log_dir=tmp_path / "l") as editor:
        sid = start(editor, tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "x"))
        if expect is None:
            assert answer["error"]["code"] == -32603
            assert answer["error"]["data"]["vmError"]["code"] == -32000
        else:
            assert answer["result"] == expect["result"]
        editor.close()
        assert editor.problems() == []


def test_events_outside_a_turn_are_logged_not_forwarded(tmp_path: Path) -> None:
    logs = tmp_path / "l"
    with FakeEditor("--vm", session_vm("--events-outside-turn"), log_dir=logs) as editor:
        sid = start(editor, tmp_path)
        time.sleep(0.5)  # the VM writes a chunk right after initialize: before any prompt
        editor.wait_response(editor.prompt(sid, "x"))
        time.sleep(0.3)  # ... and one right after its answer
        editor.close()
        assert editor.problems() == []
        assert texts(editor, sid) == ["[1/2] You said: x\n", "[2/2] You said: x\n"]
    chunks = [r for r in read_log(logs, sid) if r["type"] == "agent_message_chunk"]
    assert len(chunks) >= 3


def test_a_vm_that_never_initializes_fails_the_prompt_not_the_bridge(tmp_path: Path) -> None:
    with FakeEditor("--vm", session_vm("--no-initialize-answer"), log_dir=tmp_path / "l") as ed:
        sid = start(ed, tmp_path)
        ed.prompt(sid, "x")
        time.sleep(0.5)
        ed.notify("session/cancel", {"sessionId": sid})
        answer = ed.wait_response(2, timeout=10)
        assert answer.get("result") == {"stopReason": "cancelled"} or "error" in answer
        assert ed.close() == 0


def test_the_example_vm_streams_a_full_turn_and_honours_cancel(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Demo project\n\nSome text.\n")
    with FakeEditor(log_dir=tmp_path / "l", env={"ACP_BRIDGE_EXAMPLE_PACE": "0.1"}) as editor:
        sid = start(editor, tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "what is here?"))
        assert answer["result"] == {"stopReason": "end_turn"}
        kinds = {u["sessionUpdate"] for u in editor.updates(sid)}
        assert {
            "agent_thought_chunk",
            "agent_message_chunk",
            "plan",
            "tool_call",
            "tool_call_update",
        } <= kinds
        tool = next(u for u in editor.updates(sid) if u["sessionUpdate"] == "tool_call")
        assert tool["locations"] == [{"path": str(tmp_path / "README.md")}]
        second = editor.prompt(sid, "again")
        editor.wait_for(
            lambda m: (
                (
                    m.get("method") == "session/update"
                    and m["params"]["update"]["sessionUpdate"] == "user_message_chunk"
                )
                or (m.get("method") == "session/update" and "again" in json.dumps(m))
            )
        )
        sent = time.monotonic()
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(second)["result"] == {"stopReason": "cancelled"}
        assert time.monotonic() - sent < 0.5
        third = editor.wait_response(editor.prompt(sid, "third"))
        assert third["result"] == {"stopReason": "end_turn"}
        editor.close()
        assert editor.problems() == []


def test_exec_vm_that_forks_a_child_takes_it_down_on_cancel(tmp_path: Path) -> None:
    with FakeEditor(
        "--vm-exec",
        exec_vm("--forever", "--fork-child", "--sleep-per-event", "0.05"),
        log_dir=tmp_path / "l",
    ) as editor:
        sid = start(editor, tmp_path)
        first = editor.prompt(sid, "x")
        editor.wait_for(thread_update)
        child = next(int(line.rsplit(" ", 1)[-1]) for line in editor.wait_stderr("child-pid"))
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(first)["result"] == {"stopReason": "cancelled"}
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{child}").exists() or _is_zombie(child)
        editor.close()


def _is_zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
