"""The composition root: one task group owns every task of a serving bridge.

``run`` wires the editor's pipes, the server, its sessions and the VM watchdog
(:mod:`acp_bridge.vm.lifeline`) together, serves until the editor closes stdin (or
SIGTERM/SIGINT arrives), then stops every VM, flushes every log and reports the counters
of everything that was tolerated on the way.

Shutdown is bounded, whatever the editor and the VMs do: requests in flight get
``SETTLE_TIMEOUT_S`` to answer, VMs their grace periods, and the last answers
``DRAIN_TIMEOUT_S`` to reach an editor that has stopped reading stdout; a write it never
takes is then abandoned (counted: ``editor_output_abandoned``) and ``run`` returns. The
process-level rest (a worker thread still blocked in that write) is the command line's
(:mod:`acp_bridge.cli.serve`).
"""

from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING

import anyio

from acp_bridge import tuning
from acp_bridge.acp.stdio import STDIN_FD, STDOUT_FD, Outbox, read_loop, write_loop
from acp_bridge.agent import Agent
from acp_bridge.counters import Counters
from acp_bridge.vm.lifeline import Lifeline

if TYPE_CHECKING:
    from acp_bridge.settings import Settings

log = logging.getLogger("acp_bridge")

#: How long the last answers may take to reach the editor at shutdown.
DRAIN_TIMEOUT_S = 2.0
#: How long requests still being handled at shutdown may take to answer.
SETTLE_TIMEOUT_S = 2.0


async def run(
    settings: Settings,
    *,
    stdin_fd: int = STDIN_FD,
    stdout_fd: int = STDOUT_FD,
) -> int:
    """Serve ACP on the editor's pipes until the editor goes away; return the exit status.

    Args:
        settings: The bridge's configuration.
        stdin_fd: Where the editor's messages are read (a pipe, a socket or a file).
        stdout_fd: Where the bridge's messages are written: nothing else writes there.
    """
    counters = Counters()
    outbox = Outbox(settings.outbox_high_water_bytes)
    lifeline = Lifeline(counters, settings.vm_stop_grace_s)
    editor_gone = anyio.Event()
    writer_done = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(lifeline.run, name="VM watchdog")
        streaming = tuning.tune if settings.tune_process else _untuned
        server = Agent(settings, counters, outbox, group, streaming=streaming, lifeline=lifeline)

        async def write() -> None:
            try:
                await write_loop(outbox, stdout_fd)
            except BrokenPipeError:
                log.info("the editor closed stdout")
            except OSError as exc:
                log.error("writing to the editor failed: %s", exc)  # noqa: TRY400 - one line
            outbox.close()
            writer_done.set()
            editor_gone.set()

        async def read() -> None:
            await read_loop(
                server.on_line,
                server.on_too_long,
                max_line_bytes=settings.max_editor_line_bytes,
                fd=stdin_fd,
                outbox=outbox,
                counters=counters,
            )
            log.info("the editor closed stdin")
            editor_gone.set()

        async def signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
                async for signum in received:
                    log.info("received %s; shutting down", signal.Signals(signum).name)
                    editor_gone.set()
                    return

        group.start_soon(write, name="editor writer")
        group.start_soon(read, name="editor reader")
        group.start_soon(signals, name="signals")
        await editor_gone.wait()
        await server.settle(SETTLE_TIMEOUT_S)
        await server.shutdown()
        await lifeline.close()  # every VM is stopped: the watchdog has nothing left to do
        outbox.close()
        with anyio.move_on_after(DRAIN_TIMEOUT_S):
            await writer_done.wait()
        if not writer_done.is_set():
            counters.editor_output_abandoned += 1
            log.warning(
                "the editor has not read stdout for %.1f s: dropping what it has not taken",
                DRAIN_TIMEOUT_S,
            )
        group.cancel_scope.cancel()
    problems = counters.nonzero()
    if problems:
        log.info("tolerated on the way: %s", problems)
    return 0


def _untuned() -> bool:
    """The process is left as it is (``Settings.tune_process`` is off)."""
    return False
