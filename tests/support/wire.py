"""Outbox entries and notification dicts, both ways, for tests that look inside messages.

The bridge never turns a notification back into a dict: the translator makes outbox entries
(a finished line, or a plain text chunk as a :class:`Chunk`). Tests that assert on what a
notification says decode the entries with :func:`notes`; tests that start from dicts make
entries of them with :func:`outgoing`, which recognises a plain text chunk as the
translator would have made it (:func:`mergeable`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from acp_bridge.acp.coalesce import MERGEABLE_KINDS, Chunk, Outgoing, wire
from acp_bridge.jsonrpc import messages as jsonrpc

if TYPE_CHECKING:
    from collections.abc import Iterable


def notes(entries: Iterable[Outgoing]) -> list[Any]:
    """The notifications outbox entries carry, decoded from their wire lines."""
    return [orjson.loads(wire(entry)) for entry in entries]


def mergeable(notification: Any) -> Chunk | None:
    """The :class:`Chunk` of a plain text-chunk notification; ``None`` for anything else."""
    if not isinstance(notification, dict) or notification.get("method") != "session/update":
        return None
    params = notification.get("params")
    if not isinstance(params, dict) or params.keys() != {"sessionId", "update"}:
        return None
    update = params["update"]
    if not isinstance(update, dict) or update.keys() != {"sessionUpdate", "content"}:
        return None
    content = update["content"]
    if (
        update["sessionUpdate"] not in MERGEABLE_KINDS
        or not isinstance(content, dict)
        or content.keys() != {"type", "text"}
        or content["type"] != "text"
        or not isinstance(content["text"], str)
        or not isinstance(params["sessionId"], str)
    ):
        return None
    return Chunk(params["sessionId"], update["sessionUpdate"], content["text"])


def outgoing(notification: Any) -> Outgoing:
    """A notification dict as the outbox takes it: a plain text chunk stays a :class:`Chunk`."""
    chunk = mergeable(notification)
    return chunk if chunk is not None else jsonrpc.encode(notification)
