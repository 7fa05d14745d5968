"""The editor's pipes: the only module that reads stdin and writes stdout.

One :class:`Outbox` holds every line bound for the editor, in order; one writer task owns
stdout and drains it in batches. Producers on the hot path (VM events) wait for room
before they enqueue, so a slow editor slows the VM down instead of growing memory;
responses and errors are enqueued at once (they are few). Reads wait for the pipe to be
readable and then read what is there, so a shutdown never waits on a blocked read (a
regular file, which never blocks, is read directly); writes run in a worker thread, so a
slow editor never blocks the event loop, and a write the editor never takes does not hold
up shutdown either: cancelling the writer abandons it (the thread stays blocked; see
:mod:`acp_bridge.cli.serve`).

Back-pressure on the editor's input: answers are queued whatever the outbox holds (a
handler that finished must be able to answer), so an editor that writes requests and reads
nothing would grow the outbox without bound. The reader therefore stops reading stdin
while the outbox holds ``input_pause_bytes`` or more (twice the VM producers' mark by
default: VM events alone never get there, so a turn streaming to a slow editor never stops
its cancel from being read; only answers to the editor's own requests do). Until the writer
has taken the queue, nothing more of the editor's is read; what was read is handled, and
answered, first. Memory is then bounded by the mark, what the writer holds, one read's
worth of answers and the requests in flight (bounded by the editor's peer).

The deadlock this invites, and why it does not hang the bridge: an editor that writes
without reading blocks once our stdin pipe is full, while we wait for it to read. Nothing
here waits for it, though: the event loop goes on (VMs, timers, signals), the VMs'
requests to the editor still time out or are withdrawn, and the pause ends as soon as the
editor reads. While paused the reader looks, every :data:`PAUSE_POLL_S`, whether the editor
closed its end of stdin (a pipe or a socket hung up): then what is left in the pipe is
bounded by the pipe's size, so it is read to EOF at once, and the bridge shuts down as
for any EOF. An editor that exits closes our stdout too, which ends the writer. The pause
is reported on stderr (at most one warning per :data:`PAUSE_NOTICE_EVERY_S`, and one each
time a pause has lasted that long again) and counted (``editor_input_pauses``).
"""

from __future__ import annotations

import logging
import os
import select
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
    from acp_bridge.counters import Counters

log = logging.getLogger("acp_bridge.stdio")

READ_CHUNK: Final = 1 << 16
#: Queued bytes from which text chunks are merged at flush time (the editor is behind).
COALESCE_FROM_BYTES: Final = 256 * 1024
STDIN_FD: Final = 0
STDOUT_FD: Final = 1
#: While the editor's input is paused: how often to look whether the editor closed it...
PAUSE_POLL_S: Final = 1.0
#: ...and how long between two warnings about it.
PAUSE_NOTICE_EVERY_S: Final = 30.0
#: What says, on a paused pipe or socket, that the editor closed its end.
_HUNG_UP: Final = select.POLLHUP | getattr(select, "POLLRDHUP", 0)


class Outbox:
    """An ordered queue of wire lines with a byte-size high-water mark.

    An entry is a finished line or a plain text chunk not encoded yet. When the editor falls
    behind (``coalesce_from_bytes`` or more queued when the writer comes back for more),
    consecutive chunks are merged (``coalesce.py``) before they are encoded, so a chunk that
    merges is never encoded on its own.
    """

    def __init__(
        self,
        high_water_bytes: int,
        coalesce_from_bytes: int = COALESCE_FROM_BYTES,
        input_pause_bytes: int | None = None,
    ) -> None:
        """Create an empty outbox that asks producers to wait past ``high_water_bytes``.

        The editor's input is not read while ``input_pause_bytes`` (default: twice the
        high-water mark) or more are queued (see the module docstring).
        """
        self.high_water_bytes = high_water_bytes
        self.coalesce_from_bytes = coalesce_from_bytes
        self.input_pause_bytes = (
            2 * high_water_bytes if input_pause_bytes is None else input_pause_bytes
        )
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

    @property
    def queued_bytes(self) -> int:
        """How many bytes wait for the writer."""
        return self._bytes

    def holds_too_much(self) -> bool:
        """Whether the editor's input must wait: ``input_pause_bytes`` or more queued."""
        return self._bytes >= self.input_pause_bytes and not self.closed


async def write_loop(outbox: Outbox, fd: int = STDOUT_FD) -> None:
    """Own stdout: write what the outbox holds until it is closed and drained.

    Cancelling it abandons a write in progress: the worker thread stays blocked in it
    (stdout is the editor's pipe, not ours to make non-blocking), the task ends at once.

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
        await anyio.to_thread.run_sync(write_all, fd, data, abandon_on_cancel=True)


async def read_loop(
    on_line: Callable[[bytes], Awaitable[None]],
    on_too_long: Callable[[LineTooLong], Awaitable[None]],
    *,
    max_line_bytes: int,
    fd: int = STDIN_FD,
    outbox: Outbox | None = None,
    counters: Counters | None = None,
) -> None:
    """Read the editor's lines and hand each to ``on_line`` until EOF.

    With an ``outbox``, stdin is not read while it holds too much for the editor (see the
    module docstring); each such pause is counted in ``counters``. A read that fails (not
    one that would block) is reported and taken for EOF.
    """
    decoder = LineDecoder(max_line_bytes=max_line_bytes)
    mode = os.fstat(fd).st_mode
    # Pipes, sockets and terminals can be waited on; files and /dev/null never block.
    pollable = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)
    pauses = _Pauses(outbox, counters, fd if pollable else None)
    while True:
        if pauses.needed():
            await pauses.wait()
        if pollable:
            await anyio.wait_readable(fd)
        else:
            await anyio.lowlevel.checkpoint()
        try:
            data = os.read(fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            continue  # someone made the descriptor non-blocking, or a signal: read again
        except OSError as exc:
            log.error("reading the editor's input failed (%s): taking it for EOF", exc)  # noqa: TRY400
            break
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


class _Pauses:
    """When the editor's input waits for the editor to read, and what is said meanwhile."""

    def __init__(self, outbox: Outbox | None, counters: Counters | None, fd: int | None) -> None:
        self.outbox = outbox
        self.counters = counters
        self.fd = fd  # None: not a pipe or socket, it cannot hang up
        self.hung_up = False  # the editor closed its end: what is left is read on
        self.last_warning = -PAUSE_NOTICE_EVERY_S

    def needed(self) -> bool:
        return self.outbox is not None and not self.hung_up and self.outbox.holds_too_much()

    async def wait(self) -> None:
        """Wait until the writer took the queue, or the editor hung up."""
        outbox = self.outbox
        assert outbox is not None
        if self.counters is not None:
            self.counters.editor_input_pauses += 1
        start = anyio.current_time()
        self._say(start, start, outbox)
        while outbox.holds_too_much():
            with anyio.move_on_after(PAUSE_POLL_S):
                await outbox.wait_for_room()
            if not outbox.holds_too_much():
                break
            now = anyio.current_time()
            if self.fd is not None and _hung_up(self.fd):
                self.hung_up = True
                log.warning(
                    "the editor closed stdin without reading what the bridge wrote "
                    "(%d bytes wait for it): reading the rest of its input",
                    outbox.queued_bytes,
                )
                return
            if now - self.last_warning >= PAUSE_NOTICE_EVERY_S:
                self._say(start, now, outbox)
        log.info("reading the editor's input again")

    def _say(self, start: float, now: float, outbox: Outbox) -> None:
        if now - self.last_warning < PAUSE_NOTICE_EVERY_S:
            log.info("stopped reading the editor's input until it reads its answers")
            return
        self.last_warning = now
        log.warning(
            "%d bytes wait for the editor to read them: stopped reading the editor's input "
            "until it does (paused for %.0f s)",
            outbox.queued_bytes,
            now - start,
        )


def _hung_up(fd: int) -> bool:
    """Whether the other end of ``fd`` (a pipe or a socket) was closed; never blocks."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | _HUNG_UP)
    return any(events & _HUNG_UP for _, events in poller.poll(0))
