"""Merging queued text chunks for an editor that reads slower than the VM writes.

When the editor falls behind, the outbox holds many ``session/update`` notifications at
once. Consecutive plain text chunks of the same kind and session (the bulk of a streamed
answer) say nothing that one chunk with their concatenated text would not, so at flush
time they are merged: the editor gets fewer, larger updates instead of a growing queue.
Only plain chunks merge (no ``_meta``, no message id, text content only); anything else
between two chunks keeps them apart, so order is never changed. The event log is not
involved: it keeps every raw event.

Rule: pure functions only; no I/O.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

MERGEABLE_KINDS: Final = frozenset({"agent_message_chunk", "agent_thought_chunk"})

# The wire form of a plain chunk, cut around its three variable parts: what
# ``jsonrpc.encode`` makes of the same notification, without building the dicts.
_HEAD: Final = b'{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":'
_KIND: Final = {
    kind: b',"update":{"sessionUpdate":"' + kind.encode() + b'","content":{"type":"text","text":'
    for kind in MERGEABLE_KINDS
}
_TAIL: Final = b"}}}}\n"


class Chunk(NamedTuple):
    """A notification that may merge with its neighbours: whose, what kind, its text."""

    session_id: str
    kind: str
    text: str


def new_chunk(session_id: str, kind: str, text: str) -> Chunk:
    """``Chunk(session_id, kind, text)``, at half the cost (the hot path makes many)."""
    return tuple.__new__(Chunk, (session_id, kind, text))


#: The line up to the text, by (session id, kind): a session's chunks share it.
_HEADS: dict[tuple[str, str], bytes] = {}
_HEADS_MAX: Final = 1024


def chunk_line(chunk: Chunk) -> bytes:
    """The wire line of a plain text chunk (byte for byte what ``jsonrpc.encode`` gives)."""
    head = _HEADS.get(chunk[:2])
    if head is None:
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        head = _HEADS[chunk[:2]] = _HEAD + orjson.dumps(chunk.session_id) + _KIND[chunk.kind]
    return head + orjson.dumps(chunk.text) + _TAIL


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


def _merged_line(first: Chunk, texts: list[str]) -> bytes:
    return chunk_line(Chunk(first.session_id, first.kind, "".join(texts)))


def coalesce(entries: list[tuple[bytes, Chunk | None]]) -> tuple[list[bytes], int]:
    """Merge runs of consecutive mergeable chunks; return the lines and how many merged away."""
    out: list[bytes] = []
    merged_away = 0
    run: list[tuple[bytes, Chunk]] = []

    def flush() -> None:
        nonlocal merged_away
        if len(run) == 1:
            out.append(run[0][0])
        elif run:
            out.append(_merged_line(run[0][1], [chunk.text for _, chunk in run]))
            merged_away += len(run) - 1
        run.clear()

    for line, chunk in entries:
        if (
            chunk is not None
            and run
            and ((chunk.session_id, chunk.kind) == (run[0][1].session_id, run[0][1].kind))
        ):
            run.append((line, chunk))
            continue
        flush()
        if chunk is None:
            out.append(line)
        else:
            run.append((line, chunk))
    flush()
    return out, merged_away
