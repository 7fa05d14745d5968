"""The bridge's error hierarchy.

Rule: an error that can reach the editor carries its JSON-RPC code; the one boundary that
turns exceptions into wire errors lives with the server, not here. Errors that describe bad
input keep where it came from (file and line, or the offending line), so that the message on
stderr points at it.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base class of every error the bridge raises on purpose."""


class LocalProtocolError(BridgeError):
    """The bridge itself tried a transition its state machine forbids: a bug."""


class EventLogError(BridgeError):
    """The event log could not be read or written."""


class EventLogInUseError(EventLogError):
    """Another process has the session's log open for appending."""


class EventLogDeleteError(EventLogError):
    """A file of a session's log could not be deleted (the message names it)."""


class EventLogUnsafeFileError(EventLogError):
    """A file under the log directory is a link (symbolic or hard) or not a regular file.

    Attributes:
        path: The file.
        what: What it is instead ("a symbolic link", "a FIFO", ...).
    """

    def __init__(self, path: str, what: str) -> None:
        super().__init__(
            f"refusing {path}: it is {what}, and only regular files with one name in the log "
            "directory are read or written"
        )
        self.path = path
        self.what = what


class EventLogCorruptError(EventLogError):
    """A log line is not a valid record.

    Attributes:
        path: The segment file.
        lineno: The 1-based line number inside that file.
        reason: What is wrong with the line.
    """

    def __init__(self, path: str, lineno: int, reason: str) -> None:
        super().__init__(f"{path}:{lineno}: {reason}")
        self.path = path
        self.lineno = lineno
        self.reason = reason


class RpcError(BridgeError):
    """An error answer for the editor (or the VM): a JSON-RPC code, message and data.

    Attributes:
        code: The JSON-RPC error code.
        message: A one-line, human-readable message.
        data: Optional structured details (never a traceback).
    """

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
