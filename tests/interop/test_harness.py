"""The interop harness itself: tee_agent.py is transparent, and the checks are not vacuous."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from support.paths import TOOLS
from support.tools.transcripts import (
    Direction,
    Record,
    cancel_answer_delays,
    check_records,
    check_transcript,
    read_transcript,
)

HERE = Path(__file__).resolve().parent
TEE = TOOLS / "tee_agent.py"
STANDIN = HERE / "standin_agent.py"


def tee(transcript: Path, *command: str) -> list[str]:
    return [sys.executable, str(TEE), str(transcript), "--", *command]


def test_tee_agent_copies_both_ways_byte_exactly_and_records_every_line(tmp_path: Path) -> None:
    log = tmp_path / "t.jsonl"
    child = 'cat; printf "x\\377y\\r\\nlast"; echo err >&2; exit 3'
    sent = b'{"a":1}\n' + "h\u00e9llo\n".encode()
    done = subprocess.run(tee(log, "sh", "-c", child), input=sent, capture_output=True, timeout=20)
    assert done.returncode == 3
    assert done.stdout == sent + b"x\xffy\r\nlast"
    assert done.stderr == b"err\n"
    records = read_transcript(log)
    assert [(r.direction, r.raw) for r in records] == [
        ("client", b'{"a":1}'),
        ("client", "h\u00e9llo".encode()),
        ("agent", b'{"a":1}'),
        ("agent", "h\u00e9llo".encode()),
        ("agent", b"x\xffy\r"),
        ("agent", b"last"),
    ]
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert "line_b64" in entries[4]
    assert entries[5]["eol"] is False
    times = [r.t for r in records]
    assert times == sorted(times)


def test_tee_agent_closes_the_childs_stdin_at_eof_and_forwards_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "{pid}.jsonl"
    # `cat` ends only when its stdin is closed: the tee must pass the EOF on.
    done = subprocess.run(tee(log, "cat"), input=b"", capture_output=True, timeout=20)
    assert done.returncode == 0
    [made] = tmp_path.glob("*.jsonl")
    assert made.stem.isdigit()
    proc = subprocess.Popen(tee(tmp_path / "s.jsonl", "sleep", "30"), stdin=subprocess.PIPE)
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 5
    assert proc.stdin is not None
    proc.stdin.close()


def test_cancel_answer_delays_pairs_a_cancel_with_the_prompt_in_flight() -> None:
    def rec(direction: Direction, t: float, message: Mapping[str, object]) -> Record:
        return Record(direction, t, json.dumps(message).encode())

    prompt = {"jsonrpc": "2.0", "id": 5, "method": "session/prompt", "params": {"sessionId": "s"}}
    cancel = {"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": "s"}}
    answer = {"jsonrpc": "2.0", "id": 5, "result": {"stopReason": "cancelled"}}
    records = [rec("client", 1.0, prompt), rec("client", 2.0, cancel), rec("agent", 2.25, answer)]
    assert cancel_answer_delays(records) == [250.0]
    assert cancel_answer_delays(records[:2]) == [None]


def test_transcript_checks_catch_what_the_sdk_clients_accept(tmp_path: Path) -> None:
    """A misbehaving agent passes the Python SDK client, but not the transcript checks."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("a note\n")
    log = tmp_path / "bad.jsonl"
    agent = tee(log, sys.executable, str(STANDIN), "--misbehave")
    driver = [sys.executable, str(HERE / "py_client.py"), "--cwd", str(work), "--", *agent]
    env = {**os.environ, "ACP_BRIDGE_EXAMPLE_PACE": "0.1"}
    done = subprocess.run(driver, capture_output=True, text=True, env=env, timeout=60)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["errors"] == [], done.stderr[-3000:]
    assert [t["stopReason"] for t in summary["turns"]] == ["end_turn", "cancelled", "end_turn"]
    assert summary["strayUpdates"] == 2
    problems = check_transcript(log)
    assert any("'urgent' is not one of" in p for p in problems), problems
    assert any("'standin-no-such-session' before a session/new" in p for p in problems), problems
    assert check_records(read_transcript(log)[:3]) != []  # cut short: requests left unanswered


@pytest.mark.parametrize("bad", ["not json\n", '{"dir": "sideways", "t": 1, "line": "{}"}\n'])
def test_read_transcript_rejects_what_tee_agent_never_writes(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(bad)
    with pytest.raises(ValueError, match="not a tee_agent record"):
        read_transcript(path)
