"""The catalogue: listing (each file read once per version, only what loads) and deleting."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from acp_bridge.errors import EventLogDeleteError, EventLogInUseError
from acp_bridge.eventlog.catalog import Catalog, delete_session, list_sessions
from acp_bridge.eventlog.naming import log_name_for, segment_file_name, torn_file_name
from acp_bridge.eventlog.rotation import FsyncPolicy, RotationPolicy
from acp_bridge.eventlog.summary import HEAD_BYTES, TAIL_BYTES
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


def test_a_directory_named_like_a_segment_is_left_with_what_it_holds_and_counted(
    log_dir: Path, counters: Counters, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(log_dir, counters, "dirs", 5)  # several segments
    planted = log_dir / segment_file_name("dirs", 1)
    planted.unlink()
    planted.mkdir()
    (planted / "theirs").write_bytes(b"kept\n")
    torn = log_dir / torn_file_name(segment_file_name("dirs", 0))
    torn.mkdir()
    others = sum(1 for p in log_dir.iterdir() if p.name.startswith("event_log-dirs")) - 2
    assert delete_session(log_dir, "dirs", counters) == others
    assert (planted / "theirs").read_bytes() == b"kept\n"
    assert torn.is_dir()
    assert counters.eventlog_unsafe_files == 2
    warned = [r.getMessage() for r in caplog.records if "session/delete" in r.getMessage()]
    assert [planted.name in m or torn.name in m for m in warned] == [True, True]


def test_a_file_that_cannot_be_deleted_is_named_in_the_error(
    log_dir: Path, counters: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_log(log_dir, counters, "stuck", 1)

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(log_dir), "unlink", refuse)
    with pytest.raises(EventLogDeleteError, match=r"cannot delete event_log-stuck\.jsonl: Perm"):
        delete_session(log_dir, "stuck")


# -- listing --------------------------------------------------------------------------------


def write_listed(log_dir: Path, counters: Counters, count: int) -> list[str]:
    ids = [f"s-{n:03d}" for n in range(count)]
    for n, session_id in enumerate(ids):
        with JsonlEventLog(
            log_dir,
            session_id,
            counters=counters,
            fsync=FsyncPolicy(mode="never"),
        ) as log:
            record = {"type": "acp_bridge.session", "session_id": session_id, "cwd": "/w"}
            log.append(record, emitted_at_ms=1_700_000_000_000 + n)
    return ids


def test_a_catalog_reads_each_log_once_until_it_changes(log_dir: Path, counters: Counters) -> None:
    ids = write_listed(log_dir, counters, 250)
    catalog = Catalog(log_dir, counters)
    assert [e.session_id for e in catalog.sessions()] == ids[::-1]
    assert catalog.reads == 250
    assert [e.session_id for e in catalog.sessions()] == ids[::-1]
    assert catalog.reads == 250  # nothing changed: nothing read again
    with JsonlEventLog(
        log_dir,
        ids[0],
        counters=counters,
        fsync=FsyncPolicy(mode="never"),
        clock_ms=lambda: 1_800_000_000_000,
    ) as log:
        log.append({"type": "e"})
    listed = catalog.sessions()
    assert catalog.reads == 251  # only the log that changed
    assert listed[0].session_id == ids[0]
    assert listed[0].updated_at_ms == 1_800_000_000_000
    delete_session(log_dir, ids[1])
    assert ids[1] not in [e.session_id for e in catalog.sessions()]


def test_links_and_special_files_are_refused_once_and_never_listed(
    log_dir: Path, counters: Counters, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_listed(log_dir, counters, 1)
    outside = tmp_path / "outside"
    outside.write_text('{"index":0,"emitted_at_ms":1,"type":"acp_bridge.session"}\n')
    (log_dir / segment_file_name("linked", 0)).symlink_to(outside)
    os.mkfifo(log_dir / segment_file_name("fifo", 0))
    (log_dir / segment_file_name("dir", 0)).mkdir()
    (log_dir / segment_file_name("s-000", 1)).symlink_to(outside)  # a later segment
    catalog = Catalog(log_dir, counters)
    assert catalog.sessions() == []
    assert counters.eventlog_unsafe_files == 4
    assert sum("not listed" in r.getMessage() for r in caplog.records) == 4
    assert catalog.sessions() == []
    assert counters.eventlog_unsafe_files == 4  # said and counted once per version


def test_a_log_hard_linked_from_outside_is_refused_and_not_listed(
    log_dir: Path, tmp_path: Path, counters: Counters, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(log_dir, counters, "mine", 1)
    write_log(log_dir, counters, "linked", 1)
    first = log_dir / segment_file_name("linked", 0)
    os.link(first, tmp_path / "elsewhere")
    catalog = Catalog(log_dir, counters)
    assert [e.session_id for e in catalog.sessions()] == ["mine"]
    assert [e.session_id for e in catalog.sessions()] == ["mine"]  # said once
    assert counters.eventlog_unsafe_files == 1
    assert f"refusing {first}: it is a hard link (2 names for one file)" in caplog.text
    assert delete_session(log_dir, "linked", counters) == 1  # its name goes, not the file
    assert (tmp_path / "elsewhere").stat().st_nlink == 1


def test_a_torn_log_whose_torn_file_is_a_link_is_not_listed_until_the_link_goes(
    log_dir: Path, tmp_path: Path, counters: Counters, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(log_dir, counters, "torn", 1)
    first = log_dir / segment_file_name("torn", 0)
    with first.open("ab") as f:
        f.write(b'{"index":1,"ty')  # a load would cut this into the .torn file
    torn = log_dir / torn_file_name(first.name)
    torn.symlink_to(tmp_path / "elsewhere")
    catalog = Catalog(log_dir, counters)
    assert catalog.sessions() == []
    assert catalog.sessions() == []
    assert counters.eventlog_unsafe_files == 1  # said and counted once
    assert f"refusing {torn}: it is a symbolic link" in caplog.text
    torn.unlink()
    assert [e.session_id for e in catalog.sessions()] == ["torn"]
    assert not (tmp_path / "elsewhere").exists()


def test_a_log_between_the_head_and_the_tail_budgets_is_stamped_by_its_last_line(
    log_dir: Path, counters: Counters
) -> None:
    size = HEAD_BYTES + TAIL_BYTES // 2  # the head holds most of it, not its end
    with JsonlEventLog(
        log_dir, "mid", counters=counters, fsync=FsyncPolicy(mode="never"), clock_ms=lambda: 1
    ) as log:
        log.append({"type": "e", "pad": "p" * size})
    with (log_dir / segment_file_name("mid", 0)).open("ab") as f:
        f.write(b'{"index":1,"emitted_at_ms":1700000000000,"frame_depth":null,"type":"e"}\n')
    [entry] = list_sessions(log_dir, counters)
    assert entry.updated_at_ms == 1_700_000_000_000


def test_logs_no_served_id_leads_to_are_counted_and_not_listed(
    log_dir: Path, counters: Counters
) -> None:
    write_listed(log_dir, counters, 2)
    first = log_dir / segment_file_name("s-000", 0)
    first.rename(log_dir / segment_file_name(log_name_for("x/y"), 0))  # no id finds it
    (log_dir / segment_file_name("orphan", 2)).write_text("")  # no first segment
    renamed = log_dir / segment_file_name("s-001", 0)
    renamed.rename(log_dir / segment_file_name("renamed", 0))  # its record names s-001
    listed = Catalog(log_dir, counters).sessions()
    assert [e.session_id for e in listed] == ["renamed"]  # listed where it can be loaded
    assert counters.eventlog_unlisted_logs == 2


def test_an_id_ending_in_digits_is_listed_and_deleted(log_dir: Path, counters: Counters) -> None:
    session_id = "0f8fad5b-d9cb-469f-a165-000000000001"
    write_log(log_dir, counters, session_id, 5)
    assert delete_session(log_dir, session_id) > 2
    assert list(log_dir.iterdir()) == []


def test_entries_of_looks_at_its_own_sessions_only(log_dir: Path, counters: Counters) -> None:
    ids = write_listed(log_dir, counters, 50)
    catalog = Catalog(log_dir, counters)
    catalog.sessions()
    assert catalog.reads == 50
    # A rotation since the listing, and a deletion.
    (log_dir / segment_file_name(ids[0], 1)).write_bytes(
        b'{"index":1,"emitted_at_ms":1800000000000,"frame_depth":null,"type":"e"}\n'
    )
    delete_session(log_dir, ids[1])
    now = catalog.entries_of(ids[:3])
    assert sorted(now) == [ids[0], ids[2]]
    assert now[ids[0]].updated_at_ms == 1_800_000_000_000
    assert catalog.reads == 51  # the new segment only
    assert catalog.entries_of(["never-listed"]) == {}
