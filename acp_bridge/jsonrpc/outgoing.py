"""The requests one side of a JSON-RPC link sent, and the answers they await.

Rule: an answer is matched against this table only (never against the other side's
requests being handled), by id; each outgoing request is done exactly once: answered,
failed (it could not be written) or closed (the other side went away). An error answer
without a ``message`` is still an answer: its waiter gets an error saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc import messages

if TYPE_CHECKING:
    from collections.abc import Callable

    from acp_bridge.jsonrpc.messages import JsonObject, RequestId, Response


@dataclass(eq=False, slots=True)
class OutgoingRequest:
    """A request this side sent and the answer it awaits.

    Attributes:
        id: Its id, unique among this peer's outgoing requests.
        method: Its method.
        line: Its wire line (written by the peer, or by the caller: see :meth:`Peer.request`).
        done: Set once answered, or once the peer closed (``closed`` then is True).
        result: The answer's result.
        error: The answer's error (or why there will be no answer).
        closed: The other side went away before answering.
        on_answer: Called as the answer is read, before ``done`` is set and before the
            next message of the other side is looked at.
    """

    id: RequestId
    method: str
    line: bytes
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: RpcError | None = None
    closed: bool = False
    on_answer: Callable[[], None] | None = None

    def outcome(self) -> Any:
        """The result of an answered request.

        Raises:
            RpcError: The other side answered with an error, or went away.
        """
        if self.error is not None:
            raise self.error
        return self.result

    def fail(self, reason: str) -> None:
        """There will be no answer: done, with ``reason`` as the error."""
        if self.done.is_set():
            return
        self.error = RpcError(messages.INTERNAL_ERROR, reason)
        self.done.set()


class OutgoingTable:
    """The outgoing requests awaiting an answer, by id."""

    def __init__(self) -> None:
        """An empty table."""
        self._pending: dict[RequestId, OutgoingRequest] = {}

    def add(self, msg_id: RequestId, method: str, line: bytes) -> OutgoingRequest:
        """Register a request about to be written."""
        pending = self._pending[msg_id] = OutgoingRequest(msg_id, method, line)
        return pending

    def answer(self, response: Response) -> bool:
        """Settle the request ``response`` answers; False if it answers none of ours."""
        pending = None if response.id is None else self._pending.pop(response.id, None)
        if pending is None:
            return False
        if response.error is not None:
            pending.error = _answered_error(response.error)
        else:
            pending.result = response.result
        try:
            if pending.on_answer is not None:
                pending.on_answer()
        finally:
            pending.done.set()  # whatever on_answer did, the waiter is not left waiting
        return True

    def waiting(self, msg_id: RequestId) -> bool:
        """Whether a request of ours with this id is still waiting for its answer."""
        return msg_id in self._pending

    def forget(self, pending: OutgoingRequest) -> None:
        """Stop waiting for ``pending``: a late answer to it is unexpected."""
        if self._pending.get(pending.id) is pending:
            del self._pending[pending.id]

    def close(self, reason: str) -> None:
        """The other side is gone: every request is done, with ``reason`` as its error."""
        pending, self._pending = self._pending, {}
        for request in pending.values():
            request.closed = True
            request.fail(reason)


def _answered_error(error: JsonObject) -> RpcError:
    """The :class:`RpcError` of an error the other side answered with (``message`` optional)."""
    code = error["code"]
    message = error.get("message")
    if not isinstance(message, str):
        message = f"error {code} (the answer gave no message)"
    return RpcError(code, message, error.get("data"))
