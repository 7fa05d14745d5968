"""The subset of ACP v1 messages the bridge writes, as typed dictionaries.

Why ``TypedDict`` and not pydantic models here: these shapes are built once per VM event
on the hot path and handed straight to ``orjson``; a ``TypedDict`` costs nothing at run
time while mypy still checks every key and value. Their correctness against the official
schema is not assumed: the test suite validates every message the bridge writes against
the pinned ACP JSON Schema with closed objects. Inbound messages (editor requests) are
parsed with pydantic at the server edge instead, where validation is the point.

Rule: nothing in this module performs I/O; it only names shapes and constants.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypeAlias, TypedDict, get_args

JsonObject: TypeAlias = dict[str, Any]

PROTOCOL_VERSION: Final = 1

ToolKind: TypeAlias = Literal[
    "read", "edit", "delete", "move", "search", "execute", "think", "fetch", "switch_mode", "other"
]
TOOL_KINDS: Final[frozenset[str]] = frozenset(get_args(ToolKind))

ToolCallStatus: TypeAlias = Literal["pending", "in_progress", "completed", "failed"]
TOOL_CALL_STATUSES: Final[frozenset[str]] = frozenset(get_args(ToolCallStatus))

PlanEntryPriority: TypeAlias = Literal["high", "medium", "low"]
PlanEntryStatus: TypeAlias = Literal["pending", "in_progress", "completed"]

StopReason: TypeAlias = Literal[
    "end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled"
]
STOP_REASONS: Final[frozenset[str]] = frozenset(get_args(StopReason))


class TextContent(TypedDict):
    """A text content block."""

    type: Literal["text"]
    text: str


# Prompt blocks (images, resources, links) are passed through unchanged from the editor,
# so a content block is either text we made or an object we were given.
ContentBlock: TypeAlias = TextContent | JsonObject


class ContentToolCallContent(TypedDict):
    """Tool output shown as a content block."""

    type: Literal["content"]
    content: ContentBlock


class DiffToolCallContent(TypedDict):
    """Tool output shown as a diff of one file."""

    type: Literal["diff"]
    path: str
    oldText: NotRequired[str | None]
    newText: str


class TerminalToolCallContent(TypedDict):
    """Tool output shown as an embedded terminal."""

    type: Literal["terminal"]
    terminalId: str


ToolCallContent: TypeAlias = ContentToolCallContent | DiffToolCallContent | TerminalToolCallContent


class ToolCallLocation(TypedDict):
    """A file a tool call touches."""

    path: str
    line: NotRequired[int]


class ContentChunkUpdate(TypedDict):
    """``user_message_chunk``, ``agent_message_chunk`` or ``agent_thought_chunk``."""

    sessionUpdate: Literal["user_message_chunk", "agent_message_chunk", "agent_thought_chunk"]
    content: ContentBlock
    _meta: NotRequired[JsonObject]


class ToolCallStart(TypedDict):
    """``tool_call``: a new tool call."""

    sessionUpdate: Literal["tool_call"]
    toolCallId: str
    title: str
    kind: ToolKind
    status: ToolCallStatus
    name: NotRequired[str]
    content: NotRequired[list[ToolCallContent]]
    locations: NotRequired[list[ToolCallLocation]]
    rawInput: NotRequired[Any]
    rawOutput: NotRequired[Any]
    _meta: NotRequired[JsonObject]


class ToolCallProgress(TypedDict):
    """``tool_call_update``: only the fields that changed."""

    sessionUpdate: Literal["tool_call_update"]
    toolCallId: str
    title: NotRequired[str]
    kind: NotRequired[ToolKind]
    status: NotRequired[ToolCallStatus]
    content: NotRequired[list[ToolCallContent]]
    locations: NotRequired[list[ToolCallLocation]]
    rawInput: NotRequired[Any]
    rawOutput: NotRequired[Any]
    _meta: NotRequired[JsonObject]


class PlanEntry(TypedDict):
    """One entry of a plan."""

    content: str
    priority: PlanEntryPriority
    status: PlanEntryStatus
    _meta: NotRequired[JsonObject]


class PlanUpdate(TypedDict):
    """``plan``: the complete current plan."""

    sessionUpdate: Literal["plan"]
    entries: list[PlanEntry]
    _meta: NotRequired[JsonObject]


# A session update the bridge writes. Harn's extension updates (sent top-level only to
# clients that opt in) are plain objects.
SessionUpdate: TypeAlias = (
    ContentChunkUpdate | ToolCallStart | ToolCallProgress | PlanUpdate | JsonObject
)


class SessionNotificationParams(TypedDict):
    """``session/update`` params."""

    sessionId: str
    update: SessionUpdate


class Notification(TypedDict):
    """A JSON-RPC notification from the bridge to the editor."""

    jsonrpc: Literal["2.0"]
    method: str
    params: JsonObject | SessionNotificationParams


SESSION_UPDATE: Final = "session/update"
