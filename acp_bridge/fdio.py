"""Writing a whole buffer to a file descriptor: the one write-until-done loop.

``os.write`` may write less than it was given (a pipe, a signal, a disk filling up). Both
the editor's stdout (:mod:`acp_bridge.acp.stdio`) and the event log's segment files
(:mod:`acp_bridge.eventlog.writer`) need all of it, and the log also needs to know how much
made it when a write fails part way, to keep the lines that were written whole.

Rules:

- One loop: every write-fully in the package goes through :func:`write_fully`.
- A ``write`` that reports no progress is an error (``EIO``), never a busy loop.
- The first ``write`` gets the caller's buffer itself; only a short write costs a copy.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def write_fully(
    fd: int, data: bytes, write: Callable[[int, bytes], int] = os.write
) -> tuple[int, OSError | None]:
    """Write all of ``data`` to ``fd``, finishing short writes.

    Args:
        fd: The descriptor to write to.
        data: The bytes to write.
        write: ``os.write`` or a stand-in.

    Returns:
        ``(written, error)``: how many bytes reached ``fd``, and the error that stopped the
        loop, or None when all of ``data`` was written. The error is returned, not raised,
        so that a caller writing whole lines can keep the ones that made it.
    """
    size = len(data)
    done = 0
    while done < size:
        try:
            written = write(fd, data[done:] if done else data)
        except OSError as exc:
            return done, exc
        if written <= 0:
            return done, OSError(errno.EIO, "write made no progress")
        done += written
    return done, None


def write_all(fd: int, data: bytes, write: Callable[[int, bytes], int] = os.write) -> None:
    """Write all of ``data`` to ``fd``, finishing short writes.

    Raises:
        OSError: A ``write`` failed or made no progress (how much was written is lost: use
            :func:`write_fully` when it matters).
    """
    _, error = write_fully(fd, data, write)
    if error is not None:
        raise error
