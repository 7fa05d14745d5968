"""One appender per session across processes: the ``flock`` on a session's first segment.

Rules:

- The lock is an exclusive, non-blocking ``flock`` on the session's first segment file,
  held by a descriptor of its own until that descriptor is closed; the OS drops it if the
  process dies, so a crash never leaves a session locked.
- A second opener is refused (``EventLogInUseError``) before it touches the file.
- A file system that cannot lock at all (some network and FUSE ones) is warned about, and
  the log is used unlocked.
- Segment files are created here and by the writer with the same flags and mode
  (:data:`SEGMENT_FLAGS`, :data:`FILE_MODE`): private, append-only, unbuffered.
"""

from __future__ import annotations

import errno
import fcntl
import os
from typing import TYPE_CHECKING, Final

from acp_bridge.errors import EventLogInUseError
from acp_bridge.eventlog.appending import LOGGER

if TYPE_CHECKING:
    from pathlib import Path

FILE_MODE: Final = 0o600
#: How a segment file is opened (and created when missing) for appending.
SEGMENT_FLAGS: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
#: flock errors that mean the file system has no locks (some network and FUSE ones).
_NO_LOCKS: Final = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


def lock_session(first_segment: Path) -> int:
    """Take the session's append lock: an exclusive ``flock`` on its first segment file.

    Returns:
        The descriptor that holds the lock; closing it releases the lock.

    A file system that cannot lock at all is warned about, and the log is used unlocked.

    Raises:
        EventLogInUseError: Another process holds it.
        OSError: The file cannot be opened (or locked, for another reason).
    """
    fd = os.open(first_segment, SEGMENT_FLAGS, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EventLogInUseError(
            f"the log of this session is open in another process ({first_segment})"
        ) from None
    except OSError as exc:
        if exc.errno not in _NO_LOCKS:
            os.close(fd)
            raise
        LOGGER.warning(
            "event log %s: the file system cannot lock it (%s); another process could "
            "append to this session at the same time",
            first_segment,
            exc,
        )
    return fd


def session_in_use(first_segment: Path) -> bool:
    """Whether another process holds the session's append lock (False if no log exists)."""
    try:
        fd = os.open(first_segment, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
