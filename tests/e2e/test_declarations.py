"""What a VM declares reaches the editor: capabilities, agent, logins, modes and options.

The bridge runs over real pipes with ``--vm-manifest``; every message it writes is checked
against the pinned ACP schema with closed objects (``editor.problems()``).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.editor import FakeEditor
from support.manifests import FULL, MODE_OPTION, MODEL, WEB
from support.paths import VMS

pytestmark = pytest.mark.e2e

#: The full manifest without commands, and with a prompt capability off.
MANIFEST: dict[str, Any] = {
    key: value for key, value in FULL.items() if key not in ("commands", "configOptions")
} | {"configOptions": [MODEL]}
SESSION_VM = shlex.join([sys.executable, str(VMS / "session_vm.py"), "--print-initialize"])


def manifest_file(tmp_path: Path, manifest: dict[str, Any] = MANIFEST) -> str:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return str(path)


def recording_exec_vm(payload: Path) -> str:
    return shlex.join(["sh", "-c", f"cat >> {payload}"])


def test_initialize_advertises_what_the_manifest_declares(tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path)
    with FakeEditor("--vm-exec", "true", "--vm-manifest", manifest, log_dir=tmp_path) as editor:
        result = editor.initialize()
        assert result["agentInfo"] == MANIFEST["agentInfo"]
        assert result["authMethods"] == MANIFEST["authMethods"]
        caps = result["agentCapabilities"]
        assert caps["promptCapabilities"] == MANIFEST["promptCapabilities"]
        assert caps["mcpCapabilities"] == MANIFEST["mcpCapabilities"]
        assert editor.close() == 0
        assert editor.problems() == []


def test_without_a_manifest_only_the_baseline_is_advertised_and_taken(tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", "true", log_dir=tmp_path / "logs") as editor:
        result = editor.initialize()
        caps = result["agentCapabilities"]
        assert caps["promptCapabilities"] == {
            "image": False,
            "audio": False,
            "embeddedContext": False,
        }
        assert caps["mcpCapabilities"] == {"http": False, "sse": False}
        [method] = result["authMethods"]  # never empty: the ACP registry lists none without
        assert editor.call("authenticate", {"methodId": method["id"]}) == {}
        sid = editor.new_session(tmp_path)
        answer = editor.call("session/new", {"cwd": str(tmp_path), "mcpServers": []})
        assert set(answer) == {"sessionId"}
        for block in (
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"},
            {"type": "resource", "resource": {"uri": "file:///a", "text": "hi"}},
        ):
            params = {"sessionId": sid, "prompt": [{"type": "text", "text": "x"}, block]}
            error = editor.wait_response(editor.request("session/prompt", params))["error"]
            assert error["code"] == -32602
            assert "were not advertised" in error["message"]
            assert error["data"] == {"field": "prompt.1.type"}
        baseline = [
            {"type": "text", "text": "x"},
            {"type": "resource_link", "uri": "file:///a/b.rs", "name": "b.rs"},
        ]
        assert editor.call("session/prompt", {"sessionId": sid, "prompt": baseline}) == {
            "stopReason": "end_turn"
        }
        assert editor.close() == 0
        assert editor.problems() == []


@pytest.mark.parametrize("mode", ["exec", "session"])
def test_session_answers_carry_the_declared_modes_and_options(tmp_path: Path, mode: str) -> None:
    manifest = manifest_file(tmp_path)
    vm = ("--vm-exec", "true") if mode == "exec" else ("--vm", SESSION_VM)
    logs = tmp_path / "logs"
    expected_options = [*MANIFEST["configOptions"], MODE_OPTION]
    with FakeEditor(*vm, "--vm-manifest", manifest, log_dir=logs) as editor:
        editor.initialize()
        new = editor.call("session/new", {"cwd": str(tmp_path), "mcpServers": []})
        assert new["modes"] == MANIFEST["modes"]
        assert new["configOptions"] == expected_options
        sid = new["sessionId"]
        assert editor.call("session/prompt", {"sessionId": sid, "prompt": []})
        for method in ("session/load", "session/resume"):
            params = {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []}
            answer = editor.call(method, params)
            assert answer == {"modes": MANIFEST["modes"], "configOptions": expected_options}
        editor.close()
        assert editor.problems() == []


def test_a_declared_login_chosen_by_authenticate_reaches_exec_vms(tmp_path: Path) -> None:
    payload = tmp_path / "requests.jsonl"
    manifest = manifest_file(tmp_path)
    vm = recording_exec_vm(payload)
    with FakeEditor("--vm-exec", vm, "--vm-manifest", manifest, log_dir=tmp_path / "l") as editor:
        editor.initialize()
        sid = editor.new_session(tmp_path)
        prompt = {"sessionId": sid, "prompt": [{"type": "text", "text": "before"}]}
        editor.call("session/prompt", prompt)
        refused = editor.wait_response(editor.request("authenticate", {"methodId": "nope"}))
        assert refused["error"]["code"] == -32602
        assert "'nope' is not an advertised authentication method" in refused["error"]["message"]
        assert editor.call("authenticate", {"methodId": "login"}) == {}
        editor.call("session/prompt", {**prompt, "prompt": [{"type": "text", "text": "after"}]})
        editor.close()
        assert editor.problems() == []
    first, second = (json.loads(line) for line in payload.read_text().splitlines())
    assert "authMethodId" not in first
    assert second["authMethodId"] == "login"


def test_a_declared_login_reaches_session_vms_started_after_it(tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path)
    with FakeEditor("--vm", SESSION_VM, "--vm-manifest", manifest, log_dir=tmp_path) as editor:
        editor.initialize()
        assert editor.call("authenticate", {"methodId": "login"}) == {}
        editor.new_session(tmp_path)
        [line] = editor.wait_stderr("initialize-params")
        params = json.loads(line.split("initialize-params ", 1)[1])
        assert params["authMethodId"] == "login"
        editor.close()
        assert editor.problems() == []


def test_the_built_in_vm_declares_itself(tmp_path: Path) -> None:
    with FakeEditor(log_dir=tmp_path / "logs") as editor:
        result = editor.initialize()
        assert result["agentInfo"]["name"] == "acp-bridge-example-vm"
        assert result["agentCapabilities"]["promptCapabilities"]["image"] is True
        editor.close()
        assert editor.problems() == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{", "not JSON"),
        (b'{"bogus": 1}', "bogus: Extra inputs are not permitted"),
        (
            b'{"modes": {"currentModeId": "x", "availableModes": [{"id": "a", "name": "A"}]}}',
            "modes.currentModeId: not one of modes.availableModes",
        ),
        (None, "cannot read it"),
    ],
)
def test_a_bad_manifest_stops_the_bridge_at_start_naming_file_and_problem(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_bytes(content)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "acp_bridge",
            "--vm-exec",
            "true",
            "--vm-manifest",
            str(path),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        input=b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert f"manifest {path}: {problem}" in done.stderr.decode()


# --------------------------------------------------------------------------- choosing

CHOOSING = {**MANIFEST, "configOptions": [*MANIFEST["configOptions"], WEB]}
#: A client that takes boolean options (the others are not shown them).
TAKES_BOOLEANS: dict[str, Any] = {"session": {"configOptions": {"boolean": {}}}}


def values(options: list[dict[str, Any]]) -> dict[str, Any]:
    return {option["id"]: option["currentValue"] for option in options}


def update_kind(message: dict[str, Any]) -> Any:
    return message.get("params", {}).get("update", {}).get("sessionUpdate")


def test_exec_mode_choices_reach_every_prompt_and_survive_a_new_bridge(tmp_path: Path) -> None:
    payload = tmp_path / "requests.jsonl"
    manifest = manifest_file(tmp_path, CHOOSING)
    args = ("--vm-exec", recording_exec_vm(payload), "--vm-manifest", manifest)
    logs = tmp_path / "logs"
    with FakeEditor(*args, log_dir=logs) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        answer = editor.call(
            "session/set_config_option", {"sessionId": sid, "configId": "model", "value": "m2"}
        )
        assert values(answer["configOptions"]) == {"model": "m2", "web": False, "mode": "ask"}
        answer = editor.call(
            "session/set_config_option",
            {"sessionId": sid, "configId": "web", "type": "boolean", "value": True},
        )
        assert values(answer["configOptions"])["web"] is True
        assert editor.call("session/set_mode", {"sessionId": sid, "modeId": "code"}) == {}
        message = editor.wait_for(lambda m: update_kind(m) == "config_option_update")
        assert values(message["params"]["update"]["configOptions"])["mode"] == "code"
        editor.call("session/prompt", {"sessionId": sid, "prompt": []})
        editor.close()
        assert editor.problems() == []
    [request] = (json.loads(line) for line in payload.read_text().splitlines())
    assert request["modeId"] == "code"
    assert request["configValues"] == {"model": "m2", "web": True}
    with FakeEditor(*args, log_dir=logs) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        params = {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []}
        loaded = editor.call("session/load", params)
        assert loaded["modes"]["currentModeId"] == "code"
        assert values(loaded["configOptions"]) == {"model": "m2", "web": True, "mode": "code"}
        editor.call("session/prompt", {"sessionId": sid, "prompt": []})
        editor.close()
        assert editor.problems() == []
    later = json.loads(payload.read_text().splitlines()[-1])
    assert later["modeId"] == "code"
    assert later["configValues"] == {"model": "m2", "web": True}


def test_choosing_the_mode_as_an_option_tells_clients_of_modes(tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path, CHOOSING)
    with FakeEditor("--vm-exec", "true", "--vm-manifest", manifest, log_dir=tmp_path) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        params = {"sessionId": sid, "configId": "mode", "value": "code"}
        answer = editor.call("session/set_config_option", params)
        assert values(answer["configOptions"])["mode"] == "code"
        update = editor.wait_for(lambda m: update_kind(m) == "current_mode_update")
        assert update["params"] == {
            "sessionId": sid,
            "update": {"sessionUpdate": "current_mode_update", "currentModeId": "code"},
        }
        editor.close()
        assert editor.problems() == []


@pytest.mark.parametrize(
    ("method", "params", "field", "message"),
    [
        ("session/set_mode", {"modeId": "fly"}, "modeId", "'fly' is not one of the modes"),
        ("session/set_config_option", {"configId": "x", "value": "y"}, "configId", "no option"),
        ("session/set_config_option", {"configId": "model", "value": "m9"}, "value", "'m9'"),
        ("session/set_config_option", {"configId": "web", "value": "yes"}, "value", "true or"),
    ],
)
def test_a_choice_not_declared_is_refused_and_nothing_changes(
    tmp_path: Path, method: str, params: dict[str, Any], field: str, message: str
) -> None:
    manifest = manifest_file(tmp_path, CHOOSING)
    with FakeEditor("--vm-exec", "true", "--vm-manifest", manifest, log_dir=tmp_path) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        error = editor.wait_response(editor.request(method, {"sessionId": sid, **params}))["error"]
        assert error["code"] == -32602
        assert message in error["message"]
        assert error["data"] == {"field": field}
        loaded = editor.call(
            "session/resume", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []}
        )
        assert values(loaded["configOptions"]) == {"model": "m1", "web": False, "mode": "ask"}
        editor.close()
        assert editor.problems() == []


def test_a_boolean_choice_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path, CHOOSING)
    args = ("--vm-exec", "true", "--vm-manifest", manifest)
    with FakeEditor(*args, log_dir=tmp_path, strict=False) as editor:  # the request is invalid
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        params = {"sessionId": sid, "configId": "web", "type": "boolean", "value": "yes"}
        error = editor.wait_response(editor.request("session/set_config_option", params))["error"]
        assert error["code"] == -32602
        assert error["data"] == {"field": "value"}
        editor.close()


def test_without_declarations_choices_are_refused(tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", "true", log_dir=tmp_path) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        for method, params in (
            ("session/set_mode", {"modeId": "ask"}),
            ("session/set_config_option", {"configId": "model", "value": "m1"}),
        ):
            answer = editor.wait_response(editor.request(method, {"sessionId": sid, **params}))
            assert answer["error"]["code"] == -32602
            assert "declares no modes or options" in answer["error"]["message"]
        editor.close()
        assert editor.problems() == []


def test_session_mode_choices_are_told_the_vm_and_a_refusal_changes_nothing(
    tmp_path: Path,
) -> None:
    manifest = manifest_file(tmp_path, CHOOSING)
    with FakeEditor("--vm", SESSION_VM, "--vm-manifest", manifest, log_dir=tmp_path) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        params = {"sessionId": sid, "configId": "model", "value": "m2"}
        editor.call("session/set_config_option", params)
        editor.call("session/set_mode", {"sessionId": sid, "modeId": "code"})
        told = [
            line.split("configured ", 1)[1]
            for line in editor.wait_stderr("configured session/set_mode")
        ]
        assert told == [f"session/set_mode {json.dumps({'sessionId': sid, 'modeId': 'code'})}"]
        [option] = editor.wait_stderr("configured session/set_config_option")
        assert json.loads(option.split("set_config_option ", 1)[1]) == params
        editor.close()
        assert editor.problems() == []
    refusing = SESSION_VM + " --refuse-config"
    with FakeEditor("--vm", refusing, "--vm-manifest", manifest, log_dir=tmp_path / "r") as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        params = {"sessionId": sid, "configId": "model", "value": "m2"}
        error = editor.wait_response(editor.request("session/set_config_option", params))["error"]
        assert error["code"] == -32602
        assert "agent VM refused session/set_config_option: not that one" in error["message"]
        resumed = editor.call(
            "session/resume", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []}
        )
        assert values(resumed["configOptions"])["model"] == "m1"
        editor.close()
        assert editor.problems() == []


def test_a_restarted_session_vm_starts_with_the_choices(tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path, CHOOSING)
    with FakeEditor("--vm", SESSION_VM, "--vm-manifest", manifest, log_dir=tmp_path) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        editor.call("session/set_mode", {"sessionId": sid, "modeId": "code"})
        editor.call("session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []})
        editor.call("session/prompt", {"sessionId": sid, "prompt": []})
        starts = [
            json.loads(line.split("initialize-params ", 1)[1])
            for line in editor.wait_stderr("initialize-params")
        ]
        assert [start.get("modeId") for start in starts] == ["ask", "code"]
        assert starts[-1]["configValues"] == {"model": "m1", "web": False}
        editor.close()
        assert editor.problems() == []


def test_commands_follow_the_session_answer_and_come_again_after_a_load(tmp_path: Path) -> None:
    commands = [
        {"name": "review", "description": "Review the diff", "input": {"hint": "focus"}},
        {"name": "plan", "description": "Plan first"},
    ]
    manifest = manifest_file(tmp_path, {"commands": commands})
    args = ("--vm-exec", "true", "--vm-manifest", manifest)
    with FakeEditor(*args, log_dir=tmp_path / "logs") as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        update = editor.wait_for(lambda m: update_kind(m) == "available_commands_update")
        at = next(i for i, m in enumerate(editor.messages) if m is update)
        assert editor.messages[at - 1].get("result") == {"sessionId": sid}  # never before it
        assert update["params"] == {
            "sessionId": sid,
            "update": {"sessionUpdate": "available_commands_update", "availableCommands": commands},
        }
        editor.call(
            "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "hi"}]}
        )
        editor.close()
        assert editor.problems() == []
    with FakeEditor(*args, log_dir=tmp_path / "logs") as editor:
        editor.initialize(**TAKES_BOOLEANS)
        editor.call("session/load", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []})
        update = editor.wait_for(lambda m: update_kind(m) == "available_commands_update")
        at = next(i for i, m in enumerate(editor.messages) if m is update)
        assert editor.messages[at - 1].get("result") == {}
        title = editor.messages[at + 1] if len(editor.messages) > at + 1 else None
        if title is None:
            title = editor.wait_for(lambda m: update_kind(m) == "session_info_update")
        assert title["params"]["update"] == {"sessionUpdate": "session_info_update", "title": "hi"}
        editor.close()
        assert editor.problems() == []


def test_logout_ends_a_declared_login_for_the_vms_started_after_it(tmp_path: Path) -> None:
    payload = tmp_path / "requests.jsonl"
    manifest = manifest_file(tmp_path)
    vm = recording_exec_vm(payload)
    with FakeEditor("--vm-exec", vm, "--vm-manifest", manifest, log_dir=tmp_path / "l") as editor:
        caps = editor.initialize()["agentCapabilities"]
        assert caps["auth"] == {"logout": {}}
        sid = editor.new_session(tmp_path)
        prompt = {"sessionId": sid, "prompt": [{"type": "text", "text": "x"}]}
        assert editor.call("authenticate", {"methodId": "login"}) == {}
        editor.call("session/prompt", prompt)
        assert editor.call("logout", {}) == {}
        editor.call("session/prompt", prompt)
        editor.close()
        assert editor.problems() == []
    logged_in, logged_out = (json.loads(line) for line in payload.read_text().splitlines())
    assert logged_in["authMethodId"] == "login"
    assert "authMethodId" not in logged_out


def test_without_a_declared_login_there_is_no_logout(tmp_path: Path) -> None:
    with FakeEditor("--vm-exec", "true", log_dir=tmp_path) as editor:
        assert "auth" not in editor.initialize()["agentCapabilities"]
        error = editor.wait_response(editor.request("logout", {}))["error"]
        assert error["code"] == -32602
        assert "declares no login" in error["message"]
        editor.close()
        assert editor.problems() == []


def test_the_legacy_model_switch_sets_the_model_option(tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path, CHOOSING)
    args = ("--vm-exec", "true", "--vm-manifest", manifest)
    # session/set_model is not in ACP's stable schema: the client's request is not checked.
    with FakeEditor(*args, log_dir=tmp_path, strict=False) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        assert editor.call("session/set_model", {"sessionId": sid, "modelId": "m2"}) == {}
        update = editor.wait_for(lambda m: update_kind(m) == "config_option_update")
        assert values(update["params"]["update"]["configOptions"])["model"] == "m2"
        resumed = editor.call(
            "session/resume", {"sessionId": sid, "cwd": str(tmp_path), "mcpServers": []}
        )
        assert values(resumed["configOptions"])["model"] == "m2"
        refused = editor.wait_response(
            editor.request("session/set_model", {"sessionId": sid, "modelId": "m9"})
        )["error"]
        assert refused["code"] == -32602
        assert refused["data"] == {"field": "modelId"}
        editor.close()
    no_model = manifest_file(tmp_path, {"modes": MANIFEST["modes"]})
    args = ("--vm-exec", "true", "--vm-manifest", no_model)
    with FakeEditor(*args, log_dir=tmp_path / "n", strict=False) as editor:
        editor.initialize(**TAKES_BOOLEANS)
        sid = editor.new_session(tmp_path)
        refused = editor.wait_response(
            editor.request("session/set_model", {"sessionId": sid, "modelId": "m1"})
        )["error"]
        assert "declares no model option" in refused["message"]
        editor.close()


def test_a_client_that_takes_no_boolean_options_is_not_shown_them(tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path, CHOOSING)
    with FakeEditor("--vm-exec", "true", "--vm-manifest", manifest, log_dir=tmp_path) as editor:
        editor.initialize()
        new = editor.call("session/new", {"cwd": str(tmp_path), "mcpServers": []})
        assert [o["id"] for o in new["configOptions"]] == ["model", "mode"]
        sid = new["sessionId"]
        params = {"sessionId": sid, "configId": "model", "value": "m2"}
        answer = editor.call("session/set_config_option", params)
        assert [o["id"] for o in answer["configOptions"]] == ["model", "mode"]
        editor.call("session/set_mode", {"sessionId": sid, "modeId": "code"})
        update = editor.wait_for(lambda m: update_kind(m) == "config_option_update")
        assert [o["id"] for o in update["params"]["update"]["configOptions"]] == ["model", "mode"]
        editor.close()
        assert editor.problems() == []
