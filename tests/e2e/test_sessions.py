"""Sessions that survive: load, list, resume, close and delete from the event log."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor, thread_update
from support.paths import DATA, VMS

from acp_bridge.eventlog.naming import log_name_for, segment_file_name

pytestmark = pytest.mark.e2e

PAIRS: list[dict[str, Any]] = json.loads((DATA / "harn_event_pairs.json").read_text())
TICKER = shlex.join(
    [sys.executable, str(VMS / "exec_vm.py"), "--forever", "--sleep-per-event", "0.03"]
)


@pytest.fixture
def recorded(tmp_path: Path) -> str:
    path = tmp_path / "recorded.jsonl"
    path.write_text("".join(json.dumps(p["event"]) + "\n" for p in PAIRS))
    return f"cat {path}"


#: Updates about the session rather than its thread: sent again after a load's answer, so
#: not part of the history a load replays.
SESSION_LEVEL = frozenset({"session_info_update", "available_commands_update"})


def kind(message: dict[str, Any]) -> Any:
    return message.get("params", {}).get("update", {}).get("sessionUpdate")


def streamed(editor: FakeEditor, session_id: str) -> list[dict[str, Any]]:
    """The thread's updates of ``session_id`` (not the session-level ones)."""
    return [
        m
        for m in editor.messages
        if m.get("method") in ("session/update", "_harn/session_update")
        and m["params"]["sessionId"] == session_id
        and kind(m) not in SESSION_LEVEL
    ]


def load_agent_side(editor: FakeEditor, session_id: str, cwd: Path) -> list[dict[str, Any]]:
    """Load a session; return what it replayed apart from the user's own prompts."""
    editor.call("session/load", {"sessionId": session_id, "cwd": str(cwd), "mcpServers": []})
    return [
        m
        for m in streamed(editor, session_id)
        if m["params"]["update"].get("sessionUpdate") != "user_message_chunk"
    ]


def test_a_thread_survives_a_restart_exactly(tmp_path: Path, recorded: str) -> None:
    logs = tmp_path / "logs"
    with FakeEditor("--vm-exec", recorded, log_dir=logs) as first:
        first.initialize()
        sid = first.new_session(tmp_path)
        first.call(
            "session/prompt",
            {"sessionId": sid, "prompt": [{"type": "text", "text": "first question"}]},
        )
        first.call(
            "session/prompt",
            {"sessionId": sid, "prompt": [{"type": "text", "text": "second question"}]},
        )
        live = streamed(first, sid)
        [title] = [m for m in first.messages if kind(m) == "session_info_update"]
        assert title["params"]["update"] == {
            "sessionUpdate": "session_info_update",
            "title": "first question",
        }
        first.close()
        assert first.problems() == []
    with FakeEditor("--vm-exec", recorded, log_dir=logs) as second:
        caps = second.initialize()["agentCapabilities"]
        assert caps["loadSession"] is True
        assert caps["sessionCapabilities"] == {
            "list": {},
            "resume": {},
            "close": {},
            "delete": {},
            "additionalDirectories": {},
        }
        assert (
            second.call("session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []})
            == {}
        )
        # The title comes again right after the answer, never in the history before it.
        title = second.wait_for(lambda m: kind(m) == "session_info_update")
        at = next(i for i, m in enumerate(second.messages) if m is title)
        answer_before = second.messages[at - 1]
        assert answer_before.get("result") == {}
        assert title["params"]["update"]["title"] == "first question"
        replayed = streamed(second, sid)
        users = [
            m
            for m in replayed
            if m["params"]["update"].get("sessionUpdate") == "user_message_chunk"
        ]
        assert [u["params"]["update"]["content"]["text"] for u in users] == [
            "first question",
            "second question",
        ]
        assert [m for m in replayed if m not in users] == live
        # the thread goes on
        answer = second.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "third"}]}
        )
        assert answer["stopReason"] == "max_turn_requests"
        second.close()
        assert second.problems() == []


def test_a_cancelled_turn_in_the_middle_reloads_as_it_was(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    with FakeEditor("--vm-exec", TICKER, log_dir=logs) as first:
        first.initialize()
        sid = first.new_session(tmp_path)
        prompt = first.prompt(sid, "tick")
        first.wait_for(thread_update)
        time.sleep(0.2)
        first.notify("session/cancel", {"sessionId": sid})
        assert first.wait_response(prompt)["result"]["stopReason"] == "cancelled"
        time.sleep(0.3)  # late output is logged, never sent
        live = streamed(first, sid)
        first.close()
    with FakeEditor("--vm-exec", TICKER, log_dir=logs) as second:
        second.initialize()
        replayed = load_agent_side(second, sid, tmp_path)
        assert replayed == live
        second.close()
        assert second.problems() == []


def test_list_resume_close_delete(tmp_path: Path, recorded: str) -> None:
    logs = tmp_path / "logs"
    other = tmp_path / "other"
    other.mkdir()
    with FakeEditor("--vm-exec", recorded, log_dir=logs) as editor:
        editor.initialize()
        a = editor.new_session(tmp_path)
        editor.call(
            "session/prompt",
            {"sessionId": a, "prompt": [{"type": "text", "text": "Why is the build red?"}]},
        )
        b = editor.new_session(other)
        listed = editor.call("session/list", {})
        assert {s["sessionId"] for s in listed["sessions"]} == {a, b}
        assert "nextCursor" not in listed
        mine = editor.call("session/list", {"cwd": str(tmp_path)})["sessions"]
        assert [(s["sessionId"], s["title"]) for s in mine] == [(a, "Why is the build red?")]
        assert mine[0]["updatedAt"].endswith("Z")
        # resume: no replay, but the session is live again
        before = len(streamed(editor, a))
        titles = [m for m in editor.messages if kind(m) == "session_info_update"]
        assert editor.call("session/resume", {"sessionId": a, "cwd": str(tmp_path)}) == {}
        # only the session's state again: its title, right after the answer
        title = editor.wait_for(
            lambda m: kind(m) == "session_info_update" and all(m is not t for t in titles)
        )
        assert title["params"]["update"]["title"] == "Why is the build red?"
        at = next(i for i, m in enumerate(editor.messages) if m is title)
        assert editor.messages[at - 1].get("result") == {}
        assert len(streamed(editor, a)) == before
        assert (
            editor.call(
                "session/prompt", {"sessionId": a, "prompt": [{"type": "text", "text": "again"}]}
            )["stopReason"]
            == "max_turn_requests"
        )
        # close keeps the log
        assert editor.call("session/close", {"sessionId": a}) == {}
        gone = editor.wait_response(editor.prompt(a, "hello?"))
        assert gone["error"]["code"] == -32002
        assert (logs / segment_file_name(log_name_for(a), 0)).exists()
        # delete removes it; unknown ids succeed
        assert editor.call("session/delete", {"sessionId": a}) == {}
        assert not (logs / segment_file_name(log_name_for(a), 0)).exists()
        assert editor.call("session/delete", {"sessionId": "never-existed"}) == {}
        assert [s["sessionId"] for s in editor.call("session/list", {})["sessions"]] == [b]
        editor.close()
        assert editor.problems() == []


def test_a_session_open_in_one_bridge_is_refused_by_another(tmp_path: Path, recorded: str) -> None:
    """Two editors, two bridges, one log directory: one appender per session."""
    logs = tmp_path / "logs"
    load = {"cwd": str(tmp_path), "mcpServers": []}
    with FakeEditor("--vm-exec", recorded, log_dir=logs) as first:
        first.initialize()
        sid = first.new_session(tmp_path)
        with FakeEditor("--vm-exec", recorded, log_dir=logs) as second:
            second.initialize()
            refused = second.wait_response(
                second.request("session/load", {"sessionId": sid, **load})
            )
            assert refused["error"]["code"] == -32603
            assert "open in another process" in refused["error"]["message"]
            busy = second.wait_response(second.request("session/delete", {"sessionId": sid}))
            assert "open in another process" in busy["error"]["message"]
            assert (logs / segment_file_name(log_name_for(sid), 0)).exists()
            counters = second.call("_acp_bridge/status", {})["counters"]
            assert counters["eventlog_open_failures"] == 1
            # Once the first lets go, the second may take the session over.
            assert first.call("session/close", {"sessionId": sid}) == {}
            assert second.call("session/load", {"sessionId": sid, **load}) == {}
            second.close()
        first.close()


def test_unknown_and_unsafe_ids(tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", "true", log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        params = {"cwd": str(tmp_path), "mcpServers": []}
        missing = editor.request("session/load", {"sessionId": "no-such-session", **params})
        assert editor.wait_response(missing)["error"]["code"] == -32002
        for bad in ("../../etc/passwd", "/abs/path", "a\x00b", "x" * 10_000):
            answer = editor.wait_response(
                editor.request("session/load", {"sessionId": bad, **params})
            )
            assert answer["error"]["code"] == -32602, bad
        close = editor.wait_response(editor.request("session/close", {"sessionId": "nope"}))
        assert close["error"]["code"] == -32002
        editor.close()
        assert editor.problems() == []


def test_a_harn_log_lists_and_loads_without_invented_prompts(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    harn_id = "7f3c2a9e-1b4d-4c8e-9a55-0d2e6b1f8c33"
    lines = [
        json.dumps(
            {"index": i, "emitted_at_ms": 1_700_000_000_000 + i, "frame_depth": None, **p["event"]}
        )
        for i, p in enumerate(PAIRS)
    ]
    (logs / segment_file_name(harn_id, 0)).write_text("\n".join(lines) + "\n")
    with FakeEditor("--vm-exec", "true", log_dir=logs) as editor:
        editor.initialize()
        listed = editor.call("session/list", {})["sessions"]
        assert [s["sessionId"] for s in listed] == [harn_id]
        editor.call("session/load", {"sessionId": harn_id, "cwd": str(tmp_path), "mcpServers": []})
        updates = editor.updates(harn_id)
        assert updates[0]["_meta"] == {"acp_bridge": {"notice": True}}
        assert not any(u["sessionUpdate"] == "user_message_chunk" for u in updates)
        assert any(u["sessionUpdate"] == "tool_call" for u in updates)
        editor.close()
        assert editor.problems() == []


def test_a_corrupt_line_in_the_middle_is_reported_and_the_rest_replays(
    tmp_path: Path, recorded: str
) -> None:
    logs = tmp_path / "logs"
    with FakeEditor("--vm-exec", recorded, log_dir=logs) as first:
        first.initialize()
        sid = first.new_session(tmp_path)
        first.call("session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "q"}]})
        first.close()
    path = logs / segment_file_name(log_name_for(sid), 0)
    lines = path.read_text().splitlines()
    lines.insert(5, "{this line is damaged")
    path.write_text("\n".join(lines) + "\n")
    with FakeEditor("--vm-exec", recorded, log_dir=logs) as second:
        second.initialize()
        second.call("session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []})
        assert any(u["sessionUpdate"] == "plan" for u in second.updates(sid))
        second.close()
        assert any(f"{path}:6:" in line for line in second.stderr_lines)
        assert second.problems() == []


def test_rotation_across_segments_during_a_load(tmp_path: Path, recorded: str) -> None:
    logs = tmp_path / "logs"
    with FakeEditor("--max-segment-mib", "1", "--vm-exec", recorded, log_dir=logs) as first:
        first.initialize()
        sid = first.new_session(tmp_path)
        for n in range(3):
            first.call(
                "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": f"q{n}"}]}
            )
        live = streamed(first, sid)
        first.close()
    # rotate by hand into three segments, as a small cap would have
    path = logs / segment_file_name(log_name_for(sid), 0)
    lines = path.read_text().splitlines(keepends=True)
    third = len(lines) // 3
    path.write_text("".join(lines[:third]))
    (logs / segment_file_name(log_name_for(sid), 1)).write_text("".join(lines[third : 2 * third]))
    (logs / segment_file_name(log_name_for(sid), 2)).write_text("".join(lines[2 * third :]))
    with FakeEditor("--vm-exec", recorded, log_dir=logs) as second:
        second.initialize()
        replayed = load_agent_side(second, sid, tmp_path)
        assert replayed == live
        second.close()
        assert second.problems() == []


def test_list_pages_with_a_cursor_newest_first(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(105):
        sid = f"listed-{n:03d}x"
        records: list[dict[str, Any]] = [
            {
                "index": 0,
                "emitted_at_ms": 1_700_000_000_000 + n,
                "frame_depth": None,
                "type": "acp_bridge.session",
                "session_id": sid,
                "cwd": str(tmp_path),
                "mcp_servers": [],
            },
        ]
        (logs / segment_file_name(sid, 0)).write_text(
            "".join(json.dumps(r) + "\n" for r in records)
        )
    with FakeEditor("--vm-exec", "true", log_dir=logs) as editor:
        editor.initialize()
        first = editor.call("session/list", {"cwd": str(tmp_path)})
        assert len(first["sessions"]) == 100
        assert first["sessions"][0]["sessionId"] == "listed-104x"
        rest = editor.call("session/list", {"cwd": str(tmp_path), "cursor": first["nextCursor"]})
        assert [s["sessionId"] for s in rest["sessions"]] == [
            f"listed-{n:03d}x" for n in range(4, -1, -1)
        ]
        assert "nextCursor" not in rest
        bad = editor.wait_response(editor.request("session/list", {"cursor": "not-a-cursor"}))
        assert bad["error"]["code"] == -32602
        assert editor.call("session/list", {"cwd": "/elsewhere"}) == {"sessions": []}
        editor.close()
        assert editor.problems() == []
