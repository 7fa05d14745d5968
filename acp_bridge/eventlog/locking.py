"""One appender per session across processes: the ``flock`` on a session's first segment.

Rules:

- The lock is an exclusive, non-blocking ``flock`` on the session's first segment file,
  held by a descriptor of its own until that descriptor is closed; the OS drops it if the
  process dies, so a crash never leaves a session locked.
- A second opener is refused (``EventLogInUseError``) before it touches the file.
- A file system that cannot lock at all (some network and FUSE ones) is warned about, and
  the log is used unlocked.
- Segment files are created here and by the writer with the same flags
  (:data:`SEGMENT_FLAGS`), through :func:`~acp_bridge.eventlog.files.open_log_file`:
  private, append-only, unbuffered, never through a link, only regular files.
"""

from __future__ import annotations

import errno
import fcntl
import os
from typing import TYPE_CHECKING, Final

from acp_bridge.errors import EventLogInUseError, EventLogUnsafeFileError
from acp_bridge.eventlog.appending import LOGGER
from acp_bridge.eventlog.files import open_log_file

if TYPE_CHECKING:
    from pathlib import Path

    from acp_bridge.counters import Counters

#: How a segment file is opened for appending (``open_log_file`` creates it when missing).
SEGMENT_FLAGS: Final = os.O_RDWR | os.O_APPEND
#: flock errors that mean the file system has no locks (some network and FUSE ones).
_NO_LOCKS: Final = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


def lock_session(first_segment: Path, counters: Counters | None = None) -> tuple[int, bool]:
    """Take the session's append lock: an exclusive ``flock`` on its first segment file.

    Returns:
        The descriptor that holds the lock (closing it releases the lock), and whether the
        file was created just now.

    A file system that cannot lock at all is warned about, and the log is used unlocked.

    Raises:
        EventLogInUseError: Another process holds it.
        EventLogUnsafeFileError: It is a link or not a regular file (counted).
        OSError: The file cannot be opened (or locked, for another reason).
    """
    fd, created = open_log_file(first_segment, SEGMENT_FLAGS, counters, create=True)
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
    return fd, created


def session_in_use(first_segment: Path) -> bool:
    """Whether another process holds the session's append lock.

    False if no log exists, and for a link or a file that is not regular: no bridge can
    append to one (they are refused), and removing it touches nothing but its name.
    """
    try:
        fd, _ = open_log_file(first_segment, os.O_RDONLY)
    except (FileNotFoundError, EventLogUnsafeFileError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
