"""AgentEvent decoding: Harn's exact shapes in, the same JSON out, never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.paths import DATA
from support.strategies import from_schema

from acp_bridge.vm.events import (
    EVENT_TYPES,
    AgentMessageChunk,
    InvalidEvent,
    NotAnEvent,
    ToolCallUpdate,
    UnknownEvent,
    decode_event,
    decode_line,
    encode_event,
    event_json_schema,
)

PAIRS: list[dict[str, Any]] = json.loads((DATA / "harn_event_pairs.json").read_text())
SCHEMA = event_json_schema()


def test_the_contract_has_every_type_tag_harn_has_emitted() -> None:
    # 86 types of the newest Harn, plus plan, turn_start and turn_end, removed since; and
    # the bridge's own 7 (what a VM offers the editor).
    assert len(EVENT_TYPES) == 89 + 7
    assert {pair["event"]["type"] for pair in PAIRS} <= EVENT_TYPES


@pytest.mark.parametrize("pair", PAIRS, ids=[p["event"]["type"] for p in PAIRS])
def test_every_harn_event_decodes_and_reencodes_to_the_same_json(pair: dict[str, Any]) -> None:
    event = decode_event(pair["event"])
    assert not isinstance(event, UnknownEvent | InvalidEvent), event
    assert encode_event(event) == pair["event"]
    line = json.dumps(pair["event"]).encode()
    assert encode_event(decode_line(line)) == pair["event"]  # type: ignore[arg-type]


def test_null_and_omitted_optionals_both_decode_and_stay_as_they_were() -> None:
    with_null = {"type": "tool_call_update", "session_id": "s", "tool_call_id": "c", "error": None}
    omitted = {"type": "tool_call_update", "session_id": "s", "tool_call_id": "c"}
    for raw in (with_null, omitted):
        event = decode_event(raw)
        assert isinstance(event, ToolCallUpdate)
        assert event.error is None
        assert encode_event(event) == raw


def test_unknown_keys_are_kept_at_every_level() -> None:
    raw = {
        "type": "tool_call_update",
        "session_id": "s",
        "tool_call_id": "c",
        "brand_new_field": {"a": [1, 2]},
        "executor": {"kind": "mcp_server", "server_name": "x", "region": "eu"},
    }
    event = decode_event(raw)
    assert encode_event(event) == raw  # type: ignore[arg-type]


def test_an_old_line_missing_newer_optional_keys_decodes() -> None:
    event = decode_event({"type": "worker_update", "session_id": "s", "worker_id": "w"})
    assert not isinstance(event, UnknownEvent | InvalidEvent)


def test_unknown_type_is_an_explicit_value() -> None:
    raw = {"type": "quantum_leap", "session_id": "s"}
    assert decode_event(raw) == UnknownEvent(type="quantum_leap", data=raw)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b'{"session_id": "s"}', "no string 'type'"),
        (b'{"type": 5}', "no string 'type'"),
        (b"", "not JSON"),
    ],
)
def test_lines_that_are_not_events_are_explicit_values(line: bytes, reason: str) -> None:
    decoded = decode_line(line)
    assert isinstance(decoded, NotAnEvent)
    assert reason in decoded.reason
    assert decoded.raw == line


def test_wrong_field_types_are_invalid_events_with_the_field_named() -> None:
    decoded = decode_line(b'{"type": "agent_message_chunk", "session_id": "s", "content": 5}')
    assert isinstance(decoded, InvalidEvent)
    assert decoded.type == "agent_message_chunk"
    assert decoded.reason.startswith("content:")


def test_missing_session_id_is_invalid() -> None:
    decoded = decode_line(b'{"type": "agent_message_chunk", "content": "hi"}')
    assert isinstance(decoded, InvalidEvent)
    assert "session_id" in decoded.reason


def test_plan_accepts_an_artifact_or_a_bare_entry_list() -> None:
    for plan in ({"steps": [{"content": "a"}]}, [{"content": "a", "status": "pending"}]):
        raw = {"type": "plan", "session_id": "s", "plan": plan}
        assert encode_event(decode_event(raw)) == raw  # type: ignore[arg-type]


@given(st.binary(max_size=200))
def test_decoding_arbitrary_bytes_never_raises(data: bytes) -> None:
    decoded = decode_line(data)
    assert decoded is not None


@given(
    st.dictionaries(
        st.sampled_from(["type", "session_id", "content", "tool_call_id", "plan", "x"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=5), st.sampled_from(sorted(EVENT_TYPES))
        ),
    )
)
def test_decoding_arbitrary_objects_never_raises(data: dict[str, Any]) -> None:
    decoded = decode_event(data)
    assert decoded is not None


@settings(max_examples=300)
@given(from_schema(SCHEMA, SCHEMA))
def test_any_valid_event_round_trips(raw: dict[str, Any]) -> None:
    event = decode_event(raw)
    assert not isinstance(event, UnknownEvent | InvalidEvent), event
    assert encode_event(event) == raw


def test_message_chunk_model_is_reachable_by_type() -> None:
    assert isinstance(
        decode_event({"type": "agent_message_chunk", "session_id": "s", "content": ""}),
        AgentMessageChunk,
    )
