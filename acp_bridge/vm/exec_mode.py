"""Exec mode: one VM process per prompt, the prompt on its stdin; its exit ends the turn.

The VM writes AgentEvent lines on stdout and exits 0 (``end_turn``) or not (the prompt
fails with the VM's stderr tail). It has no JSON-RPC link: a JSON-RPC message on its stdout
is counted and skipped. A cancelled turn is answered at once and the process group gets
SIGTERM (then SIGKILL after the grace period).

The request is encoded before the VM is started, so a prompt that cannot be written fails
the turn at once; the jobs a turn spawns (stdin, stdout) always end by telling the turn
(stdin closed, ``drained`` set), whatever went wrong in them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import orjson

from acp_bridge.errors import RpcError
from acp_bridge.jsonrpc import messages as jsonrpc
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
    from acp_bridge.vm.process import VmProcess

log = logging.getLogger("acp_bridge.vm")


@dataclass(slots=True)
class ExecModeRunner(RunnerBase):
    """Exec mode: one process per prompt; its exit ends the turn."""

    running: set[VmProcess] = field(default_factory=set)

    def warm_up(self) -> None:
        """Nothing to start before a prompt."""

    async def prepare(self, turn: Turn) -> None:
        """Nothing to prepare: each prompt starts its own process."""

    async def configure(self, method: str, params: JsonObject) -> None:
        """Nothing to tell: each prompt's request line carries the session's choices."""

    async def run_turn(self, turn: Turn) -> StopReason:
        """Start the VM with the prompt on its stdin and forward its events until it exits."""
        if turn.cancelled.is_set():
            return "cancelled"
        request = self._request(turn)
        self.host.vm_turn_begins()
        vm = await self.launch("exec")
        self.running.add(vm)
        drained = anyio.Event()
        failures: list[BaseException] = []
        self.spawn(f"{self.host.label} stdin", lambda: self._feed_stdin(vm, request))
        self.spawn(f"{self.host.label} stdout", lambda: self._read_stdout(vm, drained, failures))
        await wait_any(drained, turn.cancelled)
        if failures and not turn.cancelled.is_set():
            await self._stop(vm)
            self.counters.vm_failures += 1
            raise vm_failed(
                f"reading the agent VM's output failed ({type(failures[0]).__name__}); "
                "it was stopped",
                vm,
            )
        if not turn.cancelled.is_set():
            await self._wait_for_exit(vm, turn)
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

    def _request(self, turn: Turn) -> bytes:
        """The exec request line for ``turn``.

        Raises:
            RpcError: -32602, it cannot be encoded (nothing the editor sends can make that
                happen: :data:`~acp_bridge.jsonrpc.messages.MAX_NESTING_DEPTH`).
        """
        payload = {
            "protocolVersion": VM_PROTOCOL_VERSION,
            "sessionId": self.host.session_id,
            "cwd": self.host.cwd,
            "prompt": turn.prompt,
            "mcpServers": self.host.mcp_servers,
            "additionalDirectories": self.host.additional_directories,
            **self.choices(),
        }
        try:
            return jsonrpc.encode(payload)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise RpcError(
                jsonrpc.INVALID_PARAMS, f"Invalid params: the prompt cannot be encoded ({exc})"
            ) from None

    async def _feed_stdin(self, vm: VmProcess, request: bytes) -> None:
        """Write the prompt (the exec request) and close stdin, whatever happens."""
        try:
            await vm.send(request)
        finally:
            with anyio.CancelScope(shield=True):
                await vm.close_stdin()

    async def _read_stdout(
        self, vm: VmProcess, drained: anyio.Event, failures: list[BaseException]
    ) -> None:
        """Forward the VM's events to the session until its output ends, then set ``drained``.

        A failure is kept in ``failures`` (for the turn to answer with) before it goes on
        to the spawner, which logs and counts it.
        """
        try:
            await pump(vm, self.host, self._bad_answer)
        except Exception as exc:
            failures.append(exc)
            raise
        finally:
            drained.set()

    async def _bad_answer(self, rpc: JsonObject, line: int) -> None:
        self.counters.vm_bad_answers += 1  # exec mode has no JSON-RPC but session/event
        log.warning(
            "%s: ignoring a JSON-RPC message in exec mode (line %d): %s",
            self.host.label,
            line,
            _summary(rpc),
        )

    async def _wait_for_exit(self, vm: VmProcess, turn: Turn) -> None:
        """Stdout is at its end: the VM should be exiting; give it a grace period.

        Raises:
            RpcError: It closed stdout and keeps running (it was stopped).
        """
        exited = anyio.Event()

        async def reap() -> None:
            await vm.wait()
            exited.set()

        self.spawn(f"{self.host.label} wait", reap)
        await wait_any(exited, turn.cancelled, timeout=self.settings.vm_stop_grace_s)
        if exited.is_set() or turn.cancelled.is_set():
            return
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


def _summary(rpc: JsonObject) -> str:
    """What a JSON-RPC message is, in a few words that any message can be told in.

    Never the message itself: one nested deeper than the encoder writes could not be.
    """
    method, msg_id = rpc.get("method"), rpc.get("id")
    what = f"method {method[:80]!r}" if isinstance(method, str) else "an answer"
    return f"{what}, id {msg_id!r}" if jsonrpc.valid_id(msg_id) else what
