"""The bridge's own record types: one vocabulary, every builder marks its record as the bridge's."""

from __future__ import annotations

from typing import Any

import pytest

from acp_bridge.eventlog.records import (
    BRIDGE_TYPE_PREFIX,
    EDITOR_CALL_RECORD,
    PROMPT_RECORD,
    SESSION_RECORD,
    TURN_ENDED_RECORD,
    UNDECODABLE_RECORD,
    VM_TURN_OVER_RECORD,
    VM_TURN_STARTED_RECORD,
    editor_call_record,
    is_bridge_record,
    prompt_record,
    session_record,
    turn_ended_record,
    undecodable_record,
    vm_turn_record,
)


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (session_record("s", "/w", [], []), SESSION_RECORD),
        (prompt_record("s", [{"type": "text", "text": "q"}]), PROMPT_RECORD),
        (turn_ended_record("s", None), TURN_ENDED_RECORD),
        (vm_turn_record("s", started=True), VM_TURN_STARTED_RECORD),
        (vm_turn_record("s", started=False), VM_TURN_OVER_RECORD),
        (editor_call_record("s", "fs/read_text_file", {}, result=None), EDITOR_CALL_RECORD),
        (undecodable_record("s", b"junk", "not JSON"), UNDECODABLE_RECORD),
    ],
)
def test_every_builder_makes_a_bridge_record_of_its_type(record: dict[str, Any], kind: str) -> None:
    assert record["type"] == kind
    assert kind.startswith(BRIDGE_TYPE_PREFIX)
    assert is_bridge_record(record)
    assert record["session_id"] == "s"


def test_a_session_record_names_extra_roots_only_when_there_are_some() -> None:
    assert "additional_directories" not in session_record("s", "/w", [], [])
    assert session_record("s", "/w", [], ["/x"])["additional_directories"] == ["/x"]


def test_an_editor_call_records_its_answer_or_why_there_is_none() -> None:
    params = {"path": "/w/a"}
    base = {"type": EDITOR_CALL_RECORD, "session_id": "s", "method": "m", "params": params}
    assert editor_call_record("s", "m", params, result=None) == {**base, "result": None}
    assert editor_call_record("s", "m", params, result={"ok": 1}) == {**base, "result": {"ok": 1}}
    assert editor_call_record("s", "m", params, error="timeout") == {**base, "error": "timeout"}
    error = {"code": -32603, "message": "no"}
    assert editor_call_record("s", "m", params, error=error) == {**base, "error": error}


def test_an_undecodable_line_is_kept_as_text_or_as_hex() -> None:
    assert undecodable_record("s", b"junk", "r")["raw"] == "junk"
    assert undecodable_record("s", b"\xff", "r")["raw_hex"] == "ff"
