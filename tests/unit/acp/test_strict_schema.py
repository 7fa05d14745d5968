"""The pinned official ACP schema, its closed variant, StrictAcp and the TranscriptChecker."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from support import acp_schema
from support.acp_schema import (
    FETCH_SCRIPT,
    OPEN_SUFFIX,
    StrictAcp,
    TranscriptChecker,
    load_lock,
    load_schema,
    schema_file,
)

SESSION = "sess-1"


def notification(update: dict[str, Any], session: str = SESSION) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "session/update",
        "params": {"sessionId": session, "update": update},
    }


def result(request_id: int | str | None, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def text(value: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def chunk(**extra: Any) -> dict[str, Any]:
    return {"sessionUpdate": "agent_message_chunk", "content": text(), **extra}


def tool_call(**extra: Any) -> dict[str, Any]:
    return {"sessionUpdate": "tool_call", "toolCallId": "call-1", "title": "Read a.py", **extra}


def plan_entry(**extra: Any) -> dict[str, Any]:
    return {"content": "Write tests", "priority": "high", "status": "pending", **extra}


def diff(**extra: Any) -> dict[str, Any]:
    return {"type": "diff", "path": "/w/a.py", "oldText": "a", "newText": "b", **extra}


@pytest.fixture(scope="module")
def fetch_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_schema_under_test", FETCH_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the pinned file


def test_pinned_schema_loads_and_matches_the_lock() -> None:
    lock = load_lock()
    assert lock["package"] == "@agentclientprotocol/sdk"
    assert lock["version"] == "2.4.0"
    assert lock["tarball_integrity"].startswith("sha512-")
    path = schema_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == lock["schema_sha256"]
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    tagged = {d["x-method"] for d in schema["$defs"].values() if "x-method" in d}
    assert {"session/update", "session/prompt", "initialize", "$/cancel_request"} <= tagged


def test_fetch_script_reuses_a_verified_cache_without_npm(
    fetch_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copyfile(schema_file(), tmp_path / "schema.json")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert fetch_module.ensure_schema(tmp_path) == tmp_path / "schema.json"


def test_fetch_script_reports_a_bad_cache_and_missing_npm_in_one_line(
    fetch_module: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "schema.json").write_text("{}")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(fetch_module.SchemaFetchError, match="npm is not on PATH"):
        fetch_module.ensure_schema(tmp_path)
    assert fetch_module.main(["--dest", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("fetch_schema: npm is not on PATH")
    assert (tmp_path / "schema.json").read_text() == "{}"


def test_fetch_script_cli_prints_the_schema_path(
    fetch_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copyfile(schema_file(), tmp_path / "schema.json")
    assert fetch_module.main(["--dest", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'schema.json'}\n"


def test_fetch_script_checks_npm_integrity(fetch_module: ModuleType) -> None:
    data = b"tarball bytes"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    fetch_module.check_integrity(data, good)
    with pytest.raises(fetch_module.SchemaFetchError, match="integrity mismatch"):
        fetch_module.check_integrity(data + b"!", good)
    with pytest.raises(fetch_module.SchemaFetchError, match="unsupported integrity"):
        fetch_module.check_integrity(data, "md5-abc")


def test_an_unavailable_schema_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> Path:
        raise RuntimeError("npm is not on PATH")

    schema_file.cache_clear()
    monkeypatch.setattr(acp_schema, "_fetch_module", lambda: SimpleNamespace(ensure_schema=fail))
    try:
        with pytest.raises(
            RuntimeError, match="ACP JSON Schema is unavailable: npm is not on PATH"
        ):
            schema_file()
    finally:
        schema_file.cache_clear()


# --------------------------------------------------------------------------- the closed schema


def test_closed_schema_is_a_valid_draft_2020_12_schema(acp: StrictAcp) -> None:
    Draft202012Validator.check_schema(acp.closed)


def test_union_wrappers_use_open_twins_and_direct_references_stay_closed(acp: StrictAcp) -> None:
    defs = acp.closed["$defs"]
    wrapper = next(
        branch
        for branch in defs["SessionUpdate"]["oneOf"]
        if branch["properties"]["sessionUpdate"]["const"] == "tool_call"
    )
    assert wrapper["allOf"] == [{"$ref": "#/$defs/ToolCall" + OPEN_SUFFIX}]
    assert wrapper["unevaluatedProperties"] is False
    assert defs["ToolCall"]["unevaluatedProperties"] is False
    assert "unevaluatedProperties" not in defs["ToolCall" + OPEN_SUFFIX]
    tool_call_ref = defs["RequestPermissionRequest"]["properties"]["toolCall"]
    assert tool_call_ref["allOf"] == [{"$ref": "#/$defs/ToolCallUpdate"}]
    meta = defs["ToolCall"]["properties"]["_meta"]
    assert meta["additionalProperties"] is True
    assert "unevaluatedProperties" not in meta


def test_the_official_schema_alone_lets_unknown_keys_through(acp: StrictAcp) -> None:
    plain = Draft202012Validator(
        {"$ref": "#/$defs/SessionNotification", "$defs": acp.official["$defs"]}
    )
    instance = {"sessionId": SESSION, "update": chunk(bogus=1)}
    assert list(plain.iter_errors(instance)) == []
    assert acp.session_update(chunk(bogus=1)) != []


# --------------------------------------------------------------------------- valid messages

VALID_UPDATES = [
    pytest.param(chunk(), id="agent_message_chunk"),
    pytest.param(
        {"sessionUpdate": "agent_thought_chunk", "content": text("hmm"), "messageId": "m1"},
        id="agent_thought_chunk",
    ),
    pytest.param(
        tool_call(
            kind="read",
            status="in_progress",
            locations=[{"path": "/w/a.py", "line": 3}, {"path": "/w/b.py"}],
            content=[{"type": "content", "content": text("reading")}],
            rawInput={"path": "/w/a.py"},
        ),
        id="tool_call",
    ),
    pytest.param(
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "call-1",
            "status": "completed",
            "content": [diff(), diff(oldText=None), {"type": "terminal", "terminalId": "t1"}],
        },
        id="tool_call_update_diff",
    ),
    pytest.param(
        {
            "sessionUpdate": "plan",
            "entries": [plan_entry(), plan_entry(priority="low", status="completed")],
        },
        id="plan",
    ),
    pytest.param({"sessionUpdate": "plan", "entries": []}, id="empty_plan"),
    pytest.param(
        {"sessionUpdate": "current_mode_update", "currentModeId": "code"}, id="current_mode"
    ),
    pytest.param(
        {
            "sessionUpdate": "available_commands_update",
            "availableCommands": [{"name": "test", "description": "Run", "input": {"hint": "x"}}],
        },
        id="available_commands",
    ),
    pytest.param({"sessionUpdate": "usage_update", "used": 10, "size": 100}, id="usage"),
    pytest.param(
        {
            "sessionUpdate": "agent_message_chunk",
            "content": {
                "type": "resource",
                "resource": {"uri": "file:///w/a.py", "text": "x", "mimeType": "text/x-python"},
            },
        },
        id="embedded_resource",
    ),
]


@pytest.mark.parametrize("update", VALID_UPDATES)
def test_valid_updates_pass(acp: StrictAcp, update: dict[str, Any]) -> None:
    assert acp.session_update(update) == []
    assert acp.agent_outbound(notification(update)) == []


@pytest.mark.parametrize(
    ("method", "value"),
    [
        pytest.param(
            "initialize",
            {
                "protocolVersion": 1,
                "agentCapabilities": {
                    "loadSession": True,
                    "promptCapabilities": {"image": False, "embeddedContext": True},
                    "sessionCapabilities": {"resume": {}},
                },
                "authMethods": [],
                "agentInfo": {"name": "acp-bridge", "version": "0.1.0"},
            },
            id="initialize",
        ),
        pytest.param("session/prompt", {"stopReason": "end_turn"}, id="prompt_end_turn"),
        pytest.param("session/prompt", {"stopReason": "cancelled"}, id="prompt_cancelled"),
        pytest.param("session/new", {"sessionId": SESSION}, id="new"),
        pytest.param("session/load", {}, id="load"),
        pytest.param("_harn/status", [1, "anything"], id="extension_result"),
    ],
)
def test_valid_agent_responses_pass(acp: StrictAcp, method: str, value: Any) -> None:
    assert acp.agent_response(method, result(0, value)) == []


def test_meta_stays_open_at_every_level(acp: StrictAcp) -> None:
    meta = {"anything": {"nested": [1, None, {"deep": True}]}, "traceparent": "00-ab"}
    update = tool_call(
        _meta=meta,
        content=[
            {"type": "content", "content": text(_meta=meta), "_meta": meta},
            diff(_meta=meta),
        ],
        locations=[{"path": "/w/a.py", "_meta": meta}],
    )
    assert acp.session_update(update) == []
    message = notification(update)
    message["params"]["_meta"] = meta
    assert acp.agent_outbound(message) == []
    assert (
        acp.agent_response("session/prompt", result(7, {"stopReason": "end_turn", "_meta": meta}))
        == []
    )


@pytest.mark.parametrize("params", [{"kind": "vm_status", "data": {"x": [1]}}, {}, None])
def test_extension_notifications_with_object_params_pass(
    acp: StrictAcp, params: dict[str, Any] | None
) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": "_harn/session_update"}
    if params is not None:
        message["params"] = params
    assert acp.agent_outbound(message) == []


def test_client_side_requests_pass(acp: StrictAcp) -> None:
    permission = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "session/request_permission",
        "params": {
            "sessionId": SESSION,
            "toolCall": {"toolCallId": "call-1", "title": "Edit a.py", "kind": "edit"},
            "options": [
                {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
                {"optionId": "no", "name": "Reject", "kind": "reject_once"},
            ],
        },
    }
    assert acp.agent_outbound(permission) == []
    read = {
        "jsonrpc": "2.0",
        "id": "r1",
        "method": "fs/read_text_file",
        "params": {"sessionId": SESSION, "path": "/w/a.py", "line": 1, "limit": 10},
    }
    assert acp.agent_outbound(read) == []
    cancelled = result(0, {"outcome": {"outcome": "cancelled"}})
    assert acp.client_response("session/request_permission", cancelled) == []
    assert acp.client_response("fs/read_text_file", result("r1", {"content": "x"})) == []


def test_client_messages_pass(acp: StrictAcp) -> None:
    prompt = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "session/prompt",
        "params": {"sessionId": SESSION, "prompt": [text()]},
    }
    assert acp.client_outbound(prompt) == []
    cancel = {"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": SESSION}}
    assert acp.client_outbound(cancel) == []
    cancel_request = {"jsonrpc": "2.0", "method": "$/cancel_request", "params": {"requestId": 0}}
    assert acp.client_outbound(cancel_request) == []
    assert acp.agent_outbound(cancel_request) == []


# --------------------------------------------------------------------------- rejections

INVALID_UPDATES = [
    pytest.param(chunk(extra=1), "$.update", "'extra'", id="unknown_key_update_level"),
    pytest.param(
        chunk(content=text(extra=1)), "$.update.content", "'extra'", id="unknown_key_in_text"
    ),
    pytest.param(
        {"sessionUpdate": "plan", "entries": [plan_entry(extra=1)]},
        "$.update.entries[0]",
        "'extra'",
        id="unknown_key_in_plan_entry",
    ),
    pytest.param(
        tool_call(locations=[{"path": "/w/a.py", "extra": 1}]),
        "$.update.locations[0]",
        "'extra'",
        id="unknown_key_in_location",
    ),
    pytest.param(
        {"sessionUpdate": "tool_call_update", "toolCallId": "c", "content": [diff(extra=1)]},
        "$.update.content[0]",
        "'extra'",
        id="unknown_key_in_diff",
    ),
    pytest.param(
        tool_call(content=[{"type": "content", "content": text(), "extra": 1}]),
        "$.update.content[0]",
        "'extra'",
        id="unknown_key_in_tool_call_content",
    ),
    pytest.param(
        tool_call(content=[{"type": "content", "content": text(extra=1)}]),
        "$.update.content[0].content",
        "'extra'",
        id="unknown_key_in_nested_content_block",
    ),
    pytest.param(
        chunk(content=text(annotations={"audience": ["user"], "extra": 1})),
        "$.update.content.annotations",
        "'extra'",
        id="unknown_key_in_annotations",
    ),
    pytest.param(tool_call(kind="bogus"), "$.update.kind", "'bogus'", id="bad_kind"),
    pytest.param(tool_call(status="done"), "$.update.status", "'done'", id="bad_status"),
    pytest.param(
        {"sessionUpdate": "tool_call_update", "toolCallId": "c", "status": "done"},
        "$.update.status",
        "'done'",
        id="bad_status_in_update",
    ),
    pytest.param(
        {"sessionUpdate": "plan", "entries": [plan_entry(priority="urgent")]},
        "$.update.entries[0].priority",
        "'urgent'",
        id="bad_plan_priority",
    ),
    pytest.param(
        {"sessionUpdate": "plan", "entries": [{"content": "x", "status": "pending"}]},
        "$.update.entries[0]",
        "'priority' is a required property",
        id="missing_plan_priority",
    ),
    pytest.param(
        {"sessionUpdate": "tool_call", "toolCallId": "call-1"},
        "$.update",
        "'title' is a required property",
        id="tool_call_without_title",
    ),
    pytest.param(
        {"sessionUpdate": "current_mode_update", "modeId": "code"},
        "$.update",
        "'currentModeId' is a required property",
        id="current_mode_update_with_modeId",
    ),
    pytest.param(
        {"sessionUpdate": "bogus_update"},
        "$.update.sessionUpdate",
        "'bogus_update'",
        id="unknown_update_tag",
    ),
    pytest.param(
        chunk(content={"type": "txt", "text": "x"}),
        "$.update.content.type",
        "'txt'",
        id="unknown_content_type",
    ),
    pytest.param(
        {"sessionUpdate": "tool_call_update", "toolCallId": "c", "content": [text()]},
        "$.update.content[0].type",
        "'text'",
        id="unwrapped_tool_call_content",
    ),
    pytest.param(
        {"sessionUpdate": "usage_update", "used": 1},
        "$.update",
        "'size' is a required property",
        id="usage_without_size",
    ),
    pytest.param(
        {"sessionUpdate": "available_commands_update", "availableCommands": [{"name": "x"}]},
        "$.update.availableCommands[0]",
        "'description' is a required property",
        id="command_without_description",
    ),
    pytest.param(
        tool_call(locations=[{"path": "/w/a.py", "line": -1}]),
        "$.update.locations[0].line",
        "minimum",
        id="negative_line",
    ),
]


@pytest.mark.parametrize(("update", "path", "needle"), INVALID_UPDATES)
def test_invalid_updates_are_rejected_with_their_path(
    acp: StrictAcp, update: dict[str, Any], path: str, needle: str
) -> None:
    problems = acp.session_update(update)
    assert any(p.startswith(f"{path}: ") and needle in p for p in problems), problems
    outbound = acp.agent_outbound(notification(update))
    assert any(p.startswith(f"$.params{path[1:]}: ") for p in outbound), outbound


def test_a_bad_field_is_reported_once_without_follow_on_noise(acp: StrictAcp) -> None:
    problems = acp.session_update(tool_call(kind="bogus", extra=1))
    assert len(problems) == 2, problems
    assert problems[0].startswith("$.update: Unevaluated properties are not allowed ('extra' was")
    assert problems[1].startswith("$.update.kind: 'bogus' is not one of ['read', 'edit'")


@pytest.mark.parametrize(
    ("method", "value", "needle"),
    [
        pytest.param("session/prompt", {"stopReason": "done"}, "$.result.stopReason", id="done"),
        pytest.param("session/prompt", {}, "'stopReason' is a required", id="no_stop_reason"),
        pytest.param("session/new", {"sessionId": 1}, "$.result.sessionId", id="int_session"),
        pytest.param("session/load", None, "$.result: None is not of type", id="null_load"),
        pytest.param("initialize", {"protocolVersion": 70000}, "maximum", id="big_version"),
        pytest.param(
            "initialize",
            {"protocolVersion": 1, "agentCapabilities": {"loadSession": True, "streaming": True}},
            "$.result.agentCapabilities: Unevaluated properties",
            id="unknown_capability",
        ),
        pytest.param("session/update", {}, "not a request the agent answers", id="not_request"),
        pytest.param("fs/read_text_file", {}, "not a request the agent answers", id="wrong_side"),
    ],
)
def test_invalid_agent_results_are_rejected(
    acp: StrictAcp, method: str, value: Any, needle: str
) -> None:
    problems = acp.agent_response(method, result(3, value))
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        pytest.param({"method": "session/update"}, 'missing "jsonrpc"', id="no_jsonrpc"),
        pytest.param(
            {**notification(chunk()), "jsonrpc": "1.0"}, '$.jsonrpc: must be "2.0"', id="jsonrpc_1"
        ),
        pytest.param([notification(chunk())], "must be an object", id="batch"),
        pytest.param({"jsonrpc": "2.0", "id": 1}, "neither a request", id="nothing"),
        pytest.param(
            {**notification(chunk()), "extra": 1}, "unexpected member(s) ['extra']", id="extra"
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "m"}},
            "both result and error",
            id="result_and_error",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 1, "error": {"code": "E1", "message": "m"}},
            "$.error.code",
            id="string_error_code",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "m", "why": 1}},
            "$.error: Unevaluated properties",
            id="unknown_error_key",
        ),
        pytest.param({"jsonrpc": "2.0", "id": None, "result": {}}, "null is only", id="null_id"),
        pytest.param({"jsonrpc": "2.0", "result": {}}, "needs an id", id="no_id"),
        pytest.param(
            {"jsonrpc": "2.0", "id": 1.5, "method": "fs/read_text_file", "params": {}},
            "$.id: a request id must be an integer or a string",
            id="float_id",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": "s"}},
            "sent by the client, not by the agent",
            id="client_method",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": "session/new_thing", "params": {}},
            "extension methods start with '_'",
            id="unknown_method",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": "session/request_permission", "params": {}},
            "is a request, so it needs an id",
            id="request_as_notification",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": "_harn/session_update", "params": [1, 2]},
            "$.params: must be an object",
            id="extension_array_params",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": "session/update"}, "'sessionId' is a required", id="bare"
        ),
        pytest.param(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "session/request_permission",
                "params": {
                    "sessionId": SESSION,
                    "toolCall": {"sessionUpdate": "tool_call", "toolCallId": "c"},
                    "options": [],
                },
            },
            "$.params.toolCall: Unevaluated properties are not allowed ('sessionUpdate'",
            id="tagged_tool_call_in_permission",
        ),
    ],
)
def test_invalid_agent_messages_are_rejected(acp: StrictAcp, message: Any, needle: str) -> None:
    problems = acp.agent_outbound(message)
    assert any(needle in p for p in problems), problems


def test_error_response_with_null_id_is_allowed(acp: StrictAcp) -> None:
    message = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    assert acp.client_outbound(message) == []
    assert acp.agent_outbound(message) == []


def test_client_requests_are_checked_from_the_client_side(acp: StrictAcp) -> None:
    new = {"jsonrpc": "2.0", "id": 1, "method": "session/new", "params": {"cwd": "/w"}}
    assert any("'mcpServers' is a required" in p for p in acp.client_outbound(new))
    update = notification(chunk())
    assert any("sent by the agent" in p for p in acp.client_outbound(update))
    wrong = result(0, {"outcome": {"outcome": "cancelled", "optionId": "yes"}})
    problems = acp.client_response("session/request_permission", wrong)
    assert any(p.startswith("$.result.outcome: Unevaluated") for p in problems), problems


# --------------------------------------------------------------------------- transcripts


def run(*lines: tuple[str, Any]) -> list[str]:
    checker = TranscriptChecker()
    for sender, message in lines:
        raw = message if isinstance(message, str | bytes) else json.dumps(message) + "\n"
        if sender == "client":
            checker.feed_from_client(raw)
        else:
            checker.feed_from_agent(raw)
    return checker.finish()


def request(request_id: int | str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


INITIALIZE = request(0, "initialize", {"protocolVersion": 1, "clientCapabilities": {}})
INITIALIZED = result(0, {"protocolVersion": 1, "agentCapabilities": {"loadSession": True}})
NEW = request(1, "session/new", {"cwd": "/w", "mcpServers": []})
CREATED = result(1, {"sessionId": SESSION})
PROMPT = request(2, "session/prompt", {"sessionId": SESSION, "prompt": [text()]})
DONE = result(2, {"stopReason": "end_turn"})
COMMANDS = notification({"sessionUpdate": "available_commands_update", "availableCommands": []})


def test_clean_transcript_passes_including_request_id_zero() -> None:
    permission = request(
        0,
        "session/request_permission",
        {
            "sessionId": SESSION,
            "toolCall": {"toolCallId": "call-1"},
            "options": [{"optionId": "yes", "name": "Allow", "kind": "allow_once"}],
        },
    )
    assert (
        run(
            ("client", INITIALIZE),
            ("agent", INITIALIZED),
            ("client", NEW),
            ("agent", CREATED),
            ("agent", COMMANDS),
            ("client", PROMPT),
            ("agent", notification(chunk())),
            ("agent", notification(tool_call(kind="read"))),
            ("agent", permission),
            ("client", result(0, {"outcome": {"outcome": "selected", "optionId": "yes"}})),
            ("agent", notification({"sessionUpdate": "plan", "entries": [plan_entry()]})),
            ("agent", notification(chunk())),
            ("agent", DONE),
            ("client", {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "x"}}),
        )
        == []
    )


def test_update_before_the_session_new_response_is_flagged() -> None:
    problems = run(
        ("client", INITIALIZE),
        ("agent", INITIALIZED),
        ("client", NEW),
        ("agent", COMMANDS),
        ("agent", CREATED),
    )
    assert len(problems) == 1, problems
    assert "line 4 (agent->client): session/update for session 'sess-1' before" in problems[0]


def test_turn_update_without_a_prompt_in_flight_is_flagged() -> None:
    problems = run(
        ("client", NEW),
        ("agent", CREATED),
        ("agent", COMMANDS),
        ("agent", notification(chunk())),
        ("client", PROMPT),
        ("agent", DONE),
        ("agent", notification(tool_call())),
    )
    assert problems == [
        "line 4 (agent->client): agent_message_chunk update for session 'sess-1' while no "
        "session/prompt is in flight",
        "line 7 (agent->client): tool_call update for session 'sess-1' while no "
        "session/prompt is in flight",
    ]


def test_load_replay_is_expected_before_the_load_response() -> None:
    load = request("L", "session/load", {"sessionId": "old", "cwd": "/w", "mcpServers": []})
    replay = [
        notification({"sessionUpdate": "user_message_chunk", "content": text()}, "old"),
        notification(chunk(), "old"),
        notification(tool_call(status="completed"), "old"),
    ]
    problems = run(
        ("client", load),
        *(("agent", message) for message in replay),
        ("agent", result("L", {})),
        ("agent", notification({"sessionUpdate": "session_info_update", "title": "t"}, "old")),
        ("agent", notification(chunk(), "old")),
    )
    assert len(problems) == 1, problems
    assert problems[0].startswith("line 7 (agent->client): agent_message_chunk update")


def test_resume_introduces_the_session_only_once_answered() -> None:
    resume = request(5, "session/resume", {"sessionId": "r", "cwd": "/w"})
    problems = run(
        ("client", resume),
        (
            "agent",
            notification({"sessionUpdate": "current_mode_update", "currentModeId": "a"}, "r"),
        ),
        ("agent", result(5, {})),
        (
            "agent",
            notification({"sessionUpdate": "current_mode_update", "currentModeId": "a"}, "r"),
        ),
    )
    assert len(problems) == 1, problems
    assert problems[0].startswith("line 2 (agent->client): session/update for session 'r' before")


def test_duplicate_and_unknown_responses_are_flagged() -> None:
    problems = run(
        ("client", INITIALIZE),
        ("agent", INITIALIZED),
        ("agent", INITIALIZED),
        ("agent", result("0", {"protocolVersion": 1})),
        ("agent", result(99, {})),
    )
    assert problems == [
        "line 3 (agent->client): duplicate response to request id 0 (initialize), "
        "which was already answered",
        'line 4 (agent->client): response to unknown request id "0"',
        "line 5 (agent->client): response to unknown request id 99",
    ]


def test_transport_and_envelope_problems_are_flagged() -> None:
    problems = run(
        ("agent", "Starting agent...\n"),
        ("agent", b"\xff\xfe\n"),
        ("agent", {"method": "session/update", "params": {}}),
        ("client", INITIALIZE),
        ("agent", {"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": 1}, "error": {}}),
        ("client", {"jsonrpc": "2.0", "id": None, "result": {}}),
    )
    assert problems[0] == "line 1 (agent->client): not JSON: 'Starting agent...'"
    assert problems[1].startswith("line 2 (agent->client): not UTF-8")
    assert any(p.startswith('line 3 (agent->client): $: missing "jsonrpc"') for p in problems)
    assert any("line 5" in p and "both result and error" in p for p in problems)
    assert any(p.startswith("line 6 (client->agent): $.id: null is only allowed") for p in problems)


def test_schema_errors_carry_the_method_of_the_answered_request() -> None:
    problems = run(
        ("client", NEW),
        ("agent", CREATED),
        ("client", PROMPT),
        ("agent", notification(chunk(content=text(extra=1)))),
        ("agent", result(2, {"stopReason": "done"})),
    )
    assert problems[0].startswith(
        "line 4 (agent->client): $.params.update.content: Unevaluated properties"
    )
    assert problems[1].startswith("line 5 (agent->client): $.result.stopReason: 'done'")
    assert len(problems) == 2, problems


def test_unanswered_requests_are_flagged_at_the_end() -> None:
    problems = run(("client", NEW), ("agent", CREATED), ("client", PROMPT))
    assert problems == [
        "end of transcript: the agent never answered session/prompt request id 2 "
        "(line 3 (client->agent))"
    ]


def test_request_ids_may_be_strings_and_reused_after_an_answer() -> None:
    assert (
        run(
            ("client", request("a", "session/new", {"cwd": "/w", "mcpServers": []})),
            ("agent", result("a", {"sessionId": SESSION})),
            ("client", request("a", "session/prompt", {"sessionId": SESSION, "prompt": []})),
            ("agent", notification(chunk())),
            ("agent", result("a", {"stopReason": "end_turn"})),
        )
        == []
    )
