"""Harn's own shapes: what the translator sends for what ACP has no update or field for.

Harn's extension variants (``skill_*``, ``tool_search_*``, ``transcript_compacted``,
``handoff``, ``fs_watch``, ``worker_update``) have no ACP update; Harn's own ACP adapter
sends them as ``session/update``s of its own shape, which :func:`harn_extension_update`
makes exactly: top-level keys in camelCase, nested values as the VM wrote them, plus the
two fields Harn derives (``handoffId``, ``terminal``). By default they travel in the
extension notification :data:`HARN_UPDATE_METHOD`, and Harn's extra fields on standard
updates under ``_meta.harn`` (:data:`HARN_META_KEY`); the translator decides which.

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from acp_bridge.vm.events import encode_event

if TYPE_CHECKING:
    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.vm.events import AgentEvent, ToolCallUpdate

#: The extension notification that carries Harn's own update shapes by default.
HARN_UPDATE_METHOD: Final = "_harn/session_update"
#: The ``_meta`` key under which Harn's extra fields travel on standard updates.
HARN_META_KEY: Final = "harn"

EXTENSION_UPDATE_TYPES: Final = (
    "skill_activated",
    "skill_deactivated",
    "skill_scope_tools",
    "tool_search_query",
    "tool_search_result",
    "transcript_compacted",
    "handoff",
    "fs_watch",
    "worker_update",
)
WORKER_TERMINAL_STATUSES: Final = frozenset({"completed", "failed", "cancelled"})


def camel(name: str) -> str:
    """``estimated_tokens_before`` -> ``estimatedTokensBefore``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def encode_event_part(model: Any) -> JsonObject:
    """Dump a nested event model exactly as it was received."""
    dumped: JsonObject = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return dumped


def dump_part(model: Any) -> Any:
    """:func:`encode_event_part`, or ``None`` for a part the event does not have."""
    return None if model is None else encode_event_part(model)


def harn_executor(event: ToolCallUpdate) -> Any:
    """Harn writes a builtin executor as a bare string and others as camelCase objects."""
    executor = event.executor
    if executor is None:
        return None
    fields = encode_event_part(executor)
    if set(fields) == {"kind"} and fields["kind"] == "harn_builtin":
        return "harn_builtin"
    return {camel(key): value for key, value in fields.items()}


def harn_extension_update(event: AgentEvent) -> JsonObject:
    """Harn's own ``session/update`` shape for an extension variant.

    Top-level keys become camelCase, nested values stay exactly as the VM wrote them, and
    the two derived fields Harn adds are filled in: ``handoffId`` first, ``terminal`` last.
    """
    raw = encode_event(event)
    kind = raw["type"]
    update: JsonObject = {"sessionUpdate": kind}
    if kind == "handoff":
        update["handoffId"] = (raw.get("handoff") or {}).get("id")
    for key, value in raw.items():
        if key not in ("type", "session_id"):
            update[camel(key)] = value
    if kind == "worker_update":
        update["terminal"] = raw.get("status") in WORKER_TERMINAL_STATUSES
    return update
