"""One nesting bound for every incoming message: what is accepted can be written again."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from acp_bridge.jsonrpc import messages
from acp_bridge.jsonrpc.messages import (
    MAX_NESTING_DEPTH,
    Invalid,
    Notification,
    Request,
    Response,
    nested_deeper_than,
    parse_line,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value with ``depth`` levels of objects and arrays, alternating."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def line(depth: int, **message: Any) -> bytes:
    """A message whose whole nesting is ``depth`` levels (the message itself is one)."""
    return orjson.dumps({"jsonrpc": "2.0", **message, "params": {"p": nested(depth - 2)}})


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ("x", 0), ([], 1), ({}, 1), ([[]], 2), ({"a": [1, {"b": 2}]}, 3), (nested(7), 7)],
)
def test_nesting_is_counted_in_objects_and_arrays(value: Any, depth: int) -> None:
    assert not nested_deeper_than(value, depth)
    assert nested_deeper_than(value, depth - 1) == (depth > 0)


def test_a_request_at_the_bound_is_taken_and_one_level_more_is_refused_with_its_id() -> None:
    assert isinstance(parse_line(line(MAX_NESTING_DEPTH, id=1, method="m")), Request)
    refused = parse_line(line(MAX_NESTING_DEPTH + 1, id=1, method="m"))
    assert isinstance(refused, Invalid)
    assert (refused.code, refused.id, refused.answerable) == (messages.INVALID_PARAMS, 1, True)
    assert f"nested deeper than {MAX_NESTING_DEPTH} levels" in refused.message


def test_a_notification_too_deep_is_refused_unanswered() -> None:
    assert isinstance(parse_line(line(MAX_NESTING_DEPTH, method="n")), Notification)
    refused = parse_line(line(MAX_NESTING_DEPTH + 1, method="n"))
    assert isinstance(refused, Invalid)
    assert not refused.answerable


def test_an_answer_too_deep_still_answers_its_request_with_an_error() -> None:
    deep = orjson.dumps({"jsonrpc": "2.0", "id": 7, "result": nested(MAX_NESTING_DEPTH)})
    answer = parse_line(deep)
    assert isinstance(answer, Response)
    assert answer.id == 7
    assert answer.result is None
    assert answer.error is not None
    assert answer.error["code"] == messages.INVALID_REQUEST
    assert answer.refused is not None
    shallow = parse_line(orjson.dumps({"jsonrpc": "2.0", "id": 7, "result": nested(3)}))
    assert isinstance(shallow, Response)
    assert shallow.refused is None


def test_what_the_bound_lets_in_can_be_encoded_inside_the_bridges_envelopes() -> None:
    """The deepest value a message can carry, wrapped in a dozen more levels, encodes."""
    accepted = parse_line(line(MAX_NESTING_DEPTH, id=1, method="m"))
    assert isinstance(accepted, Request)
    assert accepted.params is not None
    wrapped: Any = accepted.params
    for _ in range(12):
        wrapped = {"envelope": wrapped}
    assert messages.encode(wrapped).endswith(b"\n")
