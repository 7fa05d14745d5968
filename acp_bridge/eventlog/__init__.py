"""The append-only JSONL event log, on disk in the Harn runtime's ``event_log.jsonl`` shape.

Its parts, split by whether they touch the file system:

- ``naming`` (pure): session id -> safe file-name part; segment and quarantine file names;
  which ids are served.
- ``rotation`` (pure): when to start a new segment and when to ``fsync``.
- ``records`` (pure): the Harn envelope, encoded and decoded.
- ``writer`` (I/O edge): the ``EventLog`` protocol and ``JsonlEventLog``, with its
  ``BackgroundSync`` capability; ``memory``: ``MemoryEventLog``, the in-memory backend and
  test double; ``appending``: what both backends share (clock, failure bookkeeping).
- ``opening``, ``locking``, ``recovery`` (I/O edge): opening a log for appending, the
  one-appender-per-session lock, and the byte-level scans of a segment's tail.
- ``files`` (I/O edge): the one way a file under the log directory is opened (never
  through a link, only regular files, private modes).
- ``reader`` / ``summary`` / ``catalog`` (I/O edge): streaming reads; what one log says
  when listed; listing (read once per version of each file) and deleting sessions.
- ``paging`` (pure): ``session/list``'s cursors, stable when sessions change.

Rule: this package ``__init__`` imports nothing, so importing a pure part never pulls in I/O.
"""
