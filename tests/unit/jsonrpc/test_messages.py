"""Envelope classification: every malformed message maps to one prescribed answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.jsonrpc.messages import Invalid, Notification, Request, Response


def parse(value: Any) -> jsonrpc.Message:
    return jsonrpc.parse_line(json.dumps(value).encode())


def test_request_notification_and_response() -> None:
    assert isinstance(parse({"jsonrpc": "2.0", "id": 0, "method": "m", "params": {}}), Request)
    assert isinstance(parse({"jsonrpc": "2.0", "id": "x", "method": "m"}), Request)
    assert isinstance(parse({"jsonrpc": "2.0", "method": "m"}), Notification)
    assert isinstance(parse({"jsonrpc": "2.0", "id": 3, "result": None}), Response)
    error = parse({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "x"}})
    assert isinstance(error, Response)
    assert error.id is None


@pytest.mark.parametrize(
    ("line", "code", "msg_id", "answerable"),
    [
        (b"{nope", -32700, None, True),
        (b"\xff\xfe", -32700, None, True),
        (b"[]", -32600, None, True),
        (b'[{"jsonrpc":"2.0","id":1,"method":"m"}]', -32600, None, True),
        (b"42", -32600, None, True),
        (b'{"jsonrpc":"1.0","id":7,"method":"m"}', -32600, 7, True),
        (b'{"id":7,"method":"m"}', -32600, 7, True),
        (b'{"jsonrpc":"2.0","id":7,"method":5}', -32600, 7, True),
        (b'{"jsonrpc":"2.0","id":true,"method":"m"}', -32600, None, True),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"m"}', -32600, None, True),
        (b'{"jsonrpc":"2.0","id":7,"method":"m","params":[1]}', -32602, 7, True),
        (b'{"jsonrpc":"2.0","method":"m","params":"x"}', -32602, None, False),
        (b'{"jsonrpc":"2.0","id":7}', -32600, 7, True),
        (
            b'{"jsonrpc":"2.0","id":7,"result":1,"error":{"code":1,"message":"x"}}',
            -32600,
            None,
            False,
        ),
        (b'{"jsonrpc":"2.0","id":7,"error":"bad"}', -32600, None, False),
        (b'{"jsonrpc":"2.0","id":null,"result":1}', -32600, None, False),
    ],
)
def test_invalid_messages(line: bytes, code: int, msg_id: Any, answerable: bool) -> None:
    message = jsonrpc.parse_line(line)
    assert isinstance(message, Invalid), message
    assert (message.code, message.id, message.answerable) == (code, msg_id, answerable)


def test_id_zero_is_a_real_id() -> None:
    message = parse({"jsonrpc": "2.0", "id": 0, "method": "initialize"})
    assert isinstance(message, Request)
    assert message.id == 0


@given(st.binary(max_size=300))
def test_arbitrary_bytes_always_classify(data: bytes) -> None:
    assert jsonrpc.parse_line(data) is not None


def test_encoded_lines_have_exactly_one_newline() -> None:
    line = jsonrpc.encode(jsonrpc.notification("m", {"text": "a\nb\r\nc"}))
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")
