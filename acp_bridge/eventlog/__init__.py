"""The append-only JSONL event log, on disk in the Harn runtime's ``event_log.jsonl`` shape.

Four parts, split by whether they touch the file system:

- ``naming`` (pure): session id -> safe file-name part; segment file names.
- ``rotation`` (pure): when to start a new segment and when to ``fsync``.
- ``records`` (pure): the Harn envelope, encoded and decoded.
- ``writer`` / ``reader`` (I/O edge): ``JsonlEventLog`` / ``MemoryEventLog`` and streaming reads.

Rule: this package ``__init__`` imports nothing, so importing a pure part never pulls in I/O.
"""
