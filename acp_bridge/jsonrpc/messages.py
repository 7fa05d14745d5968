"""JSON-RPC 2.0 envelopes: classifying what arrives, building what leaves.

Rule: nothing in this module performs I/O. Every way an incoming line can be wrong maps to
exactly one :class:`Invalid` value carrying the error code JSON-RPC prescribes and the
request id when one could be read, so the caller answers it (or, for a notification or a
response, logs and counts it) without guessing.

Whatever is accepted can be written again: a message nested deeper than
:data:`MAX_NESTING_DEPTH` is refused, from the editor and from a VM alike (a request with
``-32602``; an answer becomes an error answer to the request it answers, so nothing waits
for it). That bound is the only way a parsed value can fail to encode: ``orjson`` reads
what it writes except nesting (it reads 1024 levels and writes 254), and it refuses at
parse time the other things it could not write (integers past 64 bits become floats,
lone surrogates and infinities are parse errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeGuard

import orjson

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
AUTH_REQUIRED: Final = -32000
RESOURCE_NOT_FOUND: Final = -32002
REQUEST_CANCELLED: Final = -32800

#: The deepest nesting of objects and arrays a message may have, the message itself being
#: level 1. Far below what ``orjson`` can write (254), so that the envelopes the bridge
#: puts around a peer's values (a prompt in the exec request, params in a log record, a
#: VM's params in a request to the editor) never take them past it; and serde_json's
#: default recursion limit, so no more than many editors could parse themselves.
MAX_NESTING_DEPTH: Final = 128

RequestId: TypeAlias = int | str
JsonObject: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Request:
    """A call that expects an answer."""

    id: RequestId
    method: str
    params: JsonObject | None
    raw: JsonObject


@dataclass(frozen=True, slots=True)
class Notification:
    """A call that must never be answered."""

    method: str
    params: JsonObject | None
    raw: JsonObject


@dataclass(frozen=True, slots=True)
class Response:
    """An answer to a request we sent (``error`` set, or ``result``).

    ``refused`` says why an answer that could not be taken as it came (nested too deep)
    was turned into the ``error`` it now carries; the receiver reports it.
    """

    id: RequestId | None
    result: Any
    error: JsonObject | None
    raw: JsonObject
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A message that cannot be processed.

    Attributes:
        code: The JSON-RPC error code to answer with.
        message: What is wrong.
        id: The request id, when one could be read; ``None`` answers with ``id: null``.
        answerable: False for things that must not be answered (a broken notification
            or response): log and count those instead.
    """

    code: int
    message: str
    id: RequestId | None = None
    answerable: bool = True


Message: TypeAlias = Request | Notification | Response | Invalid


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels deep.

    ``value`` itself is level 1 if it is an object or an array; scalars are level 0.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_deep() -> str:
    return f"nested deeper than {MAX_NESTING_DEPTH} levels"


def valid_id(value: Any) -> TypeGuard[RequestId]:
    """Whether ``value`` can be a request id: a string or an integer (not a bool)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def classify(value: Any) -> Message:
    """Classify one parsed JSON value as a JSON-RPC message."""
    if isinstance(value, list):
        return Invalid(INVALID_REQUEST, "batches are not supported by ACP")
    if not isinstance(value, dict):
        return Invalid(INVALID_REQUEST, f"a message must be an object, not {type(value).__name__}")
    msg_id = value.get("id")
    known_id = msg_id if valid_id(msg_id) else None
    if value.get("jsonrpc") != "2.0":
        return Invalid(INVALID_REQUEST, 'missing or wrong "jsonrpc" (must be "2.0")', known_id)
    if "method" in value:
        return _classify_call(value, known_id)
    if "result" in value or "error" in value:
        return _classify_response(value, known_id)
    return Invalid(INVALID_REQUEST, "neither a request, a notification nor a response", known_id)


def _classify_call(value: JsonObject, known_id: RequestId | None) -> Message:
    has_id = "id" in value
    method = value["method"]
    if not isinstance(method, str) or not method:
        return Invalid(
            INVALID_REQUEST, '"method" must be a non-empty string', known_id, answerable=has_id
        )
    params = value.get("params")
    if params is not None and not isinstance(params, dict):
        return Invalid(INVALID_PARAMS, '"params" must be an object', known_id, answerable=has_id)
    if has_id and known_id is None:
        return Invalid(INVALID_REQUEST, '"id" must be a string or an integer')
    if nested_deeper_than(value, MAX_NESTING_DEPTH):
        return Invalid(
            INVALID_PARAMS, f"Invalid params: {_too_deep()}", known_id, answerable=has_id
        )
    if known_id is None:
        return Notification(method, params, value)
    return Request(known_id, method, params, value)


def _classify_response(value: JsonObject, known_id: RequestId | None) -> Message:
    if "result" in value and "error" in value:
        return Invalid(INVALID_REQUEST, "a response has both result and error", answerable=False)
    error = value.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if "error" in value and not (isinstance(code, int) and not isinstance(code, bool)):
        return Invalid(INVALID_REQUEST, "malformed error object", answerable=False)
    if known_id is None and not (value.get("id") is None and "error" in value):
        return Invalid(INVALID_REQUEST, "a response needs a string or integer id", answerable=False)
    if nested_deeper_than(value, MAX_NESTING_DEPTH):
        why = f"the answer is {_too_deep()}"
        refusal = error_object(INVALID_REQUEST, f"Invalid Request: {why}; it was not taken")
        return Response(known_id, None, refusal, value, refused=why)
    return Response(known_id, value.get("result"), error, value)


def parse_line(line: bytes) -> Message:
    """Parse and classify one line (without its newline)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Invalid(PARSE_ERROR, f"Parse error: {exc}")
    return classify(value)


def error_object(code: int, message: str, data: Any = None) -> JsonObject:
    """A JSON-RPC error object."""
    error: JsonObject = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return error


def error_response(
    msg_id: RequestId | None, code: int, message: str, data: Any = None
) -> JsonObject:
    """A complete error response."""
    return {"jsonrpc": "2.0", "id": msg_id, "error": error_object(code, message, data)}


def result_response(msg_id: RequestId, result: Any) -> JsonObject:
    """A complete success response."""
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


def request(msg_id: RequestId, method: str, params: JsonObject) -> JsonObject:
    """A complete request."""
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}


def notification(method: str, params: JsonObject) -> JsonObject:
    """A complete notification."""
    return {"jsonrpc": "2.0", "method": method, "params": params}


def encode(message: Any) -> bytes:
    """One message as a wire line, newline included; ``orjson`` never emits raw newlines."""
    return orjson.dumps(message) + b"\n"
