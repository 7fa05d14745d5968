"""Opening what is under the log directory: never through a link, only regular files.

The log directory is shared with whoever else can write to it (another bridge, Harn, a
careless neighbour, a planted file). Every file of it the bridge opens (segments, their
``.torn`` files, for reading, appending, locking or listing) is opened here.

Rules:

- Never followed: ``O_NOFOLLOW`` on every open, so a symbolic link named like a log (to a
  file outside, to ``/dev/zero``) is refused, never truncated, appended to or read. Names
  never hold a ``/`` (``naming``), so the last component is the only one under the log
  directory.
- Never wedged: ``O_NONBLOCK`` while opening, so a FIFO named like a log cannot block the
  open; then ``fstat``, and anything but a regular file (FIFO, device, socket, directory)
  is refused before a byte is read or written. The descriptor is blocking again after.
- Never shared: a regular file with more than one name (a hard link, to a file outside
  the log directory maybe) is refused like a symbolic link, before it is read, narrowed,
  cut or appended to; the bridge never makes one, so only someone else's file has one
  (:func:`unsafe_kind` says which files are refused).
- Private: files are created ``0600`` and the directory ``0700``; a file or directory found
  with wider modes is narrowed, and when that is impossible a warning says why.
- One counter, one site: every refusal is made by :func:`refusal`, which counts it
  (``eventlog_unsafe_files``) when given the counters and returns the error to raise.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from typing import TYPE_CHECKING, Final

from acp_bridge.errors import EventLogError, EventLogUnsafeFileError
from acp_bridge.eventlog.appending import LOGGER

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from acp_bridge.counters import Counters

FILE_MODE: Final = 0o600
DIRECTORY_MODE: Final = 0o700
#: Added to every open: never follow, never block on a FIFO, never become our terminal.
SAFE_FLAGS: Final = (
    os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | getattr(os, "O_BINARY", 0)
)
#: What ``open`` answers for a link under ``O_NOFOLLOW`` (Linux; the BSDs; macOS).
_LINK_ERRNOS: Final = frozenset({errno.ELOOP, errno.EMLINK, getattr(errno, "EFTYPE", errno.ELOOP)})
_KINDS: Final = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def kind_of(mode: int) -> str:
    """Name what a file of ``mode`` is, as a refusal says it ("a FIFO", ...)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def unsafe_kind(info: os.stat_result) -> str | None:
    """What makes a file the bridge refuses (``lstat`` or ``fstat`` of it), or None.

    Anything but a regular file, and a regular file with other names (a hard link): all
    that is written to it, cut off it or narrowed in it would change a file elsewhere.
    """
    if not stat.S_ISREG(info.st_mode):
        return kind_of(info.st_mode)
    if info.st_nlink > 1:
        return f"a hard link ({info.st_nlink} names for one file)"
    return None


def refusal(path: Path | str, what: str, counters: Counters | None) -> EventLogUnsafeFileError:
    """The error for a file under the log directory that is not a regular file; counted."""
    if counters is not None:
        counters.eventlog_unsafe_files += 1
    return EventLogUnsafeFileError(str(path), what)


def open_log_file(
    path: Path, flags: int, counters: Counters | None = None, *, create: bool = False
) -> tuple[int, bool]:
    """Open a file under the log directory: never through a link, only a regular file.

    Args:
        path: The file (its name is the only component the log directory's owner chose).
        flags: ``os.O_RDONLY``, ``os.O_RDWR | os.O_APPEND``, ...; without ``O_CREAT``.
        counters: Where a refusal is counted (``eventlog_unsafe_files``).
        create: Create it (mode ``0600``) when it does not exist.

    Returns:
        The descriptor (blocking, close-on-exec) and whether this call created the file.

    Raises:
        EventLogUnsafeFileError: It is a symbolic link, not a regular file, or a hard link
            (counted).
        OSError: It cannot be opened (``FileNotFoundError`` when missing and not created).
    """
    created = False
    try:
        try:
            fd = os.open(path, flags | SAFE_FLAGS)
        except FileNotFoundError:
            if not create:
                raise
            fd = os.open(path, flags | SAFE_FLAGS | os.O_CREAT | os.O_EXCL, FILE_MODE)
            created = True
    except FileExistsError:
        # Made by someone else between the two opens: open what is there now, as above.
        return open_log_file(path, flags, counters, create=False)[0], False
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS:
            raise refusal(path, "a symbolic link", counters) from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):  # a FIFO without reader; a directory
            raise refusal(path, _kind_at(path), counters) from None
        raise
    try:
        _check_regular(fd, path, counters)
    except BaseException:
        os.close(fd)
        raise
    return fd, created


def _check_regular(fd: int, path: Path, counters: Counters | None) -> None:
    """Refuse what is not a regular file; make the descriptor blocking, the file private."""
    info = os.fstat(fd)
    if (what := unsafe_kind(info)) is not None:
        raise refusal(path, what, counters)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    if stat.S_IMODE(info.st_mode) & ~FILE_MODE:
        _narrow(path, info.st_mode, lambda: os.fchmod(fd, FILE_MODE))


def prepare_directory(directory: Path, *, create: bool = True) -> bool:
    """Make the log directory (``0700``), or narrow an existing one to ``0700``.

    The directory itself may be a link its owner made (``--log-dir`` is theirs to choose);
    only what is inside it is never followed.

    Args:
        directory: The log directory.
        create: Make it when it is missing (else a missing one is left missing).

    Returns:
        Whether it exists now.

    Raises:
        EventLogError: It exists and is not a directory.
        OSError: It cannot be made.
    """
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        if not create:
            return False
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask
        return True
    if not stat.S_ISDIR(info.st_mode):
        raise EventLogError(f"the log directory {directory} is {kind_of(info.st_mode)}")
    if stat.S_IMODE(info.st_mode) & ~DIRECTORY_MODE:
        _narrow(directory, info.st_mode, lambda: os.chmod(directory, DIRECTORY_MODE))
    return True


def open_directory(directory: Path) -> int:
    """Open the log directory itself (to ``fsync`` its entries): a directory, read-only.

    Raises:
        OSError: It cannot be opened, or is not a directory (``ENOTDIR``).
    """
    return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _narrow(path: Path, mode: int, change: Callable[[], None]) -> None:
    """Take group and other permissions away; say why on stderr when that is impossible."""
    try:
        change()
    except OSError as exc:
        LOGGER.warning(
            "%s is mode %04o and cannot be made private (%04o): %s; other users may read it",
            path,
            stat.S_IMODE(mode),
            DIRECTORY_MODE if stat.S_ISDIR(mode) else FILE_MODE,
            exc.strerror or exc,
        )
        return
    LOGGER.info(
        "%s was mode %04o: made private (%04o)",
        path,
        stat.S_IMODE(mode),
        DIRECTORY_MODE if stat.S_ISDIR(mode) else FILE_MODE,
    )


def _kind_at(path: Path) -> str:
    """What ``path`` is, for a refusal made before its descriptor was had."""
    try:
        return kind_of(os.lstat(path).st_mode)
    except OSError:
        return "not a regular file"
