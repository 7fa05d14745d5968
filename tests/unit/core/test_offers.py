"""What a VM offers the editor, as events: each one's translation, strict shape and state.

Commands, mode, options, session info and usage are session-level: taken whatever the
turn, sent once the session's answer is out, kept (the latest of each) for what follows
a later answer; a replay sends none of them. Notices and the VM's own terminals go by the
client's capabilities.
"""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest
from support.acp_schema import StrictAcp
from support.manifests import MODEL, MODES
from support.wire import notes

from acp_bridge.acp.coalesce import Outgoing
from acp_bridge.core import ingest
from acp_bridge.core.choices import Choices
from acp_bridge.core.replay import Replayer
from acp_bridge.core.translate import Translator, TranslatorOptions
from acp_bridge.eventlog.records import CHOICES_RECORD, session_record
from acp_bridge.vm.events import AgentEvent, InvalidEvent, UnknownEvent, decode_event
from acp_bridge.vm.manifest import Manifest

SESSION = "7f3c2a9e-1b4d-4c8e-9a55-0d2e6b1f8c33"
MANIFEST = Manifest.model_validate({"modes": MODES, "configOptions": [MODEL]})
COMMANDS = [{"name": "review", "description": "Review", "input": {"hint": "focus"}}]


def ev(**fields: Any) -> AgentEvent:
    fields.setdefault("session_id", SESSION)
    event = decode_event(fields)
    assert not isinstance(event, UnknownEvent | InvalidEvent), event
    return event


def opened(**options: Any) -> Translator:
    translator = Translator(SESSION, TranslatorOptions(**options))
    translator.offers.choices = Choices(MANIFEST)
    assert translator.open_session() == []
    return translator


def updates(acp: StrictAcp, messages: list[Outgoing]) -> list[dict[str, Any]]:
    out = []
    for message in notes(messages):
        assert not acp.agent_outbound(dict(message)), message
        out.append(cast("dict[str, Any]", message["params"]["update"]))
    return out


def test_commands_become_available_commands_update(acp: StrictAcp) -> None:
    translator = opened()
    sent = updates(acp, translator.translate(ev(type="available_commands", commands=COMMANDS)))
    assert sent == [{"sessionUpdate": "available_commands_update", "availableCommands": COMMANDS}]
    assert translator.offers.commands == COMMANDS


@pytest.mark.parametrize(
    "event",
    [
        {"type": "available_commands", "commands": [{"name": "x"}]},
        {"type": "available_commands", "commands": [{"name": "", "description": "d"}]},
        {"type": "available_commands", "commands": [{"name": "x", "description": "d", "y": 1}]},
        {"type": "usage", "used": -1, "size": 10},
        {"type": "usage", "used": "1", "size": 10},
        {"type": "usage", "used": 1, "size": 10, "cost": {"amount": 1}},
        {"type": "notice", "severity": "fatal", "title": "x"},
        {"type": "notice", "severity": "info", "title": ""},
        {"type": "mode_changed", "mode_id": ""},
        {"type": "terminal_output", "tool_call_id": "c"},
    ],
)
def test_shapes_acp_would_refuse_are_invalid_events(event: dict[str, Any]) -> None:
    assert isinstance(decode_event({"session_id": SESSION, **event}), InvalidEvent)


def test_mode_changed_moves_the_mode_and_sends_both_views(acp: StrictAcp) -> None:
    translator = opened()
    sent = updates(acp, translator.translate(ev(type="mode_changed", mode_id="code")))
    assert sent[0] == {"sessionUpdate": "current_mode_update", "currentModeId": "code"}
    assert sent[1]["sessionUpdate"] == "config_option_update"
    mode = next(o for o in sent[1]["configOptions"] if o["id"] == "mode")
    assert mode["currentValue"] == "code"
    choices = translator.offers.choices
    assert choices is not None
    assert choices.current_mode() == "code"
    assert choices.for_vm()["modeId"] == "code"


def test_a_mode_not_declared_is_refused_and_counted() -> None:
    translator = opened()
    raw = orjson.dumps({"type": "mode_changed", "session_id": SESSION, "mode_id": "nope"})
    result = ingest.line(translator, False, raw)
    assert result.counter == "vm_invalid_events"
    assert result.problem is not None
    assert "nope" in result.problem
    assert result.record is not None  # persisted all the same
    assert translator.problem is None
    choices = translator.offers.choices
    assert choices is not None
    assert choices.current_mode() == "ask"


def test_the_vms_option_list_replaces_the_declared_one(acp: StrictAcp) -> None:
    translator = opened(boolean_options=True)
    options = [
        {
            "type": "select",
            "id": "effort",
            "name": "Effort",
            "category": "thought_level",
            "currentValue": "high",
            "options": [{"value": "low", "name": "Low"}, {"value": "high", "name": "High"}],
        },
        {"type": "boolean", "id": "web", "name": "Web", "currentValue": True},
    ]
    sent = updates(acp, translator.translate(ev(type="config_options", config_options=options)))
    [update] = sent
    ids = [o["id"] for o in update["configOptions"]]
    assert ids == ["effort", "web", "mode"]  # the mode stays an option
    choices = translator.offers.choices
    assert choices is not None
    change = choices.set_option(SESSION, "effort", "low")  # later choices use the VM's list
    assert change.choices.options()[0]["currentValue"] == "low"
    with pytest.raises(Exception, match="no option 'model'"):
        choices.set_option(SESSION, "model", "m2")


@pytest.mark.parametrize(
    "options",
    [
        [{"type": "select", "id": "a", "name": "A", "currentValue": "z", "options": []}],
        [
            {
                "type": "select",
                "id": "a",
                "name": "A",
                "currentValue": "z",
                "options": [{"value": "y", "name": "Y"}],
            }
        ],
        [{"type": "boolean", "id": "a", "name": "A", "currentValue": "yes"}],
        [{"type": "boolean", "id": "a", "name": "A", "currentValue": True, "extra": 1}],
        [{"type": "boolean", "id": "a", "name": "A", "currentValue": True}] * 2,
        ["not an object"],
    ],
)
def test_an_option_list_of_the_wrong_shape_is_refused(options: list[Any]) -> None:
    translator = opened()
    before = translator.offers.choices
    raw = orjson.dumps({"type": "config_options", "session_id": SESSION, "config_options": options})
    result = ingest.line(translator, True, raw)
    assert result.counter in ("vm_invalid_events",)
    assert result.outgoing == []
    assert translator.offers.choices is before


def test_session_info_and_usage(acp: StrictAcp) -> None:
    translator = opened()
    info = ev(type="session_info", title="Fix the parser", updated_at="2026-12-01T10:00:00Z")
    usage = ev(type="usage", used=1200, size=200000, cost={"amount": 0.25, "currency": "USD"})
    sent = updates(acp, translator.translate(info) + translator.translate(usage))
    assert sent == [
        {
            "sessionUpdate": "session_info_update",
            "title": "Fix the parser",
            "updatedAt": "2026-12-01T10:00:00Z",
        },
        {
            "sessionUpdate": "usage_update",
            "used": 1200,
            "size": 200000,
            "cost": {"amount": 0.25, "currency": "USD"},
        },
    ]
    assert translator.offers.title == "Fix the parser"


def test_notice_goes_as_a_notice_only_to_clients_that_take_notices(acp: StrictAcp) -> None:
    notice = ev(type="notice", severity="warning", title="Low disk", description="1 GB left")
    [plain] = updates(acp, opened().translate(notice))
    assert plain["sessionUpdate"] == "agent_message_chunk"
    assert plain["content"]["text"] == "Warning: Low disk\n\n1 GB left"
    assert plain["_meta"]["acp_bridge"] == {"notice": True, "severity": "warning"}
    [real] = updates(acp, opened(notices=True).translate(notice))
    assert real == {
        "sessionUpdate": "notice",
        "severity": "warning",
        "title": "Low disk",
        "description": "1 GB left",
    }


def test_session_level_events_before_the_answer_are_kept_not_sent() -> None:
    translator = Translator(SESSION, TranslatorOptions(notices=True))
    translator.offers.choices = Choices(MANIFEST)
    lines: list[dict[str, Any]] = [
        {"type": "available_commands", "commands": COMMANDS},
        {"type": "usage", "used": 1, "size": 2},
        {"type": "notice", "severity": "info", "title": "Hello"},
        {"type": "agent_message_chunk", "content": "not in a turn"},
    ]
    batch = ingest.batch(
        translator, False, [orjson.dumps({"session_id": SESSION, **x}) for x in lines]
    )
    assert batch.outgoing == []
    assert len(batch.records) == 4
    assert batch.counts == {"vm_events_outside_turn": 1}  # only the conversation's chunk
    [held] = translator.open_session()
    assert orjson.loads(held)["params"]["update"]["sessionUpdate"] == "notice"
    state = translator.offers.state([], None, reopened=False)
    assert [u["sessionUpdate"] for u in state] == ["available_commands_update", "usage_update"]
    after = ingest.batch(translator, False, [orjson.dumps({"session_id": SESSION, **lines[1]})])
    assert len(after.outgoing) == 1  # once the answer is out, between turns too


def test_state_after_a_reopen_has_commands_options_mode_title_and_usage(acp: StrictAcp) -> None:
    translator = opened()
    for event in (
        ev(type="available_commands", commands=COMMANDS),
        ev(type="mode_changed", mode_id="code"),
        ev(type="session_info", title="T"),
        ev(type="usage", used=5, size=10),
    ):
        translator.translate(event)
    state = translator.offers.state([], "first prompt", reopened=True)
    assert [u["sessionUpdate"] for u in state] == [
        "available_commands_update",
        "config_option_update",
        "current_mode_update",
        "session_info_update",
        "usage_update",
    ]
    assert state[2]["currentModeId"] == "code"
    assert state[3]["title"] == "T"  # the VM's title wins over the first prompt's
    for update in state:
        message = {"jsonrpc": "2.0", "method": "session/update"}
        problems = acp.agent_outbound(
            {**message, "params": {"sessionId": SESSION, "update": update}}
        )
        assert not problems, update


def test_a_replay_sends_no_session_level_update_but_keeps_the_latest() -> None:
    replayer = Replayer(TranslatorOptions(), base_choices=Choices(MANIFEST))
    replayer.begin_log(SESSION)
    records: list[dict[str, Any]] = [
        session_record(SESSION, "/w", [], []),
        {"type": "usage", "session_id": SESSION, "used": 1, "size": 9},
        {"type": "mode_changed", "session_id": SESSION, "mode_id": "code"},
        {"type": CHOICES_RECORD, "session_id": SESSION, "values": {"model": "m2", "mode": "code"}},
        {"type": "session_info", "session_id": SESSION, "title": "Named"},
        {"type": "usage", "session_id": SESSION, "used": 3, "size": 9},
    ]
    out = [line for record in records for line in replayer.feed(record)]
    assert out == []
    live = replayer.go_live(SESSION)
    assert live.offers.usage == {"sessionUpdate": "usage_update", "used": 3, "size": 9}
    assert live.offers.title == "Named"
    choices = live.offers.choices
    assert choices is not None
    assert choices.current_mode() == "code"
    assert choices.for_vm()["configValues"] == {"model": "m2"}
    assert not live.session_open


def terminal(**fields: Any) -> AgentEvent:
    return ev(type="terminal_output", tool_call_id="c1", terminal_id="t1", **fields)


def test_terminal_output_as_zeds_meta_for_clients_that_render_it(acp: StrictAcp) -> None:
    translator = opened(terminal_meta=True)
    translator.begin_turn()
    translator.translate(ev(type="tool_call", tool_call_id="c1", tool_name="run", raw_input={}))
    first = updates(acp, translator.translate(terminal(data="hi\n", cwd="/w", command="ls")))
    last = updates(acp, translator.translate(terminal(exit_code=0)))
    assert first == [
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "c1",
            "content": [{"type": "terminal", "terminalId": "t1"}],
            "_meta": {
                "terminal_info": {"terminal_id": "t1", "cwd": "/w"},
                "terminal_output": {"terminal_id": "t1", "data": "hi\n"},
            },
        }
    ]
    assert last == [
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "c1",
            "_meta": {"terminal_exit": {"terminal_id": "t1", "exit_code": 0, "signal": None}},
        }
    ]


def test_terminal_output_as_text_for_other_clients(acp: StrictAcp) -> None:
    translator = opened()
    translator.begin_turn()
    start = updates(acp, translator.translate(terminal(data="a\n", command="make")))
    assert start[0]["sessionUpdate"] == "tool_call"  # a call never shown is shown now
    assert start[0]["kind"] == "execute"
    assert start[1]["content"] == [
        {"type": "content", "content": {"type": "text", "text": "$ make\na\n"}}
    ]
    [end] = updates(acp, translator.translate(terminal(data="b", exit_code=2)))
    text = end["content"][0]["content"]["text"]
    assert text == "$ make\na\nb\n[exit code 2]"
    assert translator.translate(terminal()) == []  # nothing new, nothing sent


def test_a_client_that_takes_no_boolean_options_gets_the_others(acp: StrictAcp) -> None:
    translator = Translator(SESSION)
    translator.open_session()
    listed = [
        {"type": "boolean", "id": "web", "name": "Web", "currentValue": False},
        {
            "type": "select",
            "id": "m",
            "name": "M",
            "currentValue": "a",
            "options": [{"value": "a", "name": "A"}],
        },
    ]
    [update] = updates(acp, translator.translate(ev(type="config_options", config_options=listed)))
    assert update == {"sessionUpdate": "config_option_update", "configOptions": listed[1:]}


def test_without_a_declaration_an_option_list_is_still_checked_and_sent(acp: StrictAcp) -> None:
    translator = Translator(SESSION, TranslatorOptions(boolean_options=True))
    translator.open_session()
    good = [{"type": "boolean", "id": "web", "name": "Web", "currentValue": False}]
    [update] = updates(acp, translator.translate(ev(type="config_options", config_options=good)))
    assert update == {"sessionUpdate": "config_option_update", "configOptions": good}
    bad = ev(type="config_options", config_options=[{"type": "boolean", "id": "x"}])
    assert translator.translate(bad) == []
    assert translator.problem is not None
