"""Live: an exec VM that prints a Harn log (one line per variant, envelope included)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from support.editor import FakeEditor
from support.harn_logs import HARN_LOGS, beyond_harns_names, leaked_envelope_keys

pytestmark = pytest.mark.e2e

USER_TEXT = "Fix the failing tokenizer test."


HARN_MODE = {"_meta": {"harn": {"topLevelUpdates": True}}}


@pytest.mark.parametrize("harn_mode", [False, True], ids=["default", "harn-mode"])
@pytest.mark.parametrize("version", sorted(HARN_LOGS))
def test_a_vm_printing_a_harn_log_reaches_the_editor_strictly(
    version: str, harn_mode: bool, tmp_path: Path
) -> None:
    command = shlex.join(["cat", str(HARN_LOGS[version])])
    with FakeEditor("--vm-exec", command, log_dir=tmp_path / "logs") as editor:
        editor.initialize(**(HARN_MODE if harn_mode else {}))
        sid = editor.new_session(tmp_path)
        answer = editor.wait_response(editor.prompt(sid, "Please look at the tokenizer."))
        assert answer["result"] == {"stopReason": "max_turn_requests"}  # budget_exhausted
        updates = editor.updates(sid)
        assert editor.close() == 0
        problems = editor.problems()  # every message strictly valid ACP, in order
        # Harn mode: but for Harn's extension updates, sent as session/update as Harn does
        assert (beyond_harns_names(problems) if harn_mode else problems) == []
        stderr = "\n".join(editor.stderr_lines)
    assert "unknown event type" not in stderr
    assert "invalid" not in stderr
    assert all(leaked_envelope_keys(m) == [] for m in editor.messages)
    users = [u["content"] for u in updates if u["sessionUpdate"] == "user_message_chunk"]
    assert users == [{"type": "text", "text": USER_TEXT}]
    plans = [u["entries"] for u in updates if u["sessionUpdate"] == "plan"]
    assert [e["content"] for e in plans[0]] == [
        "Reproduce the failure",
        "Patch the tokenizer",
        "Run the tests",
    ]
    milestones = [m["params"] for m in editor.messages if m.get("method") == "_harn/agentEvent"]
    assert {"iteration_start", "iteration_end"} <= {p["kind"] for p in milestones}
    assert all(p["sessionId"] == sid and "replayed" not in p for p in milestones)
    extension = [u for u in updates if u["sessionUpdate"] == "worker_update"]
    sent_as_extension = any(m.get("method") == "_harn/session_update" for m in editor.messages)
    assert sent_as_extension != harn_mode
    if harn_mode:
        assert extension
        assert all(set(u) == {"sessionUpdate", "_meta"} for u in extension)
        texts = [u["content"] for u in updates if u["sessionUpdate"] == "agent_message_chunk"]
        assert all(t["_meta"]["harn"]["visible_text"] == t["text"] for t in texts)


def test_the_vms_repeat_of_the_prompt_is_not_shown_twice(tmp_path: Path) -> None:
    command = shlex.join(["cat", str(HARN_LOGS["newest"])])
    with FakeEditor("--vm-exec", command, log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        editor.wait_response(editor.prompt(sid, USER_TEXT))
        live = editor.updates(sid)
        assert editor.close() == 0
        assert editor.problems() == []
    assert not [u for u in live if u["sessionUpdate"] == "user_message_chunk"]
    with FakeEditor("--vm-exec", "true", log_dir=tmp_path / "logs") as editor:
        editor.initialize()
        editor.call("session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []})
        replayed = editor.updates(sid)
        assert editor.close() == 0
        assert editor.problems() == []
    users = [u["content"] for u in replayed if u["sessionUpdate"] == "user_message_chunk"]
    assert users == [{"type": "text", "text": USER_TEXT}]  # the prompt, once


@pytest.mark.parametrize("opt_in", [False, True], ids=["default", "harn-mode"])
def test_initialize_advertises_the_keys_harn_clients_read(opt_in: bool, tmp_path: Path) -> None:
    meta = {"_meta": {"harn": {"topLevelUpdates": True}}} if opt_in else {}
    with FakeEditor("--vm-exec", "true", log_dir=tmp_path / "logs") as editor:
        caps = editor.initialize(fs={"readTextFile": False}, **meta)["agentCapabilities"]
        assert editor.close() == 0
    harn = caps["_meta"]["harn"]
    assert "user_message" not in harn["sessionUpdateExtensions"]  # a standard update
    assert {"hitl_request", "progress", "worker_update"} <= set(harn["sessionUpdateExtensions"])
    assert {"mutationStatus", "changedPaths", "intent"} <= set(harn["toolLifecycleExtensionFields"])
    assert "_harn/agentEvent" in harn["extensionMethods"]  # sent in every mode
    assert ("_harn/session_update" in harn["extensionMethods"]) != opt_in
    assert harn["topLevelUpdates"] == opt_in
    assert harn["extensionContract"] == "https://harnlang.com/spec/harn-extensions/v1"
    assert "agent-client-protocol schema" in harn["schemaCompatibility"]
    assert harn["contentExtensionFields"] == (["visible_text", "visible_delta"] if opt_in else [])


def test_harn_mode_marks_what_a_load_replays_and_nothing_after(tmp_path: Path) -> None:
    command = shlex.join(["cat", str(HARN_LOGS["newest"])])
    with FakeEditor("--vm-exec", command, log_dir=tmp_path / "logs") as editor:
        editor.initialize(**HARN_MODE)
        sid = editor.new_session(tmp_path)
        editor.wait_response(editor.prompt(sid, USER_TEXT))
        live = editor.updates(sid)
        assert editor.close() == 0
        assert beyond_harns_names(editor.problems()) == []
    assert live
    assert not any("replayed" in u.get("_meta", {}).get("harn", {}) for u in live)
    with FakeEditor("--vm-exec", command, log_dir=tmp_path / "logs") as editor:
        editor.initialize(**HARN_MODE)
        editor.call("session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []})
        replayed = editor.updates(sid)
        loaded = len(editor.messages)
        editor.wait_response(editor.prompt(sid, "Again."))
        after = editor.messages[loaded:]
        assert editor.close() == 0
        assert beyond_harns_names(editor.problems()) == []
    assert len(replayed) >= len(live)
    assert all(u["_meta"]["harn"]["replayed"] is True for u in replayed)
    marked = [
        m
        for m in after
        if m.get("params", {}).get("replayed")
        or "replayed" in m.get("params", {}).get("update", {}).get("_meta", {}).get("harn", {})
    ]
    assert marked == []  # the session went live: nothing it sends is marked
    assert any(m.get("method") == "_harn/agentEvent" for m in after)
