"""Hardening: crashes, floods, faults and many sessions, with nothing lost and nobody wedged.

Every test runs the real bridge over real pipes. Figures (flood sizes, kill points, session
counts) are the ones the README's reliability section reports; change both together.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from support.editor import FakeEditor, thread_update
from support.paths import VMS

from acp_bridge.eventlog.reader import CorruptLine, read_located_records, segment_paths
from acp_bridge.eventlog.records import LogRecord

pytestmark = pytest.mark.e2e

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


def vm_pids(editor: FakeEditor) -> list[int]:
    """The pids the test VMs announced on stderr (``vm-pid N``), in order."""
    return [int(line.rsplit(" ", 1)[-1]) for line in editor.stderr_lines if "vm-pid" in line]


def wait_until_gone(pid: int, timeout: float = 15) -> None:
    """Wait for ``pid`` to be dead (a zombie left for init to reap counts as dead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} is still running")


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
            editor.wait_for(thread_update)
            time.sleep(rng.uniform(0.0, 0.4))
            editor.proc.kill()
            editor.proc.wait(10)
        items = records(logs, sid)
        good = assert_gapless_prefix(items)
        assert good[0].event["type"] == "acp_bridge.session"
        texts = chunks_in(good)
        assert texts == [f"n{i} " for i in range(len(texts))], "chunks are a prefix, in order"
        assert 0 < len(texts) < FLOOD_EVENTS, "killed in the middle of the flood"
        # A SIGKILL cannot tear a single write(2); a power cut can. Make the tail torn the
        # way that would (half a record, no newline) so that every round exercises recovery.
        last = segment_paths(logs, sid)[-1]
        if not isinstance(items[-1], CorruptLine):
            whole = last.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
            with last.open("ab") as segment:
                segment.write(whole[: len(whole) // 2])
        torn = last.read_bytes().rsplit(b"\n", 1)[-1]
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
            assert "".join(replayed) == "".join(texts)
            counters = editor.call("_acp_bridge/status", {})["counters"]
            assert counters["eventlog_torn_tails"] == 1
            assert counters["eventlog_corrupt_lines"] == 0
            assert last.with_name(last.name + ".torn").read_bytes() == torn + b"\n"
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


@pytest.mark.parametrize("mode", ["exec", "session"])
def test_twenty_concurrent_sessions_never_cross_talk(tmp_path: Path, mode: str) -> None:
    logs = tmp_path / "logs"
    per_session = 200
    if mode == "exec":
        args = ("--vm-exec", vm("--flood", str(per_session), "--echo"))
    else:
        args = ("--vm", vm("--chunks", str(per_session), base=SESSION_VM))

    def expected(k: int) -> str:
        if mode == "exec":
            return "".join(f"n{i} " for i in range(per_session)) + f"I am session {k}"
        said = f"You said: I am session {k}\n"
        return "".join(f"[{i}/{per_session}] {said}" for i in range(1, per_session + 1))

    with FakeEditor(*args, log_dir=logs) as editor:
        editor.initialize()
        sids = [editor.new_session(tmp_path) for _ in range(CONCURRENT_SESSIONS)]
        prompts = [editor.prompt(sid, f"I am session {k}") for k, sid in enumerate(sids)]
        for msg_id in prompts:
            assert editor.wait_response(msg_id, timeout=60)["result"] == {"stopReason": "end_turn"}
        updates = [m["params"] for m in editor.messages if thread_update(m)]
        assert {u["sessionId"] for u in updates} == set(sids)
        for k, sid in enumerate(sids):
            texts = "".join(u["content"]["text"] for u in editor.updates(sid))
            assert texts == expected(k)
        status = editor.call("_acp_bridge/status", {})
        assert len(status["sessions"]) == CONCURRENT_SESSIONS
        editor.close()
        assert editor.problems() == []
    for k, sid in enumerate(sids):
        good = assert_gapless_prefix(records(logs, sid))
        assert {r.event.get("session_id") for r in good} == {sid}
        assert "".join(chunks_in(good)) == expected(k)


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


def test_a_log_directory_that_cannot_be_made_refuses_the_session_and_counts_it(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the log directory should be")
    with FakeEditor("--vm-exec", vm("--echo"), log_dir=blocker / "logs") as editor:
        editor.initialize()
        answer = editor.wait_response(
            editor.request("session/new", {"cwd": str(tmp_path), "mcpServers": []})
        )
        assert answer["error"]["code"] == -32603
        assert "cannot open the event log" in answer["error"]["message"]
        counters = editor.call("_acp_bridge/status", {})["counters"]
        editor.close()
    assert counters["eventlog_open_failures"] == 1
    assert counters["editor_refused_requests"] == 0  # the editor's request was fine


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


@pytest.mark.parametrize("mode", ["exec", "session"])
def test_a_vm_that_exits_mid_turn_fails_the_prompt_with_every_event_before_it_logged(
    tmp_path: Path, mode: str
) -> None:
    logs = tmp_path / "logs"
    if mode == "exec":
        args = ("--vm-exec", vm("--flood", "100", "--stderr", "dying", "--exit", "3"))
        before = [f"n{i} " for i in range(100)]
    else:
        args = ("--vm", vm("--chunks", "3", "--exit-mid-turn", "4", base=SESSION_VM))
        before = ["[1/3] You said: go\n"]
    with FakeEditor(*args, log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "go"))
        assert answer["error"]["code"] == -32603
        assert f"exit status {3 if mode == 'exec' else 4}" in answer["error"]["message"]
        assert "".join(u["content"]["text"] for u in editor.updates(sid)) == "".join(before)
        again = editor.wait_response(editor.prompt(sid, "go"))  # a new VM, which fails again
        assert again["error"]["code"] == -32603
        editor.close()
        assert editor.problems() == []
    good = assert_gapless_prefix(records(logs, sid))
    assert chunks_in(good) == before * 2
    ended = [r.event for r in good if r.event["type"] == "acp_bridge.turn_ended"]
    assert len(ended) == 2


@pytest.mark.parametrize("holds_stdout", [True, False])
def test_what_an_exec_vm_leaves_running_dies_with_it(tmp_path: Path, holds_stdout: bool) -> None:
    """A background child that inherited stdout would otherwise hold the turn open forever."""
    chunk = '{"type":"agent_message_chunk","session_id":"x","content":"done"}'
    # The child sleeps in the VM's process group; with holds_stdout it keeps the VM's stdout.
    redirect = "" if holds_stdout else " >/dev/null 2>&1"
    script = f"sleep 600{redirect} & echo \"child-pid $!\" >&2; echo '{chunk}'; exit 0"
    with FakeEditor("--vm-exec", shlex.join(["sh", "-c", script]), log_dir=tmp_path) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "go"), timeout=30)
        assert answer["result"] == {"stopReason": "end_turn"}
        assert [u["content"]["text"] for u in editor.updates(sid)] == ["done"]
        [child] = [int(line.rsplit(" ", 1)[-1]) for line in editor.wait_stderr("child-pid")]
        wait_until_gone(child)
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["vm_leftover_processes"] == 1
        assert any("exited leaving processes" in line for line in editor.stderr_lines)
        editor.close()
        assert editor.problems() == []


def test_an_exec_vm_that_ignores_sigterm_is_killed_after_cancel_and_at_shutdown(
    tmp_path: Path,
) -> None:
    tick = '{"type":"agent_message_chunk","session_id":"x","content":"tick "}'
    script = (
        'echo "vm-pid $$" >&2; read -r request; '
        'case "$request" in *stubborn*) '
        f"trap '' TERM; while :; do echo '{tick}'; sleep 0.05; done;; "
        'esac; echo \'{"type":"agent_message_chunk","session_id":"x","content":"ok"}\''
    )
    with FakeEditor("--vm-exec", shlex.join(["sh", "-c", script]), log_dir=tmp_path) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        first = editor.prompt(sid, "be stubborn")
        editor.wait_for(thread_update)
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(first)["result"] == {"stopReason": "cancelled"}
        [stubborn] = [int(line.rsplit(" ", 1)[-1]) for line in editor.wait_stderr("vm-pid")]
        wait_until_gone(stubborn)  # SIGTERM ignored: SIGKILL after the grace periods
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "hi"}]}
        ) == {"stopReason": "end_turn"}
        third = editor.prompt(sid, "stubborn again")
        editor.wait_for(lambda m: "tick" in json.dumps(m) and len(vm_pids(editor)) == 3)
        editor.proc.send_signal(signal.SIGTERM)
        assert editor.proc.wait(30) == 0
        assert editor.wait_response(third, timeout=5)["result"] == {"stopReason": "cancelled"}
        wait_until_gone(vm_pids(editor)[-1])
        editor.close()
        assert editor.problems() == []


def test_a_session_vm_that_ignores_eof_and_sigterm_is_killed_at_shutdown(tmp_path: Path) -> None:
    stubborn = vm("--ignore-eof", "--ignore-term", "--print-pid", base=SESSION_VM)
    with FakeEditor("--vm", stubborn, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "hi"}]}
        ) == {"stopReason": "end_turn"}
        [pid] = [int(line.rsplit(" ", 1)[-1]) for line in editor.wait_stderr("session-vm-pid")]
        assert editor.close(timeout=30) == 0  # stdin EOF, then SIGTERM, then SIGKILL
        wait_until_gone(pid)
        assert editor.problems() == []
    good = assert_gapless_prefix(records(tmp_path / "logs", sid))
    assert good[-1].event["type"] == "acp_bridge.turn_ended"


def test_a_session_vm_that_stops_reading_stdin_is_cancelled_and_restarted(
    tmp_path: Path,
) -> None:
    """A 1 MB prompt fills the pipe of a VM that reads nothing: the cancel must not wait."""
    marker = tmp_path / "stopped-reading-once"
    busy = vm("--stop-reading-once", str(marker), "--print-pid", base=SESSION_VM)
    with FakeEditor("--vm", busy, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        first = editor.prompt(sid, "x" * 1_000_000)
        [stuck] = [int(line.rsplit(" ", 1)[-1]) for line in editor.wait_stderr("session-vm-pid")]
        # Cancel once the prompt is being written (the bridge logs that just before).
        deadline = time.monotonic() + 20
        while not any(
            isinstance(r, LogRecord) and r.event["type"] == "acp_bridge.vm_turn_started"
            for r in records(tmp_path / "logs", sid)
        ):
            assert time.monotonic() < deadline, "the prompt never went to the VM"
            time.sleep(0.02)
        assert marker.exists()
        editor.notify("session/cancel", {"sessionId": sid})
        assert editor.wait_response(first)["result"] == {"stopReason": "cancelled"}
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "again"}]}
        ) == {"stopReason": "end_turn"}
        assert [u["content"]["text"] for u in editor.updates(sid)][-2:] == [
            "[1/2] You said: again\n",
            "[2/2] You said: again\n",
        ]
        wait_until_gone(stuck)
        assert editor.call("_acp_bridge/status", {})["counters"]["vm_failures"] == 1
        editor.close()
        assert editor.problems() == []


def test_nothing_a_vm_prints_reaches_the_editor_untranslated(tmp_path: Path) -> None:
    """Forged JSON-RPC from a VM (updates for another session, requests) goes nowhere."""
    forged_update = {
        "jsonrpc": "2.0",
        "method": "session/update",
        "params": {
            "sessionId": "someone-else",
            "update": {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "forged"},
            },
        },
    }
    forged_request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "fs/read_text_file",
        "params": {"sessionId": "someone-else", "path": "/etc/passwd"},
    }
    mine = {"type": "agent_message_chunk", "session_id": "someone-else", "content": "mine"}
    events = tmp_path / "forged.jsonl"
    events.write_text("".join(json.dumps(m) + "\n" for m in (forged_update, forged_request, mine)))
    calls = ["--call", "session/update", json.dumps(forged_update["params"])]
    calls += ["--call", "fs/read_text_file", json.dumps({"path": "/etc/passwd"})]
    for args in (
        ("--vm-exec", shlex.join(["cat", str(events)])),
        ("--vm", vm(*calls, "--chunks", "1", base=SESSION_VM)),
    ):
        with FakeEditor(*args, log_dir=tmp_path / "logs") as editor:
            editor.initialize()  # no fs capability: reads are refused too
            sid = editor.new_session(tmp_path)
            assert editor.call(
                "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "x"}]}
            ) == {"stopReason": "end_turn"}
            updates = [m["params"] for m in editor.messages if thread_update(m)]
            assert {u["sessionId"] for u in updates} == {sid}
            assert "forged" not in json.dumps(editor.messages)
            assert editor.requests == []
            if args[0] == "--vm-exec":
                assert [u["update"]["content"]["text"] for u in updates] == ["mine"]
                counters = editor.call("_acp_bridge/status", {})["counters"]
                assert counters["vm_bad_answers"] == 2
            else:
                answers = [json.loads(u["update"]["content"]["text"]) for u in updates[:2]]
                assert [a["error"]["code"] for a in answers] == [-32601, -32601]
            editor.close()
            assert editor.problems() == []


# --------------------------------------------------------------------------- a misbehaving editor


#: Malformed editor lines and the answer JSON-RPC prescribes: (id, code), or None for none.
MALFORMED: list[tuple[bytes, tuple[str | None, int] | None]] = [
    (b'{"jsonrpc":"2.0","id":"u8","method":"initialize","params":{"x":"\xff"}}', (None, -32700)),
    (b'{"jsonrpc":"2.0","id":{"a":1},"method":"initialize"}', (None, -32600)),
    (b'{"jsonrpc":"2.0","id":"m5","method":5}', ("m5", -32600)),
    (b'{"jsonrpc":"2.0","id":"p1","method":"session/new","params":"x"}', ("p1", -32602)),
    (b'{"jsonrpc":"2.0","id":"p2","method":"session/new","params":[1]}', ("p2", -32602)),
    (b'{"jsonrpc":"2.0","id":"p3","method":"session/new","params":{"cwd":5}}', ("p3", -32602)),
    (b'{"jsonrpc":"2.0","id":"noop"}', ("noop", -32600)),
    (b'{"jsonrpc":"2.0","method":"session/cancel","params":"x"}', None),
    (b'{"jsonrpc":"2.0","id":"never-sent","result":{}}', None),
    (b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"x"}}', None),
    (b'{"jsonrpc":"2.0","id":7,"result":1,"error":{"code":1,"message":"x"}}', None),
    (b'{"jsonrpc":"2.0","method":"session/cancel","params":{"sessionId":"ghost"}}', None),
    (
        b'{"jsonrpc":"2.0","id":"q1","method":"session/prompt","params":{"prompt":[]}}',
        ("q1", -32602),
    ),
]


def test_every_malformed_editor_message_gets_its_prescribed_answer_and_is_counted(
    tmp_path: Path,
) -> None:
    with FakeEditor("--vm-exec", vm("--echo"), log_dir=tmp_path / "logs", strict=False) as editor:
        editor.initialize()
        for line, _ in MALFORMED:
            editor.send_raw(line + b"\n")
        closed = editor.new_session(tmp_path)
        editor.call("session/close", {"sessionId": closed})
        late = editor.wait_response(editor.prompt(closed, "too late"))
        assert late["error"]["code"] == -32002
        # ... and the bridge serves on.
        sid = editor.new_session(tmp_path)
        assert editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "ok"}]}
        ) == {"stopReason": "end_turn"}
        counters = editor.call("_acp_bridge/status", {})["counters"]
        editor.close()
    for expected in (e for _, e in MALFORMED if e is not None and e[0] is not None):
        assert editor.wait_response(expected[0])["error"]["code"] == expected[1], expected
    null_answers = [m["error"]["code"] for m in editor.messages if m.get("id", 0) is None]
    assert null_answers == [e[1] for _, e in MALFORMED if e is not None and e[0] is None]
    for raw in editor.raw_lines:
        message = json.loads(raw)
        assert message["jsonrpc"] == "2.0"
        assert ("result" in message) != ("error" in message) or "method" in message
    assert counters["editor_parse_errors"] == 1
    assert counters["editor_invalid_requests"] == 7
    assert counters["editor_unexpected_responses"] == 2
    assert counters["editor_notification_errors"] == 1
    assert counters["editor_refused_requests"] == 3  # p3, q1 and the prompt to a closed session
    assert any("response to no request id" in line for line in editor.stderr_lines)


def test_session_ids_never_reach_outside_the_log_directory(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    victim = tmp_path / "event_log-victim.jsonl"
    victim.write_text('{"keep": "me"}\n')
    before = {p.name for p in tmp_path.iterdir()}
    with FakeEditor("--vm-exec", vm("--echo"), log_dir=logs) as editor:
        editor.initialize()
        for bad in (
            "../event_log-victim",
            "../../victim",
            "/abs/victim",
            "a/../../b",
            "..",
            "x\x00",
        ):
            for method in ("session/load", "session/resume", "session/close"):
                params: dict[str, object] = {"sessionId": bad}
                if method != "session/close":
                    params |= {"cwd": str(tmp_path), "mcpServers": []}
                answer = editor.wait_response(editor.request(method, params))
                assert answer["error"]["code"] == -32602, (method, bad, answer)
            assert editor.call("session/delete", {"sessionId": bad}) == {}
        editor.close()
        assert editor.problems() == []
    assert victim.read_text() == '{"keep": "me"}\n'
    assert {p.name for p in tmp_path.iterdir()} <= before | {"logs"}
    assert not logs.exists() or list(logs.iterdir()) == []


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
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    answers = [m for m in messages if "method" not in m]  # the VM's commands follow session/new
    assert [a["id"] for a in answers] == [1, 2]
    assert "sessionId" in answers[1]["result"]


def test_a_prompt_in_flight_when_the_editor_closes_stdin_is_answered_cancelled(
    tmp_path: Path,
) -> None:
    with FakeEditor("--vm-exec", vm("--forever"), log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        msg_id = editor.prompt(sid, "never ends")
        editor.wait_for(thread_update)
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
