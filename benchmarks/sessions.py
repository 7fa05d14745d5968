"""Sessions at scale: loading a 1,000,000-event session and listing 10,000 sessions.

Prints, for ``session/load``, the events replayed per second and the bridge's peak RSS
(which must not grow with the session's length), and for ``session/list`` the time to
answer over a directory of many logs (which must not read each log in full).

    python benchmarks/sessions.py [--events 1000000] [--sessions 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SESSION = "bench-load-session"


def write_log(directory: Path, events: int) -> None:
    chunk = {"type": "agent_message_chunk", "session_id": SESSION, "content": "token "}
    with (directory / f"event_log-{SESSION}.jsonl").open("w") as f:
        f.write(
            json.dumps(
                {
                    "index": 0,
                    "emitted_at_ms": 1,
                    "frame_depth": None,
                    "type": "acp_bridge.session",
                    "session_id": SESSION,
                    "cwd": "/tmp",
                    "mcp_servers": [],
                }
            )
            + "\n"
        )
        f.write(
            json.dumps(
                {
                    "index": 1,
                    "emitted_at_ms": 1,
                    "frame_depth": None,
                    "type": "acp_bridge.prompt",
                    "session_id": SESSION,
                    "prompt": [{"type": "text", "text": "go"}],
                }
            )
            + "\n"
        )
        f.write(
            json.dumps(
                {
                    "index": 2,
                    "emitted_at_ms": 1,
                    "frame_depth": None,
                    "type": "acp_bridge.vm_turn_started",
                    "session_id": SESSION,
                }
            )
            + "\n"
        )
        for i in range(events):
            f.write(
                json.dumps(
                    {"index": i + 3, "emitted_at_ms": 2, "frame_depth": None, **chunk},
                    separators=(",", ":"),
                )
                + "\n"
            )


def write_many(directory: Path, sessions: int) -> None:
    for n in range(sessions):
        sid = f"bench-{n:06d}x"
        lines = [
            {
                "index": 0,
                "emitted_at_ms": n,
                "frame_depth": None,
                "type": "acp_bridge.session",
                "session_id": sid,
                "cwd": "/tmp",
                "mcp_servers": [],
            },
            {
                "index": 1,
                "emitted_at_ms": n,
                "frame_depth": None,
                "type": "acp_bridge.prompt",
                "session_id": sid,
                "prompt": [{"type": "text", "text": f"question {n}"}],
            },
        ]
        (directory / f"event_log-{sid}.jsonl").write_text(
            "".join(json.dumps(line) + "\n" for line in lines)
        )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def call(
    proc: subprocess.Popen[bytes], msg_id: int, method: str, params: dict[str, object]
) -> tuple[int, float]:
    """Send a request; count notifications until its answer; return (count, seconds)."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    started = time.perf_counter()
    proc.stdin.write(
        json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode()
        + b"\n"
    )
    proc.stdin.flush()
    for count, line in enumerate(proc.stdout):
        if b'"id"' in line[:40] and json.loads(line).get("id") == msg_id:
            return count, time.perf_counter() - started
    raise RuntimeError("the bridge exited")


def run(log_dir: Path, method: str, params: dict[str, object]) -> tuple[int, float, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "acp_bridge", "--log-dir", str(log_dir), "--vm-exec", "true"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    call(proc, 0, "initialize", {"protocolVersion": 1, "clientCapabilities": {}})
    count, seconds = call(proc, 1, method, params)
    rss = peak_rss_mib(proc.pid)
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(30)
    return count, seconds, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        load_dir, list_dir = Path(tmp, "load"), Path(tmp, "list")
        load_dir.mkdir()
        list_dir.mkdir()
        write_log(load_dir, args.events)
        write_many(list_dir, args.sessions)
        sent, seconds, rss = run(
            load_dir, "session/load", {"sessionId": SESSION, "cwd": "/tmp", "mcpServers": []}
        )
        print(
            f"session/load of {args.events:,} events: {sent:,} updates in {seconds:.2f} s "
            f"= {sent / seconds:,.0f} events/s, bridge peak RSS {rss:.0f} MiB"
        )
        _, seconds, rss = run(list_dir, "session/list", {})
        print(
            f"session/list over {args.sessions:,} sessions: {seconds:.2f} s, "
            f"bridge peak RSS {rss:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
