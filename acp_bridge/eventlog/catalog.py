"""The log directory as a catalogue of sessions: ``session/list`` and ``session/delete``.

What one log says is :mod:`~acp_bridge.eventlog.summary`'s; this module finds the logs,
keeps what was read of them, and deletes them.

Rules:

- What is listed can be loaded: a log is listed under the id whose files it is
  (``naming.listed_session_id``), and only when every one of its segments is a regular
  file with no other name (``files.unsafe_kind``), and, when its newest segment ends
  in a torn line, so is that segment's ``.torn`` file (a load cuts the line into it). A
  log no served id leads to (renamed, numbered segments without a first one) and a link
  or special file named like a segment are reported once per version of the file on stderr, counted
  (``eventlog_unlisted_logs``, ``eventlog_unsafe_files``) and left out.
- What was read from a file is kept until it changes: a :class:`Catalog` re-reads only
  files whose ``lstat`` (inode, size, modification and change times) differs from the
  last look's, so a listing costs a directory scan and a ``stat`` per file, and a later
  page (:meth:`Catalog.entries_of`) a ``stat`` of its own sessions' files.
- Deleting removes a session's segments and their ``.torn`` quarantine files (a link
  named like one goes, never what it points at). Never while another process appends to
  the session (its lock is held), and only for ids the bridge serves
  (``naming.is_session_id``). A directory named like one of them was never the bridge's:
  it is left where it is with all it holds, counted (``eventlog_unsafe_files``) and
  named on stderr, and the rest of the session is deleted.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from typing import TYPE_CHECKING

from acp_bridge.errors import EventLogDeleteError, EventLogInUseError, EventLogUnsafeFileError
from acp_bridge.eventlog.files import prepare_directory, refusal, unsafe_kind
from acp_bridge.eventlog.locking import session_in_use
from acp_bridge.eventlog.naming import (
    is_session_id,
    log_name_for,
    parse_segment_file_name,
    segment_file_name,
    torn_file_name,
)
from acp_bridge.eventlog.reader import segment_paths
from acp_bridge.eventlog.summary import FileKey, SessionEntry, describe, file_key, read_facts

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from acp_bridge.counters import Counters
    from acp_bridge.eventlog.summary import SegmentFacts

log = logging.getLogger("acp_bridge.eventlog")


class Catalog:
    """The sessions logged in one directory, each file read once per version of it.

    One per bridge; :meth:`sessions` may be called from worker threads (one at a time).
    """

    def __init__(self, directory: Path, counters: Counters | None = None) -> None:
        """Nothing read yet; refusals and unlisted logs are counted in ``counters``."""
        self.directory = directory
        self.counters = counters
        self.reads = 0  # segment files read (not found unchanged): what caching saves
        self._facts: dict[str, SegmentFacts] = {}
        self._reported: dict[str, FileKey] = {}  # file -> the version last reported
        self._names: dict[str, tuple[str, int] | None] = {}  # file -> parsed file name
        #: log name -> the versions of its files last described, and what they made.
        self._entries: dict[str, tuple[tuple[tuple[str, FileKey], ...], SessionEntry | None]]
        self._entries = {}
        self._lock = threading.Lock()

    def sessions(self) -> list[SessionEntry]:
        """Every session logged in the directory, most recently updated first.

        Raises:
            OSError: The directory exists but cannot be listed.
            EventLogError: The log directory is not a directory.
        """
        with self._lock:
            if not prepare_directory(self.directory, create=False):
                self._facts.clear()
                return []
            logs = self._scan()
            kept, self._entries = self._entries, {}
            out: list[SessionEntry] = []
            for name, found in logs.items():
                entry = self._log(name, found, kept)
                if entry is not None:
                    out.append(entry)
            entries = self._entries
            seen = {file_name for versions, _ in entries.values() for file_name, _ in versions}
            self._facts = {f: facts for f, facts in self._facts.items() if f in seen}
            self._reported = {f: key for f, key in self._reported.items() if f in seen}
        out.sort(key=lambda e: (-(e.updated_at_ms or 0), e.session_id))
        return out

    def entries_of(self, session_ids: Iterable[str]) -> dict[str, SessionEntry]:
        """What the given sessions say now, by id; a session whose log is gone is left out.

        Only their own files are looked at: those the last listing found, and segments
        after them (a rotation since). What a listing would say of them, it says.
        """
        with self._lock:
            out: dict[str, SessionEntry] = {}
            for session_id in session_ids:
                name = log_name_for(session_id)
                found = self._files_of(name)
                if not found or found[0][0] != 0:
                    continue  # deleted since
                entry = self._log(name, found, self._entries)
                if entry is not None and entry.session_id == session_id:
                    out[session_id] = entry
            return out

    def _log(
        self,
        name: str,
        found: list[tuple[int, str, os.stat_result]],
        kept: dict[str, tuple[tuple[tuple[str, FileKey], ...], SessionEntry | None]],
    ) -> SessionEntry | None:
        """The entry of one log: kept while not one of its files changed, else made anew."""
        versions = tuple((file_name, file_key(info)) for _, file_name, info in found)
        # The newest segment's quarantine file: a load cuts a torn tail into it.
        torn_name = torn_file_name(found[-1][1])
        torn = _lstat(self.directory / torn_name)
        if torn is not None:
            versions += ((torn_name, file_key(torn)),)
        cached = kept.get(name)
        if cached is not None and cached[0] == versions:
            entry = cached[1]  # not one of its files changed
        else:
            entry = self._entry(name, found, None if torn is None else (torn_name, torn))
        self._entries[name] = (versions, entry)
        return entry

    def _files_of(self, name: str) -> list[tuple[int, str, os.stat_result]]:
        """One log's segment files, ``lstat``-ed: as last found, and any newer ones."""
        cached = self._entries.get(name)
        known = [file_name for file_name, _ in cached[0]] if cached else []
        numbers = sorted(
            parsed[1] for f in known if (parsed := parse_segment_file_name(f)) is not None
        )
        found: list[tuple[int, str, os.stat_result]] = []
        for segment in numbers or [0]:
            file_name = segment_file_name(name, segment)
            try:
                found.append((segment, file_name, os.lstat(self.directory / file_name)))
            except FileNotFoundError:
                continue  # gone since: a deleted log has no first segment left
        segment = numbers[-1] if numbers else 0
        while True:
            segment += 1
            file_name = segment_file_name(name, segment)
            try:
                found.append((segment, file_name, os.lstat(self.directory / file_name)))
            except FileNotFoundError:
                return found  # no segment after the newest

    def _scan(self) -> dict[str, list[tuple[int, str, os.stat_result]]]:
        """The directory's segment files by log name: ``(segment, file name, lstat)``."""
        logs: dict[str, list[tuple[int, str, os.stat_result]]] = {}
        known, names = self._names, {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                file_name = entry.name
                parsed = (
                    known[file_name] if file_name in known else parse_segment_file_name(file_name)
                )
                names[file_name] = parsed
                if parsed is None:
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # gone since the directory was read
                logs.setdefault(parsed[0], []).append((parsed[1], file_name, info))
        self._names = names
        for found in logs.values():
            found.sort(key=lambda item: item[0])
        return logs

    def _entry(
        self,
        name: str,
        found: list[tuple[int, str, os.stat_result]],
        torn: tuple[str, os.stat_result] | None,
    ) -> SessionEntry | None:
        first_name = found[0][1]
        if found[0][0] != 0:
            self._unlisted(first_name, found[0][2], "numbered segments without a first one")
            return None
        for _, file_name, info in found:
            if unsafe_kind(info) is not None:
                self._refuse(file_name, info)
                return None
        first = self._read(first_name, found[0][2])
        last = first if len(found) == 1 else self._read(found[-1][1], found[-1][2])
        if first is None or last is None:
            return None
        if last.torn and torn is not None and unsafe_kind(torn[1]) is not None:
            # Loading would cut the torn tail into this file, and refuses: not listed.
            self._refuse(*torn)
            return None
        entry = describe(name, self.directory / first_name, first, last)
        if entry is None:
            self._unlisted(first_name, found[0][2], "no session id leads to it (renamed?)")
        return entry

    def _read(self, file_name: str, info: os.stat_result) -> SegmentFacts | None:
        """A segment's facts: kept ones while its ``lstat`` is unchanged, else read anew."""
        cached = self._facts.get(file_name)
        if cached is not None and cached.key == file_key(info):
            return cached
        path = self.directory / file_name
        try:
            facts = read_facts(path, self.counters if self._first_time(file_name, info) else None)
        except EventLogUnsafeFileError as exc:  # swapped for a link since it was listed
            self._say(file_name, info, str(exc))
            return None
        except OSError as exc:
            self._unlisted(file_name, info, f"cannot be read ({exc.strerror or exc})")
            return None
        self.reads += 1
        self._facts[file_name] = facts
        return facts

    def _refuse(self, file_name: str, info: os.stat_result) -> None:
        """A link or special file named like a segment: refused, counted, said once."""
        if self._first_time(file_name, info):
            what = unsafe_kind(info) or "not a regular file"
            error = refusal(self.directory / file_name, what, self.counters)
            self._say(file_name, info, str(error))

    def _unlisted(self, file_name: str, info: os.stat_result, why: str) -> None:
        """A log no session id leads to, or that cannot be read: counted, said once."""
        if self._first_time(file_name, info):
            if self.counters is not None:
                self.counters.eventlog_unlisted_logs += 1
            self._say(file_name, info, f"{self.directory / file_name}: {why}")

    def _first_time(self, file_name: str, info: os.stat_result) -> bool:
        """Whether this version of the file has not been reported yet."""
        return self._reported.get(file_name) != file_key(info)

    def _say(self, file_name: str, info: os.stat_result, message: str) -> None:
        if self._first_time(file_name, info):
            self._reported[file_name] = file_key(info)
            log.warning("session/list: %s; not listed", message)


def _lstat(path: Path) -> os.stat_result | None:
    """``lstat`` of ``path``, or None when nothing is there."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def list_sessions(directory: Path, counters: Counters | None = None) -> list[SessionEntry]:
    """Every session logged in ``directory``, most recently updated first (nothing kept)."""
    return Catalog(directory, counters).sessions()


def delete_session(directory: Path, session_id: str, counters: Counters | None = None) -> int:
    """Delete every file of a session's log: its segments and their ``.torn`` files.

    Args:
        directory: The log directory.
        session_id: The session id. An unknown one, or one the bridge does not serve (see
            the module docstring), has nothing to delete.
        counters: Where a directory named like one of its files is counted (it is left).

    Returns:
        How many files were deleted.

    Raises:
        EventLogInUseError: Another process has the session's log open; nothing is deleted.
        EventLogDeleteError: A file cannot be deleted; the ones before it are gone.
        EventLogError: The directory exists but cannot be listed.
    """
    if not is_session_id(session_id):
        return 0
    paths = segment_paths(directory, session_id)
    if paths and session_in_use(paths[0]):
        raise EventLogInUseError(f"the log of session {session_id} is open in another process")
    deleted = 0
    for path in paths:
        for victim in (path, path.with_name(torn_file_name(path.name))):
            try:
                if stat.S_ISDIR(os.lstat(victim).st_mode):
                    error = refusal(victim, "a directory", counters)
                    log.warning("session/delete: %s; left in place", error)
                    continue
                victim.unlink()  # a link goes itself; what it points at stays
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise EventLogDeleteError(f"cannot delete {victim.name}: {exc.strerror}") from None
            deleted += 1
    return deleted
