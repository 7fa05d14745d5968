"""What a VM declares it offers, read once from its manifest before the editor says hello.

The bridge answers ``initialize`` before any VM runs (a VM starts per session), and
``session/new`` before its VM has answered anything, so what it advertises there cannot
come from a running VM. A VM states it in a manifest instead: one JSON object in a file
(``--vm-manifest FILE``), read when the bridge starts. It costs no VM start, and it works
the same in exec mode, where no process outlives a prompt. ``protocol/vm/manifest.md``
is the VM author's reference.

The manifest speaks ACP's own shapes (camelCase, as the ACP schema spells them), so that
what it declares is passed on unchanged: agent-level ``agentInfo``, ``promptCapabilities``,
``mcpCapabilities`` and ``authMethods`` go into the ``initialize`` answer; session-level
``modes``, ``configOptions`` and ``commands`` describe every new session. Every object is
closed: a key the bridge does not know is an error naming it, so a typo cannot silently
switch a feature off.

Without a manifest the bridge advertises what any VM can take: text and resource links
(ACP's baseline) and stdio MCP servers only, one local authentication method that needs
no login (the ACP registry lists no agent without one), no modes, options or commands.

Rule: nothing in this module performs I/O; the caller reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeAlias

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

#: The manifest format this bridge reads.
MANIFEST_VERSION: Final = 1
#: The authentication method advertised when the manifest declares none: ``authenticate``
#: with it succeeds and changes nothing.
#: The id of the option that stands for the declared modes (:func:`mode_option`).
MODE_OPTION_ID: Final = "mode"
LOCAL_AUTH_METHOD: Final = {
    "id": "acp-bridge-local",
    "name": "No login needed",
    "description": "The agent runs locally and needs no login.",
}

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]
JsonObject: TypeAlias = dict[str, Any]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AgentInfo(_Closed):
    """Who the agent is (ACP ``Implementation``); the version defaults to the bridge's."""

    name: Name
    title: Name | None = None
    version: Name | None = None


class PromptCapabilities(_Closed):
    """Which prompt blocks beyond text and resource links the VM takes."""

    image: bool = False
    audio: bool = False
    embeddedContext: bool = False  # ACP spells the fields of these objects in camelCase


class McpCapabilities(_Closed):
    """Which MCP transports beyond stdio the VM can use."""

    http: bool = False
    sse: bool = False


class AuthMethod(_Closed):
    """A login the VM does itself (ACP's ``agent`` kind), chosen by ``authenticate``."""

    id: Name
    name: Name
    description: Text | None = None


class Mode(_Closed):
    """One mode of ``modes.availableModes``."""

    id: Name
    name: Name
    description: Text | None = None


class Modes(_Closed):
    """The modes a session can be in, and the one it starts in."""

    currentModeId: Name
    availableModes: list[Mode] = Field(min_length=1)


class Choice(_Closed):
    """One value of a select option."""

    value: Name
    name: Name
    description: Text | None = None


class _Option(_Closed):
    """What every config option has."""

    id: Name
    name: Name
    description: Text | None = None
    category: Name | None = None


class SelectOption(_Option):
    """A config option with one value chosen from a list (a model, a thought level)."""

    type: Literal["select"]
    currentValue: Name
    options: list[Choice] = Field(min_length=1)


class BooleanOption(_Option):
    """A config option that is on or off."""

    type: Literal["boolean"]
    currentValue: bool


ConfigOption = Annotated[SelectOption | BooleanOption, Field(discriminator="type")]


class CommandInput(_Closed):
    """What the command's argument is, shown as a hint."""

    hint: Text


class Command(_Closed):
    """A slash command (``/name args`` arrives as an ordinary prompt)."""

    name: Name
    description: Text = ""
    input: CommandInput | None = None


class Manifest(_Closed):
    """Everything a VM declares (module docstring)."""

    manifestVersion: Literal[1] = MANIFEST_VERSION
    agentInfo: AgentInfo | None = None
    promptCapabilities: PromptCapabilities = PromptCapabilities()
    mcpCapabilities: McpCapabilities = McpCapabilities()
    authMethods: list[AuthMethod] = []
    modes: Modes | None = None
    configOptions: list[ConfigOption] = []
    commands: list[Command] = []


@dataclass(frozen=True, slots=True)
class ManifestError:
    """Why a manifest was refused, for the operator: one line per problem."""

    problems: tuple[str, ...]

    def __str__(self) -> str:
        return "; ".join(self.problems)


def parse_manifest(data: bytes) -> Manifest | ManifestError:
    """Read a manifest's bytes, or say every reason it is not one. Never raises."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return ManifestError((f"not JSON: {exc}",))
    if not isinstance(value, dict):
        return ManifestError((f"a manifest is a JSON object, not {type(value).__name__}",))
    try:
        manifest = Manifest.model_validate(value)
    except ValidationError as exc:
        return ManifestError(tuple(_problem(error) for error in exc.errors()))
    return _consistent(manifest)


def parse_config_options(manifest: Manifest, options: list[Any]) -> Manifest | ManifestError:
    """``manifest`` with ``options`` (a VM's complete list, ACP's shape) as its options.

    The list is checked as a manifest's ``configOptions`` is: each option's shape (closed),
    unique ids, current values among the values, a ``mode`` option that fits the modes.
    """
    try:
        parsed = _OPTIONS.validate_python(options)
    except ValidationError as exc:
        return ManifestError(tuple(_problem(error) for error in exc.errors()))
    return _consistent(manifest.model_copy(update={"configOptions": parsed}))


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{where}: {error['msg']}"


def _consistent(manifest: Manifest) -> Manifest | ManifestError:
    """The checks one object's schema cannot make: unique ids, current values listed."""
    problems: list[str] = []
    _unique("authMethods", [method.id for method in manifest.authMethods], problems)
    _unique("configOptions", [option.id for option in manifest.configOptions], problems)
    _unique("commands", [command.name for command in manifest.commands], problems)
    if mode_option(manifest) is not None and any(
        option.id == MODE_OPTION_ID for option in manifest.configOptions
    ):
        problems.append(
            f"configOptions: id {MODE_OPTION_ID!r} stands for the declared modes; "
            "give that option category 'mode' or another id"
        )
    if manifest.modes is not None:
        ids = [mode.id for mode in manifest.modes.availableModes]
        for number, option in enumerate(manifest.configOptions):
            if option.category != "mode":
                continue
            values = [c.value for c in option.options] if isinstance(option, SelectOption) else []
            if sorted(values) != sorted(ids):
                problems.append(
                    f"configOptions.{number}: an option of category 'mode' stands for the "
                    "declared modes: its values must be the modes' ids"
                )
        _unique("modes.availableModes", ids, problems)
        if manifest.modes.currentModeId not in ids:
            problems.append("modes.currentModeId: not one of modes.availableModes")
    for number, option in enumerate(manifest.configOptions):
        if isinstance(option, SelectOption):
            values = [choice.value for choice in option.options]
            _unique(f"configOptions.{number}.options", values, problems)
            if option.currentValue not in values:
                problems.append(f"configOptions.{number}.currentValue: not one of its options")
    return ManifestError(tuple(problems)) if problems else manifest


def _unique(where: str, ids: list[str], problems: list[str]) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            problems.append(f"{where}: {value!r} is there twice")
        seen.add(value)


def agent_info(manifest: Manifest, bridge_version: str) -> JsonObject:
    """``initialize``'s ``agentInfo``: the VM's, or the bridge's own without one."""
    if manifest.agentInfo is None:
        return {"name": "acp-bridge", "title": "acp-bridge", "version": bridge_version}
    info = manifest.agentInfo.model_dump(exclude_none=True)
    info.setdefault("version", bridge_version)
    return info


def auth_methods(manifest: Manifest) -> list[JsonObject]:
    """``initialize``'s ``authMethods``: never empty (module docstring)."""
    if not manifest.authMethods:
        return [dict(LOCAL_AUTH_METHOD)]
    return [method.model_dump(exclude_none=True) for method in manifest.authMethods]


def session_modes(manifest: Manifest, current: str | None = None) -> JsonObject | None:
    """A session answer's ``modes``, with ``current`` as the current mode when given."""
    if manifest.modes is None:
        return None
    modes = manifest.modes.model_dump(exclude_none=True)
    if current is not None:
        modes["currentModeId"] = current
    return modes


def mode_option(manifest: Manifest) -> JsonObject | None:
    """The mode as a select option of category ``mode``, unless the manifest has one.

    Zed ignores ``modes`` once a session has config options, and some clients set only
    options, so the declared modes are offered both ways (:data:`MODE_OPTION_ID`).
    """
    if manifest.modes is None:
        return None
    if any(option.category == "mode" for option in manifest.configOptions):
        return None
    return {
        "type": "select",
        "id": MODE_OPTION_ID,
        "name": "Mode",
        "category": "mode",
        "currentValue": manifest.modes.currentModeId,
        "options": [
            mode.model_dump(exclude_none=True, include={"name", "description"}) | {"value": mode.id}
            for mode in manifest.modes.availableModes
        ],
    }


def config_options(
    manifest: Manifest, values: dict[str, str | bool] | None = None
) -> list[JsonObject]:
    """The complete option list, with ``values`` as the current values where given.

    The declared options in order, then the mode as an option (:func:`mode_option`).
    """
    chosen = values or {}
    options = [option.model_dump(exclude_none=True) for option in manifest.configOptions]
    mode = mode_option(manifest)
    if mode is not None:
        options.append(mode)
    for option in options:
        if option["id"] in chosen:
            option["currentValue"] = chosen[option["id"]]
    return options


def available_commands(manifest: Manifest) -> list[JsonObject]:
    """``available_commands_update``'s ``availableCommands``."""
    return [command.model_dump(exclude_none=True) for command in manifest.commands]


DEFAULT_MANIFEST: Final = Manifest()
_OPTIONS: Final = TypeAdapter(list[ConfigOption])
