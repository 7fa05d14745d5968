"""SessionCore: what each VM line becomes, and the turn state machine."""

from __future__ import annotations

import json

import pytest
from support.ingest import vm_line

from acp_bridge.core.replay import Replayer
from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.core.turn import Phase
from acp_bridge.errors import LocalProtocolError
from acp_bridge.eventlog import records
from acp_bridge.jsonrpc.framing import LineTooLong


def phase(session: SessionCore) -> Phase:
    return session.phase


def core() -> SessionCore:
    return SessionCore("s1", "/w", TranslatorOptions(cwd="/w"))


CHUNK = json.dumps({"type": "agent_message_chunk", "session_id": "vm", "content": "hi"}).encode()


def test_turn_transitions() -> None:
    session = core()
    assert phase(session) is Phase.IDLE
    assert session.cancel() is False
    record = session.begin_turn([{"type": "text", "text": "q"}])
    assert record["type"] == "acp_bridge.prompt"
    assert phase(session) is Phase.PROMPTING
    with pytest.raises(LocalProtocolError):
        session.begin_turn([])
    assert session.cancel() is True
    assert phase(session) is Phase.CANCELLING
    assert session.final_stop_reason("end_turn") == "cancelled"
    closing, ended = session.end_turn("cancelled")
    assert closing == []
    assert ended == {
        "type": "acp_bridge.turn_ended",
        "session_id": "s1",
        "stop_reason": "cancelled",
    }
    assert phase(session) is Phase.IDLE
    with pytest.raises(LocalProtocolError):
        session.end_turn("end_turn")


def test_events_in_a_turn_are_persisted_and_forwarded_under_the_acp_session_id() -> None:
    session = core()
    session.begin_turn([])
    assert vm_line(session, CHUNK).notifications == []  # not yet handed to the VM
    assert session.vm_has_prompt() == {"type": "acp_bridge.vm_turn_started", "session_id": "s1"}
    ingested = vm_line(session, CHUNK)
    assert ingested.record == json.loads(CHUNK)
    [note] = ingested.notifications
    assert note["params"]["sessionId"] == "s1"
    assert ingested.counter is None


def test_events_outside_a_turn_are_persisted_only() -> None:
    ingested = vm_line(core(), CHUNK)
    assert ingested.record == json.loads(CHUNK)
    assert ingested.notifications == []
    assert ingested.counter == "vm_events_outside_turn"


def test_session_event_notifications_unwrap_with_frame_depth() -> None:
    session = core()
    session.begin_turn([])
    session.vm_has_prompt()
    line = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "session/event",
            "params": {"event": json.loads(CHUNK), "frame_depth": 2},
        }
    ).encode()
    ingested = vm_line(session, line)
    assert ingested.frame_depth == 2
    assert ingested.record == json.loads(CHUNK)
    assert len(ingested.notifications) == 1


def test_other_json_rpc_messages_go_to_the_supervisor() -> None:
    answer = {"jsonrpc": "2.0", "id": 3, "result": {"stopReason": "end_turn"}}
    ingested = vm_line(core(), json.dumps(answer).encode())
    assert ingested.record is None
    assert ingested.rpc == answer


@pytest.mark.parametrize(
    ("line", "counter", "record_type"),
    [
        (b"hello world", "vm_undecodable_lines", "acp_bridge.undecodable"),
        (b"\xff\xfe garbage", "vm_undecodable_lines", "acp_bridge.undecodable"),
        (b'{"type":"brand_new","session_id":"x"}', "vm_unknown_event_types", "brand_new"),
        (
            b'{"type":"agent_message_chunk","session_id":"x","content":1}',
            "vm_invalid_events",
            "agent_message_chunk",
        ),
        (
            b'{"jsonrpc":"2.0","method":"session/event","params":{}}',
            "vm_undecodable_lines",
            "acp_bridge.undecodable",
        ),
    ],
)
def test_bad_lines_are_persisted_counted_and_not_forwarded(
    line: bytes, counter: str, record_type: str
) -> None:
    session = core()
    session.begin_turn([])
    ingested = vm_line(session, line)
    assert ingested.counter == counter
    assert ingested.notifications == []
    assert ingested.record is not None
    assert ingested.record["type"] == record_type
    assert ingested.problem


def test_undecodable_bytes_are_kept_exactly() -> None:
    record = vm_line(core(), b"\xff\xfe garbage").record
    assert record is not None
    assert bytes.fromhex(record["raw_hex"]) == b"\xff\xfe garbage"


def test_overlong_lines_keep_their_head() -> None:
    ingested = vm_line(core(), LineTooLong(10_000_000, b'{"type":'))
    assert ingested.counter == "vm_overlong_lines"
    assert ingested.record is not None
    assert ingested.record["raw"] == '{"type":'


def test_budget_exhausted_turns_end_turn_into_max_turn_requests() -> None:
    session = core()
    session.begin_turn([])
    session.vm_has_prompt()
    vm_line(session, b'{"type":"budget_exhausted","session_id":"x","max_iterations":3}')
    assert session.final_stop_reason("end_turn") == "max_turn_requests"


def test_the_vm_answer_closes_forwarding_before_the_turn_ends() -> None:
    session = core()
    session.begin_turn([])
    session.vm_has_prompt()
    assert session.vm_answered() == {"type": "acp_bridge.vm_turn_over", "session_id": "s1"}
    assert session.vm_answered() is None
    ingested = vm_line(session, CHUNK)
    assert ingested.notifications == []
    assert ingested.counter == "vm_events_outside_turn"


def test_a_batch_stops_at_the_prompts_answer_so_later_events_stay_out_of_the_turn() -> None:
    session = core()
    session.begin_turn([])
    session.vm_has_prompt()
    answer = b'{"jsonrpc":"2.0","id":0,"result":{"stopReason":"end_turn"}}'
    lines: list[bytes | LineTooLong] = [CHUNK, CHUNK, answer, CHUNK, b"junk"]
    batch = session.vm_lines(lines)
    assert (batch.end, batch.rpc) == (3, json.loads(answer))
    assert [record for record, _ in batch.records] == [json.loads(CHUNK)] * 2
    assert batch.outgoing == [("s1", "agent_message_chunk", "hi")] * 2  # chunks, not yet lines
    session.vm_answered()  # what the supervisor does with that answer
    rest = session.vm_lines(lines, batch.end)
    assert (rest.end, rest.rpc, rest.outgoing) == (5, None, [])
    assert rest.counts == {"vm_events_outside_turn": 1, "vm_undecodable_lines": 1}
    [(position, problem)] = rest.problems
    assert (position, problem[:9]) == (4, "not JSON:")


@pytest.mark.parametrize("kind", ["agent_message_chunk", "agent_thought_chunk"])
def test_an_empty_text_chunk_is_kept_sends_nothing_and_counts_nothing_live_and_in_replay(
    kind: str,
) -> None:
    empty = {"type": kind, "session_id": "vm", "content": ""}
    lines = [
        json.dumps(empty).encode(),  # the fast lane
        json.dumps({**empty, "extra": 1}).encode(),  # the full decoder
        json.dumps(
            {"jsonrpc": "2.0", "method": "session/event", "params": {"event": empty}}
        ).encode(),
    ]
    session = core()
    session.begin_turn([])
    session.vm_has_prompt()
    batch = session.vm_lines(lines)
    assert (batch.outgoing, batch.counts, batch.problems) == ([], {}, [])
    assert len(batch.records) == len(lines)
    replayer = Replayer(TranslatorOptions(cwd="/w"))
    replayer.begin_log("s1")
    logged = [
        records.session_record("s1", "/w", [], []),
        records.vm_turn_record("s1", started=True),
        *(dict(record) for record, _ in batch.records),
    ]
    assert [entry for record in logged for entry in replayer.feed(record)] == []
    assert replayer.stats.problems == []
