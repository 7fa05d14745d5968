"""The VM's requests to the editor: gated, shaped, recorded, forwarded, timed, cancellable.

A session-mode VM may ask the editor for permission, files and terminals. Every such
request passes here, in this order: refused after a cancel (except letting go of
terminals), refused when the session already has :data:`MAX_EDITOR_CALLS_PER_SESSION`
requests waiting for the editor, checked against the editor's capabilities and the
session's roots (:mod:`acp_bridge.core.editor_calls`, with paths and roots resolved here,
in a worker thread, as the file system resolves them), shaped and perhaps answered from
memory by its method's :class:`MethodPolicy`, recorded in the session's log with its
outcome, and forwarded through the editor's :class:`~acp_bridge.jsonrpc.peer.Peer`. A
request the editor does not answer in time, or whose turn is cancelled while it waits, is
withdrawn with ``$/cancel_request``.

How long the editor may take is the method's (:attr:`MethodPolicy.timeout_s`): a file or
a terminal's output comes back in :data:`QUICK_TIMEOUT_S`; a permission request (a person
decides) and ``terminal/wait_for_exit`` (a command runs as long as it runs) have no limit
of their own. ``--editor-timeout`` (``Settings.editor_timeout_s``), when given, bounds every
method: the shorter of the two applies. A request still waiting after
:data:`NOTICE_AFTER_S` is reported on stderr (and counted), then every
:data:`NOTICE_EVERY_S`, so that an editor that never answers is never silent.

The gate resolves paths when the request is made; the editor opens them later. A VM that
swaps a directory for a link in between can still win that race: the editor is asked with
the path as the VM named it, and only the editor, which opens the file, can close it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import posixpath
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol

import anyio

from acp_bridge.core.editor_calls import (
    CLEANUP_METHODS,
    PERMISSION,
    WAIT_FOR_EXIT,
    PermissionMemory,
    check,
    permission_request,
    requested_path,
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

#: How many of one session's requests may wait for the editor at once; one more is
#: answered at once with -32603 (a VM asking faster than the editor answers is bounded).
MAX_EDITOR_CALLS_PER_SESSION: Final = 64
#: How long the editor may take to read or write a file, or to create, read, kill or
#: release a terminal, unless ``--editor-timeout`` is shorter.
QUICK_TIMEOUT_S: Final = 30.0
#: A request waiting this long is reported on stderr and counted...
NOTICE_AFTER_S: Final = 10.0
#: ...and reported again each time it has waited this much longer.
NOTICE_EVERY_S: Final = 30.0
#: One refusal over the bound in this many is reported on stderr (every one is counted,
#: and every one answered with an error that says why).
OVER_LIMIT_REPORT_EVERY: Final = 1000


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

    def tool_card(self, vm_id: str) -> tuple[str, str] | None:
        """The wire id and title of the turn's tool call the VM names ``vm_id``, if any."""
        ...


class MethodPolicy:
    """How requests for one method are shaped, answered and timed (the default: as they are).

    Attributes:
        timeout_s: How long the editor may take to answer; ``None``: no limit of the
            method's own (``--editor-timeout`` still bounds it when given).
    """

    def __init__(self, *, timeout_s: float | None = QUICK_TIMEOUT_S) -> None:
        """A policy whose requests may wait ``timeout_s`` for the editor."""
        self.timeout_s = timeout_s

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
    """``session/request_permission``: ACP's options, always-answers remembered, no limit.

    A person decides, and may take their time: the request waits until it is answered or
    its turn is cancelled (reported on stderr while it waits).
    """

    def __init__(self) -> None:
        """The permission policy: no time limit of its own."""
        super().__init__(timeout_s=None)

    def prepare(self, params: JsonObject, session: CallingSession) -> JsonObject:
        """A valid ACP permission request from a VM's (possibly Harn-style) one."""
        return permission_request(params, session.session_id, session.tool_card)

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
POLICIES: Final[dict[str, MethodPolicy]] = {
    PERMISSION: PermissionPolicy(),
    # The command runs as long as it runs; the turn's cancel withdraws the wait.
    WAIT_FOR_EXIT: MethodPolicy(timeout_s=None),
}


def timeout_for(method: str, editor_timeout_s: float | None) -> float | None:
    """How long a request for ``method`` may wait (``None``: as long as it takes).

    Its policy's limit, bounded by ``editor_timeout_s`` (``--editor-timeout``) when that is
    given and shorter.
    """
    limits = [
        limit
        for limit in (POLICIES.get(method, DEFAULT_POLICY).timeout_s, editor_timeout_s)
        if limit is not None
    ]
    return min(limits) if limits else None


class EditorGateway:
    """Forwards a VM's requests to the editor (see the module docstring)."""

    def __init__(self, settings: Settings, counters: Counters, editor: Peer) -> None:
        """Create the gateway; ``client_capabilities`` is set once the editor initializes."""
        self.settings = settings
        self.counters = counters
        self.editor = editor
        self.client_capabilities: JsonObject = {}
        self._keys = itertools.count()

    async def call(self, session: CallingSession, method: str, params: JsonObject) -> Any:
        """Forward a VM's request to the editor and return the answer for the VM.

        Raises:
            RpcError: Refused (capability, path, cancelled turn, too many waiting),
                failed, or timed out.
        """
        params = {**params, "sessionId": session.session_id}
        if session.turn_cancelled and method not in CLEANUP_METHODS:
            raise RpcError(jsonrpc.REQUEST_CANCELLED, "the turn was cancelled")
        calls = session.editor_calls
        if len(calls) >= MAX_EDITOR_CALLS_PER_SESSION:
            self._over_limit(session, method)
        # The slot is taken before the first await, so no burst of requests gets past it.
        key = f"{method}#{next(self._keys)}"
        withdrawn = calls[key] = anyio.Event()
        try:
            return await self._call(session, method, params, withdrawn)
        finally:
            calls.pop(key, None)

    async def _call(
        self, session: CallingSession, method: str, params: JsonObject, withdrawn: anyio.Event
    ) -> Any:
        await self._check(session, method, params)
        policy = POLICIES.get(method, DEFAULT_POLICY)
        params = policy.prepare(params, session)
        record = functools.partial(editor_call_record, session.session_id, method, params)
        remembered = policy.recall(params, session)
        if remembered is not None:
            session.persist(record(result=remembered))
            return remembered
        if withdrawn.is_set():  # cancelled (or the VM left) while the paths were resolved
            session.persist(record(error="cancelled"))
            return policy.cancelled()
        answer = await self._forward(session, method, params, record, withdrawn)
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

    def _over_limit(self, session: CallingSession, method: str) -> NoReturn:
        """Refuse a request over the session's bound: counted, reported now and then.

        Raises:
            RpcError: -32603, saying why.
        """
        self.counters.vm_requests_over_limit += 1
        refused = self.counters.vm_requests_over_limit
        if refused == 1 or refused % OVER_LIMIT_REPORT_EVERY == 0:
            log.warning(
                "%s asked for %s with %d requests waiting for the editor already, the most "
                "a session may: refused (%d refused so far)",
                session.label,
                method,
                MAX_EDITOR_CALLS_PER_SESSION,
                refused,
            )
        raise RpcError(
            jsonrpc.INTERNAL_ERROR,
            f"too many requests waiting for the editor: this session has "
            f"{MAX_EDITOR_CALLS_PER_SESSION}, the most it may; {method} refused: send it "
            "again once some are answered",
            {"limit": MAX_EDITOR_CALLS_PER_SESSION},
        )

    async def _check(self, session: CallingSession, method: str, params: JsonObject) -> None:
        """The capability and roots check, on paths as the file system resolves them.

        Raises:
            RpcError: Refused (counted, reported on stderr).
        """
        roots = session.roots
        allow_outside = self.settings.allow_outside_cwd
        path = requested_path(method, params)
        resolved: dict[str, str] = {}
        if not allow_outside and isinstance(path, str) and posixpath.isabs(path):
            resolved = await anyio.to_thread.run_sync(_realpaths, [path, *roots])
        try:
            check(
                method,
                params,
                self.client_capabilities,
                roots,
                allow_outside=allow_outside,
                resolve=lambda name: resolved.get(name, posixpath.normpath(name)),
            )
        except RpcError as exc:
            self.counters.vm_refused_requests += 1
            log.warning("%s asked for %s, refused: %s", session.label, method, exc.message)
            raise

    async def _forward(
        self,
        session: CallingSession,
        method: str,
        params: JsonObject,
        record: Callable[..., JsonObject],
        withdrawn: anyio.Event,
    ) -> OutgoingRequest | None:
        """Ask the editor; wait for its answer, a withdrawal or the timeout.

        Returns:
            The answered request, or None when it was withdrawn (recorded as cancelled).

        Raises:
            RpcError: The editor did not answer in time (recorded as a timeout).
        """
        timeout = timeout_for(method, self.settings.editor_timeout_s)
        pending = await self.editor.request(method, params)
        await self._wait(session, pending, withdrawn, timeout)
        if not pending.done.is_set():
            self.editor.forget(pending)
            await self.editor.notify(CANCEL_REQUEST, {"requestId": pending.id})
            if withdrawn.is_set():
                session.persist(record(error="cancelled"))
                return None
            session.persist(record(error="timeout"))
            self.counters.editor_call_timeouts += 1
            raise RpcError(
                jsonrpc.INTERNAL_ERROR, f"the editor did not answer {method} in {timeout:g} s"
            )
        return pending

    async def _wait(
        self,
        session: CallingSession,
        pending: OutgoingRequest,
        withdrawn: anyio.Event,
        timeout: float | None,  # noqa: ASYNC109 - reported on the way, not just a deadline
    ) -> None:
        """Wait for the answer, the withdrawal or ``timeout``; say so while it takes long."""
        start = anyio.current_time()
        notice_at = NOTICE_AFTER_S
        while True:
            wake = notice_at if timeout is None else min(notice_at, timeout)
            left = wake - (anyio.current_time() - start)
            await wait_any(pending.done, withdrawn, timeout=max(left, 0.0))
            if pending.done.is_set() or withdrawn.is_set():
                return
            waited = anyio.current_time() - start
            if timeout is not None and waited >= timeout:
                return
            if waited >= notice_at:
                if notice_at == NOTICE_AFTER_S:
                    self.counters.editor_slow_calls += 1
                limit = (
                    "it has no time limit" if timeout is None else f"it times out at {timeout:g} s"
                )
                log.warning(
                    "%s (session %s): the editor has not answered %s (request %s) for %.0f s; "
                    "still waiting: %s",
                    session.label,
                    session.session_id,
                    pending.method,
                    pending.id,
                    notice_at,
                    limit,
                )
                notice_at += NOTICE_EVERY_S


def _realpaths(paths: list[str]) -> dict[str, str]:
    """Each path as the file system resolves it (a worker thread's job: it stats)."""
    return {path: os.path.realpath(path) for path in paths}
