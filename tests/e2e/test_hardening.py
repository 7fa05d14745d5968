"""Hardening: crashes, floods, faults and many sessions, with nothing lost and nobody wedged.

Every test runs the real bridge over real pipes. Figures (flood sizes, kill points, session
counts) are the ones the README's reliability section reports; change both together.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from editor import FakeEditor

from acp_bridge.eventlog.reader import CorruptLine, read_located_records, segment_paths
from acp_bridge.eventlog.records import LogRecord

pytestmark = pytest.mark.e2e

VMS = Path(__file__).parent.parent / "vms"
EXEC_VM = [sys.executable, str(VMS / "exec_vm.py")]
SESSION_VM = [sys.executable, str(VMS / "session_vm.py")]

#: SIGKILL the bridge this many times, each at a seeded random moment of a flood.
KILLS = 3
KILL_SEED = 20261124
FLOOD_EVENTS = 200_000
CONCURRENT_SESSIONS = 20
STDERR_FLOOD_LINES = 50_000


def vm(*args: str, base: list[str] = EXEC_VM) -> str:
    return shlex.join([*base, *args])


def records(log_dir: Path, session_id: str) -> list[LogRecord | CorruptLine]:
    return [item for _, item in read_located_records(segment_paths(log_dir, session_id))]


def chunks_in(items: Sequence[LogRecord | CorruptLine]) -> list[str]:
    return [
        r.event["content"]
        for r in items
        if isinstance(r, LogRecord) and r.event.get("type") == "agent_message_chunk"
    ]


def assert_gapless_prefix(items: list[LogRecord | CorruptLine]) -> list[LogRecord]:
    """Indexes 0..n-1 with no gap, every line parseable except at most a torn last one."""
    good = [r for r in items if isinstance(r, LogRecord)]
    bad = [r for r in items if isinstance(r, CorruptLine)]
    assert len(bad) <= 1, bad
    if bad:
        assert items[-1] is bad[0], "only the last line may be torn"
    assert [r.index for r in good] == list(range(len(good)))
    return good


# --------------------------------------------------------------------------- crash safety


def test_sigkill_at_random_points_of_a_flood_leaves_a_gapless_prefix_that_reloads(
    tmp_path: Path,
) -> None:
    rng = random.Random(KILL_SEED)
    logs = tmp_path / "logs"
    flood = vm("--flood", str(FLOOD_EVENTS))
    for attempt in range(KILLS):
        work = tmp_path / f"work{attempt}"
        work.mkdir()
        with FakeEditor("--vm-exec", flood, log_dir=logs, strict=False) as editor:
            editor.initialize()
            sid = editor.new_session(work)
            editor.prompt(sid, "flood")
            editor.wait_for(lambda m: m.get("method") == "session/update")
            time.sleep(rng.uniform(0.0, 0.4))
            editor.proc.kill()
            editor.proc.wait(10)
        good = assert_gapless_prefix(records(logs, sid))
        assert good[0].event["type"] == "acp_bridge.session"
        texts = chunks_in(good)
        assert texts == [f"n{i} " for i in range(len(texts))], "chunks are a prefix, in order"
        # The next bridge recovers the torn tail, replays what is there, and appends cleanly.
        # (Not strict: validating every replayed update would only make this slow; the
        # strict transcript checks of loads are in test_sessions.py.)
        with FakeEditor("--vm-exec", vm("--echo"), log_dir=logs, strict=False) as editor:
            editor.initialize()
            editor.call(
                "session/load",
                {"sessionId": sid, "cwd": str(work), "mcpServers": []},
                timeout=120,
            )
            replayed = [
                u["content"]["text"]
                for u in editor.updates(sid)
                if u["sessionUpdate"] == "agent_message_chunk"
            ]
            # (Text chunks may arrive merged when the editor falls behind: compare the text.)
            assert "".join(texts).startswith("".join(replayed))
            assert editor.call(
                "session/prompt",
                {"sessionId": sid, "prompt": [{"type": "text", "text": "after the crash"}]},
            ) == {"stopReason": "end_turn"}
            editor.close()
        after = records(logs, sid)
        assert not any(isinstance(r, CorruptLine) for r in after)
        assert [r.index for r in after if isinstance(r, LogRecord)] == list(range(len(after)))


def test_a_write_failure_is_counted_reported_once_and_forwarding_goes_on(tmp_path: Path) -> None:
    """The log hits RLIMIT_FSIZE (EFBIG, like a full disk) in the middle of a turn."""
    events = 5000
    launcher = ["sh", "-c", 'trap "" XFSZ; ulimit -f 64; exec "$@"', "sh"]
    with FakeEditor(
        "--vm-exec", vm("--flood", str(events)), log_dir=tmp_path / "logs", launcher=launcher
    ) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "go"}]}
        ) == {"stopReason": "end_turn"}
        status = editor.call("_acp_bridge/status", {})
        updates = editor.updates(sid)
        assert len(updates) + status["coalescedUpdates"] == events
        assert "".join(u["content"]["text"] for u in updates) == "".join(
            f"n{i} " for i in range(events)
        ), "every event still reached the editor"
        assert status["counters"]["eventlog_write_failures"] > 0
        [session] = status["sessions"]
        assert "File too large" in session["logError"]
        editor.close()
        assert editor.problems() == []
    reports = [line for line in editor.stderr_lines if "append failed" in line]
    assert len(reports) == 1, reports
    good = assert_gapless_prefix(records(tmp_path / "logs", sid))
    assert 0 < len(good) < events


# --------------------------------------------------------------------------- isolation


def test_twenty_concurrent_sessions_never_cross_talk(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    per_session = 200
    with FakeEditor("--vm-exec", vm("--flood", str(per_session), "--echo"), log_dir=logs) as editor:
        editor.initialize()
        sids = [editor.new_session(tmp_path) for _ in range(CONCURRENT_SESSIONS)]
        prompts = [editor.prompt(sid, f"I am session {k}") for k, sid in enumerate(sids)]
        for msg_id in prompts:
            assert editor.wait_response(msg_id, timeout=60)["result"] == {"stopReason": "end_turn"}
        for k, sid in enumerate(sids):
            texts = "".join(u["content"]["text"] for u in editor.updates(sid))
            assert texts == "".join(f"n{i} " for i in range(per_session)) + f"I am session {k}"
        status = editor.call("_acp_bridge/status", {})
        assert len(status["sessions"]) == CONCURRENT_SESSIONS
        editor.close()
        assert editor.problems() == []
    for k, sid in enumerate(sids):
        good = assert_gapless_prefix(records(logs, sid))
        assert {r.event.get("session_id") for r in good} == {sid}
        assert chunks_in(good)[-1] == f"I am session {k}"


def test_log_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    logs = tmp_path / "deep" / "logs"
    old = os.umask(0o022)  # a permissive umask must not widen them
    try:
        with FakeEditor("--vm-exec", vm("--echo"), log_dir=logs) as editor:
            editor.initialize()
            sid = editor.new_session(tmp_path)
            editor.call(
                "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "hi"}]}
            )
            editor.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    files = segment_paths(logs, sid)
    assert files
    assert {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o600}


@pytest.mark.parametrize("allow", [None, "PATH,LC_*"])
def test_the_vm_environment_is_the_bridges_unless_an_allow_list_is_given(
    tmp_path: Path, allow: str | None
) -> None:
    args = ["--vm-exec", vm("--env")] + (["--vm-env-allow", allow] if allow else [])
    env = {"ACP_BRIDGE_TEST_SECRET": "s3cret", "LC_HARDENING": "x"}
    with FakeEditor(*args, log_dir=tmp_path / "logs", env=env) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        editor.call("session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "?"}]})
        [update] = editor.updates(sid)
        names = set(json.loads(update["content"]["text"]))
        editor.close()
    assert {"ACP_BRIDGE_PROTOCOL", "ACP_BRIDGE_MODE", "ACP_BRIDGE_SESSION_ID"} <= names
    assert "LC_HARDENING" in names
    if allow is None:
        assert "ACP_BRIDGE_TEST_SECRET" in names
    else:
        assert names - {"PATH", "LC_HARDENING"} <= {
            "ACP_BRIDGE_PROTOCOL",
            "ACP_BRIDGE_MODE",
            "ACP_BRIDGE_SESSION_ID",
            *(n for n in names if n.startswith("LC_")),
        }


# --------------------------------------------------------------------------- a misbehaving VM


def test_a_stderr_flood_neither_blocks_the_turn_nor_floods_our_stderr(tmp_path: Path) -> None:
    flood = vm("--stderr-flood", str(STDERR_FLOOD_LINES), "--echo")
    with FakeEditor("--vm-exec", flood, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "hi"}]}
        ) == {"stopReason": "end_turn"}
        suppressed = editor.call("_acp_bridge/status", {})["counters"]["vm_stderr_lines_suppressed"]
        editor.close()
        assert editor.problems() == []
    copied = [line for line in editor.stderr_lines if "stderr flood x" in line]
    assert 0 < len(copied) < STDERR_FLOOD_LINES // 10
    assert suppressed + len(copied) == STDERR_FLOOD_LINES
    assert any("line(s) of a stderr flood not shown" in line for line in editor.stderr_lines)


def test_an_exec_vm_that_closes_stdout_but_keeps_running_is_stopped(tmp_path: Path) -> None:
    with FakeEditor(
        "--vm-exec", vm("--echo", "--close-stdout"), log_dir=tmp_path / "logs"
    ) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        started = time.monotonic()
        answer = editor.wait_response(editor.prompt(sid, "hi"), timeout=30)
        assert time.monotonic() - started < 20  # bounded (the grace is 2 s), not forever
        assert answer["error"]["code"] == -32603
        assert "closed its stdout" in answer["error"]["message"]
        assert [u["content"]["text"] for u in editor.updates(sid)] == ["hi"]
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["vm_stdout_closed_early"] == 1
        editor.close()
        assert editor.problems() == []


def test_a_session_vm_that_closes_stdout_fails_the_prompt_and_the_bridge_serves_on(
    tmp_path: Path,
) -> None:
    session_vm = vm("--close-stdout-at-prompt", base=SESSION_VM)
    with FakeEditor("--vm", session_vm, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "hi"), timeout=30)
        assert answer["error"]["code"] == -32603
        again = editor.wait_response(editor.prompt(sid, "again"), timeout=30)
        assert again["error"]["code"] == -32603  # a fresh VM, which does the same
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["vm_stdout_closed_early"] == 2
        editor.close()
        assert editor.problems() == []


def test_a_vm_line_over_the_configured_limit_is_skipped_and_counted(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    big = {"type": "agent_message_chunk", "session_id": "x", "content": "y" * 300_000}
    small = {"type": "agent_message_chunk", "session_id": "x", "content": "after"}
    events.write_text(json.dumps(big) + "\n" + json.dumps(small) + "\n")
    with FakeEditor(
        "--vm-exec",
        vm("--events", str(events)),
        "--max-vm-line-mib",
        "0.25",
        log_dir=tmp_path / "logs",
    ) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "hi"}]}
        ) == {"stopReason": "end_turn"}
        assert [u["content"]["text"] for u in editor.updates(sid)] == ["after"]
        assert editor.call("_acp_bridge/status", {})["counters"]["vm_overlong_lines"] == 1
        editor.close()
        assert editor.problems() == []


# --------------------------------------------------------------------------- a misbehaving editor


def test_a_50_mb_line_and_an_endless_line_are_refused_and_the_bridge_serves_on(
    tmp_path: Path,
) -> None:
    with FakeEditor("--vm-exec", vm("--echo"), log_dir=tmp_path / "logs") as editor:
        editor.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"p":"' + b"a" * 50_000_000)
        editor.send_raw(b'"}}\n')
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "ok"}]}
        ) == {"stopReason": "end_turn"}
        [refused] = [m for m in editor.messages if "error" in m and m.get("id") is None]
        assert refused["error"]["code"] == -32600
        assert editor.call("_acp_bridge/status", {})["counters"]["editor_overlong_lines"] == 1
        # An endless line: 40 MB with no newline, then the editor goes away.
        editor.send_raw(b"z" * 40_000_000)
        assert editor.close(timeout=30) == 0


def test_requests_in_flight_when_the_editor_closes_stdin_are_still_answered(
    tmp_path: Path,
) -> None:
    """Found by tests/fuzz: a session/new right before EOF used to go unanswered."""
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "session/new",
            "params": {"cwd": str(tmp_path), "mcpServers": []},
        },
    ]
    done = subprocess.run(
        [sys.executable, "-m", "acp_bridge", "--log-dir", str(tmp_path / "logs")],
        input=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        capture_output=True,
        timeout=60,
        check=True,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["id"] for a in answers] == [1, 2]
    assert "sessionId" in answers[1]["result"]


def test_a_prompt_in_flight_when_the_editor_closes_stdin_is_answered_cancelled(
    tmp_path: Path,
) -> None:
    with FakeEditor("--vm-exec", vm("--forever"), log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        msg_id = editor.prompt(sid, "never ends")
        editor.wait_for(lambda m: m.get("method") == "session/update")
        assert editor.close() == 0
        assert editor.wait_response(msg_id, timeout=1)["result"] == {"stopReason": "cancelled"}
        assert editor.problems() == []


def test_an_exec_vm_that_never_reads_its_stdin_does_not_wedge_the_turn(tmp_path: Path) -> None:
    """The request (with a 1 MB prompt) is more than a pipe holds: writing it must not block."""
    big = "x" * 1_000_000
    with FakeEditor(
        "--vm-exec", vm("--no-read-stdin", "--echo"), log_dir=tmp_path / "logs"
    ) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        for _ in range(2):  # and the session stays usable
            answer = editor.wait_response(editor.prompt(sid, big), timeout=30)
            assert answer["result"] == {"stopReason": "end_turn"}
        texts = [u["content"]["text"] for u in editor.updates(sid)]
        assert texts == ["(the prompt was not read)"] * 2
        editor.close()
        assert editor.problems() == []
