"""The built-in example VM through a real bridge: everything a VM can offer, strictly checked.

Its commands, modes and model option, its usage figures, title and notices, and the output
of a command it runs itself, as an editor sees them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor

pytestmark = pytest.mark.e2e

QUICK = {"ACP_BRIDGE_EXAMPLE_PACE": "0"}
COMMANDS = ["help", "files", "run", "notes", "mode"]


def kind(message: dict[str, Any]) -> Any:
    return message.get("params", {}).get("update", {}).get("sessionUpdate")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("# Offers\n\nA project.\n")
    return work


def session_updates(editor: FakeEditor, sid: str, name: str) -> list[dict[str, Any]]:
    return [u for u in editor.updates(sid, session_level=True) if u["sessionUpdate"] == name]


def test_commands_follow_the_answer_which_holds_the_options_and_a_choice_returns_them_all(
    tmp_path: Path, project: Path
) -> None:
    with FakeEditor(log_dir=tmp_path / "logs", env=QUICK) as editor:
        editor.initialize()
        answer = editor.call("session/new", {"cwd": str(project), "mcpServers": []})
        sid = answer["sessionId"]
        assert [(o["id"], o["currentValue"]) for o in answer["configOptions"]] == [
            ("model", "thorough"),
            ("mode", "ask"),
        ]
        assert answer["modes"]["currentModeId"] == "ask"
        update = editor.wait_for(lambda m: kind(m) == "available_commands_update")
        at = next(i for i, m in enumerate(editor.messages) if m is update)
        assert editor.messages[at - 1].get("result") == answer  # right after it, never before
        names = [c["name"] for c in update["params"]["update"]["availableCommands"]]
        assert names == COMMANDS
        params = {"sessionId": sid, "configId": "model", "value": "brief"}
        changed = editor.call("session/set_config_option", params)
        assert [(o["id"], o["currentValue"]) for o in changed["configOptions"]] == [
            ("model", "brief"),
            ("mode", "ask"),
        ]
        editor.wait_response(editor.prompt(sid, "What is here?"))
        titles = session_updates(editor, sid, "session_info_update")
        assert {t.get("title") for t in titles} == {"What is here?"}
        text = "".join(
            u["content"]["text"]
            for u in editor.updates(sid)
            if u["sessionUpdate"] == "agent_message_chunk"
        )
        assert text.startswith("- README.md: 3 lines, “Offers”.")  # the brief model
        editor.close()
        assert editor.problems() == []


def test_a_prompt_brings_usage_and_the_vm_s_own_title(tmp_path: Path, project: Path) -> None:
    with FakeEditor(log_dir=tmp_path / "logs", env=QUICK) as editor:
        editor.initialize()
        sid = editor.new_session(project)
        editor.wait_response(editor.prompt(sid, "What is here?"))
        editor.wait_response(editor.prompt(sid, "And then?"))
        usage = session_updates(editor, sid, "usage_update")
        assert len(usage) == 2
        assert 0 < usage[0]["used"] < usage[1]["used"] < usage[1]["size"] == 200_000
        assert usage[1]["cost"]["currency"] == "USD"
        infos = session_updates(editor, sid, "session_info_update")
        # the first prompt's title at once (the bridge's), then the VM's own
        assert [i.get("title") for i in infos if "title" in i] == ["What is here?"] * 2
        assert any("updatedAt" in i for i in infos)
        editor.close()
        assert editor.problems() == []


def test_auto_mode_runs_files_without_asking_with_a_notice_and_its_output_streamed(
    tmp_path: Path, project: Path
) -> None:
    with FakeEditor(log_dir=tmp_path / "logs", env=QUICK) as editor:
        editor.initialize(session={"notices": {}})  # ACP's notices
        sid = editor.new_session(project)
        assert editor.call("session/set_mode", {"sessionId": sid, "modeId": "auto"}) == {}
        editor.wait_response(editor.prompt(sid, "/files"))
        [notice] = session_updates(editor, sid, "notice")
        assert notice["severity"] == "info"
        assert notice["title"] == "Run `ls -la`: not asking (auto mode)"
        calls = [
            u
            for u in editor.updates(sid)
            if u["sessionUpdate"] == "tool_call_update" and u.get("status") != "completed"
        ]
        # the output shows in the tool call while it runs, not only in its last update
        assert any("README.md" in json.dumps(u) for u in calls)
        editor.close()
        assert editor.problems() == []


def test_the_vm_switching_its_mode_tells_the_editor(tmp_path: Path, project: Path) -> None:
    with FakeEditor(log_dir=tmp_path / "logs", env=QUICK) as editor:
        editor.initialize(session={"notices": {}})  # ACP's notices
        sid = editor.new_session(project)
        editor.wait_response(editor.prompt(sid, "/mode auto"))
        [mode] = session_updates(editor, sid, "current_mode_update")
        assert mode["currentModeId"] == "auto"
        options = session_updates(editor, sid, "config_option_update")
        assert [(o["id"], o["currentValue"]) for o in options[-1]["configOptions"]] == [
            ("model", "thorough"),
            ("mode", "auto"),
        ]
        editor.wait_response(editor.prompt(sid, "/frobnicate"))
        notices = session_updates(editor, sid, "notice")
        assert [(n["severity"], n["title"]) for n in notices] == [
            ("warning", "Unknown command /frobnicate")
        ]
        editor.close()
        assert editor.problems() == []
