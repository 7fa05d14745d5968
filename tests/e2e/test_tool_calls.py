"""Tool calls across reloads: unique ids, one title, terminals shown by what they printed.

Each test runs the real bridge with the built-in example VM over real pipes, reloads the
session in a new bridge (whose VM numbers its calls from the start again), and holds what
``session/load`` replays to what the live sessions sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor, thread_update

pytestmark = pytest.mark.e2e

QUICK = {"ACP_BRIDGE_EXAMPLE_PACE": "0"}


def streamed(editor: FakeEditor, session_id: str, since: int = 0) -> list[dict[str, Any]]:
    """The thread's updates from message ``since`` on, the user's own prompts left out."""
    return [
        m["params"]["update"]
        for m in editor.messages[since:]
        if thread_update(m)
        and m["params"]["sessionId"] == session_id
        and m["params"]["update"]["sessionUpdate"] != "user_message_chunk"
    ]


def prompt(editor: FakeEditor, session_id: str, text: str) -> None:
    answer = editor.call(
        "session/prompt", {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}
    )
    assert answer == {"stopReason": "end_turn"}


def load(editor: FakeEditor, session_id: str, cwd: Path) -> list[dict[str, Any]]:
    since = len(editor.messages)
    editor.call("session/load", {"sessionId": session_id, "cwd": str(cwd), "mcpServers": []})
    return streamed(editor, session_id, since)


def started(updates: list[dict[str, Any]]) -> list[str]:
    return [u["toolCallId"] for u in updates if u["sessionUpdate"] == "tool_call"]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("# Demo\n\nSome text.\n")
    return work


def test_a_reloaded_vm_numbering_its_calls_again_gets_ids_unique_in_the_session(
    tmp_path: Path, work: Path
) -> None:
    logs = tmp_path / "logs"
    with FakeEditor(log_dir=logs, env=QUICK) as first:
        first.initialize()
        sid = first.new_session(work)
        prompt(first, sid, "hello")
        live = streamed(first, sid)
        first.close()
        assert first.problems() == []
    with FakeEditor(log_dir=logs, env=QUICK) as second:
        second.initialize()
        assert load(second, sid, work) == live
        since = len(second.messages)
        prompt(second, sid, "hello")  # a new VM: it numbers its calls from call_1_1 again
        live += streamed(second, sid, since)
        second.close()
        assert second.problems() == []  # the checker flags an id announced twice
    ids = started(live)
    assert len(ids) == 2
    assert ids[0] == "call_1_1"
    assert ids[1] != ids[0]
    with FakeEditor(log_dir=logs, env=QUICK) as third:
        third.initialize()
        assert load(third, sid, work) == live  # replay prints what live printed
        third.close()
        assert third.problems() == []


def editor_answers(method: str, params: Any) -> Any:
    if method == "session/request_permission":
        return ("result", {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    if method == "fs/read_text_file":
        return ("error", {"code": -32002, "message": "Resource not found"})
    if method == "fs/write_text_file":
        return ("result", {})
    if method == "terminal/create":
        return ("result", {"terminalId": f"term-{params['command']}"})
    if method == "terminal/wait_for_exit":
        return ("result", {"exitCode": 0})
    if method == "terminal/output":
        return ("result", {"output": f"output of {params['terminalId']}\n", "truncated": False})
    if method in ("terminal/kill", "terminal/release"):
        return ("result", {})
    return ("error", {"code": -32601, "message": "no"})


FS = {"fs": {"readTextFile": True, "writeTextFile": True}}


def test_a_tool_call_has_one_title_live_in_its_permission_request_and_after_a_reload(
    tmp_path: Path, work: Path
) -> None:
    logs = tmp_path / "logs"
    with FakeEditor(log_dir=logs, env=QUICK, answer=editor_answers) as first:
        first.initialize(**FS)
        sid = first.new_session(work)
        prompt(first, sid, "write notes")
        live = streamed(first, sid)
        first.close()
        assert first.problems() == []
    with FakeEditor(log_dir=logs, env=QUICK, answer=editor_answers) as second:
        second.initialize(**FS)
        assert load(second, sid, work) == live
        since = len(second.messages)
        prompt(second, sid, "write notes")
        new = streamed(second, sid, since)
        second.close()
        assert second.problems() == []
    cards = {u["toolCallId"]: u["title"] for u in new if u["sessionUpdate"] == "tool_call"}
    [asked] = [r["params"]["toolCall"] for r in second.requests if "permission" in r["method"]]
    assert asked["toolCallId"] in cards  # the card of this turn, by its wire id
    assert asked["title"] == cards[asked["toolCallId"]]  # and by its one title
    for updates in (live, new):
        assert [
            u for u in updates if u["sessionUpdate"] == "tool_call_update" and "title" in u
        ] == []


def test_a_reloaded_terminal_card_shows_what_the_terminal_printed(
    tmp_path: Path, work: Path
) -> None:
    logs = tmp_path / "logs"
    with FakeEditor(log_dir=logs, env=QUICK, answer=editor_answers) as first:
        first.initialize(terminal=True)
        sid = first.new_session(work)
        prompt(first, sid, "run `echo hi`")
        live = streamed(first, sid)
        first.close()
        assert first.problems() == []
    terminal = {"type": "terminal", "terminalId": "term-echo"}
    assert terminal in [b for u in live if "toolCallId" in u for b in u.get("content", [])]
    with FakeEditor(log_dir=logs, env=QUICK, answer=editor_answers) as second:
        second.initialize(terminal=True)
        replayed = load(second, sid, work)
        second.close()
        assert second.problems() == []
    blocks = [b for u in replayed if "toolCallId" in u for b in u.get("content", [])]
    assert terminal not in blocks  # it is gone: the card shows what it printed instead
    [card] = [u["toolCallId"] for u in replayed if u.get("kind") == "execute"]
    final = [u for u in replayed if u.get("toolCallId") == card and "content" in u][-1]
    assert final["content"] == [
        {
            "type": "content",
            "content": {"type": "text", "text": "output of term-echo\n\nExited with code 0."},
        }
    ]
    assert [u for u in replayed if "content" not in u] == [u for u in live if "content" not in u]
