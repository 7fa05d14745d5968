"""A session's modes and options: every change checked, told the VM, logged, restored."""

from __future__ import annotations

from typing import Any

import pytest
from support.manifests import MODEL, MODES, WEB

from acp_bridge.core.choices import Choices
from acp_bridge.errors import RpcError
from acp_bridge.eventlog.records import CHOICES_RECORD
from acp_bridge.vm.manifest import Manifest


def choices(**declared: Any) -> Choices:
    return Choices(
        Manifest.model_validate(declared or {"modes": MODES, "configOptions": [MODEL, WEB]})
    )


def current(c: Choices) -> dict[str, Any]:
    return {o["id"]: o["currentValue"] for o in c.options()}


def test_the_declaration_is_the_starting_state() -> None:
    c = choices()
    assert c.declared
    assert current(c) == {"model": "m1", "web": False, "mode": "ask"}
    assert c.modes() == MODES
    assert c.for_vm() == {"modeId": "ask", "configValues": {"model": "m1", "web": False}}
    assert c.offers() == {"modes": MODES, "configOptions": c.options()}


def test_nothing_declared_offers_nothing() -> None:
    c = Choices(Manifest())
    assert not c.declared
    assert c.offers() == {}
    assert c.for_vm() == {}
    with pytest.raises(RpcError, match="declares no modes"):
        c.set_mode("s", "ask")


def test_an_option_change_is_told_the_vm_as_an_option() -> None:
    change = choices().set_option("s", "model", "m2")
    assert change.vm_method == "session/set_config_option"
    assert change.vm_params == {"sessionId": "s", "configId": "model", "value": "m2"}
    assert current(change.choices)["model"] == "m2"
    boolean = change.choices.set_option("s", "web", True)
    assert boolean.vm_params == {
        "sessionId": "s",
        "configId": "web",
        "value": True,
        "type": "boolean",
    }
    assert boolean.choices.for_vm()["configValues"] == {"model": "m2", "web": True}


@pytest.mark.parametrize("how", ["mode", "option"])
def test_the_mode_is_told_the_vm_as_a_mode_whichever_way_it_is_chosen(how: str) -> None:
    c = choices()
    change = c.set_mode("s", "code") if how == "mode" else c.set_option("s", "mode", "code")
    assert change.vm_method == "session/set_mode"
    assert change.vm_params == {"sessionId": "s", "modeId": "code"}
    assert change.choices.current_mode() == "code"
    assert change.choices.modes()["currentModeId"] == "code"  # type: ignore[index]
    assert current(change.choices)["mode"] == "code"
    assert "mode" not in change.choices.for_vm()["configValues"]


def test_a_declared_mode_option_is_the_modes_option() -> None:
    own = {
        **MODEL,
        "id": "autonomy",
        "category": "mode",
        "currentValue": "ask",
        "options": [{"value": "ask", "name": "Ask"}, {"value": "code", "name": "Code"}],
    }
    c = choices(modes=MODES, configOptions=[own])
    assert c.mode_option_id == "autonomy"
    change = c.set_option("s", "autonomy", "code")
    assert change.vm_method == "session/set_mode"
    assert change.choices.current_mode() == "code"
    assert [o["id"] for o in change.choices.options()] == ["autonomy"]


@pytest.mark.parametrize(
    ("config_id", "value", "field", "message"),
    [
        ("nope", "x", "configId", "no option 'nope' was declared"),
        ("model", "m9", "value", "'m9' is not a value of option 'model' (m1, m2)"),
        ("model", True, "value", "True is not a value of option 'model'"),
        ("web", "yes", "value", "option 'web' takes true or false, not 'yes'"),
        ("mode", "fly", "value", "'fly' is not one of the modes (ask, code)"),
    ],
)
def test_a_value_not_declared_is_refused_naming_the_field(
    config_id: str, value: Any, field: str, message: str
) -> None:
    with pytest.raises(RpcError) as refused:
        choices().set_option("s", config_id, value)
    assert refused.value.code == -32602
    assert message in refused.value.message
    assert refused.value.data == {"field": field}


def test_a_mode_not_declared_is_refused() -> None:
    with pytest.raises(RpcError) as refused:
        choices().set_mode("s", "fly")
    assert refused.value.data == {"field": "modeId"}


def test_the_record_restores_the_choices_and_drops_what_no_longer_holds() -> None:
    changed = choices().set_option("s", "model", "m2").choices.set_mode("s", "code").choices
    record = changed.record("s")
    assert record == {
        "type": CHOICES_RECORD,
        "session_id": "s",
        "values": {"model": "m2", "mode": "code"},
    }
    restored, dropped = choices().restored(record["values"])
    assert restored.for_vm() == changed.for_vm()
    assert dropped == []
    restored, dropped = choices().restored({"model": "m9", "gone": 1, "mode": "code"})
    assert current(restored) == {"model": "m1", "web": False, "mode": "code"}
    assert len(dropped) == 2
    same, dropped = choices().restored("not an object")
    assert same.values == {}
    assert dropped == ["the choices record has no values object"]
