"""A VM's lifetime is tied to the bridge's, its output ends with it, and no start fails twice.

Every test runs the real bridge over real pipes, with the test VMs of ``tests/support/vms``:

* a bridge killed with SIGKILL takes its VMs, and what they started, with it (the
  watchdog, :mod:`acp_bridge.vm.lifeline`), and a watchdog that dies is replaced;
* a daemon that left a VM's process group but holds its stdout cannot hold a turn open;
* SIGTERM stops a bridge whose editor never reads stdout;
* a message nested deeper than the bridge could write again is refused up front, from the
  editor and from a VM alike;
* a VM start that fails (EMFILE) fails that prompt only.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor, thread_update
from support.paths import VMS

pytestmark = pytest.mark.e2e

EXEC_VM = [sys.executable, str(VMS / "exec_vm.py")]
SESSION_VM = [sys.executable, str(VMS / "session_vm.py")]
#: Deeper than orjson can write (254 levels): the shape of the reported attack.
TOO_DEEP = 300
#: Linux's fcntl to ask a pipe's capacity.
F_GETPIPE_SZ = 1032


def vm(*args: str, base: list[str] = EXEC_VM) -> str:
    return shlex.join([*base, *args])


def pid_after(editor: FakeEditor, tag: str) -> int:
    """The pid a test VM announced on stderr as ``TAG N``."""
    [line, *_] = editor.wait_stderr(f"{tag} ")
    return int(line.rsplit(" ", 1)[-1])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for init to reap counts as dead)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: it went while being read
        return False


def wait_until_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.02)


@contextmanager
def daemons_killed_at_the_end(editor: FakeEditor) -> Iterator[None]:
    """Kill the daemons the test VMs announced (``daemon-pid N``): they outlive VMs."""
    try:
        yield
    finally:
        for line in list(editor.stderr_lines):
            if "daemon-pid" in line and alive(pid := int(line.rsplit(" ", 1)[-1])):
                os.kill(pid, signal.SIGKILL)


def watchdog_of(bridge_pid: int) -> int:
    """The pid of the bridge's VM watchdog (its child running ``watchdog.py``)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == bridge_pid and b"watchdog.py" in cmdline:
                return int(entry.name)
        time.sleep(0.05)
    raise AssertionError("the bridge runs no watchdog")


def prompt_params(sid: str, text: str = "hi", **block: Any) -> dict[str, Any]:
    return {"sessionId": sid, "prompt": [{"type": "text", "text": text, **block}]}


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


# --------------------------------------------------------------------------- SIGKILL


@pytest.mark.parametrize("mode", ["session", "exec"])
def test_a_sigkilled_bridge_takes_its_vms_and_their_children_with_it(
    tmp_path: Path, mode: str
) -> None:
    """The VMs ignore stdin EOF and SIGTERM, and each has a child in its process group."""
    if mode == "session":
        stubborn = ("--ignore-eof", "--ignore-term", "--fork-child", "--print-pid")
        args = ("--vm", vm(*stubborn, base=SESSION_VM))
        tag = "session-vm-pid"
    else:
        args = ("--vm-exec", vm("--forever", "--ignore-term", "--fork-child", "--print-pid"))
        tag = "exec-vm-pid"
    with FakeEditor(*args, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        if mode == "session":
            assert editor.call("session/prompt", prompt_params(sid)) == {"stopReason": "end_turn"}
        else:
            editor.prompt(sid, "never ends")
            editor.wait_for(thread_update)
        vm_pid, child = pid_after(editor, tag), pid_after(editor, "child-pid")
        assert alive(vm_pid)
        assert alive(child)
        editor.proc.kill()
        editor.proc.wait(10)
        wait_until_gone(vm_pid)  # SIGTERM ignored: the watchdog's SIGKILL, 2 s later
        wait_until_gone(child)
        editor.wait_stderr("acp-bridge watchdog: the bridge")


def test_a_watchdog_that_dies_is_replaced_and_told_every_vm(tmp_path: Path) -> None:
    stubborn = vm("--ignore-eof", "--ignore-term", "--print-pid", base=SESSION_VM)
    with FakeEditor("--vm", stubborn, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call("session/prompt", prompt_params(sid)) == {"stopReason": "end_turn"}
        vm_pid = pid_after(editor, "session-vm-pid")
        first = watchdog_of(editor.proc.pid)
        os.kill(first, signal.SIGKILL)
        editor.wait_stderr("the VM watchdog exited")
        second = watchdog_of(editor.proc.pid)
        assert second != first
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["vm_watchdog_failures"] == 1
        editor.proc.kill()
        editor.proc.wait(10)
        wait_until_gone(vm_pid)
        wait_until_gone(second)


def test_a_bridge_that_exits_normally_leaves_no_watchdog_behind(tmp_path: Path) -> None:
    with FakeEditor("--vm", vm(base=SESSION_VM), log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call("session/prompt", prompt_params(sid)) == {"stopReason": "end_turn"}
        watchdog = watchdog_of(editor.proc.pid)
        assert editor.close() == 0
        wait_until_gone(watchdog)
        assert editor.problems() == []
    assert not any("acp-bridge watchdog" in line for line in editor.stderr_lines)


# --------------------------------------------------------------------------- output ends with a VM


def test_a_daemon_holding_an_exec_vms_stdout_does_not_hold_the_turn_open(tmp_path: Path) -> None:
    editor = FakeEditor("--vm-exec", vm("--daemon-child", "--echo"), log_dir=tmp_path)
    with editor, daemons_killed_at_the_end(editor):
        editor.initialize()
        sid = editor.new_session(tmp_path)
        for turn in range(2):  # and the session serves on
            answer = editor.wait_response(editor.prompt(sid, f"turn {turn}"), timeout=30)
            assert answer["result"] == {"stopReason": "end_turn"}
        assert [u["content"]["text"] for u in editor.updates(sid)] == ["turn 0", "turn 1"]
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["vm_stdout_held_open"] == 2
        assert counters["vm_failures"] == 0
        assert any("its output ends there" in line for line in editor.stderr_lines)
        daemon = pid_after(editor, "daemon-pid")
        assert alive(daemon)  # it left the group: not the bridge's to stop
        editor.close()
        assert editor.problems() == []


def test_a_daemon_holding_a_session_vms_stdout_does_not_hide_that_the_vm_died(
    tmp_path: Path,
) -> None:
    dying = vm("--daemon-child", "--chunks", "3", "--exit-mid-turn", "4", base=SESSION_VM)
    editor = FakeEditor("--vm", dying, log_dir=tmp_path)
    with editor, daemons_killed_at_the_end(editor):
        editor.initialize()
        sid = editor.new_session(tmp_path)
        pid_after(editor, "daemon-pid")
        answer = editor.wait_response(editor.prompt(sid, "go"), timeout=30)
        assert answer["error"]["code"] == -32603
        assert "exited during the turn (exit status 4)" in answer["error"]["message"]
        assert [u["content"]["text"] for u in editor.updates(sid)] == ["[1/3] You said: go\n"]
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["vm_stdout_held_open"] == 1
        editor.close()
        assert editor.problems() == []


# --------------------------------------------------------------------------- a hung editor


class UnreadBridge:
    """A bridge whose stdout is never read (a hung editor); its stderr is."""

    def __init__(self, log_dir: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "acp_bridge", "--log-dir", str(log_dir), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stderr_lines: list[str] = []
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._err.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, msg_id: int) -> dict[str, Any]:
        """Read (while the editor still reads) up to the answer to ``msg_id``."""
        assert self.proc.stdout is not None
        while True:
            message: dict[str, Any] = json.loads(self.proc.stdout.readline())
            if message.get("id") == msg_id and "method" not in message:
                return message

    def unread_bytes(self) -> int:
        assert self.proc.stdout is not None
        raw = fcntl.ioctl(self.proc.stdout.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(raw, sys.byteorder)

    def pipe_size(self) -> int:
        assert self.proc.stdout is not None
        return fcntl.fcntl(self.proc.stdout.fileno(), F_GETPIPE_SZ)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self._err.join(5)


def test_sigterm_stops_a_bridge_whose_editor_never_reads_stdout(tmp_path: Path) -> None:
    flood = vm("--flood", "100000", "--forever", "--print-pid")
    bridge = UnreadBridge(tmp_path / "logs", "--vm-exec", flood)
    try:
        bridge.send({"id": 1, "method": "initialize", "params": {"protocolVersion": 1}})
        bridge.answer(1)
        new = {"cwd": str(tmp_path), "mcpServers": []}
        bridge.send({"id": 2, "method": "session/new", "params": new})
        sid = bridge.answer(2)["result"]["sessionId"]
        bridge.send({"id": 3, "method": "session/prompt", "params": prompt_params(sid)})
        # From here on nobody reads: wait until the pipe is full (the bridge's write blocks).
        # Full is within two pages of its size: the pages the first and the last write
        # share with what was read before and with nothing are not wholly usable.
        full = bridge.pipe_size() - 2 * os.sysconf("SC_PAGE_SIZE")
        deadline = time.monotonic() + 60
        while bridge.unread_bytes() < full:
            assert time.monotonic() < deadline, (
                f"the bridge's stdout never filled up ({bridge.unread_bytes()} of "
                f"{bridge.pipe_size()} bytes); its stderr: {bridge.stderr_lines[-20:]}"
            )
            time.sleep(0.05)
        vm_pids = [int(line.rsplit(" ", 1)[-1]) for line in bridge.stderr_lines if "vm-pid" in line]
        bridge.proc.send_signal(signal.SIGTERM)
        assert bridge.proc.wait(30) == 0
        [vm_pid] = vm_pids
        wait_until_gone(vm_pid)
        assert any("has not read stdout" in line for line in bridge.stderr_lines)
    finally:
        bridge.close()


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("mode", ["exec", "session"])
def test_a_prompt_nested_too_deep_is_refused_up_front_and_the_session_serves_on(
    tmp_path: Path, mode: str
) -> None:
    args = ("--vm-exec", vm("--echo")) if mode == "exec" else ("--vm", vm(base=SESSION_VM))
    with FakeEditor(*args, log_dir=tmp_path / "logs", strict=False) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        deep = prompt_params(sid, "deep", _meta={"x": nested(TOO_DEEP)})
        refused = editor.wait_response(editor.request("session/prompt", deep), timeout=10)
        assert refused["error"]["code"] == -32602
        assert "nested deeper than 128 levels" in refused["error"]["message"]
        assert editor.call("session/prompt", prompt_params(sid, "shallow")) == {
            "stopReason": "end_turn"
        }
        texts = "".join(u["content"]["text"] for u in editor.updates(sid))
        assert "deep" not in texts
        assert "shallow" in texts
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters["editor_invalid_requests"] == 1
        assert counters["handler_unexpected_exceptions"] == 0
        editor.close()


def test_a_vm_request_nested_too_deep_is_refused_and_the_turn_goes_on(tmp_path: Path) -> None:
    deep = json.dumps({"path": str(tmp_path / "x"), "x": nested(TOO_DEEP)})
    asking = vm("--call", "fs/read_text_file", deep, "--chunks", "1", base=SESSION_VM)
    with FakeEditor("--vm", asking, log_dir=tmp_path / "logs") as editor:
        editor.initialize(fs={"readTextFile": True})
        sid = editor.new_session(tmp_path)
        assert editor.call("session/prompt", prompt_params(sid)) == {"stopReason": "end_turn"}
        first = json.loads(editor.updates(sid)[0]["content"]["text"])
        assert first["error"]["code"] == -32602
        assert "nested deeper than 128 levels" in first["error"]["message"]
        assert editor.requests == []  # the editor was never asked
        assert editor.call("_acp_bridge/status", {})["counters"]["vm_bad_answers"] == 1
        editor.close()
        assert editor.problems() == []


@pytest.mark.parametrize(
    ("deep", "counter"),
    [
        ({"jsonrpc": "2.0", "method": "x", "params": {"d": "NEST"}}, "vm_bad_answers"),
        (
            {"type": "tool_call", "session_id": "s", "tool_call_id": "c", "raw_input": "NEST"},
            "vm_undecodable_lines",
        ),
    ],
    ids=["notification", "event"],
)
def test_a_vm_line_nested_too_deep_is_refused_and_the_turn_ends_well(
    tmp_path: Path, deep: dict[str, Any], counter: str
) -> None:
    """An event is logged as its raw line; a JSON-RPC message is ignored (exec mode)."""
    line = json.dumps(deep).replace('"NEST"', "[" * TOO_DEEP + "0" + "]" * TOO_DEEP)
    after = {"type": "agent_message_chunk", "session_id": "s", "content": "after"}
    stream = tmp_path / "stream.jsonl"
    stream.write_text(line + "\n" + json.dumps(after) + "\n")
    logs = tmp_path / "logs"
    with FakeEditor("--vm-exec", shlex.join(["cat", str(stream)]), log_dir=logs) as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        assert editor.call("session/prompt", prompt_params(sid)) == {"stopReason": "end_turn"}
        assert [u["content"]["text"] for u in editor.updates(sid)] == ["after"]
        counters = editor.call("_acp_bridge/status", {})["counters"]
        assert counters[counter] == 1
        assert counters["handler_unexpected_exceptions"] == 0
        editor.close()
        assert editor.problems() == []
    logged = [json.loads(x) for f in sorted(logs.iterdir()) for x in f.read_text().splitlines()]
    kept = [r["raw"] for r in logged if r["type"] == "acp_bridge.undecodable"]
    assert kept == ([line] if "type" in deep else [])


# --------------------------------------------------------------------------- a start that fails


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid: int, below: int | None = None) -> int:
    """The bridge's descriptor count once under ``below`` and steady (a bounded wait)."""
    deadline = time.monotonic() + 20
    last, same = -1, 0
    while same < 10:
        assert time.monotonic() < deadline, "the bridge's descriptors never settled"
        count = open_fds(pid)
        steady = count == last and (below is None or count < below)
        same = same + 1 if steady else 0
        last = count
        time.sleep(0.05)
    return last


@pytest.mark.parametrize("mode", ["exec", "session"])
def test_a_vm_start_that_fails_for_lack_of_descriptors_fails_that_prompt_only(
    tmp_path: Path, mode: str
) -> None:
    if mode == "exec":
        args = ("--vm-exec", vm("--echo"))
    else:
        args = ("--vm", vm("--print-pid", base=SESSION_VM))
    with FakeEditor(*args, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        pid = editor.proc.pid
        limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        below = None
        if mode == "session":
            # The first VM is up; kill it, so that the next prompt starts one.
            assert editor.call("session/prompt", prompt_params(sid)) == {"stopReason": "end_turn"}
            first = pid_after(editor, "session-vm-pid")
            below = open_fds(pid) - 2  # its pipes (stdin, stdout, stderr) are closed first
            os.kill(first, signal.SIGKILL)
            wait_until_gone(first)
        # Not one descriptor to spare: the next VM start fails with EMFILE.
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (settled_fds(pid, below), limits[1]))
        try:
            failed = editor.wait_response(editor.prompt(sid, "no descriptors"), timeout=30)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
        assert failed["error"]["code"] == -32603
        assert "Too many open files" in failed["error"]["message"]
        for text in ("descriptors again", "and again"):
            assert editor.call("session/prompt", prompt_params(sid, text)) == {
                "stopReason": "end_turn"
            }
        editor.close()
        assert editor.problems() == []
