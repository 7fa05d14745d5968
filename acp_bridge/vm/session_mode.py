"""Session mode: one long-lived VM process per session, JSON-RPC on its stdio.

The bridge is the VM's client: it sends ``initialize``, ``session/prompt`` and
``session/cancel`` and reads ``session/event`` notifications; the VM may also ask the editor
for permission, files and terminals, and the bridge serves those requests through the
session's :meth:`~acp_bridge.vm.supervisor.TurnHost.editor_call`. Each VM process gets its
own :class:`~acp_bridge.jsonrpc.peer.Peer`, so ids, answers and "the VM went away" belong to
one process; the request ids keep counting across restarts.

The life of the session's VM, as a table (``exited`` is set whenever a VM goes away; the
next prompt starts a new one)::

    (none)  --warm_up-->       STARTING  --initialize answered-->  READY
    READY   --prompt-->        PROMPTING --answered-->             READY
    PROMPTING --cancel, no answer within the grace--> READY, prompt outstanding:
            the next prompt first waits (cancelled_turn_timeout_s) for that answer,
            then restarts a VM that never gives it
    PROMPTING --prompt never read and cancelled--> RETIRING (stopped in the background)
    any     --stdout EOF-->    EXITED (every request of the VM's is withdrawn)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any, Final

import anyio

from acp_bridge.acp.updates import STOP_REASONS
from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc import messages as jsonrpc
from acp_bridge.jsonrpc.peer import Peer
from acp_bridge.jsonrpc.report import Problem, Report
from acp_bridge.vm.supervisor import (
    VM_PROTOCOL_VERSION,
    RunnerBase,
    Turn,
    describe_status,
    pump,
    vm_failed,
    wait_any,
)

if TYPE_CHECKING:
    from acp_bridge.acp.updates import JsonObject, StopReason
    from acp_bridge.jsonrpc.outgoing import OutgoingRequest
    from acp_bridge.vm.process import VmProcess

log = logging.getLogger("acp_bridge.vm")

#: How long a VM may take to answer ``session/set_mode`` or ``session/set_config_option``.
CONFIGURE_TIMEOUT_S: Final = 30.0


@dataclass(slots=True)
class SessionModeRunner(RunnerBase):
    """Session mode: one long-lived JSON-RPC process per session."""

    client_capabilities: JsonObject = field(default_factory=dict)
    client_info: JsonObject | None = None
    vm: VmProcess | None = None
    peer: Peer | None = None  # the link with ``vm``
    exited: anyio.Event = field(default_factory=anyio.Event)
    ready: anyio.Event | None = None
    start_error: RpcError | None = None
    outstanding: OutgoingRequest | None = None  # a cancelled prompt not answered yet
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

    def _link(self, vm: VmProcess) -> Peer:
        """The JSON-RPC link with one VM process."""
        return Peer(
            self.host.label,
            vm.send,
            self.task_group,
            new_id=lambda: next(self._ids),
            on_problem=self._problem,
            fallback=self._serve,
        )

    def _problem(self, report: Report) -> None:
        if report.problem is Problem.CRASHED:
            self.counters.handler_unexpected_exceptions += 1
            log.error("%s", report.message, exc_info=report.exception)
        elif report.problem is Problem.REFUSED:
            log.info("%s: %s", self.host.label, report.message)  # counted by the gateway
        elif report.problem is Problem.OVERLOADED:
            self.counters.vm_requests_over_limit += 1
            log.warning("%s: %s", self.host.label, report.message)
        else:
            self.counters.vm_bad_answers += 1
            log.warning("%s: %s", self.host.label, report.message)

    async def _serve(self, method: str, params: JsonObject) -> Any:
        """Answer one request of the VM's, by asking the editor on its behalf."""
        return await self.host.editor_call(method, params)

    async def _start(self, ready: anyio.Event) -> None:
        """Start a VM and initialize it; on any failure, set ``start_error`` and retire it.

        Whatever goes wrong (the command cannot start, the VM refuses or dies, or anything
        unforeseen), the prompt waiting in :meth:`prepare` gets the error and the next
        prompt starts a new VM: no failed start leaves the runner without one for good.
        """
        vm: VmProcess | None = None
        error: RpcError | None = None
        try:
            self.vm = vm = await self.launch("session")
            error = await self._initialize(vm)
        except RpcError as exc:
            error = exc
        except Exception as exc:
            self.counters.vm_failures += 1
            self.counters.handler_unexpected_exceptions += 1
            log.exception("%s: starting the VM failed", self.host.label)
            error = vm_failed(f"agent VM could not be started ({type(exc).__name__}: {exc})", vm)
        finally:
            if error is not None:
                if ready is self.ready:  # not a start given up on (stop() came first)
                    self.start_error = error
                if vm is not None and vm is self.vm:
                    self.vm = None
                    self._retire(vm)  # half-started: stopped in the background
            ready.set()

    async def _initialize(self, vm: VmProcess) -> RpcError | None:
        """Link with a started VM and initialize it; return why that failed, if it did."""
        self.peer = peer = self._link(vm)
        self.spawn(f"{self.host.label} stdout", lambda: self._read(vm, peer))
        params = {
            "protocolVersion": VM_PROTOCOL_VERSION,
            "sessionId": self.host.session_id,
            "cwd": self.host.cwd,
            "mcpServers": self.host.mcp_servers,
            "additionalDirectories": self.host.additional_directories,
            "clientCapabilities": self.client_capabilities,
            **self.choices(),
        }
        if self.client_info is not None:
            params["clientInfo"] = self.client_info
        answer = await peer.request("initialize", params)
        await wait_any(answer.done, self.exited)
        if not answer.done.is_set() or answer.closed:
            return self._exit_error("agent VM exited during initialize")
        if answer.error is not None:
            return vm_failed("agent VM refused initialize", vm, vmError=_vm_error(answer))
        return None

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

    def _exit_error(self, message: str) -> RpcError:
        vm = self.vm
        status = vm.returncode if vm is not None else None
        detail = f" ({describe_status(status)})" if status is not None else ""
        self.counters.vm_failures += 1
        return vm_failed(message + detail, vm, exitStatus=status)

    async def _read(self, vm: VmProcess, peer: Peer) -> None:
        async def on_rpc(rpc: JsonObject, line: int) -> None:
            await peer.receive_value(rpc)

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
            peer.close("VM exited")

    async def run_turn(self, turn: Turn) -> StopReason:
        """Send the prompt and forward events until the VM answers it."""
        if turn.cancelled.is_set():
            return "cancelled"
        vm, peer = self.vm, self.peer
        if vm is None or peer is None:  # stopped since prepare(): the next prompt starts one
            self.ready = None
            self.counters.vm_failures += 1
            raise vm_failed("agent VM is not running (it was stopped); try again", None)
        params = {"sessionId": self.host.session_id, "prompt": turn.prompt}
        prompt = await peer.request("session/prompt", params, send=False)
        prompt.on_answer = self.host.vm_turn_over
        self.host.vm_turn_begins()
        delivered = await self._deliver(vm, prompt.line, turn)
        if delivered is False:
            peer.forget(prompt)
            raise self._exit_error("agent VM no longer reads its stdin")
        if delivered is None and turn.cancelled.is_set():
            # A VM that has not taken its prompt off stdin cannot see the cancel behind it
            # either: answer for it and restart it for the next prompt.
            peer.forget(prompt)
            self.counters.vm_failures += 1
            log.warning("%s: VM did not read its prompt; restarting it", self.host.label)
            self._retire_vm()
            return "cancelled"
        await wait_any(prompt.done, self.exited, turn.cancelled)
        if turn.cancelled.is_set() and not prompt.done.is_set():
            await wait_any(prompt.done, self.exited, timeout=self.settings.cancel_grace_s)
            if not prompt.done.is_set():
                self.outstanding = prompt
            return "cancelled"
        if not prompt.done.is_set() or prompt.closed:
            raise self._exit_error("agent VM exited during the turn")
        return self._stop_reason(prompt)

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
        if vm is not None:
            self._retire(vm)

    def _retire(self, vm: VmProcess) -> None:
        """Stop ``vm`` in the background (:meth:`stop` waits for it)."""
        self.retiring.add(vm)

        async def stop_it() -> None:
            try:
                await vm.stop(self.settings.vm_stop_grace_s)
            finally:
                self.retiring.discard(vm)

        self.spawn(f"stop {self.host.label}", stop_it)

    def _stop_reason(self, prompt: OutgoingRequest) -> StopReason:
        if prompt.error is not None:
            raise RpcError(
                jsonrpc.INTERNAL_ERROR,
                f"agent VM failed: {prompt.error.message}",
                {"vmError": _vm_error(prompt)},
            )
        result = prompt.result
        reason = result.get("stopReason") if isinstance(result, dict) else None
        if reason in STOP_REASONS:
            return reason  # type: ignore[no-any-return]
        self.counters.vm_bad_answers += 1
        log.warning("%s: invalid stopReason %r, using end_turn", self.host.label, reason)
        return "end_turn"

    async def _settle_outstanding(self) -> None:
        """Let a cancelled prompt finish before the next one; restart a VM that won't."""
        prompt, self.outstanding = self.outstanding, None
        if prompt is None or prompt.done.is_set():
            return
        await wait_any(prompt.done, self.exited, timeout=self.settings.cancelled_turn_timeout_s)
        if not prompt.done.is_set() and not self.exited.is_set():
            log.warning("%s: VM ignored a cancelled prompt; restarting it", self.host.label)
            await self.stop()

    async def configure(self, method: str, params: JsonObject) -> None:
        """Send the choice to the VM and wait for its answer (a VM not running: no need).

        A VM that is starting is waited for; one that cannot start, or is not running,
        gets the choice in its next ``initialize``. The VM has
        :data:`CONFIGURE_TIMEOUT_S` to answer.

        Raises:
            RpcError: The VM answered with an error, did not answer in time, or exited
                first: the choice is not made.
        """
        ready = self.warm_up()
        await wait_any(ready, timeout=self.settings.vm_start_timeout_s)
        peer = self.peer
        if not ready.is_set() or self.start_error is not None or peer is None:
            return
        answer = await peer.request(method, params)
        await wait_any(answer.done, self.exited, timeout=CONFIGURE_TIMEOUT_S)
        if answer.error is not None and not answer.closed:
            # The bridge advertised the method: a VM without it failed, the editor did not.
            code = answer.error.code
            if code == jsonrpc.METHOD_NOT_FOUND:
                code = jsonrpc.INTERNAL_ERROR
            raise RpcError(
                code,
                f"agent VM refused {method}: {answer.error.message}",
                {"vmError": _vm_error(answer)},
            )
        if not answer.done.is_set() or answer.closed:
            peer.forget(answer)
            self.counters.vm_failures += 1
            raise vm_failed(f"agent VM did not answer {method}", self.vm)

    async def cancel(self, turn: Turn) -> None:
        """Forward ``session/cancel`` to the VM at once."""
        peer = self.peer
        if self.vm is not None and peer is not None:
            await peer.notify("session/cancel", {"sessionId": self.host.session_id})

    async def stop(self) -> None:
        """Close the VM's stdin and stop it (and any still being stopped)."""
        vm, self.vm = self.vm, None
        self.ready = None
        for old in [vm, *self.retiring]:
            if old is not None:
                await old.stop(self.settings.vm_stop_grace_s)


def _vm_error(answer: OutgoingRequest) -> JsonObject:
    """The error object the VM answered with, as it sent it."""
    error = answer.error
    assert error is not None
    return jsonrpc.error_object(error.code, error.message, error.data)
