"""Fuzzing through real pipes: arbitrary editor input, arbitrary VM output, torn logs.

Each example of the wire tests runs a real bridge subprocess, so they try few examples in
CI and many in a long run (``tests/fuzz/README.md``). Properties: the bridge never
crashes and exits 0 at EOF; every line it writes is strictly valid ACP JSON-RPC; each of
our requests gets exactly one answer; every log reads back as a gapless prefix.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from support.acp_schema import TranscriptChecker
from support.fuzz_budget import fuzz_settings
from support.strategies import JSON_VALUES, from_schema

from acp_bridge.counters import Counters
from acp_bridge.eventlog.reader import CorruptLine, read_located_records, segment_paths
from acp_bridge.eventlog.records import LogRecord
from acp_bridge.eventlog.writer import JsonlEventLog
from acp_bridge.vm.events import InvalidEvent, UnknownEvent, decode_event, event_json_schema

SCHEMA = event_json_schema()
EVENTS = from_schema(SCHEMA, SCHEMA)
BRIDGE_TIMEOUT = 60


def run_bridge(args: list[str], stdin: bytes, log_dir: Path) -> tuple[int, list[bytes], str]:
    """Feed ``stdin`` to a bridge and close it; return exit status, stdout lines, stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "acp_bridge", "--log-dir", str(log_dir), *args],
        input=stdin,
        capture_output=True,
        timeout=BRIDGE_TIMEOUT,
        check=False,
        env={"PATH": "/usr/bin:/bin", "ACP_BRIDGE_EXAMPLE_PACE": "0"},
    )
    return done.returncode, done.stdout.splitlines(), done.stderr.decode("utf-8", "replace")


def agent_problems(client_lines: list[bytes], agent_lines: list[bytes]) -> list[str]:
    """What the strict checker finds wrong with the bridge's side of a transcript.

    The client's lines are fed first (they were all written before the bridge answered),
    so that answers are checked against their requests; the client's own garbage is
    flagged too, but those problems are not the bridge's.
    """
    checker = TranscriptChecker()
    for line in client_lines:
        checker.feed_from_client(line)
    for line in agent_lines:
        message = json.loads(line)
        error = message.get("error")
        answers_a_request = checker.is_pending("client", message.get("id"))
        if (
            isinstance(error, dict)
            and error.get("code") in (-32600, -32700)
            and not answers_a_request
        ):
            # The answer to a line that was no valid request: the checker never saw a
            # request it could match, so check the answer's shape here.
            assert set(message) == {"jsonrpc", "id", "error"}, message
            assert message["jsonrpc"] == "2.0"
            assert set(error) <= {"code", "message", "data"}
            assert isinstance(error["message"], str)
            continue
        checker.feed_from_agent(line)
    return [
        p for p in checker.finish() if "(agent->client)" in p or "the agent never answered" in p
    ]


def assert_logs_are_clean(log_dir: Path) -> None:
    for path in sorted(log_dir.glob("*.jsonl")) if log_dir.exists() else []:
        items = [item for _, item in read_located_records([path])]
        assert not any(isinstance(i, CorruptLine) for i in items), path
        indexes = [i.index for i in items if isinstance(i, LogRecord)]
        assert indexes == list(range(len(indexes))), path


# --------------------------------------------------------------------------- the editor side

#: A value nested 300 levels deep (JSON allows it; orjson writes at most 254).
DEEP: Any = 0
for _ in range(300):
    DEEP = [DEEP]

#: Editor lines: (kind, payload). Requests get ids ``fz-<n>`` when the batch is built.
REQUESTS = st.sampled_from(
    [
        ("request", {"method": "initialize", "params": {"protocolVersion": 1}}),
        ("request", {"method": "session/new", "params": {"cwd": "{cwd}", "mcpServers": []}}),
        ("request", {"method": "session/list", "params": {}}),
        ("request", {"method": "session/prompt", "params": {"sessionId": "nope", "prompt": []}}),
        ("request", {"method": "session/load", "params": {"sessionId": "../x", "cwd": "/"}}),
        ("request", {"method": "no/such_method", "params": {}}),
        ("request", {"method": "session/new", "params": {"cwd": 5}}),
        ("request", {"method": "session/new", "params": []}),
        ("request", {"method": "_acp_bridge/status", "params": {}}),
        ("notification", {"method": "session/cancel", "params": {"sessionId": "nope"}}),
        ("notification", {"method": "no/such_notification"}),
        # members JSON-RPC lets a peer omit
        ("request", {"method": "initialize"}),
        ("request", {"method": "session/new"}),
        ("request", {"method": "session/prompt"}),
        ("request", {"method": "session/list"}),
        ("request", {"method": "_acp_bridge/status"}),
        ("notification", {"method": "session/cancel"}),
        ("notification", {"method": "$/cancel_request"}),
        # cancels naming the editor's own ids, the bridge's, and nothing
        ("notification", {"method": "$/cancel_request", "params": {"requestId": "fz-0"}}),
        ("notification", {"method": "$/cancel_request", "params": {"requestId": "acp-bridge-0"}}),
        ("notification", {"method": "$/cancel_request", "params": {"requestId": [1]}}),
        # nesting deeper than any encoder takes
        ("request", {"method": "session/new", "params": {"cwd": "/", "deep": DEEP}}),
    ]
)
GARBAGE = st.one_of(
    st.binary(max_size=80).filter(lambda b: b"\n" not in b),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error"]),
        JSON_VALUES,
        max_size=6,
    ).map(lambda v: json.dumps(v).encode()),
    st.just(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'),
    st.just(b'[{"jsonrpc":"2.0","id":1,"method":"initialize"}]'),
    # answers with foreign ids: the editor's own request's, the bridge's, none of anyone's
    st.just(b'{"jsonrpc":"2.0","id":"fz-0","result":{}}'),
    st.just(b'{"jsonrpc":"2.0","id":"acp-bridge-0","result":{}}'),
    st.just(b'{"jsonrpc":"2.0","id":"acp-bridge-1","error":{"code":-32001}}'),
    st.just(b'{"jsonrpc":"2.0","id":7,"error":{"code":true,"message":"x"}}'),
    st.just(json.dumps({"jsonrpc": "2.0", "method": "x", "params": {"d": DEEP}}).encode()),
    st.just(b'{"jsonrpc":"2.0","id":"x","method":"initialize","params":{}'),
)
EDITOR_LINES = st.lists(
    st.one_of(REQUESTS, GARBAGE.map(lambda g: ("garbage", g))), min_size=1, max_size=25
)


def build_batch(items: list[tuple[str, Any]], cwd: Path) -> tuple[bytes, list[str]]:
    lines: list[bytes] = []
    ids: list[str] = []
    for kind, payload in items:
        if kind == "garbage":
            lines.append(payload)
            continue
        message: dict[str, Any] = {"jsonrpc": "2.0", **payload}
        if message.get("params", {}) == {"cwd": "{cwd}", "mcpServers": []}:
            message["params"] = {"cwd": str(cwd), "mcpServers": []}
        if kind == "request":
            message["id"] = f"fz-{len(ids)}"
            ids.append(message["id"])
        lines.append(json.dumps(message).encode())
    return b"\n".join(lines) + b"\n", ids


@fuzz_settings(12)
@given(EDITOR_LINES)
def test_any_editor_input_gets_one_answer_per_request_and_only_valid_acp(
    items: list[tuple[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        batch, ids = build_batch(items, root)
        code, out, err = run_bridge(["--vm-exec", "true"], batch, root / "logs")
        assert code == 0, err[-2000:]
        answers: dict[str, int] = {}
        for line in out:
            message = json.loads(line)
            assert message.get("jsonrpc") == "2.0", line
            if "method" not in message and isinstance(message.get("id"), str):
                answers[message["id"]] = answers.get(message["id"], 0) + 1
        assert agent_problems(batch.split(b"\n")[:-1], out) == []
        for msg_id in ids:
            assert answers.get(msg_id) == 1, (msg_id, answers, err[-2000:])
        assert_logs_are_clean(root / "logs")


# --------------------------------------------------------------------------- the VM side

VM_LINES = st.lists(
    st.one_of(
        GARBAGE,
        EVENTS.map(lambda e: json.dumps(e).encode()),
        EVENTS.map(lambda e: json.dumps(e).encode()),
    ),
    max_size=30,
)


def _valid(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or isinstance(decode_event(value), UnknownEvent | InvalidEvent):
        return None
    return value


@fuzz_settings(12)
@given(VM_LINES)
def test_any_vm_output_ends_the_turn_cleanly_and_every_event_is_logged(
    lines: list[bytes],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stream = root / "vm-output"
        stream.write_bytes(b"".join(line + b"\n" for line in lines))
        requests = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "session/new",
                "params": {"cwd": str(root), "mcpServers": []},
            },
        ]
        batch = b"".join(json.dumps(r).encode() + b"\n" for r in requests)
        # The prompt needs the session id, so the bridge gets its input in two steps.
        with subprocess.Popen(
            [
                sys.executable,
                "-m",
                "acp_bridge",
                "--log-dir",
                str(root / "logs"),
                "--vm-exec",
                shlex.join(["cat", str(stream)]),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(batch)
            proc.stdin.flush()
            out: list[bytes] = []

            def until_answer(msg_id: int) -> dict[str, Any]:
                assert proc.stdout is not None
                while line := proc.stdout.readline():
                    out.append(line)
                    message: dict[str, Any] = json.loads(line)
                    if message.get("id") == msg_id and "method" not in message:
                        return message
                raise AssertionError(f"the bridge closed stdout before answering {msg_id}")

            session_id = until_answer(2)["result"]["sessionId"]
            prompt = {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "session/prompt",
                "params": {"sessionId": session_id, "prompt": [{"type": "text", "text": "go"}]},
            }
            proc.stdin.write(json.dumps(prompt).encode() + b"\n")
            proc.stdin.flush()
            until_answer(3)  # EOF before the answer would cancel the turn
            proc.stdin.close()
            out += proc.stdout.read().splitlines(keepends=True)
            assert proc.wait(BRIDGE_TIMEOUT) == 0
        answers = []
        for line in out:
            message = json.loads(line)
            if message.get("id") == 3 and "method" not in message:
                answers.append(message)
        sent = [json.dumps(r).encode() for r in [*requests, prompt]]
        assert agent_problems(sent, out) == []
        [answer] = answers
        assert answer["result"]["stopReason"] in ("end_turn", "max_turn_requests")
        items = [item for _, item in read_located_records(segment_paths(root / "logs", session_id))]
        assert not any(isinstance(i, CorruptLine) for i in items)
        logged = [i.event for i in items if isinstance(i, LogRecord)]
        valid = [v for line in lines if (v := _valid(line)) is not None]
        assert [e for e in logged if e in valid] == valid, "every event, in order"


# --------------------------------------------------------------------------- the log


@fuzz_settings(60)
@given(st.lists(EVENTS, min_size=1, max_size=20), st.floats(0, 1), st.data())
def test_a_log_cut_anywhere_reopens_as_a_gapless_prefix(
    events: list[dict[str, Any]], where: float, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = JsonlEventLog(root, "s-1", counters=Counters())
        for event in events:
            log.append(event)
        log.close()
        [segment] = segment_paths(root, "s-1")
        body = segment.read_bytes()
        segment.write_bytes(body[: int(len(body) * where)])
        reopened = JsonlEventLog(root, "s-1", counters=Counters())
        reopened.append({"type": "turn_end", "session_id": "s-1", "iteration": 1})
        reopened.close()
        items = [item for _, item in read_located_records(segment_paths(root, "s-1"))]
        assert not any(isinstance(i, CorruptLine) for i in items)
        good = [i for i in items if isinstance(i, LogRecord)]
        assert [r.index for r in good] == list(range(len(good)))
        kept = [r.event for r in good[:-1]]
        assert kept == [json.loads(json.dumps(e)) for e in events[: len(kept)]]
        assert good[-1].event["type"] == "turn_end"
