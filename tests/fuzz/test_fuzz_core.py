"""Fuzzing the pure core: editor framing and JSON-RPC parsing, the VM decoder, the session.

Properties: nothing raises on any input; framing does not depend on how bytes are split;
every notification the session makes of any VM line is strictly valid ACP.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from support.acp_schema import StrictAcp
from support.fuzz_budget import fuzz_settings
from support.ingest import vm_line
from support.strategies import JSON_VALUES, from_schema
from support.wire import notes

from acp_bridge.acp.coalesce import Outgoing, wire
from acp_bridge.core import ingest
from acp_bridge.core.replay import Replayer
from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.jsonrpc.framing import LineDecoder, LineTooLong
from acp_bridge.vm.events import UnknownEvent, decode_line, event_json_schema

SCHEMA = event_json_schema()
SESSION = "fuzz-session"
EVENTS = from_schema(SCHEMA, SCHEMA)
#: Lines that look like what the editor or a VM might send, and some that do not.
JSONISH = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error"]),
        JSON_VALUES,
        max_size=6,
    ).map(lambda v: json.dumps(v).encode()),
)


def _decode_all(chunks: list[bytes], limit: int) -> list[bytes | LineTooLong]:
    decoder = LineDecoder(max_line_bytes=limit)
    out: list[bytes | LineTooLong] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    tail = decoder.eof()
    if tail is not None:
        out.append(tail)
    return out


@fuzz_settings(300)
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=20), st.integers(1, 300))
def test_framing_does_not_depend_on_how_the_bytes_arrive(
    data: bytes, cuts: list[int], limit: int
) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    whole = _decode_all([data], limit)
    assert _decode_all(pieces, limit) == whole
    for item in whole:
        if isinstance(item, LineTooLong):
            assert item.length > limit
        else:
            assert len(item) <= limit
            assert b"\n" not in item


@fuzz_settings(500)
@given(JSONISH)
def test_jsonrpc_parsing_classifies_every_line_and_answers_invalid_ones(line: bytes) -> None:
    message = jsonrpc.parse_line(line)
    assert isinstance(
        message, jsonrpc.Request | jsonrpc.Notification | jsonrpc.Response | jsonrpc.Invalid
    )
    if isinstance(message, jsonrpc.Invalid):
        assert message.code in (jsonrpc.PARSE_ERROR, jsonrpc.INVALID_REQUEST)
        if message.answerable:
            answer = jsonrpc.error_response(message.id, message.code, message.message)
            assert json.loads(jsonrpc.encode(answer))["jsonrpc"] == "2.0"


@fuzz_settings(500)
@given(st.one_of(JSONISH, EVENTS.map(lambda e: json.dumps(e).encode())))
def test_the_vm_decoder_never_raises(line: bytes) -> None:
    decode_line(line)


def _session_in_turn() -> SessionCore:
    core = SessionCore(SESSION, "/fuzz", TranslatorOptions(cwd="/fuzz"))
    core.begin_turn([{"type": "text", "text": "go"}])
    core.vm_has_prompt()
    return core


def _wrapped(event: dict[str, Any]) -> bytes:
    params = {"event": event}
    return json.dumps({"jsonrpc": "2.0", "method": "session/event", "params": params}).encode()


@fuzz_settings(150)
@given(
    st.lists(
        st.one_of(
            JSONISH,
            EVENTS.map(lambda e: json.dumps(e).encode()),
            EVENTS.map(_wrapped),
            st.integers(1, 2000).map(lambda n: LineTooLong(head=b"x" * 10, length=n)),
        ),
        max_size=12,
    ),
    st.sampled_from(["end_turn", "cancelled", "max_tokens", None]),
)
def test_any_vm_output_becomes_records_and_strictly_valid_acp(
    acp: StrictAcp, lines: list[bytes | LineTooLong], stop: Any
) -> None:
    core = _session_in_turn()
    sent: list[Any] = []
    for line in lines:
        ingested = vm_line(core, line)
        if ingested.record is None:
            assert ingested.rpc is not None  # a JSON-RPC message for the supervisor
            continue
        assert isinstance(ingested.record, dict)
        assert isinstance(ingested.record.get("type"), str)
        if ingested.counter is not None:
            assert ingested.notifications == []
        sent += ingested.notifications
    core.vm_answered()
    closing, record = core.end_turn(stop)
    sent += notes(closing)
    assert record["type"] == "acp_bridge.turn_ended"
    for notification in sent:
        problems = acp.agent_outbound(dict(notification))
        assert not problems, (notification, problems)
        assert notification["params"]["sessionId"] == SESSION


@fuzz_settings(200)
@given(EVENTS)
def test_every_valid_shaped_event_is_known(event: dict[str, Any]) -> None:
    decoded = decode_line(json.dumps(event).encode())
    assert not isinstance(decoded, UnknownEvent)


def full_decoder_line(core: SessionCore, line: bytes | LineTooLong) -> ingest.Ingested:
    """The oracle for the text-chunk lane: one line through the full decoder, whatever it is."""
    return ingest.line(core.translator, core.forwarding, line)


def full_decoder_replay(replayer: Replayer, record: dict[str, Any], where: str) -> list[Outgoing]:
    """The oracle for the replayer's text-chunk lane: the record through the full decoder."""
    return replayer._feed_decoded(record, where)


#: Text chunks as VMs write them, fast-lane shaped or nearly so (an extra key, a number).
CHUNKISH = st.builds(
    lambda kind, text, extra: json.dumps(
        {"type": kind, "session_id": "vm", "content": text, **extra}
    ).encode(),
    st.sampled_from(["agent_message_chunk", "agent_thought_chunk", "agent_message_chunks"]),
    st.one_of(st.text(max_size=20), st.sampled_from(["<think>", "a<th", "ink>b</think>c"])),
    st.one_of(st.just({}), st.dictionaries(st.sampled_from(["message_id", "x"]), JSON_VALUES)),
)


@fuzz_settings(200)
@given(
    st.lists(
        st.one_of(
            CHUNKISH,
            JSONISH,
            EVENTS.map(lambda e: json.dumps(e).encode()),
            EVENTS.map(_wrapped),
            st.just(b'{"jsonrpc":"2.0","id":0,"result":{"stopReason":"end_turn"}}'),
        ),
        max_size=16,
    ),
    st.booleans(),
)
def test_a_batch_makes_exactly_what_the_lines_make_one_by_one(
    lines: list[bytes | LineTooLong], in_turn: bool
) -> None:
    """The fast lane of vm_lines (text chunks) agrees with the full decoder, line by line."""
    one, batched = (
        _session_in_turn() if in_turn else SessionCore(SESSION, "/fuzz", TranslatorOptions())
        for _ in range(2)
    )
    expected_records: list[Any] = []
    expected_out: list[bytes] = []
    expected_counts: dict[str, int] = {}
    stops: list[int] = []
    for position, line in enumerate(lines):
        ingested = full_decoder_line(one, line)
        if ingested.record is None:
            stops.append(position + 1)
            continue
        expected_records.append((ingested.record, ingested.frame_depth))
        expected_out += map(wire, ingested.outgoing)
        if ingested.counter is not None:
            expected_counts[ingested.counter] = expected_counts.get(ingested.counter, 0) + 1
    records: list[Any] = []
    out: list[bytes] = []
    counts: dict[str, int] = {}
    start, ends = 0, []
    while start < len(lines):
        batch = batched.vm_lines(lines, start)
        records += batch.records
        out += map(wire, batch.outgoing)
        for name, count in batch.counts.items():
            counts[name] = counts.get(name, 0) + count
        assert batch.end > start
        if batch.rpc is not None:
            ends.append(batch.end)
        start = batch.end
    assert ends == stops
    assert records == expected_records
    assert out == expected_out
    assert counts == expected_counts


#: Records a log may hold: the bridge's own turn markers, events, and text chunks.
RECORDS = st.one_of(
    CHUNKISH.map(json.loads),
    EVENTS,
    st.sampled_from(
        [
            {
                "type": "acp_bridge.prompt",
                "session_id": SESSION,
                "prompt": [{"type": "text", "text": "q"}],
            },
            {"type": "acp_bridge.vm_turn_started", "session_id": SESSION},
            {"type": "acp_bridge.vm_turn_over", "session_id": SESSION},
            {"type": "acp_bridge.turn_ended", "session_id": SESSION, "stop_reason": "end_turn"},
            {"type": "brand_new", "session_id": "x"},
        ]
    ),
)


@fuzz_settings(200)
@given(st.lists(RECORDS, max_size=16), st.booleans())
def test_a_wire_replay_makes_exactly_what_the_notifications_make(
    records: list[dict[str, Any]], bound: bool
) -> None:
    """The fast lane of Replayer.feed (text chunks) agrees with its full decoder, encoded."""
    plain, fast = Replayer(), Replayer()
    if bound:
        plain.begin_log(SESSION)
        fast.begin_log(SESSION)
    expected: list[bytes] = []
    got: list[bytes] = []
    for record in records:
        expected += map(wire, full_decoder_replay(plain, record, "log:1"))
        got += map(wire, fast.feed(record, "log:1"))
    expected += map(wire, plain.finish())
    got += map(wire, fast.finish())
    assert got == expected
    assert fast.stats == plain.stats
