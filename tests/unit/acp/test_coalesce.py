"""Merging queued text chunks for a slow editor: order kept, text kept, only plain chunks."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from support.acp_schema import StrictAcp
from support.wire import mergeable, outgoing

from acp_bridge.acp.coalesce import Chunk, Outgoing, chunk_line, coalesce
from acp_bridge.acp.stdio import Outbox
from acp_bridge.jsonrpc import messages as jsonrpc


def chunk(sid: str, kind: str, text: str) -> dict[str, Any]:
    update = {"sessionUpdate": kind, "content": {"type": "text", "text": text}}
    return jsonrpc.notification("session/update", {"sessionId": sid, "update": update})


def entries(notifications: list[dict[str, Any]]) -> list[Outgoing]:
    return [outgoing(n) for n in notifications]


def test_runs_of_the_same_session_and_kind_merge_and_nothing_else_does(acp: StrictAcp) -> None:
    plan = jsonrpc.notification(
        "session/update", {"sessionId": "a", "update": {"sessionUpdate": "plan", "entries": []}}
    )
    answer = jsonrpc.result_response(7, {"stopReason": "end_turn"})
    with_meta = chunk("a", "agent_message_chunk", "m")
    with_meta["params"]["update"]["_meta"] = {"x": 1}
    queued = [
        chunk("a", "agent_message_chunk", "Hel"),
        chunk("a", "agent_message_chunk", "lo"),
        chunk("a", "agent_thought_chunk", "hm"),
        chunk("b", "agent_thought_chunk", "other session"),
        chunk("a", "agent_message_chunk", " wor"),
        with_meta,
        chunk("a", "agent_message_chunk", "ld"),
        chunk("a", "agent_message_chunk", "!"),
        plan,
        answer,
    ]
    lines, merged = coalesce(entries(queued))
    got = [json.loads(line) for line in lines]
    assert merged == 2
    assert got == [
        chunk("a", "agent_message_chunk", "Hello"),
        chunk("a", "agent_thought_chunk", "hm"),
        chunk("b", "agent_thought_chunk", "other session"),
        chunk("a", "agent_message_chunk", " wor"),
        with_meta,
        chunk("a", "agent_message_chunk", "ld!"),
        plan,
        answer,
    ]
    for message in got[:-1]:
        assert acp.agent_outbound(message) == []


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(sorted({"agent_message_chunk", "agent_thought_chunk", "plan"})),
            st.text(max_size=5),
        ),
        max_size=30,
    )
)
def test_merging_keeps_each_sessions_text_per_kind_in_order(
    items: list[tuple[str, str, str]],
) -> None:
    notifications = [
        chunk(sid, kind, text)
        if kind != "plan"
        else jsonrpc.notification(
            "session/update", {"sessionId": sid, "update": {"sessionUpdate": "plan", "entries": []}}
        )
        for sid, kind, text in items
    ]
    lines, merged = coalesce(entries(notifications))
    assert len(lines) + merged == len(notifications)

    def texts(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [
            (
                m["params"]["sessionId"],
                m["params"]["update"]["sessionUpdate"],
                m["params"]["update"].get("content", {}).get("text", "|"),
            )
            for m in messages
        ]

    def joined(rows: list[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for sid, kind, text in rows:
            out[(sid, kind)] = out.get((sid, kind), "") + text
        return out

    assert joined(texts([json.loads(line) for line in lines])) == joined(texts(notifications))


def test_the_outbox_merges_only_when_the_editor_is_behind() -> None:
    small = Outbox(high_water_bytes=1 << 20, coalesce_from_bytes=1 << 20)
    for text in "abc":
        n = chunk("a", "agent_message_chunk", text)
        small.put_nowait(outgoing(n))
    assert small.take_all().count(b"\n") == 3
    behind = Outbox(high_water_bytes=1 << 20, coalesce_from_bytes=10)
    for text in "abc":
        n = chunk("a", "agent_message_chunk", text)
        behind.put_nowait(outgoing(n))
    data = behind.take_all()
    assert [json.loads(line) for line in data.splitlines()] == [
        chunk("a", "agent_message_chunk", "abc")
    ]
    assert behind.coalesced == 2
    assert behind.lines_written == 1


@given(
    st.text(),
    st.sampled_from(["agent_message_chunk", "agent_thought_chunk"]),
    st.text(),
)
def test_a_chunk_line_is_byte_for_byte_what_the_encoder_makes(
    session_id: str, kind: str, text: str
) -> None:
    update = {"sessionUpdate": kind, "content": {"type": "text", "text": text}}
    notification = jsonrpc.notification(
        "session/update", {"sessionId": session_id, "update": update}
    )
    assert chunk_line(Chunk(session_id, kind, text)) == jsonrpc.encode(notification)
    assert mergeable(notification) == Chunk(session_id, kind, text)
