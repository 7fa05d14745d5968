"""The Harn envelope: encoding, decoding, key conflicts, raw lines."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from acp_bridge.eventlog.records import (
    LogRecord,
    decode_record,
    encode_record,
    is_bridge_record,
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
tricky_keys = st.sampled_from(
    ["index", "emitted_at_ms", "frame_depth", "_event_index", "_event__event_frame_depth", "type"]
)
events = st.dictionaries(tricky_keys | st.text(), json_values, max_size=8)


@given(
    index=st.integers(min_value=0, max_value=2**63 - 1),
    at=st.integers(min_value=0, max_value=2**63 - 1),
    depth=st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    event=events,
)
def test_any_event_round_trips(
    index: int, at: int, depth: int | None, event: dict[str, Any]
) -> None:
    line = encode_record(index, at, depth, event)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    raw = orjson.loads(line)
    assert list(raw)[:3] == ["index", "emitted_at_ms", "frame_depth"]
    assert (raw["index"], raw["emitted_at_ms"], raw["frame_depth"]) == (index, at, depth)
    assert decode_record(line) == LogRecord(index, at, depth, event)


def test_conflicting_keys_are_escaped_one_level_deeper() -> None:
    line = encode_record(0, 1, None, {"index": 5, "_event_index": 6, "emitted_at_ms": "x"})
    assert orjson.loads(line) == {
        "index": 0,
        "emitted_at_ms": 1,
        "frame_depth": None,
        "_event_index": 5,
        "_event__event_index": 6,
        "_event_emitted_at_ms": "x",
    }


def test_an_escaped_key_spelt_with_unicode_escapes_is_unescaped_too() -> None:
    line = b'{"index":0,"emitted_at_ms":1,"frame_depth":null,"type":"x","\\u005fevent_index":5}'
    assert decode_record(line).event == {"type": "x", "index": 5}


def test_a_line_without_envelope_decodes_with_none_envelope() -> None:
    record = decode_record(b'{"type":"agent_message_chunk","session_id":"s","content":"hi"}')
    assert record == LogRecord(
        None, None, None, {"type": "agent_message_chunk", "session_id": "s", "content": "hi"}
    )


def test_a_harn_line_decodes() -> None:
    line = b'{"index":7,"emitted_at_ms":1700000000000,"frame_depth":1,"type":"turn_start"}\r\n'
    assert decode_record(line) == LogRecord(7, 1700000000000, 1, {"type": "turn_start"})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty line"),
        (b"  \n", "empty line"),
        (b"not json\n", "not JSON"),
        (b'{"a": 1', "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[1, 2]", "not a JSON object (a JSON array)"),
        (b'"text"', "not a JSON object (a JSON string)"),
        (b"3", "not a JSON object (a JSON number)"),
        (b"null", "not a JSON object (a JSON null)"),
        (b'{"index": "3"}', "index is not an integer"),
        (b'{"index": true}', "index is not an integer"),
        (b'{"index": 1.5}', "index is not an integer"),
        (b'{"index": -1}', "index is below 0"),
        (b'{"index": 1, "emitted_at_ms": "now"}', "emitted_at_ms is not an integer"),
        (b'{"index": 1, "frame_depth": []}', "frame_depth is not an integer"),
    ],
)
def test_bad_lines_raise_value_error_with_a_reason(line: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        decode_record(line)


@pytest.mark.parametrize("event", [{1: "int key"}, {"n": 2**64}, {"o": object()}])
def test_unencodable_events_raise_type_error(event: dict[Any, Any]) -> None:
    with pytest.raises(TypeError):
        encode_record(0, 0, None, event)


def test_bridge_records_are_recognised_by_type_prefix() -> None:
    assert is_bridge_record({"type": "acp_bridge.prompt"})
    assert is_bridge_record({"type": "acp_bridge.turn_ended", "stop_reason": "end_turn"})
    assert not is_bridge_record({"type": "agent_message_chunk"})
    assert not is_bridge_record({"type": 3})
    assert not is_bridge_record({})


def test_harns_execution_id_is_the_envelopes_and_an_event_key_of_that_name_round_trips() -> None:
    harn = b'{"index":3,"emitted_at_ms":5,"frame_depth":null,"execution_id":"x1","type":"t"}'
    assert decode_record(harn) == LogRecord(3, 5, None, {"type": "t"}, "x1")
    event = {"type": "t", "execution_id": "mine", "_event_execution_id": 1}
    assert decode_record(encode_record(0, 1, None, event)).event == event
