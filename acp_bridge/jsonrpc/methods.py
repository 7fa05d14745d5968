"""A peer's method table and the wire errors it makes itself, on pygls's machinery.

The table is pygls's :class:`~pygls.feature_manager.FeatureManager` (its public
``feature``/``features``), plus what a peer needs beside it: a fallback for requests no entry
names, and per-method cancellation hooks. Wire errors are pygls's
:class:`~pygls.exceptions.JsonRpcException` family, turned into JSON-RPC error objects by
lsprotocol's converter.

Rule: this module and :mod:`acp_bridge.jsonrpc.peer` are the only ones that touch pygls.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from lsprotocol.converters import get_converter
from pygls.feature_manager import FeatureManager

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pygls.exceptions import JsonRpcException

    from acp_bridge.jsonrpc.messages import JsonObject, RequestId

#: A catch-all handler for methods the table does not name: ``(method, params)``.
Fallback: TypeAlias = "Callable[[str, JsonObject], Awaitable[Any]]"

_CONVERTER: Final = get_converter()


class MethodTable:
    """Which handler serves which method, and what cancelling a request of it means."""

    def __init__(self, fallback: Fallback | None = None) -> None:
        """An empty table; ``fallback`` serves requests (not notifications) it does not name."""
        self._features = FeatureManager(converter=_CONVERTER)  # type: ignore[no-untyped-call]
        self._fallback = fallback
        self._cancel_hooks: dict[str, Callable[[JsonObject], Awaitable[None]]] = {}

    def add(
        self,
        method: str,
        handler: Callable[[JsonObject], Any],
        on_cancel: Callable[[JsonObject], Awaitable[None]] | None = None,
    ) -> None:
        """Route ``method`` to ``handler``; ``on_cancel`` replaces aborting it when cancelled."""
        self._features.feature(method)(_entry(handler))
        if on_cancel is not None:
            self._cancel_hooks[method] = on_cancel

    @property
    def names(self) -> frozenset[str]:
        """The methods the table names."""
        return frozenset(self._features.features)

    def handler(self, method: str, *, request: bool) -> Any:
        """The handler of ``method`` (the fallback's, for a request), or None."""
        handler = self._features.features.get(method)
        if handler is None and request and self._fallback is not None:
            return functools.partial(self._fallback, method)
        return handler

    def cancel_hook(self, method: str) -> Callable[[JsonObject], Awaitable[None]] | None:
        """What cancelling a request of ``method`` means, if not aborting its handler."""
        return self._cancel_hooks.get(method)


def _entry(handler: Callable[[JsonObject], Any]) -> Callable[[JsonObject], Any]:
    """``handler`` as a plain function (pygls's table marks its entries with attributes)."""
    if inspect.iscoroutinefunction(handler):

        async def run_async(params: JsonObject) -> Any:
            return await handler(params)

        return run_async

    def run_sync(params: JsonObject) -> Any:
        return handler(params)

    return run_sync


def wire_error(msg_id: RequestId, error: JsonRpcException) -> JsonObject:
    """An error response built from one of pygls's wire errors."""
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "error": _CONVERTER.unstructure(error.to_response_error()),
    }
