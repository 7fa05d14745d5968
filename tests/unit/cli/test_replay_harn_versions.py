"""Harn logs of harn-vm 0.8.43 and of the newest Harn, one line per variant, replayed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.acp_schema import StrictAcp
from support.harn_logs import HARN_LOGS, beyond_harns_names, events, leaked_envelope_keys

from acp_bridge.vm.catalog import spec_of
from acp_bridge.vm.events import InvalidEvent, UnknownEvent, decode_event


def replay(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "acp_bridge", "replay", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("version", sorted(HARN_LOGS))
def test_every_line_is_a_known_valid_event(version: str) -> None:
    for line in events(HARN_LOGS[version]):
        decoded = decode_event(line)
        assert not isinstance(decoded, UnknownEvent | InvalidEvent), decoded
        assert spec_of(line["type"]) is not None


def test_the_logs_have_one_line_per_variant_of_their_version() -> None:
    old = [e["type"] for e in events(HARN_LOGS["0.8.43"])]
    new = [e["type"] for e in events(HARN_LOGS["newest"])]
    assert len(old) == len(set(old)) == 55
    assert len(new) == len(set(new)) == 86
    assert "plan" in old
    assert "plan_document_updated" not in old
    assert "plan_document_updated" in new
    assert "plan" not in new
    assert all("execution_id" in e for e in events(HARN_LOGS["newest"]))


@pytest.mark.parametrize("harn_mode", [False, True], ids=["default", "harn-mode"])
@pytest.mark.parametrize("version", sorted(HARN_LOGS))
def test_a_harn_log_replays_strictly_with_the_users_turn_and_the_plan(
    acp: StrictAcp, version: str, harn_mode: bool
) -> None:
    result = replay(*(["--harn-extensions"] if harn_mode else []), str(HARN_LOGS[version]))
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "unknown" not in stderr
    assert "invalid" not in stderr
    messages: list[dict[str, Any]] = [json.loads(x) for x in result.stdout.splitlines()]
    assert all(leaked_envelope_keys(m) == [] for m in messages)
    for message in messages:
        problems = acp.agent_outbound(message)
        # Harn mode sends Harn's extension updates as session/update, as Harn does
        assert (beyond_harns_names(problems) if harn_mode else problems) == [], message
        assert leaked_envelope_keys(message) == [], message
    updates = [m["params"]["update"] for m in messages if m["method"] == "session/update"]
    users = [u for u in updates if u["sessionUpdate"] == "user_message_chunk"]
    assert [u["content"] for u in users] == [
        {"type": "text", "text": "Fix the failing tokenizer test."}
    ]
    plans = [u for u in updates if u["sessionUpdate"] == "plan"]
    from_document = [
        {"content": "Reproduce the failure", "priority": "high", "status": "completed"},
        {"content": "Patch the tokenizer", "priority": "high", "status": "in_progress"},
        {
            "content": "Run the tests",
            "priority": "medium",
            "status": "pending",
            "_meta": {"harn": {"status": "blocked"}},
        },
    ]
    # the plan artifact (0.8.43) or the plan document's revision (newest), then the progress
    first, second = (p["entries"] for p in plans)
    assert first == from_document
    assert [e["content"] for e in second] == ["Reproduce", "Patch"]
    tool_updates = [u for u in updates if u["sessionUpdate"] == "tool_call_update"]
    assert tool_updates[0]["rawInput"] == {"path": "src/tokenizer.rs"}
    kinds = {m["params"]["kind"] for m in messages if m["method"] == "_harn/agentEvent"}
    assert {"iteration_start", "iteration_end", "budget_exhausted"} <= kinds  # every mode
    agent_events = [m["params"] for m in messages if m["method"] == "_harn/agentEvent"]
    if harn_mode:  # Harn's shape since 0.8.17: extras in _meta.harn, replays marked
        assert not any(m["method"] == "_harn/session_update" for m in messages)
        assert all(u["_meta"]["harn"]["replayed"] is True for u in updates)
        assert all(p["replayed"] is True for p in agent_events)
        extension = [u for u in updates if u["sessionUpdate"] == "worker_update"]
        assert extension
        assert all(set(u) == {"sessionUpdate", "_meta"} for u in extension)
        texts = [u["content"] for u in updates if u["sessionUpdate"] == "agent_message_chunk"]
        assert texts
        assert all(t["_meta"]["harn"]["visible_text"] == t["text"] for t in texts)
    else:
        assert not any("replayed" in p for p in agent_events)


def test_the_newest_tool_fields_travel_in_meta_harn(acp: StrictAcp) -> None:
    result = replay(str(HARN_LOGS["newest"]))
    messages = [json.loads(x) for x in result.stdout.splitlines()]
    [update] = [
        m["params"]["update"]
        for m in messages
        if m["params"].get("update", {}).get("sessionUpdate") == "tool_call_update"
    ]
    harn = update["_meta"]["harn"]
    assert harn["mutationStatus"] == "applied"
    assert harn["changedPaths"] == ["src/tokenizer.rs"]
    assert harn["data"] == {"lines": 3}
    [start] = [
        m["params"]["update"]
        for m in messages
        if m["params"].get("update", {}).get("sessionUpdate") == "tool_call"
    ]
    assert start["_meta"]["harn"]["intent"] == "Read the tokenizer"


def test_a_log_of_harn_is_read_from_a_copy_with_its_envelope(tmp_path: Path) -> None:
    copy = tmp_path / "event_log.jsonl"
    copy.write_text(HARN_LOGS["newest"].read_text())
    assert replay(str(copy)).returncode == 0
