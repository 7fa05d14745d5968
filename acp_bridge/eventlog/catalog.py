"""The log directory as a catalogue of sessions: ``session/list`` and ``session/delete``.

Listing never reads a log in full: a session's id, cwd and title come from the first
records of its first segment (read up to a small byte budget), and ``updatedAt`` from the
last complete line of its newest segment (read from the end). Logs written by Harn itself
(no ``acp_bridge.session`` record) are listed too, with the id their records carry.

Deleting removes a session's segments and their ``.torn`` quarantine files. Rule: never
while another process appends to the session (its lock is held), and only for ids that
name their own files (``naming.is_plain_session_id``): any other id could share a file
name with another session.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from acp_bridge.errors import EventLogDeleteError, EventLogInUseError
from acp_bridge.eventlog.locking import session_in_use
from acp_bridge.eventlog.naming import is_plain_session_id, parse_segment_file_name, torn_file_name
from acp_bridge.eventlog.reader import segment_paths
from acp_bridge.eventlog.records import PROMPT_RECORD, SESSION_RECORD, decode_record

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("acp_bridge.eventlog")

HEAD_BYTES: Final = 256 * 1024
TAIL_BYTES: Final = 64 * 1024
TITLE_CHARS: Final = 80


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """What ``session/list`` says about one logged session."""

    session_id: str
    cwd: str | None
    title: str | None
    updated_at_ms: int | None
    path: str
    recorded_by_bridge: bool
    additional_directories: tuple[str, ...] = ()

    def info(self, fallback_cwd: str) -> dict[str, Any]:
        """This session as an ACP ``SessionInfo``."""
        entry: dict[str, Any] = {"sessionId": self.session_id, "cwd": self.cwd or fallback_cwd}
        if self.additional_directories:
            entry["additionalDirectories"] = list(self.additional_directories)
        if self.title:
            entry["title"] = self.title
        if self.updated_at_ms is not None:
            stamp = datetime.fromtimestamp(self.updated_at_ms / 1000, tz=UTC)
            entry["updatedAt"] = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return entry


def _head_records(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    lines = head.split(b"\n")
    if not head.endswith(b"\n"):
        lines = lines[:-1]  # a partial line at the budget's edge, or a torn tail
    records: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(decode_record(line).event)
        except ValueError:
            continue
    return records


def _stamp(line: bytes) -> int | None:
    try:
        return decode_record(line).emitted_at_ms
    except ValueError:
        return None


def _tail(path: Path) -> tuple[int | None, dict[str, Any] | None]:
    """The last time stamp in a segment's tail, and the last session record there."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read()
    stamp: int | None = None
    for line in reversed(tail.split(b"\n")[:-1] if tail.endswith(b"\n") else tail.split(b"\n")):
        if not line.strip():
            continue
        if f'"{SESSION_RECORD}"'.encode() in line:
            try:
                record = decode_record(line)
            except ValueError:
                continue
            if record.event.get("type") == SESSION_RECORD:
                return (stamp if stamp is not None else record.emitted_at_ms), record.event
        if stamp is None:
            stamp = _stamp(line)
    return stamp, None


def _roots(record: dict[str, Any]) -> tuple[str, ...]:
    dirs = record.get("additional_directories")
    if not isinstance(dirs, list):
        return ()
    return tuple(d for d in dirs if isinstance(d, str))


def _title(records: list[dict[str, Any]]) -> str | None:
    for record in records:
        if record.get("type") != PROMPT_RECORD:
            continue
        for block in record.get("prompt") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                text = " ".join(block["text"].split())
                if text:
                    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"
    return None


def describe(directory: Path, name: str, files: list[str]) -> SessionEntry | None:
    """Describe the session whose segments are ``files`` (segment 0 first)."""
    first = directory / files[0]
    try:
        records = _head_records(first)
        updated, reopened = _tail(directory / files[-1])
    except OSError as exc:
        log.warning("cannot read %s: %s", first, exc)
        return None
    opening = records[0] if records else {}
    by_bridge = opening.get("type") == SESSION_RECORD
    session_id = opening.get("session_id") if by_bridge else None
    if not isinstance(session_id, str):
        session_id = name  # Harn names its logs after the session id
    cwd = opening.get("cwd") if by_bridge else None
    # The latest load or resume names the session's current roots; the opening, the first.
    latest = reopened or next(
        (r for r in reversed(records) if r.get("type") == SESSION_RECORD), opening
    )
    if updated is None:
        updated = int(first.stat().st_mtime * 1000)
    return SessionEntry(
        session_id=session_id,
        cwd=cwd if isinstance(cwd, str) else None,
        title=_title(records),
        updated_at_ms=updated,
        path=str(first),
        recorded_by_bridge=by_bridge,
        additional_directories=_roots(latest) if by_bridge else (),
    )


def list_sessions(directory: Path) -> list[SessionEntry]:
    """Every session logged in ``directory``, most recently updated first."""
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for entry in entries if entry.is_file()]
    except FileNotFoundError:
        return []
    segments: dict[str, list[tuple[int, str]]] = {}
    for file_name in names:
        parsed = parse_segment_file_name(file_name)
        if parsed is not None:
            segments.setdefault(parsed[0], []).append((parsed[1], file_name))
    out: list[SessionEntry] = []
    for name, found in segments.items():
        found.sort()
        if found[0][0] != 0:
            continue  # numbered segments without a first one: not a session's log
        entry = describe(directory, name, [file_name for _, file_name in found])
        if entry is not None:
            out.append(entry)
    out.sort(key=lambda e: (-(e.updated_at_ms or 0), e.session_id))
    return out


def delete_session(directory: Path, session_id: str) -> int:
    """Delete every file of a session's log: its segments and their ``.torn`` files.

    Args:
        directory: The log directory.
        session_id: The session id. An unknown one, or one that is not plain (see the
            module docstring), has nothing to delete.

    Returns:
        How many files were deleted.

    Raises:
        EventLogInUseError: Another process has the session's log open; nothing is deleted.
        EventLogDeleteError: A file cannot be deleted; the ones before it are gone.
        EventLogError: The directory exists but cannot be listed.
    """
    if not is_plain_session_id(session_id):
        return 0
    paths = segment_paths(directory, session_id)
    if paths and session_in_use(paths[0]):
        raise EventLogInUseError(f"the log of session {session_id} is open in another process")
    deleted = 0
    for path in paths:
        for victim in (path, path.with_name(torn_file_name(path.name))):
            try:
                victim.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise EventLogDeleteError(f"cannot delete {victim.name}: {exc.strerror}") from None
            deleted += 1
    return deleted
