"""One agent VM child process: start, read, write, stop.

The VM runs in its own process group (``start_new_session``) so that stopping it also stops
whatever it started, and the group is listed with the bridge's watchdog
(:mod:`acp_bridge.vm.lifeline`) from its start until it is gone, so that it is stopped even
when the bridge is killed. Stopping is graceful first: close its stdin, wait; ``SIGTERM``
the group, wait; ``SIGKILL`` the group. Whatever a VM leaves running in its group when it
exits dies with it the same way (``SIGTERM``, then ``SIGKILL``).

The VM's output ends when the VM does. Its stdout and stderr are pipes of the bridge's own
(:class:`~acp_bridge.vm.output.OutputPipe`), read until EOF or, once the VM has exited,
until what they held at that moment is read and a grace period has passed: a process it
left running that holds them (a daemon that left the group keeps it) cannot hold a turn
open. The bridge then closes its end (counted: ``vm_stdout_held_open``).

Its stderr is copied to the bridge's stderr line by line, prefixed with the session, and
the last lines are kept for error reports. A flood of stderr is always read (the VM never
blocks on it) but copied only up to a rate (:class:`StderrBudget`); the lines not copied
are counted and said to be missing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from subprocess import PIPE
from typing import TYPE_CHECKING, Final

import anyio

from acp_bridge.jsonrpc.framing import LineDecoder, LineTooLong
from acp_bridge.vm.output import OutputPipe

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from anyio.abc import Process, TaskGroup

    from acp_bridge.counters import Counters
    from acp_bridge.vm.lifeline import Lifeline

log = logging.getLogger("acp_bridge.vm")

STDERR_TAIL_LINES: Final = 20
#: Lines of a VM's stderr copied at once, and per second after that.
STDERR_BURST_LINES: Final = 500.0
STDERR_LINES_PER_S: Final = 200.0


@dataclass(slots=True)
class StderrBudget:
    """A token bucket for copying a VM's stderr: bursts pass, floods are thinned out.

    The bridge's own stderr may be a pipe nobody reads quickly; copying a VM's flood in
    full would stall the bridge on it (and every session with it).
    """

    burst: float = STDERR_BURST_LINES
    rate: float = STDERR_LINES_PER_S
    tokens: float = STDERR_BURST_LINES
    stamp: float | None = None
    suppressed: int = 0  # lines not copied since the last one that was

    def allow(self, now: float) -> bool:
        """Whether to copy a line arriving at ``now`` (seconds, monotonic)."""
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.suppressed += 1
        return False


class VmStartError(OSError):
    """The VM command could not be started (not found, not executable, bad cwd, EMFILE)."""


class VmProcess:
    """A running VM and its pipes."""

    def __init__(
        self,
        process: Process,
        label: str,
        max_line_bytes: int,
        counters: Counters | None = None,
        stop_grace_s: float = 2.0,
        *,
        stdout: OutputPipe,
        stderr: OutputPipe,
        lifeline: Lifeline | None = None,
    ) -> None:
        """Wrap a started process; use :meth:`start` instead."""
        self.process = process
        self.stdout = stdout
        self.stderr = stderr
        self.lifeline = lifeline
        self.counters = counters
        self.stderr_budget = StderrBudget()
        self.label = label
        self.max_line_bytes = max_line_bytes
        self.stop_grace_s = stop_grace_s
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.stdout_lines = 0
        self._stdin_closed = False
        self._stopping = False
        self._write_lock = anyio.Lock()

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        label: str,
        max_line_bytes: int,
        task_group: TaskGroup,
        counters: Counters | None = None,
        stop_grace_s: float = 2.0,
        lifeline: Lifeline | None = None,
    ) -> VmProcess:
        """Start the VM, the task that copies its stderr and the one that reaps its group.

        Raises:
            VmStartError: The command could not be started.
        """
        pipes: list[int] = []
        try:
            pipes += os.pipe()  # stdout: read end, write end (neither inherited by others)
            pipes += os.pipe()  # stderr
        except OSError as exc:
            for fd in pipes:
                os.close(fd)
            raise VmStartError(exc.errno or 0, f"cannot start VM {argv[0]!r}: {exc}") from exc
        out_r, out_w, err_r, err_w = pipes
        started = False
        try:
            process = await anyio.open_process(
                list(argv),
                stdin=PIPE,
                stdout=out_w,
                stderr=err_w,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
            )
            started = True
        except OSError as exc:
            raise VmStartError(exc.errno or 0, f"cannot start VM {argv[0]!r}: {exc}") from exc
        finally:
            os.close(out_w)
            os.close(err_w)
            if not started:
                os.close(out_r)
                os.close(err_r)
        if lifeline is not None:
            lifeline.hold(process.pid)  # no await since the start: the group is listed now
        vm = cls(
            process,
            label,
            max_line_bytes,
            counters,
            stop_grace_s,
            stdout=OutputPipe(out_r, f"{label} stdout"),
            stderr=OutputPipe(err_r, f"{label} stderr"),
            lifeline=lifeline,
        )
        task_group.start_soon(vm._copy_stderr)
        task_group.start_soon(vm._after_exit)
        return vm

    @property
    def pid(self) -> int:
        """The VM's process id (also its process group id)."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status, once the VM has exited (negative: killed by that signal)."""
        return self.process.returncode

    async def batches(self) -> AsyncIterator[list[bytes | LineTooLong]]:
        """Yield the VM's stdout lines until EOF: every line one read completes, at once.

        ``stdout_lines`` counts the lines yielded so far, the batch just yielded included.
        The end is EOF, or the end of what the VM wrote once it has exited (see
        :class:`OutputPipe`): a process it left holding its stdout is reported and counted.
        """
        pipe = self.stdout
        decoder = LineDecoder(max_line_bytes=self.max_line_bytes)
        try:
            while chunk := await pipe.read():
                items = decoder.feed(chunk)
                if items:
                    self.stdout_lines += len(items)
                    yield items
        finally:
            pipe.close()
        if pipe.held_open:
            if self.counters is not None:
                self.counters.vm_stdout_held_open += 1
            log.warning(
                "%s exited, but its stdout was still held open %.1f s later (by a process "
                "it left running): its output ends there",
                self.label,
                self.stop_grace_s,
            )
        tail = decoder.eof()
        if tail is not None:
            self.stdout_lines += 1
            yield [tail]

    async def send(self, line: bytes) -> bool:
        """Write one line to the VM's stdin; False if the VM no longer reads it."""
        stream = self.process.stdin
        if stream is None or self._stdin_closed:
            return False
        async with self._write_lock:
            try:
                await stream.send(line)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                log.debug("%s: stdin closed: %s", self.label, exc)
                self._stdin_closed = True
                return False
        return True

    async def close_stdin(self) -> None:
        """Tell the VM there is no more input."""
        if self._stdin_closed or self.process.stdin is None:
            return
        self._stdin_closed = True
        try:
            await self.process.stdin.aclose()
        except (anyio.BrokenResourceError, OSError) as exc:
            log.debug("%s: closing stdin: %s", self.label, exc)

    def signal_group(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to the VM's whole process group; False if nobody was left in it."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            log.debug("%s: process group already gone", self.label)
            return False
        except PermissionError as exc:
            log.warning("%s: cannot signal process group: %s", self.label, exc)
            return False
        return True

    async def wait(self) -> int:
        """Wait for the VM to exit; return its status."""
        return await self.process.wait()

    async def stop(self, grace_s: float, *, terminate: bool = False) -> int:
        """Stop the VM: stdin EOF, then SIGTERM, then SIGKILL, ``grace_s`` apart.

        With ``terminate`` SIGTERM comes at once (for a VM whose stdin means nothing once
        it has its request). The group is signalled even when the leader already exited,
        so children it left behind die with it.
        """
        self._stopping = True  # before any await: the leftovers are this method's to stop
        await self.close_stdin()
        if self.returncode is None and not terminate:
            with anyio.move_on_after(grace_s):
                await self.wait()
        if self.returncode is None:
            why = "stopping it" if terminate else "did not exit after stdin closed"
            log.info("%s: %s; sending SIGTERM", self.label, why)
            self.signal_group(signal.SIGTERM)
            with anyio.move_on_after(grace_s):
                await self.wait()
        if self.returncode is None:
            log.warning("%s: did not exit after SIGTERM; sending SIGKILL", self.label)
        self.signal_group(signal.SIGKILL)
        self._release()
        status = -signal.SIGKILL
        with anyio.CancelScope(shield=True):
            status = await self.wait()
        return status

    def _release(self) -> None:
        """The group was sent SIGKILL or found empty: the watchdog can forget it."""
        if self.lifeline is not None:
            self.lifeline.release(self.process.pid)

    async def _after_exit(self) -> None:
        """Once the VM exits, end its output and stop what it left running in its group.

        The leader has been reaped by then, so a group that can still be signalled holds
        nothing but leftovers.
        """
        await self.wait()
        self.stdout.vm_exited(self.stop_grace_s)
        self.stderr.vm_exited(self.stop_grace_s)
        if self._stopping:
            return  # stop() signals the group and releases it
        if not self.signal_group(signal.SIGTERM):
            self._release()
            return
        if self.counters is not None:
            self.counters.vm_leftover_processes += 1
        log.warning(
            "%s exited leaving processes in its group: SIGTERM now, SIGKILL in %.1f s",
            self.label,
            self.stop_grace_s,
        )
        await anyio.sleep(self.stop_grace_s)
        self.signal_group(signal.SIGKILL)
        self._release()

    async def _copy_stderr(self) -> None:
        pipe = self.stderr
        decoder = LineDecoder(max_line_bytes=64 * 1024)
        prefix = f"[{self.label}] "
        try:
            while chunk := await pipe.read():
                for item in decoder.feed(chunk):
                    self._stderr_line(prefix, item)
        finally:
            pipe.close()
        if pipe.held_open:
            log.info("%s: its stderr is held open by a process it left running", self.label)
        tail = decoder.eof()
        if tail is not None:
            self._stderr_line(prefix, tail)
        self._report_suppressed(prefix)

    def _stderr_line(self, prefix: str, item: bytes | LineTooLong) -> None:
        if isinstance(item, LineTooLong):
            text = f"{item.head.decode('utf-8', 'replace')}… ({item.length} bytes)"
        else:
            text = item.decode("utf-8", "replace")
        self.stderr_tail.append(text)
        if not self.stderr_budget.allow(time.monotonic()):
            if self.counters is not None:
                self.counters.vm_stderr_lines_suppressed += 1
            return
        self._report_suppressed(prefix)
        sys.stderr.write(prefix + text + "\n")

    def _report_suppressed(self, prefix: str) -> None:
        if self.stderr_budget.suppressed:
            count, self.stderr_budget.suppressed = self.stderr_budget.suppressed, 0
            sys.stderr.write(f"{prefix}… {count} line(s) of a stderr flood not shown\n")
