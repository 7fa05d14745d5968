"""ACP params the bridge receives from the editor, validated at the edge.

Unknown keys are ignored (newer clients may send more); missing or wrong-typed required
fields become ``-32602 Invalid params`` naming the field.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc.messages import INVALID_PARAMS


def _absolute(value: str) -> str:
    if not posixpath.isabs(value):
        raise ValueError("must be an absolute path")
    return value


#: ACP's paths are absolute; a relative ``cwd`` is invalid params.
AbsolutePath = Annotated[str, AfterValidator(_absolute)]
#: A list of absolute paths, where ``null`` means the empty list (as ACP says it does).
AbsolutePaths = Annotated[
    list[AbsolutePath], BeforeValidator(lambda value: [] if value is None else value)
]


class Inbound(BaseModel):
    """Base of inbound params: camelCase on the wire, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class InitializeParams(Inbound):
    """``initialize``."""

    protocol_version: int = Field(alias="protocolVersion")
    client_capabilities: dict[str, Any] = Field(default_factory=dict, alias="clientCapabilities")
    client_info: dict[str, Any] | None = Field(default=None, alias="clientInfo")


class AuthenticateParams(Inbound):
    """``authenticate``."""

    method_id: str = Field(alias="methodId")


class SetModeParams(Inbound):
    """``session/set_mode``."""

    session_id: str = Field(alias="sessionId")
    mode_id: str = Field(alias="modeId")


class SetModelParams(Inbound):
    """``session/set_model`` (legacy, unstable in ACP v1)."""

    session_id: str = Field(alias="sessionId")
    model_id: str = Field(alias="modelId")


class SetConfigOptionParams(Inbound):
    """``session/set_config_option``: ``value`` a value id, or a boolean with ``type``."""

    session_id: str = Field(alias="sessionId")
    config_id: str = Field(alias="configId")
    value: str | bool
    type: str | None = None


class NewSessionParams(Inbound):
    """``session/new``."""

    cwd: AbsolutePath
    mcp_servers: list[dict[str, Any]] = Field(alias="mcpServers")
    additional_directories: AbsolutePaths = Field(
        default_factory=list, alias="additionalDirectories"
    )


class PromptParams(Inbound):
    """``session/prompt``."""

    session_id: str = Field(alias="sessionId")
    prompt: list[dict[str, Any]]


class SessionIdParams(Inbound):
    """``session/cancel`` and other calls that name only a session."""

    session_id: str = Field(alias="sessionId")


class CancelRequestParams(Inbound):
    """``$/cancel_request``."""

    request_id: int | str = Field(alias="requestId")


M = TypeVar("M", bound=Inbound)


def parse_params(model: type[M], params: dict[str, Any]) -> M:
    """Validate ``params`` as ``model``.

    Raises:
        RpcError: ``-32602`` naming the first bad field.
    """
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "params"
        raise RpcError(
            INVALID_PARAMS, f"Invalid params: {where}: {first['msg']}", {"field": where}
        ) from None


class LoadSessionParams(Inbound):
    """``session/load`` and ``session/resume`` (where ``mcpServers`` may be left out)."""

    session_id: str = Field(alias="sessionId")
    cwd: AbsolutePath
    mcp_servers: list[dict[str, Any]] = Field(default_factory=list, alias="mcpServers")
    additional_directories: AbsolutePaths = Field(
        default_factory=list, alias="additionalDirectories"
    )


class StrictLoadSessionParams(LoadSessionParams):
    """``session/load``: ``mcpServers`` is required."""

    mcp_servers: list[dict[str, Any]] = Field(alias="mcpServers")


class ListSessionsParams(Inbound):
    """``session/list``."""

    cwd: str | None = None
    cursor: str | None = None


#: Prompt blocks every VM takes (ACP's baseline), and the capability each other kind needs.
BASELINE_BLOCK_TYPES: Final = frozenset({"text", "resource_link"})
BLOCK_CAPABILITIES: Final = {"image": "image", "audio": "audio", "resource": "embeddedContext"}


def check_prompt(prompt: list[dict[str, Any]], capabilities: dict[str, bool]) -> None:
    """Refuse prompt blocks the bridge does not take or did not advertise.

    Raises:
        RpcError: -32602, naming the offending block.
    """
    for number, block in enumerate(prompt):
        kind = block.get("type")
        needs = BLOCK_CAPABILITIES.get(kind) if isinstance(kind, str) else None
        if kind not in BASELINE_BLOCK_TYPES and needs is None:
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: prompt.{number}: unsupported content type {kind!r}",
                {"field": f"prompt.{number}.type"},
            )
        if needs is not None and not capabilities.get(needs):
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: prompt.{number}: {kind!r} blocks were not advertised "
                f"(promptCapabilities.{needs} is false)",
                {"field": f"prompt.{number}.type"},
            )
        if kind == "text" and not isinstance(block.get("text"), str):
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: prompt.{number}.text must be a string",
                {"field": f"prompt.{number}.text"},
            )
