"""A VM lives no longer than its bridge: the bridge's end of the VM watchdog.

A VM runs in a process group of its own (:mod:`acp_bridge.vm.process`), so that stopping it
stops what it started. But a bridge killed by ``SIGKILL`` (an editor force-quitting, the
OOM killer) runs no code at all, and its VMs would run on with nobody left to cancel them.
So each bridge keeps one watchdog process (:mod:`acp_bridge.vm.watchdog`) and tells it,
over a pipe whose write end only the bridge holds, which VM process groups are alive. When
the bridge exits, however it exits, the kernel closes that pipe; the watchdog reads EOF
and stops every group still listed: ``SIGTERM``, then ``SIGKILL`` after the grace period.

Why a watchdog, and not what else could do it:

* ``prctl(PR_SET_PDEATHSIG)`` in the VM reaches the VM process only, not the children it
  starts (the setting is cleared in every fork); it fires when the *thread* that forked
  the VM ends, not the process; it is Linux-only; and it must be set in the child between
  fork and exec, which anyio's ``open_process`` offers no hook for (``preexec_fn`` is not
  safe in a threaded process anyway).
* A launcher per VM (a small program that sets that signal, then runs the VM) has the same
  reach and costs an interpreter start per VM: per prompt, in exec mode.
* Signalling the process group reaches everything the VM started that stayed in its group,
  which is everything but a program that deliberately left it (``setsid``: a daemon, which
  ``protocol/vm/modes.md`` says outlives the VM). One watchdog per bridge is one small
  process started once (about 10 ms, 8 MiB), on any POSIX system.

Rules:

- What is listed is :attr:`Lifeline.groups`; the pipe only replicates it. A group is listed
  right after its VM starts, and released once it has been sent ``SIGKILL`` or found
  empty, so the watchdog never signals a group id that could have been reused by then.
- A watchdog that cannot be started, exits, or stops reading while the bridge runs is
  reported on stderr and counted (``vm_watchdog_failures``), and a new one is started
  (at most one attempt a second, then less often) and told every group still listed.
- Not covered: the few event-loop steps between the fork of a VM and its registration. A
  bridge killed in that window leaves that one VM running.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio

from acp_bridge.fdio import write_fully

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anyio.abc import Process

    from acp_bridge.counters import Counters

log = logging.getLogger("acp_bridge.vm")

WATCHDOG_PATH: Final = Path(__file__).with_name("watchdog.py")
#: The wait before starting a watchdog again after one failed, doubled up to the maximum.
RESTART_DELAY_S: Final = 1.0
MAX_RESTART_DELAY_S: Final = 60.0
#: How long :meth:`Lifeline.close` waits for the watchdog beyond its grace period.
CLOSE_MARGIN_S: Final = 1.0


def watchdog_command(grace_s: float) -> list[str]:
    """The watchdog's command line: this interpreter, isolated, without ``site``."""
    return [sys.executable, "-I", "-S", str(WATCHDOG_PATH), f"{grace_s:g}"]


class Lifeline:
    """The bridge's end of its VM watchdog: which VM process groups it must stop."""

    def __init__(
        self, counters: Counters, grace_s: float, *, command: Sequence[str] | None = None
    ) -> None:
        """Prepare a lifeline; :meth:`run` starts (and keeps) the watchdog.

        Args:
            counters: Where watchdog failures are counted.
            grace_s: Between the watchdog's ``SIGTERM`` and ``SIGKILL``.
            command: The watchdog's command line (default: :func:`watchdog_command`).
        """
        self.counters = counters
        self.grace_s = grace_s
        self.command = list(command) if command is not None else watchdog_command(grace_s)
        self.groups: set[int] = set()
        self._fd: int | None = None  # the write end of the current watchdog's stdin
        self._process: Process | None = None
        self._closing = False
        self._wake = anyio.Event()
        self._running = False
        self._stopped = anyio.Event()

    # ------------------------------------------------------------------ VM groups

    def hold(self, pgid: int) -> None:
        """List a VM's process group: stop it if the bridge goes away."""
        self.groups.add(pgid)
        self._write(b"+%d\n" % pgid)

    def release(self, pgid: int) -> None:
        """Unlist a group that was sent ``SIGKILL`` or found empty."""
        if pgid in self.groups:
            self.groups.discard(pgid)
            self._write(b"-%d\n" % pgid)

    # ------------------------------------------------------------------ the watchdog

    def closing(self) -> bool:
        """Whether :meth:`close` was called: the watchdog is to go, not to be replaced."""
        return self._closing

    async def run(self) -> None:
        """Keep a watchdog running until :meth:`close`; replace one that fails."""
        self._running = True
        delay = RESTART_DELAY_S
        try:
            while not self.closing():
                started = anyio.current_time()
                process = await self._start()
                if process is not None:
                    status = await process.wait()
                    self._close_pipe()
                    self._process = None
                    if self.closing():
                        break
                    self._failed(f"exited (status {status})")
                if anyio.current_time() - started > MAX_RESTART_DELAY_S:
                    delay = RESTART_DELAY_S  # it had been working: no backing off
                with anyio.move_on_after(delay):
                    await self._wake.wait()
                delay = min(delay * 2, MAX_RESTART_DELAY_S)
        finally:
            self._close_pipe()
            self._stopped.set()

    async def close(self) -> None:
        """The bridge is done: let the watchdog go (it stops any group still listed)."""
        self._closing = True
        self._wake.set()
        self._close_pipe()
        if not self._running:
            return
        with anyio.move_on_after(self.grace_s + CLOSE_MARGIN_S):
            await self._stopped.wait()

    async def _start(self) -> Process | None:
        try:
            read_fd, write_fd = os.pipe()  # neither end is inherited by a VM
        except OSError as exc:
            self._failed(f"could not be started: {exc}")
            return None
        devnull: int | None = None
        try:
            devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            process = await anyio.open_process(
                self.command,
                stdin=read_fd,
                stdout=devnull,  # stdout is the editor's wire: nothing else writes there
                stderr=None,  # the bridge's stderr: what it says there is for the editor
                start_new_session=True,  # signals meant for the bridge's group spare it
            )
        except OSError as exc:
            os.close(write_fd)
            self._failed(f"could not be started: {exc}")
            return None
        finally:
            os.close(read_fd)
            if devnull is not None:
                os.close(devnull)
        os.set_blocking(write_fd, False)  # a stuck watchdog must never block the bridge
        self._fd, self._process = write_fd, process
        self._write(b"".join(b"+%d\n" % pgid for pgid in sorted(self.groups)))
        return process

    def _write(self, data: bytes) -> None:
        fd = self._fd
        if fd is None or not data:
            return  # no watchdog right now: the next one is told everything listed
        _, error = write_fully(fd, data)
        if error is None:
            return
        if isinstance(error, BrokenPipeError):
            log.debug("the VM watchdog is gone; a new one will be told every VM group")
            return  # run() sees it exit, counts it and starts a new one
        # It does not read (stopped, or stuck). Closing its pipe would tell it the bridge is
        # gone and make it stop live VMs: kill it instead, and run() starts a new one.
        self._failed(f"does not read what the bridge writes ({error}); replacing it")
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()

    def _failed(self, what: str) -> None:
        self.counters.vm_watchdog_failures += 1
        log.error(
            "the VM watchdog %s: until a new one runs, a bridge killed now would leave "
            "%d VM process group(s) running",
            what,
            len(self.groups),
        )

    def _close_pipe(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
