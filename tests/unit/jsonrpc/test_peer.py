"""The JSON-RPC peer: two id tables, one answer per request, one exception boundary."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc.peer import Peer
from acp_bridge.jsonrpc.report import Problem, Report

pytestmark = pytest.mark.anyio


class Wire:
    """The other side of a peer: what it was sent, and what it was told went wrong."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.reports: list[Report] = []
        self.writable = True

    async def send(self, line: bytes) -> bool:
        assert line.endswith(b"\n")
        self.sent.append(json.loads(line))
        return self.writable

    def problems(self) -> list[Problem]:
        return [r.problem for r in self.reports]

    def answers(self) -> dict[Any, Any]:
        return {m["id"]: m for m in self.sent if "method" not in m}


def make_peer(group: Any, wire: Wire, **kwargs: Any) -> Peer:
    ids = iter(range(1000))
    return Peer(
        "editor",
        wire.send,
        group,
        new_id=lambda: f"out-{next(ids)}",
        on_problem=wire.reports.append,
        **kwargs,
    )


def line(message: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", **message}).encode()


async def test_a_response_with_the_id_of_a_request_in_flight_is_unexpected_not_fatal() -> None:
    wire = Wire()
    release = anyio.Event()

    async def slow(params: dict[str, Any]) -> dict[str, Any]:
        await release.wait()
        return {"stopReason": "end_turn"}

    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        peer.on("session/prompt", slow)
        await peer.receive_line(line({"id": 5, "method": "session/prompt", "params": {}}))
        await anyio.lowlevel.checkpoint()
        await peer.receive_line(line({"id": 5, "result": {}}))
        assert wire.problems() == [Problem.UNEXPECTED_RESPONSE]
        release.set()
    assert wire.answers()[5]["result"] == {"stopReason": "end_turn"}


async def test_the_two_sides_may_use_the_same_ids() -> None:
    wire = Wire()
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        peer.on("echo", lambda params: params)
        outgoing = await peer.request("fs/read_text_file", {"path": "/x"})
        # The editor happens to pick the bridge's id for a request of its own.
        await peer.receive_line(line({"id": outgoing.id, "method": "echo", "params": {"a": 1}}))
        assert not outgoing.done.is_set()
        await peer.receive_line(line({"id": outgoing.id, "result": {"content": "x"}}))
        assert outgoing.done.is_set()
        assert outgoing.outcome() == {"content": "x"}
    assert wire.answers()[outgoing.id]["result"] == {"a": 1}
    assert wire.problems() == []


async def test_cancel_request_names_only_incoming_requests() -> None:
    wire = Wire()
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        outgoing = await peer.request("session/request_permission", {})
        await peer.receive_line(
            line({"method": "$/cancel_request", "params": {"requestId": outgoing.id}})
        )
        assert not outgoing.done.is_set()  # the editor cannot cancel the bridge's request
        peer.close("gone")
    assert outgoing.closed
    with pytest.raises(RpcError, match="gone"):
        outgoing.outcome()


async def test_a_cancelled_handler_answers_32800_and_a_hooked_one_runs_its_hook() -> None:
    wire = Wire()
    hooked: list[dict[str, Any]] = []
    release = anyio.Event()

    async def forever(params: dict[str, Any]) -> None:
        await anyio.sleep_forever()

    async def until_released(params: dict[str, Any]) -> str:
        await release.wait()
        return "done"

    async def hook(params: dict[str, Any]) -> None:
        hooked.append(params)
        release.set()

    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        peer.on("slow", forever)
        peer.on("session/prompt", until_released, on_cancel=hook)
        await peer.receive_line(line({"id": 1, "method": "slow"}))
        await peer.receive_line(line({"id": 2, "method": "session/prompt", "params": {"s": 1}}))
        await anyio.lowlevel.checkpoint()
        assert peer.in_flight == 2
        for request_id in (1, 2):
            await peer.receive_line(
                line({"method": "$/cancel_request", "params": {"requestId": request_id}})
            )
    answers = wire.answers()
    assert answers[1]["error"]["code"] == -32800
    assert answers[2]["result"] == "done"
    assert hooked == [{"s": 1}]
    assert peer.in_flight == 0


async def test_params_may_be_omitted_and_an_error_may_lack_its_message() -> None:
    wire = Wire()
    seen: list[dict[str, Any]] = []
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)

        def initialize(params: dict[str, Any]) -> dict[str, Any]:
            seen.append(params)
            return {}

        peer.on("initialize", initialize)
        peer.on("session/cancel", seen.append)
        await peer.receive_line(line({"id": 1, "method": "initialize"}))
        await peer.receive_line(line({"method": "session/cancel"}))
        outgoing = await peer.request("terminal/create", {})
        await peer.receive_line(line({"id": outgoing.id, "error": {"code": -32001}}))
    assert seen == [{}, {}]
    assert wire.answers()[1]["result"] == {}
    with pytest.raises(RpcError) as caught:
        outgoing.outcome()
    assert caught.value.code == -32001
    assert caught.value.message == "error -32001 (the answer gave no message)"


async def test_the_exception_boundary_answers_every_request_once() -> None:
    wire = Wire()

    def refuse(params: dict[str, Any]) -> None:
        raise RpcError(-32602, "Invalid params: no", {"field": "x"})

    async def crash(params: dict[str, Any]) -> None:
        raise KeyError("bug")

    def unencodable(params: dict[str, Any]) -> object:
        return {"x": object()}

    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        peer.on("refuse", refuse)
        peer.on("crash", crash)
        peer.on("odd", unencodable)
        for number, method in enumerate(["refuse", "crash", "odd", "nope"]):
            await peer.receive_line(line({"id": number, "method": method}))
        await peer.receive_line(line({"method": "crash"}))  # a notification: never answered
    answers = wire.answers()
    assert answers[0]["error"] == {
        "code": -32602,
        "message": "Invalid params: no",
        "data": {"field": "x"},
    }
    assert answers[1]["error"] == {"code": -32603, "message": "Internal error in crash: KeyError"}
    assert answers[2]["error"]["code"] == -32603
    assert answers[3]["error"] == {"code": -32601, "message": "Method not found: nope"}
    assert len(wire.sent) == 4
    assert sorted(p.value for p in wire.problems()) == sorted(
        p.value
        for p in (
            Problem.REFUSED,
            Problem.CRASHED,  # async handlers run as tasks: they answer last
            Problem.UNENCODABLE,
            Problem.UNKNOWN_METHOD,
            Problem.CRASHED,
        )
    )


async def test_bad_lines_are_answered_or_reported_never_raised() -> None:
    wire = Wire()
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        for raw in (
            b"{not json",
            b"[]",
            b'{"jsonrpc":"2.0","id":7,"method":"x","params":[1]}',
            b'{"jsonrpc":"2.0","id":null,"result":1}',
            b'{"jsonrpc":"2.0","method":"$/cancel_request","params":{"requestId":[1]}}',
            b"   ",
        ):
            await peer.receive_line(raw)
    assert wire.problems() == [
        Problem.PARSE_ERROR,
        Problem.INVALID,
        Problem.INVALID,
        Problem.INVALID,  # a result needs an id
        Problem.BAD_NOTIFICATION,
    ]
    assert [m["error"]["code"] for m in wire.sent] == [-32700, -32600, -32602]
    assert wire.sent[2]["id"] == 7


async def test_a_duplicate_id_in_flight_is_refused_and_the_first_still_answers() -> None:
    wire = Wire()
    release = anyio.Event()

    async def slow(params: dict[str, Any]) -> str:
        await release.wait()
        return "first"

    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        peer.on("slow", slow)
        await peer.receive_line(line({"id": 3, "method": "slow"}))
        await anyio.lowlevel.checkpoint()
        await peer.receive_line(line({"id": 3, "method": "slow"}))
        release.set()
    assert [m.get("result") or m["error"]["code"] for m in wire.sent] == [-32600, "first"]
    assert wire.problems() == [Problem.DUPLICATE_ID]


async def test_a_request_that_cannot_be_written_is_done_at_once() -> None:
    wire = Wire()
    wire.writable = False
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire, fallback=None)
        outgoing = await peer.request("initialize", {})
    assert outgoing.done.is_set()
    assert outgoing.error is not None


async def test_a_fallback_serves_requests_not_notifications() -> None:
    wire = Wire()
    served: list[tuple[str, dict[str, Any]]] = []

    async def fallback(method: str, params: dict[str, Any]) -> str:
        served.append((method, params))
        return "ok"

    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire, fallback=fallback)
        await peer.receive_line(line({"id": 1, "method": "fs/read_text_file", "params": {}}))
        await peer.receive_line(line({"method": "fs/read_text_file", "params": {}}))
    assert served == [("fs/read_text_file", {})]
    assert wire.answers()[1]["result"] == "ok"
    assert wire.problems() == [Problem.UNKNOWN_METHOD]


async def test_requests_over_the_bound_are_refused_at_once_and_the_slots_come_back() -> None:
    wire = Wire()
    release = anyio.Event()

    async def slow(params: dict[str, Any]) -> str:
        await release.wait()
        return "done"

    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire, max_in_flight=2)
        peer.on("slow", slow)
        for number in range(4):
            await peer.receive_line(line({"id": number, "method": "slow"}))
        refused = wire.answers()
        assert sorted(refused) == [2, 3]
        assert all(a["error"]["code"] == -32603 for a in refused.values())
        assert "too many requests in flight (at most 2)" in refused[2]["error"]["message"]
        release.set()
        await anyio.wait_all_tasks_blocked()
        await peer.receive_line(line({"id": 9, "method": "slow"}))
    assert wire.answers()[9]["result"] == "done", "answered requests give their slots back"
    assert wire.problems() == [Problem.OVERLOADED, Problem.OVERLOADED]


async def test_an_answer_not_written_yet_still_holds_its_slot() -> None:
    """Answers the other side does not read count against the bound too."""
    wire = Wire()
    unblock = anyio.Event()
    sent: list[bytes] = []

    async def send(data: bytes) -> bool:
        if b'"result"' in data:
            await unblock.wait()  # the other side reads nothing
        sent.append(data)
        return True

    async with anyio.create_task_group() as group:
        ids = iter(range(100))
        peer = Peer(
            "vm",
            send,
            group,
            new_id=lambda: next(ids),
            on_problem=wire.reports.append,
            max_in_flight=1,
        )

        async def quick(params: dict[str, Any]) -> str:
            return "ok"

        peer.on("quick", quick)
        await peer.receive_line(line({"id": 1, "method": "quick"}))
        await anyio.wait_all_tasks_blocked()
        assert peer.in_flight == 0  # handled, but its answer is not written
        await peer.receive_line(line({"id": 2, "method": "quick"}))
        assert wire.problems() == [Problem.OVERLOADED]
        unblock.set()
    assert [json.loads(d)["id"] for d in sent] == [2, 1]


async def test_cancel_request_naming_our_own_waiting_request_is_reported() -> None:
    wire = Wire()
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        outgoing = await peer.request("fs/read_text_file", {})
        await peer.receive_line(
            line({"method": "$/cancel_request", "params": {"requestId": outgoing.id}})
        )
        await peer.receive_line(line({"method": "$/cancel_request", "params": {"requestId": 77}}))
        assert not outgoing.done.is_set()
        await peer.receive_line(line({"id": outgoing.id, "result": {"content": "x"}}))
    assert outgoing.outcome() == {"content": "x"}
    assert wire.problems() == [Problem.STRAY_CANCEL], "a late cancel of nothing is no fault"


async def test_nothing_raises_out_of_receive(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last line of defence: a bug in classifying, in a handler's bookkeeping or in
    the owner's reporting is reported (or logged), never raised into the read loop."""
    from acp_bridge.jsonrpc import messages

    wire = Wire()
    broken: list[Report] = []

    def on_problem(report: Report) -> None:
        broken.append(report)
        raise RuntimeError("the owner's bug")

    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        peer._on_problem = on_problem
        await peer.receive_line(b"{not json")  # reported; the report itself raises
        assert [r.problem for r in broken] == [Problem.PARSE_ERROR]

        def boom(value: Any) -> Any:
            raise ValueError("classify bug")

        monkeypatch.setattr(messages, "parse_line", boom)
        monkeypatch.setattr(messages, "classify", boom)
        await peer.receive_line(b'{"jsonrpc":"2.0","method":"x"}')
        await peer.receive_value({"jsonrpc": "2.0", "method": "x"})
    assert [r.problem for r in broken] == [Problem.PARSE_ERROR, Problem.CRASHED, Problem.CRASHED]
    assert isinstance(broken[1].exception, ValueError)


async def test_an_answer_whose_callback_fails_still_wakes_its_waiter() -> None:
    wire = Wire()
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        outgoing = await peer.request("session/prompt", {})

        def fails() -> None:
            raise RuntimeError("bug in on_answer")

        outgoing.on_answer = fails
        await peer.receive_line(line({"id": outgoing.id, "result": {"stopReason": "end_turn"}}))
    assert outgoing.done.is_set()
    assert outgoing.outcome() == {"stopReason": "end_turn"}
    assert wire.problems() == [Problem.CRASHED]


async def test_an_error_code_that_is_a_boolean_is_no_answer() -> None:
    wire = Wire()
    async with anyio.create_task_group() as group:
        peer = make_peer(group, wire)
        outgoing = await peer.request("fs/read_text_file", {})
        await peer.receive_line(line({"id": outgoing.id, "error": {"code": True}}))
        assert not outgoing.done.is_set()
        peer.close("gone")
    assert wire.problems() == [Problem.INVALID]


def test_every_problem_has_a_counter_at_the_editors_owner() -> None:
    from acp_bridge.agent import _EDITOR_PROBLEMS

    assert set(_EDITOR_PROBLEMS) | {Problem.REFUSED} == set(Problem)
