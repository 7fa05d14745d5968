"""The other side's requests one side of a JSON-RPC link is handling, and the bound on them.

Rules: ``$/cancel_request`` is matched against this table only (never against this side's
own requests, which :mod:`acp_bridge.jsonrpc.outgoing` holds), by id. A request holds one
of ``max_in_flight`` slots from when it is admitted until its answer has been written, so
neither running handlers nor answers the other side does not read pile up without limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from acp_bridge.jsonrpc.messages import JsonObject, RequestId


@dataclass(eq=False, slots=True)
class IncomingRequest:
    """A request of the other side's being handled.

    Attributes:
        method: Its method.
        params: Its params (``{}`` when it had none).
        scope: Cancelling it aborts the handler (the answer is then -32800).
        then: Lines to write right after a successful answer (:class:`Then`).
    """

    method: str
    params: JsonObject
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    then: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Then:
    """What a handler returns when lines must follow its answer on the wire.

    ACP lets an agent send session updates only once the session's answer is out (an editor
    drops an update for a session it has not heard of yet), so ``session/new`` returns the
    session's commands this way: the peer writes the answer, then ``lines``, in order and
    with nothing between them. An error answer is followed by nothing.
    """

    result: Any
    lines: list[bytes]


class IncomingTable:
    """The other side's requests being handled, by id, and the slots they hold."""

    def __init__(self, max_in_flight: int) -> None:
        """An empty table admitting at most ``max_in_flight`` requests at once."""
        self.max_in_flight = max_in_flight
        self._handling: dict[RequestId, IncomingRequest] = {}
        self._unanswered = 0  # admitted, answer not written yet
        self._idle = anyio.Event()
        self._idle.set()

    def get(self, msg_id: RequestId) -> IncomingRequest | None:
        """The request with this id being handled, if any."""
        return self._handling.get(msg_id)

    @property
    def full(self) -> bool:
        """Whether every slot is taken: one more request must be refused."""
        return self._unanswered >= self.max_in_flight

    @property
    def unanswered(self) -> int:
        """Requests admitted whose answer is not written yet."""
        return self._unanswered

    def admit(self, msg_id: RequestId, method: str, params: JsonObject) -> IncomingRequest:
        """Take a slot for a request about to be handled (see :attr:`full` first)."""
        self._unanswered += 1
        entry = self._handling[msg_id] = IncomingRequest(method, params)
        if self._idle.is_set():
            self._idle = anyio.Event()
        return entry

    def handled(self, msg_id: RequestId, entry: IncomingRequest) -> None:
        """Its handler is done: the id is free again (the slot is held until written)."""
        if self._handling.get(msg_id) is entry:
            del self._handling[msg_id]
        if not self._handling:
            self._idle.set()

    def written(self) -> None:
        """An admitted request's answer was written (or never will be): its slot is free."""
        self._unanswered -= 1

    @property
    def in_flight(self) -> int:
        """How many requests are being handled."""
        return len(self._handling)

    async def wait_idle(self) -> None:
        """Wait until no request is being handled."""
        await self._idle.wait()

    def cancel_all(self) -> None:
        """Abort every handler still running."""
        for entry in list(self._handling.values()):
            entry.scope.cancel()
