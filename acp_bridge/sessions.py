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
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel

from acp_bridge.core.replay import Replayer
from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.errors import EventLogDeleteError, EventLogError, EventLogInUseError, RpcError
from acp_bridge.eventlog.catalog import delete_session, list_sessions
from acp_bridge.eventlog.naming import is_plain_session_id
from acp_bridge.eventlog.reader import CorruptLine, read_located_records, segment_paths
from acp_bridge.eventlog.records import SESSION_RECORD
from acp_bridge.eventlog.writer import JsonlEventLog
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.session_runtime import SessionRuntime, guarded_spawner, session_not_found
from acp_bridge.vm.exec_mode import ExecModeRunner
from acp_bridge.vm.session_mode import SessionModeRunner

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.acp.params import LoadSessionParams
    from acp_bridge.acp.stdio import Outbox
    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.counters import Counters
    from acp_bridge.editor_gateway import EditorGateway
    from acp_bridge.eventlog.writer import EventLog
    from acp_bridge.settings import Settings
    from acp_bridge.vm.supervisor import Runner

log = logging.getLogger("acp_bridge.sessions")

LIST_PAGE_SIZE: Final = 100
#: Records replayed between two yields to the event loop during session/load.
REPLAY_YIELD_EVERY: Final = 500
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
    ) -> None:
        """Create an empty registry; ``client_*`` and ``options`` are set at initialize.

        ``streaming`` is called whenever events are about to stream (a session goes live,
        a log is replayed).
        """
        self.settings = settings
        self.counters = counters
        self.outbox = outbox
        self.task_group = task_group
        self.gateway = gateway
        self.streaming = streaming
        self.spawn = guarded_spawner(task_group, counters)
        self.live: dict[str, SessionRuntime] = {}
        self.client_capabilities: JsonObject = {}
        self.client_info: JsonObject | None = None
        self.options = TranslatorOptions(harn_extensions=settings.harn_extensions)

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
        except EventLogError as exc:
            self.counters.eventlog_open_failures += 1
            raise RpcError(jsonrpc.INTERNAL_ERROR, f"cannot open the event log: {exc}") from None
        options = TranslatorOptions(harn_extensions=self.options.harn_extensions, cwd=cwd)
        core = SessionCore(session_id, cwd, options, list(additional_directories))
        return SessionRuntime(
            core,
            event_log,
            self.outbox,
            self.counters,
            mcp_servers,
            spawn=self.spawn,
            gateway=self.gateway,
        )

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

    def _runner(self, runtime: SessionRuntime) -> Runner:
        common: dict[str, Any] = {
            "settings": self.settings,
            "host": runtime,
            "task_group": self.task_group,
            "counters": self.counters,
            "spawn": self.spawn,
        }
        if self.settings.vm_mode == "exec":
            return ExecModeRunner(**common)
        return SessionModeRunner(
            **common,
            client_capabilities=self.client_capabilities,
            client_info=self.client_info,
        )

    # ------------------------------------------------------------------ sessions from logs

    def logged(self, session_id: str) -> list[Any]:
        """The log segments of ``session_id``.

        Raises:
            RpcError: -32602 for an id the bridge could not have made, -32002 for no log.
        """
        if not is_plain_session_id(session_id):
            raise RpcError(
                jsonrpc.INVALID_PARAMS,
                "Invalid params: sessionId is not a session id this bridge could have made",
                {"field": "sessionId"},
            )
        paths = segment_paths(self.settings.log_dir, session_id)
        if not paths:
            raise session_not_found(session_id)
        return paths

    async def restore(self, request: LoadSessionParams, *, send: bool) -> None:
        """Go live again from the log; with ``send``, replay the conversation to the editor.

        Raises:
            RpcError: No such log, or it could not be opened.
        """
        session_id = request.session_id
        paths = self.logged(session_id)
        await self.retire(session_id)
        runtime = await self._open(
            session_id, request.cwd, request.mcp_servers, request.additional_directories
        )
        replayer = Replayer(runtime.core.options)
        replayer.begin_log(session_id)
        self.streaming()  # a stream of records is coming
        pending: list[Outgoing] = []
        first = True
        for count, (where, item) in enumerate(read_located_records(paths), start=1):
            if count % REPLAY_YIELD_EVERY == 0:
                await self._send_lines(pending)
                pending = []
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
        closing = replayer.finish()
        if send:
            pending += closing
            await self._send_lines(pending)
        runtime.core.translator = replayer.translator(session_id)
        self._go_live(runtime)
        verb = "loaded" if send else "resumed"
        log.info("session %s %s from %d segment(s)", session_id, verb, len(paths))

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
        if session_id not in self.live:
            self.logged(session_id)
        await self.retire(session_id)

    async def delete(self, session_id: str) -> None:
        """Close the session if live and remove its log; unknown ids succeed.

        Raises:
            RpcError: The log is open in another process, or a file would not go.
        """
        await self.retire(session_id)
        try:
            delete_session(self.settings.log_dir, session_id)
        except EventLogInUseError:
            raise RpcError(
                jsonrpc.INTERNAL_ERROR,
                "the session is open in another process; close it there first",
                {"sessionId": session_id},
            ) from None
        except EventLogDeleteError as exc:
            raise RpcError(jsonrpc.INTERNAL_ERROR, str(exc)) from None
        log.info("session %s deleted", session_id)

    async def list(self, cwd: str | None, cursor: str | None) -> JsonObject:
        """One page of ``session/list``: every logged session, newest first.

        Raises:
            RpcError: -32602, a cursor this bridge did not hand out.
        """
        entries = await anyio.to_thread.run_sync(list_sessions, self.settings.log_dir)
        if cwd is not None:
            entries = [e for e in entries if e.cwd == cwd]
        start = 0
        if cursor is not None:
            if not cursor.isdigit():
                raise RpcError(jsonrpc.INVALID_PARAMS, "Invalid params: unknown cursor")
            start = int(cursor)
        page = entries[start : start + LIST_PAGE_SIZE]
        result: JsonObject = {"sessions": [e.info(cwd or "/") for e in page]}
        if start + LIST_PAGE_SIZE < len(entries):
            result["nextCursor"] = str(start + LIST_PAGE_SIZE)
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
