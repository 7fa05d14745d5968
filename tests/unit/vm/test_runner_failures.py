"""A runner's failures fail one prompt, never the session: real runners, real VM processes.

Each test drives a real :class:`~acp_bridge.session_runtime.SessionRuntime` (an in-memory
log, a real outbox) whose runner starts the test VMs of ``tests/support/vms`` as processes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from support.paths import VMS

from acp_bridge.acp.stdio import Outbox
from acp_bridge.core.session import SessionCore
from acp_bridge.core.translate import TranslatorOptions
from acp_bridge.counters import Counters
from acp_bridge.errors import RpcError
from acp_bridge.eventlog.memory import MemoryEventLog
from acp_bridge.jsonrpc import messages
from acp_bridge.session_runtime import SessionRuntime, guarded_spawner
from acp_bridge.settings import Settings
from acp_bridge.vm.exec_mode import ExecModeRunner
from acp_bridge.vm.session_mode import SessionModeRunner

#: A value ``orjson`` cannot encode. Nothing an editor sends can be such a value (see
#: ``MAX_NESTING_DEPTH``): these tests are about what happens if something else ever is.
UNENCODABLE = {"a set"}


def runtime_for(tmp_path: Path, counters: Counters) -> Any:
    """A live session over an in-memory log (Any: it is the runners' TurnHost, as in
    ``Sessions``, though its read-only properties do not match the protocol's fields)."""
    core = SessionCore("s-1", str(tmp_path), TranslatorOptions(cwd=str(tmp_path)))
    log = MemoryEventLog(counters=counters)
    return SessionRuntime(core, log, Outbox(1 << 20), counters, [])


def settings_for(tmp_path: Path, mode: str, vm: str, *args: str) -> Settings:
    return Settings(
        vm_mode=mode,  # type: ignore[arg-type]
        vm_argv=(sys.executable, str(VMS / vm), *args),
        log_dir=tmp_path / "logs",
        tune_process=False,
    )


PROMPT = [{"type": "text", "text": "hi"}]


async def test_a_session_vm_start_that_fails_unexpectedly_fails_one_prompt_only(
    tmp_path: Path,
) -> None:
    """Any failure of a start, not only a refused one, lets the next prompt start again.

    The client capabilities here cannot be encoded into the VM's ``initialize`` (the editor
    cannot send such, but nothing unforeseen must make a failed start stick either).
    """
    counters = Counters()
    runtime = runtime_for(tmp_path, counters)
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            spawn = guarded_spawner(group, counters)
            runtime.spawn = spawn
            runner = SessionModeRunner(
                settings=settings_for(tmp_path, "session", "session_vm.py", "--chunks", "1"),
                host=runtime,
                task_group=group,
                counters=counters,
                spawn=spawn,
                client_capabilities={"x": UNENCODABLE},
            )
            runtime.runner = runner
            for _ in range(2):  # the same failure, twice: each prompt gets the error
                with pytest.raises(RpcError) as failed:
                    await runtime.run_turn(PROMPT)
                assert failed.value.code == messages.INTERNAL_ERROR
                assert "could not be started" in failed.value.message
            assert runner.vm is None  # the VM that was started is being stopped
            runner.client_capabilities = {}
            assert await runtime.run_turn(PROMPT) == {"stopReason": "end_turn"}
            assert await runtime.run_turn(PROMPT) == {"stopReason": "end_turn"}
            await runner.stop()
            group.cancel_scope.cancel()
    assert counters.vm_failures == 2
    assert counters.handler_unexpected_exceptions == 2


async def test_an_exec_prompt_that_cannot_be_encoded_is_refused_before_any_vm_starts(
    tmp_path: Path,
) -> None:
    counters = Counters()
    runtime = runtime_for(tmp_path, counters)
    marker = tmp_path / "started"
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            spawn = guarded_spawner(group, counters)
            runtime.spawn = spawn
            runner = ExecModeRunner(
                settings=Settings(
                    vm_mode="exec",
                    vm_argv=("sh", "-c", f"touch {marker}; cat >/dev/null"),
                    log_dir=tmp_path / "logs",
                    tune_process=False,
                ),
                host=runtime,
                task_group=group,
                counters=counters,
                spawn=spawn,
            )
            runtime.runner = runner
            unencodable = [{"type": "text", "text": "x", "_meta": {"x": UNENCODABLE}}]
            with pytest.raises(RpcError) as refused:
                await runtime.run_turn(unencodable)
            assert refused.value.code == messages.INVALID_PARAMS
            assert not marker.exists()
            assert runner.running == set()
            assert await runtime.run_turn(PROMPT) == {"stopReason": "end_turn"}
            group.cancel_scope.cancel()
    assert marker.exists()
