"""Merging queued text chunks for an editor that reads slower than the VM writes.

When the editor falls behind, the outbox holds many ``session/update`` notifications at
once. Consecutive plain text chunks of the same kind and session (the bulk of a streamed
answer) say nothing that one chunk with their concatenated text would not, so at flush
time they are merged: the editor gets fewer, larger updates instead of a growing queue.
Only plain chunks merge (no ``_meta``, no message id, text content only); anything else
between two chunks keeps them apart, so order is never changed. The event log is not
involved: it keeps every raw event.

The translator knows which notifications are plain chunks: it hands those over as
:class:`Chunk` values and everything else as finished lines, so nothing here inspects a
notification.

Rule: pure functions only; no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Iterable

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


#: What the outbox holds: a finished wire line, or a plain text chunk not encoded yet (it
#: may still merge with its neighbours; :func:`wire` encodes it).
Outgoing: TypeAlias = "bytes | Chunk"
#: A chunk's line is its text plus this much, about (the template and a session id).
CHUNK_WIRE_OVERHEAD: Final = 160


def new_chunk(session_id: str, kind: str, text: str) -> Chunk:
    """``Chunk(session_id, kind, text)``, at half the cost (the hot path makes many)."""
    return tuple.__new__(Chunk, (session_id, kind, text))


#: The line up to the text, by (session id, kind): a session's chunks share it. A cache
#: shared by the whole process (all sessions, all bridges in it), bounded by ``_HEADS_MAX``.
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


def wire(entry: Outgoing) -> bytes:
    """The wire line of an outbox entry."""
    return entry if isinstance(entry, bytes) else chunk_line(entry)


def wire_size(entry: Outgoing) -> int:
    """About how many bytes an outbox entry takes on the wire (exact for a line)."""
    return len(entry) if isinstance(entry, bytes) else len(entry.text) + CHUNK_WIRE_OVERHEAD


def _run_line(first: Chunk, texts: list[str]) -> bytes:
    if len(texts) == 1:
        return chunk_line(first)
    return chunk_line(new_chunk(first.session_id, first.kind, "".join(texts)))


def coalesce(entries: Iterable[Outgoing]) -> tuple[list[bytes], int]:
    """Merge runs of consecutive chunks of one session and kind; encode everything.

    Returns:
        The wire lines, and how many chunks were merged into others.
    """
    out: list[bytes] = []
    merged_away = 0
    first: Chunk | None = None
    texts: list[str] = []
    for entry in entries:
        if (
            first is not None
            and not isinstance(entry, bytes)
            and entry.session_id == first.session_id
            and entry.kind == first.kind
        ):
            texts.append(entry.text)
            continue
        if first is not None:  # the run is over
            out.append(_run_line(first, texts))
            merged_away += len(texts) - 1
            first = None
        if isinstance(entry, bytes):
            out.append(entry)
        else:
            first, texts = entry, [entry.text]
    if first is not None:
        out.append(_run_line(first, texts))
        merged_away += len(texts) - 1
    return out, merged_away
