"""What both ways of running turns on an agent VM share: the contract with the session.

A runner (:mod:`acp_bridge.vm.exec_mode`: a process per prompt;
:mod:`acp_bridge.vm.session_mode`: a process per session, over JSON-RPC) starts VM
processes, feeds their stdout lines to its :class:`TurnHost` (which persists, translates
and forwards them), and turns how the VM ended a turn into a stop reason or an
:class:`~acp_bridge.errors.RpcError` for the editor. Cancellation is prompt: the editor is
answered ``cancelled`` at most a grace period after it asked, whatever the VM does; the VM
is then stopped (exec) or given time to finish (session) in the background.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shlex
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio

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
    from acp_bridge.vm.lifeline import Lifeline

log = logging.getLogger("acp_bridge.vm")

VM_PROTOCOL_VERSION: Final = 1


class TurnHost(Protocol):
    """What a runner needs from its session."""

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


class Runner(Protocol):
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

    async def configure(self, method: str, params: JsonObject) -> None:
        """Tell the VM of a choice the editor made (``session/set_mode``, ``..._option``).

        Raises:
            RpcError: The VM refused it (the choice is not made).
        """
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
class RunnerBase:
    """The settings, session and task group every runner has, and how it starts a VM.

    ``lifeline`` is the bridge's VM watchdog: every VM started is listed with it, so that
    it is stopped even if the bridge is killed (``None``: VMs live on their own).
    ``choices`` says what the editor chose that a VM must know when it starts (the
    declared authentication method, ``protocol/vm/manifest.md``): asked at each start, so
    an exec-mode VM knows a login chosen after its session began.
    """

    settings: Settings
    host: TurnHost
    task_group: TaskGroup
    counters: Counters
    spawn: Callable[[str, Callable[[], Awaitable[None]]], None]
    lifeline: Lifeline | None = None
    choices: Callable[[], JsonObject] = dict

    def env(self, mode: str) -> dict[str, str]:
        """The VM's environment for ``mode`` (``exec`` or ``session``)."""
        env = vm_environment(os.environ, self.settings.vm_env_allow)
        env.update(
            ACP_BRIDGE_PROTOCOL=str(VM_PROTOCOL_VERSION),
            ACP_BRIDGE_MODE=mode,
            ACP_BRIDGE_SESSION_ID=self.host.session_id,
        )
        return env

    async def launch(self, mode: str) -> VmProcess:
        """Start a VM process.

        Raises:
            RpcError: It could not be started (counted as a VM failure).
        """
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
                lifeline=self.lifeline,
            )
        except VmStartError as exc:
            self.counters.vm_failures += 1
            command = shlex.join(self.settings.vm_argv)
            raise vm_failed(
                f"agent VM could not start: {exc.strerror}", None, command=command
            ) from None
