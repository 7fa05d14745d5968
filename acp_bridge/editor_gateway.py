"""The VM's requests to the editor: gated, shaped, recorded, forwarded, timed, cancellable.

A session-mode VM may ask the editor for permission, files and terminals. Every such
request passes here, in this order: refused after a cancel (except letting go of
terminals), checked against the editor's capabilities and the session's roots
(:mod:`acp_bridge.core.editor_calls`), shaped and perhaps answered from memory by its
method's :class:`MethodPolicy`, recorded in the session's log with its outcome, and
forwarded through the editor's :class:`~acp_bridge.jsonrpc.peer.Peer`. A request the
editor does not answer in time, or whose turn is cancelled while it waits, is withdrawn
with ``$/cancel_request``.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio

from acp_bridge.core.editor_calls import (
    CLEANUP_METHODS,
    PERMISSION,
    PermissionMemory,
    check,
    permission_request,
)
from acp_bridge.errors import RpcError
from acp_bridge.eventlog.records import editor_call_record
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.jsonrpc.peer import CANCEL_REQUEST
from acp_bridge.vm.supervisor import wait_any

if TYPE_CHECKING:
    from collections.abc import Callable

    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.counters import Counters
    from acp_bridge.jsonrpc.outgoing import OutgoingRequest
    from acp_bridge.jsonrpc.peer import Peer
    from acp_bridge.settings import Settings

log = logging.getLogger("acp_bridge.gateway")


class CallingSession(Protocol):
    """What the gateway needs to know of the session a VM asks for."""

    @property
    def session_id(self) -> str:
        """The ACP session id."""
        ...

    @property
    def label(self) -> str:
        """How the session's VM is named on stderr."""
        ...

    @property
    def roots(self) -> list[str]:
        """The directories the VM may touch: cwd, then the others."""
        ...

    @property
    def permissions(self) -> PermissionMemory:
        """The session's remembered always-answers."""
        ...

    @property
    def turn_cancelled(self) -> bool:
        """Whether the running turn (if any) was cancelled."""
        ...

    @property
    def editor_calls(self) -> dict[str, anyio.Event]:
        """The session's requests waiting for the editor, each with its withdraw event."""
        ...

    def persist(self, record: JsonObject, frame_depth: int | None = None) -> None:
        """Append a record to the session's log."""
        ...


class MethodPolicy:
    """How requests for one method are shaped and answered (the default: as they are)."""

    def prepare(self, params: JsonObject, session: CallingSession) -> JsonObject:
        """The params to forward."""
        return params

    def recall(self, params: JsonObject, session: CallingSession) -> JsonObject | None:
        """An answer to give without asking the editor, if one is known."""
        return None

    def answered(self, params: JsonObject, result: Any, session: CallingSession) -> Any:
        """The result to give the VM, from the editor's."""
        return result

    def cancelled(self) -> Any:
        """The result for a request withdrawn because its turn was cancelled.

        Raises:
            RpcError: -32800, unless the method has a cancelled outcome of its own.
        """
        raise RpcError(jsonrpc.REQUEST_CANCELLED, "the turn was cancelled")


class PermissionPolicy(MethodPolicy):
    """``session/request_permission``: ACP's options, always-answers remembered."""

    def prepare(self, params: JsonObject, session: CallingSession) -> JsonObject:
        """A valid ACP permission request from a VM's (possibly Harn-style) one."""
        return permission_request(params, session.session_id)

    def recall(self, params: JsonObject, session: CallingSession) -> JsonObject | None:
        """The remembered always-answer for this tool, if any."""
        return session.permissions.recall(params)

    def answered(self, params: JsonObject, result: Any, session: CallingSession) -> Any:
        """The editor's answer with the chosen option's kind (always-kinds remembered)."""
        return session.permissions.answered(params, result)

    def cancelled(self) -> Any:
        """ACP's own outcome for a permission request of a cancelled turn."""
        return {"outcome": {"outcome": "cancelled"}, "kind": None}


DEFAULT_POLICY: Final = MethodPolicy()
POLICIES: Final[dict[str, MethodPolicy]] = {PERMISSION: PermissionPolicy()}


class EditorGateway:
    """Forwards a VM's requests to the editor (see the module docstring)."""

    def __init__(self, settings: Settings, counters: Counters, editor: Peer) -> None:
        """Create the gateway; ``client_capabilities`` is set once the editor initializes."""
        self.settings = settings
        self.counters = counters
        self.editor = editor
        self.client_capabilities: JsonObject = {}

    async def call(self, session: CallingSession, method: str, params: JsonObject) -> Any:
        """Forward a VM's request to the editor and return the answer for the VM.

        Raises:
            RpcError: Refused (capability, path, cancelled turn), failed, or timed out.
        """
        params = {**params, "sessionId": session.session_id}
        if session.turn_cancelled and method not in CLEANUP_METHODS:
            raise RpcError(jsonrpc.REQUEST_CANCELLED, "the turn was cancelled")
        try:
            check(
                method,
                params,
                self.client_capabilities,
                session.roots,
                allow_outside=self.settings.allow_outside_cwd,
            )
        except RpcError as exc:
            self.counters.vm_refused_requests += 1
            log.warning("%s asked for %s, refused: %s", session.label, method, exc.message)
            raise
        policy = POLICIES.get(method, DEFAULT_POLICY)
        params = policy.prepare(params, session)
        record = functools.partial(editor_call_record, session.session_id, method, params)
        remembered = policy.recall(params, session)
        if remembered is not None:
            session.persist(record(result=remembered))
            return remembered
        answer = await self._forward(session, method, params, record)
        if answer is None:
            return policy.cancelled()
        try:
            result = answer.outcome()
        except RpcError as exc:
            session.persist(record(error={"code": exc.code, "message": exc.message}))
            raise
        result = policy.answered(params, result, session)
        session.persist(record(result=result))
        return result

    async def _forward(
        self,
        session: CallingSession,
        method: str,
        params: JsonObject,
        record: Callable[..., JsonObject],
    ) -> OutgoingRequest | None:
        """Ask the editor; wait for its answer, a withdrawal or the timeout.

        Returns:
            The answered request, or None when it was withdrawn (recorded as cancelled).

        Raises:
            RpcError: The editor did not answer in time (recorded as a timeout).
        """
        pending = await self.editor.request(method, params)
        withdrawn = session.editor_calls[str(pending.id)] = anyio.Event()
        try:
            await wait_any(pending.done, withdrawn, timeout=self.settings.editor_timeout_s)
        finally:
            session.editor_calls.pop(str(pending.id), None)
        if not pending.done.is_set():
            self.editor.forget(pending)
            await self.editor.notify(CANCEL_REQUEST, {"requestId": pending.id})
            if withdrawn.is_set():
                session.persist(record(error="cancelled"))
                return None
            session.persist(record(error="timeout"))
            self.counters.editor_call_timeouts += 1
            raise RpcError(
                jsonrpc.INTERNAL_ERROR,
                f"the editor did not answer {method} in {self.settings.editor_timeout_s} s",
            )
        return pending
