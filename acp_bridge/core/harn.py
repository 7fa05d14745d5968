"""Harn's own shapes: what the translator sends for what ACP has no update or field for.

Which event goes where is the catalogue's (:mod:`acp_bridge.vm.catalog`); the shapes are
made here, from the event's JSON object, by one rule per route:

* a Harn extension update (:attr:`~acp_bridge.vm.catalog.Acp.SESSION_UPDATE`):
  :func:`harn_extension_update`, the ``session/update`` shape of Harn's adapter since
  0.8.17: ``sessionUpdate`` and nothing else at the top level, the event's fields under
  ``_meta.harn`` in camelCase (nested values as the VM wrote them), with the two fields
  Harn derives (``handoffId``, ``terminal``). By default it travels in the extension
  notification :data:`HARN_UPDATE_METHOD`; in Harn mode as a ``session/update``;
* a loop milestone (:attr:`~acp_bridge.vm.catalog.Acp.AGENT_EVENT`):
  :func:`agent_event_params`, the params of Harn's extension notification
  :data:`HARN_AGENT_EVENT_METHOD` (sent in every mode: ACP clients ignore ``_`` methods
  they do not know): the payload in camelCase, then ``sessionId`` and ``kind``;
* Harn's extra fields on standard updates go under ``_meta.harn`` (:data:`HARN_META_KEY`),
  in every mode; in Harn mode an agent message's text block also carries Harn's visible
  text (:func:`visible_text_meta`) and a replayed update ``_meta.harn.replayed``
  (:data:`REPLAYED_KEY`).

Rule: nothing in this module performs I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from acp_bridge.vm.catalog import CATALOGUE, ENVELOPE_KEYS, Acp

if TYPE_CHECKING:
    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.vm.catalog import EventSpec
    from acp_bridge.vm.events import ToolCallUpdate

#: The extension notification that carries Harn's own update shapes by default.
HARN_UPDATE_METHOD: Final = "_harn/session_update"
#: Harn's extension notification for loop milestones (ACP ``ExtNotification``).
HARN_AGENT_EVENT_METHOD: Final = "_harn/agentEvent"
#: The ``_meta`` key under which Harn's extra fields travel on standard updates.
HARN_META_KEY: Final = "harn"

#: The ``sessionUpdate`` names of Harn's extension updates, from the catalogue.
EXTENSION_UPDATE_TYPES: Final = tuple(
    dict.fromkeys(spec.acp_name for spec in CATALOGUE if spec.acp is Acp.SESSION_UPDATE)
)
#: The ``kind``s of ``_harn/agentEvent``, from the catalogue.
AGENT_EVENT_KINDS: Final = tuple(
    dict.fromkeys(spec.acp_name for spec in CATALOGUE if spec.acp is Acp.AGENT_EVENT)
)
#: The ``_meta.harn`` fields a tool call or its update may carry (Harn's names).
TOOL_LIFECYCLE_FIELDS: Final = (
    "parsing",
    "audit",
    "intent",
    "durationMs",
    "executionDurationMs",
    "executor",
    "error",
    "errorCategory",
    "mutationStatus",
    "changedPaths",
    "data",
    "rawInputPartial",
)
#: The ``_meta.harn`` fields of an agent message's text block in Harn mode.
CONTENT_FIELDS: Final = ("visible_text", "visible_delta")
#: How Harn marks an update or extension notification sent again by ``session/load``.
REPLAYED_KEY: Final = "replayed"
#: What Harn's clients read to tell which contract an agent speaks, in the form of Harn's
#: own value (``agentclientprotocol/agent-client-protocol schema v0.12.2``) but naming the
#: schema the bridge's wire is checked against (``protocol/acp/schema.lock.json``: the v1
#: schema of ``@agentclientprotocol/sdk`` 2.4.0), not one it was never checked against;
#: the contract is Harn's published extension contract, whose shapes the bridge sends.
SCHEMA_COMPATIBILITY: Final = (
    "agentclientprotocol/agent-client-protocol schema v1 (@agentclientprotocol/sdk 2.4.0)"
)
EXTENSION_CONTRACT: Final = "https://harnlang.com/spec/harn-extensions/v1"
#: A worker status after which the worker does nothing more (``stopped``: a graceful
#: handoff, Harn's ``WorkerStopped``, terminal like the other three).
WORKER_TERMINAL_STATUSES: Final = frozenset({"completed", "failed", "cancelled", "stopped"})
#: Keys of an event object that are never part of what is forwarded.
NOT_FORWARDED: Final = frozenset({"type", "session_id"}) | ENVELOPE_KEYS
#: A payload key Harn's ``_harn/agentEvent`` would overwrite, and what it is sent as.
KIND_KEY: Final = ("kind", "eventKind")


def camel(name: str) -> str:
    """``estimated_tokens_before`` -> ``estimatedTokensBefore``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def encode_event_part(model: Any) -> JsonObject:
    """Dump a nested event model exactly as it was received."""
    dumped: JsonObject = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return dumped


def harn_executor(event: ToolCallUpdate) -> Any:
    """An executor as Harn sends it: a bare string, or a camelCase object with fields.

    Harn's executors without fields (``harn_builtin``, ``host_bridge``,
    ``provider_native``) are strings; one with fields (``mcp_server``) is an object.
    """
    executor = event.executor
    if executor is None:
        return None
    fields = encode_event_part(executor)
    if set(fields) == {"kind"} and isinstance(fields["kind"], str):
        return fields["kind"]
    return {camel(key): value for key, value in fields.items()}


def harn_extension_update(spec: EventSpec, raw: JsonObject, name: str | None = None) -> JsonObject:
    """Harn's ``session/update`` shape for an extension event (its JSON object).

    ``sessionUpdate`` (the entry's name, or ``name``) is the only top-level key; the
    event's fields are under ``_meta.harn``, their keys in camelCase, nested values exactly
    as the VM wrote them, with the two derived fields Harn adds: ``handoffId`` first,
    ``terminal`` last. A ``worker_update`` without an audit has none (Harn omits it). An
    entry that spreads a field lifts that object's keys beside the others; one that nests
    puts them all under its key (``_meta.harn.reminder``).
    """
    payload: JsonObject = {}
    if spec.type == "handoff":
        handoff = raw.get("handoff")
        payload["handoffId"] = handoff.get("id") if isinstance(handoff, dict) else None
    worker = spec.type == "worker_update"
    lifted = raw.get(spec.spread) if spec.spread is not None else None
    for key, value in raw.items():
        if key in NOT_FORWARDED or (worker and key == "audit" and value is None):
            continue
        if isinstance(lifted, dict) and key == spec.spread:
            for inner, inner_value in lifted.items():
                payload[camel(inner)] = inner_value
        else:
            payload[camel(key)] = value
    if worker:
        payload["terminal"] = raw.get("status") in WORKER_TERMINAL_STATUSES
    if spec.nest is not None:
        payload = {spec.nest: payload}
    return {"sessionUpdate": name or spec.acp_name, "_meta": {HARN_META_KEY: payload}}


def visible_text_meta(text: str) -> JsonObject:
    """The ``_meta`` of an agent message's text block in Harn mode.

    Harn's adapter sends each chunk's visible text (the chunk without what its sanitizer
    hides) as both ``visible_text`` and ``visible_delta``. The bridge sends a message
    chunk only for text outside ``<think>`` (the rest goes as thought chunks), so a
    chunk's visible text is its text.
    """
    return {HARN_META_KEY: dict.fromkeys(CONTENT_FIELDS, text)}


def agent_event_params(spec: EventSpec, raw: JsonObject, session_id: str) -> JsonObject:
    """The params of ``_harn/agentEvent`` for a loop milestone (its JSON object).

    The payload is the event's fields in camelCase (the keys the entry renames renamed;
    as written for a ``verbatim`` entry), or, for an entry that spreads a field, that
    field's object; ``sessionId`` and ``kind`` come last, as Harn inserts them. ``kind`` is
    the entry's name, or an old tag as the VM wrote it (Harn 0.8.17 sent ``turn_start``
    where Harn 0.10 sends ``iteration_start``).
    """
    if spec.spread is not None:
        value = raw.get(spec.spread)
        source: JsonObject = value if isinstance(value, dict) else {spec.spread: value}
    else:
        source = {key: value for key, value in raw.items() if key not in NOT_FORWARDED}
    renames = dict(spec.renames)
    params: JsonObject = {}
    for key, value in source.items():
        name = renames.get(key) or (key if spec.verbatim else camel(key))
        params[KIND_KEY[1] if name == KIND_KEY[0] else name] = value
    params["sessionId"] = session_id
    written = raw.get("type")
    params["kind"] = written if written in spec.aliases else spec.acp_name
    return params


def harn_capabilities(top_level: bool) -> JsonObject:
    """What ``initialize`` advertises under ``agentCapabilities._meta.harn``.

    The keys Harn's own clients read (``schemaCompatibility``, ``extensionContract``,
    ``sessionUpdateExtensions``, ``toolLifecycleExtensionFields``,
    ``contentExtensionFields``, ``extensionMethods``) beside the bridge's own
    (``extensionMethod``, ``updates``, ``metaKey``, ``topLevelUpdates``).
    ``_harn/agentEvent`` is sent in every mode; ``_harn/session_update`` only by default
    (Harn mode sends those updates as ``session/update``), and the text block's visible
    text only in Harn mode.

    Args:
        top_level: Whether this client gets Harn's top-level shapes (Harn mode).
    """
    methods: JsonObject = {HARN_AGENT_EVENT_METHOD: {"kinds": list(AGENT_EVENT_KINDS)}}
    if not top_level:
        methods[HARN_UPDATE_METHOD] = {"updates": list(EXTENSION_UPDATE_TYPES)}
    return {
        "schemaCompatibility": SCHEMA_COMPATIBILITY,
        "extensionContract": EXTENSION_CONTRACT,
        "extensionMethod": HARN_UPDATE_METHOD,
        "updates": list(EXTENSION_UPDATE_TYPES),
        "metaKey": HARN_META_KEY,
        "topLevelUpdates": top_level,
        "sessionUpdateExtensions": list(EXTENSION_UPDATE_TYPES),
        "toolLifecycleExtensionFields": list(TOOL_LIFECYCLE_FIELDS),
        "contentExtensionFields": list(CONTENT_FIELDS) if top_level else [],
        "extensionMethods": methods,
    }
