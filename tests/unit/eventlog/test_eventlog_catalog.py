"""Deleting a session's log: every segment and quarantine file, never while it is in use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from acp_bridge.errors import EventLogDeleteError, EventLogInUseError
from acp_bridge.eventlog.catalog import delete_session
from acp_bridge.eventlog.naming import log_name_for, segment_file_name, torn_file_name
from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
from acp_bridge.eventlog.writer import JsonlEventLog

if TYPE_CHECKING:
    from pathlib import Path

    from acp_bridge.counters import Counters


def write_log(log_dir: Path, counters: Counters, session_id: str, records: int) -> None:
    rotation = RotationPolicy(max_segment_bytes=100)
    with JsonlEventLog(
        log_dir, session_id, counters=counters, rotation=rotation, fsync=FsyncPolicy(mode="never")
    ) as log:
        for n in range(records):
            log.append({"type": "e", "n": n})


def test_delete_removes_every_segment_and_torn_file_and_nothing_else(
    log_dir: Path, counters: Counters
) -> None:
    write_log(log_dir, counters, "gone", 5)
    write_log(log_dir, counters, "kept", 1)
    torn = log_dir / torn_file_name(segment_file_name("gone", 0))
    torn.write_bytes(b"torn\n")
    files = sum(1 for p in log_dir.iterdir() if p.name.startswith("event_log-gone"))
    assert files > 2  # several segments and the quarantine file
    assert delete_session(log_dir, "gone") == files
    assert sorted(p.name for p in log_dir.iterdir()) == [segment_file_name("kept", 0)]
    assert delete_session(log_dir, "gone") == 0  # nothing left: still fine


def test_unknown_sessions_and_missing_directories_have_nothing_to_delete(log_dir: Path) -> None:
    assert delete_session(log_dir, "never-existed") == 0
    log_dir.mkdir()
    assert delete_session(log_dir, "never-existed") == 0


def test_ids_that_do_not_name_their_own_file_are_never_deleted(
    log_dir: Path, counters: Counters
) -> None:
    write_log(log_dir, counters, "a/b", 1)
    assert delete_session(log_dir, "a/b") == 0
    assert [p.name for p in log_dir.iterdir()] == [segment_file_name(log_name_for("a/b"), 0)]


def test_a_session_open_for_appending_is_not_deleted(log_dir: Path, counters: Counters) -> None:
    with JsonlEventLog(log_dir, "busy", counters=counters, fsync=FsyncPolicy(mode="never")) as log:
        log.append({"type": "e"})
        with pytest.raises(EventLogInUseError, match="open in another process"):
            delete_session(log_dir, "busy")
        assert (log_dir / segment_file_name("busy", 0)).exists()
    assert delete_session(log_dir, "busy") == 1


def test_a_file_that_cannot_be_deleted_is_named_in_the_error(
    log_dir: Path, counters: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_log(log_dir, counters, "stuck", 1)

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(log_dir), "unlink", refuse)
    with pytest.raises(EventLogDeleteError, match=r"cannot delete event_log-stuck\.jsonl: Perm"):
        delete_session(log_dir, "stuck")
