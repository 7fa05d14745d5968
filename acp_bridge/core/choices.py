"""A session's chosen mode and option values, over what its VM declared.

The manifest (:mod:`acp_bridge.vm.manifest`) declares the modes and config options with
their starting values; the editor changes them with ``session/set_mode`` and
``session/set_config_option``. :class:`Choices` is the current state: the declaration plus
the values chosen since, checked against it, and what every party gets of it: the editor
its complete option list and mode state, the VM its ``modeId`` and ``configValues``, the log
one record per change (so a reloaded session keeps its choices).

The mode is one value among the others, kept under the id of the option that stands for
the modes (:func:`~acp_bridge.vm.manifest.mode_option`, or a declared option of category
``mode``), so that choosing it either way is one change. The VM never sees that option: it
gets modes as ``modeId`` and ``session/set_mode``, and its own options as ``configValues``
and ``session/set_config_option``.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from acp_bridge.errors import RpcError
from acp_bridge.eventlog.records import CHOICES_RECORD
from acp_bridge.jsonrpc.messages import INVALID_PARAMS
from acp_bridge.vm.manifest import (
    MODE_OPTION_ID,
    BooleanOption,
    Manifest,
    ManifestError,
    SelectOption,
    config_options,
    parse_config_options,
    session_modes,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

Value: TypeAlias = str | bool
JsonObject: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """One accepted change: the new state, and what to tell the VM."""

    choices: Choices
    vm_method: str
    vm_params: JsonObject


@dataclass(frozen=True, slots=True)
class Choices:
    """The declared modes and options of a session, with the values chosen since."""

    manifest: Manifest
    values: Mapping[str, Value] = field(default_factory=dict)

    @property
    def declared(self) -> bool:
        """Whether there is anything to choose."""
        return self.manifest.modes is not None or bool(self.manifest.configOptions)

    @property
    def mode_option_id(self) -> str | None:
        """The id of the option that stands for the modes, if there are modes."""
        if self.manifest.modes is None:
            return None
        for option in self.manifest.configOptions:
            if option.category == "mode":
                return option.id
        return MODE_OPTION_ID

    def current_mode(self) -> str | None:
        """The current mode's id, if there are modes."""
        modes, option_id = self.manifest.modes, self.mode_option_id
        if modes is None or option_id is None:
            return None
        value = self.values.get(option_id, modes.currentModeId)
        return value if isinstance(value, str) else modes.currentModeId

    def options(self) -> list[JsonObject]:
        """The complete option list with current values, as the editor gets it."""
        values = dict(self.values)
        mode = self.current_mode()
        if mode is not None and self.mode_option_id is not None:
            values[self.mode_option_id] = mode
        return config_options(self.manifest, values)

    def modes(self) -> JsonObject | None:
        """The mode state with the current mode, as the editor gets it."""
        return session_modes(self.manifest, self.current_mode())

    def offers(self) -> JsonObject:
        """What a ``session/new``, ``load`` or ``resume`` answer says of them."""
        offers: JsonObject = {}
        modes = self.modes()
        if modes is not None:
            offers["modes"] = modes
        options = self.options()
        if options:
            offers["configOptions"] = options
        return offers

    def for_vm(self) -> JsonObject:
        """``modeId`` and ``configValues`` (the VM's own options), for the VM's params."""
        params: JsonObject = {}
        mode = self.current_mode()
        if mode is not None:
            params["modeId"] = mode
        own = {
            option["id"]: option["currentValue"]
            for option in self.options()
            if option["id"] != self.mode_option_id
        }
        if own:
            params["configValues"] = own
        return params

    def record(self, session_id: str) -> JsonObject:
        """The log record of the values chosen so far."""
        return {"type": CHOICES_RECORD, "session_id": session_id, "values": dict(self.values)}

    def restored(self, values: Any) -> tuple[Choices, list[str]]:
        """These choices with ``values`` from a log, and why any of them was dropped.

        The manifest may have changed since the log was written: a value it no longer
        declares is dropped (reported), the rest is kept.
        """
        if not isinstance(values, dict):
            return self, ["the choices record has no values object"]
        kept: dict[str, Value] = {}
        dropped: list[str] = []
        for option_id, value in values.items():
            problem = self._problem(option_id, value)
            if problem is None:
                kept[option_id] = value
            else:
                dropped.append(problem)
        return Choices(self.manifest, kept), dropped

    def with_mode(self, mode_id: str) -> Choices | str:
        """These choices with the mode the VM changed to, or why it cannot be."""
        option_id = self.mode_option_id
        if option_id is None:
            return "this agent declares no modes"
        problem = self._problem(option_id, mode_id)
        return problem or Choices(self.manifest, {**self.values, option_id: mode_id})

    def with_options(self, options: list[Any]) -> Choices | str:
        """The VM's complete option list in place of the declared one, or why it cannot be.

        The list carries every option's current value; the mode stays (or is the current
        value of the list's ``mode`` option, when it has one).
        """
        manifest = parse_config_options(self.manifest, options)
        if isinstance(manifest, ManifestError):
            return f"config_options: {manifest}"
        choices = Choices(manifest)
        mode, option_id = self.current_mode(), choices.mode_option_id
        listed = next((o for o in manifest.configOptions if o.id == option_id), None)
        if isinstance(listed, SelectOption):
            mode = listed.currentValue
        if mode is None or option_id is None:
            return choices
        return Choices(manifest, {option_id: mode})

    def set_mode(self, session_id: str, mode_id: str) -> Change:
        """Choose the mode ``mode_id``.

        Raises:
            RpcError: -32602, no modes were declared or ``mode_id`` is not one of them.
        """
        option_id = self.mode_option_id
        if option_id is None:
            raise _refusal("this agent declares no modes", "modeId")
        return self._choose(session_id, option_id, mode_id, "modeId")

    def set_model(self, session_id: str, model_id: str) -> Change:
        """Choose the model ``model_id`` (the legacy ``session/set_model``).

        The model is the option of category ``model``; choosing it this way is choosing
        that option.

        Raises:
            RpcError: -32602, no model option was declared or ``model_id`` is not a value.
        """
        option = next((o for o in self.manifest.configOptions if o.category == "model"), None)
        if option is None:
            raise _refusal("this agent declares no model option", "modelId")
        return self._choose(session_id, option.id, model_id, "modelId")

    def set_option(self, session_id: str, config_id: str, value: Any) -> Change:
        """Give the option ``config_id`` the value ``value``.

        Raises:
            RpcError: -32602, no such option or not one of its values.
        """
        return self._choose(session_id, config_id, value, "value")

    def _choose(self, session_id: str, option_id: str, value: Any, what: str) -> Change:
        problem = self._problem(option_id, value)
        if problem is not None:
            raise _refusal(problem, "configId" if problem.startswith("no option") else what)
        choices = Choices(self.manifest, {**self.values, option_id: value})
        if option_id == self.mode_option_id:
            return Change(choices, "session/set_mode", {"sessionId": session_id, "modeId": value})
        params: JsonObject = {"sessionId": session_id, "configId": option_id, "value": value}
        if isinstance(value, bool):
            params["type"] = "boolean"
        return Change(choices, "session/set_config_option", params)

    def _problem(self, option_id: Any, value: Any) -> str | None:
        """Why ``value`` cannot be the value of ``option_id``, if it cannot."""
        if option_id == self.mode_option_id and self.manifest.modes is not None:
            ids = [mode.id for mode in self.manifest.modes.availableModes]
            if value not in ids:
                return f"{_shown(value)} is not one of the modes ({', '.join(ids)})"
            return None
        option = next((o for o in self.manifest.configOptions if o.id == option_id), None)
        if option is None:
            return f"no option {_shown(option_id)} was declared"
        if isinstance(option, BooleanOption):
            if not isinstance(value, bool):
                return f"option {option.id!r} takes true or false, not {_shown(value)}"
            return None
        assert isinstance(option, SelectOption)
        values = [choice.value for choice in option.options]
        if value not in values:
            return f"{_shown(value)} is not a value of option {option.id!r} ({', '.join(values)})"
        return None


def _shown(value: Any) -> str:
    """A peer's value in a message: short, whatever it is."""
    return repr(value)[:80] if isinstance(value, str | bool | int | float) else type(value).__name__


def _refusal(problem: str, field_name: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {problem}", {"field": field_name})


def shown(options: list[JsonObject], boolean: bool) -> list[JsonObject]:
    """The options a client is shown: boolean ones only if it takes them.

    ACP's boolean options are a client capability (``session.configOptions.boolean``); a
    client without it gets the select options only.
    """
    return options if boolean else [o for o in options if o.get("type") != "boolean"]
