"""The persisted record: Harn's envelope around one event, encoded as one JSONL line.

Rule: nothing here performs I/O; ``encode_record`` and ``decode_record`` are pure.

A line is ``{"index": N, "emitted_at_ms": T, "frame_depth": D|null, ...event fields}``,
compact, with the envelope keys first, ending in a newline. The log stores any JSON
object as an event: VM AgentEvents (``agent_message_chunk``, ...) and the bridge's own
records (``type`` starting with ``acp_bridge.``, e.g. ``acp_bridge.prompt``).

Key conflicts: an event key equal to an envelope key must not override the envelope. Such
keys are escaped by prefixing ``_event_``; to keep this reversible, any key of the form
``(_event_)*<envelope key>`` gains one more prefix on encode and loses one on decode. So
``decode_record(encode_record(i, t, d, e)).event == e`` for every event, and a line written
by Harn (which has no ``_event_`` keys) reads unchanged.

Lines without envelope keys (a raw AgentEvent stream, one event per line) decode too, with
``index``/``emitted_at_ms``/``frame_depth`` set to ``None``.

Harn 0.10 adds ``execution_id`` (a string, or ``null`` outside an execution) to its
envelope. The bridge does not write it, but reads it as the envelope's, not the event's
(:attr:`LogRecord.execution_id`), and escapes an event key of that name like the others.

The bridge's own record types (the constants ending in ``_RECORD``) and the builders that
make them live here too, at the end of the module: every writer and reader of the log takes
them from this one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from collections.abc import Mapping

ENVELOPE_KEYS: Final = ("index", "emitted_at_ms", "frame_depth")
#: The envelope key Harn 0.10 writes after ``frame_depth``, read but never written here.
EXECUTION_ID_KEY: Final = "execution_id"
CONFLICT_PREFIX: Final = "_event_"
#: Prefix of every record type the bridge itself writes (the ``*_RECORD`` constants below).
BRIDGE_TYPE_PREFIX: Final = "acp_bridge."

_ESCAPED_KEY: Final = re.compile(
    r"\A(?:_event_)*(?:index|emitted_at_ms|frame_depth|execution_id)\Z"
)
_UNESCAPE_KEY: Final = re.compile(
    r"\A_event_((?:_event_)*(?:index|emitted_at_ms|frame_depth|execution_id))\Z"
)
_JSON_KINDS: Final[Mapping[type, str]] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


#: A record on its way into a log: the event and its frame depth.
PendingRecord = tuple["Mapping[str, Any]", int | None]


@dataclass(slots=True)
class LogRecord:
    """One decoded line; read-only by convention.

    Not frozen: a log holds millions of them, and a frozen dataclass costs twice as much to
    make.

    Attributes:
        index: Position in the session's log, or None for a line without an envelope.
        emitted_at_ms: Wall-clock milliseconds when the bridge received the event, or None.
        frame_depth: The VM's frame depth, or None.
        event: Every other key of the line (conflicting keys unescaped).
        execution_id: Harn's execution id (its 0.10 envelope), or None.
    """

    index: int | None
    emitted_at_ms: int | None
    frame_depth: int | None
    event: dict[str, Any]
    execution_id: Any = None


def is_bridge_record(event: Mapping[str, Any]) -> bool:
    """Tell whether an event is one of the bridge's own records (``acp_bridge.*`` type)."""
    kind = event.get("type")
    return isinstance(kind, str) and kind.startswith(BRIDGE_TYPE_PREFIX)


class _KeyShapes:
    """Whether any key of an event matches a pattern, remembered by key tuple.

    Events of one kind share their keys, so each shape is checked once, not each event.
    """

    __slots__ = ("_known", "_pattern")
    MAX_SHAPES: Final = 4096

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern
        self._known: dict[tuple[str, ...], bool] = {}

    def any_match(self, event: Mapping[str, Any]) -> bool:
        keys = tuple(event)
        known = self._known.get(keys)
        if known is None:
            # A non-str key raises TypeError here, as the docstring of encode_record says.
            known = any(self._pattern.match(key) is not None for key in keys)
            if len(self._known) >= self.MAX_SHAPES:
                self._known.clear()
            self._known[keys] = known
        return known


# Process-global caches, shared by every log and session in the process (and by threads:
# a lost or duplicated entry only costs a recheck). They hold key tuples only, never event
# values, and are capped at MAX_SHAPES each.
_TO_ESCAPE: Final = _KeyShapes(_ESCAPED_KEY)  # keys that must be escaped on encode
_ESCAPED: Final = _KeyShapes(_UNESCAPE_KEY)  # keys that were escaped, to undo on decode


def encode_record(
    index: int, emitted_at_ms: int, frame_depth: int | None, event: Mapping[str, Any]
) -> bytes:
    """Encode one record as a JSON line ending in a newline.

    Args:
        index: The record's index in its session.
        emitted_at_ms: Wall-clock milliseconds when the event was received.
        frame_depth: The VM's frame depth, if it sent one.
        event: A JSON-serialisable mapping with string keys.

    Returns:
        The line, envelope keys first, conflicting event keys escaped (module docstring).

    Raises:
        TypeError: The event is not JSON-serialisable by orjson (non-string key, an object
            orjson does not know, an integer beyond 64 bits, ...).
    """
    line: dict[str, Any] = {
        "index": index,
        "emitted_at_ms": emitted_at_ms,
        "frame_depth": frame_depth,
    }
    if _TO_ESCAPE.any_match(event):
        for key, value in event.items():
            line[CONFLICT_PREFIX + key if _ESCAPED_KEY.match(key) else key] = value
    else:
        line.update(event)
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


def decode_record(line: bytes) -> LogRecord:
    """Decode one line (with or without its trailing newline).

    Args:
        line: The raw bytes of the line.

    Returns:
        The record; envelope fields are None when the line has no envelope.

    Raises:
        ValueError: The line is empty, not JSON, not a JSON object, or has an envelope
            field of the wrong type; the message is the reason.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError("empty line" if not line.strip() else f"not JSON: {exc}") from exc
    if type(obj) is not dict:
        kind = _JSON_KINDS.get(type(obj), "value")
        raise ValueError(f"not a JSON object (a JSON {kind})")
    index = obj.pop("index", None)
    emitted_at_ms = obj.pop("emitted_at_ms", None)
    frame_depth = obj.pop("frame_depth", None)
    execution_id = obj.pop(EXECUTION_ID_KEY, None) if EXECUTION_ID_KEY in obj else None
    if not (  # the common case in one test; _check_envelope says what is wrong otherwise
        type(index) is int
        and index >= 0
        and type(emitted_at_ms) is int
        and (frame_depth is None or type(frame_depth) is int)
    ):
        _check_envelope(index=index, emitted_at_ms=emitted_at_ms, frame_depth=frame_depth)
    if _ESCAPED.any_match(obj):
        obj = {_unescape(key): value for key, value in obj.items()}
    return LogRecord(index, emitted_at_ms, frame_depth, obj, execution_id)


def _check_envelope(**fields: Any) -> None:
    """Raise ValueError for the first envelope field that is not an integer (or null)."""
    for key, value in fields.items():
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{key} is not an integer or null")  # noqa: TRY004 - bad data
        if key == "index" and value < 0:
            raise ValueError(f"{key} is below 0")


def _unescape(key: str) -> str:
    match = _UNESCAPE_KEY.match(key)
    return key if match is None else match.group(1)


# --------------------------------------------------------------------------- bridge records

#: A user's prompt, written when a turn starts: ``{"prompt": [ContentBlock, ...]}``.
PROMPT_RECORD: Final = "acp_bridge.prompt"
#: The end of a turn: ``{"stop_reason": StopReason | None}`` (``None``: the turn failed).
TURN_ENDED_RECORD: Final = "acp_bridge.turn_ended"
#: The start of a session, and each later load or resume of it:
#: ``{"cwd": str, "mcp_servers": [...], "additional_directories"?: [str, ...]}``.
SESSION_RECORD: Final = "acp_bridge.session"
#: The prompt was handed to the VM: its events belong to the turn from here.
VM_TURN_STARTED_RECORD: Final = "acp_bridge.vm_turn_started"
#: The VM answered the prompt (or was given up on): its later events were not forwarded.
VM_TURN_OVER_RECORD: Final = "acp_bridge.vm_turn_over"
#: A request a VM made of the editor through the bridge, with its answer:
#: ``{"method": str, "params": {...}, "result": ...}`` or ``{..., "error": ...}``.
EDITOR_CALL_RECORD: Final = "acp_bridge.editor_call"
#: A session's mode and option values after the editor changed one:
#: ``{"values": {option id: str | bool}}`` (``acp_bridge.core.choices``).
CHOICES_RECORD: Final = "acp_bridge.choices"
#: A VM line that was not an event object: ``{"raw": str, "reason": str}``, or ``raw_hex``
#: instead of ``raw`` for bytes that are not UTF-8.
UNDECODABLE_RECORD: Final = "acp_bridge.undecodable"


def session_record(
    session_id: str,
    cwd: str,
    mcp_servers: list[Any],
    additional_directories: list[str],
    title: str | None = None,
) -> dict[str, Any]:
    """The record that opens a session's log (and each later load or resume of it).

    ``title`` is the title the VM gave the session, when a restored one has one: written
    again here so that ``session/list`` finds it near the log's end.
    """
    record: dict[str, Any] = {
        "type": SESSION_RECORD,
        "session_id": session_id,
        "cwd": cwd,
        "mcp_servers": mcp_servers,
    }
    if additional_directories:
        record["additional_directories"] = additional_directories
    if title is not None:
        record["title"] = title
    return record


#: The AgentEvent that sets a session's title (``session/list`` shows the latest one).
SESSION_INFO_EVENT: Final = "session_info"


def vm_title(record: dict[str, Any]) -> str | None:
    """The title a record gives its session, on one line and shortened; else ``None``.

    A ``session_info`` event's, or a session record's (written on a load or resume).
    """
    if record.get("type") not in (SESSION_INFO_EVENT, SESSION_RECORD):
        return None
    title = record.get("title")
    if not isinstance(title, str):
        return None
    text = " ".join(title.split())
    if not text:
        return None
    return text if len(text) <= VM_TITLE_CHARS else text[: VM_TITLE_CHARS - 1] + "…"


#: The longest title a prompt gives its session (``session/list``, ``session_info_update``).
TITLE_CHARS: Final = 80
#: The longest title of a VM's that ``session/list`` shows.
VM_TITLE_CHARS: Final = 200


def prompt_title(blocks: Any) -> str | None:
    """A session's title from its first prompt: the first text, on one line, shortened."""
    if not isinstance(blocks, list):
        return None
    for block in blocks:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            text = " ".join(block["text"].split())
            if text:
                return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"
    return None


def prompt_record(session_id: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The record that starts a turn with the user's prompt."""
    return {"type": PROMPT_RECORD, "session_id": session_id, "prompt": blocks}


def turn_ended_record(session_id: str, stop_reason: str | None) -> dict[str, Any]:
    """The record that ends a turn (``stop_reason`` None: the turn failed)."""
    return {"type": TURN_ENDED_RECORD, "session_id": session_id, "stop_reason": stop_reason}


def vm_turn_record(session_id: str, *, started: bool) -> dict[str, Any]:
    """The record that marks where the VM's part of a turn starts or ends."""
    kind = VM_TURN_STARTED_RECORD if started else VM_TURN_OVER_RECORD
    return {"type": kind, "session_id": session_id}


def editor_call_record(
    session_id: str,
    method: str,
    params: Mapping[str, Any],
    *,
    result: Any = None,
    error: str | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of one request a VM made of the editor, and how it ended.

    Args:
        session_id: The ACP session the request was made in.
        method: The request's method.
        params: The params as sent to the editor.
        result: The answer (``null`` included), recorded when ``error`` is ``None``.
        error: Why there is no answer: ``"cancelled"``, ``"timeout"``, or the editor's
            error as ``{"code": int, "message": str}``.
    """
    record: dict[str, Any] = {
        "type": EDITOR_CALL_RECORD,
        "session_id": session_id,
        "method": method,
        "params": params,
    }
    if error is None:
        record["result"] = result
    else:
        record["error"] = error
    return record


def undecodable_record(session_id: str, raw: bytes, reason: str) -> dict[str, Any]:
    """The record that keeps a VM line which was not an event, byte for byte."""
    record: dict[str, Any] = {
        "type": UNDECODABLE_RECORD,
        "session_id": session_id,
        "reason": reason,
    }
    try:
        record["raw"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        record["raw_hex"] = raw.hex()
    return record
