"""Running turns on an agent VM: exec mode (a process per prompt) and session mode.

A supervisor starts VM processes, feeds their stdout lines to its :class:`TurnHost` (which
persists, translates and forwards them), and turns how the VM ended a turn into a stop
reason or an :class:`~acp_bridge.errors.RpcError` for the editor. Cancellation is
prompt: the editor is answered ``cancelled`` at most a grace period after it asked,
whatever the VM does; the VM is then stopped (exec) or given time to finish (session)
in the background.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shlex
import signal
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio

from acp_bridge.acp.updates import STOP_REASONS
from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.vm.process import VmProcess, VmStartError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from anyio.abc import TaskGroup

    from acp_bridge.acp.updates import JsonObject, StopReason
    from acp_bridge.counters import Counters
    from acp_bridge.jsonrpc.framing import LineTooLong
    from acp_bridge.settings import Settings

log = logging.getLogger("acp_bridge.vm")

VM_PROTOCOL_VERSION: Final = 1


class TurnHost(Protocol):
    """What a supervisor needs from its session."""

    session_id: str
    cwd: str
    additional_directories: list[str]
    label: str
    mcp_servers: list[JsonObject]

    async def ingest(
        self, lines: Sequence[bytes | LineTooLong], start: int, first_line: int
    ) -> tuple[int, JsonObject | None]:
        """Persist, translate and forward ``lines[start:]`` up to the first JSON-RPC message.

        ``first_line`` is the number of ``lines[0]`` on the VM's stdout (from 1). Returns
        where it stopped and that JSON-RPC message (None at the end of the lines).
        """
        ...

    def vm_turn_begins(self) -> None:
        """The prompt goes to the VM now: what it writes from here belongs to the turn."""
        ...

    def vm_turn_over(self) -> None:
        """The VM answered the prompt: what it writes next is outside the turn."""
        ...

    def vm_exited(self) -> None:
        """The VM is gone: withdraw whatever it is still waiting for from the editor."""
        ...

    async def editor_call(self, method: str, params: JsonObject) -> Any:
        """Ask the editor on the VM's behalf.

        Raises:
            RpcError: The request was refused, failed, timed out or was cancelled.
        """
        ...


@dataclass(slots=True)
class Turn:
    """One prompt being worked on."""

    request_id: jsonrpc.RequestId
    prompt: list[JsonObject]
    cancelled: anyio.Event = field(default_factory=anyio.Event)


async def wait_any(*events: anyio.Event, timeout: float | None = None) -> None:  # noqa: ASYNC109
    """Return as soon as one of ``events`` is set (or ``timeout`` passes)."""
    if any(event.is_set() for event in events):
        return
    with anyio.move_on_after(timeout):
        async with anyio.create_task_group() as group:

            async def waiter(event: anyio.Event) -> None:
                await event.wait()
                group.cancel_scope.cancel()

            for event in events:
                group.start_soon(waiter, event)


async def pump(
    vm: VmProcess, host: TurnHost, on_rpc: Callable[[JsonObject, int], Awaitable[None]]
) -> None:
    """Feed the VM's stdout to ``host`` until EOF, a read's worth of lines at a time.

    A JSON-RPC message that is not an event goes to ``on_rpc`` (with its line number)
    before any line after it is looked at: it may end the turn.
    """
    async for lines in vm.batches():
        first_line = vm.stdout_lines - len(lines) + 1
        start = 0
        while start < len(lines):
            start, rpc = await host.ingest(lines, start, first_line)
            if rpc is not None:
                await on_rpc(rpc, first_line + start - 1)


def vm_failed(message: str, vm: VmProcess | None, **data: Any) -> RpcError:
    """The error the editor gets when the VM could not finish a turn."""
    if vm is not None:
        data["stderrTail"] = list(vm.stderr_tail)
    return RpcError(jsonrpc.INTERNAL_ERROR, message, data)


def describe_status(status: int) -> str:
    """``exit status 3`` or ``killed by SIGKILL``."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


class Supervisor(Protocol):
    """A way of running a session's turns on a VM."""

    def warm_up(self) -> object:
        """Start getting ready for the first prompt in the background (may do nothing)."""
        ...

    async def prepare(self, turn: Turn) -> None:
        """Wait until the VM can take ``turn`` (or the turn is cancelled).

        Raises:
            RpcError: The VM could not be made ready.
        """
        ...

    async def run_turn(self, turn: Turn) -> StopReason:
        """Run one turn to its end.

        Raises:
            RpcError: The VM failed; the editor gets this error.
        """
        ...

    async def cancel(self, turn: Turn) -> None:
        """Ask the VM to stop the turn, right now."""
        ...

    async def stop(self) -> None:
        """Stop every process of this session."""
        ...


def vm_environment(environ: Mapping[str, str], allow: tuple[str, ...] | None) -> dict[str, str]:
    """The part of the bridge's environment a VM inherits: all of it, or the allowed names."""
    if allow is None:
        return dict(environ)
    return {
        name: value
        for name, value in environ.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in allow)
    }


@dataclass(slots=True)
class _Base:
    settings: Settings
    host: TurnHost
    task_group: TaskGroup
    counters: Counters
    spawn: Callable[[str, Callable[[], Awaitable[None]]], None]

    def env(self, mode: str) -> dict[str, str]:
        env = vm_environment(os.environ, self.settings.vm_env_allow)
        env.update(
            ACP_BRIDGE_PROTOCOL=str(VM_PROTOCOL_VERSION),
            ACP_BRIDGE_MODE=mode,
            ACP_BRIDGE_SESSION_ID=self.host.session_id,
        )
        return env

    async def launch(self, mode: str) -> VmProcess:
        try:
            return await VmProcess.start(
                self.settings.vm_argv,
                cwd=self.host.cwd,
                env=self.env(mode),
                label=self.host.label,
                max_line_bytes=self.settings.max_vm_line_bytes,
                task_group=self.task_group,
                counters=self.counters,
                stop_grace_s=self.settings.vm_stop_grace_s,
            )
        except VmStartError as exc:
            self.counters.vm_failures += 1
            command = shlex.join(self.settings.vm_argv)
            raise vm_failed(
                f"agent VM could not start: {exc.strerror}", None, command=command
            ) from None


@dataclass(slots=True)
class ExecSupervisor(_Base):
    """Exec mode: one process per prompt; its exit ends the turn."""

    running: set[VmProcess] = field(default_factory=set)

    def warm_up(self) -> None:
        """Nothing to start before a prompt."""

    async def prepare(self, turn: Turn) -> None:
        """Nothing to prepare: each prompt starts its own process."""

    async def run_turn(self, turn: Turn) -> StopReason:
        """Start the VM with the prompt on its stdin and forward its events until it exits."""
        if turn.cancelled.is_set():
            return "cancelled"
        self.host.vm_turn_begins()
        vm = await self.launch("exec")
        self.running.add(vm)
        payload = {
            "protocolVersion": VM_PROTOCOL_VERSION,
            "sessionId": self.host.session_id,
            "cwd": self.host.cwd,
            "prompt": turn.prompt,
            "mcpServers": self.host.mcp_servers,
            "additionalDirectories": self.host.additional_directories,
        }
        drained = anyio.Event()

        async def feed_stdin() -> None:
            await vm.send(jsonrpc.encode(payload))
            await vm.close_stdin()

        async def bad_answer(rpc: JsonObject, line: int) -> None:
            self.counters.vm_bad_answers += 1  # exec mode has no JSON-RPC but session/event
            log.warning(
                "%s: ignoring a JSON-RPC message in exec mode (line %d): %.200s",
                self.host.label,
                line,
                jsonrpc.encode(rpc).decode("utf-8", "replace"),
            )

        async def read_stdout() -> None:
            try:
                await pump(vm, self.host, bad_answer)
            finally:
                drained.set()

        self.spawn(f"{self.host.label} stdin", feed_stdin)
        self.spawn(f"{self.host.label} stdout", read_stdout)
        await wait_any(drained, turn.cancelled)
        if not turn.cancelled.is_set():
            # Stdout is at its end: the VM should be exiting. One that closed stdout and
            # keeps running would hold the turn forever; it gets a grace period.
            exited = anyio.Event()

            async def reap() -> None:
                await vm.wait()
                exited.set()

            self.spawn(f"{self.host.label} wait", reap)
            await wait_any(exited, turn.cancelled, timeout=self.settings.vm_stop_grace_s)
            if not exited.is_set() and not turn.cancelled.is_set():
                self.counters.vm_stdout_closed_early += 1
                self.counters.vm_failures += 1
                log.warning(
                    "%s closed its stdout but still runs %.1f s later: stopping it",
                    self.host.label,
                    self.settings.vm_stop_grace_s,
                )
                await self._stop(vm)
                raise vm_failed(
                    "agent VM closed its stdout but did not exit; it was stopped",
                    vm,
                    exitStatus=vm.returncode,
                )
        if turn.cancelled.is_set():
            self.spawn(f"{self.host.label} stop", lambda: self._stop(vm))
            await wait_any(drained, timeout=self.settings.cancel_grace_s)
            return "cancelled"
        status = await vm.wait()
        self.running.discard(vm)
        if status == 0:
            return "end_turn"
        self.counters.vm_failures += 1
        raise vm_failed(f"agent VM failed ({describe_status(status)})", vm, exitStatus=status)

    async def _stop(self, vm: VmProcess) -> None:
        await vm.stop(self.settings.vm_stop_grace_s, terminate=True)
        self.running.discard(vm)

    async def cancel(self, turn: Turn) -> None:
        """Cancellation is handled in :meth:`run_turn` (SIGTERM to the process group)."""

    async def stop(self) -> None:
        """Stop every VM process still running."""
        for vm in list(self.running):
            await vm.stop(self.settings.vm_stop_grace_s, terminate=True)
        self.running.clear()


@dataclass(slots=True)
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: JsonObject | None = None
    vm_exited: bool = False


@dataclass(slots=True)
class SessionSupervisor(_Base):
    """Session mode: one long-lived JSON-RPC process per session."""

    client_capabilities: JsonObject = field(default_factory=dict)
    client_info: JsonObject | None = None
    vm: VmProcess | None = None
    exited: anyio.Event = field(default_factory=anyio.Event)
    ready: anyio.Event | None = None
    start_error: RpcError | None = None
    pending: dict[int, _Pending] = field(default_factory=dict)  # of the current VM
    outstanding: _Pending | None = None
    current_prompt: _Pending | None = None
    retiring: set[VmProcess] = field(default_factory=set)  # being stopped in the background
    _ids: count[int] = field(default_factory=count)

    def warm_up(self) -> anyio.Event:
        """Start the VM and initialize it in the background, unless done or under way.

        Returns:
            An event set once the VM is ready or failed to start (see ``start_error``).
        """
        if self.ready is not None and not self.exited.is_set():
            return self.ready
        self.ready = ready = anyio.Event()
        self.start_error = None
        self.exited = anyio.Event()
        self.spawn(f"start {self.host.label}", lambda: self._start(ready))
        return ready

    async def _start(self, ready: anyio.Event) -> None:
        try:
            pending: dict[int, _Pending] = {}
            self.pending = pending
            self.vm = vm = await self.launch("session")
            self.spawn(f"{self.host.label} stdout", lambda: self._read(vm, pending))
            params = {
                "protocolVersion": VM_PROTOCOL_VERSION,
                "sessionId": self.host.session_id,
                "cwd": self.host.cwd,
                "mcpServers": self.host.mcp_servers,
                "additionalDirectories": self.host.additional_directories,
                "clientCapabilities": self.client_capabilities,
            }
            if self.client_info is not None:
                params["clientInfo"] = self.client_info
            answer = await self._call("initialize", params)
            if answer.error is not None:
                raise vm_failed("agent VM refused initialize", vm, vmError=answer.error)
        except RpcError as exc:
            self.start_error = exc
        finally:
            ready.set()

    async def prepare(self, turn: Turn) -> None:
        """Let a cancelled prompt finish, then wait for the VM to be initialized.

        Raises:
            RpcError: The VM failed to start, or did not answer ``initialize`` in time.
        """
        await self._settle_outstanding()
        ready = self.warm_up()
        await wait_any(ready, turn.cancelled, timeout=self.settings.vm_start_timeout_s)
        if turn.cancelled.is_set() and not ready.is_set():
            return
        if not ready.is_set():
            vm = self.vm
            error = vm_failed(
                f"agent VM did not answer initialize within {self.settings.vm_start_timeout_s} s",
                vm,
            )
            self.counters.vm_failures += 1
            await self.stop()
            raise error
        if self.start_error is not None:
            error, self.start_error = self.start_error, None
            self.ready = None
            raise error

    async def _call(self, method: str, params: JsonObject) -> _Pending:
        vm = self.vm
        pending = _Pending()
        msg_id = next(self._ids)
        self.pending[msg_id] = pending
        if vm is None or not await vm.send(jsonrpc.encode(jsonrpc.request(msg_id, method, params))):
            pending.error = jsonrpc.error_object(jsonrpc.INTERNAL_ERROR, "VM stdin is closed")
            pending.done.set()
            return pending
        await wait_any(pending.done, self.exited)
        if not pending.done.is_set():
            raise self._exit_error(f"agent VM exited during {method}")
        return pending

    def _exit_error(self, message: str) -> RpcError:
        vm = self.vm
        status = vm.returncode if vm is not None else None
        detail = f" ({describe_status(status)})" if status is not None else ""
        self.counters.vm_failures += 1
        return vm_failed(message + detail, vm, exitStatus=status)

    async def _read(self, vm: VmProcess, pending_calls: dict[int, _Pending]) -> None:

        async def on_rpc(rpc: JsonObject, line: int) -> None:
            await self._on_rpc(vm, rpc, pending_calls)

        try:
            await pump(vm, self.host, on_rpc)
        finally:
            with anyio.CancelScope(shield=True):
                # A VM without a stdout cannot answer anything: the session with it is over.
                # Its stdin is closed now, so the grace period is also the one for stdin EOF.
                await vm.close_stdin()
                with anyio.move_on_after(self.settings.vm_stop_grace_s):
                    await vm.wait()
                if vm.returncode is None:  # closed stdout, still running: it cannot talk
                    self.counters.vm_stdout_closed_early += 1
                    log.warning("%s closed its stdout but did not exit: stopping it", vm.label)
                    await vm.stop(self.settings.vm_stop_grace_s, terminate=True)
            if vm is self.vm or self.vm is None:  # not once a newer VM may ask the editor
                self.host.vm_exited()
            if vm is self.vm:
                self.exited.set()
            for pending in pending_calls.values():
                if not pending.done.is_set():
                    pending.error = jsonrpc.error_object(jsonrpc.INTERNAL_ERROR, "VM exited")
                    pending.vm_exited = True
                    pending.done.set()
            pending_calls.clear()

    async def _on_rpc(
        self, vm: VmProcess, message: JsonObject, pending_calls: dict[int, _Pending]
    ) -> None:
        parsed = jsonrpc.classify(message)
        if isinstance(parsed, jsonrpc.Response):
            pending = pending_calls.pop(parsed.id, None) if isinstance(parsed.id, int) else None
            if pending is None:
                self.counters.vm_bad_answers += 1
                log.warning("%s: answer to unknown request id %r", self.host.label, parsed.id)
                return
            pending.result, pending.error = parsed.result, parsed.error
            if pending is self.current_prompt:
                self.host.vm_turn_over()
            pending.done.set()
        elif isinstance(parsed, jsonrpc.Request):
            request = parsed
            self.spawn(f"{self.host.label} {request.method}", lambda: self._serve(vm, request))
        else:
            self.counters.vm_bad_answers += 1
            log.warning("%s: ignoring JSON-RPC message %s", self.host.label, message)

    async def _serve(self, vm: VmProcess, request: jsonrpc.Request) -> None:
        """Answer one request of the VM's, by asking the editor on its behalf."""
        try:
            result = await self.host.editor_call(request.method, request.params or {})
            answer = jsonrpc.result_response(request.id, result)
        except RpcError as exc:
            answer = jsonrpc.error_response(request.id, exc.code, exc.message, exc.data)
        await vm.send(jsonrpc.encode(answer))

    async def run_turn(self, turn: Turn) -> StopReason:
        """Send the prompt and forward events until the VM answers it."""
        if turn.cancelled.is_set():
            return "cancelled"
        vm = self.vm
        assert vm is not None
        msg_id = next(self._ids)
        pending = self.pending[msg_id] = _Pending()
        self.current_prompt = pending
        params = {"sessionId": self.host.session_id, "prompt": turn.prompt}
        request = jsonrpc.encode(jsonrpc.request(msg_id, "session/prompt", params))
        self.host.vm_turn_begins()
        delivered = await self._deliver(vm, request, turn)
        if delivered is False:
            self.pending.pop(msg_id, None)
            raise self._exit_error("agent VM no longer reads its stdin")
        if delivered is None and turn.cancelled.is_set():
            # A VM that has not taken its prompt off stdin cannot see the cancel behind it
            # either: answer for it and restart it for the next prompt.
            self.pending.pop(msg_id, None)
            self.counters.vm_failures += 1
            log.warning("%s: VM did not read its prompt; restarting it", self.host.label)
            self._retire_vm()
            return "cancelled"
        await wait_any(pending.done, self.exited, turn.cancelled)
        if turn.cancelled.is_set() and not pending.done.is_set():
            await wait_any(pending.done, self.exited, timeout=self.settings.cancel_grace_s)
            if not pending.done.is_set():
                self.outstanding = pending
            return "cancelled"
        if not pending.done.is_set() or pending.vm_exited:
            raise self._exit_error("agent VM exited during the turn")
        return self._stop_reason(pending)

    async def _deliver(self, vm: VmProcess, line: bytes, turn: Turn) -> bool | None:
        """Write ``line`` to the VM without letting a VM that does not read it hold the turn.

        Returns:
            True once written; False if the VM's stdin is closed; None if the VM exited, or
            the turn was cancelled and the line was still unread a grace period later.
        """
        written = anyio.Event()
        outcome: list[bool] = []

        async def write() -> None:
            outcome.append(await vm.send(line))
            written.set()

        async with anyio.create_task_group() as group:
            group.start_soon(write)
            await wait_any(written, turn.cancelled, self.exited)
            if not written.is_set() and turn.cancelled.is_set():
                await wait_any(written, self.exited, timeout=self.settings.cancel_grace_s)
            group.cancel_scope.cancel()
        return outcome[0] if outcome else None

    def _retire_vm(self) -> None:
        """Stop the current VM in the background; the next prompt starts a new one."""
        vm, self.vm, self.ready = self.vm, None, None
        if vm is None:
            return
        self.retiring.add(vm)

        async def stop_it() -> None:
            try:
                await vm.stop(self.settings.vm_stop_grace_s)
            finally:
                self.retiring.discard(vm)

        self.spawn(f"stop {self.host.label}", stop_it)

    def _stop_reason(self, pending: _Pending) -> StopReason:
        if pending.error is not None:
            raise RpcError(
                jsonrpc.INTERNAL_ERROR,
                f"agent VM failed: {pending.error.get('message', 'error')}",
                {"vmError": pending.error},
            )
        result = pending.result
        reason = result.get("stopReason") if isinstance(result, dict) else None
        if reason in STOP_REASONS:
            return reason  # type: ignore[no-any-return]
        self.counters.vm_bad_answers += 1
        log.warning("%s: invalid stopReason %r, using end_turn", self.host.label, reason)
        return "end_turn"

    async def _settle_outstanding(self) -> None:
        """Let a cancelled prompt finish before the next one; restart a VM that won't."""
        pending, self.outstanding = self.outstanding, None
        if pending is None or pending.done.is_set():
            return
        await wait_any(pending.done, self.exited, timeout=self.settings.cancelled_turn_timeout_s)
        if not pending.done.is_set() and not self.exited.is_set():
            log.warning("%s: VM ignored a cancelled prompt; restarting it", self.host.label)
            await self.stop()

    async def cancel(self, turn: Turn) -> None:
        """Forward ``session/cancel`` to the VM at once."""
        vm = self.vm
        if vm is not None:
            params = {"sessionId": self.host.session_id}
            await vm.send(jsonrpc.encode(jsonrpc.notification("session/cancel", params)))

    async def stop(self) -> None:
        """Close the VM's stdin and stop it (and any still being stopped)."""
        vm, self.vm = self.vm, None
        self.ready = None
        for old in [vm, *self.retiring]:
            if old is not None:
                await old.stop(self.settings.vm_stop_grace_s)
