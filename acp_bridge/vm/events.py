"""AgentEvent models: every event type an agent VM writes, one JSON object per line.

The vocabulary is data, in :mod:`acp_bridge.vm.catalog`: one entry per event type (89
Harn tags, old names included, and the bridge's own session-level ones). This module
turns each entry into a model: the few the translator reads field by field are written
out here (text chunks, ``user_message``, ``tool_call``, ``tool_call_update``, ``plan``,
and what a VM offers the editor: commands, mode, options, session info, usage, notices,
terminal output), every other one is built from its entry's fields (a
:class:`GenericEvent`), and a test holds the hand-written ones to their entries.

The shapes are Harn's serde shapes (snake_case keys, a ``type`` tag). Harn's compatibility
rule is that newer optional fields are omitted when empty while older optional ones are
written as ``null``, so every optional field here accepts both, and every model keeps keys
it does not know (``extra="allow"``). Decoding never raises: a line that is not an event,
an event of a type this version does not know, and an event whose fields have the wrong
types each decode to an explicit value, so that the caller can persist and count it.

Re-encoding (:func:`encode_event`) writes exactly the keys the input had, ``null`` where
the input said ``null`` and nothing where it said nothing, so a decoded event turns back
into the same JSON object.

This module is longer than the others on purpose: it is the vocabulary's code.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from acp_bridge.vm.catalog import CATALOGUE, ENVELOPE_KEYS, EventSpec, FieldSpec

JsonObject: TypeAlias = dict[str, Any]


class EventModel(BaseModel):
    """Base of every AgentEvent model and nested type: lenient about keys, exact on dump."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        # Build validators on first use, not at import: the bridge's cold start.
        defer_build=True,
    )


# --------------------------------------------------------------------------- nested types


class Executor(EventModel):
    """Where a tool ran: ``harn_builtin``, ``mcp_server`` (with ``server_name``), ..."""

    kind: str | None = None
    server_name: str | None = None


# --------------------------------------------------------------------------- the variants


class _Event(EventModel):
    session_id: str


class AgentMessageChunk(_Event):
    """A piece of the agent's reply text."""

    type: Literal["agent_message_chunk"] = "agent_message_chunk"
    content: str


class AgentThoughtChunk(_Event):
    """A piece of the agent's reasoning text."""

    type: Literal["agent_thought_chunk"] = "agent_thought_chunk"
    content: str


class UserMessage(_Event):
    """A user's message as the VM took it: ACP content blocks."""

    type: Literal["user_message"] = "user_message"
    message_id: str
    content: list[Any]


class ToolCall(_Event):
    """A tool call was requested (possibly still streaming its input)."""

    type: Literal["tool_call"] = "tool_call"
    tool_call_id: str
    tool_name: str | None = None
    kind: str | None = None
    status: str | None = None
    raw_input: Any = None
    parsing: bool | None = None
    audit: Any = None
    intent: str | None = None


class ToolCallUpdate(_Event):
    """Progress or the result of a tool call."""

    type: Literal["tool_call_update"] = "tool_call_update"
    tool_call_id: str
    tool_name: str | None = None
    status: str | None = None
    raw_output: Any = None
    error: str | None = None
    duration_ms: int | None = None
    execution_duration_ms: int | None = None
    error_category: str | None = None
    mutation_status: str | None = None
    changed_paths: list[str] | None = None
    data: Any = None
    health: Any = None
    executor: Executor | None = None
    parsing: bool | None = None
    raw_input: Any = None
    raw_input_partial: str | None = None
    audit: Any = None


class Plan(_Event):
    """The agent's plan: any JSON (Harn's ``serde_json::Value``), read leniently."""

    type: Literal["plan"] = "plan"
    plan: Any = None


class _Shape(BaseModel):
    """A nested shape ACP gives exactly: closed and strict, so a wrong one is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class CommandInput(_Shape):
    """What a command's argument is, shown as a hint."""

    hint: str


class Command(_Shape):
    """One slash command (ACP ``AvailableCommand``)."""

    name: Annotated[str, Field(min_length=1)]
    description: str
    input: CommandInput | None = None


class Cost(_Shape):
    """The session's cost so far (ACP ``Cost``)."""

    amount: int | float
    currency: Annotated[str, Field(min_length=1)]


class AvailableCommands(_Event):
    """The VM's slash commands, the complete list."""

    type: Literal["available_commands"] = "available_commands"
    commands: list[Command]


class ModeChanged(_Event):
    """The VM changed the session's mode."""

    type: Literal["mode_changed"] = "mode_changed"
    mode_id: Annotated[str, Field(min_length=1)]


class ConfigOptions(_Event):
    """The session's config options, the complete list (checked against ACP's shape later)."""

    type: Literal["config_options"] = "config_options"
    config_options: list[dict[str, Any]]


class SessionInfo(_Event):
    """The session's title and when it was last active."""

    type: Literal["session_info"] = "session_info"
    title: str | None = None
    updated_at: str | None = None


class Usage(_Event):
    """Tokens in context now, the context window, the session's cost so far."""

    type: Literal["usage"] = "usage"
    used: Annotated[int, Field(ge=0, strict=True)]
    size: Annotated[int, Field(ge=0, strict=True)]
    cost: Cost | None = None


class Notice(_Event):
    """Something the user should know."""

    type: Literal["notice"] = "notice"
    severity: Literal["info", "warning", "error"]
    title: Annotated[str, Field(min_length=1)]
    description: str | None = None


class TerminalOutput(_Event):
    """Output of a command the VM runs itself, for the tool call that runs it."""

    type: Literal["terminal_output"] = "terminal_output"
    tool_call_id: str
    terminal_id: str
    data: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    command: str | None = None
    cwd: str | None = None


class GenericEvent(_Event):
    """Base of the models built from the catalogue: every other AgentEvent type."""

    type: str


#: The hand-written models, by the name the catalogue gives them.
_HAND_WRITTEN: dict[str, type[EventModel]] = {
    model.__name__: model
    for model in (
        AgentMessageChunk,
        AgentThoughtChunk,
        UserMessage,
        ToolCall,
        ToolCallUpdate,
        Plan,
        AvailableCommands,
        ModeChanged,
        ConfigOptions,
        SessionInfo,
        Usage,
        Notice,
        TerminalOutput,
    )
}

_SHAPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "num": int | float,
    "bool": bool,
    "any": Any,
    "obj": dict[str, Any],
    "[str]": list[str],
    "[any]": list[Any],
}


def _class_name(tag: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in tag.split("_"))


def _field(spec: FieldSpec) -> tuple[Any, Any]:
    shape = _SHAPES[spec.shape]
    if spec.required:
        return (shape, ...)
    if spec.shape == "any":
        return (Any, None)
    return (shape | None, None)


def _build(spec: EventSpec) -> type[EventModel]:
    """The model of one catalogue entry: its tags, its fields, Harn's tolerance."""
    fields: dict[str, Any] = {"type": (Literal[spec.tags], spec.type)}
    for field_spec in spec.fields:
        name = field_spec.name
        annotation, default = _field(field_spec)
        if hasattr(BaseModel, name) or name.startswith("model_"):
            # A field named like a pydantic attribute keeps its wire name as an alias.
            fields[f"{name}_"] = (annotation, Field(default, alias=name))
        else:
            fields[name] = (annotation, default)
    model: type[EventModel] = create_model(
        _class_name(spec.type), __base__=GenericEvent, __doc__=spec.doc, **fields
    )
    return model


def _model(spec: EventSpec) -> type[EventModel]:
    if spec.model is not None:
        return _HAND_WRITTEN[spec.model]
    return _build(spec)


#: The model of each catalogue entry, by its ``type``.
MODELS: dict[str, type[EventModel]] = {spec.type: _model(spec) for spec in CATALOGUE}
#: The model of every tag, aliases included.
_BY_TAG: dict[str, type[EventModel]] = {
    tag: MODELS[spec.type] for spec in CATALOGUE for tag in spec.tags
}

#: What the translator sees: a hand-written model it reads, or a catalogue-built one.
AgentEvent: TypeAlias = (
    AgentMessageChunk
    | AgentThoughtChunk
    | UserMessage
    | ToolCall
    | ToolCallUpdate
    | Plan
    | AvailableCommands
    | ModeChanged
    | ConfigOptions
    | SessionInfo
    | Usage
    | Notice
    | TerminalOutput
    | GenericEvent
)

#: Every AgentEvent ``type`` tag this version understands (old names included).
EVENT_TYPES: frozenset[str] = frozenset(_BY_TAG)

# Catalogue-built models under the names the vocabulary had before the catalogue.
IterationStart = TurnStart = MODELS["iteration_start"]
IterationEnd = TurnEnd = MODELS["iteration_end"]
BudgetExhausted = MODELS["budget_exhausted"]
WorkerUpdate = MODELS["worker_update"]


def _union() -> TypeAdapter[Any]:
    models = tuple(dict.fromkeys(MODELS.values()))
    union: Any = Union[models]  # noqa: UP007 - a union of runtime classes
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


# --------------------------------------------------------------------------- decode results


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A JSON object whose ``type`` this version does not know: persist, count, skip."""

    type: str
    data: JsonObject


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """A known event type whose fields do not have the shapes the contract gives them."""

    type: str
    data: JsonObject
    reason: str


@dataclass(frozen=True, slots=True)
class NotAnEvent:
    """A line that is not a JSON object with a string ``type``."""

    raw: bytes
    reason: str


Decoded: TypeAlias = AgentEvent | UnknownEvent | InvalidEvent | NotAnEvent


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(event)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def decode_event(data: JsonObject) -> AgentEvent | UnknownEvent | InvalidEvent:
    """Decode one event object by its catalogue entry.

    Keys of Harn's log envelope (:data:`~acp_bridge.vm.catalog.ENVELOPE_KEYS`, e.g.
    ``execution_id``) are not part of the event: the model never holds them, so nothing
    translated from it can carry them (the log keeps the object as it came).

    Args:
        data: The parsed JSON object.

    Returns:
        The typed event, or an :class:`UnknownEvent` / :class:`InvalidEvent` value.
    """
    event_type = data.get("type")
    model = _BY_TAG.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        return UnknownEvent(type=str(event_type), data=data)
    fields = data
    if not ENVELOPE_KEYS.isdisjoint(data):
        fields = {key: value for key, value in data.items() if key not in ENVELOPE_KEYS}
    try:
        event: AgentEvent = model.model_validate(fields)  # type: ignore[assignment]
    except ValidationError as exc:
        return InvalidEvent(type=str(event_type), data=data, reason=_first_error(exc))
    return event


#: The types of the plain text chunks that may skip the full decoder.
TEXT_CHUNK_TYPES: frozenset[str] = frozenset({"agent_message_chunk", "agent_thought_chunk"})
_TEXT_CHUNK_KEYS: frozenset[str] = frozenset({"type", "session_id", "content"})


def is_plain_text_chunk(data: Any) -> bool:
    """Whether ``data`` is a text chunk with exactly its three keys, all strings.

    Such an object is a valid :class:`AgentMessageChunk` or :class:`AgentThoughtChunk` as it
    is: the hot paths (live and replay) skip the full decoder for it. Anything else, an
    extra key included, takes the decoder.
    """
    return (
        type(data) is dict
        and data.keys() == _TEXT_CHUNK_KEYS
        and data["type"] in TEXT_CHUNK_TYPES
        and type(data["content"]) is str
        and type(data["session_id"]) is str
    )


def is_rpc_message(value: JsonObject) -> bool:
    """Whether a parsed VM line is a JSON-RPC message rather than an event.

    A session-mode VM writes JSON-RPC too (answers, requests, ``session/event``
    notifications): an object with a ``jsonrpc`` key and no string ``type``. An object with
    a string ``type`` is an event, whatever else it carries.
    """
    return "jsonrpc" in value and not isinstance(value.get("type"), str)


def parse_object(line: bytes) -> JsonObject | NotAnEvent:
    """Parse one line into an event object (or a JSON-RPC message), or explain why not."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return NotAnEvent(raw=line, reason=f"not JSON: {exc}")
    return checked_object(line, value)


def checked_object(line: bytes, value: Any) -> JsonObject | NotAnEvent:
    """What :func:`parse_object` makes of ``line``, which parsed to ``value``."""
    if not isinstance(value, dict):
        return NotAnEvent(raw=line, reason=f"not a JSON object but {type(value).__name__}")
    if not isinstance(value.get("type"), str) and not is_rpc_message(value):
        return NotAnEvent(raw=line, reason="object has no string 'type'")
    return value


def decode_line(line: bytes) -> Decoded:
    """Decode one line of a VM's stdout (without its newline). Never raises."""
    parsed = parse_object(line)
    if isinstance(parsed, NotAnEvent):
        return parsed
    if is_rpc_message(parsed):
        return NotAnEvent(raw=line, reason="object has no string 'type'")
    return decode_event(parsed)


def encode_event(event: AgentEvent) -> JsonObject:
    """Turn a decoded event back into the JSON object it came from.

    Only keys present in the input are written (``null`` stays ``null``, absent stays
    absent) and unknown keys are kept, so ``encode_event(decode_event(x)) == x`` for every
    valid ``x``.
    """
    return event.model_dump(mode="json", exclude_unset=True, by_alias=True)


_SCHEMA_EXTRA: dict[str, JsonObject] = {}


def event_json_schema() -> JsonObject:
    """The JSON Schema of one AgentEvent line, generated from these models."""
    schema = _union().json_schema(mode="validation", by_alias=True)
    for name, definition in schema["$defs"].items():
        properties = definition.get("properties", {})
        type_tag = properties.get("type", {})
        if "const" in type_tag or "enum" in type_tag:
            # The tag has a Python default, but on the wire it is always present.
            type_tag.pop("default", None)
            definition["required"] = ["type", *definition.get("required", [])]
        if name in _SCHEMA_EXTRA:
            definition.update(_SCHEMA_EXTRA[name])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "AgentEvent"
    schema["description"] = (
        "One AgentEvent, the unit of the acp-bridge VM protocol: a JSON object with a "
        "snake_case 'type' tag. Unknown keys are allowed everywhere; optional fields may be "
        "omitted or null."
    )
    return schema
