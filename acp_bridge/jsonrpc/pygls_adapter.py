"""The one module that imports pygls and lsprotocol.

pygls does the JSON-RPC bookkeeping: dispatching requests and notifications to handlers,
answering each request id exactly once, mapping exceptions to error responses, and ids and
futures for requests the bridge sends to the editor. What pygls does not fit is kept out:

* framing and transport are the bridge's (pygls' stdio loop speaks LSP's Content-Length
  framing and owns the event loop): messages arrive here already parsed and classified, and
  pygls' writer hands each outgoing line to the bridge's single stdout writer;
* the ``session/update`` hot path does not go through pygls at all;
* the converter is lsprotocol's (pygls' default renames ``_meta`` and turns params into
  namedtuples);
* handlers never let an unexpected exception reach pygls, whose internal-error responses
  carry a traceback: :meth:`RpcAdapter.register` wraps each handler in the one boundary
  that turns exceptions into wire errors.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final

from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcException
from pygls.protocol import JsonRPCProtocol
from pygls.server import JsonRPCServer

from acp_bridge.errors import RpcError

if TYPE_CHECKING:
    from acp_bridge.jsonrpc.messages import JsonObject, RequestId

log = logging.getLogger("acp_bridge.rpc")

INTERNAL_ERROR: Final = -32603

Handler = Callable[[dict[str, Any]], Any]


class _LineWriter:
    """pygls' writer: one serialised message in, one wire line out."""

    def __init__(self, send_line: Callable[[bytes], None]) -> None:
        self._send_line = send_line

    def write(self, data: bytes) -> None:
        self._send_line(data + b"\n")

    def close(self) -> None:
        """Nothing to close: the bridge owns stdout."""


class RpcAdapter:
    """pygls' JSON-RPC protocol object, fitted to the bridge."""

    def __init__(
        self,
        send_line: Callable[[bytes], None],
        on_unexpected: Callable[[BaseException], None],
        on_refused: Callable[[RpcError], None],
    ) -> None:
        """Create the adapter.

        Args:
            send_line: Enqueues one wire line for the editor (the bridge's outbox).
            on_unexpected: Called with every unexpected handler exception (for counters).
            on_refused: Called with every error a handler answers on purpose (for counters).
        """
        self._server = JsonRPCServer(JsonRPCProtocol, get_converter)
        self._protocol = self._server.protocol
        self._protocol.set_writer(_LineWriter(send_line), include_headers=False)
        self._on_unexpected = on_unexpected
        self._on_refused = on_refused
        self._ids = itertools.count()
        self.methods: set[str] = set()

    def register(self, method: str, handler: Handler) -> None:
        """Route ``method`` to ``handler`` (sync or async), behind the error boundary."""
        self.methods.add(method)
        if inspect.iscoroutinefunction(handler):

            async def run_async(params: Any) -> Any:
                try:
                    return await handler(_as_dict(params))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the one exception-to-wire boundary
                    raise self._wire_error(method, exc) from None

            self._server.feature(method)(run_async)
        else:

            def run_sync(params: Any) -> Any:
                try:
                    return handler(_as_dict(params))
                except Exception as exc:  # noqa: BLE001 - the one exception-to-wire boundary
                    raise self._wire_error(method, exc) from None

            self._server.feature(method)(run_sync)

    def _wire_error(self, method: str, exc: Exception) -> JsonRpcException:
        if isinstance(exc, RpcError):
            self._on_refused(exc)
            log.warning("%s: %s", method, exc.message)
            return JsonRpcException(code=exc.code, message=exc.message, data=exc.data)
        self._on_unexpected(exc)
        log.error("%s: unexpected error", method, exc_info=exc)
        return JsonRpcException(
            code=INTERNAL_ERROR,
            message=f"Internal error in {method}: {type(exc).__name__}",
        )

    def dispatch(self, raw: JsonObject) -> None:
        """Hand one classified, valid message (request, notification, response) to pygls."""
        self._protocol.handle_message(self._protocol.structure_message(raw))

    def current_request_id(self) -> RequestId | None:
        """The id of the editor request whose handler is running (from pygls' context)."""
        msg_id = self._protocol.msg_id
        return msg_id if isinstance(msg_id, int | str) else None

    def is_pending(self, msg_id: RequestId) -> bool:
        """Whether ``msg_id`` is a request the bridge sent and still awaits."""
        return msg_id in self._protocol._request_futures

    def cancel_incoming(self, msg_id: RequestId) -> bool:
        """Abort the handler of an editor request; pygls then answers it with -32800."""
        future = self._protocol._request_futures.get(msg_id)
        return future is not None and future.cancel()

    def send_request(self, method: str, params: JsonObject) -> tuple[str, Future[Any]]:
        """Send a request to the editor now; return its id and the future of its answer.

        The future fails with ``RpcError`` when the editor answers with an error.
        """
        msg_id = f"acp-bridge-{next(self._ids)}"
        inner = self._protocol.send_request(method, params, msg_id=msg_id)
        outer: Future[Any] = Future()

        def settle(done: Future[Any]) -> None:
            if done.cancelled():
                outer.cancel()
            elif isinstance(error := done.exception(), JsonRpcException):
                outer.set_exception(RpcError(error.code, error.message or "error", error.data))
            elif error is not None:
                outer.set_exception(error)
            else:
                outer.set_result(done.result())

        inner.add_done_callback(settle)
        return msg_id, outer

    def forget_request(self, msg_id: str) -> None:
        """Stop waiting for the answer to ``msg_id`` (it was cancelled or timed out)."""
        self._protocol._request_futures.pop(msg_id, None)

    def in_flight(self) -> list[Future[Any]]:
        """The editor requests still being handled (or awaiting the editor)."""
        return [f for f in self._protocol._request_futures.values() if not f.done()]

    def cancel_all(self) -> None:
        """Cancel every handler and outgoing request still in flight (shutdown)."""
        for future in list(self._protocol._request_futures.values()):
            future.cancel()


def _as_dict(params: Any) -> dict[str, Any]:
    return params if isinstance(params, dict) else {}


def configure_logging(verbose: bool) -> None:
    """Pygls logs every message it sends at INFO; keep it quiet unless asked."""
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
