"""A VM's manifest: what it may declare, every way it can be wrong, what the answers say."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.manifests import FULL, MODE_OPTION

from acp_bridge.vm.manifest import (
    DEFAULT_MANIFEST,
    LOCAL_AUTH_METHOD,
    Manifest,
    ManifestError,
    agent_info,
    auth_methods,
    available_commands,
    config_options,
    parse_manifest,
    session_modes,
)


def parsed(value: Any) -> Manifest:
    manifest = parse_manifest(json.dumps(value).encode())
    assert isinstance(manifest, Manifest), manifest
    return manifest


def refused(value: Any) -> tuple[str, ...]:
    manifest = parse_manifest(value if isinstance(value, bytes) else json.dumps(value).encode())
    assert isinstance(manifest, ManifestError)
    return manifest.problems


def test_a_full_manifest_is_passed_on_as_declared() -> None:
    manifest = parsed(FULL)
    assert agent_info(manifest, "9.9") == FULL["agentInfo"]
    assert auth_methods(manifest) == FULL["authMethods"]
    assert session_modes(manifest) == FULL["modes"]
    assert available_commands(manifest) == FULL["commands"]
    options = config_options(manifest)
    assert options[:2] == FULL["configOptions"]
    assert options[2] == MODE_OPTION


def test_an_empty_manifest_declares_only_what_every_vm_takes() -> None:
    manifest = parsed({})
    assert manifest == DEFAULT_MANIFEST
    assert manifest.promptCapabilities.model_dump() == {
        "image": False,
        "audio": False,
        "embeddedContext": False,
    }
    assert manifest.mcpCapabilities.model_dump() == {"http": False, "sse": False}
    assert auth_methods(manifest) == [LOCAL_AUTH_METHOD]
    assert agent_info(manifest, "9.9") == {
        "name": "acp-bridge",
        "title": "acp-bridge",
        "version": "9.9",
    }
    assert session_modes(manifest) is None
    assert config_options(manifest) == []
    assert available_commands(manifest) == []


def test_the_agent_version_defaults_to_the_bridges() -> None:
    assert agent_info(parsed({"agentInfo": {"name": "a"}}), "9.9") == {
        "name": "a",
        "version": "9.9",
    }


def test_current_values_replace_the_declared_ones() -> None:
    options = config_options(parsed(FULL), {"model": "m2", "mode": "code", "web": True})
    assert [o["currentValue"] for o in options] == ["m2", True, "code"]
    assert session_modes(parsed(FULL), "code")["currentModeId"] == "code"  # type: ignore[index]


def test_a_declared_mode_option_stands_for_the_modes() -> None:
    own = {
        "type": "select",
        "id": "mode",
        "name": "Autonomy",
        "category": "mode",
        "currentValue": "ask",
        "options": [{"value": "ask", "name": "Ask"}, {"value": "code", "name": "Code"}],
    }
    manifest = parsed({**FULL, "configOptions": [own]})
    assert config_options(manifest) == [own]


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"{", "not JSON"),
        (b"[]", "a manifest is a JSON object, not list"),
        ({"bogus": 1}, "bogus: Extra inputs are not permitted"),
        ({"manifestVersion": 2}, "manifestVersion: Input should be 1"),
        ({"agentInfo": {"name": ""}}, "agentInfo.name: String should have at least 1 character"),
        ({"promptCapabilities": {"video": True}}, "promptCapabilities.video: Extra inputs"),
        ({"promptCapabilities": {"image": "yes"}}, "promptCapabilities.image: Input should be"),
        ({"authMethods": [{"id": "a"}]}, "authMethods.0.name: Field required"),
        (
            {"authMethods": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]},
            "authMethods: 'a' is there twice",
        ),
        (
            {"modes": {"currentModeId": "x", "availableModes": [{"id": "a", "name": "A"}]}},
            "modes.currentModeId: not one of modes.availableModes",
        ),
        ({"modes": {"currentModeId": "x", "availableModes": []}}, "modes.availableModes: List"),
        (
            {"configOptions": [{**FULL["configOptions"][0], "currentValue": "m9"}]},
            "configOptions.0.currentValue: not one of its options",
        ),
        ({"configOptions": [{"type": "slider", "id": "a", "name": "A"}]}, "configOptions.0"),
        (
            {"configOptions": [FULL["configOptions"][1], FULL["configOptions"][1]]},
            "configOptions: 'web' is there twice",
        ),
        (
            {**FULL, "configOptions": [{**FULL["configOptions"][1], "id": "mode"}]},
            "configOptions: id 'mode' stands for the declared modes",
        ),
        ({"commands": [{"name": "a"}, {"name": "a"}]}, "commands: 'a' is there twice"),
        ({"commands": [{"name": "a", "input": {}}]}, "commands.0.input.hint: Field required"),
    ],
)
def test_every_problem_is_named(manifest: Any, problem: str) -> None:
    problems = refused(manifest)
    assert any(p.startswith(problem) for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    problems = refused({"bogus": 1, "agentInfo": {}, "commands": [{"name": "a"}, {"name": "a"}]})
    assert len(problems) == 2  # the schema's two; duplicates are checked on a valid one
    assert {p.split(":")[0] for p in problems} == {"bogus", "agentInfo.name"}
