"""ACP's agent side: the method table the editor calls, over the editor's JSON-RPC peer.

Every line the editor sends goes to :class:`~acp_bridge.jsonrpc.peer.Peer`, which classifies
it once and answers what cannot be processed; the handlers here validate their params
(:mod:`acp_bridge.acp.params`) and call :class:`~acp_bridge.sessions.Sessions`. Problems
the peer reports are counted and logged here, by what they say about the editor.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any, Final

import anyio

from acp_bridge import __version__
from acp_bridge.acp.params import (
    AuthenticateParams,
    InitializeParams,
    ListSessionsParams,
    LoadSessionParams,
    NewSessionParams,
    PromptParams,
    SessionIdParams,
    SetConfigOptionParams,
    SetModelParams,
    SetModeParams,
    StrictLoadSessionParams,
    check_prompt,
    parse_params,
)
from acp_bridge.acp.updates import PROTOCOL_VERSION
from acp_bridge.core.choices import shown
from acp_bridge.core.harn import HARN_META_KEY, harn_capabilities
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.editor_gateway import EditorGateway
from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.jsonrpc.incoming import Then
from acp_bridge.jsonrpc.peer import Peer
from acp_bridge.jsonrpc.report import Problem, Report
from acp_bridge.sessions import Sessions
from acp_bridge.vm import manifest as declared

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup

    from acp_bridge.acp.stdio import Outbox
    from acp_bridge.acp.updates import JsonObject
    from acp_bridge.core.choices import Change, Choices
    from acp_bridge.counters import CounterName, Counters
    from acp_bridge.jsonrpc.framing import LineTooLong
    from acp_bridge.settings import Settings
    from acp_bridge.vm.lifeline import Lifeline

log = logging.getLogger("acp_bridge.agent")

STATUS_METHOD: Final = "_acp_bridge/status"
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
#: How many of the editor's requests may be handled at once (a prompt per session, loads,
#: lists...); one more is refused at once (``acp_bridge.jsonrpc.peer``'s rule 5).
EDITOR_MAX_IN_FLIGHT: Final = 1024
#: Which counter each problem with the editor's input bumps (every problem but REFUSED).
_EDITOR_PROBLEMS: Final[dict[Problem, CounterName]] = {
    Problem.PARSE_ERROR: "editor_parse_errors",
    Problem.INVALID: "editor_invalid_requests",
    Problem.DUPLICATE_ID: "editor_invalid_requests",
    Problem.UNEXPECTED_RESPONSE: "editor_unexpected_responses",
    Problem.UNKNOWN_METHOD: "editor_unknown_methods",
    Problem.BAD_NOTIFICATION: "editor_notification_errors",
    Problem.CRASHED: "handler_unexpected_exceptions",
    Problem.UNENCODABLE: "handler_unexpected_exceptions",
    Problem.OVERLOADED: "editor_requests_over_limit",
    Problem.STRAY_CANCEL: "editor_stray_cancels",
}


class Agent:
    """The editor-facing ACP agent: its method table and what it reports."""

    def __init__(
        self,
        settings: Settings,
        counters: Counters,
        outbox: Outbox,
        task_group: TaskGroup,
        *,
        streaming: Callable[[], object],
        lifeline: Lifeline | None = None,
    ) -> None:
        """Wire the agent to its outbox and the task group that owns every task.

        ``streaming`` is called before events start to stream (a VM starts, a log is
        replayed): the composition root tunes the process there. Every VM is listed with
        ``lifeline``, the bridge's VM watchdog.
        """
        self.settings = settings
        self.manifest = settings.manifest or declared.DEFAULT_MANIFEST
        self.counters = counters
        self.outbox = outbox
        ids = itertools.count()
        self.editor = Peer(
            "editor",
            self._send,
            task_group,
            new_id=lambda: f"acp-bridge-{next(ids)}",
            on_problem=self._problem,
            max_in_flight=EDITOR_MAX_IN_FLIGHT,
        )
        self.gateway = EditorGateway(settings, counters, self.editor)
        self.sessions = Sessions(
            settings,
            counters,
            outbox,
            task_group,
            self.gateway,
            streaming=streaming,
            lifeline=lifeline,
        )
        for method, handler in (
            ("initialize", self.initialize),
            ("session/new", self.new_session),
            ("session/cancel", self.cancel),
            ("session/load", self.load_session),
            ("session/resume", self.resume_session),
            ("session/list", self.list_sessions),
            ("session/close", self.close_session),
            ("session/delete", self.delete_session),
            ("authenticate", self.authenticate),
            ("logout", self.logout),
            ("session/set_mode", self.set_mode),
            ("session/set_model", self.set_model),
            ("session/set_config_option", self.set_config_option),
            (STATUS_METHOD, self.status),
        ):
            self.editor.on(method, handler)
        self.editor.on("session/prompt", self.prompt, on_cancel=self.cancel)

    # ------------------------------------------------------------------ the editor's link

    async def _send(self, line: bytes) -> bool:
        """Queue one line for the editor (never waits: answers are few)."""
        self.outbox.put_nowait(line)
        return not self.outbox.closed

    def _problem(self, report: Report) -> None:
        if report.problem is Problem.REFUSED:
            # The other errors are counted where they arise (a VM that failed, a log that
            # would not open); a cancelled turn is no fault.
            if report.error is not None and report.error.code in EDITOR_FAULTS:
                self.counters.editor_refused_requests += 1
            log.warning("%s", report.message)
            return
        self.counters.add({_EDITOR_PROBLEMS[report.problem]: 1})
        if report.exception is not None:
            log.error("%s", report.message, exc_info=report.exception)
        elif report.problem is Problem.UNKNOWN_METHOD and "notification" in report.message:
            log.info("%s", report.message)
        else:
            log.warning("%s", report.message)

    async def on_line(self, line: bytes) -> None:
        """Handle one line from the editor. Never raises."""
        await self.editor.receive_line(line)

    async def on_too_long(self, item: LineTooLong) -> None:
        """An editor line over the limit: answer -32600 with id null, count it."""
        self.counters.editor_overlong_lines += 1
        log.warning("editor sent a line of %d bytes, over the limit; discarded", item.length)
        await self.editor.send_error(
            None, jsonrpc.INVALID_REQUEST, "Invalid Request: message too large"
        )

    # ------------------------------------------------------------------ handlers

    def initialize(self, params: JsonObject) -> JsonObject:
        """Negotiate: always protocol version 1; advertise what the bridge sends."""
        request = parse_params(InitializeParams, params)
        sessions = self.sessions
        sessions.client_capabilities = request.client_capabilities
        sessions.client_info = request.client_info
        self.gateway.client_capabilities = request.client_capabilities
        meta = request.client_capabilities.get("_meta")
        harn = meta.get(HARN_META_KEY) if isinstance(meta, dict) else None
        opted_in = isinstance(harn, dict) and harn.get("topLevelUpdates") is True
        session_caps = request.client_capabilities.get("session")
        sessions.options = TranslatorOptions(
            harn_extensions=self.settings.harn_extensions or opted_in,
            notices=isinstance(session_caps, dict)
            and isinstance(session_caps.get("notices"), dict),
            terminal_meta=isinstance(meta, dict) and meta.get("terminal_output") is True,
            boolean_options=_takes_booleans(session_caps),
        )
        manifest = self.manifest
        capabilities: JsonObject = {
            "loadSession": True,
            "promptCapabilities": manifest.promptCapabilities.model_dump(),
            "mcpCapabilities": manifest.mcpCapabilities.model_dump(),
            "sessionCapabilities": {
                "list": {},
                "resume": {},
                "close": {},
                "delete": {},
                "additionalDirectories": {},
            },
            "_meta": {
                HARN_META_KEY: harn_capabilities(sessions.options.harn_extensions),
                "acp_bridge": {"version": __version__, "statusMethod": STATUS_METHOD},
            },
        }
        if manifest.authMethods:  # a declared login can be ended
            capabilities["auth"] = {"logout": {}}
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "agentCapabilities": capabilities,
            "authMethods": declared.auth_methods(manifest),
            "agentInfo": declared.agent_info(manifest, __version__),
        }

    def logout(self, params: JsonObject) -> JsonObject:
        """``logout``: forget the chosen login; VMs started from now get none.

        Advertised (``agentCapabilities.auth.logout``) only when the manifest declares
        logins: the bridge's own local method has nothing to log out of.

        Raises:
            RpcError: -32602, the agent declares no login.
        """
        if not self.manifest.authMethods:
            raise RpcError(
                jsonrpc.INVALID_PARAMS, "Invalid params: this agent declares no login to end"
            )
        self.sessions.auth_method_id = None
        return {}

    def authenticate(self, params: JsonObject) -> JsonObject:
        """``authenticate``: remember the chosen method; every VM started from now gets it.

        The bridge's own local method (advertised when the manifest declares none) needs
        nothing. A declared method is the VM's to carry out: session-mode VMs get its id
        in their ``initialize`` params, exec-mode VMs in every request line
        (``authMethodId``, ``protocol/vm/manifest.md``).

        Raises:
            RpcError: -32602, the method was not advertised.
        """
        request = parse_params(AuthenticateParams, params)
        offered = [method["id"] for method in declared.auth_methods(self.manifest)]
        if request.method_id not in offered:
            raise RpcError(
                jsonrpc.INVALID_PARAMS,
                f"Invalid params: {request.method_id[:200]!r} is not an advertised "
                f"authentication method (these are: {', '.join(offered)})",
                {"field": "methodId"},
            )
        if self.manifest.authMethods:
            self.sessions.auth_method_id = request.method_id
        return {}

    async def new_session(self, params: JsonObject) -> Then:
        """``session/new``: a log, and (session mode) a VM started in the background."""
        request = parse_params(NewSessionParams, params)
        session_id = await self.sessions.create(
            request.cwd, request.mcp_servers, request.additional_directories
        )
        return Then({"sessionId": session_id, **self._offers(session_id)}, self._state(session_id))

    async def load_session(self, params: JsonObject) -> Then:
        """``session/load``: replay the whole conversation from the log, then go live."""
        request = parse_params(StrictLoadSessionParams, params)
        await self.sessions.restore(request, send=True)
        return Then(
            self._offers(request.session_id), self._state(request.session_id, reopened=True)
        )

    async def resume_session(self, params: JsonObject) -> Then:
        """``session/resume``: go live again without replaying anything to the editor."""
        request = parse_params(LoadSessionParams, params)
        await self.sessions.restore(request, send=False)
        return Then(
            self._offers(request.session_id), self._state(request.session_id, reopened=True)
        )

    def _offers(self, session_id: str) -> JsonObject:
        """What a session answer says the session offers: its modes and options."""
        choices = self.sessions.get(session_id).choices
        if choices is None:
            return {}
        offers = choices.offers()
        if "configOptions" in offers:
            offers["configOptions"] = shown(
                offers["configOptions"], self.sessions.options.boolean_options
            )
        return offers

    def _state(self, session_id: str, *, reopened: bool = False) -> list[bytes]:
        """What follows a session's answer: where it stands (never before the answer).

        Made with the answer, with no await between: a session-level event the VM sends
        before this is in what follows the answer, one after it goes out as it comes.
        """
        commands = declared.available_commands(self.manifest)
        return self.sessions.get(session_id).session_state(commands, reopened=reopened)

    async def set_mode(self, params: JsonObject) -> JsonObject:
        """``session/set_mode``: change the mode; clients of options hear of it too."""
        request = parse_params(SetModeParams, params)
        await self._choose(
            request.session_id, lambda c: c.set_mode(request.session_id, request.mode_id)
        )
        return {}

    async def set_model(self, params: JsonObject) -> JsonObject:
        """``session/set_model``, the legacy model switch: sets the ``model`` option.

        Clients that still speak it (it predates config options) reach the same choice as
        ``session/set_config_option``; clients of options hear of it.
        """
        request = parse_params(SetModelParams, params)
        await self._choose(
            request.session_id, lambda c: c.set_model(request.session_id, request.model_id)
        )
        return {}

    async def _choose(self, session_id: str, change_of: Callable[[Choices], Change]) -> None:
        """Make a change the editor asked for; tell clients of options the whole list."""
        choices = await self.sessions.get(session_id).choose(change_of)
        self._session_update(session_id, config_option_update(choices.options()))

    async def set_config_option(self, params: JsonObject) -> JsonObject:
        """``session/set_config_option``: answered with the complete option list.

        Zed replaces its whole option state with the answer, so it holds every option.
        Choosing the mode this way also tells clients of ``modes``.
        """
        request = parse_params(SetConfigOptionParams, params)
        value: str | bool = request.value
        if request.type == "boolean" and not isinstance(value, bool):
            raise RpcError(
                jsonrpc.INVALID_PARAMS,
                'Invalid params: a "boolean" value must be true or false',
                {"field": "value"},
            )
        session_id = request.session_id
        runtime = self.sessions.get(session_id)
        before = None if runtime.choices is None else runtime.choices.current_mode()
        choices = await runtime.choose(lambda c: c.set_option(session_id, request.config_id, value))
        mode = choices.current_mode()
        if mode is not None and mode != before:
            self._session_update(
                session_id, {"sessionUpdate": "current_mode_update", "currentModeId": mode}
            )
        return {"configOptions": shown(choices.options(), self.sessions.options.boolean_options)}

    def _session_update(self, session_id: str, update: JsonObject) -> None:
        """Send one session-level update (allowed any time after the session's answer)."""
        self.outbox.put_nowait(self.sessions.get(session_id).core.translator.session_update(update))

    async def list_sessions(self, params: JsonObject) -> JsonObject:
        """``session/list``: every logged session, newest first, optionally for one cwd."""
        request = parse_params(ListSessionsParams, params)
        return await self.sessions.list(request.cwd, request.cursor)

    async def close_session(self, params: JsonObject) -> JsonObject:
        """``session/close``: stop the session's work and VM; its log stays."""
        await self.sessions.close(parse_params(SessionIdParams, params).session_id)
        return {}

    async def delete_session(self, params: JsonObject) -> JsonObject:
        """``session/delete``: close it if live and remove its log; unknown ids succeed."""
        await self.sessions.delete(parse_params(SessionIdParams, params).session_id)
        return {}

    async def prompt(self, params: JsonObject) -> JsonObject:
        """``session/prompt``: run one turn (after the session's earlier ones)."""
        request = parse_params(PromptParams, params)
        check_prompt(request.prompt, self.manifest.promptCapabilities.model_dump())
        return await self.sessions.get(request.session_id).run_turn(request.prompt)

    async def cancel(self, params: JsonObject) -> None:
        """``session/cancel`` (and ``$/cancel_request`` of a prompt): end the turn now.

        Raises:
            RpcError: Bad params or an unknown session (the notification is ignored).
        """
        request = parse_params(SessionIdParams, params)
        await self.sessions.get(request.session_id).cancel_turn()

    def status(self, params: JsonObject) -> JsonObject:
        """``_acp_bridge/status``: counters and sessions, for operators and tests.

        ``coalescedUpdates`` counts the text chunks merged into their neighbours for an
        editor that fell behind.
        """
        return {
            "version": __version__,
            "counters": self.counters.snapshot(),
            "coalescedUpdates": self.outbox.coalesced,
            "sessions": [runtime.status() for runtime in self.sessions.live.values()],
        }

    # ------------------------------------------------------------------ shutdown

    async def settle(self, timeout_s: float) -> None:
        """The editor is going: cancel running turns, let in-flight requests answer.

        Every request the editor sent before it closed stdin gets its answer (a prompt:
        ``cancelled``) unless handling it takes longer than ``timeout_s``.
        """
        self.sessions.cancel_all_turns()
        with anyio.move_on_after(timeout_s):
            await self.editor.wait_idle()

    async def shutdown(self) -> None:
        """Cancel every turn, stop every VM, close every log, abort what still runs."""
        await self.sessions.shutdown()
        self.editor.cancel_all()


def _takes_booleans(session_caps: Any) -> bool:
    """Whether the client advertised ``session.configOptions.boolean``."""
    options = session_caps.get("configOptions") if isinstance(session_caps, dict) else None
    return isinstance(options, dict) and isinstance(options.get("boolean"), dict)


def config_option_update(options: list[JsonObject]) -> JsonObject:
    """The session update that carries the complete option list."""
    return {"sessionUpdate": "config_option_update", "configOptions": options}
