"""The translator: every message strictly valid ACP, Harn mode equal to Harn's adapter."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.acp_schema import StrictAcp
from support.harn_logs import beyond_harns_names, harn_0_8_17_shape
from support.paths import DATA
from support.strategies import from_schema
from support.wire import mergeable, notes

from acp_bridge.acp.coalesce import Outgoing
from acp_bridge.core.harn import (
    EXTENSION_UPDATE_TYPES,
    HARN_AGENT_EVENT_METHOD,
    HARN_UPDATE_METHOD,
)
from acp_bridge.core.translate import Translator, TranslatorOptions
from acp_bridge.vm.events import (
    AgentEvent,
    InvalidEvent,
    UnknownEvent,
    decode_event,
    event_json_schema,
)

PAIRS: list[dict[str, Any]] = json.loads((DATA / "harn_event_pairs.json").read_text())
SESSION = "7f3c2a9e-1b4d-4c8e-9a55-0d2e6b1f8c33"
SCHEMA = event_json_schema()


def ev(**fields: Any) -> AgentEvent:
    fields.setdefault("session_id", SESSION)
    event = decode_event(fields)
    assert not isinstance(event, UnknownEvent | InvalidEvent), event
    return event


def assert_valid(acp: StrictAcp, messages: list[Outgoing], harn: bool = False) -> None:
    """Every message strictly valid (Harn mode: but for Harn's extension update names)."""
    for message in notes(messages):
        problems = acp.agent_outbound(dict(message))
        assert not (beyond_harns_names(problems) if harn else problems), (message, problems)


def updates(messages: list[Outgoing]) -> list[dict[str, Any]]:
    return [cast("dict[str, Any]", m["params"]["update"]) for m in notes(messages)]


@pytest.mark.parametrize("pair", PAIRS, ids=[p["event"]["type"] for p in PAIRS])
def test_default_mode_output_is_strictly_valid_acp(acp: StrictAcp, pair: dict[str, Any]) -> None:
    translator = Translator(SESSION, TranslatorOptions(cwd="/home/dev/repo"))
    out = translator.translate(ev(**pair["event"]))
    assert_valid(acp, out)
    for message in notes(out):
        if pair["acp"] is None:  # no ACP update: a loop milestone, Harn's extension
            assert message["method"] == HARN_AGENT_EVENT_METHOD
        assert message["method"] in ("session/update", HARN_UPDATE_METHOD, HARN_AGENT_EVENT_METHOD)
        assert message["params"]["sessionId"] == SESSION


@pytest.mark.parametrize("pair", PAIRS, ids=[p["event"]["type"] for p in PAIRS])
def test_harn_mode_output_is_strictly_valid_acp(acp: StrictAcp, pair: dict[str, Any]) -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=True, cwd="/home/dev/repo"))
    out = translator.translate(ev(**pair["event"]))
    assert_valid(acp, out, harn=True)
    for message in notes(out):
        assert message["method"] in ("session/update", HARN_AGENT_EVENT_METHOD)
        update = message["params"].get("update", {})
        if update.get("sessionUpdate") in EXTENSION_UPDATE_TYPES:
            assert set(update) == {"sessionUpdate", "_meta"}


def test_whole_harn_stream_in_order_is_valid_and_ends_cleanly(acp: StrictAcp) -> None:
    translator = Translator(SESSION, TranslatorOptions(cwd="/home/dev/repo"))
    out: list[Outgoing] = []
    for pair in PAIRS:
        out += translator.translate(ev(**pair["event"]))
    out += translator.end_turn("end_turn")
    assert_valid(acp, out)
    assert translator.open_tool_calls == []


@pytest.mark.parametrize(
    "pair",
    [p for p in PAIRS if p["event"]["type"] in EXTENSION_UPDATE_TYPES],
    ids=lambda p: p["event"]["type"],
)
def test_harn_mode_extension_variants_equal_harns_own_adapter(pair: dict[str, Any]) -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=True))
    assert notes(translator.translate(ev(**pair["event"]))) == [harn_0_8_17_shape(pair["acp"])]


@pytest.mark.parametrize(
    "pair",
    [p for p in PAIRS if p["event"]["type"] in EXTENSION_UPDATE_TYPES],
    ids=lambda p: p["event"]["type"],
)
def test_default_mode_sends_extension_variants_as_an_extension_notification(
    pair: dict[str, Any],
) -> None:
    [message] = notes(Translator(SESSION).translate(ev(**pair["event"])))
    assert message["method"] == HARN_UPDATE_METHOD
    assert message["params"] == harn_0_8_17_shape(pair["acp"])["params"]


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("turn_start", "turn_start"),  # an old tag keeps its old kind, as Harn 0.8.17 sent it
        ("turn_end", "turn_end"),
        ("feedback_injected", "feedback_injected"),
        ("daemon_watchdog_tripped", "daemon_watchdog_tripped"),
    ],
)
@pytest.mark.parametrize("harn", [False, True], ids=["default", "harn"])
def test_loop_milestones_go_as_harns_agent_event_in_every_mode(
    acp: StrictAcp, event_type: str, kind: str, harn: bool
) -> None:
    [pair] = [p for p in PAIRS if p["event"]["type"] == event_type]
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=harn))
    out = translator.translate(ev(**pair["event"]))
    assert_valid(acp, out)
    [message] = notes(out)
    assert message["method"] == HARN_AGENT_EVENT_METHOD
    params = message["params"]
    assert list(params)[-2:] == ["sessionId", "kind"]
    assert (params["sessionId"], params["kind"]) == (SESSION, kind)
    assert "replayed" not in params
    assert translator.stop_requested is None


#: What Harn 0.8.17's adapter sends for the 0.7.50 pairs without an ACP update, by Harn's
#: rule (payload camelCased, ``kind`` renamed ``feedbackKind``, then sessionId and kind).
MILESTONES_0_8_17: dict[str, dict[str, Any]] = {
    "turn_start": {"iteration": 1, "kind": "turn_start"},
    "turn_end": {
        "iteration": 1,
        "turnInfo": {"tool_names": ["read_file"], "tool_count": 1, "iteration": 1, "failed": False},
        "kind": "turn_end",
    },
    "feedback_injected": {
        "feedbackKind": "user",
        "content": "Prefer the smaller diff.",
        "kind": "feedback_injected",
    },
    "budget_exhausted": {"maxIterations": 25, "kind": "budget_exhausted"},
    "loop_stuck": {
        "maxNudges": 3,
        "lastIteration": 9,
        "tailExcerpt": "I think we are done here.",
        "kind": "loop_stuck",
    },
    "daemon_watchdog_tripped": {
        "attempts": 60,
        "elapsedMs": 600000,
        "kind": "daemon_watchdog_tripped",
    },
}


@pytest.mark.parametrize("event_type", sorted(MILESTONES_0_8_17))
@pytest.mark.parametrize("harn", [False, True], ids=["default", "harn"])
def test_loop_milestones_equal_harns_own_adapter(event_type: str, harn: bool) -> None:
    [pair] = [p for p in PAIRS if p["event"]["type"] == event_type]
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=harn))
    [message] = notes(translator.translate(ev(**pair["event"])))
    expected = {**MILESTONES_0_8_17[event_type], "sessionId": SESSION}
    assert message == {"jsonrpc": "2.0", "method": HARN_AGENT_EVENT_METHOD, "params": expected}


def test_a_turn_phase_goes_in_harns_snake_case(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    out = translator.translate(
        ev(type="turn_phase_changed", phase="verifying", candidate_reply="c")
    )
    assert_valid(acp, out)
    [message] = notes(out)
    assert message["params"] == {
        "phase": "verifying",
        "candidate_reply": "c",
        "sessionId": SESSION,
        "kind": "turn_phase_changed",
    }


def test_a_compaction_receipt_is_lifted_into_meta_harn() -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=True))
    receipt = {"receipt_id": "r1", "archived_messages": 3, "estimated_tokens_after": 40}
    [update] = updates(translator.translate(ev(type="transcript_compacted", receipt=receipt)))
    assert update == {
        "sessionUpdate": "transcript_compacted",
        "_meta": {"harn": {"receiptId": "r1", "archivedMessages": 3, "estimatedTokensAfter": 40}},
    }


def test_a_reminder_goes_under_meta_harn_reminder() -> None:
    translator = Translator(SESSION)
    reminder = ev(
        type="reminder_emitted",
        reminder_id="r",
        tags=["t"],
        body="b",
        role_hint="system",
        authority="host",
        rendered_role="system",
        source="s",
        ttl_turns=None,
    )
    [message] = notes(translator.translate(reminder))
    assert message["params"]["update"] == {
        "sessionUpdate": "reminder_emitted",
        "_meta": {
            "harn": {
                "reminder": {
                    "reminderId": "r",
                    "tags": ["t"],
                    "body": "b",
                    "roleHint": "system",
                    "authority": "host",
                    "renderedRole": "system",
                    "source": "s",
                    "ttlTurns": None,
                }
            }
        },
    }


def test_an_internal_type_is_never_forwarded() -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=True))
    health = {"schema_version": 1, "session_id": SESSION, "iteration": None}
    assert translator.translate(ev(type="session_health", fact=health)) == []


@pytest.mark.parametrize(("status", "terminal"), [("stopped", True), ("running", False)])
def test_a_stopped_worker_is_terminal_and_an_absent_audit_is_omitted(
    status: str, terminal: bool
) -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=True))
    worker = ev(
        type="worker_update",
        worker_id="w",
        event="WorkerStopped",
        status=status,
        metadata={},
        audit=None,
    )
    [update] = updates(translator.translate(worker))
    assert update["_meta"]["harn"]["terminal"] is terminal
    assert "audit" not in update["_meta"]["harn"]


def test_harn_mode_message_chunks_carry_visible_text(acp: StrictAcp) -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=True))
    out = translator.translate(ev(type="agent_message_chunk", content="<think>hm</think>Done."))
    out += translator.translate(ev(type="agent_thought_chunk", content="Also."))
    assert_valid(acp, out)
    # a message chunk is a finished line (Harn's shape); a thought chunk stays plain
    assert [isinstance(entry, bytes) for entry in out] == [False, True, False]
    assert [u["content"] for u in updates(out)] == [
        {"type": "text", "text": "hm"},
        {
            "type": "text",
            "text": "Done.",
            "_meta": {"harn": {"visible_text": "Done.", "visible_delta": "Done."}},
        },
        {"type": "text", "text": "Also."},
    ]


def test_harn_mode_marks_what_a_replay_sends(acp: StrictAcp) -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=True), replaying=True)
    out = translator.translate(ev(type="agent_message_chunk", content="Hi."))
    out += translator.translate(ev(type="skill_activated", skill_name="s", iteration=1, reason="r"))
    out += translator.translate(ev(type="iteration_start", iteration=1))
    out += translator.user_prompt([{"type": "text", "text": "Go"}])
    assert_valid(acp, out, harn=True)
    messages = notes(out)
    assert [m["params"]["update"]["_meta"]["harn"]["replayed"] for m in messages[:2]] == [
        True,
        True,
    ]
    assert messages[0]["params"]["update"]["content"]["_meta"]["harn"]["visible_text"] == "Hi."
    assert messages[1]["params"]["update"]["_meta"]["harn"]["skillName"] == "s"
    assert messages[2]["params"]["replayed"] is True
    assert messages[3]["params"]["update"]["_meta"] == {"harn": {"replayed": True}}
    translator.go_live()
    [live] = notes(translator.translate(ev(type="iteration_start", iteration=2)))
    assert "replayed" not in live["params"]


def test_the_default_mode_never_marks_a_replay() -> None:
    translator = Translator(SESSION, replaying=True)
    out = translator.translate(ev(type="agent_message_chunk", content="Hi."))
    out += translator.translate(ev(type="iteration_start", iteration=1))
    assert not isinstance(out[0], bytes)  # still a plain chunk: it may merge
    assert "replayed" not in notes(out)[1]["params"]


@pytest.mark.parametrize("event_type", ["budget_exhausted", "loop_stuck"])
def test_budget_and_loop_stuck_end_the_turn_with_max_turn_requests(event_type: str) -> None:
    [pair] = [p for p in PAIRS if p["event"]["type"] == event_type]
    translator = Translator(SESSION)
    [message] = notes(translator.translate(ev(**pair["event"])))
    assert message["method"] == HARN_AGENT_EVENT_METHOD
    assert translator.stop_requested == "max_turn_requests"
    translator.end_turn("max_turn_requests")
    assert translator.stop_requested is None


def test_tool_call_gets_title_kind_locations_and_output_content(acp: StrictAcp) -> None:
    translator = Translator(SESSION, TranslatorOptions(cwd="/repo"))
    start = translator.translate(
        ev(
            type="tool_call",
            tool_call_id="t1",
            tool_name="read_file",
            raw_input={"path": "src/lib.rs", "line": 12},
        )
    )
    done = translator.translate(
        ev(
            type="tool_call_update",
            tool_call_id="t1",
            status="completed",
            raw_output={"text": "fn main() {}"},
        )
    )
    assert_valid(acp, start + done)
    [first], [second] = updates(start), updates(done)
    assert first["title"] == "Read src/lib.rs"
    assert first["kind"] == "read"
    assert first["status"] == "pending"
    assert first["name"] == "read_file"
    assert first["locations"] == [{"path": "/repo/src/lib.rs", "line": 12}]
    assert second["status"] == "completed"
    assert second["content"] == [
        {"type": "content", "content": {"type": "text", "text": "fn main() {}"}}
    ]
    assert second["rawOutput"] == {"text": "fn main() {}"}
    assert translator.open_tool_calls == []


def test_a_new_file_diff_a_terminal_and_a_diff_in_the_output(acp: StrictAcp) -> None:
    """``old_text: null`` is a new file; a terminal id shows the terminal; an edit-shaped
    output shows its diff (so the last update keeps showing what was written)."""
    translator = Translator(SESSION, TranslatorOptions(cwd="/repo"))
    edit = {"path": "notes.md", "old_text": None, "new_text": "hi\n"}
    out = translator.translate(
        ev(type="tool_call", tool_call_id="w", tool_name="write_file", raw_input=edit)
    )
    out += translator.translate(
        ev(type="tool_call_update", tool_call_id="w", status="completed", raw_output=edit)
    )
    out += translator.translate(
        ev(type="tool_call", tool_call_id="r", tool_name="run_command", raw_input={"command": "ls"})
    )
    out += translator.translate(
        ev(
            type="tool_call_update",
            tool_call_id="r",
            status="failed",
            raw_output={"terminal_id": "term-1", "exit_code": 2, "output": "boom"},
            error="exit status 2",
        )
    )
    assert_valid(acp, out)
    start, done, _, ran = updates(out)
    diff = {"type": "diff", "path": "/repo/notes.md", "oldText": None, "newText": "hi\n"}
    assert start["content"] == [diff]
    assert done["content"] == [diff]
    assert ran["content"] == [
        {"type": "terminal", "terminalId": "term-1"},
        {"type": "content", "content": {"type": "text", "text": "Error: exit status 2"}},
    ]
    # Without an old-text key the old content is unknown: no diff is made up.
    [plain] = updates(
        translator.translate(
            ev(
                type="tool_call",
                tool_call_id="x",
                tool_name="write_file",
                raw_input={"path": "a", "content": "b"},
            )
        )
    )
    assert "content" not in plain


@pytest.mark.parametrize(
    ("name", "raw_input", "kind", "title"),
    [
        (
            "run_command",
            {"command": "cargo test -p parser"},
            "execute",
            "Run `cargo test -p parser`",
        ),
        ("bash", {"argv": ["ls", "-la"]}, "execute", "Run `ls -la`"),
        ("grep", {"pattern": "TODO", "path": "src"}, "search", "Search “TODO” in src"),
        ("web_fetch", {"url": "https://example.org"}, "fetch", "Fetch https://example.org"),
        ("delete_file", {"path": "a.txt"}, "delete", "Delete a.txt"),
        ("rename", {"source": "a", "destination": "b"}, "move", "Move a → b"),
        ("write_file", {"path": "a.txt", "content": "x"}, "edit", "Edit a.txt"),
        ("linear_search", {}, "search", "Linear search"),
        ("frobnicate", None, "other", "Frobnicate"),
        (None, None, "other", "Tool call"),
    ],
)
def test_tool_titles_and_kinds(
    acp: StrictAcp, name: str | None, raw_input: Any, kind: str, title: str
) -> None:
    out = Translator(SESSION).translate(
        ev(type="tool_call", tool_call_id="t", tool_name=name, raw_input=raw_input)
    )
    assert_valid(acp, out)
    [update] = updates(out)
    assert (update["kind"], update["title"]) == (kind, title)


def test_invalid_declared_kind_and_status_are_repaired(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    out = translator.translate(
        ev(type="tool_call", tool_call_id="t", tool_name="x", kind="write", status="running")
    )
    assert_valid(acp, out)
    [update] = updates(out)
    assert (update["kind"], update["status"]) == ("edit", "in_progress")
    assert translator.repairs == 2


def test_edit_with_old_and_new_text_shows_a_diff(acp: StrictAcp) -> None:
    out = Translator(SESSION, TranslatorOptions(cwd="/r")).translate(
        ev(
            type="tool_call",
            tool_call_id="t",
            tool_name="edit_file",
            raw_input={"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"},
        )
    )
    assert_valid(acp, out)
    [update] = updates(out)
    assert update["content"] == [
        {"type": "diff", "path": "/r/a.py", "oldText": "x = 1", "newText": "x = 2"}
    ]


def test_update_for_an_unannounced_call_becomes_a_tool_call(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    out = translator.translate(
        ev(
            type="tool_call_update",
            tool_call_id="orphan",
            tool_name="run_tests",
            status="failed",
            error="boom",
        )
    )
    assert_valid(acp, out)
    [update] = updates(out)
    assert update["sessionUpdate"] == "tool_call"
    assert update["status"] == "failed"
    assert update["content"][-1]["content"]["text"] == "Error: boom"
    assert translator.open_tool_calls == []


def test_repeated_tool_call_becomes_an_update_with_what_changed(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    first = translator.translate(
        ev(type="tool_call", tool_call_id="c", tool_name="edit_file", raw_input={}, parsing=True)
    )
    second = translator.translate(
        ev(
            type="tool_call",
            tool_call_id="c",
            tool_name="edit_file",
            raw_input={"path": "src/a.rs"},
            parsing=False,
        )
    )
    assert_valid(acp, first + second)
    [update] = updates(second)
    assert update["sessionUpdate"] == "tool_call_update"
    assert "title" not in update  # a call keeps the title it was first shown with
    assert update["locations"] == [{"path": "src/a.rs"}]


def test_end_of_turn_closes_every_open_tool_call(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    out = translator.translate(ev(type="tool_call", tool_call_id="a", tool_name="read_file"))
    out += translator.translate(ev(type="tool_call", tool_call_id="b", tool_name="read_file"))
    out += translator.translate(ev(type="tool_call_update", tool_call_id="a", status="completed"))
    closing = translator.end_turn("cancelled")
    assert_valid(acp, out + closing)
    [update] = updates(closing)
    assert update["toolCallId"] == "b"
    assert update["status"] == "failed"
    assert update["_meta"]["acp_bridge"] == {"synthesized": True, "stopReason": "cancelled"}
    assert translator.end_turn("end_turn") == []


def test_harn_extra_fields_travel_in_meta_harn_in_every_mode(
    acp: StrictAcp,
) -> None:
    raw = {
        "type": "tool_call_update",
        "tool_call_id": "c",
        "status": "completed",
        "duration_ms": 14,
        "executor": {"kind": "harn_builtin"},
        "error_category": None,
    }
    default = Translator(SESSION)
    default.translate(ev(type="tool_call", tool_call_id="c"))
    [update] = updates(default.translate(ev(**raw)))
    assert update["_meta"] == {"harn": {"durationMs": 14, "executor": "harn_builtin"}}
    assert_valid(acp, default.translate(ev(**raw)))
    harn = Translator(SESSION, TranslatorOptions(harn_extensions=True))
    harn.translate(ev(type="tool_call", tool_call_id="c"))
    [update] = updates(harn.translate(ev(**raw)))
    assert update["_meta"] == {"harn": {"durationMs": 14, "executor": "harn_builtin"}}
    assert "durationMs" not in update


@pytest.mark.parametrize(
    ("executor", "sent"),
    [
        ({"kind": "harn_builtin"}, "harn_builtin"),
        ({"kind": "host_bridge"}, "host_bridge"),
        ({"kind": "provider_native"}, "provider_native"),
        ({"kind": "mcp_server", "server_name": "fs"}, {"kind": "mcp_server", "serverName": "fs"}),
    ],
)
def test_an_executor_goes_as_harn_sends_it(executor: dict[str, Any], sent: Any) -> None:
    translator = Translator(SESSION)
    translator.translate(ev(type="tool_call", tool_call_id="c"))
    update_event = ev(
        type="tool_call_update", tool_call_id="c", status="completed", executor=executor
    )
    [update] = updates(translator.translate(update_event))
    assert update["_meta"]["harn"]["executor"] == sent


def test_plan_entries_get_valid_priority_and_status(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    out = translator.translate(
        ev(
            type="plan",
            plan=[
                {"content": "a", "status": "done", "priority": None},
                {"content": "b", "status": "weird", "priority": "urgent"},
                {"content": "c"},
            ],
        )
    )
    assert_valid(acp, out)
    [update] = updates(out)
    assert [(e["priority"], e["status"]) for e in update["entries"]] == [
        ("medium", "completed"),
        ("high", "pending"),
        ("medium", "pending"),
    ]
    assert update["entries"][0]["_meta"] == {"harn": {"status": "done"}}
    assert translator.repairs == 1


def test_plan_artifact_travels_in_meta(acp: StrictAcp) -> None:
    [pair] = [
        p for p in PAIRS if p["event"]["type"] == "plan" and isinstance(p["event"]["plan"], dict)
    ]
    out = Translator(SESSION).translate(ev(**pair["event"]))
    assert_valid(acp, out)
    [update] = updates(out)
    assert update["_meta"]["harn"]["plan"] == pair["event"]["plan"]


def split_runs(messages: list[Outgoing]) -> list[tuple[str, str]]:
    return [(u["sessionUpdate"], u["content"]["text"]) for u in updates(messages)]


def test_think_tags_become_thought_chunks_even_split_across_chunks(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    out: list[Outgoing] = []
    for chunk in ["Hi <thi", "nk>pondering</th", "ink>Done. See HTTP"]:
        out += translator.translate(ev(type="agent_message_chunk", content=chunk))
    out += translator.end_turn("end_turn")
    assert_valid(acp, out)
    assert split_runs(out) == [
        ("agent_message_chunk", "Hi "),
        ("agent_thought_chunk", "pondering"),
        ("agent_message_chunk", "Done. See HTTP"),
    ]


def test_text_held_back_for_a_possible_tag_is_released_at_turn_end(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    out = translator.translate(ev(type="agent_message_chunk", content="a < b and x <"))
    assert split_runs(out) == [("agent_message_chunk", "a < b and x ")]
    closing = translator.end_turn("end_turn")
    assert split_runs(closing) == [("agent_message_chunk", "<")]
    assert_valid(acp, out + closing)


@pytest.mark.parametrize("kind", ["agent_message_chunk", "agent_thought_chunk"])
def test_an_empty_text_chunk_of_either_kind_sends_nothing(kind: str) -> None:
    translator = Translator(SESSION)
    assert translator.translate(ev(type=kind, content="")) == []
    assert translator.text_chunks(kind, "") == []
    assert translator.end_turn("end_turn") == []
    assert translator.repairs == 0


def test_an_empty_chunk_leaves_held_text_as_it_was() -> None:
    def runs(texts: list[str]) -> list[tuple[str, str]]:
        translator = Translator(SESSION)
        out: list[Outgoing] = []
        for text in texts:
            out += translator.text_chunks("agent_message_chunk", text)
            out += translator.text_chunks("agent_thought_chunk", "")
        return split_runs(out + translator.end_turn("end_turn"))

    with_empties = runs(["a <thi", "", "nk>b", "", "</think>c", ""])
    assert with_empties == runs(["a <thi", "nk>b", "</think>c"])
    assert all(text for _, text in with_empties)


def test_user_prompt_replays_each_block_as_a_user_chunk(acp: StrictAcp) -> None:
    blocks = [
        {"type": "text", "text": "fix it"},
        {"type": "resource_link", "uri": "file:///a.rs", "name": "a.rs"},
    ]
    out = Translator(SESSION).user_prompt(blocks)
    assert_valid(acp, out)
    assert [u["content"] for u in updates(out)] == blocks


def test_notifications_carry_the_translators_session_not_the_events(acp: StrictAcp) -> None:
    out = Translator("acp-session").translate(
        ev(type="agent_message_chunk", session_id="vm-internal", content="x")
    )
    assert_valid(acp, out)
    assert notes(out)[0]["params"]["sessionId"] == "acp-session"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(from_schema(SCHEMA, SCHEMA), max_size=6),
    st.sampled_from(["end_turn", "cancelled", "max_turn_requests"]),
)
def test_any_valid_event_sequence_translates_to_strictly_valid_acp(
    acp: StrictAcp, raws: list[dict[str, Any]], stop: Any
) -> None:
    translator = Translator(SESSION, TranslatorOptions(cwd="/w"))
    out: list[Outgoing] = []
    for raw in raws:
        out += translator.translate(ev(**raw))
    out += translator.end_turn(stop)
    assert_valid(acp, out)
    assert translator.open_tool_calls == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            from_schema(SCHEMA, SCHEMA),
            st.builds(
                lambda kind, text: {"type": kind, "content": text},
                st.sampled_from(["agent_message_chunk", "agent_thought_chunk"]),
                st.sampled_from(["", "a", "<think>", "x<th", "ink>y</think>z", "</think>"]),
            ),
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_plain_text_chunks_and_only_they_come_out_as_chunks(
    raws: list[dict[str, Any]], harn: bool
) -> None:
    """The translator says which notifications may merge; nothing re-inspects them."""
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=harn, cwd="/w"))
    out: list[Outgoing] = []
    for raw in raws:
        out += translator.translate(ev(**raw))
    out += translator.end_turn("end_turn")
    for entry, message in zip(out, notes(out), strict=True):
        assert mergeable(message) == (None if isinstance(entry, bytes) else entry)


def test_a_user_message_is_sent_unless_it_repeats_the_turns_prompt(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    prompt = [{"type": "text", "text": "Fix the tests."}]
    echo = ev(type="user_message", message_id="m1", content=prompt)
    injected = ev(type="user_message", message_id="m2", content=["Also run clippy."])
    translator.begin_turn(prompt)
    assert translator.translate(echo) == []  # the bridge recorded this prompt itself
    out = translator.translate(injected) + translator.translate(echo)  # only the first echo
    assert_valid(acp, out)
    assert updates(out) == [
        {
            "sessionUpdate": "user_message_chunk",
            "content": {"type": "text", "text": "Also run clippy."},
            "messageId": "m2",
        },
        {"sessionUpdate": "user_message_chunk", "content": prompt[0], "messageId": "m1"},
    ]


@pytest.mark.parametrize(
    ("outcome", "stop"),
    [
        ({"kind": "natural"}, None),
        ({"kind": "user_cancelled"}, "cancelled"),
        ({"kind": "policy_budget"}, "max_turn_requests"),
        ({"kind": "policy_guardrail"}, "refusal"),
        (None, None),
    ],
)
def test_a_terminal_phase_decides_the_stop_reason(outcome: Any, stop: str | None) -> None:
    translator = Translator(SESSION)
    phase = ev(type="turn_phase_changed", phase="terminal", reply="Done.", outcome=outcome)
    [message] = notes(translator.translate(phase))  # a loop milestone, in every mode
    assert message["method"] == HARN_AGENT_EVENT_METHOD
    assert message["params"]["kind"] == "turn_phase_changed"
    assert translator.stop_requested == stop


@pytest.mark.parametrize("harn", [False, True], ids=["default", "harn"])
def test_a_budget_circuit_breaker_ends_the_turn(harn: bool) -> None:
    translator = Translator(SESSION, TranslatorOptions(harn_extensions=harn))
    breaker = ev(type="budget_circuit_breaker", kind="cost", consecutive_count=3, paused_for_ms=5)
    [message] = notes(translator.translate(breaker))
    assert message == {
        "jsonrpc": "2.0",
        "method": "_harn/agentEvent",
        "params": {
            "breakerKind": "cost",
            "consecutiveCount": 3,
            "pausedForMs": 5,
            "sessionId": SESSION,
            "kind": "budget_circuit_breaker",
        },
    }
    assert translator.stop_requested == "max_turn_requests"
