"""The ACP server end to end: a real bridge subprocess, real pipes, real VM processes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor, thread_update
from support.paths import DATA

from acp_bridge.eventlog.naming import log_name_for, segment_file_name

pytestmark = pytest.mark.e2e

PAIRS: list[dict[str, Any]] = json.loads((DATA / "harn_event_pairs.json").read_text())

TICKER = (
    "while true; do "
    'echo \'{"type":"agent_message_chunk","session_id":"x","content":"tick "}\'; '
    "sleep 0.05; done"
)


def sh(script: str) -> str:
    return shlex.join(["sh", "-c", script])


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "recorded.jsonl"
    path.write_text("".join(json.dumps(p["event"]) + "\n" for p in PAIRS))
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def read_log(log_dir: Path, session_id: str) -> list[dict[str, Any]]:
    text = (log_dir / segment_file_name(log_name_for(session_id), 0)).read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_initialize_answers_version_1_whatever_the_client_asks(logs: Path) -> None:
    with FakeEditor("--vm-exec", "true", log_dir=logs) as editor:
        result = editor.call("initialize", {"protocolVersion": 7, "clientCapabilities": {}})
        assert result["protocolVersion"] == 1
        caps = result["agentCapabilities"]
        assert caps["_meta"]["harn"]["extensionMethod"] == "_harn/session_update"
        assert result["agentInfo"]["name"] == "acp-bridge"
        assert editor.close() == 0
        assert editor.problems() == []


def test_exec_vm_turn_streams_updates_then_ends_turn_and_logs_everything(
    logs: Path, events_file: Path, tmp_path: Path
) -> None:
    with FakeEditor("--vm-exec", f"cat {events_file}", log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "hello"))
        assert answer["result"] == {"stopReason": "max_turn_requests"}  # budget_exhausted
        kinds = [u["sessionUpdate"] for u in editor.updates(sid)]
        assert "agent_message_chunk" in kinds
        assert "tool_call" in kinds
        assert "plan" in kinds
        assert editor.close() == 0
        assert editor.problems() == []
    records = read_log(logs, sid)
    assert [r["index"] for r in records] == list(range(len(records)))
    types = [r["type"] for r in records]
    assert types[0] == "acp_bridge.session"
    assert types[1] == "acp_bridge.prompt"
    assert types[-1] == "acp_bridge.turn_ended"
    assert records[-1]["stop_reason"] == "max_turn_requests"
    assert types[2] == "acp_bridge.vm_turn_started"
    assert types[3:-1] == [p["event"]["type"] for p in PAIRS]


def test_every_open_tool_call_ends_before_the_answer(logs: Path, tmp_path: Path) -> None:
    script = 'echo \'{"type":"tool_call","session_id":"x","tool_call_id":"t1","tool_name":"run"}\''
    with FakeEditor("--vm-exec", sh(script), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        answer_id = editor.prompt(sid, "go")
        assert editor.wait_response(answer_id)["result"] == {"stopReason": "end_turn"}
        updates = editor.updates(sid)
        assert updates[-1]["sessionUpdate"] == "tool_call_update"
        assert updates[-1]["status"] == "failed"
        editor.close()
        assert editor.problems() == []


def test_failing_exec_vm_answers_an_error_with_its_stderr(logs: Path, tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", sh("echo 'model unavailable' >&2; exit 3"), log_dir=logs) as ed:
        ed.initialize()
        sid = ed.new_session(tmp_path)
        answer = ed.wait_response(ed.prompt(sid, "go"))
        assert answer["error"]["code"] == -32603
        assert "exit status 3" in answer["error"]["message"]
        assert answer["error"]["data"]["stderrTail"] == ["model unavailable"]
        # the session stays usable
        again = ed.wait_response(ed.prompt(sid, "again"))
        assert again["error"]["code"] == -32603
        ed.close()
        assert ed.problems() == []


def test_cancel_mid_turn_answers_cancelled_fast_and_the_session_stays_usable(
    logs: Path, tmp_path: Path
) -> None:
    with FakeEditor("--vm-exec", sh(TICKER), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        first = editor.prompt(sid, "go")
        editor.wait_for(thread_update)
        cancelled_at = time.monotonic()
        editor.notify("session/cancel", {"sessionId": sid})
        answer = editor.wait_response(first)
        elapsed = time.monotonic() - cancelled_at
        assert answer["result"] == {"stopReason": "cancelled"}
        assert elapsed < 0.5, elapsed
        second = editor.prompt(sid, "again")
        editor.wait_for(lambda m: m.get("id") is None and m.get("method") == "session/update")
        time.sleep(0.2)
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(second)["result"] == {"stopReason": "cancelled"}
        editor.close()
        assert editor.problems() == []
    types = [r["type"] for r in read_log(logs, sid)]
    assert types.count("acp_bridge.turn_ended") == 2


def test_a_second_prompt_waits_for_the_first_and_never_mixes(
    logs: Path, events_file: Path, tmp_path: Path
) -> None:
    with FakeEditor("--vm-exec", f"cat {events_file}", log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        first, second = editor.prompt(sid, "one"), editor.prompt(sid, "two")
        editor.wait_response(second)
        order = [m.get("id") for m in editor.messages if m.get("id") in (first, second)]
        assert order == [first, second]
        editor.close()
        assert editor.problems() == []


def test_bad_input_gets_the_prescribed_answers_and_the_bridge_keeps_serving(
    logs: Path, tmp_path: Path
) -> None:
    with FakeEditor("--vm-exec", "true", log_dir=logs) as editor:
        editor.send_raw(b"this is not json\n")
        editor.send_raw(b'[{"jsonrpc":"2.0","id":"b1","method":"initialize"}]\n')
        editor.send_raw(b'{"jsonrpc":"1.0","id":"old","method":"initialize","params":{}}\n')
        editor.send_raw(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}\n')
        editor.send_raw(b'{"jsonrpc":"2.0","method":"no/such_notification","params":{}}\n')
        unknown = editor.request("no/such_method", {})
        assert editor.wait_response(unknown)["error"]["code"] == -32601
        editor.initialize()
        bad_cwd = editor.request("session/new", {"cwd": "relative/dir", "mcpServers": []})
        assert editor.wait_response(bad_cwd)["error"]["code"] == -32602
        no_mcp = editor.request("session/new", {"cwd": str(tmp_path)})
        assert editor.wait_response(no_mcp)["error"]["code"] == -32602
        ghost = editor.prompt("no-such-session", "hi")
        assert editor.wait_response(ghost)["error"]["code"] == -32002
        sid = editor.new_session(tmp_path)
        bad_block = editor.request(
            "session/prompt",
            {"sessionId": sid, "prompt": [{"type": "audio", "data": "", "mimeType": "audio/wav"}]},
        )
        assert editor.wait_response(bad_block)["error"]["code"] == -32602
        errors = [m for m in editor.messages if "error" in m and m.get("id") is None]
        assert [e["error"]["code"] for e in errors] == [-32700, -32600]
        assert editor.wait_response("old")["error"]["code"] == -32600
        status = editor.call("_acp_bridge/status", {})
        counters = status["counters"]
        assert counters["editor_parse_errors"] == 1
        assert counters["editor_invalid_requests"] == 2
        assert counters["editor_unexpected_responses"] == 1
        assert counters["editor_unknown_methods"] == 2
        for line in editor.raw_lines:
            assert json.loads(line)["jsonrpc"] == "2.0"
        assert editor.close() == 0


def test_vm_garbage_is_persisted_counted_and_never_reaches_the_editor(
    logs: Path, tmp_path: Path
) -> None:
    script = (
        "echo 'plain text from a careless print'; "
        'echo \'{"type":"from_the_future","session_id":"x"}\'; '
        'echo \'{"type":"agent_message_chunk","session_id":"x","content":5}\'; '
        'echo \'{"type":"agent_message_chunk","session_id":"x","content":"fine"}\''
    )
    with FakeEditor("--vm-exec", sh(script), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.wait_response(editor.prompt(sid, "go"))["result"]["stopReason"] == "end_turn"
        texts = [u["content"]["text"] for u in editor.updates(sid)]
        assert texts == ["fine"]
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["vm_undecodable_lines"] == 1
        assert counters["vm_unknown_event_types"] == 1
        assert counters["vm_invalid_events"] == 1
        editor.close()
        assert editor.problems() == []
    types = [r["type"] for r in read_log(logs, sid)]
    assert types == [
        "acp_bridge.session",
        "acp_bridge.prompt",
        "acp_bridge.vm_turn_started",
        "acp_bridge.undecodable",
        "from_the_future",
        "agent_message_chunk",
        "agent_message_chunk",
        "acp_bridge.turn_ended",
    ]


def test_vm_that_cannot_start_answers_a_clear_error(logs: Path, tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", "/no/such/vm --flag", log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "go"))
        assert answer["error"]["code"] == -32603
        assert "could not start" in answer["error"]["message"]
        editor.close()
        assert editor.problems() == []


def test_editor_going_away_stops_the_vm_and_exits_zero(logs: Path, tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", sh(TICKER), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        editor.prompt(sid, "go")
        editor.wait_for(thread_update)
        started = time.monotonic()
        assert editor.close() == 0
        assert time.monotonic() - started < 5


def test_stdout_is_only_protocol_even_when_verbose(
    logs: Path, events_file: Path, tmp_path: Path
) -> None:
    with FakeEditor("-v", "--vm-exec", f"cat {events_file}", log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        editor.wait_response(editor.prompt(sid, "go"))
        editor.close()
        for line in editor.raw_lines:
            assert json.loads(line)["jsonrpc"] == "2.0"
        assert any("DEBUG" in line for line in editor.stderr_lines)


def test_harn_opt_in_through_client_capabilities_sends_top_level_updates(
    logs: Path, events_file: Path, tmp_path: Path
) -> None:
    with FakeEditor("--vm-exec", f"cat {events_file}", log_dir=logs) as editor:
        result = editor.initialize(_meta={"harn": {"topLevelUpdates": True}})
        assert result["agentCapabilities"]["_meta"]["harn"]["topLevelUpdates"] is True
        sid = editor.new_session(tmp_path)
        editor.wait_response(editor.prompt(sid, "go"))
        kinds = {u["sessionUpdate"] for u in editor.updates(sid)}
        assert "skill_activated" in kinds
        assert not any(m.get("method") == "_harn/session_update" for m in editor.messages)
        editor.close()


def test_python_is_the_interpreter_used_for_the_default_example_vm() -> None:
    assert sys.executable


def test_a_slow_editor_applies_back_pressure_to_the_vm(logs: Path, tmp_path: Path) -> None:
    """While the editor reads nothing, the VM is held back instead of memory growing."""
    marker = tmp_path / "vm-finished"
    flood = (
        "import json, pathlib, sys\n"
        "line = json.dumps({'type': 'agent_message_chunk', 'session_id': 'x', "
        "'content': 'token ' * 8}) + '\\n'\n"
        "for _ in range(300_000):\n"
        "    sys.stdout.write(line)\n"
        "sys.stdout.flush()\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
    )
    script = tmp_path / "flood.py"
    script.write_text(flood)
    # 300,000 updates: too many to run each through the strict schema checker.
    editor = FakeEditor("--vm-exec", f"{sys.executable} {script}", log_dir=logs, strict=False)
    with editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        # Stop reading: freeze the editor's reader by holding its condition lock.
        with editor._arrived:  # the test plays a stalled editor
            editor.prompt(sid, "flood")
            time.sleep(3)
            assert not marker.exists(), "the VM ran to the end although nobody read its output"
            rss_kib = int(
                next(
                    line.split()[1]
                    for line in Path(f"/proc/{editor.proc.pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS:")
                )
            )
            assert rss_kib < 200_000, rss_kib
        editor.wait_response(2, timeout=120)
        assert marker.exists()
        # Behind, the editor got merged chunks: fewer updates, exactly the same text.
        updates = editor.updates(sid)
        assert "".join(u["content"]["text"] for u in updates) == "token " * 8 * 300_000
        coalesced = editor.call("_acp_bridge/status", {})["coalescedUpdates"]
        assert coalesced > 0
        assert len(updates) + coalesced == 300_000
        editor.close()


def test_prompt_blocks_reach_an_exec_vm_unchanged(logs: Path, tmp_path: Path) -> None:
    payload = tmp_path / "payload.json"
    blocks = [
        {"type": "text", "text": "look at this"},
        {"type": "resource_link", "uri": "file:///a/b.rs", "name": "b.rs"},
        {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
        {"type": "resource", "resource": {"uri": "file:///a/c.txt", "text": "hi"}},
    ]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({"promptCapabilities": {"image": True, "embeddedContext": True}})
    )
    vm = sh(f"cat > {payload}")
    with FakeEditor("--vm-exec", vm, "--vm-manifest", str(manifest), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        answer = editor.call("session/prompt", {"sessionId": sid, "prompt": blocks})
        assert answer == {"stopReason": "end_turn"}
        editor.close()
        assert editor.problems() == []
    request = json.loads(payload.read_text())
    assert request["prompt"] == blocks
    assert request["sessionId"] == sid
    assert request["cwd"] == str(tmp_path)
    assert request["protocolVersion"] == 1


def test_cancel_request_on_a_prompt_cancels_the_turn(logs: Path, tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", sh(TICKER), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        prompt_id = editor.prompt(sid, "go")
        editor.wait_for(thread_update)
        editor.notify("$/cancel_request", {"requestId": prompt_id})
        assert editor.wait_response(prompt_id)["result"] == {"stopReason": "cancelled"}
        editor.close()
        assert editor.problems() == []


def test_a_replayed_log_equals_what_the_editor_saw_live(
    logs: Path, events_file: Path, tmp_path: Path
) -> None:
    with FakeEditor("--vm-exec", f"cat {events_file}", log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        for text in ("first", "second"):
            editor.call(
                "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": text}]}
            )
        editor.close()
        live = [  # the title is the session's, not the log's: replay does not print it
            m
            for m in editor.messages
            if m.get("method") in ("_harn/session_update", "_harn/agentEvent") or thread_update(m)
        ]
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "acp_bridge",
            "replay",
            "--cwd",
            str(tmp_path),
            str(logs / segment_file_name(log_name_for(sid), 0)),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    replayed = [json.loads(line) for line in replay.stdout.splitlines()]
    user_chunks = [
        m
        for m in replayed
        if m["params"].get("update", {}).get("sessionUpdate") == "user_message_chunk"
    ]
    assert [u["params"]["update"]["content"]["text"] for u in user_chunks] == ["first", "second"]
    assert [m for m in replayed if m not in user_chunks] == live


def test_sigterm_stops_the_vm_flushes_the_log_and_exits_zero(logs: Path, tmp_path: Path) -> None:
    import signal

    with FakeEditor("--vm-exec", sh(TICKER), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        editor.prompt(sid, "go")
        editor.wait_for(thread_update)
        started = time.monotonic()
        editor.proc.send_signal(signal.SIGTERM)
        assert editor.proc.wait(10) == 0
        assert time.monotonic() - started < 5
        editor.close()
    lines = (logs / segment_file_name(log_name_for(sid), 0)).read_bytes().splitlines(keepends=True)
    assert all(line.endswith(b"\n") for line in lines)
    records = [json.loads(line) for line in lines]
    assert [r["index"] for r in records] == list(range(len(records)))


@pytest.mark.parametrize("source", ["devnull", "file"])
def test_stdin_from_a_file_or_dev_null_is_served_to_its_end(
    source: str, logs: Path, tmp_path: Path
) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        json.dumps(
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": 1}}
        )
        + "\n"
    )
    stdin_path = requests if source == "file" else Path(os.devnull)
    with stdin_path.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "acp_bridge", "--log-dir", str(logs), "--vm-exec", "true"],
            stdin=stdin,
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.splitlines()
    assert len(lines) == (1 if source == "file" else 0)
