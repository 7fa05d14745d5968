"""The registry of live sessions: how they are opened, restored, retired and listed.

:class:`Sessions` opens sessions (new, or restored from their logs by ``session/load`` and
``session/resume``, which replays the conversation to the editor), retires them (close,
delete, shutdown) and lists the logged ones. Each live one is a
:class:`~acp_bridge.session_runtime.SessionRuntime`. It does not know the ACP method table:
:mod:`acp_bridge.agent` calls it with validated params.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel

from acp_bridge.core.choices import Choices
from acp_bridge.core.replay import Replayer
from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.errors import EventLogError, EventLogInUseError, EventLogUnsafeFileError, RpcError
from acp_bridge.eventlog.catalog import Catalog, delete_session
from acp_bridge.eventlog.naming import is_session_id
from acp_bridge.eventlog.paging import Pager
from acp_bridge.eventlog.reader import CorruptLine, SegmentChunks, segment_paths
from acp_bridge.eventlog.records import SESSION_RECORD
from acp_bridge.eventlog.writer import JsonlEventLog
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.session_runtime import SessionRuntime, guarded_spawner, session_not_found
from acp_bridge.vm.exec_mode import ExecModeRunner
from acp_bridge.vm.manifest import DEFAULT_MANIFEST
from acp_bridge.vm.session_mode import SessionModeRunner

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from anyio.abc import TaskGroup

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.acp.params import LoadSessionParams
    from acp_bridge.acp.stdio import Outbox
    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.counters import Counters
    from acp_bridge.editor_gateway import EditorGateway
    from acp_bridge.eventlog.writer import EventLog
    from acp_bridge.settings import Settings
    from acp_bridge.vm.lifeline import Lifeline
    from acp_bridge.vm.supervisor import Runner

log = logging.getLogger("acp_bridge.sessions")

#: Lines read (in a worker thread) and replayed per step of session/load.
REPLAY_BATCH: Final = 4000
NO_PROMPTS_NOTICE: Final = (
    "(This session was recorded by another runtime: the user's prompts were not recorded, "
    "so only the agent's side is shown.)"
)


class Sessions:
    """The live sessions of one bridge, and how they are opened, restored and retired."""

    def __init__(
        self,
        settings: Settings,
        counters: Counters,
        outbox: Outbox,
        task_group: TaskGroup,
        gateway: EditorGateway,
        *,
        streaming: Callable[[], object] = lambda: None,
        lifeline: Lifeline | None = None,
    ) -> None:
        """Create an empty registry; ``client_*`` and ``options`` are set at initialize.

        ``streaming`` is called whenever events are about to stream (a session goes live,
        a log is replayed); every VM started is listed with ``lifeline``.
        """
        self.settings = settings
        self.counters = counters
        self.outbox = outbox
        self.task_group = task_group
        self.gateway = gateway
        self.streaming = streaming
        self.lifeline = lifeline
        self.spawn = guarded_spawner(task_group, counters)
        self.live: dict[str, SessionRuntime] = {}
        self.client_capabilities: JsonObject = {}
        self.client_info: JsonObject | None = None
        #: The declared authentication method the editor chose (``authenticate``).
        self.auth_method_id: str | None = None
        self.options = TranslatorOptions(harn_extensions=settings.harn_extensions)
        self.catalog = Catalog(settings.log_dir, counters)
        self.pager = Pager()
        #: Per session id being restored, closed or deleted: its lock and how many hold it.
        self._id_locks: dict[str, tuple[anyio.Lock, int]] = {}

    def get(self, session_id: str) -> SessionRuntime:
        """The live session ``session_id``.

        Raises:
            RpcError: -32002, there is none.
        """
        runtime = self.live.get(session_id)
        if runtime is None or runtime.closed:
            raise session_not_found(session_id)
        return runtime

    async def create(
        self, cwd: str, mcp_servers: list[JsonObject], additional_directories: list[str]
    ) -> str:
        """A new session: its log, and (session mode) its VM, started in the background.

        Raises:
            RpcError: Its log could not be opened.
        """
        session_id = str(uuid.uuid4())
        runtime = await self._open(session_id, cwd, mcp_servers, additional_directories)
        self._go_live(runtime)
        log.info("session %s created in %s", session_id, cwd)
        return session_id

    async def _open(
        self,
        session_id: str,
        cwd: str,
        mcp_servers: list[JsonObject],
        additional_directories: list[str],
    ) -> SessionRuntime:
        try:
            event_log: EventLog = await anyio.to_thread.run_sync(self._open_log, session_id)
        except EventLogUnsafeFileError as exc:  # counted where it was refused
            raise RpcError(jsonrpc.INTERNAL_ERROR, f"cannot open the event log: {exc}") from None
        except EventLogError as exc:
            self.counters.eventlog_open_failures += 1
            raise RpcError(jsonrpc.INTERNAL_ERROR, f"cannot open the event log: {exc}") from None
        options = replace(self.options, cwd=cwd)
        core = SessionCore(session_id, cwd, options, list(additional_directories))
        runtime = SessionRuntime(
            core,
            event_log,
            self.outbox,
            self.counters,
            mcp_servers,
            spawn=self.spawn,
            gateway=self.gateway,
        )
        runtime.choices = self.base_choices()
        return runtime

    def base_choices(self) -> Choices:
        """The declared modes and options, as every session starts with them."""
        return Choices(self.settings.manifest or DEFAULT_MANIFEST)

    def _open_log(self, session_id: str) -> EventLog:
        return JsonlEventLog(
            self.settings.log_dir,
            session_id,
            counters=self.counters,
            rotation=self.settings.rotation,
            fsync=self.settings.fsync,
            background_sync=True,
        )

    def _go_live(self, runtime: SessionRuntime) -> None:
        self.streaming()  # a VM means a stream of events to come
        runtime.persist(runtime.core.started(runtime.mcp_servers))
        runtime.runner = self._runner(runtime)
        self.live[runtime.session_id] = runtime
        runtime.runner.warm_up()

    def choices(self) -> JsonObject:
        """What the editor chose that every VM gets when it starts (:class:`RunnerBase`).

        Besides these, a session's own choices (:meth:`SessionRuntime.vm_choices`).
        """
        return {} if self.auth_method_id is None else {"authMethodId": self.auth_method_id}

    def _runner(self, runtime: SessionRuntime) -> Runner:
        common: dict[str, Any] = {
            "settings": self.settings,
            "host": runtime,
            "task_group": self.task_group,
            "counters": self.counters,
            "spawn": self.spawn,
            "lifeline": self.lifeline,
            "choices": lambda: {**self.choices(), **runtime.vm_choices()},
        }
        if self.settings.vm_mode == "exec":
            return ExecModeRunner(**common)
        return SessionModeRunner(
            **common,
            client_capabilities=self.client_capabilities,
            client_info=self.client_info,
        )

    # ------------------------------------------------------------------ sessions from logs

    @asynccontextmanager
    async def exclusive(self, session_id: str) -> AsyncIterator[None]:
        """Hold ``session_id`` alone: its restores, closes and deletes run one at a time.

        A second ``session/load`` of a session being loaded waits for the first, instead
        of finding the log locked (by this very bridge) and refusing.
        """
        lock, holders = self._id_locks.get(session_id, (None, 0))
        if lock is None:
            lock = anyio.Lock()
        self._id_locks[session_id] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            lock, holders = self._id_locks[session_id]
            if holders == 1:
                del self._id_locks[session_id]
            else:
                self._id_locks[session_id] = (lock, holders - 1)

    async def logged(self, session_id: str) -> list[Path]:
        """The log segments of ``session_id`` (the directory is read in a worker thread).

        Raises:
            RpcError: -32602 for an id the bridge does not serve, -32002 for no log.
        """
        if not is_session_id(session_id):
            raise RpcError(
                jsonrpc.INVALID_PARAMS,
                "Invalid params: sessionId is not a session id this bridge could have made",
                {"field": "sessionId"},
            )
        try:
            paths = await anyio.to_thread.run_sync(segment_paths, self.settings.log_dir, session_id)
        except EventLogError as exc:
            self.counters.eventlog_open_failures += 1
            raise RpcError(jsonrpc.INTERNAL_ERROR, str(exc)) from None
        if not paths:
            raise session_not_found(session_id)
        return paths

    async def restore(self, request: LoadSessionParams, *, send: bool) -> None:
        """Go live again from the log; with ``send``, replay the conversation to the editor.

        Restores of one session run one after another (:meth:`exclusive`). However the
        restore ends short of going live (an error, ``$/cancel_request``, shutdown), the
        log it opened is closed, so its descriptor and lock never outlive it.

        Raises:
            RpcError: No such log, or it could not be opened or read.
        """
        session_id = request.session_id
        async with self.exclusive(session_id):
            paths = await self.logged(session_id)
            await self.retire(session_id)
            runtime = await self._open(
                session_id, request.cwd, request.mcp_servers, request.additional_directories
            )
            try:
                await self._replay(runtime, paths, send=send)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(runtime.log.close)
                raise
            self._go_live(runtime)
        verb = "loaded" if send else "resumed"
        log.info("session %s %s from %d segment(s)", session_id, verb, len(paths))

    async def _replay(self, runtime: SessionRuntime, paths: list[Path], *, send: bool) -> None:
        """Feed the log to the session's translator; with ``send``, to the editor too.

        The files are read in a worker thread, :data:`REPLAY_BATCH` lines at a time, so no
        read of the log directory ever blocks the event loop; they are decoded here.

        Raises:
            RpcError: A segment could not be opened or read (a refused file is counted
                where it is refused, any other failure as an open failure).
        """
        session_id = runtime.session_id
        replayer = Replayer(runtime.core.options, base_choices=self.base_choices())
        replayer.begin_log(session_id)
        self.streaming()  # a stream of records is coming
        limit = self.settings.max_editor_line_bytes + self.settings.max_vm_line_bytes
        segments = SegmentChunks(paths, max_line_bytes=limit, counters=self.counters)
        first = True
        try:
            while chunk := await anyio.to_thread.run_sync(segments.read, REPLAY_BATCH):
                pending: list[Outgoing] = []
                for where, item in segments.decode(chunk):
                    if isinstance(item, CorruptLine):
                        self.counters.eventlog_corrupt_lines += 1
                        log.warning("%s, skipped while loading %s", item, session_id)
                        continue
                    if first and send and item.event.get("type") != SESSION_RECORD:
                        pending.append(runtime.core.translator.notice(NO_PROMPTS_NOTICE))
                    first = False
                    lines = replayer.feed(item.event, where=where)
                    if send:
                        pending += lines
                await self._send_lines(pending)
        except EventLogUnsafeFileError as exc:
            raise RpcError(jsonrpc.INTERNAL_ERROR, f"cannot load the session: {exc}") from None
        except EventLogError as exc:
            self.counters.eventlog_open_failures += 1
            raise RpcError(jsonrpc.INTERNAL_ERROR, f"cannot load the session: {exc}") from None
        finally:
            segments.close()
        closing = replayer.finish()
        if send:
            await self._send_lines(closing)
        runtime.core.translator = translator = replayer.go_live(session_id)
        runtime.title = replayer.titles.get(session_id)
        for problem in translator.offers.stale:
            self.counters.eventlog_stale_choices += 1
            log.warning("session %s: a logged choice no longer holds: %s", session_id, problem)
        translator.offers.stale.clear()

    async def _send_lines(self, lines: list[Outgoing]) -> None:
        """Queue replayed lines once the editor has room for them, and let others run."""
        await anyio.lowlevel.checkpoint()
        await self.outbox.wait_for_room()
        self.outbox.put_many(lines)

    # ------------------------------------------------------------------ retiring

    async def retire(self, session_id: str) -> None:
        """Take a live session out of service (if it is live)."""
        runtime = self.live.pop(session_id, None)
        if runtime is not None:
            await runtime.retire()

    async def close(self, session_id: str) -> None:
        """Stop the session's work and VM; its log stays.

        Raises:
            RpcError: Neither live nor logged.
        """
        async with self.exclusive(session_id):
            if session_id not in self.live:
                await self.logged(session_id)
            await self.retire(session_id)

    async def delete(self, session_id: str) -> None:
        """Close the session if live and remove its log; unknown ids succeed.

        Raises:
            RpcError: The log is open in another process, or a file would not go.
        """
        async with self.exclusive(session_id):
            await self.retire(session_id)
            try:
                await anyio.to_thread.run_sync(
                    delete_session, self.settings.log_dir, session_id, self.counters
                )
            except EventLogInUseError:
                raise RpcError(
                    jsonrpc.INTERNAL_ERROR,
                    "the session is open in another process; close it there first",
                    {"sessionId": session_id},
                ) from None
            except EventLogError as exc:
                raise RpcError(jsonrpc.INTERNAL_ERROR, str(exc)) from None
        log.info("session %s deleted", session_id)

    async def list(self, cwd: str | None, cursor: str | None) -> JsonObject:
        """One page of ``session/list``: every logged session, newest first.

        The cursor goes on where the last page ended, however sessions changed meanwhile
        (:mod:`acp_bridge.eventlog.paging`); unchanged logs are not read again
        (:class:`~acp_bridge.eventlog.catalog.Catalog`).

        Raises:
            RpcError: -32602, a cursor this bridge did not hand out; -32603, the log
                directory cannot be listed.
        """
        try:
            plan = None if cursor is None else self.pager.plan(cursor, cwd)
        except ValueError:
            raise RpcError(
                jsonrpc.INVALID_PARAMS,
                "Invalid params: cursor is not one this bridge handed out",
                {"field": "cursor"},
            ) from None
        try:
            if plan is not None:  # a later page: only its own sessions are looked at
                ids = [key[1] for key in plan.keys]
                now = await anyio.to_thread.run_sync(self.catalog.entries_of, ids)
                page = self.pager.finish(plan, now)
            else:
                entries = await anyio.to_thread.run_sync(self.catalog.sessions)
                if cwd is not None:
                    entries = [e for e in entries if e.cwd == cwd]
                page = self.pager.page(entries, cwd, cursor)
        except (OSError, EventLogError) as exc:
            raise RpcError(jsonrpc.INTERNAL_ERROR, f"cannot list the sessions: {exc}") from None
        result: JsonObject = {"sessions": [e.info(cwd or "/") for e in page.entries]}
        if page.next_cursor is not None:
            result["nextCursor"] = page.next_cursor
        return result

    # ------------------------------------------------------------------ shutdown

    def cancel_all_turns(self) -> None:
        """The editor is going: every running turn is cancelled (its prompt answers)."""
        for runtime in self.live.values():
            runtime.cancel_now()

    async def shutdown(self) -> None:
        """Cancel every turn, stop every VM, close every log."""
        for runtime in list(self.live.values()):
            runtime.closed = True
            runtime.cancel_now()
        with anyio.move_on_after(self.settings.cancel_grace_s * 2 + 0.5):
            for runtime in self.live.values():
                async with runtime.turn_lock:
                    pass
        async with anyio.create_task_group() as group:
            for runtime in self.live.values():
                if runtime.runner is not None:
                    group.start_soon(runtime.runner.stop)
        for runtime in self.live.values():
            runtime.log.close()
