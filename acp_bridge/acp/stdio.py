"""The editor's pipes: the only module that reads stdin and writes stdout.

One :class:`Outbox` holds every line bound for the editor, in order; one writer task owns
stdout and drains it in batches. Producers on the hot path (VM events) wait for room
before they enqueue, so a slow editor slows the VM down instead of growing memory;
responses and errors are enqueued at once (they are few). Reads wait for the pipe to be
readable and then read what is there, so a shutdown never waits on a blocked read (a
regular file, which never blocks, is read directly); writes run in a worker thread, so a
slow editor never blocks the event loop.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import deque
from typing import TYPE_CHECKING, Final

import anyio

from acp_bridge.acp.coalesce import coalesce, wire, wire_size
from acp_bridge.fdio import write_all
from acp_bridge.jsonrpc.framing import LineDecoder, LineTooLong

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from acp_bridge.acp.coalesce import Outgoing

log = logging.getLogger("acp_bridge.stdio")

READ_CHUNK: Final = 1 << 16
#: Queued bytes from which text chunks are merged at flush time (the editor is behind).
COALESCE_FROM_BYTES: Final = 256 * 1024
STDIN_FD: Final = 0
STDOUT_FD: Final = 1


class Outbox:
    """An ordered queue of wire lines with a byte-size high-water mark.

    An entry is a finished line or a plain text chunk not encoded yet. When the editor falls
    behind (``coalesce_from_bytes`` or more queued when the writer comes back for more),
    consecutive chunks are merged (``coalesce.py``) before they are encoded, so a chunk that
    merges is never encoded on its own.
    """

    def __init__(
        self, high_water_bytes: int, coalesce_from_bytes: int = COALESCE_FROM_BYTES
    ) -> None:
        """Create an empty outbox that asks producers to wait past ``high_water_bytes``."""
        self.high_water_bytes = high_water_bytes
        self.coalesce_from_bytes = coalesce_from_bytes
        self.coalesced = 0  # notifications merged into others, in all
        self._lines: deque[Outgoing] = deque()
        self._bytes = 0
        self._ready = anyio.Event()
        self._room = anyio.Event()
        self._room.set()
        self.closed = False
        self.lines_written = 0

    def put_nowait(self, entry: Outgoing) -> None:
        """Enqueue a line (or a chunk) now, whatever the queue's size."""
        if self.closed:
            return
        self._lines.append(entry)
        self._bytes += wire_size(entry)
        self._ready.set()
        if self._bytes >= self.high_water_bytes and self._room.is_set():
            self._room = anyio.Event()

    def put_many(self, entries: list[Outgoing]) -> None:
        """Enqueue lines and chunks now, in order."""
        if self.closed or not entries:
            return
        self._lines.extend(entries)
        self._bytes += sum(map(wire_size, entries))
        self._ready.set()
        if self._bytes >= self.high_water_bytes and self._room.is_set():
            self._room = anyio.Event()

    async def wait_for_room(self) -> None:
        """Wait until the queue is below its high-water mark."""
        while not self._room.is_set() and not self.closed:
            await self._room.wait()

    def take_all(self) -> bytes:
        """Remove and return everything queued, as one buffer (merged if backed up)."""
        if self._bytes >= self.coalesce_from_bytes:
            lines, merged = coalesce(list(self._lines))
            self.coalesced += merged
        else:
            lines = list(map(wire, self._lines))
        data = b"".join(lines)
        self.lines_written += len(lines)
        self._lines.clear()
        self._bytes = 0
        self._ready = anyio.Event()
        self._room.set()
        return data

    async def wait_ready(self) -> None:
        """Wait until something is queued or the outbox is closed."""
        if not self._lines and not self.closed:
            await self._ready.wait()

    def close(self) -> None:
        """Stop accepting lines and wake every waiter."""
        self.closed = True
        self._ready.set()
        self._room.set()

    @property
    def empty(self) -> bool:
        """Whether nothing is waiting to be written."""
        return not self._lines


async def write_loop(outbox: Outbox, fd: int = STDOUT_FD) -> None:
    """Own stdout: write what the outbox holds until it is closed and drained.

    Raises:
        BrokenPipeError: The editor closed its end of the pipe.
    """
    while True:
        await outbox.wait_ready()
        if outbox.empty:
            if outbox.closed:
                return
            continue
        data = outbox.take_all()
        await anyio.to_thread.run_sync(write_all, fd, data)


async def read_loop(
    on_line: Callable[[bytes], Awaitable[None]],
    on_too_long: Callable[[LineTooLong], Awaitable[None]],
    *,
    max_line_bytes: int,
    fd: int = STDIN_FD,
) -> None:
    """Read the editor's lines and hand each to ``on_line`` until EOF."""
    decoder = LineDecoder(max_line_bytes=max_line_bytes)
    mode = os.fstat(fd).st_mode
    # Pipes, sockets and terminals can be waited on; files and /dev/null never block.
    pollable = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)
    while True:
        if pollable:
            await anyio.wait_readable(fd)
        else:
            await anyio.lowlevel.checkpoint()
        data = os.read(fd, READ_CHUNK)
        if not data:
            break
        for item in decoder.feed(data):
            if isinstance(item, LineTooLong):
                await on_too_long(item)
            else:
                await on_line(item)
    tail = decoder.eof()
    if isinstance(tail, LineTooLong):
        await on_too_long(tail)
    elif tail is not None:
        await on_line(tail)
