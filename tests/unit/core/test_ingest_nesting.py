"""A VM event nested deeper than the bridge can write is kept raw, and the turn goes on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from support.ingest import vm_line
from support.wire import notes

from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.eventlog import records
from acp_bridge.jsonrpc.messages import MAX_NESTING_DEPTH


def open_turn() -> SessionCore:
    session = SessionCore("s1", "/w", TranslatorOptions(cwd="/w"))
    session.begin_turn([{"type": "text", "text": "q"}])
    session.vm_has_prompt()
    return session


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def tool_call(levels: int) -> dict[str, Any]:
    """A tool call whose ``raw_input`` takes the whole event to ``levels`` levels."""
    return {
        "type": "tool_call",
        "session_id": "s1",
        "tool_call_id": "c1",
        "tool_name": "read",
        "kind": "read",
        "status": "pending",
        "raw_input": nested(levels - 1),
    }


Shape = Callable[[int], dict[str, Any]]
EVENTS: dict[str, Shape] = {
    "event": tool_call,
    "session/event": lambda levels: {
        "jsonrpc": "2.0",
        "method": "session/event",
        "params": {"event": tool_call(levels)},
    },
}
MESSAGES: dict[str, Shape] = {
    "request": lambda levels: {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "x",
        "params": {"d": nested(levels - 1)},
    },
    "notification": lambda levels: {
        "jsonrpc": "2.0",
        "method": "x",
        "params": {"d": nested(levels - 1)},
    },
    "response": lambda levels: {"jsonrpc": "2.0", "id": 1, "result": nested(levels - 1)},
}
DEPTHS = [MAX_NESTING_DEPTH + 1, 300, 600]


@pytest.mark.parametrize("levels", DEPTHS)
@pytest.mark.parametrize("shape", sorted(EVENTS))
def test_an_event_nested_too_deep_is_kept_raw_and_counted(shape: str, levels: int) -> None:
    line = json.dumps(EVENTS[shape](levels)).encode()
    ingested = vm_line(open_turn(), line)
    assert ingested.record["type"] == records.UNDECODABLE_RECORD
    assert ingested.record["raw"] == line.decode()
    assert ingested.counter == "vm_undecodable_lines"
    assert ingested.problem == f"nested deeper than {MAX_NESTING_DEPTH} levels"
    assert ingested.notifications == []
    assert ingested.rpc is None
    records.encode_record(0, 0, None, ingested.record)  # it can be persisted


@pytest.mark.parametrize("levels", DEPTHS)
@pytest.mark.parametrize("shape", sorted(MESSAGES))
def test_a_json_rpc_message_nested_too_deep_goes_to_the_supervisor(shape: str, levels: int) -> None:
    """Its peer refuses it with an answer (a request's id is readable), so nothing waits."""
    message = MESSAGES[shape](levels)
    ingested = vm_line(open_turn(), json.dumps(message).encode())
    assert ingested.record is None
    assert ingested.rpc == message


def test_an_event_at_the_limit_is_translated() -> None:
    line = json.dumps(tool_call(MAX_NESTING_DEPTH)).encode()
    ingested = vm_line(open_turn(), line)
    assert ingested.record == json.loads(line)
    assert ingested.counter is None
    [update] = [n["params"]["update"] for n in ingested.notifications]
    assert update["sessionUpdate"] == "tool_call"


def test_the_lines_after_a_deep_one_are_taken_in_the_same_batch() -> None:
    deep = json.dumps(EVENTS["event"](300)).encode()
    text = json.dumps({"type": "agent_message_chunk", "session_id": "s1", "content": "after"})
    batch = open_turn().vm_lines([deep, text.encode()])
    assert batch.end == 2
    assert batch.rpc is None
    assert [r["type"] for r, _ in batch.records] == [
        records.UNDECODABLE_RECORD,
        "agent_message_chunk",
    ]
    [update] = [n["params"]["update"] for n in notes(batch.outgoing)]
    assert update["content"]["text"] == "after"
