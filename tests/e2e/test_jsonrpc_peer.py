"""The editor's JSON-RPC link over real pipes: foreign ids and omitted params never kill it."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytest
from support.editor import FakeEditor
from support.paths import VMS

pytestmark = pytest.mark.e2e

SESSION_VM = shlex.join([sys.executable, str(VMS / "session_vm.py")])


def test_an_answer_carrying_the_id_of_a_running_prompt_is_ignored(tmp_path: Path) -> None:
    vm = f"{SESSION_VM} --chunks 40 --interval 0.05"
    with FakeEditor("--vm", vm, log_dir=tmp_path / "logs", strict=False) as editor:
        editor.initialize()
        session_id = editor.new_session(tmp_path)
        editor.send(
            {
                "jsonrpc": "2.0",
                "id": 5,
                "method": "session/prompt",
                "params": {"sessionId": session_id, "prompt": [{"type": "text", "text": "hi"}]},
            }
        )
        editor.send({"jsonrpc": "2.0", "id": 5, "result": {}})
        answer = editor.wait_response(5)
        assert answer["result"] == {"stopReason": "end_turn"}
        status = editor.call("_acp_bridge/status", {})
        assert status["counters"]["editor_unexpected_responses"] == 1
        assert editor.close() == 0


@pytest.mark.parametrize(
    "method",
    ["initialize", "session/new", "session/prompt", "session/list", "_acp_bridge/status"],
)
def test_a_request_without_params_gets_an_answer(tmp_path: Path, method: str) -> None:
    with FakeEditor("--vm-exec", "true", log_dir=tmp_path / "logs", strict=False) as editor:
        editor.send({"jsonrpc": "2.0", "id": "p", "method": method})
        answer = editor.wait_response("p")
        assert "result" in answer or answer["error"]["code"] == -32602, answer
        for notification in ("session/cancel", "$/cancel_request"):
            editor.send({"jsonrpc": "2.0", "method": notification})
        deadline = time.monotonic() + 10
        while True:  # session/cancel's handler runs as a task: it may count after status
            counters = editor.call("_acp_bridge/status", {})["counters"]
            if counters["editor_notification_errors"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert counters["editor_notification_errors"] == 2
        assert editor.close() == 0
