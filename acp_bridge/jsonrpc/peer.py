"""One JSON-RPC 2.0 peer over newline-delimited lines: the editor's link, and each VM's.

The bridge talks JSON-RPC in two directions: with the editor (it serves ACP) and with every
session-mode VM (it is the VM's client, and serves the VM's requests to the editor). Both
links are a :class:`Peer`; only the method table, the id scheme, the bounds and what a
problem costs differ, and those are the owner's.

Rules:

1. Every message is classified once (:func:`acp_bridge.jsonrpc.messages.classify`), before
   any handler or library sees it. A message that cannot be processed is answered as
   JSON-RPC prescribes (a request) or reported to the owner (a notification or response).
   :meth:`Peer.receive_line`, :meth:`Peer.receive_value` and :meth:`Peer.receive` never
   raise: no step of theirs is meant to, and a guard around them reports a bug that
   breaks that (:attr:`Problem.CRASHED`) instead of letting it end the read loop.
2. Two id tables (:mod:`~acp_bridge.jsonrpc.outgoing`, :mod:`~acp_bridge.jsonrpc.incoming`).
   ``_outgoing`` holds the requests this side sent, awaiting an answer;
   ``_incoming`` the other side's requests being handled. A response is matched against
   ``_outgoing`` only, ``$/cancel_request`` against ``_incoming`` only, so the two sides
   may use the same ids without harm (a ``$/cancel_request`` naming one of this side's
   own waiting requests is reported, and changes nothing).
3. Every request that was read is answered exactly once, and the answer is queued the
   moment its handler returns, with no await in between: notifications a handler sent
   before returning reach the other side before its answer.
4. Handlers run in the owner's task group (a coroutine handler) or at once (a plain
   function). :meth:`Peer._answer` is the one place where an exception becomes a wire
   error: :class:`~acp_bridge.errors.RpcError` is a refusal, given as it is; anything
   else is a bug, answered ``-32603`` without a traceback and reported.
5. Bounded: at most ``max_in_flight`` requests of the other side's are being handled or
   having their answers written at once. One more is answered at once with ``-32603``
   and reported (:attr:`Problem.OVERLOADED`), so neither handlers nor answers the other
   side does not read can pile up without limit. The refusal itself is written before
   the next message is read: a side that reads nothing is not read either.

The method table and the wire errors are pygls's (:mod:`~acp_bridge.jsonrpc.methods`); why
pygls's ``JsonRPCProtocol`` is not used is in ``docs/architecture.md``.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import orjson
from pygls.exceptions import JsonRpcInternalError, JsonRpcRequestCancelled

from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc import messages
from acp_bridge.jsonrpc.incoming import IncomingRequest, IncomingTable, Then
from acp_bridge.jsonrpc.messages import (
    Invalid,
    Notification,
    Request,
    RequestId,
    Response,
)
from acp_bridge.jsonrpc.methods import Fallback, MethodTable, wire_error
from acp_bridge.jsonrpc.outgoing import OutgoingRequest, OutgoingTable
from acp_bridge.jsonrpc.report import Problem, Report

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskGroup

    from acp_bridge.jsonrpc.messages import JsonObject, Message

log = logging.getLogger("acp_bridge.jsonrpc")

#: ACP's (and LSP's, spelled differently) notification that withdraws a request.
CANCEL_REQUEST: Final = "$/cancel_request"

#: How many of the other side's requests a peer handles at once unless told otherwise.
DEFAULT_MAX_IN_FLIGHT: Final = 256

#: How a peer writes one line to the other side; False when it can no longer be written.
Send: TypeAlias = "Callable[[bytes], Awaitable[bool]]"


class Peer:
    """One side's end of a JSON-RPC link (see the module docstring for its rules)."""

    def __init__(
        self,
        name: str,
        send: Send,
        task_group: TaskGroup,
        *,
        new_id: Callable[[], RequestId],
        on_problem: Callable[[Report], None],
        fallback: Fallback | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        """Create a peer.

        Args:
            name: Who the other side is, for stderr ("editor", "vm 1a2b3c4d").
            send: Writes one line to the other side (newline included).
            task_group: Where coroutine handlers run.
            new_id: Makes the id of the next outgoing request.
            on_problem: Told about every problem (count it, log it).
            fallback: Handles requests for methods the table does not name; without one
                they are answered ``-32601``. Unknown notifications are reported, ignored.
            max_in_flight: How many of the other side's requests may be handled (or have
                their answers written) at once; one more is refused (rule 5).
        """
        self.name = name
        self._send = send
        self._task_group = task_group
        self._new_id = new_id
        self._on_problem = on_problem
        self._methods = MethodTable(fallback)
        self._outgoing = OutgoingTable()
        self._incoming = IncomingTable(max_in_flight)

    # ------------------------------------------------------------------ the method table

    def on(
        self,
        method: str,
        handler: Callable[[JsonObject], Any],
        *,
        on_cancel: Callable[[JsonObject], Awaitable[None]] | None = None,
    ) -> None:
        """Route ``method`` (request or notification) to ``handler``.

        Args:
            method: The method name.
            handler: Called with the params; a coroutine function runs as a task.
            on_cancel: For a request whose cancellation means something of its own (ACP's
                ``session/prompt`` then ends its turn ``cancelled``): called with the
                request's params on ``$/cancel_request`` instead of aborting the handler.
        """
        self._methods.add(method, handler, on_cancel)

    @property
    def methods(self) -> frozenset[str]:
        """The methods the table names."""
        return self._methods.names

    # ------------------------------------------------------------------ reading

    async def receive_line(self, line: bytes) -> None:
        """Handle one line of the other side's (without its newline). Never raises."""
        if line.strip():
            await self._guarded(messages.parse_line, line)

    async def receive_value(self, value: Any) -> None:
        """Handle one parsed JSON value of the other side's. Never raises."""
        await self._guarded(messages.classify, value)

    async def receive(self, message: Message) -> None:
        """Handle one classified message. Never raises."""
        await self._guarded(_itself, message)

    async def _guarded(self, classify: Callable[[Any], Message], raw: Any) -> None:
        """Classify and dispatch ``raw``: the read loop's last line of defence (rule 1)."""
        try:
            await self._dispatch(classify(raw))
        except Exception as exc:  # noqa: BLE001 - a bug here must not end the read loop
            self._report(
                Problem.CRASHED,
                f"handling a message from {self.name} failed (a bug); the message is dropped",
                exception=exc,
            )

    async def _dispatch(self, message: Message) -> None:
        if isinstance(message, Invalid):
            await self._invalid(message)
        elif isinstance(message, Response):
            self._response(message)
        elif isinstance(message, Request):
            await self._request(message)
        elif message.method == CANCEL_REQUEST:
            await self._cancel_request(message.params or {})
        else:
            await self._notification(message)

    async def _invalid(self, message: Invalid) -> None:
        problem = Problem.PARSE_ERROR if message.code == messages.PARSE_ERROR else Problem.INVALID
        self._report(problem, f"{self.name} sent an invalid message: {message.message}")
        if message.answerable:
            await self.send_error(message.id, message.code, message.message)

    def _response(self, message: Response) -> None:
        if message.refused is not None:
            self._report(Problem.INVALID, f"{self.name} sent an invalid answer: {message.refused}")
        if not self._outgoing.answer(message):
            error = message.error or {}
            self._report(
                Problem.UNEXPECTED_RESPONSE,
                f"{self.name} sent a response to "
                f"{'no' if message.id is None else 'an unknown'} request id {message.id!r} "
                f"({_short(error.get('message', 'result'))}); ignored",
            )
            return

    async def _request(self, request: Request) -> None:
        handler = self._handler(request.method, request=True)
        if handler is None:
            self._report(
                Problem.UNKNOWN_METHOD,
                f"{self.name} called unknown method {request.method!r}",
                request.method,
            )
            await self.send_error(
                request.id, messages.METHOD_NOT_FOUND, f"Method not found: {request.method}"
            )
            return
        if self._incoming.get(request.id) is not None:
            self._report(
                Problem.DUPLICATE_ID,
                f"{self.name} reused request id {request.id!r} while it is being handled",
                request.method,
            )
            await self.send_error(
                request.id,
                messages.INVALID_REQUEST,
                f"Invalid Request: id {request.id!r} is already in use by a request in flight",
            )
            return
        if self._incoming.full:
            self._report(
                Problem.OVERLOADED,
                f"{self.name} has {self._incoming.unanswered} requests in flight, the most it may: "
                f"{request.method} refused",
                request.method,
            )
            limit = self._incoming.max_in_flight
            await self.send_error(
                request.id,
                messages.INTERNAL_ERROR,
                f"Internal error: too many requests in flight (at most {limit}); "
                f"{request.method} refused: send it again once some are answered",
            )
            return
        entry = self._incoming.admit(request.id, request.method, request.params or {})
        if inspect.iscoroutinefunction(handler):
            self._task_group.start_soon(
                self._run, request, handler, entry, name=f"{self.name} {request.method}"
            )
        else:
            await self._run(request, handler, entry)

    async def _run(self, request: Request, handler: Any, entry: IncomingRequest) -> None:
        try:
            try:
                with entry.scope:
                    answer = await self._answer(request, handler, entry.params, entry)
                if entry.scope.cancelled_caught:
                    answer = wire_error(
                        request.id,
                        JsonRpcRequestCancelled(f'Request with id "{request.id}" is canceled'),
                    )
            finally:
                self._incoming.handled(request.id, entry)
            await self._send(self._encode_answer(request, answer))
            if "result" in answer:
                for line in entry.then:
                    await self._send(line)
        finally:
            self._incoming.written()

    async def _answer(
        self, request: Request, handler: Any, params: JsonObject, entry: IncomingRequest
    ) -> JsonObject:
        """Call the handler: the one place where an exception becomes a wire error."""
        try:
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, Then):
                entry.then = result.lines
                result = result.result
        except RpcError as exc:
            self._report(Problem.REFUSED, f"{request.method}: {exc.message}", request.method, exc)
            return messages.error_response(request.id, exc.code, exc.message, exc.data)
        except Exception as exc:  # noqa: BLE001 - the one exception-to-wire boundary
            self._report(
                Problem.CRASHED,
                f"{request.method}: unexpected error",
                request.method,
                exception=exc,
            )
            return wire_error(
                request.id,
                JsonRpcInternalError(f"Internal error in {request.method}: {type(exc).__name__}"),
            )
        return messages.result_response(request.id, result)

    def _encode_answer(self, request: Request, answer: JsonObject) -> bytes:
        try:
            return messages.encode(answer)
        except (TypeError, orjson.JSONEncodeError) as exc:
            self._report(
                Problem.UNENCODABLE,
                f"{request.method}: the answer cannot be encoded ({exc})",
                request.method,
            )
            return messages.encode(
                wire_error(request.id, JsonRpcInternalError("Internal error: unencodable answer"))
            )

    async def _notification(self, message: Notification) -> None:
        handler = self._handler(message.method, request=False)
        if handler is None:
            self._report(
                Problem.UNKNOWN_METHOD,
                f"ignoring unknown notification {message.method!r} from {self.name}",
                message.method,
            )
            return
        if inspect.iscoroutinefunction(handler):
            self._task_group.start_soon(
                self._run_notification, message, handler, name=f"{self.name} {message.method}"
            )
        else:
            await self._run_notification(message, handler)

    async def _run_notification(self, message: Notification, handler: Any) -> None:
        try:
            result = handler(message.params or {})
            if inspect.isawaitable(result):
                await result
        except RpcError as exc:
            self._report(
                Problem.BAD_NOTIFICATION,
                f"{message.method} ignored: {exc.message}",
                message.method,
                exc,
            )
        except Exception as exc:  # noqa: BLE001 - the one exception-to-wire boundary
            self._report(
                Problem.CRASHED,
                f"{message.method}: unexpected error",
                message.method,
                exception=exc,
            )

    async def _cancel_request(self, params: JsonObject) -> None:
        request_id = params.get("requestId")
        if not messages.valid_id(request_id):
            self._report(
                Problem.BAD_NOTIFICATION,
                f"{CANCEL_REQUEST} ignored: requestId must be a string or an integer",
                CANCEL_REQUEST,
            )
            return
        entry = self._incoming.get(request_id)
        if entry is None:
            if self._outgoing.waiting(request_id):
                self._report(
                    Problem.STRAY_CANCEL,
                    f"{self.name} sent {CANCEL_REQUEST} for {request_id!r}, a request of "
                    "ours still waiting for its answer: it cannot cancel the bridge's own "
                    "request; ignored",
                    CANCEL_REQUEST,
                )
            else:  # answered already, or never sent: the usual race, nothing to do
                log.info("%s for %r: nothing in flight", CANCEL_REQUEST, request_id)
            return
        hook = self._methods.cancel_hook(entry.method)
        if hook is None:
            entry.scope.cancel()
            return
        self._task_group.start_soon(
            self._run_notification,
            Notification(CANCEL_REQUEST, entry.params, {}),
            hook,
            name=f"{self.name} {CANCEL_REQUEST}",
        )

    def _handler(self, method: str, *, request: bool) -> Any:
        return self._methods.handler(method, request=request)

    def _report(
        self,
        problem: Problem,
        message: str,
        method: str | None = None,
        error: RpcError | None = None,
        exception: BaseException | None = None,
    ) -> None:
        try:
            self._on_problem(Report(problem, message, method, error, exception))
        except Exception:  # the owner's bug must not end the read loop
            log.exception("%s: reporting a problem failed (a bug): %s", self.name, message)

    # ------------------------------------------------------------------ writing

    async def send_error(self, msg_id: RequestId | None, code: int, message: str) -> None:
        """Answer ``msg_id`` (``None``: a message whose id could not be read) with an error."""
        await self._send(messages.encode(messages.error_response(msg_id, code, message)))

    async def notify(self, method: str, params: JsonObject) -> bool:
        """Send a notification; return whether it could be written."""
        return await self._send(messages.encode(messages.notification(method, params)))

    async def request(
        self, method: str, params: JsonObject, *, send: bool = True
    ) -> OutgoingRequest:
        """Send a request (or, with ``send=False``, only register it: write ``line`` yourself).

        An outgoing request that could not be written is done at once, with an error.
        """
        msg_id = self._new_id()
        line = messages.encode(messages.request(msg_id, method, params))
        pending = self._outgoing.add(msg_id, method, line)
        if send and not await self._send(line):
            pending.fail(f"{self.name} can no longer be written to")
        return pending

    def forget(self, pending: OutgoingRequest) -> None:
        """Stop waiting for ``pending``'s answer (given up on); a late answer is unexpected."""
        self._outgoing.forget(pending)

    def close(self, reason: str) -> None:
        """The other side is gone: every outgoing request is done, with ``reason`` as error."""
        self._outgoing.close(reason)

    # ------------------------------------------------------------------ shutdown

    @property
    def in_flight(self) -> int:
        """How many of the other side's requests are being handled."""
        return self._incoming.in_flight

    async def wait_idle(self) -> None:
        """Wait until no request of the other side's is being handled."""
        await self._incoming.wait_idle()

    def cancel_all(self) -> None:
        """Abort every handler still running (each answers -32800) and every outgoing request."""
        self._incoming.cancel_all()
        self.close("shutting down")


def _itself(message: Message) -> Message:
    """A message already classified."""
    return message


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
