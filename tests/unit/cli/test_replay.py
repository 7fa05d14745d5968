"""``acp-bridge replay`` end to end: a real subprocess, real files, strict ACP output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.acp_schema import StrictAcp
from support.harn_logs import harn_0_8_17_shape, unmarked
from support.paths import DATA, REPO_ROOT
from support.wire import notes

from acp_bridge.core.harn import EXTENSION_UPDATE_TYPES
from acp_bridge.core.replay import Replayer
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.eventlog.naming import segment_file_name

ROOT = REPO_ROOT
PAIRS: list[dict[str, Any]] = json.loads((DATA / "harn_event_pairs.json").read_text())
SESSION = "7f3c2a9e-1b4d-4c8e-9a55-0d2e6b1f8c33"
EXAMPLE = ROOT / "protocol" / "examples" / f"event_log-{SESSION}.jsonl"


def run_replay(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "acp_bridge", "replay", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def harn_lines(events: list[dict[str, Any]], start: int = 0) -> list[str]:
    """Events in Harn's on-disk envelope, as Harn writes them."""
    return [
        json.dumps(
            {
                "index": start + i,
                "emitted_at_ms": 1_700_000_000_000 + i,
                "frame_depth": None,
                **event,
            }
        )
        for i, event in enumerate(events)
    ]


def write_segments(directory: Path, segments: list[list[str]]) -> Path:
    for number, lines in enumerate(segments):
        (directory / segment_file_name(SESSION, number)).write_text(
            "".join(f"{line}\n" for line in lines)
        )
    return directory / segment_file_name(SESSION, 0)


def parse_stdout(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def assert_all_valid(acp: StrictAcp, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        assert acp.agent_outbound(message) == [], message


def test_every_harn_event_replays_to_schema_valid_acp(acp: StrictAcp, tmp_path: Path) -> None:
    log = write_segments(tmp_path, [harn_lines([p["event"] for p in PAIRS])])
    result = run_replay(str(log))
    assert result.returncode == 0, result.stderr.decode()
    messages = parse_stdout(result.stdout)
    assert_all_valid(acp, messages)
    forwarded = [p for p in PAIRS if p["acp"] is not None]
    # one message per forwarded event, plus one more thought run from the <think> split
    assert len(messages) >= len(forwarded)
    assert all(m["params"]["sessionId"] == SESSION for m in messages)


def test_harn_extensions_mode_matches_harns_adapter_for_extension_variants(tmp_path: Path) -> None:
    extension = [
        p
        for p in PAIRS
        if p["acp"] and p["acp"]["params"]["update"]["sessionUpdate"] in EXTENSION_UPDATE_TYPES
    ]
    log = write_segments(tmp_path, [harn_lines([p["event"] for p in extension])])
    result = run_replay("--harn-extensions", str(log))
    assert result.returncode == 0, result.stderr.decode()
    replayed = parse_stdout(result.stdout)
    # Harn's shape since 0.8.17, marked as replayed as Harn marks a session/load's updates
    assert [unmarked(m) for m in replayed] == [harn_0_8_17_shape(p["acp"]) for p in extension]
    assert all(m["params"]["update"]["_meta"]["harn"]["replayed"] is True for m in replayed)


def test_all_segments_of_a_session_replay_in_order(acp: StrictAcp, tmp_path: Path) -> None:
    events = [
        {"type": "agent_message_chunk", "session_id": SESSION, "content": f"part {i} "}
        for i in range(9)
    ]
    lines = harn_lines(events)
    log = write_segments(tmp_path, [lines[:3], lines[3:6], lines[6:]])
    result = run_replay(str(log))
    assert result.returncode == 0, result.stderr.decode()
    texts = [m["params"]["update"]["content"]["text"] for m in parse_stdout(result.stdout)]
    assert texts == [f"part {i} " for i in range(9)]


def test_corrupt_line_is_reported_with_file_and_line_and_good_records_still_print(
    tmp_path: Path,
) -> None:
    events = [
        {"type": "agent_message_chunk", "session_id": SESSION, "content": c}
        for c in ("one", "two", "three")
    ]
    lines = harn_lines(events)
    log = write_segments(tmp_path, [[lines[0], "{not json", lines[1], lines[2]]])
    result = run_replay(str(log))
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert f"{log}:2:" in stderr
    texts = [m["params"]["update"]["content"]["text"] for m in parse_stdout(result.stdout)]
    assert texts == ["one", "two", "three"]


def test_torn_last_line_is_reported_and_never_parsed(tmp_path: Path) -> None:
    [line] = harn_lines([{"type": "agent_message_chunk", "session_id": SESSION, "content": "ok"}])
    log = tmp_path / segment_file_name(SESSION, 0)
    log.write_text(line + "\n" + '{"index": 1, "type": "agent_mess')
    result = run_replay(str(log))
    assert result.returncode == 1
    assert f"{log}:2: torn last line" in result.stderr.decode()
    assert len(parse_stdout(result.stdout)) == 1


def test_missing_log_file_fails_clearly(tmp_path: Path) -> None:
    result = run_replay(str(tmp_path / "nope.jsonl"))
    assert result.returncode == 1
    assert "nope.jsonl: no such log file" in result.stderr.decode()
    assert result.stdout == b""


def test_invalid_event_fails_but_unknown_type_only_warns(tmp_path: Path) -> None:
    unknown = harn_lines([{"type": "from_the_future", "session_id": SESSION}])
    log = write_segments(tmp_path, [unknown])
    result = run_replay(str(log))
    assert result.returncode == 0
    assert "unknown event type 'from_the_future'" in result.stderr.decode()
    invalid = harn_lines([{"type": "agent_message_chunk", "session_id": SESSION, "content": 5}])
    log = write_segments(tmp_path, [invalid])
    result = run_replay(str(log))
    assert result.returncode == 1
    assert f"{log}:1: invalid agent_message_chunk event (content:" in result.stderr.decode()


def test_raw_agent_event_stream_on_stdin_replays(acp: StrictAcp) -> None:
    stream = "".join(json.dumps(p["event"]) + "\n" for p in PAIRS).encode()
    result = run_replay("-", stdin=stream)
    assert result.returncode == 0, result.stderr.decode()
    assert_all_valid(acp, parse_stdout(result.stdout))


def test_example_log_replays_prompt_turn_and_closes_tool_calls(acp: StrictAcp) -> None:
    result = run_replay("--cwd", "/home/dev/repo", str(EXAMPLE))
    assert result.returncode == 0, result.stderr.decode()
    messages = parse_stdout(result.stdout)
    assert_all_valid(acp, messages)
    first = messages[0]["params"]["update"]
    assert first == {
        "sessionUpdate": "user_message_chunk",
        "content": {"type": "text", "text": "The parser test is flaky. Can you fix it?"},
    }
    finals: dict[str, str] = {}
    for message in messages:
        update = message["params"].get("update", {})  # or a _harn/agentEvent
        if update.get("sessionUpdate") in ("tool_call", "tool_call_update") and "status" in update:
            finals[update["toolCallId"]] = update["status"]
    assert set(finals.values()) <= {"completed", "failed"}


def test_stdout_carries_only_json_rpc_lines(tmp_path: Path) -> None:
    log = write_segments(tmp_path, [harn_lines([p["event"] for p in PAIRS]), ["garbage"]])
    result = run_replay(str(log), str(tmp_path / "missing.jsonl"))
    for line in result.stdout.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"


@pytest.mark.parametrize("harn", [False, True])
def test_replay_equals_a_live_translation_of_the_same_events(harn: bool) -> None:
    """The replayer drives the translator exactly as live traffic does."""
    from acp_bridge.core.translate import Translator
    from acp_bridge.vm.events import decode_event

    options = TranslatorOptions(harn_extensions=harn)
    live = Translator(SESSION, options)
    expected = live.user_prompt([{"type": "text", "text": "hi"}])
    for pair in PAIRS:
        expected += live.translate(decode_event(pair["event"]))  # type: ignore[arg-type]
    expected += live.end_turn("end_turn")
    replayer = Replayer(options)
    got = replayer.feed(
        {
            "type": "acp_bridge.prompt",
            "session_id": SESSION,
            "prompt": [{"type": "text", "text": "hi"}],
        }
    )
    got += replayer.feed({"type": "acp_bridge.vm_turn_started", "session_id": SESSION})
    for pair in PAIRS:
        got += replayer.feed(pair["event"])
    got += replayer.feed(
        {"type": "acp_bridge.turn_ended", "session_id": SESSION, "stop_reason": "end_turn"}
    )
    if harn:  # the same, but marked as replayed (Harn's session/load marker)
        assert [unmarked(m) for m in notes(got)] == notes(expected)
    else:
        assert got == expected
