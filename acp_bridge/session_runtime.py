"""One live ACP session: its log, its VM runner, its turns.

Every line the session's VM writes goes through :meth:`SessionRuntime.ingest`: persisted
first, then translated, then queued for the editor behind the same single writer as every
response, so the order the editor sees is the order things happened. The session runs its
turns one after another (:meth:`SessionRuntime.run_turn`) and has the one way to cancel a
turn (:meth:`SessionRuntime.cancel_turn`). It knows neither the agent nor the registry: it
is handed a ``spawn`` function and the editor gateway.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

from acp_bridge.acp.coalesce import wire
from acp_bridge.core.editor_calls import PermissionMemory
from acp_bridge.errors import RpcError
from acp_bridge.eventlog.records import prompt_title
from acp_bridge.eventlog.writer import BackgroundSync
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.vm.supervisor import Turn

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskGroup

    from acp_bridge.acp.stdio import Outbox
    from acp_bridge.acp.updates import JsonObject, StopReason
    from acp_bridge.core.choices import Change, Choices
    from acp_bridge.core.session import SessionCore
    from acp_bridge.counters import Counters
    from acp_bridge.editor_gateway import EditorGateway
    from acp_bridge.eventlog.writer import EventLog
    from acp_bridge.jsonrpc.framing import LineTooLong
    from acp_bridge.vm.supervisor import Runner

log = logging.getLogger("acp_bridge.sessions")

#: Starts a named job in the bridge's task group; its unexpected errors are logged, counted.
Spawn: TypeAlias = "Callable[[str, Callable[[], Awaitable[None]]], None]"


def session_not_found(session_id: str) -> RpcError:
    """The -32002 answer for an id the bridge does not know."""
    return RpcError(jsonrpc.RESOURCE_NOT_FOUND, "Session not found", {"sessionId": session_id})


def guarded_spawner(task_group: TaskGroup, counters: Counters) -> Spawn:
    """A :data:`Spawn` for ``task_group``: a job's unexpected error is logged and counted."""

    def spawn(name: str, job: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await job()
            except Exception:
                counters.handler_unexpected_exceptions += 1
                log.exception("task %s failed", name)

        task_group.start_soon(guarded, name=name)

    return spawn


@dataclass(slots=True)
class SessionRuntime:
    """One live ACP session: its state, its log, its VM runner and its current turn."""

    core: SessionCore
    log: EventLog
    outbox: Outbox
    counters: Counters
    mcp_servers: list[JsonObject]
    spawn: Spawn | None = None
    gateway: EditorGateway | None = None
    runner: Runner | None = None
    permissions: PermissionMemory = field(default_factory=PermissionMemory)
    editor_calls: dict[str, anyio.Event] = field(default_factory=dict)
    turn: Turn | None = None
    turn_lock: anyio.Lock = field(default_factory=anyio.Lock)
    #: The session's first prompt's title, once it has one (the VM's own wins over it).
    title: str | None = None
    choice_lock: anyio.Lock = field(default_factory=anyio.Lock)
    closed: bool = False
    syncing: bool = False  # the log's fsync is running in a worker thread
    #: The log's background fsync, if it offers one (looked up once: a protocol check is slow).
    background_sync: BackgroundSync | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Look up whether the log can fsync in the background."""
        if isinstance(self.log, BackgroundSync):
            self.background_sync = self.log

    @property
    def choices(self) -> Choices | None:
        """The declared modes and options with the values chosen (``None``: none known).

        Kept with the session's other session-level facts, in its translator's
        :class:`~acp_bridge.core.offers.SessionOffers`, so that the VM's mode and option
        events and the editor's choices change one state.
        """
        return self.core.translator.offers.choices

    @choices.setter
    def choices(self, choices: Choices | None) -> None:
        self.core.translator.offers.choices = choices

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
    def roots(self) -> list[str]:
        """The directories the VM may touch through the editor: cwd, then the others."""
        return self.core.roots

    @property
    def label(self) -> str:
        """How this session's VM is named on stderr."""
        return f"vm {self.core.session_id[:8]}"

    @property
    def turn_cancelled(self) -> bool:
        """Whether the running turn (if any) was cancelled."""
        return self.turn is not None and self.turn.cancelled.is_set()

    def persist(self, record: JsonObject, frame_depth: int | None = None) -> None:
        """Append to the session's log; a failure is counted by the log, never raised."""
        self.log.append(record, frame_depth=frame_depth)

    def tool_card(self, vm_id: str) -> tuple[str, str] | None:
        """The wire id and title of the turn's tool call the VM names ``vm_id``, if any."""
        return self.core.translator.tool_card(vm_id)

    # ------------------------------------------------------------------ the VM's lines

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
            if sync is not None and sync.sync_wanted and not self.syncing and self.spawn:
                self.syncing = True
                self.spawn(f"fsync {self.label}", self.sync_log)
        self.counters.add(batch.counts)
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
        """Ask the editor on the VM's behalf (see :class:`EditorGateway`).

        Raises:
            RpcError: Refused, failed, timed out, or the session has no gateway.
        """
        if self.gateway is None:
            raise RpcError(jsonrpc.METHOD_NOT_FOUND, f"Method not found: {method}")
        return await self.gateway.call(self, method, params)

    # ------------------------------------------------------------------ turns

    async def run_turn(self, prompt: list[JsonObject]) -> JsonObject:
        """Run one turn; turns of a session run one after another, never mixed.

        Raises:
            RpcError: The session is closed, or its VM failed the turn.
        """
        async with self.turn_lock:
            if self.closed:
                raise session_not_found(self.session_id)
            runner = self.runner
            assert runner is not None
            turn = Turn(prompt=prompt)
            self.persist(self.core.begin_turn(prompt))
            self._title_from(prompt)
            self.turn = turn
            stop: StopReason | None = None
            try:
                await runner.prepare(turn)
                stop = self.core.final_stop_reason(await runner.run_turn(turn))
            finally:
                self.turn = None
                await self.outbox.wait_for_room()
                closing, record = self.core.end_turn(stop)
                for entry in closing:
                    self.outbox.put_nowait(wire(entry))
                self.persist(record)
            return {"stopReason": stop}

    def vm_choices(self) -> JsonObject:
        """``modeId`` and ``configValues`` for the VM's params (nothing declared: none)."""
        return {} if self.choices is None else self.choices.for_vm()

    async def choose(self, change_of: Callable[[Choices], Change]) -> Choices:
        """Make one change to the session's choices: checked, told the VM, then logged.

        Changes run one at a time. The VM is told first (session mode), so a change the
        VM refuses is not made; an accepted one is persisted before it is answered.

        Raises:
            RpcError: Closed session, nothing declared, a refused value, or the VM refused.
        """
        async with self.choice_lock:
            if self.closed:
                raise session_not_found(self.session_id)
            if self.choices is None or not self.choices.declared:
                raise RpcError(
                    jsonrpc.INVALID_PARAMS,
                    "Invalid params: this agent declares no modes or options",
                    {"field": "sessionId"},
                )
            change = change_of(self.choices)
            if self.runner is not None:
                await self.runner.configure(change.vm_method, change.vm_params)
            self.choices = change.choices
            self.persist(change.choices.record(self.session_id))
            return change.choices

    def _title_from(self, prompt: list[JsonObject]) -> None:
        """Give an untitled session its first prompt's title, and tell the editor."""
        if self.title is not None:
            return
        self.title = prompt_title(prompt)
        if self.title is not None and self.core.translator.offers.title is None:
            update = {"sessionUpdate": "session_info_update", "title": self.title}
            self.outbox.put_nowait(self.core.translator.session_update(update))

    def session_state(self, commands: list[JsonObject], *, reopened: bool = False) -> list[bytes]:
        """The session-level updates that tell an editor where the session stands.

        Sent right after the answer of ``session/new``, ``load`` and ``resume`` (from now
        on the VM's session-level events go out as they come): the commands (the VM's
        latest, else the declared ones), after a load or resume the options and the mode,
        the title (the VM's, else the first prompt's), the latest usage, then the notices
        the VM sent before the answer.
        """
        translator = self.core.translator
        held = translator.open_session()
        updates = translator.offers.state(commands, self.title, reopened=reopened)
        return [translator.session_update(update) for update in updates] + held

    def cancel_now(self) -> Turn | None:
        """Mark the running turn cancelled and withdraw the VM's editor requests, at once.

        Returns:
            The turn, if one was running and had not been cancelled yet: its VM is still
            to be told (:meth:`cancel_turn`).
        """
        for waiting in list(self.editor_calls.values()):
            waiting.set()
        turn = self.turn
        if turn is None or not self.core.cancel():
            return None
        turn.cancelled.set()
        return turn

    async def cancel_turn(self) -> None:
        """Cancel the running turn: the prompt answers ``cancelled``; the VM is told."""
        turn = self.cancel_now()
        if turn is None:
            log.info("session/cancel for %s with no turn running", self.session_id)
            return
        if self.runner is not None:
            await self.runner.cancel(turn)

    async def retire(self) -> None:
        """Take the session out of service: cancel its turn, stop its VM, close its log."""
        self.closed = True
        await self.cancel_turn()
        async with self.turn_lock:
            if self.runner is not None:
                await self.runner.stop()
            self.log.close()

    def status(self) -> JsonObject:
        """This session's entry in ``_acp_bridge/status``."""
        return {
            "sessionId": self.session_id,
            "cwd": self.cwd,
            "phase": self.core.phase.value,
            "logPath": str(getattr(self.log, "path", "")),
            # The last write failure of this session's log, until a write works again.
            "logError": None if self.log.last_error is None else str(self.log.last_error),
        }
