"""Tool-call ids, titles and terminals: unique on the wire, one title, the same in replay.

Each test runs a live session's core (:class:`SessionCore`) the way the bridge does, keeps
every record it would persist, then replays those records through a fresh
:class:`Replayer` and holds the two to the same notifications.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.acp_schema import StrictAcp
from support.wire import notes

from acp_bridge.core import translate
from acp_bridge.core.editor_calls import permission_request
from acp_bridge.core.replay import Replayer
from acp_bridge.core.session import SessionCore
from acp_bridge.core.toolcalls import TERMINAL_NOT_CAPTURED
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.eventlog import records

SESSION = "s1"
CWD = "/w"


def vm_event(event_type: str, **fields: Any) -> bytes:
    return json.dumps({"type": event_type, "session_id": "vm", **fields}).encode()


def call(call_id: str, name: str = "read_file", **fields: Any) -> bytes:
    return vm_event("tool_call", tool_call_id=call_id, tool_name=name, **fields)


def update(call_id: str, status: str | None = "completed", **fields: Any) -> bytes:
    return vm_event("tool_call_update", tool_call_id=call_id, status=status, **fields)


@dataclass
class Live:
    """A live session's core, its log (the records) and what it sent (as dicts)."""

    core: SessionCore = field(
        default_factory=lambda: SessionCore(SESSION, CWD, TranslatorOptions(cwd=CWD))
    )
    log: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log.append(self.core.started([]))

    def turn(self, *lines: bytes) -> list[Any]:
        """One whole turn: prompt, the VM's lines, its answer, the end; what it sent."""
        before = len(self.sent)
        self.log.append(self.core.begin_turn([{"type": "text", "text": "go"}]))
        started = self.core.vm_has_prompt()
        assert started is not None
        self.log.append(started)
        self.lines(*lines)
        over = self.core.vm_answered()
        assert over is not None
        self.log.append(over)
        closing, ended = self.core.end_turn("end_turn")
        self.sent += notes(closing)
        self.log.append(ended)
        return self.sent[before:]

    def lines(self, *lines: bytes) -> None:
        batch = self.core.vm_lines(list(lines))
        self.log += [dict(record) for record, _ in batch.records]
        self.sent += notes(batch.outgoing)

    def editor_call(self, method: str, params: dict[str, Any], result: Any) -> None:
        """A VM's request to the editor, as the gateway records it once answered."""
        self.log.append(records.editor_call_record(SESSION, method, params, result=result))

    def reload(self) -> None:
        """The bridge goes away and a new one loads the session: replay, then go live."""
        replayer = Replayer(self.core.options)
        replayer.begin_log(SESSION)
        sent: list[Any] = []
        for record in self.log:
            sent += notes(replayer.feed(record))
        sent += notes(replayer.finish())
        self.core = SessionCore(SESSION, CWD, self.core.options)
        self.core.translator = replayer.translator(SESSION)
        replayer.go_live(SESSION)
        self.log.append(self.core.started([]))

    def replayed(self) -> list[Any]:
        """What ``session/load`` of the log sends now, user prompts left out."""
        replayer = Replayer(self.core.options)
        replayer.begin_log(SESSION)
        out = []
        for record in self.log:
            out += replayer.feed(record)
        out += replayer.finish()
        return [
            n for n in notes(out) if n["params"]["update"]["sessionUpdate"] != "user_message_chunk"
        ]


def tool_updates(sent: list[Any]) -> list[dict[str, Any]]:
    return [
        n["params"]["update"]
        for n in sent
        if n["params"]["update"]["sessionUpdate"] in ("tool_call", "tool_call_update")
    ]


def ids(sent: list[Any], kind: str = "tool_call") -> list[str]:
    return [u["toolCallId"] for u in tool_updates(sent) if u["sessionUpdate"] == kind]


def assert_valid(acp: StrictAcp, sent: list[Any]) -> None:
    for message in sent:
        assert acp.agent_outbound(message) == [], message


# --------------------------------------------------------------------------- #16: ids


def test_a_vm_restarted_by_a_reload_numbering_its_calls_again_gets_new_wire_ids(
    acp: StrictAcp,
) -> None:
    live = Live()
    first = live.turn(call("call_1_1"), update("call_1_1"))
    live.reload()
    second = live.turn(call("call_1_1"), update("call_1_1"))
    assert ids(first) == ["call_1_1"]
    assert ids(second) == ["call_1_1#2"]
    assert ids(second, "tool_call_update") == ["call_1_1#2"]
    assert_valid(acp, first + second)
    assert live.replayed() == first + second
    assert [r["tool_call_id"] for r in live.log if r["type"] == "tool_call"] == [
        "call_1_1",
        "call_1_1",
    ]  # the log keeps the VM's ids as it wrote them


def test_an_id_of_an_earlier_turn_is_a_new_call_even_in_one_vm_lifetime() -> None:
    live = Live()
    first = live.turn(call("a"), update("a"))
    late = live.turn(update("a", status="in_progress"), update("a"))  # never announced here
    assert ids(first) == ["a"]
    [start, end] = tool_updates(late)
    assert (start["sessionUpdate"], start["toolCallId"]) == ("tool_call", "a#2")
    assert (end["sessionUpdate"], end["toolCallId"]) == ("tool_call_update", "a#2")
    assert live.replayed() == first + late


def test_an_id_reused_in_one_turn_after_its_call_finished_is_a_new_call() -> None:
    live = Live()
    sent = live.turn(
        call("x", raw_input={"path": "a"}),
        call("x", raw_input={"path": "a"}),  # the same call, its input complete: an update
        update("x"),
        call("x", raw_input={"path": "b"}),  # a new call with the same id
        update("x"),
    )
    kinds = [(u["sessionUpdate"], u["toolCallId"]) for u in tool_updates(sent)]
    assert kinds == [
        ("tool_call", "x"),
        ("tool_call_update", "x"),
        ("tool_call_update", "x"),
        ("tool_call", "x#2"),
        ("tool_call_update", "x#2"),
    ]
    assert live.replayed() == sent


def test_forged_ids_that_look_qualified_never_collide() -> None:
    live = Live()
    sent = live.turn(call("c#2"), update("c#2"))
    sent += live.turn(call("c"), update("c"))
    sent += live.turn(call("c"), update("c"))
    sent += live.turn(call("c#2"), update("c#2"))
    started = ids(sent)
    assert started == ["c#2#1", "c", "c#3", "c#2#4"]
    assert len(set(started)) == len(started)
    assert live.replayed() == sent


def test_open_calls_of_a_turn_cut_short_are_closed_once_at_the_reload() -> None:
    live = Live()
    live.log.append(live.core.begin_turn([{"type": "text", "text": "go"}]))
    started = live.core.vm_has_prompt()
    assert started is not None
    live.log.append(started)
    live.lines(call("call_1_1"))  # the bridge is killed here: no turn end in the log
    live.reload()
    second = live.turn(call("call_1_1"), update("call_1_1"))
    replayed = live.replayed()
    closings = [u for u in tool_updates(replayed) if u.get("_meta")]
    assert [u["toolCallId"] for u in closings] == ["call_1_1"]
    assert ids(second) == ["call_1_1#2"]
    assert replayed[-len(second) :] == second


def test_the_ids_a_session_remembers_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(translate, "MAX_REMEMBERED_IDS", 3)
    live = Live()
    sent = live.turn(*(call(f"id{n}") for n in range(5)), *(update(f"id{n}") for n in range(5)))
    sent += live.turn(call("id0"), call("id9"), update("id0"), update("id9"))
    started = ids(sent)
    assert started == ["id0", "id1", "id2", "id3#4", "id4#5", "id0#6", "id9#7"]
    assert live.core.translator.remembered_ids == 3
    assert live.replayed() == sent


def test_the_calls_a_turn_tracks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(translate, "MAX_TURN_CALLS", 2)
    live = Live()
    sent = live.turn(call("a"), update("a"), call("b"), update("b"), call("c"), update("c"))
    assert ids(sent) == ["a", "b", "c"]
    assert live.core.translator.tracked_calls <= 2
    sent += live.turn(call("open"))
    assert tool_updates(sent)[-1]["status"] == "failed"  # open calls are never forgotten


# --------------------------------------------------------------------------- #19: one title


def titles(sent: list[Any]) -> list[str]:
    return [u["title"] for u in tool_updates(sent) if "title" in u]


def test_a_tool_call_keeps_the_title_it_was_first_shown_with(acp: StrictAcp) -> None:
    live = Live()
    sent = live.turn(
        call("c", "edit_file", raw_input={}, parsing=True),  # its input still streaming
        call("c", "edit_file", raw_input={"path": "src/a.rs"}, parsing=False),
        update("c", status="in_progress", tool_name="something_else"),
        update("c", raw_output="done"),
    )
    assert_valid(acp, sent)
    assert titles(sent) == ["Edit file"]  # one title, sent once, with the card
    second = tool_updates(sent)[1]
    assert second["locations"] == [{"path": "/w/src/a.rs"}]  # the input's news still go
    assert live.replayed() == sent


def test_the_card_a_turn_shows_names_its_wire_id_and_title() -> None:
    live = Live()
    live.turn(call("c", "run_command", raw_input={"command": "ls"}))
    live.log.append(live.core.begin_turn([{"type": "text", "text": "again"}]))
    assert live.core.vm_has_prompt() is not None
    live.lines(call("c", "run_command", raw_input={"command": "make"}))
    assert live.core.translator.tool_card("c") == ("c#2", "Run `make`")
    assert live.core.translator.tool_card("other") is None


def test_a_permission_request_names_the_call_by_its_wire_id_and_title() -> None:
    cards = {"call_1_2": ("call_1_2#5", "Edit /w/notes.md")}
    asked = {"toolCall": {"toolCallId": "call_1_2", "title": "Write notes.md", "kind": "edit"}}
    request = permission_request(asked, SESSION, cards.get)
    assert request["toolCall"] == {
        "toolCallId": "call_1_2#5",
        "title": "Edit /w/notes.md",
        "kind": "edit",
    }
    unknown = {"toolCall": {"toolCallId": "elsewhere", "title": "Deploy"}}
    assert permission_request(unknown, SESSION, cards.get)["toolCall"] == unknown["toolCall"]


# --------------------------------------------------------------------------- #17: terminals


TERMINAL = {"type": "terminal", "terminalId": "t-1"}


def run_in_terminal(live: Live, *, output: str | None, exit_code: int = 0) -> list[Any]:
    """A turn that runs a command in an editor terminal, as the example VM does."""
    before = len(live.sent)
    live.log.append(live.core.begin_turn([{"type": "text", "text": "run"}]))
    assert live.core.vm_has_prompt() is not None
    live.log.append(records.vm_turn_record(SESSION, started=True))
    live.lines(call("run", "run_command", raw_input={"command": "make"}))
    live.editor_call(
        "terminal/create", {"sessionId": SESSION, "command": "make"}, {"terminalId": "t-1"}
    )
    live.lines(update("run", status="in_progress", raw_output={"terminal_id": "t-1"}))
    live.editor_call(
        "terminal/wait_for_exit",
        {"sessionId": SESSION, "terminalId": "t-1"},
        {"exitCode": exit_code},
    )
    if output is not None:
        answer = {"output": output, "truncated": False, "exitStatus": {"exitCode": exit_code}}
        live.editor_call("terminal/output", {"sessionId": SESSION, "terminalId": "t-1"}, answer)
    live.lines(update("run", raw_output={"terminal_id": "t-1", "exit_code": exit_code}))
    live.editor_call("terminal/release", {"sessionId": SESSION, "terminalId": "t-1"}, None)
    assert live.core.vm_answered() is not None
    live.log.append(records.vm_turn_record(SESSION, started=False))
    closing, ended = live.core.end_turn("end_turn")
    live.sent += notes(closing)
    live.log.append(ended)
    return live.sent[before:]


def contents(sent: list[Any]) -> list[Any]:
    return [u["content"] for u in tool_updates(sent) if "content" in u]


def test_a_reloaded_terminal_card_shows_the_output_the_editor_gave(acp: StrictAcp) -> None:
    live = Live()
    sent = run_in_terminal(live, output="built 3 targets\n")
    assert contents(sent) == [[TERMINAL], [TERMINAL]]  # live: the editor's own terminal
    replayed = live.replayed()
    assert_valid(acp, replayed)
    assert TERMINAL not in [block for blocks in contents(replayed) for block in blocks]
    final = contents(replayed)[-1]
    assert final == [
        {
            "type": "content",
            "content": {"type": "text", "text": "built 3 targets\n\nExited with code 0."},
        }
    ]
    # Every other notification is the live one.
    assert [n for n in replayed if "content" not in n["params"]["update"]] == [
        n for n in sent if "content" not in n["params"]["update"]
    ]


def test_a_terminal_whose_output_was_never_captured_says_so_after_a_reload() -> None:
    live = Live()
    run_in_terminal(live, output=None, exit_code=2)
    final = contents(live.replayed())[-1]
    [block] = final
    text = block["content"]["text"]
    assert "not captured" in text
    assert text.endswith("Exited with code 2.")


def test_a_session_reloaded_goes_on_showing_live_terminals() -> None:
    live = Live()
    run_in_terminal(live, output="one\n")
    live.reload()
    again = run_in_terminal(live, output="two\n")
    assert contents(again) == [[TERMINAL], [TERMINAL]]
    texts = [b["content"]["text"] for blocks in contents(live.replayed()) for b in blocks]
    # Shown, then updated by the exit and by the output records, then the call's end.
    exited = f"{TERMINAL_NOT_CAPTURED}\n\nExited with code 0."
    assert texts == [
        *(TERMINAL_NOT_CAPTURED, exited, "one\n\nExited with code 0."),
        "one\n\nExited with code 0.",
        *(TERMINAL_NOT_CAPTURED, exited, "two\n\nExited with code 0."),
        "two\n\nExited with code 0.",
    ]


def test_odd_terminal_answers_are_reported_and_refusals_skipped() -> None:
    live = Live()
    live.turn(call("run", "run_command"), update("run", raw_output={"terminal_id": "t-1"}))
    live.editor_call("terminal/output", {"terminalId": "t-1"}, {"output": 7})
    live.log.append(
        records.editor_call_record(
            SESSION, "terminal/output", {"terminalId": "t-1"}, error={"code": 1, "message": "x"}
        )
    )
    replayer = Replayer(live.core.options)
    replayer.begin_log(SESSION)
    for record in live.log:
        replayer.feed(record, where="log:1")
    [problem] = replayer.stats.problems
    assert "terminal/output answer is not the shape ACP gives it" in problem
