"""The bridge's read end of a VM's stdout or stderr: a VM's output ends when the VM does.

A VM's stdout and stderr are pipes the bridge makes, so that it can close its end when it
chooses. Anything the VM started may hold the other end: a child in its process group
dies with it (:mod:`acp_bridge.vm.process`), but a daemon that left the group keeps it as
long as it likes, and a pipe read to EOF would hold the VM's turn open that long. So an
:class:`OutputPipe` is read until EOF or, once the VM has exited, until the bytes the pipe
held at that moment have been read and a grace period has passed, whichever comes first.

Rules:

- Nothing the VM itself wrote is left unread: it is all in the pipe when the VM exits
  (``FIONREAD`` says how much), however long the reader then takes to get through it.
- What something else writes after the grace period is not read: the bridge's end is
  closed (``held_open``), and that writer gets ``EPIPE``.
- One reader per pipe; it is the one that closes it.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import sys
import termios
from typing import Final

import anyio
import anyio.lowlevel

log = logging.getLogger("acp_bridge.vm")

READ_CHUNK: Final = 1 << 16
#: Bytes read back to back (the pipe was never empty) before other tasks get a turn.
YIELD_EVERY_BYTES: Final = 4 * READ_CHUNK


def unread_bytes(fd: int) -> int:
    """How many bytes the pipe ``fd`` holds, not read yet (``FIONREAD``)."""
    raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(raw, sys.byteorder)


class OutputPipe:
    """The bridge's read end of a VM's stdout or stderr: it ends when the VM does.

    It is read until EOF or, once :meth:`vm_exited` was called, until the bytes it held at
    that moment have been read and a grace period has passed, whichever comes first; then
    the bridge's end is closed (``held_open``: something still held the other end). Bytes
    written by the VM itself are never left unread: they are all in the pipe when it exits,
    however long the reader takes to get through them.
    """

    def __init__(self, fd: int, label: str) -> None:
        """Own ``fd`` (the read end of a pipe), named ``label`` on stderr."""
        os.set_blocking(fd, False)  # the read end's own: the VM's end is not touched
        self.fd: int | None = fd
        self.label = label
        self.held_open = False
        self._owed: int | None = None  # bytes still to read of those there at the exit
        self._deadline: float | None = None
        self._waiting: anyio.CancelScope | None = None
        self._unyielded = 0  # bytes read since the reader last let other tasks run

    def vm_exited(self, grace_s: float) -> None:
        """The VM is gone: read what it left in the pipe, then at most ``grace_s`` more."""
        if self.fd is None or self._deadline is not None:
            return
        try:
            self._owed = unread_bytes(self.fd)
        except OSError as exc:  # no pipe answers like this; read until the grace is over
            log.warning("%s: cannot tell how much output is unread: %s", self.label, exc)
            self._owed = 0
        self._deadline = anyio.current_time() + grace_s
        if self._waiting is not None:
            self._waiting.cancel()  # the reader waits for more: it now waits until then

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at the end (EOF, or the VM gone and the grace over).

        What the pipe holds is returned at once, without a trip through the event loop
        (as a stream's buffer would), up to :data:`YIELD_EVERY_BYTES` in a row.
        """
        if self._unyielded >= YIELD_EVERY_BYTES:
            self._unyielded = 0
            await anyio.lowlevel.checkpoint()
        while (fd := self.fd) is not None:
            deadline = math.inf
            if self._deadline is not None and self._owed is not None and self._owed <= 0:
                if anyio.current_time() >= self._deadline:
                    self.held_open = True
                    self.close()
                    return b""
                deadline = self._deadline
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                self._unyielded = 0
                with anyio.CancelScope(deadline=deadline) as scope:
                    self._waiting = scope
                    await anyio.wait_readable(fd)
                self._waiting = None
                continue
            except OSError as exc:
                log.warning("%s: reading failed: %s", self.label, exc)
                data = b""
            if not data:
                self.close()
                return b""
            if self._owed is not None:
                self._owed -= len(data)
            self._unyielded += len(data)
            return data
        return b""

    def close(self) -> None:
        """Close the bridge's end (idempotent)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            if self._waiting is not None:
                anyio.notify_closing(fd)
            os.close(fd)
