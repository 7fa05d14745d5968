"""The example VM's wire on its own: envelopes out, one classification per line in."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from acp_bridge.example_vm import wire
from acp_bridge.example_vm.wire import Calls, Inbox, Incoming, Wire, read_stdin, take_line
from acp_bridge.jsonrpc.messages import INVALID_PARAMS, INVALID_REQUEST, Invalid, Request


def reader(chunks: Iterable[bytes]) -> Callable[[int], bytes]:
    """A ``read(n)`` that returns the chunks one by one, then the end of input."""
    pending = iter(chunks)
    return lambda _size: next(pending, b"")


def sent(out: io.BytesIO) -> list[dict[str, Any]]:
    raw = out.getvalue()
    assert raw.endswith(b"\n") or not raw
    return [json.loads(line) for line in raw.splitlines()]


def drain(inbox: Inbox) -> list[Incoming]:
    """Everything queued, up to the end-of-input marker (which must be there)."""
    items: list[Incoming] = []
    while (item := inbox.queue.get_nowait()) is not None:
        items.append(item)
    return items


def run(*chunks: bytes) -> tuple[Inbox, list[Incoming], io.BytesIO]:
    out = io.BytesIO()
    inbox = Inbox(Calls(Wire(out)))
    read_stdin(reader(chunks), inbox)
    return inbox, drain(inbox), out


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def test_the_wire_writes_one_envelope_a_line() -> None:
    out = io.BytesIO()
    link = Wire(out)
    link.answer(1, {"stopReason": "end_turn"})
    link.refuse("a", -32601, "method not found: x")
    link.notify("session/event", {"event": {"type": "turn_start"}})
    assert sent(out) == [
        {"jsonrpc": "2.0", "id": 1, "result": {"stopReason": "end_turn"}},
        {"jsonrpc": "2.0", "id": "a", "error": {"code": -32601, "message": "method not found: x"}},
        {"jsonrpc": "2.0", "method": "session/event", "params": {"event": {"type": "turn_start"}}},
    ]


def test_requests_are_queued_in_order_whatever_the_chunks() -> None:
    data = line({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    data += line({"jsonrpc": "2.0", "id": 2, "method": "session/prompt", "params": {}})
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    inbox, items, _ = run(*chunks)
    requests = [item.message for item in items]
    assert [(r.id, r.method) for r in requests if isinstance(r, Request)] == [
        (1, "initialize"),
        (2, "session/prompt"),
    ]
    assert inbox.eof.is_set()


def test_crlf_blank_lines_and_an_unterminated_last_line() -> None:
    prompt = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "x"}).encode()
    _, items, _ = run(b"\r\n  \n" + prompt[:5], prompt[5:] + b"\r\n", prompt)
    assert [item.message.id for item in items] == [7, 7]


def test_a_cancel_notification_cancels_every_open_prompt_and_is_not_queued() -> None:
    first = line({"jsonrpc": "2.0", "id": 1, "method": "session/prompt", "params": {}})
    second = line({"jsonrpc": "2.0", "id": 2, "method": "session/prompt", "params": {}})
    cancel = line({"jsonrpc": "2.0", "method": "session/cancel", "params": {}})
    third = line({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": {}})
    inbox = Inbox(Calls(Wire(io.BytesIO())))
    for raw in (first, second, cancel, third):  # line by line: the end of input cancels all
        take_line(raw.rstrip(b"\n"), inbox)
    items = [inbox.queue.get_nowait() for _ in range(3)]
    assert inbox.queue.empty()
    assert [item.message.id for item in items if item is not None] == [1, 2, 3]
    assert [item.cancelled.is_set() for item in items if item is not None] == [True, True, False]


def test_a_cancel_sent_as_a_request_cancels_and_is_queued_for_its_answer() -> None:
    prompt = line({"jsonrpc": "2.0", "id": 1, "method": "session/prompt", "params": {}})
    cancel = line({"jsonrpc": "2.0", "id": 2, "method": "session/cancel", "params": {}})
    _, items, _ = run(prompt + cancel)
    assert items[0].cancelled.is_set()
    assert isinstance(items[1].message, Request)
    assert items[1].message.method == "session/cancel"


def test_an_answer_goes_to_the_call_that_waits_for_it() -> None:
    out = io.BytesIO()
    calls = Calls(Wire(out))
    call = calls.start("fs/read_text_file", {"path": "/p"})
    other = calls.start("terminal/create", {})
    assert [m["id"] for m in sent(out)] == [1, 2]
    assert sent(out)[0] == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "fs/read_text_file",
        "params": {"path": "/p"},
    }
    inbox = Inbox(calls)
    answer = line({"jsonrpc": "2.0", "id": 1, "result": {"content": "hi"}})
    read_stdin(reader([answer]), inbox)
    assert drain(inbox) == []
    assert call.done.is_set()
    assert call.answer is not None
    assert call.answer.result == {"content": "hi"}
    assert other.done.is_set(), "the end of input abandons the calls still waiting"
    assert other.answer is None


def test_an_invalid_request_with_an_id_is_queued_to_be_refused() -> None:
    bad_params = line({"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": [1]})
    no_version = line({"id": 5, "method": "initialize"})
    _, items, _ = run(bad_params + no_version)
    invalid = [item.message for item in items if isinstance(item.message, Invalid)]
    assert len(invalid) == len(items) == 2
    assert [(m.id, m.code) for m in invalid] == [(4, INVALID_PARAMS), (5, INVALID_REQUEST)]


def test_what_cannot_be_answered_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=wire.__name__)
    lines = [
        b"this is not json\n",
        b"[1, 2]\n",
        line({"jsonrpc": "2.0", "method": "some/notification", "params": {}}),
        line({"jsonrpc": "2.0", "id": 99, "result": {}}),
    ]
    _, items, out = run(*lines)
    assert items == []
    assert out.getvalue() == b"", "the reader never writes"
    said = caplog.text
    assert "not JSON" in said
    assert "batches are not supported" in said
    assert "ignoring the notification some/notification" in said
    assert "never sent (id 99)" in said


def test_an_over_long_line_is_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wire, "MAX_LINE_BYTES", 64)
    long = line({"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"pad": "p" * 100}})
    short = line({"jsonrpc": "2.0", "id": 2, "method": "x"})
    _, items, _ = run(long + short)
    assert [item.message.id for item in items] == [2]
    assert "the limit is 64" in caplog.text


def test_a_read_error_ends_the_input(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_size: int) -> bytes:
        raise OSError("EIO")

    inbox = Inbox(Calls(Wire(io.BytesIO())))
    read_stdin(broken, inbox)
    assert inbox.eof.is_set()
    assert drain(inbox) == []
    assert "stopped reading stdin" in caplog.text
