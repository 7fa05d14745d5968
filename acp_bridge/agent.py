"""The ACP agent side: the editor's methods, sessions, and the VM event pipeline.

Every line the editor sends arrives in :meth:`AcpServer.on_line`, is classified
(:mod:`acp_bridge.jsonrpc.messages`), and is either answered at once (bad input, unknown
method) or handed to pygls (:mod:`acp_bridge.jsonrpc.pygls_adapter`), which calls the
handlers below. Every line a VM writes goes through :meth:`SessionRuntime.ingest`:
persisted first, then translated, then queued for the editor behind the same single writer
as every response, so the order the editor sees is the order things happened.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel

from acp_bridge import __version__, tuning
from acp_bridge.acp.params import (
    CancelRequestParams,
    InitializeParams,
    ListSessionsParams,
    LoadSessionParams,
    NewSessionParams,
    PromptParams,
    SessionIdParams,
    StrictLoadSessionParams,
    parse_params,
)
from acp_bridge.acp.updates import PROTOCOL_VERSION
from acp_bridge.core.editor_calls import (
    CLEANUP_METHODS,
    PERMISSION,
    PermissionMemory,
    check,
    permission_request,
)
from acp_bridge.core.replay import EDITOR_CALL_RECORD, SESSION_RECORD, Replayer
from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import (
    EXTENSION_UPDATE_TYPES,
    HARN_META_KEY,
    HARN_UPDATE_METHOD,
    TranslatorOptions,
    outgoing,
)
from acp_bridge.errors import EventLogDeleteError, EventLogError, EventLogInUseError, RpcError
from acp_bridge.eventlog.catalog import delete_session, list_sessions
from acp_bridge.eventlog.naming import is_plain_session_id
from acp_bridge.eventlog.reader import CorruptLine, read_located_records, segment_paths
from acp_bridge.eventlog.writer import BackgroundSync, JsonlEventLog
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.jsonrpc.pygls_adapter import RpcAdapter
from acp_bridge.vm.supervisor import (
    ExecSupervisor,
    SessionSupervisor,
    Supervisor,
    Turn,
    wait_any,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskGroup

    from acp_bridge.acp.coalesce import Outgoing
    from acp_bridge.acp.stdio import Outbox
    from acp_bridge.acp.updates import JsonObject, StopReason
    from acp_bridge.counters import Counters
    from acp_bridge.eventlog.writer import EventLog
    from acp_bridge.jsonrpc.framing import LineTooLong
    from acp_bridge.settings import Settings

log = logging.getLogger("acp_bridge.server")

STATUS_METHOD: Final = "_acp_bridge/status"
LIST_PAGE_SIZE: Final = 100
#: Records replayed between two yields to the event loop during session/load.
REPLAY_YIELD_EVERY: Final = 500
NO_PROMPTS_NOTICE: Final = (
    "(This session was recorded by another runtime: the user's prompts were not recorded, "
    "so only the agent's side is shown.)"
)
PROMPT_BLOCK_TYPES: Final = frozenset({"text", "resource_link", "image", "resource"})
PROMPT_CAPABILITIES: Final = {"image": True, "audio": False, "embeddedContext": True}
#: Error codes that say the editor's request was at fault (counted as refused).
EDITOR_FAULTS: Final = frozenset(
    {
        jsonrpc.INVALID_PARAMS,
        jsonrpc.INVALID_REQUEST,
        jsonrpc.METHOD_NOT_FOUND,
        jsonrpc.RESOURCE_NOT_FOUND,
        jsonrpc.AUTH_REQUIRED,
    }
)


def session_not_found(session_id: str) -> RpcError:
    """The -32002 answer for an id the bridge does not know."""
    return RpcError(jsonrpc.RESOURCE_NOT_FOUND, "Session not found", {"sessionId": session_id})


@dataclass(slots=True)
class SessionRuntime:
    """One live ACP session: its state, its log, its VM and its current turn."""

    core: SessionCore
    log: EventLog
    outbox: Outbox
    counters: Counters
    mcp_servers: list[JsonObject]
    server: AcpServer | None = None
    supervisor: Supervisor | None = None
    permissions: PermissionMemory = field(default_factory=PermissionMemory)
    editor_calls: dict[str, anyio.Event] = field(default_factory=dict)
    turn: Turn | None = None
    turn_lock: anyio.Lock = field(default_factory=anyio.Lock)
    closed: bool = False
    syncing: bool = False  # the log's fsync is running in a worker thread
    #: The log's background fsync, if it offers one (looked up once: a protocol check is slow).
    background_sync: BackgroundSync | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if isinstance(self.log, BackgroundSync):
            self.background_sync = self.log

    @property
    def session_id(self) -> str:
        """The ACP session id."""
        return self.core.session_id

    @property
    def cwd(self) -> str:
        """The session's working directory."""
        return self.core.cwd

    @property
    def additional_directories(self) -> list[str]:
        """The session's workspace roots besides its cwd."""
        return self.core.additional_directories

    @property
    def label(self) -> str:
        """How this session's VM is named on stderr."""
        return f"vm {self.core.session_id[:8]}"

    def persist(self, record: JsonObject, frame_depth: int | None = None) -> None:
        """Append to the session's log; a failure is counted by the log, never raised."""
        self.log.append(record, frame_depth=frame_depth)

    async def ingest(
        self, lines: Sequence[bytes | LineTooLong], start: int, first_line: int
    ) -> tuple[int, JsonObject | None]:
        """Persist VM lines, then translate and forward them (see :class:`TurnHost`).

        Waiting for room in the outbox comes first, so that deciding whether the turn is
        still open and queueing its notifications happen with no await in between: no
        update can slip in behind the prompt's answer. The records of the batch reach the
        log (one ``write``) before any of its notifications is queued.
        """
        await self.outbox.wait_for_room()
        batch = self.core.vm_lines(lines, start)
        if batch.records:
            self.log.append_many(batch.records)
            sync = self.background_sync
            if (
                sync is not None
                and sync.sync_wanted
                and not self.syncing
                and self.server is not None
            ):
                self.syncing = True
                self.server.spawn(f"fsync {self.label}", self.sync_log)
        counters = self.counters
        for name, count in batch.counts.items():
            setattr(counters, name, getattr(counters, name) + count)
        for position, problem in batch.problems:
            log.warning("%s stdout line %d: %s", self.label, first_line + position, problem)
        self.outbox.put_many(batch.outgoing)
        return batch.end, batch.rpc

    async def sync_log(self) -> None:
        """Run the log's due ``fsync`` in a worker thread: the event loop goes on meanwhile."""
        try:
            sync = self.background_sync
            if sync is None or (handle := sync.begin_sync()) is None:
                return
            error: OSError | None = None
            try:
                await anyio.to_thread.run_sync(os.fsync, handle)
            except OSError as exc:
                error = exc
            finally:
                sync.end_sync(handle, error)
        finally:
            self.syncing = False

    def vm_turn_begins(self) -> None:
        """The prompt is being handed to the VM."""
        record = self.core.vm_has_prompt()
        if record is not None:
            self.persist(record)

    def vm_turn_over(self) -> None:
        """The VM answered its prompt; later lines are outside the turn."""
        record = self.core.vm_answered()
        if record is not None:
            self.persist(record)

    def vm_exited(self) -> None:
        """Withdraw every editor request the VM was waiting for: nobody will read it."""
        for waiting in list(self.editor_calls.values()):
            waiting.set()

    async def editor_call(self, method: str, params: JsonObject) -> Any:
        """Ask the editor on the VM's behalf (see :meth:`AcpServer.editor_call`)."""
        assert self.server is not None
        return await self.server.editor_call(self, method, params)

    def send_all(self, notifications: list[Any]) -> None:
        """Queue notifications now (the caller has made sure the turn is open)."""
        for notification in notifications:
            self.outbox.put_nowait(jsonrpc.encode(notification))


class AcpServer:
    """The editor-facing ACP agent: handlers, sessions, and the error boundary."""

    def __init__(
        self, settings: Settings, counters: Counters, outbox: Outbox, task_group: TaskGroup
    ) -> None:
        """Wire the server to its outbox and the task group that owns every task."""
        self.settings = settings
        self.counters = counters
        self.outbox = outbox
        self.task_group = task_group
        self.sessions: dict[str, SessionRuntime] = {}
        self.client_capabilities: JsonObject = {}
        self.client_info: JsonObject | None = None
        self.options = TranslatorOptions(harn_extensions=settings.harn_extensions)
        self.rpc = RpcAdapter(outbox.put_nowait, self._unexpected, self._refused)
        self._prompt_requests: dict[jsonrpc.RequestId, SessionRuntime] = {}
        for method, handler in (
            ("initialize", self.initialize),
            ("session/new", self.new_session),
            ("session/prompt", self.prompt),
            ("session/cancel", self.cancel),
            ("session/load", self.load_session),
            ("session/resume", self.resume_session),
            ("session/list", self.list_sessions),
            ("session/close", self.close_session),
            ("session/delete", self.delete_session),
            ("$/cancel_request", self.cancel_request),
            (STATUS_METHOD, self.status),
        ):
            self.rpc.register(method, handler)

    # ------------------------------------------------------------------ transport

    def _unexpected(self, exc: BaseException) -> None:
        self.counters.handler_unexpected_exceptions += 1

    def _refused(self, exc: RpcError) -> None:
        """A handler answered with an error: count it when the editor's request was at fault.

        The other errors are counted where they arise (a VM that failed, a log that would
        not open); a cancelled turn is no fault.
        """
        if exc.code in EDITOR_FAULTS:
            self.counters.editor_refused_requests += 1

    def _answer_error(self, msg_id: jsonrpc.RequestId | None, code: int, message: str) -> None:
        self.outbox.put_nowait(jsonrpc.encode(jsonrpc.error_response(msg_id, code, message)))

    def on_too_long(self, item: LineTooLong) -> None:
        """An editor line over the limit: answer -32600 with id null, count it."""
        self.counters.editor_overlong_lines += 1
        log.warning("editor sent a line of %d bytes, over the limit; discarded", item.length)
        self._answer_error(None, jsonrpc.INVALID_REQUEST, "Invalid Request: message too large")

    def on_line(self, line: bytes) -> None:
        """Handle one line from the editor. Never raises."""
        if not line.strip():
            return
        message = jsonrpc.parse_line(line)
        if isinstance(message, jsonrpc.Invalid):
            self._invalid(message)
        elif isinstance(message, jsonrpc.Response):
            self._response(message)
        elif message.method not in self.rpc.methods:
            self._unknown_method(message)
        else:
            self.rpc.dispatch(message.raw)

    def _invalid(self, message: jsonrpc.Invalid) -> None:
        if message.code == jsonrpc.PARSE_ERROR:
            self.counters.editor_parse_errors += 1
        else:
            self.counters.editor_invalid_requests += 1
        log.warning("editor sent an invalid message: %s", message.message)
        if message.answerable:
            self._answer_error(message.id, message.code, message.message)

    def _response(self, message: jsonrpc.Response) -> None:
        if message.id is None or not self.rpc.is_pending(message.id):
            self.counters.editor_unexpected_responses += 1
            error = message.error or {}
            log.warning(
                "editor sent a response to %s request id %r (%s); ignored",
                "no" if message.id is None else "an unknown",
                message.id,
                error.get("message", "result"),
            )
            return
        self.rpc.dispatch(message.raw)

    def _unknown_method(self, message: jsonrpc.Request | jsonrpc.Notification) -> None:
        self.counters.editor_unknown_methods += 1
        if isinstance(message, jsonrpc.Request):
            log.warning("editor called unknown method %r", message.method)
            self._answer_error(
                message.id, jsonrpc.METHOD_NOT_FOUND, f"Method not found: {message.method}"
            )
        else:
            log.info("ignoring unknown notification %r", message.method)

    def spawn(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` in the bridge's task group; an unexpected error is logged, counted."""

        async def guarded() -> None:
            try:
                await job()
            except Exception:
                self.counters.handler_unexpected_exceptions += 1
                log.exception("task %s failed", name)

        self.task_group.start_soon(guarded, name=name)

    # ------------------------------------------------------------------ handlers

    def initialize(self, params: JsonObject) -> JsonObject:
        """Negotiate: always protocol version 1; advertise what the bridge sends."""
        request = parse_params(InitializeParams, params)
        self.client_capabilities = request.client_capabilities
        self.client_info = request.client_info
        meta = self.client_capabilities.get("_meta")
        harn = meta.get(HARN_META_KEY) if isinstance(meta, dict) else None
        opted_in = isinstance(harn, dict) and harn.get("topLevelUpdates") is True
        self.options = TranslatorOptions(harn_extensions=self.settings.harn_extensions or opted_in)
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "agentCapabilities": {
                "loadSession": True,
                "promptCapabilities": PROMPT_CAPABILITIES,
                "mcpCapabilities": {"http": False, "sse": False},
                "sessionCapabilities": {
                    "list": {},
                    "resume": {},
                    "close": {},
                    "delete": {},
                    "additionalDirectories": {},
                },
                "_meta": {
                    HARN_META_KEY: {
                        "extensionMethod": HARN_UPDATE_METHOD,
                        "updates": list(EXTENSION_UPDATE_TYPES),
                        "metaKey": HARN_META_KEY,
                        "topLevelUpdates": self.options.harn_extensions,
                    },
                    "acp_bridge": {"version": __version__, "statusMethod": STATUS_METHOD},
                },
            },
            "authMethods": [],
            "agentInfo": {"name": "acp-bridge", "title": "acp-bridge", "version": __version__},
        }

    async def new_session(self, params: JsonObject) -> JsonObject:
        """Create a session: its log, and (session mode) its VM, started in the background."""
        request = parse_params(NewSessionParams, params)
        session_id = str(uuid.uuid4())
        runtime = await self._open_runtime(
            session_id, request.cwd, request.mcp_servers, request.additional_directories
        )
        self._go_live(runtime)
        log.info("session %s created in %s", session_id, request.cwd)
        return {"sessionId": session_id}

    async def _open_runtime(
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
        return SessionRuntime(core, event_log, self.outbox, self.counters, mcp_servers, server=self)

    def _go_live(self, runtime: SessionRuntime) -> None:
        runtime.persist(runtime.core.started(runtime.mcp_servers))
        runtime.supervisor = self._supervisor(runtime)
        self.sessions[runtime.session_id] = runtime
        runtime.supervisor.warm_up()

    # ------------------------------------------------------------------ sessions from logs

    def _logged_session(self, session_id: str) -> list[Any]:
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

    async def load_session(self, params: JsonObject) -> JsonObject:
        """``session/load``: replay the whole conversation from the log, then go live."""
        request = parse_params(StrictLoadSessionParams, params)
        await self._restore(request, send=True)
        return {}

    async def resume_session(self, params: JsonObject) -> JsonObject:
        """``session/resume``: go live again without replaying anything to the editor."""
        request = parse_params(LoadSessionParams, params)
        await self._restore(request, send=False)
        return {}

    async def _restore(self, request: LoadSessionParams, *, send: bool) -> None:
        session_id = request.session_id
        paths = self._logged_session(session_id)
        await self._retire(session_id)
        runtime = await self._open_runtime(
            session_id, request.cwd, request.mcp_servers, request.additional_directories
        )
        replayer = Replayer(runtime.core.options)
        replayer.begin_log(session_id)
        tuning.tune()  # a stream of records is coming
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
                notice = runtime.core.translator.notice(NO_PROMPTS_NOTICE)
                pending.append(jsonrpc.encode(notice))
            first = False
            lines = replayer.feed_wire(item.event, where=where)
            if send:
                pending += lines
        closing = replayer.finish()
        if send:
            pending += map(outgoing, closing)
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

    async def _retire(self, session_id: str) -> None:
        """Take a live session out of service: cancel its turn, stop its VM, close its log."""
        runtime = self.sessions.pop(session_id, None)
        if runtime is None:
            return
        runtime.closed = True
        await self._cancel_turn(runtime)
        async with runtime.turn_lock:
            if runtime.supervisor is not None:
                await runtime.supervisor.stop()
            runtime.log.close()

    async def list_sessions(self, params: JsonObject) -> JsonObject:
        """``session/list``: every logged session, newest first, optionally for one cwd."""
        request = parse_params(ListSessionsParams, params)
        entries = await anyio.to_thread.run_sync(list_sessions, self.settings.log_dir)
        if request.cwd is not None:
            entries = [e for e in entries if e.cwd == request.cwd]
        start = 0
        if request.cursor is not None:
            if not request.cursor.isdigit():
                raise RpcError(jsonrpc.INVALID_PARAMS, "Invalid params: unknown cursor")
            start = int(request.cursor)
        page = entries[start : start + LIST_PAGE_SIZE]
        result: JsonObject = {"sessions": [e.info(request.cwd or "/") for e in page]}
        if start + LIST_PAGE_SIZE < len(entries):
            result["nextCursor"] = str(start + LIST_PAGE_SIZE)
        return result

    async def close_session(self, params: JsonObject) -> JsonObject:
        """``session/close``: stop the session's work and VM; its log stays."""
        request = parse_params(SessionIdParams, params)
        if request.session_id not in self.sessions:
            self._logged_session(request.session_id)  # -32002 unless it exists on disk
        await self._retire(request.session_id)
        return {}

    async def delete_session(self, params: JsonObject) -> JsonObject:
        """``session/delete``: close it if live and remove its log; unknown ids succeed."""
        request = parse_params(SessionIdParams, params)
        await self._retire(request.session_id)
        try:
            delete_session(self.settings.log_dir, request.session_id)
        except EventLogInUseError:
            raise RpcError(
                jsonrpc.INTERNAL_ERROR,
                "the session is open in another process; close it there first",
                {"sessionId": request.session_id},
            ) from None
        except EventLogDeleteError as exc:
            raise RpcError(jsonrpc.INTERNAL_ERROR, str(exc)) from None
        log.info("session %s deleted", request.session_id)
        return {}

    def _open_log(self, session_id: str) -> EventLog:
        return JsonlEventLog(
            self.settings.log_dir,
            session_id,
            counters=self.counters,
            rotation=self.settings.rotation,
            fsync=self.settings.fsync,
            background_sync=True,
        )

    def _supervisor(self, runtime: SessionRuntime) -> Supervisor:
        common: dict[str, Any] = {
            "settings": self.settings,
            "host": runtime,
            "task_group": self.task_group,
            "counters": self.counters,
            "spawn": self.spawn,
        }
        if self.settings.vm_mode == "exec":
            return ExecSupervisor(**common)
        return SessionSupervisor(
            **common,
            client_capabilities=self.client_capabilities,
            client_info=self.client_info,
        )

    def _runtime(self, session_id: str) -> SessionRuntime:
        runtime = self.sessions.get(session_id)
        if runtime is None or runtime.closed:
            raise session_not_found(session_id)
        return runtime

    @staticmethod
    def _check_prompt(prompt: list[JsonObject]) -> None:
        for number, block in enumerate(prompt):
            kind = block.get("type")
            if kind not in PROMPT_BLOCK_TYPES:
                raise RpcError(
                    jsonrpc.INVALID_PARAMS,
                    f"Invalid params: prompt.{number}: unsupported content type {kind!r}",
                    {"field": f"prompt.{number}.type"},
                )
            if kind == "text" and not isinstance(block.get("text"), str):
                raise RpcError(
                    jsonrpc.INVALID_PARAMS,
                    f"Invalid params: prompt.{number}.text must be a string",
                    {"field": f"prompt.{number}.text"},
                )

    async def prompt(self, params: JsonObject) -> JsonObject:
        """Run one turn; turns of a session run one after another, never mixed."""
        request = parse_params(PromptParams, params)
        self._check_prompt(request.prompt)
        runtime = self._runtime(request.session_id)
        msg_id = self.rpc.current_request_id()
        if msg_id is not None:
            self._prompt_requests[msg_id] = runtime
        try:
            return await self._run_turn(runtime, request.prompt, msg_id)
        finally:
            if msg_id is not None:
                self._prompt_requests.pop(msg_id, None)

    async def _run_turn(
        self, runtime: SessionRuntime, prompt: list[JsonObject], msg_id: jsonrpc.RequestId | None
    ) -> JsonObject:
        async with runtime.turn_lock:
            if runtime.closed:
                raise session_not_found(runtime.session_id)
            supervisor = runtime.supervisor
            assert supervisor is not None
            turn = Turn(request_id=msg_id if msg_id is not None else "", prompt=prompt)
            runtime.persist(runtime.core.begin_turn(prompt))
            runtime.turn = turn
            stop: StopReason | None = None
            try:
                await supervisor.prepare(turn)
                stop = runtime.core.final_stop_reason(await supervisor.run_turn(turn))
            finally:
                runtime.turn = None
                await self.outbox.wait_for_room()
                closing, record = runtime.core.end_turn(stop)
                runtime.send_all(closing)
                runtime.persist(record)
            return {"stopReason": stop}

    async def cancel(self, params: JsonObject) -> None:
        """``session/cancel``: stop the running turn now; the prompt answers ``cancelled``."""
        try:
            request = parse_params(SessionIdParams, params)
            runtime = self._runtime(request.session_id)
        except RpcError as exc:
            self.counters.editor_notification_errors += 1
            log.warning("session/cancel ignored: %s", exc.message)
            return
        await self._cancel_turn(runtime)

    async def editor_call(self, runtime: SessionRuntime, method: str, params: JsonObject) -> Any:
        """Forward a VM's request to the editor: gated, recorded, cancellable, timed.

        Raises:
            RpcError: Refused (capability, path, cancelled turn), failed, or timed out.
        """
        params = {**params, "sessionId": runtime.session_id}
        turn = runtime.turn
        if turn is not None and turn.cancelled.is_set() and method not in CLEANUP_METHODS:
            raise RpcError(jsonrpc.REQUEST_CANCELLED, "the turn was cancelled")
        try:
            check(
                method,
                params,
                self.client_capabilities,
                runtime.core.roots,
                allow_outside=self.settings.allow_outside_cwd,
            )
        except RpcError as exc:
            self.counters.vm_refused_requests += 1
            log.warning("%s asked for %s, refused: %s", runtime.label, method, exc.message)
            raise
        if method == PERMISSION:
            params = permission_request(params, runtime.session_id)
        record: JsonObject = {
            "type": EDITOR_CALL_RECORD,
            "session_id": runtime.session_id,
            "method": method,
            "params": params,
        }
        if method == PERMISSION:
            remembered = runtime.permissions.recall(params)
            if remembered is not None:
                runtime.persist({**record, "result": remembered})
                return remembered
        msg_id, future = self.rpc.send_request(method, params)
        answered = anyio.Event()
        future.add_done_callback(lambda _: answered.set())
        cancelled = runtime.editor_calls[msg_id] = anyio.Event()
        try:
            await wait_any(answered, cancelled, timeout=self.settings.editor_timeout_s)
        finally:
            runtime.editor_calls.pop(msg_id, None)
        if not answered.is_set():
            self.rpc.forget_request(msg_id)
            self.outbox.put_nowait(
                jsonrpc.encode(jsonrpc.notification("$/cancel_request", {"requestId": msg_id}))
            )
            if cancelled.is_set():
                runtime.persist({**record, "error": "cancelled"})
                if method == PERMISSION:
                    return {"outcome": {"outcome": "cancelled"}, "kind": None}
                raise RpcError(jsonrpc.REQUEST_CANCELLED, "the turn was cancelled")
            runtime.persist({**record, "error": "timeout"})
            self.counters.editor_call_timeouts += 1
            raise RpcError(
                jsonrpc.INTERNAL_ERROR,
                f"the editor did not answer {method} in {self.settings.editor_timeout_s} s",
            )
        try:
            result = future.result()
        except RpcError as exc:
            runtime.persist({**record, "error": {"code": exc.code, "message": exc.message}})
            raise
        if method == PERMISSION:
            result = runtime.permissions.answered(params, result)
        runtime.persist({**record, "result": result})
        return result

    async def _cancel_turn(self, runtime: SessionRuntime) -> None:
        for waiting in list(runtime.editor_calls.values()):
            waiting.set()
        turn = runtime.turn
        if turn is None or not runtime.core.cancel():
            log.info("session/cancel for %s with no turn running", runtime.session_id)
            return
        turn.cancelled.set()
        supervisor = runtime.supervisor
        if supervisor is not None:
            await supervisor.cancel(turn)

    async def cancel_request(self, params: JsonObject) -> None:
        """``$/cancel_request``: a prompt is cancelled as a turn; other calls are aborted."""
        try:
            request = parse_params(CancelRequestParams, params)
        except RpcError as exc:
            self.counters.editor_notification_errors += 1
            log.warning("$/cancel_request ignored: %s", exc.message)
            return
        runtime = self._prompt_requests.get(request.request_id)
        if runtime is not None:
            await self._cancel_turn(runtime)
        elif not self.rpc.cancel_incoming(request.request_id):
            log.info("$/cancel_request for %r: nothing in flight", request.request_id)

    def status(self, params: JsonObject) -> JsonObject:
        """``_acp_bridge/status``: counters and sessions, for operators and tests."""
        return {
            "version": __version__,
            "counters": self.counters.snapshot(),
            # Text chunks merged into their neighbours for an editor that fell behind.
            "coalescedUpdates": self.outbox.coalesced,
            "sessions": [
                {
                    "sessionId": runtime.session_id,
                    "cwd": runtime.cwd,
                    "phase": runtime.core.phase.value,
                    "logPath": str(getattr(runtime.log, "path", "")),
                    # The last write failure of this session's log, until a write works again.
                    "logError": None
                    if runtime.log.last_error is None
                    else str(runtime.log.last_error),
                }
                for runtime in self.sessions.values()
            ],
        }

    # ------------------------------------------------------------------ shutdown

    async def settle(self, timeout_s: float) -> None:
        """The editor is going: cancel running turns, let in-flight requests answer.

        Every request the editor sent before it closed stdin gets its answer (a prompt:
        ``cancelled``) unless handling it takes longer than ``timeout_s``.
        """
        for runtime in self.sessions.values():
            if runtime.turn is not None and runtime.core.cancel():
                runtime.turn.cancelled.set()
        pending = self.rpc.in_flight()
        if not pending:
            return
        all_done = anyio.Event()

        def one_done(_: object) -> None:
            if all(future.done() for future in pending):
                all_done.set()

        for future in pending:
            future.add_done_callback(one_done)
        with anyio.move_on_after(timeout_s):
            await all_done.wait()

    async def shutdown(self) -> None:
        """Cancel every turn, stop every VM, close every log."""
        for runtime in list(self.sessions.values()):
            runtime.closed = True
            if runtime.turn is not None and runtime.core.cancel():
                runtime.turn.cancelled.set()
        with anyio.move_on_after(self.settings.cancel_grace_s * 2 + 0.5):
            for runtime in self.sessions.values():
                async with runtime.turn_lock:
                    pass
        async with anyio.create_task_group() as group:
            for runtime in self.sessions.values():
                if runtime.supervisor is not None:
                    group.start_soon(runtime.supervisor.stop)
        for runtime in self.sessions.values():
            runtime.log.close()
        self.rpc.cancel_all()
