"""Strict ACP v1 validation for the tests, against the pinned official JSON Schema.

The schema is ``schema/v1/schema.json`` from the npm package pinned in
``protocol/acp/schema.lock.json``; ``protocol/acp/fetch_schema.py`` fetches and verifies it.
A missing schema is an error, never a reason to skip a test.

The official schema never closes its objects, so unknown keys pass it. ``close_schema`` builds a
*closed* copy: every object schema that declares ``properties`` gets
``unevaluatedProperties: false`` (``_meta`` values and ``additionalProperties`` objects stay
open). Tagged unions such as ``SessionUpdate`` are written as wrappers::

    {"type": "object", "properties": {"sessionUpdate": {"const": "tool_call"}},
     "required": ["sessionUpdate"], "allOf": [{"$ref": "#/$defs/ToolCall"}]}

Closing ``ToolCall`` itself would reject the ``sessionUpdate`` tag, so every definition also gets
an open twin (``ToolCall__open``). Subschemas applied *in place* by a schema that declares its own
properties (its ``allOf``/``anyOf``/``oneOf``/``$ref``...) use the open twins, and that schema is
closed instead: ``unevaluatedProperties`` sees the annotations of successful in-place subschemas.
Everything at a new instance location (``properties``, ``items``...) uses the closed originals,
so ``RequestPermissionRequest.toolCall`` still gets a closed ``ToolCallUpdate``.

``StrictAcp`` picks the type of each message by the ``x-method``/``x-side`` tags of ``$defs``
(it never validates against the root ``anyOf``), and ``TranscriptChecker`` adds the stateful
checks over a whole two-way transcript.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeGuard

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import ModuleType

    from jsonschema.exceptions import ValidationError

TESTS_DIR: Final = Path(__file__).resolve().parent.parent
REPO_ROOT: Final = TESTS_DIR.parent
FETCH_SCRIPT: Final = REPO_ROOT / "protocol" / "acp" / "fetch_schema.py"
LOCK_FILE: Final = REPO_ROOT / "protocol" / "acp" / "schema.lock.json"

SCHEMA_URI: Final = "urn:acp-bridge:acp-schema:v1"
OPEN_SUFFIX: Final = "__open"
DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"

Side = Literal["agent", "client"]
RequestId = int | str

#: ``session/update`` kinds that belong to a prompt turn (or to a ``session/load`` replay).
TURN_UPDATES: Final = frozenset(
    {"agent_message_chunk", "agent_thought_chunk", "tool_call", "tool_call_update", "plan"}
)
#: Methods whose successful response makes a session id known to the client.
SESSION_OPENERS: Final = frozenset({"session/new", "session/load", "session/resume"})

_INT64: Final = (-(2**63), 2**63 - 1)
_INT_FORMATS: Final = {
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": _INT64,
}
_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_MAX_MESSAGE: Final = 600

_NOTIFICATION_KEYS: Final = frozenset({"jsonrpc", "method", "params"})
_REQUEST_KEYS: Final = _NOTIFICATION_KEYS | {"id"}
_RESPONSE_KEYS: Final = frozenset({"jsonrpc", "id", "result", "error"})


# --------------------------------------------------------------------------- loading


@functools.cache
def _fetch_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("acp_fetch_schema", FETCH_SCRIPT)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {FETCH_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_lock() -> dict[str, str]:
    """Return the entries of ``protocol/acp/schema.lock.json``."""
    loader: Callable[[], dict[str, str]] = _fetch_module().load_lock
    return loader()


@functools.cache
def schema_file() -> Path:
    """Return the path of the verified pinned schema, fetching it with npm when missing.

    Raises:
        RuntimeError: The schema could not be provided (the message says why).
    """
    ensure: Callable[[], Path] = _fetch_module().ensure_schema
    try:
        return ensure()
    except (RuntimeError, OSError) as exc:
        raise RuntimeError(
            f"the pinned ACP JSON Schema is unavailable: {exc} "
            f"(run `python {FETCH_SCRIPT.relative_to(REPO_ROOT)}` to see the problem)"
        ) from exc


@functools.cache
def _schema_text() -> str:
    return schema_file().read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """Return (a fresh copy of) the official, unmodified ACP v1 JSON Schema.

    Raises:
        RuntimeError: The schema could not be provided (never a reason to skip a test).
        TypeError: The verified file is not a schema with ``$defs`` (a bad lock entry).
    """
    schema = json.loads(_schema_text())
    if not isinstance(schema, dict) or not isinstance(schema.get("$defs"), dict):
        raise TypeError(f"{schema_file()} is not an ACP JSON Schema with $defs")
    return schema


# --------------------------------------------------------------------------- closing

_IN_PLACE_LISTS: Final = ("allOf", "anyOf", "oneOf")
_IN_PLACE_SINGLE: Final = ("if", "then", "else")
_CHILD_SINGLE: Final = (
    "additionalProperties",
    "unevaluatedProperties",
    "items",
    "unevaluatedItems",
    "contains",
    "propertyNames",
)
_CHILD_MAPS: Final = ("properties", "patternProperties")


def _ref_target(ref: str, *, open_: bool) -> str:
    if open_ and ref.startswith("#/$defs/") and "/" not in ref[len("#/$defs/") :]:
        return ref + OPEN_SUFFIX
    return ref


def _conjuncts(node: Mapping[str, Any]) -> int:
    """Count the in-place subschemas that must hold together (each ``allOf`` item counts)."""
    count = len(node.get("allOf", ()))
    count += sum(1 for key in ("$ref", "anyOf", "oneOf", "if", "dependentSchemas") if key in node)
    return count


def _transform(node: Any, *, open_: bool) -> Any:
    """Return the closed (or, with ``open_``, open) variant of one subschema."""
    if not isinstance(node, dict):
        return node
    declares = "properties" in node or "patternProperties" in node
    combines = declares or _conjuncts(node) > 1
    child_open = open_ or combines
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _ref_target(value, open_=child_open)
        elif key in _IN_PLACE_LISTS and isinstance(value, list):
            out[key] = [_transform(item, open_=child_open) for item in value]
        elif key in _IN_PLACE_SINGLE:
            out[key] = _transform(value, open_=child_open)
        elif key == "dependentSchemas" and isinstance(value, dict):
            out[key] = {name: _transform(item, open_=child_open) for name, item in value.items()}
        elif key == "not":
            # A negation contributes no annotations; closing inside it would invert its meaning.
            out[key] = _transform(value, open_=True)
        elif key in _CHILD_MAPS and isinstance(value, dict):
            out[key] = {name: _transform(item, open_=False) for name, item in value.items()}
        elif key in _CHILD_SINGLE:
            out[key] = _transform(value, open_=False)
        elif key == "prefixItems" and isinstance(value, list):
            out[key] = [_transform(item, open_=False) for item in value]
        else:
            out[key] = copy.deepcopy(value)
    if (
        not open_
        and combines
        and "additionalProperties" not in node
        and "unevaluatedProperties" not in node
    ):
        out["unevaluatedProperties"] = False
    return out


def close_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Build the closed variant of the ACP schema (see the module docstring).

    Every ``$defs`` entry ``X`` becomes closed, and an open twin ``X__open`` is added for use in
    place under schemas that declare their own properties. The root ``anyOf`` is dropped: messages
    are validated against the tagged definitions only.

    Args:
        schema: The official schema, as returned by ``load_schema``.

    Returns:
        A new schema document with ``$id`` ``SCHEMA_URI``.

    Raises:
        TypeError: The document has no ``$defs``.
        ValueError: The ``$defs`` already use the open-twin suffix.
    """
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        raise TypeError("the schema has no $defs")
    clashes = [name for name in defs if name.endswith(OPEN_SUFFIX)]
    if clashes:
        raise ValueError(f"$defs already use the suffix {OPEN_SUFFIX}: {clashes}")
    closed: dict[str, Any] = {}
    for name, sub in defs.items():
        closed[name] = _transform(sub, open_=False)
        closed[name + OPEN_SUFFIX] = _transform(sub, open_=True)
    return {"$schema": schema.get("$schema", DRAFT_2020_12), "$id": SCHEMA_URI, "$defs": closed}


# --------------------------------------------------------------------------- formats


def _int_format(low: int, high: int) -> Callable[[object], bool]:
    def check(instance: object) -> bool:
        if isinstance(instance, bool) or not isinstance(instance, int):
            return True
        return low <= instance <= high

    return check


def _double(instance: object) -> bool:
    return not isinstance(instance, float) or math.isfinite(instance)


def _uri(instance: object) -> bool:
    return not isinstance(instance, str) or _URI.fullmatch(instance) is not None


def _format_checker() -> Any:
    checker = FormatChecker(formats=())
    for name, (low, high) in _INT_FORMATS.items():
        checker.checks(name)(_int_format(low, high))
    checker.checks("double")(_double)
    checker.checks("float")(_double)
    checker.checks("uri")(_uri)
    return checker


# --------------------------------------------------------------------------- errors


def json_path(parts: Iterable[str | int], root: str = "$") -> str:
    """Render a JSON path such as ``$.params.update.content[0]``."""
    out = root
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _unevaluated_message(names: Iterable[str]) -> str:
    listed = sorted(names)
    verb = "was" if len(listed) == 1 else "were"
    return (
        f"Unevaluated properties are not allowed ({', '.join(map(repr, listed))} {verb} unexpected)"
    )


@dataclass(frozen=True)
class _Leaf:
    """One problem to report: where, what, and the schema error behind it (if it is one)."""

    path: tuple[str | int, ...]
    message: str
    error: Any = None


def _is_branch_mismatch(error: ValidationError) -> bool:
    """Whether a union branch failed on its tag or basic shape, so it was not the one meant."""
    depth = len(error.relative_path)
    if depth == 0:
        return bool(error.validator in {"type", "const", "enum", "not"})
    return depth == 1 and error.validator in {"const", "enum"}


def _tag_mismatch(errors: list[ValidationError]) -> tuple[str, object] | None:
    """The (property, expected value) of a failed discriminator ``const`` in one union branch."""
    for error in errors:
        rel = error.relative_path
        if error.validator == "const" and len(rel) == 1 and isinstance(rel[0], str):
            return rel[0], error.validator_value
    return None


def _explain(error: ValidationError, root: str) -> list[_Leaf]:
    """Turn one validation error into leaves, descending into the union branch that was meant."""
    path = tuple(error.absolute_path)
    if error.validator not in {"oneOf", "anyOf"} or not error.context:
        return [_Leaf(path, error.message, error)]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    consts = [
        errors[0].validator_value
        for errors in branches.values()
        if len(errors) == 1 and errors[0].validator == "const" and not errors[0].relative_path
    ]
    if len(consts) == len(branches):
        return [_Leaf(path, f"{error.instance!r} is not one of {consts!r}")]
    meant = [errors for errors in branches.values() if not any(map(_is_branch_mismatch, errors))]
    if len(meant) == 1:
        return [leaf for sub in meant[0] for leaf in _explain(sub, root)]
    if meant:
        closest = best_match(sub for errors in meant for sub in errors)
        note = f"closest: {json_path(closest.absolute_path, root)}: {closest.message}"
        return [_Leaf(path, f"matches no {error.validator} branch ({note})")]
    tags = [_tag_mismatch(errors) for errors in branches.values()]
    names = {tag[0] for tag in tags if tag is not None}
    if len(names) == 1 and None not in tags and isinstance(error.instance, dict):
        name = names.pop()
        if name in error.instance:
            allowed = [tag[1] for tag in tags if tag is not None]
            return [_Leaf((*path, name), f"{error.instance[name]!r} is not one of {allowed!r}")]
    noun = _a(_json_type(error.instance))
    return [_Leaf(path, f"{noun} that matches no {error.validator} branch")]


# --------------------------------------------------------------------------- StrictAcp


@dataclass(frozen=True)
class _Direction:
    """What one side may send: method name -> ``$defs`` type name."""

    sender: Side
    requests: dict[str, str]
    notifications: dict[str, str]
    results: dict[str, str]


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref[len("#/$defs/") :])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _is_request_id(value: object) -> TypeGuard[RequestId]:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return _INT64[0] <= value <= _INT64[1]
    return isinstance(value, str)


class StrictAcp:
    """Validates complete JSON-RPC messages against the closed ACP v1 schema.

    Every check returns a list of human-readable problems (``"<json path>: <message>"``), empty
    when the message is valid.
    """

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        """Build the closed schema and the method tables.

        Args:
            schema: The official schema; ``load_schema()`` when None.

        Raises:
            RuntimeError: The schema is unavailable or not shaped as expected.
        """
        official = dict(schema) if schema is not None else load_schema()
        self.official: dict[str, Any] = official
        self.closed: dict[str, Any] = close_schema(official)
        resource = DRAFT202012.create_resource(self.closed)
        self._registry: Any = Registry().with_resource(SCHEMA_URI, resource)
        self._formats: Any = _format_checker()
        self._validators: dict[str, Any] = {}
        defs: dict[str, Any] = official["$defs"]
        protocol = self._table(defs, official.get("anyOf", []), None, "protocol")
        self.agent = _Direction(
            sender="agent",
            requests=self._table(defs, defs["AgentRequest"], "client", "agent requests"),
            notifications={
                **self._table(defs, defs["AgentNotification"], "client", "agent notifications"),
                **protocol,
            },
            results=self._table(defs, defs["AgentResponse"], "agent", "agent results"),
        )
        self.client = _Direction(
            sender="client",
            requests=self._table(defs, defs["ClientRequest"], "agent", "client requests"),
            notifications={
                **self._table(defs, defs["ClientNotification"], "agent", "client notifications"),
                **protocol,
            },
            results=self._table(defs, defs["ClientResponse"], "client", "client results"),
        )

    @staticmethod
    def _table(defs: dict[str, Any], union: Any, side: str | None, what: str) -> dict[str, str]:
        """Map ``x-method`` -> type name for the tagged types referenced from ``union``."""
        table: dict[str, str] = {}
        for name in sorted(_refs(union)):
            target = defs.get(name, {})
            method = target.get("x-method")
            if not isinstance(method, str):
                continue
            tag = target.get("x-side")
            if side is None:
                if tag != "protocol":
                    continue
            elif tag != side:
                raise RuntimeError(f"{what}: {name} has x-side {tag!r}, expected {side!r}")
            if method in table:
                raise RuntimeError(f"{what}: {method} maps to both {table[method]} and {name}")
            table[method] = name
        if not table:
            raise RuntimeError(f"{what}: no x-method types found; the schema changed shape")
        return table

    # ------------------------------------------------------------------ generic

    def validator(self, type_name: str) -> Any:
        """Return the (cached) closed-schema validator for one ``$defs`` type."""
        found = self._validators.get(type_name)
        if found is None:
            if type_name not in self.closed["$defs"]:
                raise KeyError(f"no $defs type {type_name!r} in the ACP schema")
            found = Draft202012Validator(
                {"$ref": f"{SCHEMA_URI}#/$defs/{type_name}"},
                registry=self._registry,
                format_checker=self._formats,
            )
            self._validators[type_name] = found
        return found

    def validate(self, type_name: str, instance: object, root: str = "$") -> list[str]:
        """Validate ``instance`` against the closed ``$defs`` type ``type_name``.

        Args:
            type_name: A ``$defs`` name such as ``"SessionNotification"``.
            instance: The decoded JSON value.
            root: The JSON path of ``instance`` inside its message, for the messages.

        Returns:
            One ``"<path>: <message>"`` string per problem; empty when valid.
        """
        problems: list[str] = []
        errors = sorted(
            self.validator(type_name).iter_errors(instance),
            key=lambda e: (json_path(e.absolute_path), e.message),
        )
        leaves = self._prune([leaf for error in errors for leaf in _explain(error, root)])
        leaves.sort(key=lambda leaf: (json_path(leaf.path), leaf.message))
        for leaf in leaves:
            line = f"{json_path(leaf.path, root)}: {_shorten(leaf.message)}"
            if line not in problems:
                problems.append(line)
        return problems

    def _prune(self, leaves: list[_Leaf]) -> list[_Leaf]:
        """Drop the follow-on errors that another, more precise error already explains.

        A subschema that fails contributes no annotations, so the ``unevaluatedProperties`` of
        the object around it then also reports all the keys that subschema declares. When some
        other error sits at or below such an object, only keys no in-place subschema declares
        at all are reported. A ``format`` error next to another error at the same spot goes too.
        """
        kept: list[_Leaf] = []
        for leaf in leaves:
            error = leaf.error
            others = [
                other
                for other in leaves
                if other is not leaf and other.path[: len(leaf.path)] == leaf.path
            ]
            if error is None or not others:
                kept.append(leaf)
            elif error.validator == "unevaluatedProperties" and isinstance(error.instance, dict):
                known = self._known_properties(error.schema, frozenset())
                unknown = [] if known is None else [k for k in error.instance if k not in known]
                if unknown:
                    kept.append(_Leaf(leaf.path, _unevaluated_message(unknown), error))
            elif error.validator != "format" or all(o.path != leaf.path for o in others):
                kept.append(leaf)
        return kept

    def _known_properties(self, node: object, seen: frozenset[str]) -> set[str] | None:
        """Property names ``node`` and its in-place subschemas declare; None when any key goes."""
        if not isinstance(node, dict):
            return set()
        if node.get("additionalProperties", False) is not False:
            return None
        if node.get("unevaluatedProperties", False) is not False:
            return None
        known = set(node.get("properties", {}))
        subs: list[tuple[object, frozenset[str]]] = []
        ref = node.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            name = ref.split("#/$defs/", 1)[1]
            if name not in seen:
                subs.append((self.closed["$defs"].get(name), seen | {name}))
        for key in _IN_PLACE_LISTS:
            subs.extend((item, seen) for item in node.get(key, ()))
        subs.extend((node[key], seen) for key in _IN_PLACE_SINGLE if key in node)
        subs.extend((item, seen) for item in node.get("dependentSchemas", {}).values())
        for sub, sub_seen in subs:
            found = self._known_properties(sub, sub_seen)
            if found is None:
                return None
            known |= found
        return known

    def session_update(self, update: object) -> list[str]:
        """Validate one ``SessionUpdate`` as ``session/update`` params (paths start at ``$``)."""
        return self.validate("SessionNotification", {"sessionId": "s", "update": update})

    # ------------------------------------------------------------------ messages

    def agent_outbound(self, message: object) -> list[str]:
        """Validate one message the agent (our bridge) sends to the client.

        Requests and notifications are checked completely. For a response only the envelope and
        an ``error`` are checked; use ``agent_response`` to check a ``result`` too.
        """
        return self._message(message, self.agent, None)

    def agent_response(self, method: str, message: object) -> list[str]:
        """Validate the agent's response to the client's request ``method``."""
        return self._message(message, self.agent, method)

    def client_outbound(self, message: object) -> list[str]:
        """Validate one message the client sends to the agent (see ``agent_outbound``)."""
        return self._message(message, self.client, None)

    def client_response(self, method: str, message: object) -> list[str]:
        """Validate the client's response to the agent's request ``method``."""
        return self._message(message, self.client, method)

    def _message(self, message: object, side: _Direction, answers: str | None) -> list[str]:
        if not isinstance(message, dict):
            return [f"$: a JSON-RPC message must be an object, got {_json_type(message)}"]
        problems: list[str] = []
        if "jsonrpc" not in message:
            problems.append('$: missing "jsonrpc": "2.0"')
        elif message["jsonrpc"] != "2.0":
            problems.append(f'$.jsonrpc: must be "2.0", got {json.dumps(message["jsonrpc"])}')
        if "method" in message:
            kind = "request" if "id" in message else "notification"
            allowed = _REQUEST_KEYS if kind == "request" else _NOTIFICATION_KEYS
        elif "result" in message or "error" in message:
            kind, allowed = "response", _RESPONSE_KEYS
        else:
            problems.append("$: neither a request, a notification nor a response")
            return problems
        extra = sorted(set(message) - allowed)
        if extra:
            problems.append(f"$: unexpected member(s) {extra} in a {kind}")
        if kind == "response":
            problems += self._response(message, side, answers)
        else:
            if answers is not None:
                problems.append(f"$: expected a response to {answers}, got a {kind}")
            problems += self._call(message, side, kind)
        return problems

    def _call(self, message: dict[str, Any], side: _Direction, kind: str) -> list[str]:
        problems: list[str] = []
        method = message["method"]
        if kind == "request" and not _is_request_id(message["id"]):
            problems.append(
                f"$.id: a request id must be an integer or a string, got {message['id']!r}"
            )
        params = message.get("params")
        if "params" in message and not isinstance(params, dict):
            problems.append(f"$.params: must be an object when present, got {_json_type(params)}")
        if not isinstance(method, str):
            problems.append(f"$.method: must be a string, got {_json_type(method)}")
            return problems
        if method.startswith("_"):
            return problems  # extension method: any object params
        table = side.requests if kind == "request" else side.notifications
        type_name = table.get(method)
        if type_name is None:
            problems.append(f"$.method: {self._unknown(method, kind, side)}")
        elif params is None or isinstance(params, dict):
            problems += self.validate(type_name, {} if params is None else params, "$.params")
        return problems

    def _unknown(self, method: str, kind: str, side: _Direction) -> str:
        other = self.client if side is self.agent else self.agent
        if kind == "request" and method in side.notifications:
            return f"{method!r} is a notification, so it must not carry an id"
        if kind == "notification" and method in side.requests:
            return f"{method!r} is a request, so it needs an id"
        if method in other.requests or method in other.notifications:
            return f"{method!r} is sent by the {other.sender}, not by the {side.sender}"
        return (
            f"{method!r} is not an ACP v1 {kind} the {side.sender} may send "
            "(extension methods start with '_')"
        )

    def _response(
        self, message: dict[str, Any], side: _Direction, answers: str | None
    ) -> list[str]:
        problems: list[str] = []
        has_result, has_error = "result" in message, "error" in message
        if "id" not in message:
            problems.append("$: a response needs an id")
        elif message["id"] is None:
            if has_result:
                problems.append("$.id: null is only allowed in an error response")
        elif not _is_request_id(message["id"]):
            problems.append(f"$.id: must be an integer or a string, got {message['id']!r}")
        if has_result and has_error:
            problems.append("$: a response must not carry both result and error")
        elif has_error:
            problems += self.validate("Error", message["error"], "$.error")
        elif answers is not None and not answers.startswith("_"):
            type_name = side.results.get(answers)
            if type_name is None:
                problems.append(
                    f"$.result: {answers!r} is not a request the {side.sender} answers in ACP v1"
                )
            else:
                problems += self.validate(type_name, message["result"], "$.result")
        return problems


@functools.cache
def default_acp() -> StrictAcp:
    """Return the shared ``StrictAcp`` over the pinned schema (built once per process)."""
    return StrictAcp()


# --------------------------------------------------------------------------- transcripts


@dataclass
class _Request:
    method: str
    params: Any
    where: str


@dataclass
class _Ledger:
    """The requests one side sent: in flight, and answered (id -> method)."""

    pending: dict[RequestId, _Request] = field(default_factory=dict)
    answered: dict[RequestId, str] = field(default_factory=dict)


class TranscriptChecker:
    """Checks a two-way ACP transcript, line by line, as a client and the agent exchange it.

    Besides every schema check of ``StrictAcp`` it flags non-JSON lines, responses to unknown or
    already answered ids, ``session/update`` for a session the agent has not introduced yet
    (through a ``session/new``, ``session/load`` or ``session/resume`` response), and turn updates
    (message and thought chunks, tool calls, plans) while neither a ``session/prompt`` nor a
    ``session/load`` of that session is in flight, and a ``tool_call`` whose ``toolCallId``
    the session announced already (ids are unique within a session; a ``session/load``
    starts the thread over). Problems accumulate in ``problems``.
    """

    def __init__(self, acp: StrictAcp | None = None) -> None:
        """Start an empty transcript; ``acp`` defaults to ``default_acp()``."""
        self.acp = acp if acp is not None else default_acp()
        self.problems: list[str] = []
        self.sessions: set[str] = set()
        self._ledgers: dict[Side, _Ledger] = {"agent": _Ledger(), "client": _Ledger()}
        self._lines = 0
        self._tool_calls: dict[str, dict[str, str]] = {}  # session -> tool call id -> where

    def feed_from_client(self, line: bytes | str) -> None:
        """Feed one line the client wrote to the agent's stdin."""
        self._feed("client", line)

    def is_pending(self, side: Side, rid: Any) -> bool:
        """Whether ``side`` sent a request with id ``rid`` that is not answered yet."""
        return rid in self._ledgers[side].pending

    def feed_from_agent(self, line: bytes | str) -> None:
        """Feed one line the agent wrote to its stdout."""
        self._feed("agent", line)

    def finish(self) -> list[str]:
        """Flag requests still unanswered at the end of the transcript; return ``problems``."""
        for side, ledger in self._ledgers.items():
            answerer = "client" if side == "agent" else "agent"
            for rid, request in ledger.pending.items():
                self.problems.append(
                    f"end of transcript: the {answerer} never answered {request.method} "
                    f"request id {json.dumps(rid)} ({request.where})"
                )
            ledger.pending.clear()
        return self.problems

    def in_flight(self, method: str, session_id: str) -> bool:
        """Whether the client has a ``method`` request for ``session_id`` still unanswered."""
        return any(
            request.method == method
            and isinstance(request.params, dict)
            and request.params.get("sessionId") == session_id
            for request in self._ledgers["client"].pending.values()
        )

    # ------------------------------------------------------------------ internals

    def _flag(self, where: str, problems: Iterable[str]) -> None:
        self.problems.extend(f"{where}: {problem}" for problem in problems)

    def _feed(self, sender: Side, line: bytes | str) -> None:
        self._lines += 1
        receiver = "client" if sender == "agent" else "agent"
        where = f"line {self._lines} ({sender}->{receiver})"
        if isinstance(line, bytes):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._flag(where, [f"not UTF-8: {exc}"])
                return
        else:
            text = line
        text = text.removesuffix("\n").removesuffix("\r")
        if "\n" in text:
            self._flag(where, ["contains a raw newline; every message must be one line"])
        try:
            message = json.loads(text)
        except ValueError:
            self._flag(where, [f"not JSON: {_shorten(repr(text))}"])
            return
        if not isinstance(message, dict):
            self._flag(
                where, [f"$: a JSON-RPC message must be an object, got {_json_type(message)}"]
            )
            return
        if "method" in message:
            check = self.acp.agent_outbound if sender == "agent" else self.acp.client_outbound
            self._flag(where, check(message))
            if "id" in message:
                self._on_request(sender, message, where)
            elif sender == "agent":
                self._on_agent_notification(message, where)
        else:
            self._on_response(sender, message, where)

    def _on_request(self, sender: Side, message: dict[str, Any], where: str) -> None:
        rid, method = message["id"], message["method"]
        if not _is_request_id(rid) or not isinstance(method, str):
            return  # already reported by the schema checks
        ledger = self._ledgers[sender]
        if rid in ledger.pending:
            self._flag(
                where,
                [
                    f"request id {json.dumps(rid)} is already in flight "
                    f"({ledger.pending[rid].method}, {ledger.pending[rid].where})"
                ],
            )
        ledger.pending[rid] = _Request(method, message.get("params"), where)
        ledger.answered.pop(rid, None)
        params = message.get("params")
        if sender == "client" and method == "session/load" and isinstance(params, dict):
            self._tool_calls.pop(params.get("sessionId"), None)  # type: ignore[arg-type]

    def _on_response(self, sender: Side, message: dict[str, Any], where: str) -> None:
        requester: Side = "client" if sender == "agent" else "agent"
        ledger = self._ledgers[requester]
        rid = message.get("id")
        check = self.acp.agent_outbound if sender == "agent" else self.acp.client_outbound
        if not _is_request_id(rid):
            # id null (allowed for errors only), missing or malformed: envelope checks only.
            self._flag(where, check(message))
            return
        request = ledger.pending.pop(rid, None)
        if request is None:
            if rid in ledger.answered:
                self._flag(
                    where,
                    [
                        f"duplicate response to request id {json.dumps(rid)} "
                        f"({ledger.answered[rid]}), which was already answered"
                    ],
                )
            else:
                self._flag(where, [f"response to unknown request id {json.dumps(rid)}"])
            self._flag(where, check(message))
            return
        ledger.answered[rid] = request.method
        if sender == "agent":
            self._flag(where, self.acp.agent_response(request.method, message))
        else:
            self._flag(where, self.acp.client_response(request.method, message))
        if sender == "agent" and "result" in message and "error" not in message:
            self._on_session_result(request, message["result"])

    def _on_session_result(self, request: _Request, result: object) -> None:
        if request.method not in SESSION_OPENERS:
            return
        source = result if request.method == "session/new" else request.params
        if isinstance(source, dict) and isinstance(source.get("sessionId"), str):
            self.sessions.add(source["sessionId"])

    def _on_agent_notification(self, message: dict[str, Any], where: str) -> None:
        params = message.get("params")
        if message.get("method") != "session/update" or not isinstance(params, dict):
            return
        session_id = params.get("sessionId")
        if not isinstance(session_id, str):
            return
        loading = self.in_flight("session/load", session_id)
        if session_id not in self.sessions and not loading:
            self._flag(
                where,
                [
                    f"session/update for session {session_id!r} before a session/new, "
                    "session/load or session/resume response introduced it"
                ],
            )
            return
        update = params.get("update")
        tag = update.get("sessionUpdate") if isinstance(update, dict) else None
        if tag == "tool_call" and isinstance(update, dict):
            self._tool_call(session_id, update.get("toolCallId"), where)
        if tag in TURN_UPDATES and not loading and not self.in_flight("session/prompt", session_id):
            self._flag(
                where,
                [f"{tag} update for session {session_id!r} while no session/prompt is in flight"],
            )

    def _tool_call(self, session_id: str, tool_call_id: object, where: str) -> None:
        announced = self._tool_calls.setdefault(session_id, {})
        if not isinstance(tool_call_id, str):
            return  # already reported by the schema checks
        first = announced.get(tool_call_id)
        if first is not None:
            self._flag(
                where,
                [
                    f"tool_call {tool_call_id!r} of session {session_id!r} was announced "
                    f"already ({first}): tool call ids must be unique within a session"
                ],
            )
        announced[tool_call_id] = where
