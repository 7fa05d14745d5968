"""The reading client of the benchmarks: minimal, the same for every agent measured.

It speaks just enough ACP over the agent's pipes (initialize, session/new, one prompt or a
session/load), counts ``session/update`` lines without parsing them (parsing only the
latency probes), and reads the agent's peak RSS from /proc before it lets it go.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

UPDATE = b'"session/update"'
PROBE = b'"text":"t'  # a latency probe's text, "t<monotonic ns>", as paced_vm.py writes it


@dataclass
class Measured:
    updates: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    peak_rss_mib: float | None = None
    coalesced: int = 0  # events whose text arrived merged into another update (ours only)

    @property
    def events(self) -> int:
        """Events whose content reached the client."""
        return self.updates + self.coalesced

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: int) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def _send(stdin: IO[bytes], msg_id: int, method: str, params: Mapping[str, object]) -> None:
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
    stdin.write(json.dumps(message).encode() + b"\n")
    stdin.flush()


def _answer_of(line: bytes, msg_id: int) -> dict[str, object] | None:
    if UPDATE in line or b'"id"' not in line:
        return None
    message = json.loads(line)
    if message.get("id") == msg_id and "method" not in message:
        return message  # type: ignore[no-any-return]
    return None


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _start(argv: list[str], cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        bufsize=1 << 20,
    )


def _finish(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _until(stdout: IO[bytes], msg_id: int) -> dict[str, object]:
    for line in stdout:
        answer = _answer_of(line, msg_id)
        if answer is not None:
            return answer
    raise RuntimeError(f"the agent closed stdout before answering request {msg_id}")


def _coalesced(proc: subprocess.Popen[bytes]) -> int:
    """acp-bridge's count of merged updates (``_acp_bridge/status``); 0 for other agents."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    _send(proc.stdin, 9, "_acp_bridge/status", {})
    answer = _until(proc.stdout, 9)
    result = answer.get("result")
    return int(result.get("coalescedUpdates", 0)) if isinstance(result, dict) else 0


def _start_prompt(proc: subprocess.Popen[bytes], cwd: str) -> float:
    """initialize, session/new, then send the prompt (id 2); return when it was sent."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    _send(proc.stdin, 0, "initialize", {"protocolVersion": 1, "clientCapabilities": {}})
    _send(proc.stdin, 1, "session/new", {"cwd": cwd, "mcpServers": []})
    _until(proc.stdout, 0)
    session = _until(proc.stdout, 1)["result"]
    assert isinstance(session, dict)
    prompt = [{"type": "text", "text": "go"}]
    started = time.perf_counter()
    _send(proc.stdin, 2, "session/prompt", {"sessionId": session["sessionId"], "prompt": prompt})
    return started


def drive(argv: list[str], *, latency: bool = False) -> Measured:
    """initialize, session/new, one prompt to its answer; count (and time) the updates."""
    got = Measured()
    with tempfile.TemporaryDirectory() as cwd:
        proc = _start(argv, cwd)
        started = _start_prompt(proc, cwd)
        assert proc.stdout is not None
        for line in proc.stdout:
            if UPDATE in line:
                got.updates += 1
                if latency and PROBE in line:
                    now = time.monotonic_ns()
                    at = line.index(PROBE) + len(PROBE)
                    sent = int(line[at : line.index(b'"', at)])
                    got.latencies_ms.append((now - sent) / 1e6)
            elif _answer_of(line, 2) is not None:
                break
        got.seconds = time.perf_counter() - started
        got.peak_rss_mib = peak_rss_mib(proc.pid)
        if "acp_bridge" in argv:
            got.coalesced = _coalesced(proc)
        _finish(proc)
    return got


def drive_slowly(argv: list[str], pause_s: float) -> Measured:
    """Like :func:`drive`, but reading 64 KiB at a time with a pause in between.

    That is an editor slower than the VM; ``updates`` counts the notifications it got.
    """
    got = Measured()
    with tempfile.TemporaryDirectory() as cwd:
        proc = _start(argv, cwd)
        started = _start_prompt(proc, cwd)
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        pending = b""  # _until read whole lines through the buffer, which is empty now
        done = False
        while not done:
            time.sleep(pause_s)
            data = os.read(fd, 1 << 16)
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if UPDATE in line:
                    got.updates += 1
                elif _answer_of(line, 2) is not None:
                    done = True
        got.seconds = time.perf_counter() - started
        got.peak_rss_mib = peak_rss_mib(proc.pid)
        _finish(proc)
    return got


def cold_start_once(argv: list[str]) -> tuple[float, float]:
    """Ms from spawning the agent to its initialize answer, and to session/new's."""
    with tempfile.TemporaryDirectory() as cwd:
        started = time.perf_counter()
        proc = _start(argv, cwd)
        assert proc.stdin is not None
        assert proc.stdout is not None
        _send(proc.stdin, 0, "initialize", {"protocolVersion": 1, "clientCapabilities": {}})
        _send(proc.stdin, 1, "session/new", {"cwd": cwd, "mcpServers": []})
        _until(proc.stdout, 0)
        to_init = (time.perf_counter() - started) * 1000
        _until(proc.stdout, 1)
        to_new = (time.perf_counter() - started) * 1000
        _finish(proc)
    return to_init, to_new


def load_session(argv: list[str], session_id: str) -> Measured:
    """session/load of a recorded session: updates replayed per second, peak RSS."""
    got = Measured()
    with tempfile.TemporaryDirectory() as cwd:
        proc = _start(argv, cwd)
        assert proc.stdin is not None
        assert proc.stdout is not None
        _send(proc.stdin, 0, "initialize", {"protocolVersion": 1, "clientCapabilities": {}})
        _until(proc.stdout, 0)
        started = time.perf_counter()
        params = {"sessionId": session_id, "cwd": cwd, "mcpServers": []}
        _send(proc.stdin, 1, "session/load", params)
        for line in proc.stdout:
            if UPDATE in line:
                got.updates += 1
            elif _answer_of(line, 1) is not None:
                break
        got.seconds = time.perf_counter() - started
        got.peak_rss_mib = peak_rss_mib(proc.pid)
        got.coalesced = _coalesced(proc)
        _finish(proc)
    return got
