"""Hostile and careless editors, over real pipes: the bridge answers, bounds and goes on.

Every test runs the real bridge as a subprocess. The editor here omits what JSON-RPC lets
it omit, answers what it should not, reuses the bridge's ids, floods it with requests
without reading the answers, or never answers a VM's request; the VMs ask for files through
symlinks and flood the editor with requests. Figures (flood sizes, bounds) are the ones the
README's reliability table reports; change both together.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor, thread_update
from support.paths import VMS

from acp_bridge.editor_gateway import MAX_EDITOR_CALLS_PER_SESSION

pytestmark = pytest.mark.e2e

SESSION_VM = [sys.executable, str(VMS / "session_vm.py")]
BURST_VM = [sys.executable, str(VMS / "burst_vm.py")]

#: Requests a VM sends the editor at once in the flood test.
VM_FLOOD_REQUESTS = 10_000
#: What an editor that never reads tries to write: requests of ``_acp_bridge/status``.
EDITOR_FLOOD_BYTES = 100 * 1024 * 1024
#: How much the bridge's resident memory may grow in either flood (generous: the outbox's
#: marks are 4 and 8 MiB; before the bounds the VM flood cost 250 MiB and the editor flood
#: grew without limit).
RSS_GROWTH_BOUND_MIB = 96


def vm_calling(*calls: tuple[str, dict[str, Any]]) -> str:
    argv = [*SESSION_VM, "--chunks", "1"]
    for method, params in calls:
        argv += ["--call", method, json.dumps(params)]
    return shlex.join(argv)


def burst(method: str, params: dict[str, Any], count: int, *more: str) -> str:
    return shlex.join(
        [*BURST_VM, "--burst", method, json.dumps(params), "--count", str(count), *more]
    )


def answers_seen(editor: FakeEditor, session_id: str) -> list[dict[str, Any]]:
    """What the VM got back, as it streamed it into its message chunks."""
    out = []
    for update in editor.updates(session_id):
        text = update.get("content", {}).get("text", "")
        if text.startswith("{"):
            out.append(json.loads(text))
    return out


def prompt_params(session_id: str, text: str = "go") -> dict[str, Any]:
    return {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}


def run_turn(editor: FakeEditor, cwd: Path, **caps: Any) -> str:
    editor.initialize(**caps)
    sid = editor.new_session(cwd)
    assert editor.call("session/prompt", prompt_params(sid)) == {"stopReason": "end_turn"}
    return sid


def counters(editor: FakeEditor) -> dict[str, int]:
    result: dict[str, int] = editor.call("_acp_bridge/status", {})["counters"]
    return result


def wait_counter(editor: FakeEditor, name: str, value: int, timeout: float = 30) -> None:
    """Wait until the bridge's counter ``name`` reaches ``value`` (handlers run as tasks)."""
    deadline = time.monotonic() + timeout
    while (seen := counters(editor)[name]) < value:
        assert time.monotonic() < deadline, f"{name} is {seen}, never reached {value}"
        time.sleep(0.05)
    assert seen == value, f"{name} is {seen}, expected {value}"


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


# --------------------------------------------------------------------------- JSON-RPC layer

#: Every method of the bridge's table, and one it does not have.
EDITOR_METHODS = [
    "initialize",
    "session/new",
    "session/load",
    "session/resume",
    "session/list",
    "session/close",
    "session/delete",
    "session/prompt",
    "session/cancel",
    "_acp_bridge/status",
    "$/cancel_request",
    "_no/such_method",
]


def test_every_method_without_params_is_answered_or_ignored_and_the_bridge_goes_on(
    tmp_path: Path,
) -> None:
    """Item 1: ``params`` omitted (as vscode-jsonrpc does), or null, for every method."""
    with FakeEditor("--vm", vm_calling(), log_dir=tmp_path / "logs", strict=False) as editor:
        for number, method in enumerate(EDITOR_METHODS):
            editor.send({"jsonrpc": "2.0", "id": f"bare-{number}", "method": method})
            editor.send(
                {"jsonrpc": "2.0", "id": f"null-{number}", "method": method, "params": None}
            )
            editor.send({"jsonrpc": "2.0", "method": method})
        for number, method in enumerate(EDITOR_METHODS):
            for prefix in ("bare", "null"):
                answer = editor.wait_response(f"{prefix}-{number}")
                if method in ("$/cancel_request", "_no/such_method"):
                    assert answer["error"]["code"] == -32601, (method, answer)
                else:  # a method of the table: served with {} as its params, or -32602
                    assert "result" in answer or answer["error"]["code"] == -32602, answer
        # The bridge is still whole: a real session works.
        sid = run_turn(editor, tmp_path)
        assert editor.updates(sid)
        assert editor.proc.poll() is None
        assert editor.close() == 0
    assert not any("Traceback" in line for line in editor.stderr_lines)


def test_an_answer_carrying_the_id_of_the_editors_running_prompt_is_ignored(
    tmp_path: Path,
) -> None:
    """Item 2: the editor "answers" its own request in flight, with a result and an error."""
    vm = shlex.join([*SESSION_VM, "--chunks", "20", "--interval", "0.05"])
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs", strict=False) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        editor.send(
            {"jsonrpc": "2.0", "id": 5, "method": "session/prompt", "params": prompt_params(sid)}
        )
        editor.wait_for(thread_update)
        editor.send({"jsonrpc": "2.0", "id": 5, "result": {}})
        editor.send({"jsonrpc": "2.0", "id": 5, "error": {"code": -32001}})
        assert editor.wait_response(5)["result"] == {"stopReason": "end_turn"}
        assert len(editor.updates(sid)) == 20
        assert counters(editor)["editor_unexpected_responses"] == 2
        assert editor.close() == 0


def test_an_error_without_message_to_a_permission_request_reaches_the_vm_and_the_turn_goes_on(
    tmp_path: Path,
) -> None:
    """Item 3: ``{"error": {"code": -32001}}`` is an answer: the VM gets an error, not silence."""

    def answer(method: str, params: Any) -> Any:
        return ("error", {"code": -32001})

    vm = vm_calling(
        ("session/request_permission", {"toolCall": {"toolCallId": "c", "title": "Rm"}})
    )
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs", answer=answer, strict=False) as editor:
        sid = run_turn(editor, tmp_path)
        got, *rest = answers_seen(editor, sid)
        assert got["id"] == "vm-call-1"
        assert got["error"]["code"] == -32001
        assert "no message" in got["error"]["message"]
        texts = [u["content"]["text"] for u in editor.updates(sid)]
        assert texts[-1] == "[1/1] You said: go\n", "the turn went on after the error"
        assert rest == []
        assert editor.close() == 0


def test_cancel_request_naming_the_bridges_own_request_is_counted_and_the_vm_still_answered(
    tmp_path: Path,
) -> None:
    """Item 3: an editor cannot withdraw the bridge's request; the VM's request goes on."""
    target = str(tmp_path / "a.txt")
    vm = vm_calling(("fs/read_text_file", {"path": target}))
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs", strict=False) as editor:
        editor.initialize(fs={"readTextFile": True})
        sid = editor.new_session(tmp_path)
        prompt = editor.prompt(sid, "go")
        asked = editor.wait_for(lambda m: m.get("method") == "fs/read_text_file")
        editor.notify("$/cancel_request", {"requestId": asked["id"]})
        wait_counter(editor, "editor_stray_cancels", 1)
        editor.send({"jsonrpc": "2.0", "id": asked["id"], "result": {"content": "still here"}})
        assert editor.wait_response(prompt)["result"] == {"stopReason": "end_turn"}
        [got] = answers_seen(editor, sid)
        assert got["result"] == {"content": "still here"}
        assert editor.close() == 0
    assert any("cannot cancel the bridge's own request" in line for line in editor.stderr_lines)


def test_the_editor_may_use_the_ids_the_bridge_uses(tmp_path: Path) -> None:
    """Item 3: the editor's prompt is ``acp-bridge-0`` and its next request ``acp-bridge-1``,
    while the bridge's requests with those ids wait: each answer reaches its own asker."""
    vm = burst("fs/read_text_file", {"path": str(tmp_path / "f{i}.txt")}, 2)
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs", strict=False) as editor:
        editor.initialize(fs={"readTextFile": True})
        sid = editor.new_session(tmp_path)
        editor.send(
            {
                "jsonrpc": "2.0",
                "id": "acp-bridge-0",
                "method": "session/prompt",
                "params": prompt_params(sid),
            }
        )
        reads = [
            editor.wait_for(lambda m, n=n: m.get("id") == f"acp-bridge-{n}" and "method" in m)
            for n in (0, 1)
        ]
        assert [r["params"]["path"] for r in reads] == [str(tmp_path / f"f{n}.txt") for n in (0, 1)]
        editor.send(
            {"jsonrpc": "2.0", "id": "acp-bridge-1", "method": "_acp_bridge/status", "params": {}}
        )
        status = editor.wait_response("acp-bridge-1")
        assert "counters" in status["result"]
        for read in reversed(reads):
            editor.send(
                {
                    "jsonrpc": "2.0",
                    "id": read["id"],
                    "result": {"content": f"editor's {read['params']['path']}"},
                }
            )
        assert editor.wait_response("acp-bridge-0")["result"] == {"stopReason": "end_turn"}
        [summary] = answers_seen(editor, sid)
        assert summary["answers"] == {
            f"burst-{n}": {"content": f"editor's {tmp_path / f'f{n}.txt'}"} for n in (0, 1)
        }
        assert (summary["results"], summary["missing"]) == (2, 0)
        after = counters(editor)
        assert after["editor_unexpected_responses"] == 0
        assert after["editor_invalid_requests"] == 0
        assert editor.close() == 0


# --------------------------------------------------------------------------- bounds (item 15)


def test_a_vm_flooding_the_editor_with_requests_is_bounded(tmp_path: Path) -> None:
    """10,000 permission requests at once: a bounded number wait for the editor, the rest
    are refused at once with a clear error and counted; memory stays bounded."""
    limit = MAX_EDITOR_CALLS_PER_SESSION
    vm = burst(
        "session/request_permission",
        {"toolCall": {"toolCallId": "c{i}", "title": "Edit {i}"}},
        VM_FLOOD_REQUESTS,
    )
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs", strict=False) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        editor.call("_acp_bridge/status", {})
        time.sleep(0.5)  # let the VM start: its memory is not the bridge's growth
        before = rss_kib(editor.proc.pid)
        prompt = editor.prompt(sid, "go")
        wait_counter(editor, "vm_requests_over_limit", VM_FLOOD_REQUESTS - limit, timeout=120)
        asked = [r for r in editor.requests if r["method"] == "session/request_permission"]
        assert len(asked) == limit
        growth_mib = (rss_kib(editor.proc.pid, "VmHWM") - before) / 1024
        assert growth_mib < RSS_GROWTH_BOUND_MIB, f"the bridge grew by {growth_mib:.0f} MiB"
        for request in asked:
            editor.send(
                {
                    "jsonrpc": "2.0",
                    "id": request["id"],
                    "result": {"outcome": {"outcome": "selected", "optionId": "reject_once"}},
                }
            )
        assert editor.wait_response(prompt, timeout=60)["result"] == {"stopReason": "end_turn"}
        [summary] = answers_seen(editor, sid)
        assert summary["results"] == limit
        assert summary["errors"] == {"-32603": VM_FLOOD_REQUESTS - limit}
        assert summary["missing"] == 0
        assert editor.close() == 0
    refusals = [line for line in editor.stderr_lines if "requests waiting for the editor" in line]
    assert refusals, "the refusals are reported on stderr"


class StdinFlooder:
    """Writes whole lines of ``_acp_bridge/status`` requests to the bridge, never blocking.

    Each write is at most ``PIPE_BUF`` bytes, so the pipe takes it whole or not at all:
    stopping between two writes always stops at a line boundary.
    """

    def __init__(self, proc: subprocess.Popen[bytes], limit: int) -> None:
        assert proc.stdin is not None
        self.fd = proc.stdin.fileno()
        os.set_blocking(self.fd, False)
        self.limit = limit
        self.written = 0
        self.lines = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 0
        while self.written < self.limit and not self.stop.is_set():
            chunk = b""
            first = number
            while True:
                line = b'{"jsonrpc":"2.0","id":%d,"method":"_acp_bridge/status"}\n' % number
                if len(chunk) + len(line) > select.PIPE_BUF:
                    break
                chunk += line
                number += 1
            while not self.stop.is_set():
                _, ready, _ = select.select([], [self.fd], [], 0.1)
                if not ready:
                    continue
                try:
                    os.write(self.fd, chunk)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                self.written += len(chunk)
                self.lines = number
                break
            else:
                number = first

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        os.set_blocking(self.fd, True)


def start_bridge(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A bridge whose stdout nobody reads yet; its stderr goes to a file."""
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "acp_bridge",
                "--log-dir",
                str(tmp_path / "logs"),
                "--vm-exec",
                "true",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    return proc, stderr_path


def stop_bridge(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None and not stream.closed:
            stream.close()


def read_answers(
    proc: subprocess.Popen[bytes], answers: dict[int, Any], done: threading.Event
) -> None:
    """Read the bridge's stdout to its end, collecting the answers by id."""
    assert proc.stdout is not None
    for line in proc.stdout:
        message = json.loads(line)
        if isinstance(message.get("id"), int):
            answers[message["id"]] = message
    done.set()


def flood_until_paused(
    proc: subprocess.Popen[bytes], stderr_path: Path, flooder: StdinFlooder
) -> tuple[int, float]:
    """Flood the bridge's stdin until it says it stopped reading; RSS checked all along.

    Returns:
        The bridge's resident memory before the flood (KiB) and its growth (MiB).
    """
    time.sleep(0.5)
    before = rss_kib(proc.pid)
    flooder.start()
    deadline = time.monotonic() + 120
    while "stopped reading the editor's input" not in stderr_path.read_text():
        growth = (rss_kib(proc.pid, "VmHWM") - before) / 1024
        assert growth < RSS_GROWTH_BOUND_MIB, (
            f"the bridge grew by {growth:.0f} MiB while the editor did not read "
            f"({flooder.written} bytes taken)"
        )
        assert flooder.written < flooder.limit, "the bridge read everything without pausing"
        assert time.monotonic() < deadline, "the bridge never said it stopped reading"
        time.sleep(0.05)
    return before, (rss_kib(proc.pid, "VmHWM") - before) / 1024


def test_an_editor_that_writes_without_reading_is_not_read_either(tmp_path: Path) -> None:
    """The editor writes up to 100 MB of requests and reads nothing: the bridge stops
    reading its stdin once the answers queued for it pass a mark; its memory stays bounded;
    once the editor reads, every request it wrote is answered."""
    proc, stderr_path = start_bridge(tmp_path)
    try:
        flooder = StdinFlooder(proc, EDITOR_FLOOD_BYTES)
        _, growth = flood_until_paused(proc, stderr_path, flooder)
        assert growth < RSS_GROWTH_BOUND_MIB
        flooder.finish()
        assert flooder.written < EDITOR_FLOOD_BYTES / 4, "the bridge stopped taking input"
        ids: dict[int, Any] = {}
        done = threading.Event()
        threading.Thread(target=read_answers, args=(proc, ids, done), daemon=True).start()
        deadline = time.monotonic() + 120
        while len(ids) < flooder.lines:
            assert time.monotonic() < deadline, f"{len(ids)} of {flooder.lines} answered"
            time.sleep(0.05)
        assert set(ids) == set(range(flooder.lines)), "every request answered, none lost"
        assert proc.stdin is not None
        last = flooder.lines
        proc.stdin.write(b'{"jsonrpc":"2.0","id":%d,"method":"_acp_bridge/status"}\n' % last)
        proc.stdin.flush()
        while last not in ids:
            assert time.monotonic() < deadline, "the bridge no longer answers"
            time.sleep(0.05)
        assert ids[last]["result"]["counters"]["editor_input_pauses"] >= 1
        proc.stdin.close()
        assert proc.wait(30) == 0
        assert done.wait(10)
    finally:
        stop_bridge(proc)
    assert "Traceback" not in stderr_path.read_text()


def test_an_editor_that_closes_its_input_while_the_bridge_waits_for_it_is_seen_going(
    tmp_path: Path,
) -> None:
    """The deadlock case: the editor, blocked, gives up writing and closes the bridge's
    stdin, still without reading. The bridge notices (the rest of the pipe is bounded),
    reads it, and shuts down once the editor reads at last."""
    proc, stderr_path = start_bridge(tmp_path)
    try:
        flooder = StdinFlooder(proc, EDITOR_FLOOD_BYTES)
        flood_until_paused(proc, stderr_path, flooder)
        flooder.finish()
        assert proc.stdin is not None
        proc.stdin.close()
        deadline = time.monotonic() + 60
        while "the editor closed stdin" not in stderr_path.read_text():
            assert time.monotonic() < deadline, "the bridge never saw its stdin closed"
            time.sleep(0.05)
        ids: dict[int, Any] = {}
        done = threading.Event()
        threading.Thread(target=read_answers, args=(proc, ids, done), daemon=True).start()
        assert proc.wait(60) == 0
        assert done.wait(10)
        assert ids, "the answers queued before the editor left were written"
    finally:
        stop_bridge(proc)


# --------------------------------------------------------------------------- timeouts (item 18)


def test_a_permission_request_left_unanswered_is_reported_and_waits_for_the_user(
    tmp_path: Path,
) -> None:
    """A person decides a permission request: no timeout of its own, but stderr says so
    after 10 s (and every 30 s after), and it is counted."""
    vm = vm_calling(
        ("session/request_permission", {"toolCall": {"toolCallId": "c", "title": "Rm"}})
    )
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        prompt = editor.prompt(sid, "go")
        asked = editor.wait_for(lambda m: m.get("method") == "session/request_permission")
        [notice] = editor.wait_stderr("has not answered session/request_permission", timeout=30)
        assert sid[:8] in notice
        assert "10 s" in notice
        assert counters(editor)["editor_slow_calls"] == 1
        editor.send(
            {
                "jsonrpc": "2.0",
                "id": asked["id"],
                "result": {"outcome": {"outcome": "selected", "optionId": "allow_once"}},
            }
        )
        assert editor.wait_response(prompt)["result"] == {"stopReason": "end_turn"}
        [got] = answers_seen(editor, sid)
        assert got["result"]["kind"] == "allow_once"
        editor.close()
        assert editor.problems() == []


def test_editor_timeout_bounds_every_method_even_those_without_a_limit(tmp_path: Path) -> None:
    vm = vm_calling(
        ("session/request_permission", {"toolCall": {"toolCallId": "c", "title": "Rm"}})
    )
    with FakeEditor(
        "--editor-timeout", "0.5", "--vm", vm, log_dir=tmp_path / "logs", strict=False
    ) as editor:
        sid = run_turn(editor, tmp_path)
        [got] = answers_seen(editor, sid)
        assert got["error"]["code"] == -32603
        assert "did not answer session/request_permission in 0.5 s" in got["error"]["message"]
        assert counters(editor)["editor_call_timeouts"] == 1
        assert editor.close() == 0


# --------------------------------------------------------------------------- the cwd gate (12)


def test_a_symlink_inside_the_cwd_pointing_outside_is_refused(tmp_path: Path) -> None:
    """Read, write (a file that does not exist yet, and through a dangling link) and a
    terminal's cwd, each through a link inside the cwd that leads outside: all refused."""
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (work / "out").symlink_to(outside)
    (work / "secret-link.txt").symlink_to(outside / "secret.txt")
    (work / "dangling.txt").symlink_to(outside / "planted.txt")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("fs/read_text_file", {"path": str(work / "out" / "secret.txt")}),
        ("fs/read_text_file", {"path": str(work / "secret-link.txt")}),
        ("fs/write_text_file", {"path": str(work / "out" / "new.txt"), "content": "x"}),
        ("fs/write_text_file", {"path": str(work / "out" / "new" / "deep.txt"), "content": "x"}),
        ("fs/write_text_file", {"path": str(work / "dangling.txt"), "content": "x"}),
        ("terminal/create", {"command": "cat", "args": ["secret.txt"], "cwd": str(work / "out")}),
    ]
    caps = {"fs": {"readTextFile": True, "writeTextFile": True}, "terminal": True}
    with FakeEditor(
        "--vm", vm_calling(*calls), log_dir=tmp_path / "logs", answer=lambda m, p: ("result", {})
    ) as editor:
        sid = run_turn(editor, work, **caps)
        got = answers_seen(editor, sid)
        assert [g["error"]["code"] for g in got] == [-32602] * len(calls), got
        assert all("outside the session's directories" in g["error"]["message"] for g in got)
        assert editor.requests == []
        assert counters(editor)["vm_refused_requests"] == len(calls)
        editor.close()
        assert editor.problems() == []
    assert not (outside / "planted.txt").exists()


def test_a_cwd_that_is_a_symlink_reads_its_own_files(tmp_path: Path) -> None:
    """The session's cwd is a link; the VM names files by the link or by the real path
    (its own getcwd() gives the real one): both are inside."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.txt").write_text("a")
    link = tmp_path / "link"
    link.symlink_to(real)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("fs/read_text_file", {"path": str(link / "a.txt")}),
        ("fs/read_text_file", {"path": str(real / "a.txt")}),
        ("fs/write_text_file", {"path": str(real / "new.txt"), "content": "x"}),
        ("terminal/create", {"command": "ls", "cwd": str(real)}),
    ]

    def answer(method: str, params: Any) -> Any:
        results = {"terminal/create": {"terminalId": "t1"}, "fs/read_text_file": {"content": "a"}}
        return ("result", results.get(method, {}))

    caps = {"fs": {"readTextFile": True, "writeTextFile": True}, "terminal": True}
    with FakeEditor("--vm", vm_calling(*calls), log_dir=tmp_path / "logs", answer=answer) as editor:
        sid = run_turn(editor, link, **caps)
        got = answers_seen(editor, sid)
        assert ["result" in g for g in got] == [True] * len(calls), got
        assert [r["method"] for r in editor.requests] == [m for m, _ in calls]
        # The editor is asked with the VM's own paths, as the VM named them.
        assert editor.requests[0]["params"]["path"] == str(link / "a.txt")
        assert counters(editor)["vm_refused_requests"] == 0
        editor.close()
        assert editor.problems() == []
