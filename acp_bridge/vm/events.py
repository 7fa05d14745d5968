"""AgentEvent models: the 20 event variants an agent VM writes, one JSON object per line.

The shapes are Harn's serde shapes (snake_case keys, a ``type`` tag). Harn's compatibility
rule is that newer optional fields are omitted when empty while older optional ones are
written as ``null``, so every optional field here accepts both, and every model keeps keys
it does not know (``extra="allow"``). Decoding never raises: a line that is not an event,
an event of a type this version does not know, and an event whose fields have the wrong
types each decode to an explicit value, so that the caller can persist and count it.

Re-encoding (:func:`encode_event`) writes exactly the keys the input had, ``null`` where
the input said ``null`` and nothing where it said nothing, so a decoded event turns back
into the same JSON object.

This module is longer than the others on purpose: it is the vocabulary, one declarative
model per variant, and splitting the union across files would only scatter it.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

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


class ApprovalPolicy(EventModel):
    """The approval rules a mutation ran under."""

    auto_approve: list[str] | None = None
    auto_deny: list[str] | None = None
    require_approval: list[str] | None = None
    write_path_allowlist: list[str] | None = None


class MutationAudit(EventModel):
    """Which run and worker made a change, and under what policy."""

    session_id: str | None = None
    parent_session_id: str | None = None
    run_id: str | None = None
    worker_id: str | None = None
    execution_kind: str | None = None
    mutation_scope: str | None = None
    approval_policy: ApprovalPolicy | None = None


class PlanStep(EventModel):
    """One step of a plan, as a plan artifact or a bare entry list carries it."""

    id: str | None = None
    content: str
    status: str | None = None
    priority: str | None = None


class PlanApproval(EventModel):
    """The approval state of a plan artifact."""

    state: str | None = None


class PlanArtifact(EventModel):
    """Harn's ``plan_artifact``: a titled plan with steps and context."""

    artifact_type: str | None = Field(default=None, alias="_type")
    schema_version: str | None = None
    tool: str | None = None
    title: str | None = None
    summary: str | None = None
    steps: list[PlanStep] = Field(default_factory=list)
    assumptions: list[Any] | None = None
    open_questions: list[Any] | None = None
    verification_commands: list[str] | None = None
    approval: PlanApproval | None = None
    id: str | None = None


class TurnInfo(EventModel):
    """Summary of one VM turn."""

    tool_names: list[str] | None = None
    tool_count: int | None = None
    iteration: int | None = None
    failed: bool | None = None


class HandoffTarget(EventModel):
    """Who a handoff goes to: a persona or a human."""

    kind: str | None = None
    id: str | None = None
    label: str | None = None


class EvidenceRef(EventModel):
    """A pointer to evidence backing a handoff."""

    artifact_id: str | None = None
    kind: str | None = None
    label: str | None = None
    path: str | None = None
    uri: str | None = None


class HandoffArtifact(EventModel):
    """Harn's ``handoff_artifact``: work handed to another persona or a human."""

    artifact_type: str | None = Field(default=None, alias="_type")
    id: str | None = None
    parent_run_id: str | None = None
    source_persona: str | None = None
    target_persona_or_human: HandoffTarget | None = None
    task: str | None = None
    reason: str | None = None
    evidence_refs: list[EvidenceRef] | None = None
    files_or_entities_touched: list[str] | None = None
    open_questions: list[Any] | None = None
    blocked_on: list[Any] | None = None
    requested_capabilities: list[Any] | None = None
    allowed_side_effects: list[Any] | None = None
    budget_remaining: Any = None
    deadline_checkback: Any = None
    confidence: float | None = None
    receipt_links: list[Any] | None = None
    created_at: str | None = None
    metadata: dict[str, Any] | None = None


class FsWatchEvent(EventModel):
    """One file-system change seen by a watch subscription."""

    kind: str | None = None
    paths: list[str] | None = None
    relative_paths: list[str] | None = None
    raw_kind: str | None = None
    error: str | None = None


class WorkerMetadata(EventModel):
    """What a delegated worker was doing and when."""

    task: str | None = None
    mode: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    child_run_id: str | None = None
    error: str | None = None


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


class ToolCall(_Event):
    """A tool call was requested (possibly still streaming its input)."""

    type: Literal["tool_call"] = "tool_call"
    tool_call_id: str
    tool_name: str | None = None
    kind: str | None = None
    status: str | None = None
    raw_input: Any = None
    parsing: bool | None = None
    audit: MutationAudit | None = None


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
    executor: Executor | None = None
    error_category: str | None = None
    raw_input_partial: str | None = None
    audit: MutationAudit | None = None


class Plan(_Event):
    """The agent's plan: a Harn plan artifact or a bare list of entries."""

    type: Literal["plan"] = "plan"
    plan: PlanArtifact | list[PlanStep]


class TurnStart(_Event):
    """The VM began an iteration of its loop."""

    type: Literal["turn_start"] = "turn_start"
    iteration: int | None = None


class TurnEnd(_Event):
    """The VM finished an iteration of its loop."""

    type: Literal["turn_end"] = "turn_end"
    iteration: int | None = None
    turn_info: TurnInfo | None = None


class FeedbackInjected(_Event):
    """Feedback was added to the model's context."""

    type: Literal["feedback_injected"] = "feedback_injected"
    kind: str | None = None
    content: str | None = None


class BudgetExhausted(_Event):
    """The VM ran out of iterations; the turn ends with ``max_turn_requests``."""

    type: Literal["budget_exhausted"] = "budget_exhausted"
    max_iterations: int | None = None


class LoopStuck(_Event):
    """The VM detected that it is going round in circles; the turn ends."""

    type: Literal["loop_stuck"] = "loop_stuck"
    max_nudges: int | None = None
    last_iteration: int | None = None
    tail_excerpt: str | None = None


class DaemonWatchdogTripped(_Event):
    """A daemon's watchdog fired."""

    type: Literal["daemon_watchdog_tripped"] = "daemon_watchdog_tripped"
    attempts: int | None = None
    elapsed_ms: int | None = None


class SkillActivated(_Event):
    """A skill became active."""

    type: Literal["skill_activated"] = "skill_activated"
    skill_name: str
    iteration: int | None = None
    reason: str | None = None


class SkillDeactivated(_Event):
    """A skill stopped being active."""

    type: Literal["skill_deactivated"] = "skill_deactivated"
    skill_name: str
    iteration: int | None = None


class SkillScopeTools(_Event):
    """A skill narrowed the tools the model may use."""

    type: Literal["skill_scope_tools"] = "skill_scope_tools"
    skill_name: str
    allowed_tools: list[str] | None = None


class ToolSearchQuery(_Event):
    """The model searched for tools."""

    type: Literal["tool_search_query"] = "tool_search_query"
    tool_use_id: str | None = None
    name: str | None = None
    query: Any = None
    strategy: str | None = None
    mode: str | None = None


class ToolSearchResult(_Event):
    """Tools promoted by a tool search."""

    type: Literal["tool_search_result"] = "tool_search_result"
    tool_use_id: str | None = None
    promoted: list[str] | None = None
    strategy: str | None = None
    mode: str | None = None


class TranscriptCompacted(_Event):
    """Older messages were summarised to free context."""

    type: Literal["transcript_compacted"] = "transcript_compacted"
    mode: str | None = None
    strategy: str | None = None
    archived_messages: int | None = None
    estimated_tokens_before: int | None = None
    estimated_tokens_after: int | None = None
    snapshot_asset_id: str | None = None


class Handoff(_Event):
    """Work was handed to another persona or to a human."""

    type: Literal["handoff"] = "handoff"
    artifact_id: str | None = None
    handoff: HandoffArtifact


class FsWatch(_Event):
    """Files changed under a watch subscription."""

    type: Literal["fs_watch"] = "fs_watch"
    subscription_id: str | None = None
    events: list[FsWatchEvent] = Field(default_factory=list)


class WorkerUpdate(_Event):
    """A delegated worker changed state."""

    type: Literal["worker_update"] = "worker_update"
    worker_id: str
    worker_name: str | None = None
    worker_task: str | None = None
    worker_mode: str | None = None
    event: str | None = None
    status: str | None = None
    metadata: WorkerMetadata | None = None
    audit: MutationAudit | None = None


AgentEvent: TypeAlias = Annotated[
    AgentMessageChunk
    | AgentThoughtChunk
    | ToolCall
    | ToolCallUpdate
    | Plan
    | TurnStart
    | TurnEnd
    | FeedbackInjected
    | BudgetExhausted
    | LoopStuck
    | DaemonWatchdogTripped
    | SkillActivated
    | SkillDeactivated
    | SkillScopeTools
    | ToolSearchQuery
    | ToolSearchResult
    | TranscriptCompacted
    | Handoff
    | FsWatch
    | WorkerUpdate,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[AgentEvent] = TypeAdapter(
    AgentEvent, config=ConfigDict(defer_build=True)
)

#: Every AgentEvent ``type`` tag this version understands.
EVENT_TYPES: frozenset[str] = frozenset(
    model.model_fields["type"].default
    for model in (
        AgentMessageChunk,
        AgentThoughtChunk,
        ToolCall,
        ToolCallUpdate,
        Plan,
        TurnStart,
        TurnEnd,
        FeedbackInjected,
        BudgetExhausted,
        LoopStuck,
        DaemonWatchdogTripped,
        SkillActivated,
        SkillDeactivated,
        SkillScopeTools,
        ToolSearchQuery,
        ToolSearchResult,
        TranscriptCompacted,
        Handoff,
        FsWatch,
        WorkerUpdate,
    )
)


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
    where = ".".join(str(part) for part in first["loc"][1:]) or "(event)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def decode_event(data: JsonObject) -> AgentEvent | UnknownEvent | InvalidEvent:
    """Decode one event object.

    Args:
        data: The parsed JSON object (envelope keys of a log record already removed).

    Returns:
        The typed event, or an :class:`UnknownEvent` / :class:`InvalidEvent` value.
    """
    event_type = data.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        return UnknownEvent(type=str(event_type), data=data)
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return InvalidEvent(type=event_type, data=data, reason=_first_error(exc))


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
    schema = EVENT_ADAPTER.json_schema(mode="validation", by_alias=True)
    for name, definition in schema["$defs"].items():
        properties = definition.get("properties", {})
        type_tag = properties.get("type", {})
        if "const" in type_tag:
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
